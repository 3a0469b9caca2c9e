#include <rote/llm/wire.h>
#include <rote/base/text.h>

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

namespace rote::llm {

using json = nlohmann::json;

namespace {

Error malformed(const std::string& provider, const std::string& what)
{
    return Error(Error::Code::corrupt, "malformed " + provider + " response: " + what);
}

// A coordinate as models write it: an integer, or a number with an integral value.
std::optional<int> whole(const json& j)
{
    if (j.is_number_integer()) {
        const auto v = j.get<std::int64_t>();
        if (v < -1'000'000 || v > 1'000'000)
            return std::nullopt;
        return static_cast<int>(v);
    }
    if (j.is_number_float()) {
        const double v = j.get<double>();
        if (!std::isfinite(v) || v < -1e6 || v > 1e6)
            return std::nullopt;
        return static_cast<int>(std::lround(v));
    }
    return std::nullopt;
}

std::optional<std::string> text_field(const json& object, const char* key)
{
    if (!object.is_object() || !object.contains(key) || !object[key].is_string())
        return std::nullopt;
    return object[key].get<std::string>();
}

std::int64_t count_field(const json& object, const char* key)
{
    if (!object.is_object() || !object.contains(key) || !object[key].is_number_integer())
        return 0;
    return std::max<std::int64_t>(0, object[key].get<std::int64_t>());
}

// A point the model gave, checked against the image it saw and mapped to the real screen.
Result<Point> screen_point(const std::string& provider, std::optional<int> x, std::optional<int> y, const ScreenScale& scale)
{
    if (!x || !y)
        return malformed(provider, "an action's coordinates are missing or not numbers");
    const Point p {*x, *y};
    if (!scale.on_model(p)) {
        return Error(Error::Code::corrupt,
            provider + " put a point off the screen: (" + std::to_string(p.x) + ", " + std::to_string(p.y)
                + ") is outside the " + std::to_string(scale.model().width) + "x" + std::to_string(scale.model().height)
                + " screenshot it was shown");
    }
    return scale.to_screen(p);
}

Action pointer_action(ActionKind kind, Point at)
{
    Action a;
    a.kind = kind;
    a.at = at;
    return a;
}

std::string clip(std::string_view s, size_t n = 80)
{
    std::string out(s.substr(0, n));
    std::replace_if(out.begin(), out.end(), [](unsigned char c) { return c < 0x20; }, ' ');
    return s.size() > n ? out + "..." : out;
}

// ---- Anthropic -----------------------------------------------------------------------------------------

Result<std::optional<Action>> anthropic_action(const json& input, const ScreenScale& scale, std::optional<Point>& pointer)
{
    const std::string provider = "Anthropic";
    auto name = text_field(input, "action");
    if (!name)
        return malformed(provider, "a computer tool call without an action");
    auto coordinate = [&](const char* key) -> Result<Point> {
        const json& c = input.contains(key) ? input[key] : json();
        if (!c.is_array() || c.size() != 2)
            return malformed(provider, "'" + *name + "' needs " + key + " as [x, y]");
        auto p = ROTE_TRY(screen_point(provider, whole(c[0]), whole(c[1]), scale));
        pointer = scale.to_model(p);
        return p;
    };
    // Clicks and scrolls may omit the coordinate: they then happen where the pointer is.
    auto here = [&]() -> Result<Point> {
        if (input.contains("coordinate"))
            return coordinate("coordinate");
        if (!pointer)
            return malformed(provider, "'" + *name + "' without a coordinate before the pointer was placed");
        return scale.to_screen(*pointer);
    };
    if (input.contains("text") && input["text"].is_string() && *name != "type" && *name != "key")
        return Error(Error::Code::unsupported, "Anthropic asked to hold keys during '" + *name + "', which rote does not do");

    static const std::pair<const char*, ActionKind> clicks[] = {
        {"left_click", ActionKind::click},
        {"double_click", ActionKind::double_click},
        {"triple_click", ActionKind::triple_click},
        {"right_click", ActionKind::right_click},
        {"middle_click", ActionKind::middle_click},
    };
    for (const auto& [wire, kind] : clicks) {
        if (*name == wire)
            return std::optional(pointer_action(kind, ROTE_TRY(here())));
    }
    if (*name == "mouse_move")
        return std::optional(pointer_action(ActionKind::move, ROTE_TRY(coordinate("coordinate"))));
    if (*name == "left_click_drag") {
        Action a;
        a.kind = ActionKind::drag;
        if (input.contains("start_coordinate"))
            a.at = ROTE_TRY(coordinate("start_coordinate"));
        else
            a.at = ROTE_TRY(here());
        a.to = ROTE_TRY(coordinate("coordinate"));
        return std::optional(a);
    }
    if (*name == "scroll") {
        Action a = pointer_action(ActionKind::scroll, ROTE_TRY(here()));
        auto direction = text_field(input, "scroll_direction");
        auto amount = input.contains("scroll_amount") ? whole(input["scroll_amount"]) : std::optional<int>(3);
        if (!direction || !amount || *amount < 0 || *amount > 100)
            return malformed(provider, "'scroll' needs scroll_direction and a scroll_amount of 0-100");
        if (*direction == "down")
            a.scroll_dy = *amount;
        else if (*direction == "up")
            a.scroll_dy = -*amount;
        else if (*direction == "right")
            a.scroll_dx = *amount;
        else if (*direction == "left")
            a.scroll_dx = -*amount;
        else
            return malformed(provider, "unknown scroll_direction '" + clip(*direction) + "'");
        return std::optional(a);
    }
    if (*name == "type" || *name == "key") {
        auto text = text_field(input, "text");
        if (!text || text->empty())
            return malformed(provider, "'" + *name + "' without text");
        Action a;
        a.kind = *name == "type" ? ActionKind::type : ActionKind::key;
        a.text = *text;
        return std::optional(a);
    }
    if (*name == "wait") {
        Action a;
        a.kind = ActionKind::wait;
        double seconds = 1;
        if (input.contains("duration")) {
            if (!input["duration"].is_number())
                return malformed(provider, "'wait' with a duration that is not a number");
            seconds = input["duration"].get<double>();
        }
        if (!std::isfinite(seconds) || seconds < 0 || seconds > 60)
            return malformed(provider, "'wait' for longer than 60 s or less than 0");
        a.wait_ms = static_cast<int>(std::lround(seconds * 1000));
        return std::optional(a);
    }
    // Asking to look, or where the pointer is, needs no action from the runtime: the next observation answers.
    if (*name == "screenshot" || *name == "cursor_position")
        return std::optional<Action>();
    if (*name == "left_mouse_down" || *name == "left_mouse_up" || *name == "hold_key" || *name == "zoom")
        return Error(Error::Code::unsupported, "Anthropic asked for '" + *name + "', which rote does not support");
    return Error(Error::Code::corrupt, "Anthropic named an unknown action '" + clip(*name) + "'");
}

// ---- OpenAI ----------------------------------------------------------------------------------------------

Result<std::optional<Action>> openai_action(const json& action, const ScreenScale& scale)
{
    const std::string provider = "OpenAI";
    auto type = text_field(action, "type");
    if (!type)
        return malformed(provider, "a computer_call without an action type");
    auto at = [&]() -> Result<Point> {
        return screen_point(provider, action.contains("x") ? whole(action["x"]) : std::nullopt,
            action.contains("y") ? whole(action["y"]) : std::nullopt, scale);
    };
    if (*type == "click") {
        const std::string button = text_field(action, "button").value_or("left");
        ActionKind kind = ActionKind::click;
        if (button == "right")
            kind = ActionKind::right_click;
        else if (button == "wheel" || button == "middle")
            kind = ActionKind::middle_click;
        else if (button != "left")
            return Error(Error::Code::unsupported, "OpenAI asked for a '" + clip(button) + "' button click, which rote does not support");
        return std::optional(pointer_action(kind, ROTE_TRY(at())));
    }
    if (*type == "double_click")
        return std::optional(pointer_action(ActionKind::double_click, ROTE_TRY(at())));
    if (*type == "move")
        return std::optional(pointer_action(ActionKind::move, ROTE_TRY(at())));
    if (*type == "drag") {
        const json& path = action.contains("path") ? action["path"] : json();
        if (!path.is_array() || path.size() < 2)
            return malformed(provider, "'drag' needs a path of at least two points");
        auto point = [&](const json& p) -> Result<Point> {
            if (!p.is_object())
                return malformed(provider, "a drag path point is not an object");
            return screen_point(provider, p.contains("x") ? whole(p["x"]) : std::nullopt,
                p.contains("y") ? whole(p["y"]) : std::nullopt, scale);
        };
        Action a;
        a.kind = ActionKind::drag;
        a.at = ROTE_TRY(point(path.front()));
        for (size_t i = 1; i + 1 < path.size(); ++i)
            ROTE_TRY(point(path[i])); // every point must be on screen, though only the ends are used
        a.to = ROTE_TRY(point(path.back()));
        return std::optional(a);
    }
    if (*type == "scroll") {
        Action a = pointer_action(ActionKind::scroll, ROTE_TRY(at()));
        auto sx = action.contains("scroll_x") ? whole(action["scroll_x"]) : std::optional<int>(0);
        auto sy = action.contains("scroll_y") ? whole(action["scroll_y"]) : std::optional<int>(0);
        if (!sx || !sy)
            return malformed(provider, "'scroll' with scroll_x or scroll_y that is not a number");
        // OpenAI scrolls by pixels, rote by wheel clicks; Chromium moves about 100 px per click.
        auto clicks = [](int px) { return px == 0 ? 0 : (px > 0 ? 1 : -1) * std::max(1, (std::abs(px) + 50) / 100); };
        a.scroll_dx = clicks(*sx);
        a.scroll_dy = clicks(*sy);
        return std::optional(a);
    }
    if (*type == "type") {
        auto text = text_field(action, "text");
        if (!text)
            return malformed(provider, "'type' without text");
        Action a;
        a.kind = ActionKind::type;
        a.text = *text;
        return std::optional(a);
    }
    if (*type == "keypress") {
        const json& keys = action.contains("keys") ? action["keys"] : json();
        if (!keys.is_array() || keys.empty())
            return malformed(provider, "'keypress' needs a non-empty keys list");
        std::vector<std::string> names;
        for (const auto& k : keys) {
            if (!k.is_string() || k.get<std::string>().empty())
                return malformed(provider, "'keypress' with a key that is not a name");
            names.push_back(k.get<std::string>());
        }
        Action a;
        a.kind = ActionKind::key;
        a.text = key_combo_from_names(names);
        return std::optional(a);
    }
    if (*type == "wait") {
        Action a;
        a.kind = ActionKind::wait;
        a.wait_ms = 1000;
        return std::optional(a);
    }
    if (*type == "screenshot")
        return std::optional<Action>();
    return Error(Error::Code::corrupt, "OpenAI named an unknown action '" + clip(*type) + "'");
}

// ---- chat JSON -------------------------------------------------------------------------------------------

Result<Action> chat_action(const json& action, const ScreenScale& scale)
{
    const std::string provider = "the model's JSON";
    auto type = text_field(action, "type");
    if (!type)
        return malformed(provider, "an action without a type");
    auto at = [&](const char* kx, const char* ky) -> Result<Point> {
        return screen_point(provider, action.contains(kx) ? whole(action[kx]) : std::nullopt,
            action.contains(ky) ? whole(action[ky]) : std::nullopt, scale);
    };
    static const std::pair<const char*, ActionKind> pointer_kinds[] = {
        {"click", ActionKind::click},
        {"double_click", ActionKind::double_click},
        {"triple_click", ActionKind::triple_click},
        {"right_click", ActionKind::right_click},
        {"middle_click", ActionKind::middle_click},
        {"move", ActionKind::move},
    };
    for (const auto& [wire, kind] : pointer_kinds) {
        if (*type == wire)
            return pointer_action(kind, ROTE_TRY(at("x", "y")));
    }
    Action a;
    if (*type == "drag") {
        a.kind = ActionKind::drag;
        a.at = ROTE_TRY(at("x", "y"));
        a.to = ROTE_TRY(at("to_x", "to_y"));
        return a;
    }
    if (*type == "scroll") {
        a = pointer_action(ActionKind::scroll, ROTE_TRY(at("x", "y")));
        auto dx = action.contains("dx") ? whole(action["dx"]) : std::optional<int>(0);
        auto dy = action.contains("dy") ? whole(action["dy"]) : std::optional<int>(0);
        if (!dx || !dy || std::abs(*dx) > 100 || std::abs(*dy) > 100)
            return malformed(provider, "'scroll' needs dx and dy as wheel clicks (-100 to 100)");
        a.scroll_dx = *dx;
        a.scroll_dy = *dy;
        return a;
    }
    auto text_action = [&](ActionKind kind, const char* key, bool may_be_empty) -> Result<Action> {
        auto text = text_field(action, key);
        if (!text || (!may_be_empty && text->empty()))
            return malformed(provider, "'" + *type + "' needs \"" + key + "\"");
        Action t;
        t.kind = kind;
        t.text = *text;
        return t;
    };
    if (*type == "type")
        return text_action(ActionKind::type, "text", false);
    if (*type == "key")
        return text_action(ActionKind::key, "keys", false);
    if (*type == "done")
        return text_action(ActionKind::done, "result", true);
    if (*type == "give_up")
        return text_action(ActionKind::give_up, "reason", true);
    if (*type == "wait") {
        auto ms = action.contains("ms") ? whole(action["ms"]) : std::optional<int>(1000);
        if (!ms || *ms < 0 || *ms > 60'000)
            return malformed(provider, "'wait' needs ms from 0 to 60000");
        a.kind = ActionKind::wait;
        a.wait_ms = *ms;
        return a;
    }
    return Error(Error::Code::corrupt, "the model named an unknown action '" + clip(*type) + "'");
}

std::string_view strip_code_fence(std::string_view s)
{
    auto trim = [](std::string_view v) {
        while (!v.empty() && std::isspace(static_cast<unsigned char>(v.front())))
            v.remove_prefix(1);
        while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back())))
            v.remove_suffix(1);
        return v;
    };
    s = trim(s);
    if (s.starts_with("```")) {
        s.remove_prefix(3);
        const auto newline = s.find('\n');
        s = newline == std::string_view::npos ? std::string_view() : s.substr(newline + 1);
        if (const auto end = s.rfind("```"); end != std::string_view::npos)
            s = s.substr(0, end);
    }
    return trim(s);
}

