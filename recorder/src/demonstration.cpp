#include <rote/recorder/demonstration.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include <rote/recorder/recorder.h>

namespace rote::recorder {

namespace {

bool near(Point a, Point b, int slop) { return std::abs(a.x - b.x) <= slop && std::abs(a.y - b.y) <= slop; }

void append_utf8(std::string& out, char32_t cp)
{
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xc0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xe0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
        out += static_cast<char>(0xf0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    }
}

void pop_utf8(std::string& text)
{
    while (!text.empty() && (static_cast<unsigned char>(text.back()) & 0xc0) == 0x80)
        text.pop_back();
    if (!text.empty())
        text.pop_back();
}

class Compiler {
public:
    explicit Compiler(const CompileOptions& options)
        : m_options(options)
    {
    }

    std::size_t index = 0; // the event being compiled

    void pointer(const InputEvent& e)
    {
        const std::uint8_t pressed = e.buttons & ~m_mask, released = m_mask & ~e.buttons;
        m_mask = e.buttons;
        struct Wheel {
            std::uint8_t bit;
            int dx, dy;
        };
        for (const Wheel& w : {Wheel {buttons::wheel_up, 0, -1}, Wheel {buttons::wheel_down, 0, 1},
                 Wheel {buttons::wheel_left, -1, 0}, Wheel {buttons::wheel_right, 1, 0}}) {
            if (pressed & w.bit)
                scroll(e, w.dx, w.dy);
        }
        if (m_held != 0) {
            m_farthest = std::max(m_farthest, std::max(std::abs(e.at.x - m_press.x), std::abs(e.at.y - m_press.y)));
            if (released & m_held)
                release(e);
            return;
        }
        for (std::uint8_t button : {buttons::left, buttons::right, buttons::middle}) {
            if (pressed & button) {
                flush_text();
                m_held = button;
                m_press = e.at;
                m_press_ms = e.at_ms;
                m_press_index = index;
                m_farthest = 0;
                return;
            }
        }
    }

    void key(const InputEvent& e)
    {
        if (auto modifier = modifier_of(e.keysym)) {
            if (e.down)
                m_modifiers[e.keysym] = *modifier;
            else
                m_modifiers.erase(e.keysym);
            return;
        }
        if (!e.down)
            return;
        const bool command = held(Modifier::ctrl) || held(Modifier::alt) || held(Modifier::super);
        if (!command) {
            if (auto cp = printable_code_point(e.keysym)) {
                if (m_text.empty()) {
                    m_text_begin_ms = e.at_ms;
                    m_text_first = index;
                }
                append_utf8(m_text, *cp);
                m_text_end_ms = e.at_ms;
                m_text_last = index;
                return;
            }
            if (key_name(e.keysym) == "backspace" && !m_text.empty()) {
                pop_utf8(m_text);
                m_text_end_ms = e.at_ms;
                m_text_last = index;
                if (m_text.empty())
                    m_text_begin_ms = 0;
                return;
            }
        }
        flush_text();
        std::string combo;
        for (auto [modifier, name] : {std::pair {Modifier::ctrl, "ctrl"}, std::pair {Modifier::alt, "alt"},
                 std::pair {Modifier::shift, "shift"}, std::pair {Modifier::super, "super"}}) {
            if (held(modifier))
                combo += std::string(name) + "+";
        }
        Action a;
        a.kind = ActionKind::key;
        a.text = combo + key_name(e.keysym);
        push({a, e.at_ms, e.at_ms, index, index});
    }

    std::vector<DemonstratedAction> finish()
    {
        flush_text();
        return std::move(m_out);
    }

private:
    bool held(Modifier m) const
    {
        return std::any_of(m_modifiers.begin(), m_modifiers.end(), [&](const auto& kv) { return kv.second == m; });
    }

    // An action that ends any double click or scroll under way.
    void push(DemonstratedAction d)
    {
        m_out.push_back(std::move(d));
        m_last_click.reset();
        m_last_was_scroll = false;
    }

