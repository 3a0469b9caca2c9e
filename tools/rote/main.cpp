// rote: the command line. Each subcommand opens what it needs, prints data as a table (or JSON with
// --json), and exits 0 on success, 1 when the work failed, 2 when the command line was wrong.

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <rote/base/log.h>
#include <rote/base/files.h>
#include <rote/base/paths.h>
#include <rote/llm/config.h>
#include <rote/report/html.h>
#include <rote/store/json.h>
#include <rote/server/json.h>
#include <rote/store/store.h>

#include "common.h"
#include "run_cmd.h"
#include "image_cmd.h"
#include "sandbox_cmd.h"
#include "api_cmd.h"
#include "schedule_cmd.h"
#include "table.h"

// The helpers common.h declares, and the subcommands that need nothing else, live in rote::cli.
namespace rote::cli {

using nlohmann::json;
namespace store = rote::store;

int fail(const Error& e)
{
    std::cerr << "rote: error: " << e.message() << "\n";
    return e.code() == Error::Code::invalid_argument ? kExitUsage : kExitFailed;
}

Result<std::unique_ptr<store::Store>> open_store(const Globals& g)
{
    std::filesystem::path path = g.db;
    if (path.empty())
        path = ROTE_TRY(rote::default_db_path());
    return store::Store::open(path);
}

Result<std::unique_ptr<store::Store>> open_store_to_read(const Globals& g)
{
    std::filesystem::path path = g.db;
    if (path.empty())
        path = ROTE_TRY(rote::default_db_path());
    std::error_code ec;
    if (!std::filesystem::exists(path, ec) && !ec)
        return store::Store::open_in_memory();
    auto s = ROTE_TRY(store::Store::open_read_only(path));
    if (!s->read_only_note().empty())
        std::cerr << "rote: note: " << s->read_only_note() << "\n";
    return s;
}

void print_json(const json& j) { std::cout << j.dump(2) << "\n"; }

Result<std::map<std::string, std::string>> parse_routes(const std::vector<std::string>& routes)
{
    std::map<std::string, std::string> out;
    for (const std::string& r : routes) {
        size_t eq = r.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == r.size())
            return Error(Error::Code::invalid_argument, "--route must be HOST=ADDR:PORT, not '" + r + "'");
        out[r.substr(0, eq)] = r.substr(eq + 1);
    }
    return out;
}

// Dollars to four decimals, rounded half up in integers (a double would print $0.02845 as $0.0284).
std::string seconds(std::int64_t ms)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms) / 1000.0);
    return buf;
}

std::string percent(std::optional<double> share)
{
    if (!share)
        return "-";
    char buf[16];
    std::snprintf(buf, sizeof buf, "%.0f%%", *share * 100.0);
    return buf;
}

// ---- version ---------------------------------------------------------------------------------------

int cmd_version(bool as_json)
{
    if (as_json) {
        print_json({{"version", ROTE_VERSION_STRING}, {"store_schema", store::kSchemaVersion},
            {"sqlite", sqlite3_libversion()}});
    } else {
        std::cout << "rote " << ROTE_VERSION_STRING << " (store schema " << store::kSchemaVersion << ", SQLite "
                  << sqlite3_libversion() << ")\n";
    }
    return 0;
}

// ---- list ------------------------------------------------------------------------------------------

json trace_summary_json(const store::TraceSummary& t)
{
    return {{"id", t.id}, {"version", t.version}, {"steps", t.steps}, {"created_at", t.created_at}};
}

int cmd_list(const Globals& g, bool as_json)
{
    auto s = open_store_to_read(g);
    if (!s.ok())
        return fail(s.error());
    auto workflows = (*s)->list_workflows();
    if (!workflows.ok())
        return fail(workflows.error());

    if (as_json) {
        json out = json::array();
        for (const auto& w : *workflows) {
            json traces = json::array();
            for (const auto& t : w.traces)
                traces.push_back(trace_summary_json(t));
            json last = nullptr;
            if (w.last_run)
                last = {{"id", w.last_run->id}, {"status", store::to_string(w.last_run->status)},
                    {"started_at", w.last_run->started_at}};
            out.push_back({{"name", w.name}, {"goal", w.goal}, {"traces", traces}, {"last_run", last}});
        }
        print_json({{"workflows", out}});
        return 0;
    }
    if (workflows->empty()) {
        std::cout << "No workflows yet in " << (*s)->path().string() << ".\n";
        return 0;
    }
    Table table({"WORKFLOW", "TRACES", "LATEST", "LAST RUN"});
    for (const auto& w : *workflows) {
        std::string latest = "-";
        if (!w.traces.empty()) {
            const auto& t = w.traces.back();
            latest = "v" + std::to_string(t.version) + " (trace " + std::to_string(t.id) + ", "
                + std::to_string(t.steps) + " steps)";
        }
        std::string last = "-";
        if (w.last_run)
            last = "#" + std::to_string(w.last_run->id) + " " + std::string(store::to_string(w.last_run->status)) + " "
                + w.last_run->started_at;
        table.add({w.name, std::to_string(w.traces.size()), latest, last});
    }
    table.print(std::cout);
    return 0;
}

