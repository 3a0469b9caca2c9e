#include <rote/agent/planner.h>

#include <algorithm>
#include <cstdlib>

#include <rote/base/log.h>
#include <rote/base/text_template.h>
#include <rote/vision/ocr.h>
#include <rote/vision/target.h>

namespace rote::runtime {

namespace {

class HintPlanner final : public Planner {
public:
    HintPlanner(const Workflow& workflow, const RunInputs& inputs, int first, HintPlannerOptions options,
        bool interruptions_first)
        : m_workflow(workflow)
        , m_inputs(inputs)
        , m_next(first)
        , m_options(options)
        , m_interruptions(interruptions_first)
    {
    }

    std::string_view kind() const override { return "hints"; }

    Result<PlannerTurn> next(const cv::Mat& screen, const std::string& failure, std::stop_token) override
    {
        m_turn_words.reset(); // a new turn, a new screen
        if (!failure.empty() && m_next > 0)
            return fail(m_workflow.hints[static_cast<size_t>(m_next - 1)], "the step failed: " + failure);
        PlannerTurn turn;
        if (m_interruptions) {
            m_interruptions = false;
            for (size_t h = 0; h < m_workflow.hints.size(); ++h) {
                const StepHint& hint = m_workflow.hints[h];
                if (!hint.optional)
                    continue;
                if (auto box = ROTE_TRY(find(screen, hint))) {
                    Action a;
                    a.kind = hint.kind == StepHint::Kind::double_click ? ActionKind::double_click : ActionKind::click;
                    a.at = box->center();
                    turn.actions.push_back(a);
                    turn.hint = static_cast<int>(h);
                    turn.note = "hint line " + std::to_string(hint.line) + ": " + std::string(to_string(hint.kind))
                        + " (present)";
                    return turn;
                }
            }
        }
        // One turn is one decision: hints that ask nothing of this screen (an optional control that is not
        // there, a text waited for that is already shown) are passed over within it, as a model would.
        for (;; ++m_next) {
            if (m_next >= static_cast<int>(m_workflow.hints.size())) {
                turn.actions.push_back(Action {ActionKind::done, {}, {}, 0, 0, "all step hints done", 0});
                turn.note += (turn.note.empty() ? "" : "; ") + std::string("all step hints done");
                return turn;
            }
            const StepHint& hint = m_workflow.hints[static_cast<size_t>(m_next)];
            turn.hint = m_next;
            turn.note += (turn.note.empty() ? "" : "; ") + ("hint line " + std::to_string(hint.line) + ": " + std::string(to_string(hint.kind)));
            switch (hint.kind) {
            case StepHint::Kind::click:
            case StepHint::Kind::double_click: {
                if (hint.optional && !ROTE_TRY(find(screen, hint))) {
                    turn.note += " (not present: nothing to do)";
                    break;
                }
                const Rect box = ROTE_TRY(ground(screen, hint));
                Action a;
                a.kind = hint.kind == StepHint::Kind::click ? ActionKind::click : ActionKind::double_click;
                a.at = box.center();
                turn.actions.push_back(a);
                break;
            }
            case StepHint::Kind::type: {
                if (!hint.target.empty()) {
                    // Clicking a field's label focuses the field (HTML labels do); the label is what a person names.
                    Action click;
                    click.kind = ActionKind::click;
                    click.at = ROTE_TRY(ground(screen, hint)).center();
                    turn.actions.push_back(click);
                }
                Action type;
                type.kind = ActionKind::type;
                type.text = hint.text; // a template: rendered by whoever types it
                turn.actions.push_back(type);
                break;
            }
            case StepHint::Kind::key:
                turn.actions.push_back(Action {ActionKind::key, {}, {}, 0, 0, hint.text, 0});
                break;
            case StepHint::Kind::wait:
                if (hint.target.empty()) {
                    turn.actions.push_back(Action {ActionKind::wait, {}, {}, 0, 0, {}, hint.amount});
                    break;
                }
                {
                    auto seen = ROTE_TRY(find(screen, hint));
                    if (!seen) {
                        const auto now = std::chrono::steady_clock::now();
                        if (!m_waiting_since)
                            m_waiting_since = now;
                        if (now - *m_waiting_since > m_options.wait_for_timeout)
                            return fail(hint, "waited " + std::to_string(m_options.wait_for_timeout.count() / 1000) + " s for "
                                    + quoted_list(ROTE_TRY(labels(hint))) + " to appear");
                        turn.actions.push_back(
                            Action {ActionKind::wait, {}, {}, 0, 0, {}, static_cast<int>(m_options.poll.count())});
                        turn.hint = -1; // not done yet: the same hint next time
                        turn.poll = true;
                        return turn;
                    }
                    m_waiting_since.reset();
                }
                break; // seen: nothing to do, the next hint follows on this screen
            case StepHint::Kind::scroll: {
                Action a;
                a.kind = ActionKind::scroll;
                a.at = {screen.cols / 2, screen.rows / 2};
                a.scroll_dy = hint.amount;
                turn.actions.push_back(a);
                break;
            }
            }
            if (!turn.actions.empty()) {
                ++m_next;
                return turn;
            }
        }
    }

private:
    Error fail(const StepHint& hint, const std::string& what) const
    {
        return Error(Error::Code::not_found,
            m_workflow.file.string() + ":" + std::to_string(hint.line) + ": step hint '" + std::string(to_string(hint.kind))
                + "': " + what);
    }

