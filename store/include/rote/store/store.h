#pragma once

// rote's store: one SQLite file holding workflows, trace versions, steps, content-addressed artifacts,
// runs, run steps, LLM calls and schedules.
//
// Contract:
// - Every write is one transaction: after a crash (even SIGKILL mid-write) the file holds either all
//   of a write or none of it.
// - The file is identified by its SQLite application_id; a file that is not a rote store is refused
//   and left untouched, a file written by a newer rote is refused, an older one is migrated in place.
// - A Store is not thread-safe: use one per thread. Several processes may share a file (WAL mode,
//   writers wait up to busy_timeout for each other).

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <rote/base/result.h>
#include <rote/store/records.h>

struct sqlite3;

namespace rote::store {

// "ROTE" in ASCII, written at offset 68 of the SQLite header.
inline constexpr std::int32_t kApplicationId = 0x524f5445;
// The schema this build writes. Files at a lower version are migrated; higher ones are refused.
inline constexpr int kSchemaVersion = 8;

// Called while a long write proceeds: (items done, items in all).
using Progress = std::function<void(std::size_t done, std::size_t total)>;

class Store {
public:
    // Opens (creating if absent) the store at path, creating parent directories as needed.
    static Result<std::unique_ptr<Store>> open(const std::filesystem::path& path);
    // Opens an existing store for reading only (list, show, report, export): nothing in the file changes, not
    // even stale runs (open() ends those). Through the WAL as any reader, seeing what a run still writing has
    // committed; on a file system that cannot hold the WAL's shared memory (a read-only mount), the file as it
    // lies on disk, and read_only_note() says so. A file of an older schema is upgraded by open() when it can
    // be written, else refused.
    static Result<std::unique_ptr<Store>> open_read_only(const std::filesystem::path& path);
    // A private in-memory store, for tools that validate without writing (the import fuzzer).
    static Result<std::unique_ptr<Store>> open_in_memory();

    ~Store();
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    int schema_version() const { return m_schema_version; }
    const std::filesystem::path& path() const { return m_path; }
    // Why this store was opened as it lies on disk, for a note to the user; empty when read normally.
    const std::string& read_only_note() const { return m_read_only_note; }

    // Artifacts. put_artifact stores bytes once per content and returns their hash.
    Result<Hash> put_artifact(std::span<const std::uint8_t> data, std::string_view media_type);
    Result<Artifact> get_artifact(const Hash& hash);
    Result<ArtifactStats> artifact_stats();

    // Workflows: created or updated by name.
    Result<void> put_workflow(const Workflow& workflow);
    Result<std::vector<WorkflowSummary>> list_workflows();

    // Traces. save_trace validates the steps (indices 0..n-1, replayable actions, every referenced
    // artifact present in the store or in trace.artifacts), assigns the next version for the
    // workflow, and writes everything in one transaction. Returns the new trace id.
    Result<std::int64_t> save_trace(const NewTrace& trace, const Progress& progress = {});
    Result<Trace> load_trace(std::int64_t id);
    Result<std::vector<TraceSummary>> list_traces(const std::string& workflow);

    // Versions on probation (docs/replay.md). save_trace makes a trace without a parent the workflow's
    // default (the one before is retired) and a repaired one a candidate for runs under its conditions.
    // Every version's standing, by version.
    Result<std::vector<TraceStanding>> trace_standings(const std::string& workflow);
    // The version a run under `conditions` replays: the newest candidate made under them, with the default
    // as its fallback; else the default. Neither when the workflow has no default.
    Result<TraceChoice> choose_trace(const std::string& workflow, const std::string& conditions);
    // A run on `trace_id` ended. A candidate that has now succeeded for kPromoteAfter runs with inputs other
    // than its source run's becomes the default, when it was made under the default's conditions and the
    // default is not pinned; one that failed kDemoteAfter runs in a row is demoted. The standing after.
    Result<TraceStanding> record_trace_run(std::int64_t trace_id, std::int64_t run_id, bool succeeded);
    // By hand: promote, pin (promote and hold: no run changes the default), unpin, demote, or roll back (the
    // version becomes the default and the one that was is demoted).
    Result<TraceStanding> set_trace_standing(const std::string& workflow, int version, TraceCommand command);

    // Runs, written as they happen so a crash leaves the run as far as it got.
    Result<std::int64_t> begin_run(const NewRun& run);
    Result<void> add_run_step(std::int64_t run_id, const RunStep& step);
    Result<std::int64_t> add_llm_call(const LlmCall& call);
    Result<void> finish_run(std::int64_t run_id, const RunEnd& end);
    // The run's traffic through the egress proxy, as finish_run stored it (RunEnd::requests), in order.
    Result<std::vector<RunRequest>> run_requests(std::int64_t run_id);
    // The run's steps as add_run_step stored them, in order (a divergence or failure is a failed step with its
    // screenshot as the artifact).
    Result<std::vector<RunStep>> run_steps(std::int64_t run_id);
    // The run's model calls, in the order they were made.
    Result<std::vector<LlmCall>> run_calls(std::int64_t run_id);
    // The newest `limit` finished runs of a workflow, newest first (any provider, any end); none for a workflow
    // the store does not know.
    Result<std::vector<RunOutcome>> run_outcomes(const std::string& workflow, int limit);

