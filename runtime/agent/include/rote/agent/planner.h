#pragma once

// Planners decide actions where there is no trace, or where replay diverged from it (design.md, Planners):
// the workflow's own step hints grounded by OCR, or a model through llm-client. One interface.
//
// Typed text comes back as a template: a secret is "{{secret:name}}", replaced only by whoever types it, so
// neither a planner nor a model ever holds a secret's value.

#include <chrono>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include <rote/agent/workflow.h>
#include <rote/base/action.h>
#include <rote/base/result.h>
#include <rote/witness/witness.h>
#include <rote/llm/provider.h>

namespace rote::runtime {

// An action a person already did on the desktop (the human planner): recorded as it happened, never
// performed again.
struct PerformedAction {
    cv::Mat before; // the screen the person acted on
    Action action;
    cv::Mat after; // the screen once it had settled, before the person's next action
    int settle_ms = 0;
    DocumentElement element; // the document's element under a pointer action, asked before it landed
    ElementIdentity focus; // the focused field after it
};

struct PlannerTurn {
    std::vector<PerformedAction> performed; // done already, before `actions`
    // In real-screen pixels. Empty: look again (take a new screenshot and ask again). A done or give_up is
    // always last.
    std::vector<Action> actions;
    std::string note; // what the planner meant, for logs and run reports
    int hint = -1; // the step hint this turn carries out (hint planner), for the recorder's provenance
    bool poll = false; // only waiting for the screen to show something (a hint's `wait for`): no decision made
};

// Not thread-safe: a planner belongs to one run.
class Planner {
public:
    virtual ~Planner() = default;
    Planner(const Planner&) = delete;
    Planner& operator=(const Planner&) = delete;

    // The next actions toward the goal on `screen`; `failure` says why the previous turn's actions could not
    // be performed. Errors: the planner cannot decide (a hint's label is not on the screen, or is there twice;
    // the model failed or answered garbage). An error is never replaced by a guess.
    virtual Result<PlannerTurn> next(const cv::Mat& screen, const std::string& failure, std::stop_token stop = {}) = 0;

    // "hints" or "llm".
    virtual std::string_view kind() const = 0;

    // The model calls made so far (none for hints), each with its tokens and cost.
    virtual std::vector<llm::CallRecord> calls() const { return {}; }

protected:
    Planner() = default;
};

struct HintPlannerOptions {
    std::chrono::milliseconds wait_for_timeout {15000}; // `wait for "text"` gives up after this
    std::chrono::milliseconds poll {250};
    // The browser's document, for `link` and `field` hints (`click link "Acme"`, `type "x" into field
    // "Name"`); without one those hints fail, saying why. Not owned.
    Witness* witness = nullptr;
};

// Carries out the workflow's step hints in order, from `first_hint`. Labels are found by OCR (vision's
// find_text): a label that is not on the screen, or is there twice, is an error naming the hint's line.
// With `interruptions_first` (replay diverged), the optional hints anywhere in the workflow (`click "Accept
// cookies" if present`) are dealt with first: what they handle can appear on any page.
std::unique_ptr<Planner> make_hint_planner(const Workflow& workflow, const RunInputs& inputs, int first_hint = 0,
    HintPlannerOptions options = {}, bool interruptions_first = false);

// Asks a model. The model is told the goal, the non-secret inputs' values, and how to type a secret (the
// placeholder, which the runtime replaces); never a secret's value. `expected` is what the trace expected
// when replay diverged. OpenAI's safety checks are not acknowledged: a turn that raises one is an error that
// stops the run.
std::unique_ptr<Planner> make_llm_planner(llm::LlmProvider& provider, const Workflow& workflow,
    const RunInputs& inputs, std::optional<llm::ExpectedStep> expected = std::nullopt);

} // namespace rote::runtime
