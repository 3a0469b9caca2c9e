#pragma once

// Builds trace steps from what happened in a successful run (design.md, Workflows, traces, runs): for each
// action, the stable screen before it, the action, and the stable screen after it. Pure logic: it never
// touches a socket or the store; the agent loop hands the result to Store::save_trace.

#include <map>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include <rote/base/action.h>
#include <rote/base/result.h>
#include <rote/store/records.h>
#include <rote/vision/ocr.h>

namespace rote::recorder {

// One action as it happened.
struct Observed {
    cv::Mat before; // the stable screen before the action, 8-bit BGR
    Action action; // as performed; typed text as the planner gave it (a template, or literal text)
    cv::Mat after; // the stable screen after it
    int settle_ms = 0; // how long the screen took to become stable after the action
    store::Provenance provenance = store::Provenance::llm;
    std::vector<Rect> mask; // regions of `before` seen changing on their own (clocks, carets, ads)
    std::string element; // a pointer action's target in the document (store::Anchor::element); may be empty
    ElementIdentity identity; // who that target is (store::Anchor::identity); may be empty
    ElementIdentity focus; // the focused element after the action (store::Anchor::focus); may be empty
};

struct RecordOptions {
    std::string workflow;
    std::string goal;
    std::map<std::string, std::string> inputs; // the run's non-secret input values
    std::map<std::string, std::string> secrets; // the run's secret values: only ever replaced, never kept
    std::string note;
};

// The trace of a run: one step per replayable action (done and give_up are not steps), screenshots and
// anchor patches as content-addressed PNG artifacts (each stored once), fingerprints, the anchor of every
// pointer action, the effect region, and typed text as a template: an input's value becomes {{name}}, a
// secret's {{secret:name}}, so the trace replays with other inputs and never holds a secret. Errors: a
// screen that is empty or of another size than its pair, OCR that cannot start, a typed template naming an
// input the run does not have.
Result<store::NewTrace> record(const std::vector<Observed>& observed, const RecordOptions& options, vision::Ocr& ocr);

// Typed text as a trace keeps it: placeholders the planner wrote stay, literal input and secret values
// become placeholders.
Result<std::string> text_template(const std::string& typed, const std::map<std::string, std::string>& inputs,
    const std::map<std::string, std::string>& secrets);

// A value the person typed that is no input's value, holds none and holds no secret: proposed as a new input
// when a task is taught by showing (docs/teach.md), so that each run can type its own.
struct ProposedInput {
    std::string value;
    std::string field; // what the field it was typed into is called (its label, placeholder, name or id); may be ""
    std::string name; // a name for it: the field's, as an input name ("company_name"), else "input"; unique
};

// The typed values of `observed` to propose, in order, each once; their names differ from every input's
// and secret's and from each other. Nothing typed into a field named like a password's, a PIN's or a
// token's is proposed (a mistyped password is nearly the password).
std::vector<ProposedInput> proposed_inputs(const std::vector<Observed>& observed,
    const std::map<std::string, std::string>& inputs, const std::map<std::string, std::string>& secrets);

// An anchor label as a trace keeps it: a label that reads as an input's value (a search result named after
// the company searched for) becomes that input's placeholder, and one that shows the value as whole words
// among others ("Stark Components @partners") takes the placeholder there ("{{partner}} @partners"), so
// replay looks for this run's value instead.
std::string label_template(const std::string& label, const std::map<std::string, std::string>& inputs);

} // namespace rote::recorder