Usage anthropic_usage(const json& j)
{
    const json& usage = j.is_object() && j.contains("usage") ? j["usage"] : json();
    return {count_field(usage, "input_tokens"), count_field(usage, "output_tokens"),
        count_field(usage, "cache_creation_input_tokens"), count_field(usage, "cache_read_input_tokens")};
}

// OpenAI counts cached tokens inside the input; rote's Usage keeps them apart.
Usage openai_usage(const json& j, const char* input_key, const char* output_key, const char* details_key)
{
    const json& usage = j.is_object() && j.contains("usage") ? j["usage"] : json();
    const std::int64_t input = count_field(usage, input_key);
    const json& details = usage.is_object() && usage.contains(details_key) ? usage[details_key] : json();
    const std::int64_t cached = std::min(input, count_field(details, "cached_tokens"));
    return {input - cached, count_field(usage, output_key), 0, cached};
}

} // namespace

Usage usage_from_body(ProviderKind kind, std::string_view body)
{
    const json j = json::parse(body, nullptr, false);
    if (j.is_discarded())
        return {};
    switch (kind) {
    case ProviderKind::anthropic:
        return anthropic_usage(j);
    case ProviderKind::openai:
        return openai_usage(j, "input_tokens", "output_tokens", "input_tokens_details");
    case ProviderKind::openai_compatible:
        return openai_usage(j, "prompt_tokens", "completion_tokens", "prompt_tokens_details");
    }
    return {};
}