// ---- trace versions --------------------------------------------------------------------------------

json standing_json(const store::TraceStanding& t)
{
    return {{"trace_id", t.trace_id}, {"version", t.version}, {"parent_id", t.parent_id ? json(*t.parent_id) : json(nullptr)},
        {"role", store::to_string(t.role)}, {"pinned", t.pinned}, {"conditions", t.conditions},
        {"successes", t.successes}, {"failures", t.failures}, {"why", t.why}, {"changed_at", t.changed_at}};
}

void print_standings(const std::vector<store::TraceStanding>& standings)
{
    Table table({"VERSION", "TRACE", "ROLE", "CONDITIONS", "RUNS OK/FAILED", "WHY"});
    for (const auto& t : standings) {
        table.add({"v" + std::to_string(t.version), std::to_string(t.trace_id),
            std::string(store::to_string(t.role)) + (t.pinned ? " (pinned)" : ""), t.conditions.empty() ? "any" : t.conditions,
            std::to_string(t.successes) + "/" + std::to_string(t.failures), t.why});
    }
    table.print(std::cout);
}

int cmd_trace(const Globals& g, const std::string& workflow, std::optional<int> version,
    std::optional<store::TraceCommand> command, bool as_json)
{
    auto s = command ? open_store(g) : open_store_to_read(g);
    if (!s.ok())
        return fail(s.error());
    if (command) {
        auto after = (*s)->set_trace_standing(workflow, *version, *command);
        if (!after.ok())
            return fail(after.error());
        if (as_json) {
            print_json(standing_json(*after));
            return 0;
        }
        std::cout << workflow << " v" << after->version << " is now " << store::to_string(after->role)
                  << (after->pinned ? " (pinned)" : "") << ": " << after->why << "\n";
        return 0;
    }
    auto standings = (*s)->trace_standings(workflow);
    if (!standings.ok())
        return fail(standings.error());
    if (as_json) {
        json all = json::array();
        for (const auto& t : *standings)
            all.push_back(standing_json(t));
        print_json({{"workflow", workflow}, {"versions", all}});
        return 0;
    }
    print_standings(*standings);
    return 0;
}

// ---- show ------------------------------------------------------------------------------------------

