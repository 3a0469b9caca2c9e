#include <rote/server/json.h>

#include <cstdio>

namespace rote::server {

using nlohmann::json;

std::string dollars(std::int64_t microusd)
{
    const std::int64_t ten_thousandths = (microusd + 50) / 100;
    char buf[32];
    std::snprintf(buf, sizeof buf, "$%lld.%04lld", static_cast<long long>(ten_thousandths / 10000),
        static_cast<long long>(ten_thousandths % 10000));
    return buf;
}

json run_json(const runtime::Workflow& w, const runtime::RunInputs& inputs, const runtime::RunResult& r)
{
    json divergences = json::array();
    for (const auto& d : r.divergences) {
        divergences.push_back({{"trace_step", d.trace_step}, {"expected", d.expected}, {"why", d.why},
            {"screenshot", d.screenshot ? json(*d.screenshot) : json(nullptr)}});
    }
    return {{"run_id", r.run_id}, {"workflow", w.name}, {"status", store::to_string(r.status)},
        {"error", r.error.empty() ? json(nullptr) : json(r.error)}, {"inputs", inputs.values}, {"outputs", r.outputs},
        {"output_sources", r.output_sources}, {"trace_id", r.trace_id ? json(*r.trace_id) : json(nullptr)},
        {"new_trace_id", r.new_trace_id ? json(*r.new_trace_id) : json(nullptr)}, {"steps", r.steps},
        {"replayed", r.replayed}, {"relocated", r.relocated}, {"planned", r.planned},
        {"planner_calls", r.planner_calls}, {"cost_microusd", r.cost_microusd}, {"wall_ms", r.wall_ms},
        {"divergences", divergences}, {"mode", r.mode}, {"mode_why", r.mode_why.empty() ? json(nullptr) : json(r.mode_why)},
        {"plan_id", r.plan_id ? json(*r.plan_id) : json(nullptr)}};
}

json figures_json(const store::CostFigures& f)
{
    const auto share = f.replay_share();
    return {
        {"runs", f.runs},
        {"succeeded", f.succeeded},
        {"api_runs", f.api_runs},
        {"llm_calls", f.llm_calls},
        {"tokens",
            {{"input", f.input_tokens}, {"output", f.output_tokens}, {"cache_read", f.cache_read_tokens},
                {"cache_write", f.cache_write_tokens}}},
        {"cost_microusd", f.cost_microusd},
        {"cost_usd", static_cast<double>(f.cost_microusd) / 1e6},
        {"steps", f.steps},
        {"steps_replayed", f.steps_replayed},
        {"replay_share", share ? json(*share) : json(nullptr)},
        {"wall_ms", f.wall_ms},
        {"sandbox_ms", f.sandbox_ms},
    };
}

json report_json(const store::Report& report)
{
    json runs = json::array();
    for (const auto& r : report.runs) {
        json j = figures_json(r.figures);
        j.erase("runs");
        j.erase("succeeded");
        j["id"] = r.id;
        j["workflow"] = r.workflow;
        j["status"] = store::to_string(r.status);
        j["started_at"] = r.started_at;
        j["schedule"] = r.schedule ? json(*r.schedule) : json(nullptr);
        runs.push_back(std::move(j));
    }
    json workflows = json::array();
    for (const auto& w : report.workflows) {
        json j = figures_json(w.figures);
        j["workflow"] = w.workflow;
        workflows.push_back(std::move(j));
    }
    json schedules = json::array();
    for (const auto& sr : report.schedules) {
        json j = figures_json(sr.figures);
        j["schedule"] = sr.schedule;
        j["workflow"] = sr.workflow;
        j["fires"] = sr.fires;
        json days = json::array();
        for (const auto& [day, figures] : sr.days) {
            json d = figures_json(figures);
            d["day"] = day;
            days.push_back(std::move(d));
        }
        j["days"] = days;
        schedules.push_back(std::move(j));
    }
    const auto& q = report.query;
    return {{"query",
                {{"workflow", q.workflow ? json(*q.workflow) : json(nullptr)},
                    {"since", q.since ? json(*q.since) : json(nullptr)}}},
        {"runs", runs}, {"workflows", workflows}, {"schedules", schedules}, {"total", figures_json(report.total)}};
}

Result<runtime::RunInputs> call_inputs(const runtime::Workflow& w, const json& arguments)
{
    std::map<std::string, std::string> given;
    if (!arguments.is_null() && !arguments.is_object())
        return Error(Error::Code::invalid_argument, "the inputs must be an object of the workflow's inputs");
    if (arguments.is_object()) {
        for (const auto& [name, value] : arguments.items()) {
            const auto* spec = w.input(name);
            if (spec && spec->type == runtime::InputType::secret)
                return Error(Error::Code::invalid_argument,
                    "'" + name + "' is a secret: it is never passed in a call (it would be in the caller's context); "
                        + "the server reads it from its environment");
            if (value.is_string())
                given[name] = value.get<std::string>();
            else if (value.is_number())
                given[name] = value.dump();
            else
                return Error(Error::Code::invalid_argument, "input '" + name + "' must be a string or a number");
        }
    }
    runtime::secrets_from_environment(w, given);
    return runtime::check_inputs(w, given);
}

Result<json> workflows_json(const std::vector<runtime::Workflow>& workflows, store::Store& store)
{
    auto summaries = ROTE_TRY(store.list_workflows());
    auto report = ROTE_TRY(store.report({}));
    json list = json::array();
    for (const auto& w : workflows) {
        json inputs = json::array();
        for (const auto& in : w.inputs) {
            inputs.push_back({{"name", in.name}, {"type", runtime::to_string(in.type)}});
            if (in.default_value)
                inputs.back()["default"] = *in.default_value;
        }
        json outputs = json::array();
        for (const auto& out : w.outputs)
            outputs.push_back(out.name);
        json entry {{"name", w.name}, {"goal", w.goal}, {"inputs", inputs}, {"outputs", outputs},
            {"effect", runtime::to_string(w.policy.effect)}, {"trace_versions", 0}, {"figures", nullptr}};
        for (const auto& s : summaries) {
            if (s.name == w.name)
                entry["trace_versions"] = s.traces.size();
        }
        for (const auto& f : report.workflows) {
            if (f.workflow == w.name)
                entry["figures"] = figures_json(f.figures);
        }
        list.push_back(std::move(entry));
    }
    return json {{"workflows", list}};
}

} // namespace rote::server
