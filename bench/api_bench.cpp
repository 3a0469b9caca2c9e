// api_bench: a workflow run by its proved API plan vs replayed through the GUI, on the demo sites, in one run.
//   - registry-lookup (reads) and crm-add-lead (writes: its plan proved with policy.api_check_writes, as on a test
//     system), each taught and replayed once through the GUI, its plan derived and proved;
//   - then N rounds, each one GUI replay (a fresh sandbox, the trace replayed) and one API run of the same
//     inputs, alternating so that the machine's noise falls on both: wall time of run_workflow, median of
//     each and the ratio per round.
// Usage: api_bench [--rounds N] (default 10). Sends traffic only to 127.0.0.1.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <rote/agent/agent.h>
#include <rote/agent/api_plans.h>
#include <spdlog/spdlog.h>
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

[[noreturn]] void die(const std::string& what)
{
    std::fprintf(stderr, "api_bench: %s\n", what.c_str());
    std::exit(1);
}

struct Timed {
    runtime::RunResult result;
    double ms = 0;
};

Timed timed_run(store::Store& s, const runtime::Workflow& w, const std::map<std::string, std::string>& given,
    runtime::RunOptions options, runtime::RunMode mode)
{
    options.mode = mode;
    auto inputs = runtime::check_inputs(w, given);
    if (!inputs.ok())
        die(inputs.error().message());
    const auto began = std::chrono::steady_clock::now();
    auto result = runtime::run_workflow(s, w, *inputs, options);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - began).count();
    if (!result.ok())
        die(result.error().message());
    if (result->status != store::RunStatus::succeeded)
        die(w.name + " failed: " + result->error);
    return {*result, ms};
}

void measure(store::Store& s, const runtime::Workflow& w, const std::vector<std::map<std::string, std::string>>& given,
    const runtime::RunOptions& options, int rounds)
{
    timed_run(s, w, given[0], options, runtime::RunMode::gui); // taught
    timed_run(s, w, given[1], options, runtime::RunMode::gui); // replayed: a second input to prove with
    runtime::DeriveOptions derive;
    derive.routes = options.routes;
    auto d = runtime::derive_plan(s, w, derive);
    if (!d.ok())
        die(d.error().message());
    if (d->standing != store::PlanStanding::proved)
        die(w.name + "'s plan is not proved: " + d->proof);
    std::printf("%s: plan %lld, %zu requests%s, proved (%s)\n", w.name.c_str(), static_cast<long long>(d->plan_id),
        d->plan.requests.size(), d->plan.writes() ? ", writes" : "", d->proof.c_str());
    std::vector<double> gui_ms, api_ms, ratios;
    std::printf("  round   GUI replay ms   API run ms   ratio\n");
    for (int r = 0; r < rounds; ++r) {
        const auto& inputs = given[2 + static_cast<std::size_t>(r) % (given.size() - 2)];
        auto gui = timed_run(s, w, inputs, options, runtime::RunMode::gui);
        auto api = timed_run(s, w, inputs, options, runtime::RunMode::api);
        if (api.result.mode != "api")
            die("the API run ran " + api.result.mode);
        if (w.name == "registry-lookup" && api.result.outputs != gui.result.outputs)
            die("the plan read other outputs than the GUI");
        gui_ms.push_back(gui.ms);
        api_ms.push_back(api.ms);
        ratios.push_back(gui.ms / api.ms);
        std::printf("  %5d   %13.1f   %10.2f   %5.0fx\n", r + 1, gui.ms, api.ms, gui.ms / api.ms);
    }
    std::printf("  median  %13.1f   %10.2f   %5.0fx (median of the rounds' ratios: %.0fx)\n", median(gui_ms),
        median(api_ms), median(gui_ms) / median(api_ms), median(ratios));
}

} // namespace

int main(int argc, char** argv)
{
    spdlog::set_level(spdlog::level::warn); // the proxy logs every request at info
    int rounds = 10;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = std::max(1, std::atoi(argv[++i]));
        else
            die(std::string("usage: api_bench [--rounds N]; not ") + argv[i]);
    }
    auto site = test::DemoSite::start("baseline");
    if (!site.ok())
        die("cannot start the demo sites: " + site.error().message());
    const fs::path dir = fs::temp_directory_path() / ("rote-api-bench-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    auto s = store::Store::open(dir / "rote.db");
    if (!s.ok())
        die(s.error().message());
    runtime::RunOptions options;
    options.routes["registry.example.test"] = site->registry_route();
    options.routes["crm.example.test"] = site->crm_route();

    auto registry = runtime::load_workflow(fs::path(ROTE_WORKFLOWS) / "registry-lookup.yaml");
    auto crm = runtime::load_workflow(fs::path(ROTE_WORKFLOWS) / "crm-add-lead.yaml");
    if (!registry.ok() || !crm.ok())
        die("cannot load the demo workflows");
    std::vector<std::map<std::string, std::string>> companies;
    for (const char* c : {"Acme Robotics Ltd", "Northwind Traders Ltd", "Globex Corporation Ltd", "Initech Software Ltd",
             "Hooli Cloud Ltd", "Wayne Foods Ltd", "Stark Logistics Ltd"})
        companies.push_back({{"company", c}});
    measure(**s, *registry, companies, options, rounds);

    crm->policy.api_check_writes = true; // the demo CRM is a test system
    ::setenv("ROTE_SECRET_CRM_PASSWORD", "demo-pass", 1);
    std::vector<std::map<std::string, std::string>> leads;
    for (int i = 0; i < 6; ++i) {
        const std::string n = std::to_string(i);
        leads.push_back({{"name", "Bench Lead " + n}, {"email", "bench" + n + "@example.test"},
            {"company", "Bench Co " + n}, {"crm_user", "demo"}, {"crm_password", "demo-pass"}});
    }
    measure(**s, *crm, leads, options, rounds);
    s->reset();
    fs::remove_all(dir);
    return 0;
}
