// The compiler of teaching by showing, from recorded event streams (tests/recorder/demonstrations/*.json:
// pointer and key events with a person's timing: uneven intervals, motion between clicks, a wobbling press).

#include <fstream>
#include <sstream>

#include <doctest/doctest.h>

#include <rote/recorder/demonstration.h>
#include <rote/recorder/recorder.h>

using namespace rote;
using namespace rote::recorder;

namespace {

std::vector<InputEvent> stream(const std::string& name)
{
    std::ifstream in(std::string(ROTE_DEMONSTRATIONS) + "/" + name);
    REQUIRE_MESSAGE(in, "cannot read ", name);
    std::stringstream text;
    text << in.rdbuf();
    auto events = input_events_from_json(text.str());
    REQUIRE_MESSAGE(events, (events ? "" : events.error().message()));
    return *events;
}

std::vector<DemonstratedAction> compiled(const std::string& name)
{
    auto actions = compile_demonstration(stream(name));
    REQUIRE_MESSAGE(actions, (actions ? "" : actions.error().message()));
    return *actions;
}

std::vector<std::string> described(const std::vector<DemonstratedAction>& actions)
{
    std::vector<std::string> out;
    for (const auto& a : actions)
        out.push_back(describe(a.action, {}, a.action.kind == ActionKind::type ? TextStyle::quoted : TextStyle::plain));
    return out;
}

} // namespace

TEST_CASE("two left clicks at one point within 500 ms are a double click; three a triple click; a later one is a click")
{
    auto actions = compiled("double_click.json");
    CHECK(described(actions)
        == std::vector<std::string> {"double_click at (400, 300)", "click at (401, 301)", "triple_click at (200, 120)"});
    // An action spans its events: the double click from its first press to its second release.
    REQUIRE(actions.size() == 3);
    CHECK(actions[0].end_ms > actions[0].begin_ms);
    CHECK(actions[1].begin_ms - actions[0].end_ms > 500);
}

TEST_CASE("a left press released far from where it went down is a drag; one that wobbles a few pixels is a click")
{
    CHECK(described(compiled("drag.json")) == std::vector<std::string> {"drag (100, 200) to (320, 260)", "click at (600, 400)"});
}

TEST_CASE("typed keys are one type action per field; a typo corrected with backspace is applied, not replayed")
{
    auto actions = compiled("typo.json");
    CHECK(described(actions) == std::vector<std::string> {"click at (500, 150)", "type \"Acme Corp\"", "key return"});
    REQUIRE(actions.size() == 3);
    CHECK(actions[1].begin_ms > actions[0].end_ms);
    CHECK(actions[2].begin_ms > actions[1].end_ms);
    // Each action names its events in the stream, in order: the click's press and release, the run of keys.
    const auto events = stream("typo.json");
    CHECK(events[actions[0].first].buttons == buttons::left);
    CHECK(events[actions[0].last].buttons == 0);
    CHECK(actions[1].first > actions[0].last);
    CHECK(events[actions[1].first].keysym == 'A'); // the run begins at its first character, not the shift before it
    CHECK(actions[2].first == actions[2].last);
    CHECK(events[actions[2].first].keysym == 0xff0d);
}

TEST_CASE("keys pressed with ctrl, alt or super are key combinations; a modifier tapped alone is nothing")
{
    CHECK(described(compiled("key_combo.json"))
        == std::vector<std::string> {
            "click at (640, 360)", "key ctrl+a", "key ctrl+shift+t", "key shift+tab", "key ctrl+c", "type \"x\""});
}

TEST_CASE("motion is dropped, right clicks and wheel clicks are actions, and text is Unicode")
{
    CHECK(described(compiled("mixed.json"))
        == std::vector<std::string> {"click at (50, 50)", "click at (200, 220)", "right_click at (300, 300)",
            "scroll 0,3 at (640, 400)", "scroll 0,-1 at (640, 400)", "click at (500, 150)", "key backspace",
            "type \"Zürich €\""});
}

