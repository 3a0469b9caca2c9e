#pragma once

// The agent loop (design.md, "Replay, step by step"): one run of a workflow in a fresh sandbox. With no
// trace, the planner teaches and the recorder records. With a trace, each step is replayed with vision
// checks; where the screen diverged the planner takes over until the screen is one the trace knows again
// (this step's pre-state or a later one's), and replay carries on from there. At the end: the success check,
// the outputs, and, for a successful run that needed the planner, a new trace version. Everything is stored:
// the run, each step and how it was carried out, every model call and its cost, a screenshot at a divergence.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include <rote/agent/workflow.h>
#include <rote/base/result.h>
#include <rote/desktop/desktop.h>
#include <rote/llm/provider.h>
#include <rote/recorder/recorder.h>
#include <rote/session/pool.h>
#include <rote/store/store.h>
#include <rote/vision/ocr.h>
#include <rote/witness/witness.h>

namespace rote::runtime {

class HumanInput;

enum class PlannerKind {
    hints,
    llm,
    human, // a person at a live view (agent/human.h): RunOptions::human
};
std::string_view to_string(PlannerKind kind);

// How a run is carried out (docs/api.md): `gui` replays the trace in a sandbox; `api` runs the workflow's
// proved API plan (an error when there is none); `automatic` ("auto") runs a proved plan when there is one, and
// the GUI otherwise, or where a plan that only reads could not do the work (a site it could not reach, an
// answer it did not expect). A plan that writes and fails is never followed by the GUI: the run halts.
enum class RunMode { gui, api, automatic };
Result<RunMode> parse_run_mode(const std::string& text);

struct RunOptions {
    PlannerKind planner = PlannerKind::hints;
    llm::LlmProvider* llm = nullptr; // the model, for PlannerKind::llm
    HumanInput* human = nullptr; // what the person does in the live view, for PlannerKind::human
    // With the human planner: true when the run needs the person (from the start when teaching, at each
    // divergence in replay), false once it no longer does (the screen is one the trace knows again, or the
    // run is over), so that a live view with control is open only while it is theirs to act.
    std::function<void(bool)> person;
    // With the hints or llm planner and `human`: where that planner cannot go on (it has no hint for the step,
    // gives up, fails, or its budget is spent), a person takes over at the live view as the human planner
    // would, instead of the run failing (rote run --ask).
    bool ask = false;
    std::string provider; // the sandbox provider; empty: the workflow's
    std::filesystem::path image; // qemu: the guest image (empty: the default one)
    std::string keep; // qemu: run in this kept sandbox (its files survive between runs); empty: a fresh VM
    std::map<std::string, std::string> routes; // host → 127.0.0.1:PORT, added to the workflow's
    // A CA that sites' certificates may chain to beside the system's (a company's own): for the egress proxy,
    // which opens a sandbox's HTTPS to capture it, and for API plans' runs.
    std::filesystem::path ca_file;
    bool teach = false; // teach afresh even if a trace exists (the old versions are kept)
    // The typed values no input names (recorder::proposed_inputs), offered before a trace the run made is kept
    // (its success check and outputs hold): it returns those to make inputs, name → value (a proposal's name
    // or another), and the trace types them as {{name}}, so the workflow must have them from then on (rote
    // teach adds them to its file, with the value as the default). An error fails the run: nothing is kept.
    // Unset: typed values stay in the trace as typed.
    std::function<Result<std::map<std::string, std::string>>(const std::vector<recorder::ProposedInput>&)> name_inputs;
    std::chrono::milliseconds quiet {300}; // the screen is stable after this long without a change
    // With the browser's document as a witness, the screen and the traffic need only this long without a
    // change once the document has loaded (readyState complete): the document says the page is done.
    std::chrono::milliseconds document_quiet {100};
    std::chrono::milliseconds settle_timeout {20000}; // an action's screen must settle within this
    std::chrono::milliseconds start_timeout {30000}; // the start page must show within this
    // (The three waits above are for the local sandbox; a slower one, a VM under TCG, stretches them.)
    std::function<void(const std::string&)> progress; // one line per step; never holds a secret
    // The sandbox's desktop, for a live view of the run: its VNC endpoint once it is up, and null before it
    // stops (a fallback attempt's sandbox is a second pair of calls).
    std::function<void(const VncEndpoint*)> desktop;
    // A stop request cancels the run from any thread: every wait on the screen and the model returns at once,
    // the sandbox is stopped and the run is stored as cancelled (nothing it made is kept as a trace).
    std::stop_token stop;
    std::optional<std::int64_t> fire_id; // the schedule's fire this run is for (the scheduler's)
    RunMode mode = RunMode::automatic; // a proved API plan does the work where there is one
    // A budget beside the workflow's policy, for model calls only (the scheduler's daily budget of a schedule:
    // what is left of it when the run starts). Spent, no model call is made: a screen that needs one fails
    // the run with "budget spent: " + `what`.
    struct ModelBudget {
        int calls = 0;
        std::int64_t cost_microusd = 0;
        std::string what;
    };
    std::optional<ModelBudget> model_budget;
    // Sandboxes started ahead (the scheduler's warm pool): a run takes one of its spec when one is ready and
    // loads its start page in it; else it starts its own. Null: every run starts its own.
    SessionPool* pool = nullptr;
};

// The session a run of `workflow` under `options` asks for (its provider, allowlist, routes, window): what
// a warm pool is warmed with.
SessionSpec session_spec(const Workflow& workflow, const RunOptions& options);

// Where and why replay stopped following the trace.
struct Divergence {
    int trace_step = 0; // -1: the trace was done but the success check failed
    std::string expected; // what the trace expected to do there
    std::string why;
    std::optional<store::Hash> screenshot; // the screen at that moment (an artifact in the store)
};

// Where a replayed step's time went: rote's own checks (finding the target, judging the effect) and the
// action with the page settling after it.
struct StepTiming {
    int trace_step = 0;
    std::int64_t check_us = 0;
    std::int64_t act_and_settle_us = 0;
};

struct RunResult {
    std::int64_t run_id = 0;
    store::RunStatus status = store::RunStatus::failed;
    std::string error; // why a run failed
    std::map<std::string, std::string> outputs;
    std::map<std::string, std::string> output_sources; // per output: "document (next cell)" or "ocr"
    std::optional<std::int64_t> trace_id; // the trace replayed
    std::optional<std::int64_t> new_trace_id; // the trace this run wrote (taught or repaired)
    int steps = 0; // actions performed
    int replayed = 0; // trace steps at the recorded point
    int relocated = 0; // trace steps at a point vision found elsewhere
    int planned = 0; // actions a planner decided
    int planner_calls = 0; // planner turns (each a model call for the LLM planner)
    std::int64_t cost_microusd = 0;
    std::int64_t wall_ms = 0;
    std::vector<Divergence> divergences;
    std::vector<StepTiming> timings; // per replayed step, in order
    // From the first page on the screen to the outputs read (replay or teaching, success check included;
    // without the sandbox's start and stop).
    std::int64_t work_ms = 0;
    bool warm = false; // its sandbox came ready from a warm pool
    std::map<std::string, std::string> new_inputs; // typed values made inputs (RunOptions::name_inputs), name → value
    std::string mode = "gui"; // "api" when an API plan did the work
    std::string mode_why; // why that mode ("plan 3 is proved", "plan 3 could not reach the site: ...")
    std::optional<std::int64_t> plan_id; // the API plan it ran (or tried, before the GUI)
};

// Runs `workflow` once with `inputs`. The Result fails only when the store cannot record the run; a run that
// fails (a sandbox that does not start, a divergence no planner resolves, a budget spent) is a RunResult
// with status failed and its error, stored as such.
Result<RunResult> run_workflow(
    store::Store& store, const Workflow& workflow, const RunInputs& inputs, const RunOptions& options);

// What an output's spec reads from the words on the final screen: the text right of its anchor (matched
// against the pattern when there is one), else the first text anywhere matching the pattern. Nothing when
// neither finds it.
std::optional<std::string> read_output(const std::vector<vision::Word>& words, const OutputSpec& spec);

// What an output reads from the document (Witness::values_beside its anchor), confirmed by the pixels: the
// value beside the anchor, matched against the pattern when there is one, must be one value however often the
// label occurs, and the screen's words where the document draws it must read as it (similarity >= 0.8).
struct DocumentOutput {
    std::optional<std::string> value;
    std::string how; // "next cell", "definition", ... (LabelledValue::how) when read
    // Why nothing was read although the document shows the label: no value beside it, several, or not what
    // the screen shows. Empty with no value: the label is not in the document.
    std::string problem;
};
DocumentOutput read_output_from_document(
    const std::vector<LabelledValue>& beside, const std::vector<vision::Word>& words, const OutputSpec& spec);

// The step hint that produced a trace step (by kind and label, typed text or key), or -1; moved back over the
// optional hints right before it. Used to restart the step-hint planner where replay diverged.
int hint_for_step(const Workflow& workflow, const store::Step& step, const RunInputs& inputs);

} // namespace rote::runtime
