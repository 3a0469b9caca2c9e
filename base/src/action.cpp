#include <rote/base/action.h>

#include <array>
#include <utility>

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

} // namespace rote
