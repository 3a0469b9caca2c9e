#include <rote/agent/human.h>

#include <algorithm>

#include <rote/recorder/demonstration.h>

namespace rote::runtime {

HumanInput::HumanInput(std::chrono::milliseconds gate_timeout)
    : m_gate_timeout(gate_timeout)
{
}

// Mirrors the compiler's rules (recorder/demonstration.h) closely enough to find where its actions begin: a
// press with no button held, a wheel turned anew or the other way, the first printable key of a run, any other
// key. Presses with a button already held, key releases, modifiers and motion are inside a gesture.
bool HumanInput::starts_gesture(const InputEvent& e)
{
    constexpr std::uint8_t kButtons = buttons::left | buttons::middle | buttons::right;
    constexpr std::uint8_t kWheel = buttons::wheel_up | buttons::wheel_down | buttons::wheel_left | buttons::wheel_right;
    if (e.kind == InputEvent::Kind::pointer) {
        const std::uint8_t pressed = e.buttons & ~m_buttons;
        const bool free = (m_buttons & kButtons) == 0;
        m_buttons = e.buttons;
        if (const std::uint8_t wheel = pressed & kWheel) {
            const bool anew = !m_wheeling || wheel != m_wheel;
            m_wheeling = true;
            m_wheel = wheel;
            m_typing = false;
            return anew;
        }
        if ((pressed & kButtons) && free) {
            m_typing = false;
            m_wheeling = false;
            return true;
        }
        return false;
    }
    if (auto modifier = modifier_of(e.keysym)) {
        if (*modifier != Modifier::shift) {
            if (e.down)
                m_commands.insert(e.keysym);
            else
                m_commands.erase(e.keysym);
        }
        return false;
    }
    if (!e.down)
        return false;
    m_wheeling = false;
    const bool typing = m_commands.empty()
        && (printable_code_point(e.keysym).has_value() || (m_typing && key_name(e.keysym) == "backspace"));
    if (typing) {
        const bool anew = !m_typing;
        m_typing = true;
        return anew;
    }
    m_typing = false;
    return true;
}

void HumanInput::observe(const InputEvent& e)
{
    std::unique_lock lock(m_mutex);
    if (m_end != End::none)
        return; // after Done or Cancel the person's input passes unrecorded
    const std::uint64_t gate = starts_gesture(e) ? ++m_gates : 0;
    m_items.push_back({e, gate});
    m_changed.notify_all();
    if (gate != 0 && !m_changed.wait_for(lock, m_gate_timeout, [&] { return m_released >= gate || m_end != End::none; }))
        m_late.insert(gate);
}

void HumanInput::finish(bool done)
{
    std::lock_guard lock(m_mutex);
    if (m_end == End::none)
        m_end = done ? End::done : End::cancelled;
    m_changed.notify_all();
}

std::pair<std::optional<HumanInput::Item>, HumanInput::End> HumanInput::next(
    std::stop_token stop, std::chrono::milliseconds idle)
{
    std::unique_lock lock(m_mutex);
    const bool any = m_changed.wait_for(lock, stop, idle, [&] { return !m_items.empty() || m_end != End::none; });
    if (!m_items.empty()) { // what came before Done is read first
        Item item = m_items.front();
        m_items.pop_front();
        return {item, End::none};
    }
    if (m_end != End::none)
        return {std::nullopt, m_end};
    return {std::nullopt, stop.stop_requested() || any ? End::stopped : End::none};
}

void HumanInput::reset()
{
    std::lock_guard lock(m_mutex);
    m_items.clear();
    m_end = End::none;
    m_released = m_gates; // nothing still held waits for a look that will not come
    m_late.clear();
    m_buttons = 0;
    m_typing = m_wheeling = false;
    m_wheel = 0;
    m_commands.clear();
    m_changed.notify_all();
}

bool HumanInput::release(std::uint64_t gate)
{
    std::lock_guard lock(m_mutex);
    m_released = std::max(m_released, gate);
    m_changed.notify_all();
    return m_late.erase(gate) == 0;
}

namespace {

// The screen the run looked at when a gesture began, at event `index` of the stream.
struct Boundary {
    std::size_t index = 0;
    std::int64_t at_ms = 0;
    cv::Mat screen;
    DocumentElement element; // under a press
    ElementIdentity focus; // the focused field then: the previous action's
};

class HumanPlanner final : public Planner {
public:
    HumanPlanner(HumanInput& input, HumanPlannerHooks hooks, std::chrono::milliseconds idle)
        : m_input(input)
        , m_hooks(std::move(hooks))
        , m_idle(idle)
    {
    }

    std::string_view kind() const override { return "human"; }