    void flush_text()
    {
        if (m_text.empty())
            return;
        Action a;
        a.kind = ActionKind::type;
        a.text = std::move(m_text);
        m_text.clear();
        push({a, m_text_begin_ms, m_text_end_ms, m_text_first, m_text_last});
    }

    void scroll(const InputEvent& e, int dx, int dy)
    {
        flush_text();
        m_last_click.reset();
        if (!m_out.empty() && m_last_was_scroll) {
            Action& last = m_out.back().action;
            const bool same_way = (dx != 0 && last.scroll_dx * dx > 0 && last.scroll_dy == 0)
                || (dy != 0 && last.scroll_dy * dy > 0 && last.scroll_dx == 0);
            if (same_way && near(last.at, e.at, m_options.slop_px)) {
                last.scroll_dx += dx;
                last.scroll_dy += dy;
                m_out.back().end_ms = e.at_ms;
                m_out.back().last = index;
                return;
            }
        }
        Action a;
        a.kind = ActionKind::scroll;
        a.at = e.at;
        a.scroll_dx = dx;
        a.scroll_dy = dy;
        m_out.push_back({a, e.at_ms, e.at_ms, index, index});
        m_last_was_scroll = true;
    }

    void release(const InputEvent& e)
    {
        const std::uint8_t button = m_held;
        m_held = 0;
        m_last_was_scroll = false;
        Action a;
        a.at = m_press;
        if (button == buttons::left && m_farthest > m_options.slop_px) {
            a.kind = ActionKind::drag;
            a.to = e.at;
            push({a, m_press_ms, e.at_ms, m_press_index, index});
            return;
        }
        a.kind = button == buttons::right ? ActionKind::right_click
            : button == buttons::middle   ? ActionKind::middle_click
                                          : ActionKind::click;
        if (a.kind == ActionKind::click && m_last_click && !m_out.empty()
            && m_press_ms - m_last_click->press_ms <= m_options.double_click_ms
            && near(m_last_click->at, m_press, m_options.slop_px)) {
            DemonstratedAction& last = m_out.back();
            if (last.action.kind == ActionKind::click || last.action.kind == ActionKind::double_click) {
                last.action.kind
                    = last.action.kind == ActionKind::click ? ActionKind::double_click : ActionKind::triple_click;
                last.end_ms = e.at_ms;
                last.last = index;
                m_last_click = Click {m_press, m_press_ms};
                return;
            }
        }
        m_out.push_back({a, m_press_ms, e.at_ms, m_press_index, index});
        m_last_was_scroll = false;
        m_last_click = a.kind == ActionKind::click ? std::optional(Click {m_press, m_press_ms}) : std::nullopt;
    }

    struct Click {
        Point at;
        std::int64_t press_ms = 0;
    };