    // API plans (api_plans.cpp). save_api_plan keeps a new one (its id); a plan's standing changes only with
    // what proving it found.
    Result<std::int64_t> save_api_plan(const ApiPlan& plan);
    Result<void> set_api_plan_standing(std::int64_t id, PlanStanding standing, const std::string& proof);
    Result<ApiPlan> api_plan(std::int64_t id);
    // A workflow's plans, newest first (none for a workflow the store does not know).
    Result<std::vector<ApiPlan>> api_plans(const std::string& workflow);

    // A run's end as one transaction: the trace it made (taught or repaired; its id becomes the end's
    // new_trace_id), its end, and the standing of the trace it replayed (record_trace_run, when `replayed`).
    // A crash leaves either all of it or none (the run then still `running`, ended `interrupted` later).
    struct RunClosed {
        std::optional<std::int64_t> new_trace_id;
        std::optional<TraceStanding> standing;
    };
    Result<RunClosed> close_run(std::int64_t run_id, RunEnd end, const NewTrace* made, std::optional<std::int64_t> replayed);

    // Schedules and their fires (schedules.cpp). A schedule's name is unique (conflict otherwise); its
    // workflow must exist. `from` empty: now.
    Result<std::int64_t> add_schedule(const Schedule& schedule);
    Result<std::vector<Schedule>> list_schedules();
    Result<Schedule> get_schedule(const std::string& name);
    // Pausing records why; resuming makes fires due only after now (the ones passed while paused are not
    // run). Returns the schedule after.
    Result<Schedule> set_schedule_paused(const std::string& name, bool paused, const std::string& why);
    // The schedule and its fires; its runs stay, no longer linked to a fire.
    Result<void> remove_schedule(const std::string& name);
    // Records the fire (schedule, scheduled_at) with `status`: running (this process owns it: claimed),
    // skipped or missed (with why). nullopt when that fire is already recorded: someone else claimed it.
    Result<std::optional<std::int64_t>> claim_fire(
        std::int64_t schedule_id, const std::string& scheduled_at, FireStatus status, const std::string& detail);
    // A running fire ends (succeeded, failed or interrupted).
    Result<void> finish_fire(std::int64_t fire_id, FireStatus status, const std::string& detail);
    // The schedule's fires, newest first, at most `limit`.
    Result<std::vector<Fire>> fires(const std::string& schedule, int limit);
    // The latest scheduled time of any of its fires; nullopt when it has none.
    Result<std::optional<std::string>> last_fire_time(std::int64_t schedule_id);
    // How many of its fires are running now.
    Result<int> running_fires(std::int64_t schedule_id);
    // The model calls and dollars of its fires' runs made at or after `since` (ISO UTC).
    Result<Spend> schedule_spend(std::int64_t schedule_id, const std::string& since);
    // Its failed fires since its last one that succeeded (skipped and missed fires do not count).
    Result<int> failed_fires_in_a_row(std::int64_t schedule_id);

    Result<Report> report(const ReportQuery& query);
    // Per workflow, the model's dollars and the steps it planned, over all its runs that called a model (the
    // run that taught it, the ones that repaired it): what the report values a replayed step at.
    Result<std::map<std::string, ModelSteps>> model_steps();

    // A trace as a self-contained JSON document (steps and the artifacts they use, base64).
    Result<std::string> export_trace(std::int64_t id);
    // A run as a self-contained JSON document (format "rote-run"): its end and figures, every step with how it
    // was carried out, its model calls, and each divergence's screenshot (base64 PNG). Not importable: a
    // record to read, attach to a ticket or diff; its inputs are as stored (never a secret's value).
    Result<std::string> export_run(std::int64_t run_id);
    // Reads such a document and stores it as a new version of its workflow. Anything malformed,
    // including an artifact whose bytes do not match its hash, is refused before anything is written.
    Result<std::int64_t> import_trace(std::string_view json_text, const Progress& progress = {});

    // PRAGMA integrity_check and foreign_key_check; an error names what failed.
    Result<void> check_integrity();

    // Runs still `running` whose rote process is gone (begin_run records it: pid, start time, boot) become
    // `interrupted`, with why, and so do the schedules' fires that process had claimed. Done by open();
    // returns how many runs. A run owned by a process of another pid
    // namespace is left alone (it cannot be looked up from here), as are runs from before schema 4.
    Result<int> end_abandoned_runs();

private:
    Store(sqlite3* db, std::filesystem::path path);
    Result<void> configure();
    Result<void> migrate();
    Result<void> migrate_without_foreign_keys();

    sqlite3* m_db = nullptr;
    std::filesystem::path m_path;
    int m_schema_version = 0;
    std::string m_read_only_note;
};

// The content address of bytes: lowercase hex SHA-256, as artifacts are named.
Hash content_hash(std::span<const std::uint8_t> data);

// Normalises a --since argument: "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SSZ" to the latter.
Result<std::string> parse_timestamp(std::string_view text);

} // namespace rote::store
