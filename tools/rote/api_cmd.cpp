#include "api_cmd.h"

#include <iostream>

#include <rote/agent/api_plans.h>

#include "run_cmd.h"

namespace rote::cli {

namespace {

using nlohmann::json;

json plan_row(const store::ApiPlan& p)
{
    int requests = 0;
    if (auto plan = api::parse_plan(p.plan); plan.ok())
        requests = static_cast<int>(plan->requests.size());
    return {{"id", p.id}, {"workflow", p.workflow}, {"trace_id", p.trace_id ? json(*p.trace_id) : json(nullptr)},
        {"run_id", p.run_id ? json(*p.run_id) : json(nullptr)}, {"requests", requests}, {"writes", p.writes},
        {"standing", store::to_string(p.standing)}, {"proof", p.proof}, {"created_at", p.created_at}};
}

// One line per request: what it sends and what it reads.
void print_plan(const api::Plan& plan)
{
    for (std::size_t i = 0; i < plan.requests.size(); ++i) {
        const auto& r = plan.requests[i];
        std::string url;
        if (!r.link.from.empty()) {
            url = "(the link at " + r.link.path + " in answer " + std::to_string(r.link_request) + ")";
        } else {
            url = "http://" + r.host + (r.port == 80 ? "" : ":" + std::to_string(r.port));
            for (const auto& seg : r.path)
                url += "/" + seg;
            if (r.path.empty() || r.trailing_slash)
                url += "/";
            for (std::size_t q = 0; q < r.query.size(); ++q)
                url += (q == 0 ? "?" : "&") + r.query[q].first + "=" + r.query[q].second;
        }
        std::cout << "  " << i << ". " << r.method << " " << url << "  -> " << r.status << " " << r.media_type
                  << (r.writes() ? "  (writes)" : "") << "\n";
        for (const auto& [name, value] : r.form)
            std::cout << "       form " << name << " = " << value << "\n";
        if (!r.cookies.empty()) {
            std::string names;
            for (const auto& c : r.cookies)
                names += (names.empty() ? "" : ", ") + c;
            std::cout << "       cookies " << names << "\n";
        }
        for (std::size_t k = 0; k < r.reads.size(); ++k)
            std::cout << "       reads got_" << i << "_" << k << " = " << r.reads[k].from << " " << r.reads[k].path
                      << (r.reads[k].pattern.empty() ? "" : " ~ " + r.reads[k].pattern) << "\n";
    }
    for (const auto& [name, o] : plan.outputs)
        std::cout << "  output " << name << " = answer " << o.request << ", " << o.rule.from << " " << o.rule.path
                  << (o.rule.pattern.empty() ? "" : " ~ " + o.rule.pattern) << "\n";
    for (const auto& note : plan.notes)
        std::cout << "  note: " << note << "\n";
}

int print_derived(const runtime::Derived& d, bool as_json)
{
    if (as_json) {
        print_json({{"plan_id", d.plan_id}, {"run_id", d.run_id}, {"requests", d.plan.requests.size()},
            {"writes", d.plan.writes()}, {"standing", store::to_string(d.standing)}, {"proof", d.proof},
            {"cases", d.cases}, {"plan", api::to_json(d.plan)}});
    } else {
        std::cout << "API plan " << d.plan_id << " from run " << d.run_id << ": " << d.plan.requests.size()
                  << " requests" << (d.plan.writes() ? ", writes" : "") << "\n";
        print_plan(d.plan);
        std::cout << store::to_string(d.standing) << ": " << d.proof << "\n";
    }
    return d.standing == store::PlanStanding::failed ? kExitFailed : 0;
}

} // namespace

ApiCommands::ApiCommands(CLI::App& app, bool& as_json)
    : m_as_json(as_json)
{
    m_root = app.add_subcommand("api",
        "API plans: the HTTP requests that do a workflow's work, mined from a run's traffic through the egress proxy, "
        "proved against GUI runs, then used by `rote run` (--mode auto|api|gui). docs/api.md");
    m_root->require_subcommand(1);
    m_derive = m_root->add_subcommand("derive",
        "Mine a plan from a succeeded run's captured traffic (default: the newest), keep it, and prove it: run it for "
        "that run's inputs and up to two other inputs GUI runs handled; it must read their outputs. A plan that writes "
        "is proved only where the workflow allows it (policy.api_check_writes)");
    m_derive->add_option("WORKFLOW", m_workflow, "The workflow (a file or a name)")->required();
    m_derive->add_option("--run", m_run, "Mine this run (ids are in `rote report`)");
    m_derive->add_option("--route", m_routes, "HOST=ADDR:PORT: reach HOST at ADDR:PORT while proving (repeatable)");
    m_derive->add_option("--ca-file", m_ca_file, "A CA (PEM) sites' certificates may chain to beside the system's, while proving")->check(CLI::ExistingFile);
    m_derive->add_flag("--json", m_as_json, "Print the result as JSON");
    m_prove = m_root->add_subcommand("prove", "Prove a kept plan again, as derive does (after more GUI runs, or a site's change)");
    m_prove->add_option("PLAN", m_plan, "The plan's id (rote api list)")->required();
    m_prove->add_option("WORKFLOW", m_workflow, "Its workflow, if not found by its name (a file)");
    m_prove->add_option("--route", m_routes, "HOST=ADDR:PORT: reach HOST at ADDR:PORT (repeatable)");
    m_prove->add_option("--ca-file", m_ca_file, "A CA (PEM) sites' certificates may chain to beside the system's")->check(CLI::ExistingFile);
    m_prove->add_flag("--json", m_as_json, "Print the result as JSON");
    m_list = m_root->add_subcommand("list", "A workflow's plans, newest first, with their standing and proof");
    m_list->add_option("WORKFLOW", m_workflow, "The workflow's name")->required();
    m_list->add_flag("--json", m_as_json, "Print the result as JSON");
    m_show = m_root->add_subcommand("show", "A plan's requests, the values they carry, and where it reads each output");
    m_show->add_option("PLAN", m_plan, "The plan's id")->required();
    m_show->add_flag("--json", m_as_json, "Print the plan as JSON (its stored form, which rote can export)");
}

bool ApiCommands::parsed() const { return m_root->parsed(); }

int ApiCommands::run(const Globals& g)
{
    if (m_derive->parsed())
        return derive(g);
    if (m_prove->parsed())
        return prove(g);
    if (m_list->parsed())
        return list(g);
    if (m_show->parsed())
        return show(g);
    return kExitUsage;
}

int ApiCommands::derive(const Globals& g)
{
    auto workflow = find_workflow(m_workflow);
    if (!workflow.ok())
        return fail(workflow.error());
    auto routes = parse_routes(m_routes);
    if (!routes.ok())
        return fail(routes.error());
    auto s = open_store(g);
    if (!s.ok())
        return fail(s.error());
    runtime::DeriveOptions options;
    options.run_id = m_run;
    options.routes = *routes;
    options.ca_file = m_ca_file;
    if (!m_as_json)
        options.progress = [](const std::string& line) { std::cerr << "  " << line << "\n"; };
    auto d = runtime::derive_plan(**s, *workflow, options);
    if (!d.ok())
        return fail(d.error());
    return print_derived(*d, m_as_json);
}

int ApiCommands::prove(const Globals& g)
{
    auto routes = parse_routes(m_routes);
    if (!routes.ok())
        return fail(routes.error());
    auto s = open_store(g);
    if (!s.ok())
        return fail(s.error());
    auto kept = (*s)->api_plan(m_plan);
    if (!kept.ok())
        return fail(kept.error());
    auto workflow = find_workflow(m_workflow.empty() ? kept->workflow : m_workflow);
    if (!workflow.ok())
        return fail(workflow.error());
    auto d = runtime::prove_plan(**s, *workflow, m_plan, runtime::plan_policy(*workflow, *routes, m_ca_file),
        m_as_json ? std::function<void(const std::string&)>() : [](const std::string& line) { std::cerr << "  " << line << "\n"; });
    if (!d.ok())
        return fail(d.error());
    return print_derived(*d, m_as_json);
}

int ApiCommands::list(const Globals& g)
{
    auto s = open_store_to_read(g);
    if (!s.ok())
        return fail(s.error());
    auto plans = (*s)->api_plans(m_workflow);
    if (!plans.ok())
        return fail(plans.error());
    if (m_as_json) {
        json rows = json::array();
        for (const auto& p : *plans)
            rows.push_back(plan_row(p));
        print_json({{"workflow", m_workflow}, {"plans", rows}});
        return 0;
    }
    if (plans->empty())
        std::cout << m_workflow << " has no API plan (rote api derive " << m_workflow << ")\n";
    for (const auto& p : *plans) {
        const json row = plan_row(p);
        std::cout << "plan " << p.id << "  " << store::to_string(p.standing) << "  " << row["requests"].get<int>()
                  << " requests" << (p.writes ? ", writes" : "") << "  from run " << p.run_id.value_or(0) << "  "
                  << p.created_at << "\n    " << p.proof << "\n";
    }
    return 0;
}

int ApiCommands::show(const Globals& g)
{
    auto s = open_store_to_read(g);
    if (!s.ok())
        return fail(s.error());
    auto kept = (*s)->api_plan(m_plan);
    if (!kept.ok())
        return fail(kept.error());
    auto plan = api::parse_plan(kept->plan);
    if (!plan.ok())
        return fail(plan.error().with_context("API plan " + std::to_string(m_plan)));
    if (m_as_json) {
        json row = plan_row(*kept);
        row["plan"] = api::to_json(*plan);
        print_json(row);
        return 0;
    }
    std::cout << "API plan " << kept->id << " of " << kept->workflow << " (" << store::to_string(kept->standing)
              << "), from run " << kept->run_id.value_or(0) << ":\n";
    print_plan(*plan);
    std::cout << "proof: " << kept->proof << "\n";
    return 0;
}

} // namespace rote::cli
