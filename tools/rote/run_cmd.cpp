// rote run and rote demo: workflows in sandboxes, taught once and replayed.

#include "run_cmd.h"

#include <cctype>
#include <cstdlib>
#include <iostream>
#include <thread>


#include <rote/agent/agent.h>
#include <rote/agent/workflow.h>
#include <rote/base/paths.h>
#include <rote/base/text.h>
#include <rote/llm/provider.h>
#include <rote/sandbox/sandbox.h>

#include "builtin_workflows.h"
#include "sites.h"

namespace rote::cli {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string builtin_names()
{
    std::string out;
    for (const auto& [name, _] : kBuiltinWorkflows)
        out += (out.empty() ? "" : ", ") + std::string(name);
    return out;
}

// A workflow file by path; or by name: workflows/NAME.yaml here, then in $ROTE_HOME/workflows, then the
// examples built into rote.
Result<runtime::Workflow> find_workflow(const std::string& arg)
{
    if (fs::exists(arg))
        return runtime::load_workflow(arg);
    if (arg.find('/') == std::string::npos) {
        std::vector<fs::path> dirs {fs::current_path() / "workflows"};
        if (auto home = rote_home(); home.ok())
            dirs.push_back(*home / "workflows");
        for (const auto& dir : dirs) {
            for (const std::string& file : {arg, arg + ".yaml"}) {
                if (fs::is_regular_file(dir / file))
                    return runtime::load_workflow(dir / file);
            }
        }
        for (const auto& [name, text] : kBuiltinWorkflows) {
            if (arg == name || arg == std::string(name) + ".yaml")
                return runtime::parse_workflow(text, "built-in " + std::string(name) + ".yaml");
        }
    }
    return Error(Error::Code::invalid_argument,
        "no workflow file " + arg + " (a path, or a name found in ./workflows, $ROTE_HOME/workflows or built in: "
            + builtin_names() + ")");
}

// KEY=VALUE options as a map.
Result<std::map<std::string, std::string>> parse_assignments(const std::vector<std::string>& items)
{
    std::map<std::string, std::string> out;
    for (const auto& item : items) {
        const size_t eq = item.find('=');
        if (eq == std::string::npos || eq == 0)
            return Error(Error::Code::invalid_argument, "--input must be NAME=VALUE, not '" + item.substr(0, 40) + "'");
        out[item.substr(0, eq)] = item.substr(eq + 1);
    }
    return out;
}

// Secret inputs not given are read from ROTE_SECRET_<NAME>: a password on the command line would be in the
// shell's history and in every process listing.
void secrets_from_environment(const runtime::Workflow& w, std::map<std::string, std::string>& given)
{
    for (const auto& in : w.inputs) {
        if (in.type != runtime::InputType::secret || given.contains(in.name))
            continue;
        std::string var = "ROTE_SECRET_";
        for (char c : in.name)
            var += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        if (const char* value = std::getenv(var.c_str()))
            given[in.name] = value;
    }
}

json result_json(const runtime::Workflow& w, const runtime::RunInputs& inputs, const runtime::RunResult& r)
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
        {"divergences", divergences}};
}

// One line that says how a run went.
std::string summary(const runtime::RunResult& r)
{
    std::string line = "run " + std::to_string(r.run_id) + " " + std::string(store::to_string(r.status)) + " in "
        + seconds(r.wall_ms) + ": ";
    if (r.trace_id)
        line += std::to_string(r.replayed + r.relocated) + " steps replayed (" + std::to_string(r.relocated)
            + " relocated), ";
    line += std::to_string(r.planned) + " planned, " + std::to_string(r.planner_calls) + " planner calls, "
        + dollars(r.cost_microusd);
    if (r.new_trace_id)
        line += r.trace_id ? ", trace repaired (new trace " + std::to_string(*r.new_trace_id) + ")"
                           : ", trace " + std::to_string(*r.new_trace_id) + " recorded";
    for (const auto& [name, value] : r.outputs)
        line += "\n    " + name + " = " + value;
    if (!r.error.empty())
        line += "\n    error: " + r.error;
    return line;
}

// The demo hosts' routes to the demo sites served on loopback.
std::map<std::string, std::string> demo_routes(const demo::SiteServers& sites)
{
    return {{"registry.example.test", "127.0.0.1:" + std::to_string(sites.registry_port())},
        {"crm.example.test", "127.0.0.1:" + std::to_string(sites.crm_port())}};
}

// The model for --planner llm, from the config in effect, wired into `options`; `model` keeps it alive.
Result<void> use_model(const Globals& g, runtime::RunOptions& options, std::unique_ptr<llm::LlmProvider>& model)
{
    auto config = ROTE_TRY(load_llm(g, ""));
    model = ROTE_TRY(llm::make_provider(config));
    options.planner = runtime::PlannerKind::llm;
    options.llm = model.get();
    return {};
}

} // namespace

