// replay_bench: what replay costs and saves on the demo registry, in real sandboxes.
//   - per replayed step: rote's own checks (finding the target, judging the effect) vs the action with the
//     page settling after it;
//   - wall time of a replayed run vs the taught run (step hints: no model latency in either);
//   - planner calls per site variant, on the first run after the change and on the run after that.
// Usage: replay_bench [--runs N] (replays of the baseline, default 5) [--document-quiet MS] (the quiet period
// once the document has loaded; 300 is the pixel-only one). Sends traffic only to 127.0.0.1.

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <rote/agent/agent.h>
#include <rote/store/store.h>

#include "runtime/support.h"

using namespace rote;
namespace fs = std::filesystem;

namespace {

double median(std::vector<double> v)
{
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

const char* kCompanies[] = {"Northwind Traders Ltd", "Globex Corporation Ltd", "Initech Software Ltd",
    "Hooli Cloud Ltd", "Wayne Foods Ltd", "Stark Logistics Ltd", "Umbrella Analytics plc", "Soylent Nutrition Ltd"};

// How long the screen must stay still once the document has loaded (RunOptions::document_quiet); set by
// --document-quiet to compare with the pixel-only quiet period.
std::chrono::milliseconds g_document_quiet = runtime::RunOptions().document_quiet;

runtime::RunResult run_once(store::Store& s, const runtime::Workflow& w, const std::string& company,
    const std::string& variant, bool teach = false)
{
    auto site = test::DemoSite::start(variant);
    if (!site.ok()) {
        std::fprintf(stderr, "replay_bench: cannot start the demo site: %s\n", site.error().message().c_str());
        std::exit(1);
    }
    runtime::RunOptions options;
    options.teach = teach;
    options.document_quiet = g_document_quiet;
    options.routes["registry.example.test"] = site->registry_route();
    auto inputs = runtime::check_inputs(w, {{"company", company}});
    auto result = runtime::run_workflow(s, w, *inputs, options);
    if (!result.ok()) {
        std::fprintf(stderr, "replay_bench: %s\n", result.error().message().c_str());
        std::exit(1);
    }
    return *result;
}

} // namespace

int main(int argc, char** argv)
{
    int runs = 5;
    const char* usage = "usage: replay_bench [--runs N] [--document-quiet MS]\n"
                        "  --runs N              replays of the baseline (default 5)\n"
                        "  --document-quiet MS   quiet period once the document has loaded (default 100; 300 is the\n"
                        "                        pixel-only one, for comparison)\n";
    for (int i = 1; i < argc; ++i) {
        const bool has_value = i + 1 < argc;
        if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
            std::printf("%s", usage);
            return 0;
        } else if (std::strcmp(argv[i], "--runs") == 0 && has_value) {
            runs = std::max(1, std::atoi(argv[++i]));
        } else if (std::strcmp(argv[i], "--document-quiet") == 0 && has_value) {
            g_document_quiet = std::chrono::milliseconds(std::max(1, std::atoi(argv[++i])));
        } else {
            std::fprintf(stderr, "replay_bench: unknown or incomplete option '%s'\n%s", argv[i], usage);
            return 2;
        }
    }
    auto w = runtime::load_workflow(std::string(ROTE_WORKFLOWS) + "/registry-lookup.yaml");
    if (!w.ok()) {
        std::fprintf(stderr, "replay_bench: %s\n", w.error().message().c_str());
        return 1;
    }
    const fs::path dir = fs::temp_directory_path() / ("rote-replay-bench-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const fs::path taught_db = dir / "taught.db";
    std::printf("replay_bench: registry-lookup on the demo registry, local sandbox, 1280x800, hints planner, "
                "quiet %lld ms once the document has loaded\n", static_cast<long long>(g_document_quiet.count()));

    double taught_s = 0;
    std::vector<double> replay_s, work_s, check_ms, settle_ms;
    double taught_work_s = 0;
    {
        auto s = store::Store::open(taught_db);
        auto taught = run_once(**s, *w, "Acme Robotics Ltd", "baseline", true);
        if (taught.status != store::RunStatus::succeeded) {
            std::fprintf(stderr, "replay_bench: teaching failed: %s\n", taught.error.c_str());
            return 1;
        }
        taught_s = taught.wall_ms / 1000.0;
        taught_work_s = taught.work_ms / 1000.0;
        for (int r = 0; r < runs; ++r) {
            auto replayed = run_once(**s, *w, kCompanies[r % std::size(kCompanies)], "baseline");
            replay_s.push_back(replayed.wall_ms / 1000.0);
            work_s.push_back(replayed.work_ms / 1000.0);
            for (const auto& t : replayed.timings) {
                check_ms.push_back(t.check_us / 1000.0);
                settle_ms.push_back(t.act_and_settle_us / 1000.0);
            }
        }
    }
    std::printf("\n%-44s %10s\n", "", "median");
    std::printf("%-44s %8.1f s   (1 run)\n", "taught run, wall (step hints)", taught_s);
    std::printf("%-44s %8.1f s   (%d runs)  ratio %.2f\n", "replayed run, wall", median(replay_s), runs,
        median(replay_s) / taught_s);
    std::printf("%-44s %8.2f s   (1 run)\n", "taught: first page to outputs", taught_work_s);
    std::printf("%-44s %8.2f s   (%d runs)  ratio %.2f\n", "replayed: first page to outputs", median(work_s), runs,
        taught_work_s > 0 ? median(work_s) / taught_work_s : 0.0);
    std::printf("%-44s %8.1f ms  (%zu steps; max %.0f ms)\n", "per step: rote's checks (locate + effect)",
        median(check_ms), check_ms.size(), check_ms.empty() ? 0.0 : *std::max_element(check_ms.begin(), check_ms.end()));
    std::printf("%-44s %8.1f ms\n", "per step: action + page settling", median(settle_ms));
    std::printf("%-44s %8.2f\n", "checks / (action + settling), medians", median(check_ms) / median(settle_ms));

    std::printf("\n%-12s %-10s %14s %14s %10s\n", "variant", "first run", "planner calls", "then (repaired)", "wall");
    int c = 0;
    for (const char* variant : {"moved", "restyled", "dynamic", "slow", "banner", "renamed", "extra-step", "removed"}) {
        const fs::path db = dir / (std::string(variant) + ".db");
        fs::copy_file(taught_db, db, fs::copy_options::overwrite_existing);
        auto s = store::Store::open(db);
        auto first = run_once(**s, *w, kCompanies[c++ % std::size(kCompanies)], variant);
        std::string then = "-";
        if (first.status == store::RunStatus::succeeded) {
            auto second = run_once(**s, *w, kCompanies[c++ % std::size(kCompanies)], variant);
            then = second.status == store::RunStatus::succeeded ? std::to_string(second.planner_calls) : "failed";
        }
        std::printf("%-12s %-10s %14d %14s %8.1f s\n", variant, std::string(store::to_string(first.status)).c_str(),
            first.planner_calls, then.c_str(), first.wall_ms / 1000.0);
    }
    fs::remove_all(dir);
    return 0;
}
