#pragma once

// A person as the planner (docs/teach.md): what they do in a live view with control becomes the run's
// actions, recorded as a planner's would be, with provenance `human`. Their input reaches the desktop
// directly (through the view's relay, so they see it at once); rote only watches.
//
// HumanInput is the channel from the relay's thread (RfbRelay's observer) to the run's. The first event of
// each gesture (a button or wheel press, the first key of a run of typing, a key that is not typing) is held
// until the run has looked at the screen and asked the document what is under the pointer, or for at most
// `gate_timeout`: so each action's screen before it is the one the person acted on, and its target's
// identity is the document's before the action changed anything. The rest passes at once.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>

#include <opencv2/core.hpp>

#include <rote/agent/planner.h>
#include <rote/base/input.h>
#include <rote/base/result.h>
#include <rote/witness/witness.h>

namespace rote::runtime {

class HumanInput {
public:
    explicit HumanInput(std::chrono::milliseconds gate_timeout = std::chrono::milliseconds(10000));

    // The relay's observer: called on its thread for each event it passes, before the desktop gets it. A
    // gesture's first event returns once the run has looked (release) or the gate timed out.
    void observe(const InputEvent& e);
    // The person is done (the run checks the success condition and records), or cancelled (nothing is kept).
    void finish(bool done);

    struct Item {
        InputEvent event;
        std::uint64_t gate = 0; // non-zero: the event waits for release(gate)
    };
    enum class End { none, done, cancelled, stopped };
    // The run's side: the next event, or why there is none (finished, or `stop` requested), or neither
    // when `idle` passed with no event.
    std::pair<std::optional<Item>, End> next(std::stop_token stop, std::chrono::milliseconds idle);
    // Forgets what the person did and said so far (a repair is over; the next divergence starts afresh).
    void reset();
    // The run has looked at the screen for the gated event: it may pass. False when it had already passed
    // (the gate timed out): the screen looked at may show its effect.
    bool release(std::uint64_t gate);

private:
    bool starts_gesture(const InputEvent& e);

    std::chrono::milliseconds m_gate_timeout;
    std::mutex m_mutex;
    std::condition_variable_any m_changed;
    std::deque<Item> m_items;
    End m_end = End::none;
    std::uint64_t m_gates = 0, m_released = 0;
    std::set<std::uint64_t> m_late; // gates that timed out
    // The relay thread's own view of the stream, to tell where gestures start.
    std::uint8_t m_buttons = 0;
    bool m_typing = false; // the last key was a printable one (or a correction of it)
    bool m_wheeling = false; // the last gesture was the wheel, and nothing came since
    std::uint8_t m_wheel = 0; // which way it turned
    std::set<std::uint32_t> m_commands; // ctrl, alt and super keys held
};

// What the human planner asks of the run, on the run's thread: the settled screen, the document's element
// under a point (before a press lands), the focused field.
struct HumanPlannerHooks {
    // `pointer`: where the person's pointer is, with no button held. The VNC server draws the pointer into
    // the framebuffer of every client but the one that moved it last; the run's own client moves it there
    // too, so its screens show no pointer (as in replay, where the run moves it).
    std::function<Result<cv::Mat>(std::optional<Point> pointer)> look;
    std::function<DocumentElement(Point)> element_at;
    std::function<ElementIdentity()> focus;
};

// Each turn returns the person's actions that are complete (in PlannerTurn::performed, with the screens
// before and after them), and `done` once the person finished. An action is complete when the next gesture
// begins, or when the person has done nothing for `idle` after a click, a drag, a scroll or a key (typed text
// waits for what ends it: a pause while typing is no end of the field's text), so that a repair goes on
// without the person saying so. Errors: the person cancelled (Error::Code::cancelled), the run was stopped,
// the screen could not be looked at.
std::unique_ptr<Planner> make_human_planner(
    HumanInput& input, HumanPlannerHooks hooks, std::chrono::milliseconds idle = std::chrono::milliseconds(1500));

} // namespace rote::runtime
