#include <doctest/doctest.h>

#include <rote/base/action.h>

using namespace rote;

TEST_CASE("every action kind has a name that parses back")
{
    for (int k = 0; k <= static_cast<int>(ActionKind::give_up); ++k) {
        const auto kind = static_cast<ActionKind>(k);
        const auto name = to_string(kind);
        CAPTURE(name);
        CHECK(name != "unknown");
        CHECK(parse_action_kind(name) == kind);
    }
    CHECK_FALSE(parse_action_kind("teleport").has_value());
    CHECK_FALSE(parse_action_kind("").has_value());
}

TEST_CASE("which actions point, and which a trace may hold")
{
    CHECK(acts_at_point(ActionKind::double_click));
    CHECK(acts_at_point(ActionKind::scroll));
    CHECK_FALSE(acts_at_point(ActionKind::type));
    CHECK_FALSE(acts_at_point(ActionKind::wait));
    CHECK(is_replayable(ActionKind::key));
    CHECK_FALSE(is_replayable(ActionKind::done));
    CHECK_FALSE(is_replayable(ActionKind::give_up));
}