Action final_action(std::string_view text)
{
    auto after = [&](std::string_view marker) -> std::optional<std::string> {
        // The marker may follow other words; take the last one the model wrote.
        std::string upper(text);
        std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
        const auto at = upper.rfind(marker);
        if (at == std::string::npos)
            return std::nullopt;
        std::string rest(text.substr(at + marker.size()));
        rest.erase(0, rest.find_first_not_of(" \t"));
        if (const auto newline = rest.find('\n'); newline != std::string::npos)
            rest.resize(newline);
        while (!rest.empty() && std::isspace(static_cast<unsigned char>(rest.back())))
            rest.pop_back();
        return rest;
    };
    Action a;
    if (auto reason = after("GIVE UP:")) {
        a.kind = ActionKind::give_up;
        a.text = *reason;
    } else if (auto result = after("DONE:")) {
        a.kind = ActionKind::done;
        a.text = *result;
    } else {
        a.kind = ActionKind::give_up;
        a.text = "the model stopped without saying DONE: " + clip(text, 300);
    }
    return a;
}

std::string key_combo_from_names(const std::vector<std::string>& keys)
{
    static const std::pair<const char*, const char*> names[] = {
        {"enter", "return"},
        {"esc", "escape"},
        {"arrowup", "up"},
        {"arrowdown", "down"},
        {"arrowleft", "left"},
        {"arrowright", "right"},
        {"pageup", "page_up"},
        {"pagedown", "page_down"},
        {"cmd", "super"},
        {"option", "alt"},
        {"del", "delete"},
    };
    std::string combo;
    for (const auto& key : keys) {
        std::string name = ascii_lower(key);
        for (const auto& [from, to] : names) {
            if (name == from)
                name = to;
        }
        if (!combo.empty())
            combo += '+';
        combo += name;
    }
    return combo;
}