RunCommands::RunCommands(CLI::App& app, bool& as_json)
    : m_as_json(as_json)
{
    m_run = app.add_subcommand("run",
        "Run a workflow in a fresh sandbox: the first successful run is taught by the planner and recorded as a "
        "trace; later runs replay the trace with vision checks and call the planner only where the screen "
        "diverged, writing a repaired trace version");
    m_run->add_option("WORKFLOW", m_workflow,
             "A workflow file, or a name: ./workflows/NAME.yaml, $ROTE_HOME/workflows/NAME.yaml, or built in ("
                 + builtin_names() + ")")
        ->required();
    m_run->add_option("-i,--input", m_inputs,
        "NAME=VALUE for one input (repeatable). A secret input not given is read from ROTE_SECRET_<NAME>");
    m_run->add_option("--inputs", m_inputs_csv,
        "A CSV file whose first row names inputs: one run per row, each in a fresh sandbox (--input values apply "
        "to every row)");
    m_run->add_option("--planner", m_planner,
              "Who decides where there is no trace or the screen diverged: the workflow's step hints, or the "
              "model (rote llm config)")
        ->check(CLI::IsMember({"hints", "llm"}))
        ->capture_default_str();
    m_run->add_option("--provider", m_provider,
               "Sandbox provider (default: the workflow's): local, or qemu for a VM (`rote image build` first)")
        ->check(CLI::IsMember({"local", "qemu"}));
    m_run->add_option("--image", m_image, "qemu: the guest image's directory (default: the built one)");
    m_run->add_option("--keep", m_keep,
        "qemu: run in the kept sandbox of this name, made on first use: its files and browser profile survive "
        "between runs (default: a fresh VM each run)");
    m_run->add_option("--route", m_routes, "HOST=ADDR:PORT: serve an allowed host from this address (repeatable)");
    m_run->add_flag("--teach", m_teach, "Teach afresh even if a trace exists (older versions are kept)");
    m_run->add_flag("--json", m_as_json, "Print the runs as JSON");

    m_demo = app.add_subcommand("demo",
        "The whole idea in a few minutes, offline: serves the demo company registry, teaches registry-lookup once "
        "with step hints, replays it for three companies, changes the site (moved, banner, renamed) and replays "
        "again, then prints the report. Uses a fresh store in a temporary directory unless --db is given");
    m_demo->add_option("--planner", m_planner, "hints (offline), or llm (needs a model: rote llm config)")
        ->check(CLI::IsMember({"hints", "llm"}))
        ->capture_default_str();
}

bool RunCommands::parsed() const { return m_run->parsed() || m_demo->parsed(); }

int RunCommands::run(const Globals& g) { return m_run->parsed() ? run_workflow_cmd(g) : demo(g); }

int RunCommands::run_workflow_cmd(const Globals& g)
{
    auto workflow = find_workflow(m_workflow);
    if (!workflow.ok())
        return fail(workflow.error());
    auto constant = parse_assignments(m_inputs);
    if (!constant.ok())
        return fail(constant.error());
    std::vector<std::map<std::string, std::string>> rows {*constant};
    if (!m_inputs_csv.empty()) {
        auto csv = runtime::read_inputs_csv(m_inputs_csv);
        if (!csv.ok())
            return fail(csv.error());
        rows = *csv;
        for (auto& row : rows)
            row.insert(constant->begin(), constant->end());
    }
    // Every row is checked before the first sandbox starts: a typo in row 40 should not cost 39 runs.
    std::vector<runtime::RunInputs> checked;
    for (size_t r = 0; r < rows.size(); ++r) {
        secrets_from_environment(*workflow, rows[r]);
        auto inputs = runtime::check_inputs(*workflow, rows[r]);
        if (!inputs.ok())
            return fail(m_inputs_csv.empty()
                    ? inputs.error()
                    : inputs.error().with_context(m_inputs_csv + ": row " + std::to_string(r + 2)));
        checked.push_back(std::move(*inputs));
    }
    auto routes = parse_routes(m_routes);
    if (!routes.ok())
        return fail(routes.error());
    // A host that cannot run the local sandbox is said once, not once a row, and before any run is stored.
    if ((m_provider.empty() ? workflow->provider : m_provider) == "local") {
        if (auto usable = runtime::check_local_sandbox(); !usable.ok())
            return fail(usable.error());
    }
    auto s = open_store(g);
    if (!s.ok())
        return fail(s.error());

    runtime::RunOptions options;
    options.planner = m_planner == "llm" ? runtime::PlannerKind::llm : runtime::PlannerKind::hints;
    options.provider = m_provider;
    options.image = m_image;
    options.keep = m_keep;
    options.routes = *routes;
    options.teach = m_teach;
    std::unique_ptr<llm::LlmProvider> model;
    if (options.planner == runtime::PlannerKind::llm) {
        if (auto used = use_model(g, options, model); !used.ok())
            return fail(used.error().with_context("the llm planner"));
    }
    const bool many = checked.size() > 1;
    if (!m_as_json && (!many || g.verbosity > 0))
        options.progress = [](const std::string& line) { std::cerr << "  " << line << "\n"; };

    json all = json::array();
    int failed = 0;
    for (size_t r = 0; r < checked.size(); ++r) {
        if (m_teach && r > 0)
            options.teach = false; // teach once, then replay what was taught
        auto result = runtime::run_workflow(**s, *workflow, checked[r], options);
        if (!result.ok())
            return fail(result.error());
        failed += result->status != store::RunStatus::succeeded;
        if (m_as_json) {
            all.push_back(result_json(*workflow, checked[r], *result));
            continue;
        }
        std::cout << (many ? "[" + std::to_string(r + 1) + "/" + std::to_string(checked.size()) + "] " : "")
                  << summary(*result) << std::endl;
    }
    if (m_as_json)
        print_json({{"runs", all}, {"failed", failed}});
    else if (many)
        std::cout << checked.size() - static_cast<size_t>(failed) << " of " << checked.size() << " runs succeeded\n";
    return failed == 0 ? 0 : kExitFailed;
}

