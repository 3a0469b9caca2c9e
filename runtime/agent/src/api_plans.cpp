// API plans for workflows: mining, proving, and runs that use them (api_plans.h, docs/api.md).

#include <rote/agent/api_plans.h>

#include <regex>

#include <nlohmann/json.hpp>

#include <rote/base/text.h>
#include <rote/base/text_template.h>

namespace rote::runtime {

namespace {

std::map<std::string, api::OutputHint> hints_of(const Workflow& workflow)
{
    std::map<std::string, api::OutputHint> hints;
    for (const auto& o : workflow.outputs)
        hints[o.name] = {o.anchor, o.pattern};
    return hints;
}

std::string squeezed(const std::string& text)
{
    std::string out;
    for (char c : text) {
        const bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r';
        if (space && (out.empty() || out.back() == ' '))
            continue;
        out += space ? ' ' : c;
    }
    while (!out.empty() && out.back() == ' ')
        out.pop_back();
    return out;
}

// The index of the plan's first write, or -1.
int first_write(const api::Plan& plan)
{
    for (std::size_t i = 0; i < plan.requests.size(); ++i) {
        if (plan.requests[i].writes())
            return static_cast<int>(i);
    }
    return -1;
}

// Why `got` is not what the GUI run read (empty when it is): each output equal, but one a write makes anew
// (read after the plan's first write), which must only match its pattern.
std::string mismatch(const Workflow& workflow, const api::Plan& plan, const std::map<std::string, std::string>& expected,
    const std::map<std::string, std::string>& got)
{
    const int write = first_write(plan);
    for (const auto& [name, value] : expected) {
        const auto it = got.find(name);
        if (it == got.end())
            return "it read no " + name;
        const auto rule = plan.outputs.find(name);
        const bool minted = write >= 0 && rule != plan.outputs.end() && rule->second.request > write;
        if (minted) {
            std::string pattern;
            for (const auto& o : workflow.outputs) {
                if (o.name == name)
                    pattern = o.pattern;
            }
            if (pattern.empty() || !std::regex_match(it->second, std::regex(pattern)))
                return name + " is '" + it->second + "', which a write made anew and which does not match its pattern";
            continue;
        }
        if (squeezed(it->second) != squeezed(value))
            return name + " is '" + it->second + "' where the GUI read '" + value + "'";
    }
    return {};
}

Result<RunInputs> inputs_of(const Workflow& workflow, std::map<std::string, std::string> given)
{
    secrets_from_environment(workflow, given);
    return check_inputs(workflow, given);
}

} // namespace

Result<RunMode> parse_run_mode(const std::string& text)
{
    if (text == "gui")
        return RunMode::gui;
    if (text == "api")
        return RunMode::api;
    if (text == "auto")
        return RunMode::automatic;
    return Error(Error::Code::invalid_argument, "a run's mode is auto, api or gui, not '" + text + "'");
}

api::Policy plan_policy(const Workflow& workflow, const std::map<std::string, std::string>& routes,
    const std::filesystem::path& ca_file)
{
    api::Policy policy;
    policy.ca_file = ca_file;
    policy.allow = workflow.policy.allow;
    policy.routes = workflow.policy.routes;
    for (const auto& [host, to] : routes)
        policy.routes[host] = to;
    return policy;
}

Result<Derived> derive_plan(store::Store& store, const Workflow& workflow, const DeriveOptions& options)
{
    const auto runs = ROTE_TRY(store.run_outcomes(workflow.name, 200));
    const store::RunOutcome* mined = nullptr;
    std::vector<store::RunRequest> traffic;
    for (const auto& r : runs) {
        if (options.run_id ? r.id != *options.run_id : (r.provider == "api" || r.status != store::RunStatus::succeeded))
            continue;
        traffic = ROTE_TRY(store.run_requests(r.id));
        const bool captured = std::any_of(traffic.begin(), traffic.end(), [](const auto& t) { return t.capture.has_value(); });
        if (options.run_id || captured) {
            mined = &r;
            break;
        }
    }
    if (!mined)
        return Error(Error::Code::not_found,
            options.run_id ? "run " + std::to_string(*options.run_id) + " is not a finished run of " + workflow.name
                           : "no succeeded run of " + workflow.name
                    + " has captured traffic: run it once (rote run " + workflow.name + ") with policy.capture on");
    if (mined->provider == "api")
        return Error(Error::Code::invalid_argument, "run " + std::to_string(mined->id) + " ran an API plan: mine a GUI run");
    if (mined->status != store::RunStatus::succeeded)
        return Error(Error::Code::invalid_argument,
            "run " + std::to_string(mined->id) + " did not succeed: its outputs cannot be trusted to mine from");
    if (options.progress)
        options.progress("mining run " + std::to_string(mined->id) + "'s " + std::to_string(traffic.size()) + " requests");
    auto plan = api::derive(workflow.name, traffic, mined->inputs, mined->outputs, hints_of(workflow));
    if (!plan.ok())
        return plan.error().with_context("run " + std::to_string(mined->id) + " of " + workflow.name);
    store::ApiPlan kept;
    kept.workflow = workflow.name;
    kept.trace_id = mined->trace_id;
    kept.run_id = mined->id;
    kept.plan = api::to_json(*plan).dump(2);
    kept.writes = plan->writes();
    kept.proof = "not proved yet";
    const std::int64_t id = ROTE_TRY(store.save_api_plan(kept));
    return prove_plan(store, workflow, id, plan_policy(workflow, options.routes, options.ca_file), options.progress);
}

Result<Derived> prove_plan(store::Store& store, const Workflow& workflow, std::int64_t plan_id, const api::Policy& policy,
    const std::function<void(const std::string&)>& progress)
{
    const auto kept = ROTE_TRY(store.api_plan(plan_id));
    if (kept.workflow != workflow.name)
        return Error(Error::Code::invalid_argument, "API plan " + std::to_string(plan_id) + " is " + kept.workflow + "'s");
    Derived d;
    d.plan_id = plan_id;
    d.run_id = kept.run_id.value_or(0);
    d.plan = ROTE_TRY(api::parse_plan(kept.plan));
    auto settle = [&](store::PlanStanding standing, std::string proof) -> Result<Derived> {
        ROTE_TRY(store.set_api_plan_standing(plan_id, standing, proof));
        d.standing = standing;
        d.proof = std::move(proof);
        return d;
    };
    if (const int w = first_write(d.plan); w >= 0 && !workflow.policy.api_check_writes) {
        const auto& r = d.plan.requests[static_cast<std::size_t>(w)];
        return settle(store::PlanStanding::unproven,
            "it writes (" + r.method + " to " + r.host + "), and proving would send that write again: the workflow "
            "does not allow it (policy.api_check_writes: true, for test systems only); never used automatically");
    }
    // The cases: the mined run, then up to two other inputs that succeeded GUI runs handled.
    const auto runs = ROTE_TRY(store.run_outcomes(workflow.name, 200));
    std::vector<const store::RunOutcome*> cases;
    for (const auto& r : runs) {
        if (kept.run_id && r.id == *kept.run_id)
            cases.insert(cases.begin(), &r);
    }
    for (const auto& r : runs) {
        if (cases.size() >= 3)
            break;
        if (r.provider == "api" || r.status != store::RunStatus::succeeded || r.outputs.empty())
            continue;
        if (std::none_of(cases.begin(), cases.end(), [&](const auto* c) { return c->inputs == r.inputs; }))
            cases.push_back(&r);
    }
    if (cases.size() < 2)
        return settle(store::PlanStanding::unproven,
            "no succeeded GUI run for an input other than run " + std::to_string(d.run_id)
                + "'s to prove it against: run the workflow for another input, then rote api prove "
                + std::to_string(plan_id));
    std::string runs_named;
    for (const auto* c : cases) {
        d.cases += 1;
        auto given = inputs_of(workflow, c->inputs);
        if (!given.ok())
            return given.error().with_context("the inputs of run " + std::to_string(c->id));
        if (progress)
            progress("proving with run " + std::to_string(c->id) + "'s inputs");
        const auto got = ROTE_TRY(api::run_plan(d.plan, policy, given->values, given->secrets));
        if (got.outcome != api::Outcome::done)
            return settle(store::PlanStanding::failed,
                "for run " + std::to_string(c->id) + "'s inputs it did not finish (" + std::string(api::to_string(got.outcome))
                    + "): " + got.why);
        if (auto why = mismatch(workflow, d.plan, c->outputs, got.outputs); !why.empty())
            return settle(store::PlanStanding::failed, "for run " + std::to_string(c->id) + "'s inputs " + why);
        runs_named += (runs_named.empty() ? "" : ", ") + std::to_string(c->id);
    }
    return settle(store::PlanStanding::proved,
        "gave the outputs GUI runs " + runs_named + " read, for their " + std::to_string(cases.size()) + " inputs");
}

Result<std::optional<RunResult>> run_by_plan(store::Store& store, const Workflow& workflow, const RunInputs& inputs,
    const RunOptions& options, std::string& why)
{
    if (options.mode == RunMode::gui)
        return std::optional<RunResult>();
    const bool person = options.teach || options.planner == PlannerKind::human || options.human != nullptr;
    if (person) {
        if (options.mode == RunMode::api)
            return Error(Error::Code::invalid_argument, "a run taught or shown to a person is a GUI run: not --mode api");
        return std::optional<RunResult>();
    }
    auto kept = ROTE_TRY(proved_plan(store, workflow.name));
    if (!kept) {
        if (options.mode == RunMode::api)
            return Error(Error::Code::not_found,
                workflow.name + " has no proved API plan (rote api derive " + workflow.name + "; rote api list "
                    + workflow.name + ")");
        return std::optional<RunResult>();
    }
    const auto plan = ROTE_TRY(api::parse_plan(kept->plan));
    store::NewRun begun;
    begun.workflow = workflow.name;
    begun.trace_id = kept->trace_id;
    begun.inputs = inputs.values;
    begun.provider = "api";
    begun.planner = "plan";
    begun.fire_id = options.fire_id;
    RunResult result;
    result.run_id = ROTE_TRY(store.begin_run(begun));
    result.mode = "api";
    result.plan_id = kept->id;
    result.trace_id = kept->trace_id;
    if (options.progress)
        options.progress("API plan " + std::to_string(kept->id) + ": " + std::to_string(plan.requests.size()) + " requests");
    auto got = api::run_plan(plan, plan_policy(workflow, options.routes, options.ca_file), inputs.values, inputs.secrets);
    store::RunEnd end;
    if (got.ok()) {
        for (const auto& r : got->requests) {
            store::RunRequest kept_request;
            kept_request.at = now_timestamp();
            kept_request.method = r.method;
            const std::string rest = r.url.substr(r.url.find("//") + 2);
            const std::string authority = rest.substr(0, rest.find_first_of("/?"));
            kept_request.host = authority.substr(0, authority.find(':'));
            kept_request.port = authority.find(':') == std::string::npos ? 80 : std::stoi(authority.substr(authority.find(':') + 1));
            kept_request.path = rest.substr(authority.size());
            kept_request.status = r.status;
            kept_request.ms = r.ms;
            kept_request.framing = "api";
            end.requests.push_back(std::move(kept_request));
        }
        end.wall_ms = static_cast<std::int64_t>(got->ms);
        result.wall_ms = end.wall_ms;
        result.steps = static_cast<int>(got->requests.size());
    }
    const std::string what = got.ok() ? got->why : got.error().message();
    if (got.ok() && got->outcome == api::Outcome::done) {
        end.status = store::RunStatus::succeeded;
        end.outputs = got->outputs;
        result.status = store::RunStatus::succeeded;
        result.outputs = got->outputs;
        for (const auto& [name, v] : got->outputs)
            result.output_sources[name] = "api";
        result.mode_why = "API plan " + std::to_string(kept->id) + " is proved (" + kept->proof + ")";
    } else {
        end.status = store::RunStatus::failed;
        end.error = "API plan " + std::to_string(kept->id) + ": " + what;
        result.status = store::RunStatus::failed;
        result.error = end.error;
    }
    ROTE_TRY(store.close_run(result.run_id, end, nullptr, std::nullopt));
    if (result.status == store::RunStatus::succeeded)
        return std::optional<RunResult>(std::move(result));
    // Where the GUI may take over: a plan that only reads. One that writes halts: what its requests did is
    // the site's to say, and a GUI run could do it twice.
    const bool wrote = got.ok() && got->wrote;
    if (options.mode == RunMode::api || plan.writes() || !got.ok()) {
        if (options.mode != RunMode::api && plan.writes())
            result.error += wrote ? " (it sent a write: the GUI does not do the work again, the run halts)"
                                  : " (a plan that writes: the GUI does not take over, the run halts)";
        result.mode_why = "API plan " + std::to_string(kept->id);
        return std::optional<RunResult>(std::move(result));
    }
    why = "API plan " + std::to_string(kept->id) + " failed in run " + std::to_string(result.run_id) + " ("
        + std::string(api::to_string(got->outcome)) + ": " + what + "); the GUI did the work";
    if (options.progress)
        options.progress(why);
    return std::optional<RunResult>();
}

Result<std::optional<store::ApiPlan>> proved_plan(store::Store& store, const std::string& workflow)
{
    for (auto& p : ROTE_TRY(store.api_plans(workflow))) {
        if (p.standing == store::PlanStanding::proved)
            return std::optional<store::ApiPlan>(std::move(p));
    }
    return std::optional<store::ApiPlan>();
}

} // namespace rote::runtime