Result<Reply> parse_anthropic_reply(std::string_view body, const ScreenScale& scale, std::optional<Point>& pointer)
{
    const std::string provider = "Anthropic";
    const json j = json::parse(body, nullptr, false);
    if (j.is_discarded())
        return malformed(provider, "not JSON");
    if (!j.is_object() || !j.contains("content") || !j["content"].is_array())
        return malformed(provider, "no content list");
    Reply reply;
    reply.response_id = text_field(j, "id").value_or("");
    reply.usage = anthropic_usage(j);
    bool tool_called = false;
    for (const auto& block : j["content"]) {
        auto type = text_field(block, "type");
        if (!type)
            return malformed(provider, "a content block without a type");
        if (*type == "text") {
            auto text = text_field(block, "text");
            if (!text)
                return malformed(provider, "a text block without text");
            reply.text += reply.text.empty() ? *text : "\n" + *text;
        } else if (*type == "tool_use") {
            auto id = text_field(block, "id");
            auto name = text_field(block, "name");
            if (!id || id->empty() || !name)
                return malformed(provider, "a tool_use block without id or name");
            if (*name != "computer")
                return Error(Error::Code::corrupt, "Anthropic called an unknown tool '" + clip(*name) + "'");
            if (!block.contains("input") || !block["input"].is_object())
                return malformed(provider, "a tool_use block without input");
            tool_called = true;
            reply.call_ids.push_back(*id);
            if (auto action = ROTE_TRY(anthropic_action(block["input"], scale, pointer)))
                reply.actions.push_back(std::move(*action));
        }
        // thinking and other blocks carry nothing to act on
    }
    if (!tool_called) {
        if (text_field(j, "stop_reason").value_or("") == "max_tokens")
            return Error(Error::Code::corrupt, "Anthropic's answer was cut off at max_tokens before it chose an action");
        reply.actions.push_back(final_action(reply.text));
    }
    return reply;
}

