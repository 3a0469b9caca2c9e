#pragma once

// What the store holds, as plain values. See ../shared/design.md ("Workflows, traces, runs").
// Timestamps are UTC ISO-8601 strings ("2026-11-22T14:50:00Z"), which sort as they read.
// Money is integer micro-dollars so totals are exact; reports divide by 1e6 only to print.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rote/base/action.h>
#include <rote/base/element.h>
#include <rote/base/geometry.h>

namespace rote::store {

// A content address: lowercase hex SHA-256 of an artifact's bytes.
using Hash = std::string;

struct Artifact {
    Hash hash;
    std::string media_type; // "image/png"
    std::vector<std::uint8_t> data;
};

// Who produced a trace step.
enum class Provenance { llm, human, script, repair };


// What identifies an action's target on screen (filled by vision through the recorder).
struct Anchor {
    std::optional<Hash> patch; // image patch around the point (artifact)
    std::string label; // OCR'd text of the element under the point
    std::optional<Rect> label_box;
    std::vector<Landmark> landmarks;
    // What the browser's document had under the point when recorded ("link", "button", "field", "text");
    // empty when nothing said (no witness: the qemu provider, a desktop app, a trace from before).
    std::string element;
    // Who that element is in the document (its tag, id, name, role, accessible name, text and box), for
    // finding it again where the pixels alone would not; empty when nothing said.
    ElementIdentity identity;
    // The element that had the focus after the step (any step: a click into a field, a Tab), when it was a
    // field: replay checks the focus went to the same one before typing on. Empty when no field had it.
    ElementIdentity focus;
    // On a trace's last step, the screen its outputs are read on: where each output's label was in the
    // document (LabelledValue::label_at, by output name), for reading it where the label's words are others
    // (a translated interface). Empty when nothing said.
    std::map<std::string, std::string> output_labels;
    friend bool operator==(const Anchor&, const Anchor&) = default;
};

struct Step {
    int index = 0;
    Action action;
    std::optional<Hash> pre_artifact; // stable screenshot before the action (PNG)
    std::vector<std::uint8_t> pre_fingerprint; // vision's compact fingerprint of it
    std::vector<Rect> mask; // regions of the pre-state known to be dynamic
    Anchor anchor;
    std::optional<Rect> effect_region; // where the screen changed after the action
    std::optional<Hash> post_artifact;
    std::vector<std::uint8_t> post_fingerprint;
    int settle_ms = 0; // how long the screen took to become stable again
    Provenance provenance = Provenance::llm;
    friend bool operator==(const Step&, const Step&) = default;
};

// A trace to be written. Versions are assigned by the store (1, 2, ... per workflow); traces are
// immutable once written, so a failed run can never overwrite the last good one.
struct NewTrace {
    std::string workflow; // created if the store does not know it yet
    std::string workflow_goal; // the goal given to a workflow created here
    std::optional<std::int64_t> parent_id; // the trace this one repairs
    std::optional<std::int64_t> source_run_id;
    std::string note;
    std::string conditions; // the screen the run that made it had (TraceStanding::conditions)
    std::vector<Step> steps;
    std::vector<Artifact> artifacts; // bytes for hashes the steps use that the store may lack
};

struct Trace {
    std::int64_t id = 0;
    std::string workflow;
    int version = 0;
    std::optional<std::int64_t> parent_id;
    std::optional<std::int64_t> source_run_id;
    std::string note;
    std::string created_at;
    std::vector<Step> steps;
};

struct TraceSummary {
    std::int64_t id = 0;
    int version = 0;
    int steps = 0;
    std::string created_at;
};

// Where a trace version stands among its workflow's (docs/replay.md, "Versions on probation").
enum class TraceRole {
    default_version, // what runs replay ("default")
    candidate, // a repair on probation: replayed by runs under its conditions, the default as fallback
    demoted, // failed too often, or rolled back: never chosen
    retired, // a default replaced by a newer one: kept as history (and as a repair's parent)
};
std::string_view to_string(TraceRole role);
inline constexpr int kPromoteAfter = 2; // successful runs for other inputs before a candidate is the default
inline constexpr int kDemoteAfter = 2; // failed runs in a row before a candidate is demoted

struct TraceStanding {
    std::int64_t trace_id = 0;
    int version = 0;
    std::optional<std::int64_t> parent_id;
    TraceRole role = TraceRole::retired;
    bool pinned = false;
    std::string conditions; // the screen its source run had ("local 1280x800 @1"); empty: any
    int successes = 0; // runs on it that succeeded for inputs other than its source run's
    int failures = 0; // runs on it that failed since it last succeeded
    std::string why; // why it stands where it does
    std::string changed_at;
};

struct TraceChoice {
    std::optional<std::int64_t> trace_id; // the version to replay
    std::optional<std::int64_t> fallback_id; // the default, when trace_id is a candidate
    std::string why;
};

enum class TraceCommand { promote, pin, unpin, demote, rollback };

struct Workflow {
    std::string name;
    std::string goal;
    std::string definition; // the workflow file's text, as last run
};

// interrupted: its rote process went away without finishing it (found when the store is next opened).
enum class RunStatus { running, succeeded, failed, cancelled, interrupted };

struct RunSummary {
    std::int64_t id = 0;
    RunStatus status = RunStatus::running;
    std::string started_at;
};

struct WorkflowSummary {
    std::string name;
    std::string goal;
    std::vector<TraceSummary> traces; // oldest first
    std::optional<RunSummary> last_run;
};

struct NewRun {
    std::string workflow;
    std::optional<std::int64_t> trace_id;
    std::map<std::string, std::string> inputs; // never secret values: the runtime strips them
    std::string provider; // "local", "qemu"
    std::string planner; // "llm", "hints", "human"
    std::string started_at; // empty: now
    std::optional<std::int64_t> fire_id; // the schedule's fire it runs for
};

// How one step of a run was carried out.
enum class StepOutcome {
    replayed, // the trace's step, at the recorded point
    relocated, // the trace's step, at a point vision found elsewhere
    planned, // decided by a planner (LLM, hints, person) because the screen diverged or there is no trace
    failed,
};

struct RunStep {
    int index = 0;
    std::optional<int> trace_step;
    StepOutcome outcome = StepOutcome::replayed;
    Action action;
    std::string method; // how the target was found ("recorded", "template", "ocr", ...)
    std::optional<double> confidence;
    std::int64_t duration_ms = 0;
    std::optional<Hash> artifact; // screenshot kept at a divergence
    std::string detail;
    // The screen before and after the step, scaled down (a JPEG thumbnail, for the run report).
    std::optional<Hash> before_image;
    std::optional<Hash> after_image;
};

struct LlmCall {
    std::optional<std::int64_t> run_id;
    std::optional<int> run_step;
    std::string provider;
    std::string model;
    std::int64_t input_tokens = 0;
    std::int64_t output_tokens = 0;
    std::int64_t cache_read_tokens = 0;
    std::int64_t cache_write_tokens = 0;
    std::int64_t cost_microusd = 0;
    std::int64_t latency_ms = 0;
    std::string created_at; // empty: now
};

// What the egress proxy captured of one plain-http exchange (runtime::Capture), secret values replaced by
// {{secret:NAME}}: header fields in order (cookie and credential values never kept), bodies up to the proxy's
// bound.
struct CapturedExchange {
    std::vector<std::pair<std::string, std::string>> request_headers;
    std::string request_body;
    std::vector<std::pair<std::string, std::string>> response_headers;
    std::string response_body;
    bool truncated = false;
};

// One request of a run's sandbox through rote's egress proxy (runtime::ProxyRequest, kept with the run).
struct RunRequest {
    std::string at; // ISO 8601, UTC
    std::string method;
    std::string host;
    int port = 0;
    std::string path; // path and query, secret values replaced by {{secret:NAME}}; empty for CONNECT
    int status = 0;
    std::int64_t bytes_in = 0;
    std::int64_t bytes_out = 0;
    double ms = 0;
    std::string framing;
    std::string error;
    std::string refused;
    std::string scheme = "http"; // "https" for one read inside TLS the proxy opened (captured)
    int step = 0; // the run's step being carried out when it was made
    std::optional<CapturedExchange> capture;
};

struct RunEnd {
    RunStatus status = RunStatus::succeeded;
    std::string error;
    std::map<std::string, std::string> outputs;
    std::optional<std::int64_t> new_trace_id;
    std::optional<std::int64_t> trace_id; // the trace it replayed in the end, when not the one it began with
    std::int64_t wall_ms = 0;
    std::int64_t sandbox_ms = 0;
    std::string finished_at; // empty: now
    std::vector<RunRequest> requests; // the sandbox's traffic, in the proxy's order
};

// A finished run as the API plans need it (api/): what it was given and what it read.
struct RunOutcome {
    std::int64_t id = 0;
    std::optional<std::int64_t> trace_id; // the trace it replayed in the end, or the one it made
    std::string provider; // "local", "qemu"; "api" for a plan's run
    RunStatus status = RunStatus::running;
    std::map<std::string, std::string> inputs;
    std::map<std::string, std::string> outputs;
    std::string started_at;
};

// An API plan (docs/api.md): requests mined from a run's traffic that do what a GUI trace does. Its text is
// api/'s JSON; the store keeps it beside the trace it was mined for, with its standing.
enum class PlanStanding {
    unproven, // never run, or a write plan the workflow does not let rote re-run for checking
    proved, // gave the GUI runs' outputs for their inputs: used by --mode auto
    failed, // its proof gave other outputs, or none: never used
};
std::string_view to_string(PlanStanding standing);

struct ApiPlan {
    std::int64_t id = 0;
    std::string workflow;
    std::optional<std::int64_t> trace_id; // its GUI parent
    std::optional<std::int64_t> run_id; // the run whose traffic it was mined from
    std::string plan; // JSON
    bool writes = false; // a request in it may change the site's state
    PlanStanding standing = PlanStanding::unproven;
    std::string proof; // what proving it found, in words
    std::string created_at;
};

// A workflow on a schedule (docs/schedules.md). The store keeps it and its fires; when it fires is the
// scheduler's (the cron expression is read in its zone there, and checked before it is added).
enum class Overlap {
    skip, // a fire due while one of the schedule's fires runs is recorded as skipped
    buffer_one, // it waits for the running one, then the newest such fire runs (the others are skipped)
    allow, // it runs beside it
};
std::string_view to_string(Overlap overlap);
std::optional<Overlap> parse_overlap(std::string_view text);

struct Schedule {
    std::int64_t id = 0;
    std::string name;
    std::string workflow;
    std::string cron; // as written: five fields or a macro
    std::string zone = "UTC"; // IANA name
    std::vector<std::map<std::string, std::string>> rows {{}}; // one run per row per fire; never secret values
    std::string planner = "hints"; // hints, llm
    Overlap overlap = Overlap::skip;
    std::int64_t catchup_seconds = 3600; // a fire missed by less than this still runs, once
    int pause_after = 3; // failed fires in a row that pause the schedule; 0: never
    // Model spending a day (the day in `zone`) over all its runs; spent, its runs replay only and a row that
    // would need the model fails.
    std::optional<std::int64_t> budget_microusd;
    std::optional<int> budget_calls;
    std::string alert_webhook; // an http(s) URL POSTed each alert, signed; empty: none
    std::string alert_command; // a shell command run with each alert on stdin; empty: none
    bool paused = false;
    std::string paused_why;
    std::string from; // fires are due after this instant (when it was added or last resumed); ISO UTC
    std::string created_at;
};

// What a schedule's runs spent on models since an instant.
struct Spend {
    int model_calls = 0;
    std::int64_t cost_microusd = 0;
};

enum class FireStatus { running, succeeded, failed, skipped, missed, interrupted };
std::string_view to_string(FireStatus status);

// One fire of a schedule: identified by (schedule, scheduled_at), so it is claimed at most once, by whichever
// scheduler inserts it first.
struct Fire {
    std::int64_t id = 0;
    std::int64_t schedule_id = 0;
    std::string schedule;
    std::string scheduled_at; // ISO UTC: when the cron said
    FireStatus status = FireStatus::running;
    std::string started_at; // when it was claimed
    std::optional<std::string> finished_at;
    std::string detail; // why it was skipped, missed, failed or interrupted
    std::vector<std::int64_t> runs; // its runs, in order
    int failed_runs = 0; // of those, the ones that did not succeed (running ones excluded)
};

struct ReportQuery {
    std::optional<std::string> workflow;
    std::optional<std::string> since; // a timestamp; runs started at or after it
    std::optional<std::int64_t> run; // that run alone (and its schedule's fire); unknown: not_found
};

// Cost and effect of runs. Every figure is summed from stored rows, never estimated.
struct CostFigures {
    std::int64_t runs = 0;
    std::int64_t succeeded = 0;
    std::int64_t api_runs = 0; // of `runs`, those an API plan did (docs/api.md): no sandbox, no model
    std::int64_t llm_calls = 0;
    std::int64_t input_tokens = 0;
    std::int64_t output_tokens = 0;
    std::int64_t cache_read_tokens = 0;
    std::int64_t cache_write_tokens = 0;
    std::int64_t cost_microusd = 0;
    std::int64_t steps = 0;
    std::int64_t steps_replayed = 0; // replayed or relocated: no planner needed
    std::int64_t wall_ms = 0;
    std::int64_t sandbox_ms = 0;
    // steps_replayed / steps, or nothing when no step ran.
    std::optional<double> replay_share() const
    {
        if (steps == 0)
            return std::nullopt;
        return static_cast<double>(steps_replayed) / static_cast<double>(steps);
    }
};

struct RunReport {
    std::int64_t id = 0;
    std::string workflow;
    RunStatus status = RunStatus::running;
    std::string started_at;
    std::optional<std::int64_t> trace_id; // the trace version it replayed; none when it taught one
    std::string planner;
    std::string error; // why it failed; empty otherwise
    std::optional<std::string> schedule; // the schedule whose fire it ran for
    CostFigures figures; // runs == 1
};

struct WorkflowReport {
    std::string workflow;
    CostFigures figures;
};

// A schedule's fires and their runs in the report's window (fires by their scheduled time, runs by their
// start), with its runs' figures per UTC day.
struct ScheduleReport {
    std::string schedule;
    std::string workflow;
    std::map<std::string, std::int64_t> fires; // by status: succeeded, failed, skipped, missed, interrupted, running
    CostFigures figures;
    std::map<std::string, CostFigures> days; // "YYYY-MM-DD" (UTC) → that day's runs
};

// What the model cost for the steps it planned, over every run of a workflow that called it (any time).
struct ModelSteps {
    std::int64_t cost_microusd = 0;
    std::int64_t planned_steps = 0;
};

struct Report {
    ReportQuery query;
    std::vector<RunReport> runs; // oldest first
    std::vector<WorkflowReport> workflows; // by name
    std::vector<ScheduleReport> schedules; // by name: those with a fire or a run in the window
    CostFigures total;
};

struct ArtifactStats {
    std::int64_t artifacts = 0; // distinct blobs stored
    std::int64_t stored_bytes = 0; // bytes of those blobs
    std::int64_t references = 0; // uses by steps and run steps
    std::int64_t referenced_bytes = 0; // bytes those uses would take if each stored its own copy
};

std::string_view to_string(Provenance p);
std::optional<Provenance> parse_provenance(std::string_view s);
std::string_view to_string(RunStatus s);
std::optional<RunStatus> parse_run_status(std::string_view s);
std::string_view to_string(StepOutcome o);
std::optional<StepOutcome> parse_step_outcome(std::string_view s);

} // namespace rote::store