    // The hint's labels for this run (placeholders rendered), in the order they are tried.
    Result<std::vector<std::string>> labels(const StepHint& hint) const
    {
        std::vector<std::string> out;
        std::vector<std::string> all {hint.target};
        all.insert(all.end(), hint.also.begin(), hint.also.end());
        for (const auto& text : all) {
            auto rendered = render_template(text, m_inputs.values, {});
            if (!rendered.ok())
                return fail(hint, rendered.error().message());
            out.push_back(*rendered);
        }
        return out;
    }

    static std::string quoted_list(const std::vector<std::string>& labels)
    {
        std::string out;
        for (const auto& l : labels)
            out += (out.empty() ? "\"" : " or \"") + l + "\"";
        return out;
    }

    // The first of the hint's labels found on the screen, at one place once the hint's qualifiers (link,
    // field, first/second, below "Heading") have said which; nothing when none is there.
    Result<std::optional<Rect>> find(const cv::Mat& screen, const StepHint& hint)
    {
        auto ocr = ROTE_TRY(vision::Ocr::for_this_thread());
        // One turn's screen is read once, however many hints look at it.
        if (!m_turn_words)
            m_turn_words = ROTE_TRY(ocr->read(screen));
        const std::vector<vision::Word>& words = *m_turn_words;
        const auto rendered = ROTE_TRY(labels(hint));
        for (std::size_t i = 0; i < rendered.size(); ++i) {
            const std::string& text = rendered[i];
            // A label made of the run's inputs is a value: read exactly, never a name that reads alike.
            const std::string& written = i == 0 ? hint.target : hint.also[i - 1];
            const std::vector<Rect> places
                = ROTE_TRY(places_of(hint, text, written.find("{{") != std::string::npos, words, screen, *ocr));
            if (places.empty())
                continue;
            const auto chosen = ROTE_TRY(choose(hint, text, places, words));
            if (chosen.size() == 1)
                return std::optional(chosen.front());
            return fail(hint, "\"" + text + "\" is on the screen " + std::to_string(chosen.size())
                    + " times; say which (first, second, ..., below \"Heading\", link or field)");
        }
        return std::optional<Rect>();
    }