Result<Reply> parse_openai_reply(std::string_view body, const ScreenScale& scale)
{
    const std::string provider = "OpenAI";
    const json j = json::parse(body, nullptr, false);
    if (j.is_discarded())
        return malformed(provider, "not JSON");
    if (!j.is_object() || !j.contains("output") || !j["output"].is_array())
        return malformed(provider, "no output list");
    Reply reply;
    reply.response_id = text_field(j, "id").value_or("");
    if (reply.response_id.empty())
        return malformed(provider, "no response id");
    if (auto status = text_field(j, "status"); status && *status != "completed")
        return Error(Error::Code::corrupt, "OpenAI's response is " + clip(*status) + ", not completed");
    reply.usage = openai_usage(j, "input_tokens", "output_tokens", "input_tokens_details");
    bool tool_called = false;
    for (const auto& item : j["output"]) {
        auto type = text_field(item, "type");
        if (!type)
            return malformed(provider, "an output item without a type");
        if (*type == "message") {
            if (!item.contains("content") || !item["content"].is_array())
                return malformed(provider, "a message without content");
            for (const auto& part : item["content"]) {
                if (auto text = text_field(part, "text"))
                    reply.text += reply.text.empty() ? *text : "\n" + *text;
            }
        } else if (*type == "computer_call") {
            auto call_id = text_field(item, "call_id");
            if (!call_id || call_id->empty() || !item.contains("action") || !item["action"].is_object())
                return malformed(provider, "a computer_call without call_id or action");
            tool_called = true;
            reply.call_ids.push_back(*call_id);
            if (item.contains("pending_safety_checks")) {
                const json& checks = item["pending_safety_checks"];
                if (!checks.is_array())
                    return malformed(provider, "pending_safety_checks is not a list");
                for (const auto& c : checks) {
                    auto id = text_field(c, "id");
                    if (!id)
                        return malformed(provider, "a safety check without an id");
                    reply.safety_checks.push_back({*id, text_field(c, "code").value_or(""), text_field(c, "message").value_or("")});
                }
            }
            if (auto action = ROTE_TRY(openai_action(item["action"], scale)))
                reply.actions.push_back(std::move(*action));
        }
        // reasoning items carry nothing to act on
    }
    if (!tool_called)
        reply.actions.push_back(final_action(reply.text));
    return reply;
}