    Result<PlannerTurn> next(const cv::Mat& screen, const std::string&, std::stop_token stop) override
    {
        if (m_boundaries.empty()) // what the person saw before their first gesture, if it passed ungated
            m_boundaries.push_back({0, 0, screen, {}, m_hooks.focus()});
        while (true) {
            auto [item, end] = m_input.next(stop, m_idle);
            if (!item && end == HumanInput::End::none) {
                // The person paused: what they finished is handed on, with the screen as it is now.
                auto performed = ROTE_TRY(idle());
                if (!performed.empty()) {
                    PlannerTurn turn;
                    turn.performed = std::move(performed);
                    return turn;
                }
                continue;
            }
            if (end == HumanInput::End::cancelled)
                return Error(Error::Code::cancelled, "the person cancelled: nothing is recorded");
            if (end == HumanInput::End::stopped)
                return Error(Error::Code::cancelled, "the run was stopped while the person was showing the task");
            if (end == HumanInput::End::done) {
                m_boundaries.push_back(
                    ROTE_TRY(look(m_events.size(), m_events.empty() ? 0 : m_events.back().at_ms, nullptr)));
                PlannerTurn turn;
                turn.performed = ROTE_TRY(complete(nullptr));
                Action done;
                done.kind = ActionKind::done;
                turn.actions.push_back(done);
                turn.note = "the person said done";
                return turn;
            }
            if (item->gate == 0) {
                m_events.push_back(item->event);
                continue;
            }
            // A gesture begins: looked at before its first event passes (the gate is let go either way).
            auto looked = look(m_events.size(), item->event.at_ms, &item->event);
            const bool in_time = m_input.release(item->gate);
            if (!looked.ok())
                return looked.error().with_context("looking at the screen the person acts on");
            if (!in_time)
                return Error(Error::Code::timeout, "the person's input passed before rote had looked at the screen it "
                                                   "acted on (the screen did not settle in time); nothing is recorded");
            m_boundaries.push_back(std::move(*looked));
            auto performed = complete(&item->event);
            m_events.push_back(item->event);
            if (!performed.ok())
                return performed.error();
            if (!performed->empty()) {
                PlannerTurn turn;
                turn.performed = std::move(*performed);
                return turn;
            }
        }
    }

private:
    // The person's last pointer event so far; null before the pointer moved.
    const InputEvent* last_pointer() const
    {
        const auto last = std::find_if(m_events.rbegin(), m_events.rend(),
            [](const InputEvent& e) { return e.kind == InputEvent::Kind::pointer; });
        return last == m_events.rend() ? nullptr : &*last;
    }
    bool button_held() const
    {
        const InputEvent* last = last_pointer();
        return last && (last->buttons & (buttons::left | buttons::middle | buttons::right)) != 0;
    }

    // The screen as the person sees it at event `index` (time `at_ms`), the focused field, and what a press
    // (`press`) is on, before it lands. The run's client moves the pointer where the person's is, unless a
    // button is held (its own move would let go of it).
    Result<Boundary> look(std::size_t index, std::int64_t at_ms, const InputEvent* press)
    {
        std::optional<Point> pointer;
        if (!button_held()) {
            if (press && press->kind == InputEvent::Kind::pointer)
                pointer = press->at;
            else if (const InputEvent* last = last_pointer())
                pointer = last->at;
        }
        Boundary b {index, at_ms, ROTE_TRY(m_hooks.look(pointer)), {}, m_hooks.focus()};
        if (press && press->kind == InputEvent::Kind::pointer)
            b.element = m_hooks.element_at(press->at);
        return b;
    }

    // After a pause: the actions complete so far, unless the last one is typed text or a button is held.
    Result<std::vector<PerformedAction>> idle()
    {
        auto actions = recorder::compile_demonstration(m_events);
        if (!actions.ok() || actions->size() <= m_emitted.size() || actions->back().action.kind == ActionKind::type
            || button_held())
            return std::vector<PerformedAction> {};
        m_boundaries.push_back(ROTE_TRY(look(m_events.size(), m_events.back().at_ms + m_idle.count(), nullptr)));
        return complete(nullptr);
    }

    // The actions complete before the gesture `starting` (none: the person is done), each with the screens
    // before and after it, that were not returned yet. A click that a press at its point within a double
    // click's reach may still turn into a double click waits for the next gesture.
    Result<std::vector<PerformedAction>> complete(const InputEvent* starting)
    {
        auto actions = recorder::compile_demonstration(m_events);
        if (!actions.ok())
            return actions.error().with_context("following the person's input");
        std::size_t ready = actions->size();
        if (starting && ready > m_emitted.size() && recorder::may_extend(actions->back(), *starting))
            --ready;
        // What was returned stays as it was: a longer stream that reads the same events otherwise is not one
        // rote can follow, and is never recorded on a guess.
        for (std::size_t k = 0; k < std::min(m_emitted.size(), actions->size()); ++k) {
            if (!((*actions)[k].action == m_emitted[k]))
                return Error(Error::Code::conflict, "the person's action " + std::to_string(k + 1) + " read as "
                        + describe(m_emitted[k]) + " and now as " + describe((*actions)[k].action));
        }
        std::vector<PerformedAction> out;
        for (std::size_t k = m_emitted.size(); k < ready; ++k) {
            const auto& d = (*actions)[k];
            // Before: the last look at or before its first event; after: the first look past its last event.
            const auto before = std::find_if(m_boundaries.rbegin(), m_boundaries.rend(),
                [&](const Boundary& b) { return b.index <= d.first; });
            const auto after = std::find_if(
                m_boundaries.begin(), m_boundaries.end(), [&](const Boundary& b) { return b.index > d.last; });
            if (before == m_boundaries.rend() || after == m_boundaries.end())
                return Error(Error::Code::internal, "no screen was looked at around the person's action " + describe(d.action));
            PerformedAction p;
            p.before = before->screen;
            p.action = d.action;
            p.after = after->screen;
            // How long the page had to settle: at most the time until the person went on.
            p.settle_ms = static_cast<int>(std::clamp<std::int64_t>(after->at_ms - d.end_ms, 0, 3000));
            if (acts_at_point(d.action.kind) && before->index == d.first)
                p.element = before->element;
            p.focus = after->focus;
            out.push_back(std::move(p));
            m_emitted.push_back(d.action);
        }
        return out;
    }

    HumanInput& m_input;
    HumanPlannerHooks m_hooks;
    std::chrono::milliseconds m_idle;
    std::vector<InputEvent> m_events;
    std::vector<Boundary> m_boundaries;
    std::vector<Action> m_emitted;
};

} // namespace

std::unique_ptr<Planner> make_human_planner(HumanInput& input, HumanPlannerHooks hooks, std::chrono::milliseconds idle)
{
    return std::make_unique<HumanPlanner>(input, std::move(hooks), idle);
}

} // namespace rote::runtime