    // Where `text` is: links that read it (link), the fields it labels (field), both from the document and
    // each confirmed by the screen's words in its box or beside it; or its readings on the screen.
    Result<std::vector<Rect>> places_of(const StepHint& hint, const std::string& text, bool value,
        const std::vector<vision::Word>& words, const cv::Mat& screen, vision::Ocr& ocr)
    {
        std::vector<Rect> places;
        if (hint.element.empty()) {
            const auto match = value ? vision::find_value(words, text) : vision::find_text(words, text);
            if (match.status == vision::LocateStatus::found)
                places.push_back(match.box);
            else if (match.status == vision::LocateStatus::ambiguous)
                places = match.candidates;
            // Not read on the whole screen (a button's words inside its border, small on a dialog): the
            // document's button of that name, on top where it is drawn, when its own box reads as the name.
            if (places.empty() && !value && m_options.witness != nullptr)
                places = ROTE_TRY(buttons_reading(text, screen, ocr));
            // Words that only read alike ("contract with" for "Contract ID") are no sighting when the page's
            // document, which has the text itself, holds the label nowhere.
            if (!places.empty() && !value && match.similarity < 1.0 && m_options.witness != nullptr) {
                auto place = m_options.witness->text_place(text);
                if (place.ok() && place->place == Witness::TextPlace::absent)
                    places.clear();
            }
            return places;
        }
        if (m_options.witness == nullptr)
            return fail(hint, hint.element + " \"" + text + "\" needs the browser's document, which this sandbox does "
                              "not give (the qemu provider, a desktop app): write the hint without " + hint.element);
        if (hint.element == "link") {
            auto links = m_options.witness->links_reading(text);
            if (!links.ok())
                return fail(hint, "the document could not list the links reading \"" + text + "\": " + links.error().message());
            std::vector<std::string> seen_targets;
            for (const auto& l : *links) {
                // Links to one page are one place (a result's title and its "more" link).
                if (!l.href.empty() && std::find(seen_targets.begin(), seen_targets.end(), l.href) != seen_targets.end())
                    continue;
                if (vision::text_similarity(vision::words_in(words, l.box), text) < 0.8)
                    continue; // the document's box does not show the link's words: not confirmed
                seen_targets.push_back(l.href);
                places.push_back(l.box);
            }
            return places;
        }
        // field: the document's fields that the label names; the label must be on the screen.
        if (vision::find_text(words, text).status == vision::LocateStatus::not_found)
            return places;
        auto values = m_options.witness->values_beside(text);
        if (!values.ok())
            return fail(hint, "the document could not say which field \"" + text + "\" names: " + values.error().message());
        for (const auto& v : *values) {
            if (v.how == "field" && !v.box.empty())
                places.push_back(v.box);
        }
        return places;
    }

    // The buttons (<button>, <input type=submit|button>) whose accessible name is `text`, drawn on top of the
    // page, each confirmed by OCR of its own box (a few pixels around it).
    Result<std::vector<Rect>> buttons_reading(const std::string& text, const cv::Mat& screen, vision::Ocr& ocr)
    {
        std::vector<Rect> places;
        for (const char* tag : {"button", "input"}) {
            ElementIdentity wanted;
            wanted.tag = tag;
            wanted.role = "button";
            wanted.label = text;
            auto found = m_options.witness->find(wanted);
            if (!found.ok())
                continue; // no answer from the document: the screen's words alone, as without one
            for (const FoundElement& f : *found) {
                const int margin = 4, x = std::max(0, f.box.x - margin), y = std::max(0, f.box.y - margin);
                const Rect around {x, y, std::min(screen.cols, f.box.x + f.box.w + margin) - x,
                    std::min(screen.rows, f.box.y + f.box.h + margin) - y};
                if (around.w <= 0 || around.h <= 0)
                    continue;
                auto read = ocr.read(screen, around);
                if (read.ok() && vision::text_similarity(vision::words_in(*read, around), text) >= 0.8)
                    places.push_back(f.box);
            }
        }
        return places;
    }

    // The one place of `places` the hint means: nearest below its heading, then its ordinal in reading order
    // (top to bottom, left to right); all of them when it says neither.
    Result<std::vector<Rect>> choose(
        const StepHint& hint, const std::string& text, std::vector<Rect> places, const std::vector<vision::Word>& words)
    {
        std::sort(places.begin(), places.end(), [](const Rect& a, const Rect& b) {
            const int line = std::max(4, std::min(a.h, b.h) / 2);
            if (std::abs(a.center().y - b.center().y) > line)
                return a.center().y < b.center().y;
            return a.x < b.x;
        });
        if (!hint.below.empty()) {
            auto heading_text = render_template(hint.below, m_inputs.values, {});
            if (!heading_text.ok())
                return fail(hint, heading_text.error().message());
            const auto heading = vision::find_text(words, *heading_text);
            if (heading.status == vision::LocateStatus::not_found)
                return fail(hint, "\"" + *heading_text + "\" (what \"" + text + "\" is below) is not on the screen");
            if (heading.status == vision::LocateStatus::ambiguous)
                return fail(hint, "\"" + *heading_text + "\" (what \"" + text + "\" is below) is on the screen "
                        + std::to_string(heading.candidates.size()) + " times");
            const int under = heading.box.y + heading.box.h / 2;
            std::erase_if(places, [&](const Rect& r) { return r.center().y <= under; });
            if (places.empty())
                return fail(hint, "no \"" + text + "\" is below \"" + *heading_text + "\"");
            if (hint.ordinal == 0)
                places.resize(1); // the nearest below it
        }
        if (hint.ordinal > 0) {
            if (static_cast<int>(places.size()) < hint.ordinal)
                return fail(hint, "\"" + text + "\" is on the screen " + std::to_string(places.size())
                        + (places.size() == 1 ? " time" : " times") + ", not " + std::to_string(hint.ordinal));
            places = {places[static_cast<std::size_t>(hint.ordinal - 1)]};
        }
        return places;
    }

