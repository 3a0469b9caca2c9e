#pragma once

// Teaching by showing, the compiler (docs/teach.md): what a person did in the live view, as the input events
// rote's RFB relay saw pass, becomes the actions a trace replays. Pure logic, testable from recorded event
// streams alone; the teach loop pairs each action with the stable screens before and after it and hands them
// to record().
//
// The rules:
// - a button's press and release at one point (within `slop_px`) is a click: left, right or middle; two left
//   clicks at one point within `double_click_ms` of each other are a double click, three a triple click;
// - a left press released beyond `slop_px` from where it went down is a drag;
// - wheel clicks are a scroll, and wheel clicks in one direction at one point, with nothing between them, are
//   one scroll;
// - pointer motion with no button held is dropped;
// - printable keys, with no ctrl, alt or super held, are typed text: one `type` action per run of them until
//   the next click, scroll or other key; a backspace while the run has text corrects it (the correction is
//   applied, not replayed);
// - every other key (return, tab, arrows, a backspace with nothing typed) and every key pressed with ctrl, alt
//   or super held is a `key` action ("ctrl+a", "shift+tab"); a modifier pressed and released alone is nothing.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <rote/base/action.h>
#include <rote/base/input.h>
#include <rote/base/result.h>

namespace rote::recorder {

struct DemonstratedAction {
    Action action;
    std::int64_t begin_ms = 0; // its first event's time
    std::int64_t end_ms = 0; // its last event's time
    std::size_t first = 0, last = 0; // its first and last events' indices in the stream
};

struct CompileOptions {
    int double_click_ms = 500; // between two presses
    int slop_px = 4; // how far a press may wander and stay a click, and a second click from the first
};

// The actions of a recorded event stream, in order. Errors (Error::Code::invalid_argument): events out of
// time order, or a pointer outside the screen's coordinates (negative). A gesture the stream ends in the
// middle of (a button still held) is not an action.
Result<std::vector<DemonstratedAction>> compile_demonstration(
    const std::vector<InputEvent>& events, const CompileOptions& options = {});

// Whether `next`, a pointer event that follows the stream `last` ends, may still turn `last` into another
// action: a left press at a click's point within a double click's reach (timed from its release, which is
// no earlier than the press the rule counts from), so that whoever hands actions on before the stream ends
// waits for it.
bool may_extend(const DemonstratedAction& last, const InputEvent& next, const CompileOptions& options = {});

// A recorded event stream as JSON and back: an array of {"t": ms, "pointer": [x, y, buttons]} and
// {"t": ms, "key": "a" | "return" | "0xff0d", "down": true}. Reading names the first bad event.
std::string input_events_to_json(const std::vector<InputEvent>& events);
Result<std::vector<InputEvent>> input_events_from_json(std::string_view text);

} // namespace rote::recorder