int cmd_show(const Globals& g, std::int64_t trace_id, bool as_json)
{
    auto s = open_store_to_read(g);
    if (!s.ok())
        return fail(s.error());
    auto trace = (*s)->load_trace(trace_id);
    if (!trace.ok())
        return fail(trace.error());
    auto versions = (*s)->list_traces(trace->workflow);
    if (!versions.ok())
        return fail(versions.error());
    auto standings = (*s)->trace_standings(trace->workflow);
    if (!standings.ok())
        return fail(standings.error());
    // The API plans mined for this trace (docs/api.md): `rote api show PLAN` shows one.
    auto all_plans = (*s)->api_plans(trace->workflow);
    if (!all_plans.ok())
        return fail(all_plans.error());
    std::vector<store::ApiPlan> plans;
    for (auto& p : *all_plans) {
        if (p.trace_id == trace->id)
            plans.push_back(std::move(p));
    }

    if (as_json) {
        json steps = json::array();
        for (const auto& step : trace->steps)
            steps.push_back(store::to_json(step));
        json all = json::array();
        for (const auto& v : *versions) {
            json entry = trace_summary_json(v);
            for (const auto& t : *standings) {
                if (t.trace_id == v.id)
                    entry["standing"] = standing_json(t);
            }
            all.push_back(entry);
        }
        print_json({{"id", trace->id}, {"workflow", trace->workflow}, {"version", trace->version},
            {"parent_id", trace->parent_id ? json(*trace->parent_id) : json(nullptr)},
            {"source_run_id", trace->source_run_id ? json(*trace->source_run_id) : json(nullptr)},
            {"note", trace->note}, {"created_at", trace->created_at}, {"versions", all}, {"steps", steps},
            {"api_plans", [&] {
                 json rows = json::array();
                 for (const auto& p : plans)
                     rows.push_back({{"id", p.id}, {"standing", store::to_string(p.standing)}, {"writes", p.writes},
                         {"run_id", p.run_id ? json(*p.run_id) : json(nullptr)}, {"proof", p.proof}});
                 return rows;
             }()}});
        return 0;
    }
    std::cout << "Trace " << trace->id << ": " << trace->workflow << " v" << trace->version << ", "
              << trace->steps.size() << " steps, recorded " << trace->created_at;
    if (trace->parent_id)
        std::cout << ", repairs trace " << *trace->parent_id;
    std::cout << "\n";
    if (!trace->note.empty())
        std::cout << "Note: " << trace->note << "\n";
    std::cout << "Versions of " << trace->workflow << " (runs replay the default, or a candidate made under their conditions):\n";
    print_standings(*standings);
    std::cout << "\n";
    Table table({"#", "ACTION", "TARGET LABEL", "BY", "SETTLE"});
    for (const auto& step : trace->steps) {
        table.add(
            {std::to_string(step.index), rote::describe(step.action, {}, rote::TextStyle::quoted), step.anchor.label.empty() ? "-" : step.anchor.label,
                std::string(store::to_string(step.provenance)), std::to_string(step.settle_ms) + " ms"});
    }
    table.print(std::cout);
    for (const auto& p : plans) {
        std::cout << (&p == &plans.front() ? "\nAPI plans mined for this trace (rote api show PLAN):\n" : "") << "  plan "
                  << p.id << "  " << store::to_string(p.standing) << (p.writes ? ", writes" : "") << "  from run "
                  << p.run_id.value_or(0) << ": " << p.proof << "\n";
    }
    return 0;
}

// ---- report ----------------------------------------------------------------------------------------

std::vector<std::string> figure_cells(const store::CostFigures& f)
{
    return {std::to_string(f.llm_calls), std::to_string(f.input_tokens), std::to_string(f.output_tokens),
        std::to_string(f.cache_read_tokens), dollars(f.cost_microusd), percent(f.replay_share()), seconds(f.wall_ms)};
}

// rote report --html: the report as one self-contained page (report/).
int cmd_report_html(const Globals& g, const std::optional<std::string>& workflow,
    const std::optional<std::string>& since, const std::string& html_out, int detail, bool as_json)
{
    store::ReportQuery query {workflow, since, std::nullopt};
    auto s = open_store_to_read(g);
    if (!s.ok())
        return fail(s.error());
    auto page = ::rote::report::html(**s, query, {detail});
    if (!page.ok())
        return fail(page.error());
    if (auto written = write_file_atomically(html_out, *page, 0644); !written.ok())
        return fail(written.error().with_context("writing the report to " + html_out));
    if (as_json)
        print_json({{"html", html_out}, {"bytes", page->size()}});
    else
        std::cout << "The report is in " << html_out << " (" << (page->size() + 1023) / 1024 << " KiB, self-contained).\n";
    return 0;
}

