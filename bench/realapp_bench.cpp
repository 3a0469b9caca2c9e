// realapp_bench: rote on real applications nobody here wrote (tests/realapps: DokuWiki and Redmine from
// Debian packages, on loopback), the yardstick replay changes are measured on. For each app × workflow ×
// drift knob it prints: runs, succeeded, planner calls on the first drifted run and on the next one, outputs
// right/wrong, wrong actions (a wrong record opened, a wrong or extra write: read from the app's own state and
// request log), clean failures and their reasons; then every wrong action and wrong output with its evidence.
//
// Each workflow is taught once with its step hints on the baseline app (one input, chosen unambiguous), then
// replayed for the other inputs (near-duplicates included); each knob starts from a copy of that baseline store,
// so knobs do not repair each other's traces. Server-side knobs: lang-de, theme, notice; browser knobs: sizes
// 1024x768 and 1600x1000, scale 1.25. Structural drift (renamed on DokuWiki, extra-step on both) gets a third run: the
// unchanged app again on the same store, which the default (the candidate's fallback) must still serve.
//
// Usage: realapp_bench [--app dokuwiki|redmine] [--workflow NAME] [--drift NAME] [--inputs N] [--baseline-only]
//                      [--verbose] [--json FILE]
//        realapp_bench --serve dokuwiki|redmine [--lang L] [--theme T] [--notice] [--structure S]   serve one by hand
// Sends traffic only to 127.0.0.1 (the apps) and inside the sandboxes' own network namespaces.

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <rote/agent/agent.h>
#include <rote/store/store.h>

#include "realapps/apps.h"

using namespace rote;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {
volatile std::sig_atomic_t g_stop = 0;

[[noreturn]] void die(const std::string& what)
{
    std::fprintf(stderr, "realapp_bench: %s\n", what.c_str());
    std::exit(1);
}

// A drift: server-side knobs, or the browser's size and scale.
struct Drift {
    std::string name;
    realapps::Knobs knobs;
    int width = 1280, height = 800;
    double scale = 1.0;
    bool structural = false; // a third run on the unchanged app follows the two drifted ones
};

std::vector<Drift> drifts(const std::string& app)
{
    std::vector<Drift> out;
    out.push_back({"lang-de", {"de", "", false, ""}});
    out.push_back({app == "redmine" ? "theme-alternate" : "theme-contrast",
        {"en", app == "redmine" ? "alternate" : "contrast", false, ""}});
    out.push_back({"notice", {"en", "", true, ""}});
    out.push_back({"size-1024x768", {}, 1024, 768, 1.0});
    out.push_back({"size-1600x1000", {}, 1600, 1000, 1.0});
    out.push_back({"scale-1.25", {}, 1280, 800, 1.25});
    for (const char* structure : {"renamed", "extra-step"}) {
        if (app == "dokuwiki" || std::strcmp(structure, "extra-step") == 0)
            out.push_back({structure, {"en", "", false, structure}, 1280, 800, 1.0, true});
    }
    return out;
}

// The input a workflow is taught with: one whose label is on its page once.
std::string teach_key(const std::string& app)
{
    return app == "dokuwiki" ? "Stark Components" : "Badge reader fault at Globex depot gate 2";
}

struct Cell {
    Cell(std::string a, std::string w, std::string d)
        : app(std::move(a))
        , workflow(std::move(w))
        , drift(std::move(d))
    {
    }
    std::string app, workflow, drift;
    int runs = 0, succeeded = 0, right = 0, outputs_right = 0, outputs_wrong = 0, wrong_actions = 0,
        wrong_successes = 0, clean_failures = 0;
    std::vector<int> planner_calls; // per run, in order
    std::vector<int> diverged; // per run, in order: the trace steps it diverged at
    std::map<std::string, int> reasons;
};

struct Bench {
    fs::path dir;
    json runs = json::array();
    std::vector<Cell> cells;
    std::vector<std::string> evidence; // every wrong action and wrong output

    void run(realapps::App& app, const realapps::Task& task, const runtime::Workflow& w, store::Store& s,
        const realapps::Record& record, int n, Cell& cell, bool teach)
    {
        auto given = task.inputs(record, n);
        for (const auto& [k, v] : task.secrets())
            given[k] = v;
        auto inputs = runtime::check_inputs(w, given);
        if (!inputs.ok())
            die(inputs.error().message());
        runtime::RunOptions options;
        options.teach = teach;
        options.routes[app.host()] = app.route();
        app.mark();
        auto result = runtime::run_workflow(s, w, *inputs, options);
        if (!result.ok())
            die(result.error().message());
        const bool ok = result->status == store::RunStatus::succeeded;
        auto verdict = realapps::judge(app, task, record, task.inputs(record, n), ok, result->outputs, result->error);
        if (!verdict.ok())
            die(verdict.error().message());
        ++cell.runs;
        cell.succeeded += ok;
        cell.right += verdict->right();
        cell.outputs_right += verdict->outputs_right;
        cell.outputs_wrong += verdict->outputs_wrong;
        cell.wrong_actions += static_cast<int>(verdict->wrong_actions.size());
        cell.wrong_successes += verdict->wrong_success();
        cell.clean_failures += verdict->clean_failure();
        cell.planner_calls.push_back(result->planner_calls);
        cell.diverged.push_back(static_cast<int>(result->divergences.size()));
        if (!ok)
            ++cell.reasons[result->error];
        const std::string where = cell.app + " " + cell.workflow + " " + cell.drift + " '" + record.key + "' (run "
            + std::to_string(result->run_id) + (ok ? ", reported succeeded" : ", reported failed") + ")";
        for (const auto& a : verdict->wrong_actions)
            evidence.push_back("WRONG ACTION " + where + ": " + a);
        for (const auto& o : verdict->wrong_outputs)
            evidence.push_back("WRONG OUTPUT " + where + ": " + o);
        std::fprintf(stderr, "  %-8s %-22s %-16s %-44s %s%s  planner %d, %.1f s\n", cell.app.c_str(),
            cell.workflow.c_str(), cell.drift.c_str(), record.key.c_str(),
            verdict->right() ? "right" : verdict->wrong_success() ? "WRONG, reported succeeded" : ok ? "?" : "failed",
            verdict->wrong_actions.empty() ? "" : " (wrong action)", result->planner_calls,
            static_cast<double>(result->wall_ms) / 1000.0);
        runs.push_back({{"app", cell.app}, {"workflow", cell.workflow}, {"drift", cell.drift}, {"input", record.key},
            {"status", ok ? "succeeded" : "failed"}, {"error", result->error}, {"outputs", result->outputs},
            {"planner_calls", result->planner_calls}, {"divergences", result->divergences.size()},
            {"wall_ms", result->wall_ms}, {"right", verdict->right()},
            {"wrong_actions", verdict->wrong_actions}, {"wrong_outputs", verdict->wrong_outputs}});
    }
};

} // namespace