Result<Reply> parse_chat_reply(std::string_view body, const ScreenScale& scale)
{
    const std::string provider = "chat completion";
    const json j = json::parse(body, nullptr, false);
    if (j.is_discarded())
        return malformed(provider, "not JSON");
    if (!j.is_object() || !j.contains("choices") || !j["choices"].is_array() || j["choices"].empty())
        return malformed(provider, "no choices");
    const json& choice = j["choices"][0];
    if (!choice.is_object() || !choice.contains("message") || !choice["message"].is_object())
        return malformed(provider, "a choice without a message");
    auto content = text_field(choice["message"], "content");
    if (!content)
        return malformed(provider, "a message without text content");
    Reply reply;
    reply.response_id = text_field(j, "id").value_or("");
    reply.usage = openai_usage(j, "prompt_tokens", "completion_tokens", "prompt_tokens_details");

    const json answer = json::parse(strip_code_fence(*content), nullptr, false);
    if (answer.is_discarded() || !answer.is_object())
        return Error(Error::Code::corrupt, "the model did not answer with a JSON object: '" + clip(*content) + "'");
    reply.text = text_field(answer, "thought").value_or("");
    std::vector<const json*> actions;
    if (answer.contains("action"))
        actions.push_back(&answer["action"]);
    else if (answer.contains("actions") && answer["actions"].is_array()) {
        for (const auto& a : answer["actions"])
            actions.push_back(&a);
    }
    if (actions.empty())
        return Error(Error::Code::corrupt, "the model's JSON has no action: '" + clip(*content) + "'");
    for (const json* a : actions) {
        if (!reply.actions.empty()
            && (reply.actions.back().kind == ActionKind::done || reply.actions.back().kind == ActionKind::give_up))
            return malformed(provider, "actions after done or give_up");
        reply.actions.push_back(ROTE_TRY(chat_action(*a, scale)));
    }
    return reply;
}

} // namespace rote::llm