int cmd_report(
    const Globals& g, const std::optional<std::string>& workflow, const std::optional<std::string>& since, bool as_json)
{
    store::ReportQuery query {workflow, since, std::nullopt};
    if (since) {
        auto normalised = store::parse_timestamp(*since);
        if (!normalised.ok())
            return fail(normalised.error());
    }
    auto s = open_store_to_read(g);
    if (!s.ok())
        return fail(s.error());
    auto report = (*s)->report(query);
    if (!report.ok())
        return fail(report.error());

    if (as_json) {
        print_json(server::report_json(*report));
        return 0;
    }
    if (report->runs.empty()) {
        std::cout << "No runs" << (workflow ? " of " + *workflow : std::string())
                  << (since ? " since " + *report->query.since : std::string()) << ".\n";
        return 0;
    }
    const std::vector<std::string> figure_headers {
        "LLM CALLS", "TOKENS IN", "OUT", "CACHED", "COST", "REPLAYED", "WALL"};
    std::vector<std::string> run_headers {"RUN", "WORKFLOW", "STARTED", "STATUS"};
    run_headers.insert(run_headers.end(), figure_headers.begin(), figure_headers.end());
    Table runs(run_headers);
    for (const auto& r : report->runs) {
        std::vector<std::string> row {
            std::to_string(r.id), r.workflow, r.started_at, std::string(store::to_string(r.status))};
        auto cells = figure_cells(r.figures);
        row.insert(row.end(), cells.begin(), cells.end());
        runs.add(row);
    }
    std::cout << "Runs\n";
    runs.print(std::cout);

    std::vector<std::string> wf_headers {"WORKFLOW", "RUNS", "SUCCEEDED"};
    wf_headers.insert(wf_headers.end(), figure_headers.begin(), figure_headers.end());
    Table workflows(wf_headers);
    for (const auto& w : report->workflows) {
        std::vector<std::string> row {w.workflow, std::to_string(w.figures.runs), std::to_string(w.figures.succeeded)};
        auto cells = figure_cells(w.figures);
        row.insert(row.end(), cells.begin(), cells.end());
        workflows.add(row);
    }
    std::cout << "\nWorkflows\n";
    workflows.print(std::cout);
    if (!report->schedules.empty()) {
        // Per schedule: its fires by how they ended, its runs' success, and per day what the model cost.
        Table schedules({"SCHEDULE", "WORKFLOW", "FIRES", "RUNS", "SUCCESS", "DAY (UTC)", "LLM CALLS", "COST", "REPLAYED"});
        for (const auto& sr : report->schedules) {
            std::string fires;
            std::int64_t fired = 0;
            for (const auto& [status, n] : sr.fires) {
                fires += (fires.empty() ? "" : ", ") + std::to_string(n) + " " + status;
                fired += n;
            }
            const auto success = sr.figures.runs == 0
                ? std::optional<double>()
                : std::optional<double>(static_cast<double>(sr.figures.succeeded) / static_cast<double>(sr.figures.runs));
            schedules.add({sr.schedule, sr.workflow, std::to_string(fired) + (fires.empty() ? "" : " (" + fires + ")"),
                std::to_string(sr.figures.runs), percent(success), "all", std::to_string(sr.figures.llm_calls),
                dollars(sr.figures.cost_microusd), percent(sr.figures.replay_share())});
            for (const auto& [day, f] : sr.days)
                schedules.add({"", "", "", std::to_string(f.runs), "", day, std::to_string(f.llm_calls), dollars(f.cost_microusd),
                    percent(f.replay_share())});
        }
        std::cout << "\nSchedules\n";
        schedules.print(std::cout);
    }
    const auto& t = report->total;
    std::cout << "\nTotal: " << t.runs << " runs (" << t.succeeded << " succeeded"
              << (t.api_runs > 0 ? ", " + std::to_string(t.api_runs) + " by API plans" : std::string()) << "), "
              << t.llm_calls << " LLM calls, "
              << dollars(t.cost_microusd) << ", " << percent(t.replay_share()) << " of " << t.steps
              << " steps replayed without a planner, " << seconds(t.wall_ms) << " wall time\n";
    return 0;
}

// ---- traffic ---------------------------------------------------------------------------------------

int cmd_traffic(const Globals& g, std::int64_t run_id, bool as_json)
{
    auto s = open_store_to_read(g);
    if (!s.ok())
        return fail(s.error());
    auto requests = (*s)->run_requests(run_id);
    if (!requests.ok())
        return fail(requests.error());
    if (as_json) {
        json all = json::array();
        for (const auto& r : *requests)
            all.push_back({{"at", r.at}, {"method", r.method}, {"host", r.host}, {"port", r.port}, {"path", r.path},
                {"status", r.status}, {"bytes_in", r.bytes_in}, {"bytes_out", r.bytes_out}, {"ms", r.ms},
                {"framing", r.framing}, {"error", r.error}, {"refused", r.refused}});
        print_json({{"run", run_id}, {"requests", all}});
        return 0;
    }
    if (requests->empty()) {
        std::cout << "Run " << run_id << " made no request through the egress proxy (or ran before rote kept them).\n";
        return 0;
    }
    Table table({"AT", "METHOD", "STATUS", "HOST", "PATH", "BYTES IN/OUT", "MS", "NOTE"});
    for (const auto& r : *requests) {
        std::string note = !r.refused.empty() ? "refused: " + r.refused : !r.error.empty() ? "broken: " + r.error : "";
        std::string path = r.path.size() > 80 ? r.path.substr(0, 77) + "..." : r.path;
        table.add({r.at, r.method, std::to_string(r.status), r.host + ":" + std::to_string(r.port), path,
            std::to_string(r.bytes_in) + "/" + std::to_string(r.bytes_out), std::to_string(static_cast<long long>(r.ms)), note});
    }
    table.print(std::cout);
    return 0;
}

// ---- export / import -------------------------------------------------------------------------------