int RunCommands::demo(const Globals& given)
{
    Globals g = given;
    if (g.db.empty()) {
        std::string dir = (fs::temp_directory_path() / "rote-demo-XXXXXX").string();
        if (::mkdtemp(dir.data()) == nullptr)
            return fail(Error(Error::Code::io, "cannot make a temporary directory for the demo's store"));
        g.db = (fs::path(dir) / "rote.db").string();
    }
    auto workflow = find_workflow("registry-lookup");
    if (!workflow.ok())
        return fail(workflow.error());
    if (auto usable = runtime::check_local_sandbox(); !usable.ok())
        return fail(usable.error());
    auto s = open_store(g);
    if (!s.ok())
        return fail(s.error());
    runtime::RunOptions options;
    std::unique_ptr<llm::LlmProvider> model;
    if (m_planner == "llm") {
        if (auto used = use_model(g, options, model); !used.ok())
            return fail(used.error().with_context(
                "rote demo --planner llm needs a model (set ANTHROPIC_API_KEY; see rote llm config)"));
    }
    if (g.verbosity > 0)
        options.progress = [](const std::string& line) { std::cerr << "      " << line << "\n"; };
    const std::string since = now_timestamp();

    struct Stage {
        demo::Variant variant;
        const char* title;
        std::vector<const char*> companies;
    };
    const std::vector<Stage> stages {
        {demo::Variant::baseline,
            m_planner == "llm" ? "1. Teach registry-lookup once: the model drives the browser, rote records a trace"
                               : "1. Teach registry-lookup once: the step hints drive the browser, rote records a trace",
            {"Acme Robotics Ltd"}},
        {demo::Variant::baseline, "2. Replay the trace for three other companies: no planner at all",
            {"Northwind Traders Ltd", "Globex Corporation Ltd", "Initech Software Ltd"}},
        {demo::Variant::moved, "3. The site moves its fields and buttons: vision finds them again", {"Hooli Cloud Ltd"}},
        {demo::Variant::banner,
            "4. A cookie banner appears: the planner handles only that, the trace is repaired, the next run needs no "
            "planner",
            {"Stark Logistics Ltd", "Wayne Foods Ltd"}},
        {demo::Variant::renamed, "5. The site renames its labels: the same, for the steps that diverged",
            {"Umbrella Analytics plc", "Soylent Nutrition Ltd"}},
    };
    std::cout << "rote demo: the company registry runs on 127.0.0.1; each run gets a fresh sandboxed desktop "
                 "with Chromium.\nStore: "
              << g.db << "\n";
    int failed = 0;
    for (const auto& stage : stages) {
        demo::SiteOptions site_options;
        site_options.variant = stage.variant;
        demo::SiteServers sites(site_options);
        if (!sites.ok())
            return fail(Error(Error::Code::io, "cannot serve the demo sites on 127.0.0.1"));
        options.routes = demo_routes(sites);
        std::cout << "\n" << stage.title << " [site: " << demo::to_string(stage.variant) << "]\n";
        for (const char* company : stage.companies) {
            auto inputs = runtime::check_inputs(*workflow, {{"company", company}});
            if (!inputs.ok())
                return fail(inputs.error());
            std::cout << "  " << company << " ... " << std::flush;
            auto result = runtime::run_workflow(**s, *workflow, *inputs, options);
            if (!result.ok())
                return fail(result.error());
            failed += result->status != store::RunStatus::succeeded;
            std::cout << summary(*result) << std::endl;
        }
    }
    std::cout << "\n";
    const int report = cmd_report(g, std::string("registry-lookup"), since, false);
    std::cout << "\nSee the traces with: rote --db " << g.db << " list   (and rote --db " << g.db
              << " show TRACE_ID)\n";
    if (failed > 0)
        std::cout << failed << " run(s) failed: see the errors above.\n";
    return failed > 0 ? kExitFailed : report;
}

} // namespace rote::cli
