#pragma once

// The JSON forms of what rote reports, one for every reader: `rote run --json`, `rote report --json` and the
// MCP server's results print the same documents.

#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include <rote/agent/agent.h>
#include <rote/agent/workflow.h>
#include <rote/base/result.h>
#include <rote/store/records.h>
#include <rote/store/store.h>

namespace rote::server {

// A run as `rote run --json` prints it: status, error, inputs (never a secret), outputs and where each was
// read, the trace replayed and the one written, the step counts, planner calls, cost and divergences.
nlohmann::json run_json(const runtime::Workflow& workflow, const runtime::RunInputs& inputs, const runtime::RunResult& r);

// Dollars from micro-dollars as every reader is shown them: "$0.0123" (four places, rounded).
std::string dollars(std::int64_t microusd);

// One set of cost figures: runs, model calls, tokens, dollars, steps replayed and their share, time.
nlohmann::json figures_json(const store::CostFigures& f);

// A cost report as `rote report --json` prints it: the query, each run, each workflow, the total.
nlohmann::json report_json(const store::Report& report);

// The inputs of a call (MCP's arguments, the HTTP API's "inputs"): an object of the workflow's inputs, numbers as
// their text; a secret is never one of them (it would be in the caller's context, a log or a model's): it is
// read from the server's environment, ROTE_SECRET_<NAME>. Checked as `rote run` checks its inputs; an error
// names the input.
Result<runtime::RunInputs> call_inputs(const runtime::Workflow& workflow, const nlohmann::json& arguments);

// The workflows a server runs, with their inputs, outputs, effect, trace versions and figures so far.
Result<nlohmann::json> workflows_json(const std::vector<runtime::Workflow>& workflows, store::Store& store);

} // namespace rote::server