// A run's divergences and failure: the failed steps, each with the screen where it happened, written out.
int cmd_show_divergences(const Globals& g, std::int64_t run_id, const std::string& out_dir, bool as_json)
{
    auto s = open_store_to_read(g);
    if (!s.ok())
        return fail(s.error());
    auto steps = (*s)->run_steps(run_id);
    if (!steps.ok())
        return fail(steps.error());
    std::error_code ec;
    std::filesystem::create_directories(out_dir, ec);
    if (ec)
        return fail(Error(Error::Code::io, "cannot make " + out_dir + ": " + ec.message()));
    json list = json::array();
    Table table({"STEP", "TRACE STEP", "WHAT", "SCREENSHOT"});
    for (const auto& step : *steps) {
        if (step.outcome != store::StepOutcome::failed)
            continue;
        std::string file;
        if (step.artifact) {
            auto image = (*s)->get_artifact(*step.artifact);
            if (!image.ok())
                return fail(image.error().with_context("run " + std::to_string(run_id) + " step " + std::to_string(step.index)));
            file = (std::filesystem::path(out_dir) / ("run-" + std::to_string(run_id) + "-step-" + std::to_string(step.index) + ".png")).string();
            if (auto written = write_file_atomically(file,
                    std::string_view(reinterpret_cast<const char*>(image->data.data()), image->data.size()), 0644);
                !written.ok())
                return fail(written.error());
        }
        list.push_back({{"step", step.index}, {"trace_step", step.trace_step ? json(*step.trace_step) : json(nullptr)},
            {"kind", step.method}, {"detail", step.detail}, {"screenshot", step.artifact ? json(*step.artifact) : json(nullptr)},
            {"file", file.empty() ? json(nullptr) : json(file)}});
        table.add({std::to_string(step.index), step.trace_step ? std::to_string(*step.trace_step) : "-",
            step.method + ": " + step.detail, file.empty() ? "-" : file});
    }
    if (as_json) {
        print_json({{"run_id", run_id}, {"divergences", list}});
        return 0;
    }
    if (list.empty()) {
        std::cout << "run " << run_id << " did not diverge\n";
        return 0;
    }
    table.print(std::cout);
    return 0;
}

// A trace (or with `run`, a run with its divergences' screenshots) as one JSON document.
int cmd_export(const Globals& g, std::int64_t id, bool run, const std::string& out_path)
{
    auto s = open_store_to_read(g);
    if (!s.ok())
        return fail(s.error());
    auto doc = run ? (*s)->export_run(id) : (*s)->export_trace(id);
    if (!doc.ok())
        return fail(doc.error());
    if (out_path.empty() || out_path == "-") {
        std::cout << *doc << "\n";
        return 0;
    }
    // Whole or not at all, and never through a link planted where a temporary file would go.
    if (auto written = write_file_atomically(out_path, *doc + "\n", 0644); !written.ok())
        return fail(written.error());
    std::cerr << "exported " << (run ? "run " : "trace ") << id << " to " << out_path << "\n";
    return 0;
}

int cmd_import(const Globals& g, const std::string& in_path, bool as_json)
{
    std::string text;
    if (in_path == "-") {
        text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    } else {
        std::ifstream in(in_path, std::ios::binary);
        if (!in)
            return fail(Error(Error::Code::io, "cannot read " + in_path));
        text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    auto s = open_store(g);
    if (!s.ok())
        return fail(s.error());
    const bool show_progress = isatty(STDERR_FILENO) != 0 && !as_json;
    auto progress = [&](std::size_t done, std::size_t total) {
        if (show_progress && (done % 50 == 0 || done == total))
            std::cerr << "\rimporting: " << done << "/" << total << " steps" << (done == total ? "\n" : "")
                      << std::flush;
    };
    auto id = (*s)->import_trace(text, progress);
    if (!id.ok())
        return fail(id.error().with_context(in_path == "-" ? "standard input" : in_path));
    auto trace = (*s)->load_trace(*id);
    if (!trace.ok())
        return fail(trace.error());
    if (as_json) {
        print_json({{"trace_id", *id}, {"workflow", trace->workflow}, {"version", trace->version},
            {"steps", trace->steps.size()}});
    } else {
        std::cout << "imported trace " << *id << ": " << trace->workflow << " v" << trace->version << ", "
                  << trace->steps.size() << " steps\n";
    }
    return 0;
}

Result<std::filesystem::path> token_path(const std::string& file, const char* default_name)
{
    if (!file.empty())
        return std::filesystem::path(file);
    return ROTE_TRY(rote_home()) / default_name;
}

Result<std::filesystem::path> config_path(const Globals& g)
{
    if (!g.config.empty())
        return std::filesystem::path(g.config);
    return rote::default_config_path();
}

// USD per million tokens, from micro-dollars per million.
std::string per_mtok(std::int64_t micro)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "$%.2f", static_cast<double>(micro) / 1e6);
    return buf;
}

