// scheduler_bench: what the scheduler's warm pool saves and what an idle scheduler costs, in real sandboxes
// on the demo registry (loopback only).
//   - a scheduled run's wall time from the warm pool vs a cold sandbox: registry-lookup replayed for the same
//     companies, cold and warm runs alternating, each warm run taking a sandbox the pool had ready (as a
//     scheduler's does between fires);
//   - the CPU an idle `rote scheduler` process uses with 20 schedules due in a year, without a pool and with
//     --pool 1 (its ready sandbox's processes counted too), over a minute each.
// Usage: scheduler_bench ROTE_BINARY [--runs N] (default 10 of each) [--idle-seconds S] (default 60)

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <rote/agent/agent.h>
#include <rote/session/pool.h>
#include <rote/store/store.h>

#include "runtime/support.h"

using namespace rote;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

[[noreturn]] void die(const std::string& why)
{
    std::fprintf(stderr, "scheduler_bench: %s\n", why.c_str());
    std::exit(1);
}

const char* kCompanies[] = {"Northwind Traders Ltd", "Globex Corporation Ltd", "Initech Software Ltd", "Hooli Cloud Ltd",
    "Wayne Foods Ltd"};

// CPU seconds (user + system) used so far by `root` and every process below it.
double tree_cpu_seconds(pid_t root)
{
    std::map<pid_t, pid_t> parent;
    std::map<pid_t, double> cpu;
    const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
    for (const auto& entry : fs::directory_iterator("/proc")) {
        const std::string name = entry.path().filename();
        if (name.find_first_not_of("0123456789") != std::string::npos)
            continue;
        std::ifstream stat(entry.path() / "stat");
        std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
        const auto close = text.rfind(')');
        if (close == std::string::npos)
            continue;
        std::istringstream rest(text.substr(close + 2));
        std::vector<std::string> fields;
        std::string f;
        while (rest >> f && fields.size() < 15)
            fields.push_back(f);
        if (fields.size() < 15)
            continue;
        const pid_t pid = std::stoi(name);
        parent[pid] = std::stoi(fields[1]); // ppid: field 4
        cpu[pid] = (std::stod(fields[11]) + std::stod(fields[12])) / tick; // utime, stime: fields 14, 15
    }
    double total = 0;
    for (const auto& [pid, seconds] : cpu) {
        for (pid_t p = pid; p > 1; p = parent.count(p) ? parent[p] : 0) {
            if (p == root) {
                total += seconds;
                break;
            }
        }
    }
    return total;
}

} // namespace

int main(int argc, char** argv)
{
    if (argc < 2)
        die("usage: scheduler_bench ROTE_BINARY [--runs N] [--idle-seconds S]");
    const std::string rote_binary = argv[1];
    int runs = 10;
    int idle_seconds = 60;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (std::strcmp(argv[i], "--runs") == 0)
            runs = std::atoi(argv[i + 1]);
        else if (std::strcmp(argv[i], "--idle-seconds") == 0)
            idle_seconds = std::atoi(argv[i + 1]);
    }
    const fs::path dir = fs::temp_directory_path() / ("rote-scheduler-bench-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    auto s = store::Store::open(dir / "rote.db");
    if (!s.ok())
        die(s.error().message());
    auto w = runtime::load_workflow(fs::path(ROTE_WORKFLOWS) / "registry-lookup.yaml");
    if (!w.ok())
        die(w.error().message());
    auto site = test::DemoSite::start("baseline");
    if (!site.ok())
        die(site.error().message());
    runtime::RunOptions options;
    options.routes["registry.example.test"] = site->registry_route();
    const auto run = [&](const char* company, runtime::SessionPool* pool) {
        auto o = options;
        o.pool = pool;
        auto inputs = runtime::check_inputs(*w, {{"company", company}});
        auto r = runtime::run_workflow(**s, *w, *inputs, o);
        if (!r.ok() || r->status != store::RunStatus::succeeded)
            die("a run failed: " + (r.ok() ? r->error : r.error().message()));
        return *r;
    };
    run("Acme Robotics Ltd", nullptr); // teaches the trace

    runtime::SessionPool pool(1);
    const auto spec = runtime::session_spec(*w, options);
    pool.warm(spec);
    std::vector<double> cold, warm, cold_sandbox, warm_sandbox;
    for (int i = 0; i < runs; ++i) {
        const char* company = kCompanies[i % 5];
        auto c = run(company, nullptr);
        cold.push_back(static_cast<double>(c.wall_ms));
        const auto deadline = std::chrono::steady_clock::now() + 60s;
        while (pool.ready() < 1 && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(50ms);
        if (pool.ready() < 1)
            die("the pool did not get a sandbox ready within 60 s");
        auto h = run(company, &pool);
        warm.push_back(static_cast<double>(h.wall_ms));
        std::printf("  run %2d: cold %5lld ms, warm %5lld ms\n", i + 1, static_cast<long long>(c.wall_ms),
            static_cast<long long>(h.wall_ms));
        std::fflush(stdout);
    }
    const double mc = median(cold), mw = median(warm);
    std::printf("replay wall time of a scheduled run (registry-lookup, %d each, alternating):\n", runs);
    std::printf("  cold sandbox  median %6.0f ms (min %.0f, max %.0f)\n", mc, *std::min_element(cold.begin(), cold.end()),
        *std::max_element(cold.begin(), cold.end()));
    std::printf("  warm pool     median %6.0f ms (min %.0f, max %.0f)\n", mw, *std::min_element(warm.begin(), warm.end()),
        *std::max_element(warm.begin(), warm.end()));
    std::printf("  warm / cold   %.2f\n", mw / mc);
    pool.drain();

    // An idle scheduler: 20 schedules due next year, nothing to run.
    const std::string db = (dir / "idle.db").string();
    for (int i = 0; i < 20; ++i) {
        const std::string cmd = "ROTE_HOME='" + (dir / "home").string() + "' " + rote_binary + " --db '" + db + "' schedule add idle-"
            + std::to_string(i) + " registry-lookup --cron '0 0 1 1 *' -i 'company=Acme Robotics Ltd' >/dev/null";
        if (std::system(cmd.c_str()) != 0)
            die("rote schedule add failed");
    }
    for (int pool_size : {0, 1}) {
        const pid_t pid = fork();
        if (pid == 0) {
            ::setenv("ROTE_HOME", (dir / "home").c_str(), 1);
            const std::string pool_arg = std::to_string(pool_size);
            const std::string route = "registry.example.test=" + site->registry_route();
            ::freopen("/dev/null", "w", stderr);
            ::execl(rote_binary.c_str(), rote_binary.c_str(), "--db", db.c_str(), "scheduler", "--pool", pool_arg.c_str(),
                "--route", route.c_str(), static_cast<char*>(nullptr));
            _exit(127);
        }
        std::this_thread::sleep_for(10s); // started, and its pool filled
        const double before = tree_cpu_seconds(pid);
        std::this_thread::sleep_for(std::chrono::seconds(idle_seconds));
        const double used = tree_cpu_seconds(pid) - before;
        ::kill(pid, SIGTERM);
        ::waitpid(pid, nullptr, 0);
        std::printf("idle scheduler, 20 schedules, --pool %d: %.2f CPU s in %d s = %.2f%% of a core\n", pool_size, used,
            idle_seconds, 100.0 * used / idle_seconds);
    }
    fs::remove_all(dir);
    return 0;
}