TEST_CASE("a stream out of time order, or pointing off the screen, is refused with the event named")
{
    std::vector<InputEvent> events(2);
    events[0].at_ms = 100;
    events[1].at_ms = 50;
    auto r = compile_demonstration(events);
    REQUIRE_FALSE(r);
    CHECK(r.error().message().find("event 1") != std::string::npos);
    events[1].at_ms = 150;
    events[1].at = {-3, 10};
    CHECK_FALSE(compile_demonstration(events));
}

TEST_CASE("a gesture the stream ends in the middle of is no action")
{
    std::vector<InputEvent> events(2);
    events[0] = {InputEvent::Kind::pointer, 0, {10, 10}, 0};
    events[1] = {InputEvent::Kind::pointer, 40, {10, 10}, buttons::left};
    auto r = compile_demonstration(events);
    REQUIRE(r);
    CHECK(r->empty());
}

// A text field of this name and label.
ElementIdentity field(const std::string& name, const std::string& label)
{
    ElementIdentity f;
    f.tag = "input";
    f.name = name;
    f.label = label;
    return f;
}

TEST_CASE("typed values that no input or secret names are proposed as new inputs, once each, named after their field")
{
    // The corrected typo's text, typed twice into a field labelled "Company name:", and once into another.
    std::vector<Observed> observed;
    for (const auto& d : compiled("typo.json")) {
        observed.push_back({});
        observed.back().action = d.action;
        observed.back().focus = field("q", "Company name:");
    }
    REQUIRE(observed.size() == 3);
    REQUIRE(observed[1].action.text == "Acme Corp");
    observed.push_back(observed[1]);
    observed.push_back(observed[1]);
    observed.back().action.text = "Widgets 42";
    observed.back().focus = field("2nd-line", "");
    observed.push_back(observed[1]);
    observed.back().action.text = "   "; // nothing to name

    auto proposed = proposed_inputs(observed, {}, {});
    REQUIRE(proposed.size() == 2);
    CHECK(proposed[0].value == "Acme Corp");
    CHECK(proposed[0].field == "Company name:");
    CHECK(proposed[0].name == "company_name");
    CHECK(proposed[1].value == "Widgets 42");
    CHECK(proposed[1].field == "2nd-line");
    CHECK(proposed[1].name == "input_2nd_line");
    // A name an input or a secret has already is not proposed again; a field with no name gives "input".
    proposed = proposed_inputs(observed, {{"company_name", "Other"}}, {{"input_2nd_line", "s3cret"}});
    REQUIRE(proposed.size() == 2);
    CHECK(proposed[0].name == "company_name_2");
    CHECK(proposed[1].name == "input_2nd_line_2");
    observed[1].focus = {};
    CHECK(proposed_inputs(observed, {}, {})[0].name == "input");
    // Values that are an input's or a secret's, or hold one, are no proposal.
    CHECK(proposed_inputs(observed, {{"company", "Acme Corp"}, {"part", "Widgets 42"}}, {}).empty());
    CHECK(proposed_inputs(observed, {{"part", "Widgets"}}, {{"password", "Acme Corp"}}).empty());
    // Nothing typed into a password's field, by its label or name.
    observed[1].focus = field("pwd", "");
    observed[3].focus = field("", "Password");
    REQUIRE(proposed_inputs(observed, {}, {}).size() == 1);
    CHECK(proposed_inputs(observed, {}, {})[0].value == "Widgets 42");
}

TEST_CASE("a stream reads back as it was written, and bad JSON names the event")
{
    const auto events = stream("key_combo.json");
    auto again = input_events_from_json(input_events_to_json(events));
    REQUIRE(again);
    CHECK(*again == events);
    for (const char* bad : {"{}", "[{\"t\": 1}]", "[{\"t\": 1, \"key\": \"nokey\", \"down\": true}]",
             "[{\"t\": 1, \"pointer\": [1, 2]}]", "[{\"pointer\": [1, 2, 0]}]"}) {
        CAPTURE(bad);
        CHECK_FALSE(input_events_from_json(bad));
    }
    auto named = input_events_from_json("[{\"t\": 1, \"pointer\": [1, 2, 0]}, {\"t\": 2, \"key\": 5, \"down\": true}]");
    REQUIRE_FALSE(named);
    CHECK(named.error().message().find("input event 1") != std::string::npos);
}