Result<rote::llm::LlmConfig> load_llm(const Globals& g, const std::string& provider_name)
{
    const auto path = ROTE_TRY(config_path(g));
    if (!g.config.empty() && !std::filesystem::exists(path))
        return Error(Error::Code::invalid_argument, "config file " + path.string() + " does not exist");
    std::optional<rote::llm::ProviderKind> provider;
    if (!provider_name.empty())
        provider = rote::llm::parse_provider_kind(provider_name); // CLI11 has checked the name
    return rote::llm::load_llm_config(path, provider);
}

int cmd_llm_config(const Globals& g, const std::string& provider_name, bool as_json)
{
    auto config = load_llm(g, provider_name);
    if (!config.ok())
        return fail(config.error());
    const auto path = *config_path(g);
    const std::string model = config->effective_model();
    const auto price = config->prices.find(model);
    json out = {{"config_file", path.string()}, {"config_file_exists", std::filesystem::exists(path)},
        {"provider", std::string(rote::llm::to_string(config->provider))}, {"model", model},
        {"base_url", config->effective_base_url()}, {"api_key_set", !config->api_key.empty()},
        {"timeout_ms", config->request_timeout.count()}, {"deadline_ms", config->deadline.count()},
        {"max_attempts", config->retry.max_attempts},
        {"max_screen", std::to_string(config->max_model_screen.width) + "x" + std::to_string(config->max_model_screen.height)},
        {"max_output_tokens", config->max_output_tokens}};
    if (price)
        out["price_per_mtok_microusd"]
            = {{"input", price->input}, {"output", price->output}, {"cache_write", price->cache_write}, {"cache_read", price->cache_read}};
    if (as_json) {
        print_json(out);
        return 0;
    }
    std::cout << "config file   " << path.string() << (std::filesystem::exists(path) ? "" : " (absent: defaults)") << "\n"
              << "provider      " << rote::llm::to_string(config->provider) << "\n"
              << "model         " << model << "\n"
              << "endpoint      " << config->effective_base_url() << "\n"
              << "api key       " << (config->api_key.empty() ? "not set" : "set (never shown)") << "\n"
              << "timeout       " << seconds(config->request_timeout.count()) << " per attempt, "
              << seconds(config->deadline.count()) << " per call, " << config->retry.max_attempts << " attempts\n"
              << "screen        " << out["max_screen"].get<std::string>() << " at most, as the model sees it\n"
              << "price         "
              << (price ? per_mtok(price->input) + " in, " + per_mtok(price->output) + " out, " + per_mtok(price->cache_write)
                          + " cache write, " + per_mtok(price->cache_read) + " cache read per MTok"
                        : std::string("unknown: add it under llm.prices"))
              << "\n";
    return 0;
}

int cmd_llm_prices(const Globals& g, bool as_json)
{
    auto config = load_llm(g, "");
    if (!config.ok())
        return fail(config.error());
    const auto builtin = rote::llm::PriceTable::builtin();
    json rows = json::array();
    Table table({"MODEL", "INPUT", "OUTPUT", "CACHE WRITE", "CACHE READ", "SOURCE"});
    for (const auto& [model, price] : config->prices.entries()) {
        const auto original = builtin.entries().find(model);
        const bool from_config = original == builtin.entries().end() || original->second.input != price.input
            || original->second.output != price.output || original->second.cache_write != price.cache_write
            || original->second.cache_read != price.cache_read;
        rows.push_back({{"model", model}, {"input", price.input}, {"output", price.output}, {"cache_write", price.cache_write},
            {"cache_read", price.cache_read}, {"source", from_config ? "config" : "built-in"}});
        table.add({model, per_mtok(price.input), per_mtok(price.output), per_mtok(price.cache_write),
            per_mtok(price.cache_read), from_config ? "config" : "built-in"});
    }
    if (as_json) {
        print_json({{"unit", "micro-USD per million tokens"}, {"prices", rows}});
        return 0;
    }
    table.print(std::cout);
    std::cout << "USD per million tokens. Override or add models under llm.prices in " << config_path(g)->string() << "\n";
    return 0;
}

} // namespace rote::cli