constexpr const char* kUsage = R"(usage: realapp_bench [--app dokuwiki|redmine] [--workflow NAME] [--drift NAME] [--inputs N] [--baseline-only] [--verbose] [--keep] [--json FILE]
       realapp_bench --serve dokuwiki|redmine [--lang de] [--theme NAME] [--notice] [--structure renamed|extra-step]

The real-app matrix (docs/realapps.md): every workflow of tests/realapps/workflows taught once, then replayed
for N inputs (default: all) on the unchanged app and under each drift (--drift: that one only: lang-de,
theme-contrast or theme-alternate, notice, size-1024x768, size-1600x1000, scale-1.25; structural:
DokuWiki's renamed and both apps' extra-step, each followed by a run on the unchanged app), judged from the apps' own state.
--verbose prints every run's progress and log lines (where a drifted run diverged, and why).
--keep keeps the runs' stores (one SQLite file per workflow and drift: their divergence screenshots).
--serve starts one app on loopback and prints the --route to reach it, until interrupted.
)";

int main(int argc, char** argv)
{
    std::string serve;
    realapps::Knobs knobs;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        const bool has_value = i + 1 < argc;
        if (a == "--help" || a == "-h") {
            std::fputs(kUsage, stdout);
            return 0;
        } else if (a == "--serve" && has_value)
            serve = argv[++i];
        else if (a == "--lang" && has_value)
            knobs.lang = argv[++i];
        else if (a == "--theme" && has_value)
            knobs.theme = argv[++i];
        else if (a == "--structure" && has_value)
            knobs.structure = argv[++i];
        else if (a == "--notice" || a == "--baseline-only" || a == "--verbose" || a == "--keep")
            continue;
        else if ((a == "--app" || a == "--workflow" || a == "--drift" || a == "--inputs" || a == "--json") && has_value)
            ++i;
        else {
            std::fprintf(stderr, "realapp_bench: unknown or incomplete option '%s'\n%s", a.c_str(), kUsage);
            return 2;
        }
    }
    for (int i = 1; i < argc; ++i)
        knobs.notice = knobs.notice || std::strcmp(argv[i], "--notice") == 0;
    const fs::path dir = fs::temp_directory_path() / ("rote-realapp-bench-" + std::to_string(::getpid()));
    if (!serve.empty()) {
        auto app = serve == "redmine" ? realapps::start_redmine(dir / serve, knobs) : realapps::start_dokuwiki(dir / serve, knobs);
        if (!app.ok()) {
            std::fprintf(stderr, "realapp_bench: %s\n", app.error().message().c_str());
            return 1;
        }
        std::printf("%s (%s) on %s: --route %s=%s\n", (*app)->name().c_str(), knobs.name().c_str(),
            (*app)->dir().c_str(), (*app)->host().c_str(), (*app)->route().c_str());
        std::fflush(stdout);
        std::signal(SIGINT, [](int) { g_stop = 1; });
        std::signal(SIGTERM, [](int) { g_stop = 1; });
        while (!g_stop)
            ::pause();
        app->reset();
        fs::remove_all(dir);
        return 0;
    }

    std::string only_app, only_workflow, only_drift, json_file;
    int inputs_per_lookup = 100;
    bool with_drift = true, verbose = false;
    for (int i = 1; i < argc; ++i) {
        with_drift = with_drift && std::strcmp(argv[i], "--baseline-only") != 0;
        verbose = verbose || std::strcmp(argv[i], "--verbose") == 0;
    }
    for (int i = 1; i + 1 < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--app")
            only_app = argv[i + 1];
        else if (a == "--workflow")
            only_workflow = argv[i + 1];
        else if (a == "--drift")
            only_drift = argv[i + 1];
        else if (a == "--inputs")
            inputs_per_lookup = std::max(1, std::atoi(argv[i + 1]));
        else if (a == "--json")
            json_file = argv[i + 1];
    }
    if (!only_drift.empty()) {
        bool known = false;
        for (const char* app_name : {"dokuwiki", "redmine"}) {
            for (const auto& d : drifts(app_name))
                known = known || d.name == only_drift;
        }
        if (!known) {
            std::fprintf(stderr, "realapp_bench: no drift '%s'\n%s", only_drift.c_str(), kUsage);
            return 2;
        }
    }
    spdlog::set_level(verbose ? spdlog::level::info : spdlog::level::warn);
    fs::create_directories(dir);
    Bench bench;
    bench.dir = dir;
    const auto started = std::chrono::steady_clock::now();
    std::printf("realapp_bench: real apps from Debian packages on loopback, local sandbox, hints planner\n");
    for (const std::string app_name : {"dokuwiki", "redmine"}) {
        if (!only_app.empty() && only_app != app_name)
            continue;
        if (!realapps::installed(app_name))
            die(app_name + " is not installed (scripts/setup.sh --tests)");
        auto app = app_name == "redmine" ? realapps::start_redmine(dir / app_name) : realapps::start_dokuwiki(dir / app_name);
        if (!app.ok())
            die(app.error().message());
        realapps::App& a = **app;
        const auto& records = a.records();
        const realapps::Record* taught_with = nullptr;
        for (const auto& r : records) {
            if (r.key == teach_key(app_name))
                taught_with = &r;
        }
        for (const auto& task : realapps::tasks()) {
            if (task.app != app_name || (!only_workflow.empty() && only_workflow != task.workflow))
                continue;
            auto w = runtime::load_workflow(fs::path(ROTE_REALAPP_WORKFLOWS) / (task.workflow + ".yaml"));
            if (!w.ok())
                die(w.error().message());
            int n = 0;
            const fs::path base_db = dir / (task.workflow + "-baseline.db");
            {
                auto s = store::Store::open(base_db);
                if (!s.ok())
                    die(s.error().message());
                Cell taught {app_name, task.workflow, "taught"};
                if (auto r = a.reset({}); !r.ok())
                    die(r.error().message());
                bench.run(a, task, *w, **s, *taught_with, ++n, taught, true);
                bench.cells.push_back(taught);
                // Baseline replays: every other record for a read (near-duplicates among them), three for a write.
                Cell baseline {app_name, task.workflow, "baseline"};
                int count = 0;
                for (const auto& r : records) {
                    if (&r == taught_with || count >= (task.writes ? std::min(3, inputs_per_lookup) : inputs_per_lookup))
                        continue;
                    ++count;
                    if (task.writes)
                        (void)a.reset({});
                    bench.run(a, task, *w, **s, r, ++n, baseline, false);
                }
                bench.cells.push_back(baseline);
            }
            for (const auto& drift : with_drift ? drifts(app_name) : std::vector<Drift> {}) {
                if (!only_drift.empty() && drift.name != only_drift)
                    continue;
                const fs::path db = dir / (task.workflow + "-" + drift.name + ".db");
                fs::copy_file(base_db, db, fs::copy_options::overwrite_existing);
                auto s = store::Store::open(db);
                if (!s.ok())
                    die(s.error().message());
                runtime::Workflow drifted = *w;
                drifted.width = drift.width;
                drifted.height = drift.height;
                drifted.scale = drift.scale;
                Cell cell {app_name, task.workflow, drift.name};
                // The first drifted run with the taught input, the next with a near-duplicate's; after structural
                // drift, the unchanged app again with a third input.
                const realapps::Record* second = &records[0];
                for (const realapps::Record* r : {taught_with, second}) {
                    if (auto reset = a.reset(drift.knobs); !reset.ok())
                        die(reset.error().message());
                    bench.run(a, task, drifted, **s, *r, ++n, cell, false);
                }
                if (drift.structural) {
                    if (auto reset = a.reset({}); !reset.ok())
                        die(reset.error().message());
                    bench.run(a, task, *w, **s, records[1], ++n, cell, false);
                }
                bench.cells.push_back(cell);
            }
        }
    }

    std::printf("\n%-9s %-22s %-16s %5s %5s %8s %9s %7s %7s %7s\n", "app", "workflow", "drift", "runs", "ok",
        "planner", "outputs", "wrong", "WRONG", "clean");
    std::printf("%-9s %-22s %-16s %5s %5s %8s %9s %7s %7s %7s\n", "", "", "", "", "right", "1st/2nd", "right/wrg",
        "actions", "success", "fails");
    for (const Cell& c : bench.cells) {
        std::string planner = c.planner_calls.empty() ? "-" : std::to_string(c.planner_calls[0]);
        for (std::size_t i = 1; i < std::max<std::size_t>(2, c.planner_calls.size()); ++i)
            planner += "/" + (i < c.planner_calls.size() ? std::to_string(c.planner_calls[i]) : std::string("-"));
        std::printf("%-9s %-22s %-16s %5d %5d %8s %4d/%-4d %7d %7d %7d\n", c.app.c_str(), c.workflow.c_str(),
            c.drift.c_str(), c.runs, c.right, planner.c_str(), c.outputs_right, c.outputs_wrong, c.wrong_actions,
            c.wrong_successes, c.clean_failures);
    }
    std::printf("\nStructural drift: planner calls and diverged trace steps per run (drifted, drifted, unchanged app):\n");
    for (const Cell& c : bench.cells) {
        if (c.drift != "renamed" && c.drift != "extra-step")
            continue;
        std::printf("  %s %s %s:", c.app.c_str(), c.workflow.c_str(), c.drift.c_str());
        for (std::size_t i = 0; i < c.planner_calls.size(); ++i)
            std::printf(" %d calls at %d divergences;", c.planner_calls[i], c.diverged[i]);
        std::printf("\n");
    }
    std::printf("\nWhy runs failed, per cell (count x rote's reason):\n");
    for (const Cell& c : bench.cells) {
        for (const auto& [why, count] : c.reasons)
            std::printf("  %s %s %s: %dx %s\n", c.app.c_str(), c.workflow.c_str(), c.drift.c_str(), count, why.c_str());
    }
    int total = 0, right = 0, wrong_success = 0, wrong_actions = 0;
    for (const Cell& c : bench.cells) {
        total += c.runs;
        right += c.right;
        wrong_success += c.wrong_successes;
        wrong_actions += c.wrong_actions;
    }
    std::printf("\nTotal: %d runs, %d right, %d reported succeeded while wrong, %d wrong actions; %.0f s\n", total,
        right, wrong_success, wrong_actions,
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    std::printf("\nEvery wrong action and wrong output, with its evidence:\n");
    for (const auto& e : bench.evidence)
        std::printf("  %s\n", e.c_str());
    if (bench.evidence.empty())
        std::printf("  none\n");
    if (!json_file.empty())
        std::ofstream(json_file) << bench.runs.dump(2) << "\n";
    if (std::any_of(argv + 1, argv + argc, [](const char* a) { return std::strcmp(a, "--keep") == 0; }))
        std::printf("\nThe stores are kept in %s (rote --db FILE show --divergences RUN -o DIR)\n", dir.c_str());
    else
        fs::remove_all(dir);
    return 0;
}
