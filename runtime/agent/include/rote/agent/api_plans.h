#pragma once

// API plans for workflows (docs/api.md): mined from a run's captured traffic (api::derive), proved against
// GUI runs' outputs, and run in place of the GUI where a proved one exists (RunOptions::mode).

#include <cstdint>
#include <optional>
#include <string>

#include <rote/agent/agent.h>
#include <rote/agent/workflow.h>
#include <rote/api/runner.h>
#include <rote/store/store.h>

namespace rote::runtime {

struct DeriveOptions {
    std::optional<std::int64_t> run_id; // the run to mine; default: the newest succeeded GUI run with traffic
    std::map<std::string, std::string> routes; // added to the workflow's, as for a run
    std::filesystem::path ca_file; // RunOptions::ca_file
    std::function<void(const std::string&)> progress;
};

struct Derived {
    std::int64_t plan_id = 0;
    std::int64_t run_id = 0; // the run it was mined from
    api::Plan plan;
    store::PlanStanding standing = store::PlanStanding::unproven;
    std::string proof; // what proving found, in words
    int cases = 0; // the inputs it was run for while proving
};

// Mines a plan from a run's traffic, keeps it, and proves it: it is run, through an egress proxy with the
// workflow's policy, for the mined run's inputs and for up to two other inputs that succeeded GUI runs
// handled, and must give their outputs (an output a write makes anew each time, such as a new record's id, must
// match the output's pattern instead). A plan that writes is run only when the workflow says
// policy.api_check_writes: true; else it is kept unproven. Fails, keeping nothing, when no plan can be
// mined (and says why).
Result<Derived> derive_plan(store::Store& store, const Workflow& workflow, const DeriveOptions& options);

// Proves (again) a kept plan, as derive_plan does.
Result<Derived> prove_plan(store::Store& store, const Workflow& workflow, std::int64_t plan_id, const api::Policy& policy,
    const std::function<void(const std::string&)>& progress = {});

// The workflow's newest proved plan, if any.
Result<std::optional<store::ApiPlan>> proved_plan(store::Store& store, const std::string& workflow);

// A run by the workflow's proved plan, as RunOptions::mode says (run_workflow calls it first): the run, stored
// with provider "api"; or nothing, when the GUI is to do the work, with `why` saying so when a plan was tried
// (its failed run is stored too, with what it found). An error for --mode api without a proved plan.
Result<std::optional<RunResult>> run_by_plan(store::Store& store, const Workflow& workflow, const RunInputs& inputs,
    const RunOptions& options, std::string& why);

// The policy a plan runs under: the workflow's allowlist and routes, with `routes` added, and `ca_file`.
api::Policy plan_policy(const Workflow& workflow, const std::map<std::string, std::string>& routes,
    const std::filesystem::path& ca_file = {});

} // namespace rote::runtime