using namespace rote::cli;

int main(int argc, char** argv)
{
    CLI::App app {"rote: a runtime for computer-using AI agents. It runs each task in a sandboxed desktop, records\n"
                  "a successful run as a trace, and replays it with vision checks, calling an LLM only where the\n"
                  "screen diverged from the recording. Every run's LLM calls, tokens and cost are kept."};
    app.name("rote");
    app.require_subcommand(1, 1);
    app.fallthrough();
    app.footer(
        "Exit status: 0 success, 1 the command failed, 2 the command line or an input file was wrong.\n"
        "Data lives in one SQLite file: --db, or $ROTE_HOME/rote.db (ROTE_HOME defaults to ~/.local/share/rote).");

    Globals g;
    app.add_option("--db", g.db, "The store file to use (default $ROTE_HOME/rote.db)");
    app.add_option("--config", g.config, "The config file to use (default $ROTE_HOME/config.yaml; see docs/llm.md)");
    app.add_flag("-v,--verbose", g.verbosity, "Log more to stderr (repeat for debug)");
    app.set_version_flag("--version", std::string("rote ") + ROTE_VERSION_STRING);

    bool as_json = false;
    auto add_json = [&](CLI::App* sub) { sub->add_flag("--json", as_json, "Print the result as JSON"); };

    auto* version = app.add_subcommand("version", "Print rote's version and the store schema it writes");
    add_json(version);

    auto* list = app.add_subcommand("list", "List workflows with their trace versions and last run");
    add_json(list);

    std::int64_t trace_id = 0;
    auto* show = app.add_subcommand("show",
        "Show a trace's steps and the other versions of its workflow; or, with --divergences, where a run left its "
        "trace and what the screen showed there");
    show->add_option("TRACE_ID", trace_id, "The trace to show (ids are in `rote list`)");
    std::optional<std::int64_t> divergences_of;
    std::string divergences_out = ".";
    auto* divergences_opt = show->add_option("--divergences", divergences_of,
        "Instead: the run's divergences and failure (run ids are in `rote report`), each screenshot written as a PNG "
        "into --out");
    show->add_option("-o,--out", divergences_out, "With --divergences: the directory for the screenshots")
        ->needs(divergences_opt)
        ->capture_default_str();
    add_json(show);

    auto* trace_cmd = app.add_subcommand("trace",
        "Which trace version a workflow's runs replay: list the versions' standing, or promote, pin, unpin, demote "
        "or roll back one");
    std::string trace_workflow;
    std::optional<int> trace_version;
    std::optional<store::TraceCommand> trace_command;
    auto* trace_list = trace_cmd->add_subcommand("list", "Every version: default, candidate on probation, demoted or retired, and why");
    trace_list->add_option("WORKFLOW", trace_workflow, "The workflow's name")->required();
    add_json(trace_list);
    const std::vector<std::tuple<const char*, store::TraceCommand, const char*>> trace_commands {
        {"promote", store::TraceCommand::promote, "Make VERSION the default now (the default before is retired)"},
        {"pin", store::TraceCommand::pin, "Make VERSION the default and hold it: no run's repair replaces it, no candidate is tried"},
        {"unpin", store::TraceCommand::unpin, "Let runs' repairs earn the default again (VERSION: the pinned default)"},
        {"demote", store::TraceCommand::demote, "Never replay VERSION again (a candidate, or a retired version)"},
        {"rollback", store::TraceCommand::rollback, "Make VERSION the default again and demote the default before"}};
    for (const auto& [name, command, help] : trace_commands) {
        auto* sub = trace_cmd->add_subcommand(name, help);
        sub->add_option("WORKFLOW", trace_workflow, "The workflow's name")->required();
        sub->add_option("VERSION", trace_version, "The version (v3 or 3; versions are in `rote trace list`)")
            ->required()
            ->transform([](std::string v) { return !v.empty() && v[0] == 'v' ? v.substr(1) : v; });
        sub->callback([&trace_command, command = command] { trace_command = command; });
        add_json(sub);
    }
    trace_cmd->require_subcommand(1);

    std::optional<std::string> workflow;
    std::optional<std::string> since;
    auto* report = app.add_subcommand("report",
        "Cost per run and per workflow: LLM calls, tokens, dollars, share of steps replayed without a planner, wall "
        "time");
    report->add_option("--workflow", workflow, "Only runs of this workflow");
    report->add_option(
        "--since", since, "Only runs started at or after this UTC date (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)");
    std::string html_out;
    int detail = ::rote::report::HtmlOptions {}.detailed_runs;
    report->add_option("--html", html_out,
        "Write the report as one self-contained HTML page to this file instead: per workflow its charts (dollars "
        "per run, share of steps replayed) and what the cache saved; per run every step with the screen before and "
        "after it, how its target was found, its model calls, and each divergence with the expected and the actual "
        "screen side by side");
    report->add_option("--detail", detail, "With --html: how many of the newest runs are shown step by step")
        ->check(CLI::Range(0, 100000));
    add_json(report);

    std::int64_t run_id = 0;
    auto* traffic = app.add_subcommand("traffic",
        "A run's requests through rote's egress proxy: method, status, host, path (secrets hidden), bytes, time, "
        "and why the proxy refused any");
    traffic->add_option("RUN_ID", run_id, "The run (ids are in `rote report` and `rote run`'s output)")->required();
    add_json(traffic);

    std::string out_path;
    auto* exp = app.add_subcommand("export",
        "Write a trace, with the screenshots it uses, as a JSON document (rote import reads it); or with --run, a run: "
        "its end, figures, steps, model calls and each divergence's screenshot (base64 PNG)");
    bool export_run = false;
    exp->add_option("ID", trace_id, "The trace to export (ids are in `rote list`), or with --run the run (`rote report`)")
        ->required();
    exp->add_flag("--run", export_run, "ID is a run: export the run, not a trace");
    exp->add_option("-o,--output", out_path, "File to write (default: standard output)");

    std::string in_path;
    auto* imp = app.add_subcommand("import", "Read a JSON trace document (from rote export) as a new trace version");
    imp->add_option("FILE", in_path, "The document, or - for standard input")->required();
    add_json(imp);

    rote::cli::RunCommands runs(app, as_json);
    rote::cli::SandboxCommands sandbox(app, as_json);
    rote::cli::ImageCommands images(app, as_json);
    rote::cli::ScheduleCommands schedules(app, as_json);

    auto* llm = app.add_subcommand("llm", "The model rote calls when a screen diverges: its settings and prices");
    llm->require_subcommand(1, 1);
    std::string llm_provider;
    auto* llm_config = llm->add_subcommand("config",
        "Show the provider, model, endpoint, limits and price in effect (config file, then environment); never the key");
    llm_config->add_option("--provider", llm_provider, "As if this provider were chosen")
        ->check(CLI::IsMember({"anthropic", "openai", "openai-compatible"}));
    add_json(llm_config);
    auto* llm_prices = llm->add_subcommand("prices", "The price table: built-in prices and the config file's overrides");
    add_json(llm_prices);

    ApiCommands api_commands(app, as_json);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);
        return rc == 0 ? 0 : kExitUsage;
    }

    spdlog::set_level(g.verbosity >= 2 ? spdlog::level::debug
            : g.verbosity == 1         ? spdlog::level::info
                                       : spdlog::level::warn);

    if (version->parsed())
        return cmd_version(as_json);
    if (list->parsed())
        return cmd_list(g, as_json);
    if (show->parsed() && divergences_of)
        return cmd_show_divergences(g, *divergences_of, divergences_out, as_json);
    if (show->parsed()) {
        if (show->count("TRACE_ID") == 0)
            return fail(rote::Error(rote::Error::Code::invalid_argument, "rote show needs a TRACE_ID, or --divergences RUN"));
        return cmd_show(g, trace_id, as_json);
    }
    if (trace_cmd->parsed())
        return cmd_trace(g, trace_workflow, trace_version, trace_command, as_json);
    if (report->parsed())
        return html_out.empty() ? cmd_report(g, workflow, since, as_json)
                                : cmd_report_html(g, workflow, since, html_out, detail, as_json);
    if (traffic->parsed())
        return cmd_traffic(g, run_id, as_json);
    if (exp->parsed())
        return cmd_export(g, trace_id, export_run, out_path);
    if (imp->parsed())
        return cmd_import(g, in_path, as_json);
    if (runs.parsed())
        return runs.run(g);
    if (sandbox.parsed())
        return sandbox.run(g.verbosity);
    if (images.parsed())
        return images.run();
    if (schedules.parsed())
        return schedules.run(g);
    if (api_commands.parsed())
        return api_commands.run(g);
    if (llm_config->parsed())
        return cmd_llm_config(g, llm_provider, as_json);
    if (llm_prices->parsed())
        return cmd_llm_prices(g, as_json);
    return kExitUsage;
}