    Result<Rect> ground(const cv::Mat& screen, const StepHint& hint)
    {
        if (auto box = ROTE_TRY(find(screen, hint)))
            return *box;
        const auto all = ROTE_TRY(labels(hint));
        return fail(hint, quoted_list(all) + (all.size() == 1 ? " is not on the screen" : ": none of them is on the screen"));
    }

    const Workflow& m_workflow;
    const RunInputs& m_inputs;
    int m_next;
    HintPlannerOptions m_options;
    std::optional<std::chrono::steady_clock::time_point> m_waiting_since;
    bool m_interruptions;
    std::optional<std::vector<vision::Word>> m_turn_words; // the words on this turn's screen, once read
};

std::string goal_for_model(const Workflow& workflow, const RunInputs& inputs)
{
    std::string goal = workflow.goal;
    while (!goal.empty() && (goal.back() == '\n' || goal.back() == ' '))
        goal.pop_back();
    if (!inputs.values.empty()) {
        goal += "\nInputs:";
        for (const auto& [name, value] : inputs.values)
            goal += "\n- " + name + ": " + value;
    }
    for (const auto& [name, _] : inputs.secrets)
        goal += "\nTo type the secret '" + name + "', type exactly {{secret:" + name
            + "}}; the runtime replaces it with the value, which you are not given.";
    if (!workflow.outputs.empty()) {
        goal += "\nWhen done, give these in your DONE line:";
        for (const auto& out : workflow.outputs)
            goal += " " + out.name;
    }
    return goal;
}

class LlmPlanner final : public Planner {
public:
    LlmPlanner(llm::LlmProvider& provider, const Workflow& workflow, const RunInputs& inputs,
        std::optional<llm::ExpectedStep> expected)
        : m_conversation(provider.start({goal_for_model(workflow, inputs), std::move(expected)}))
    {
    }

    std::string_view kind() const override { return "llm"; }

    Result<PlannerTurn> next(const cv::Mat& screen, const std::string& failure, std::stop_token stop) override
    {
        auto turn = ROTE_TRY(m_conversation->next({screen, failure}, stop));
        if (!turn.safety_checks.empty()) {
            std::string what;
            for (const auto& c : turn.safety_checks)
                what += (what.empty() ? "" : "; ") + c.code + ": " + c.message;
            return Error(Error::Code::conflict, "the model's provider raised a safety check (" + what
                    + "); rote does not acknowledge safety checks on its own, so the run stops here");
        }
        PlannerTurn out;
        out.actions = std::move(turn.actions);
        out.note = turn.text;
        return out;
    }

    std::vector<llm::CallRecord> calls() const override { return m_conversation->calls(); }

private:
    std::unique_ptr<llm::Conversation> m_conversation;
};

} // namespace

std::unique_ptr<Planner> make_hint_planner(
    const Workflow& workflow, const RunInputs& inputs, int first_hint, HintPlannerOptions options, bool interruptions_first)
{
    return std::make_unique<HintPlanner>(workflow, inputs, first_hint, options, interruptions_first);
}

std::unique_ptr<Planner> make_llm_planner(
    llm::LlmProvider& provider, const Workflow& workflow, const RunInputs& inputs, std::optional<llm::ExpectedStep> expected)
{
    return std::make_unique<LlmPlanner>(provider, workflow, inputs, std::move(expected));
}

} // namespace rote::runtime