    CompileOptions m_options;
    std::vector<DemonstratedAction> m_out;
    std::uint8_t m_mask = 0;
    std::uint8_t m_held = 0; // the button of the gesture under way
    Point m_press;
    std::int64_t m_press_ms = 0;
    std::size_t m_press_index = 0;
    int m_farthest = 0; // how far the pointer went from m_press while held
    std::optional<Click> m_last_click; // the last action's click, while a double click may still follow
    bool m_last_was_scroll = false;
    std::map<std::uint32_t, Modifier> m_modifiers; // held, by keysym (left and right are two keys)
    std::string m_text; // the typing run under way
    std::int64_t m_text_begin_ms = 0, m_text_end_ms = 0;
    std::size_t m_text_first = 0, m_text_last = 0;
};

} // namespace

Result<std::vector<DemonstratedAction>> compile_demonstration(
    const std::vector<InputEvent>& events, const CompileOptions& options)
{
    Compiler compiler(options);
    std::int64_t last = 0;
    for (size_t i = 0; i < events.size(); ++i) {
        const InputEvent& e = events[i];
        if (e.at_ms < last)
            return Error(Error::Code::invalid_argument,
                "event " + std::to_string(i) + " is at " + std::to_string(e.at_ms) + " ms, before the one ahead of it ("
                    + std::to_string(last) + " ms)");
        last = e.at_ms;
        compiler.index = i;
        if (e.kind == InputEvent::Kind::pointer) {
            if (e.at.x < 0 || e.at.y < 0)
                return Error(Error::Code::invalid_argument, "event " + std::to_string(i) + " points off the screen");
            compiler.pointer(e);
        } else {
            compiler.key(e);
        }
    }
    return compiler.finish();
}

bool may_extend(const DemonstratedAction& last, const InputEvent& next, const CompileOptions& options)
{
    const bool click = last.action.kind == ActionKind::click || last.action.kind == ActionKind::double_click;
    return click && next.kind == InputEvent::Kind::pointer && (next.buttons & buttons::left)
        && next.at_ms - last.end_ms <= options.double_click_ms && near(last.action.at, next.at, options.slop_px);
}

namespace {

// A keysym as the stream's JSON names it: the key's name where it reads back as the same keysym, the
// character itself for a printable ASCII one, else hex.
std::string keysym_text(std::uint32_t keysym)
{
    if (keysym > 0x20 && keysym < 0x7f)
        return std::string(1, static_cast<char>(keysym));
    const std::string name = key_name(keysym);
    auto back = parse_key_combo(name);
    if (back && back->size() == 1 && back->front() == keysym)
        return name;
    char hex[16];
    std::snprintf(hex, sizeof hex, "0x%x", keysym);
    return hex;
}

} // namespace

std::string input_events_to_json(const std::vector<InputEvent>& events)
{
    std::string out = "[\n";
    for (size_t i = 0; i < events.size(); ++i) {
        const InputEvent& e = events[i];
        nlohmann::json j = {{"t", e.at_ms}};
        if (e.kind == InputEvent::Kind::pointer)
            j["pointer"] = {e.at.x, e.at.y, e.buttons};
        else {
            j["key"] = keysym_text(e.keysym);
            j["down"] = e.down;
        }
        out += "  " + j.dump() + (i + 1 < events.size() ? ",\n" : "\n");
    }
    return out + "]\n";
}

Result<std::vector<InputEvent>> input_events_from_json(std::string_view text)
{
    nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
    if (doc.is_discarded() || !doc.is_array())
        return Error(Error::Code::invalid_argument, "an input event stream is a JSON array of events");
    std::vector<InputEvent> events;
    for (size_t i = 0; i < doc.size(); ++i) {
        const nlohmann::json& j = doc[i];
        auto bad = [&](const std::string& why) {
            return Error(Error::Code::invalid_argument, "input event " + std::to_string(i) + ": " + why);
        };
        if (!j.is_object() || !j.contains("t") || !j["t"].is_number_integer())
            return bad("no time (\"t\", whole milliseconds)");
        InputEvent e;
        e.at_ms = j["t"].get<std::int64_t>();
        if (j.contains("pointer")) {
            const auto& p = j["pointer"];
            if (!p.is_array() || p.size() != 3 || !p[0].is_number_integer() || !p[1].is_number_integer()
                || !p[2].is_number_unsigned() || p[2].get<unsigned>() > 255)
                return bad("\"pointer\" is [x, y, buttons] (buttons 0-255)");
            e.kind = InputEvent::Kind::pointer;
            e.at = {p[0].get<int>(), p[1].get<int>()};
            e.buttons = static_cast<std::uint8_t>(p[2].get<unsigned>());
        } else if (j.contains("key")) {
            if (!j["key"].is_string() || !j.contains("down") || !j["down"].is_boolean())
                return bad("a key event is {\"key\": name, \"down\": true|false}");
            auto keys = parse_key_combo(j["key"].get<std::string>());
            if (!keys || keys->size() != 1)
                return bad("\"" + j["key"].get<std::string>() + "\" is not one key");
            e.kind = InputEvent::Kind::key;
            e.keysym = keys->front();
            e.down = j["down"].get<bool>();
        } else {
            return bad("neither \"pointer\" nor \"key\"");
        }
        events.push_back(e);
    }
    return events;
}

} // namespace rote::recorder
