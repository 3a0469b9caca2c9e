#include <rote/base/action.h>

#include <array>
#include <utility>

#include <nlohmann/json.hpp>

namespace rote {

namespace {

constexpr std::array<std::pair<ActionKind, std::string_view>, 13> kActionNames {{
    {ActionKind::click, "click"},
    {ActionKind::double_click, "double_click"},
    {ActionKind::triple_click, "triple_click"},
    {ActionKind::right_click, "right_click"},
    {ActionKind::middle_click, "middle_click"},
    {ActionKind::move, "move"},
    {ActionKind::drag, "drag"},
    {ActionKind::scroll, "scroll"},
    {ActionKind::type, "type"},
    {ActionKind::key, "key"},
    {ActionKind::wait, "wait"},
    {ActionKind::done, "done"},
    {ActionKind::give_up, "give_up"},
}};

} // namespace

std::string_view to_string(ActionKind kind)
{
    for (const auto& [k, name] : kActionNames) {
        if (k == kind)
            return name;
    }
    return "unknown";
}

std::optional<ActionKind> parse_action_kind(std::string_view name)
{
    for (const auto& [k, n] : kActionNames) {
        if (n == name)
            return k;
    }
    return std::nullopt;
}

bool acts_at_point(ActionKind kind)
{
    switch (kind) {
    case ActionKind::click:
    case ActionKind::double_click:
    case ActionKind::triple_click:
    case ActionKind::right_click:
    case ActionKind::middle_click:
    case ActionKind::move:
    case ActionKind::drag:
    case ActionKind::scroll:
        return true;
    default:
        return false;
    }
}

bool is_replayable(ActionKind kind) { return kind != ActionKind::done && kind != ActionKind::give_up; }

std::string describe(const Action& a, std::string_view label, TextStyle style)
{
    // JSON's escapes, so a quoted text reads as in `rote show --json`; bytes that are not UTF-8 become U+FFFD
    // rather than an exception.
    auto quoted = [](const std::string& text) {
        return nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    };
    auto point = [](Point p) { return "(" + std::to_string(p.x) + ", " + std::to_string(p.y) + ")"; };
    std::string out(to_string(a.kind));
    switch (a.kind) {
    case ActionKind::type:
    case ActionKind::key:
        return out + " " + (style == TextStyle::quoted ? quoted(a.text) : a.text);
    case ActionKind::wait:
        return out + " " + std::to_string(a.wait_ms) + " ms";
    case ActionKind::done:
    case ActionKind::give_up:
        return out + (a.text.empty() ? "" : ": " + a.text);
    case ActionKind::drag:
        return out + " " + point(a.at) + " to " + point(a.to);
    case ActionKind::scroll:
        return out + " " + std::to_string(a.scroll_dx) + "," + std::to_string(a.scroll_dy) + " at " + point(a.at);
    default:
        return out + (label.empty() ? "" : " \"" + std::string(label) + "\"") + " at " + point(a.at);
    }
}

} // namespace rote
