// The scheduler in real time, as an operator runs it: the real rote binary, real sandboxes, the demo registry
// on loopback. Two schedulers share one store; a schedule of three companies fires every minute and replays
// with no planner; both schedulers are killed with SIGKILL in the middle of a fire; `rote scheduler --once`
// then marks that fire and its run interrupted and runs the fire missed meanwhile, once.

#include <doctest/doctest.h>

#include <csignal>
#include <fstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "e2e/support.h"

using namespace rote;
using namespace rote::e2e;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// `rote ARGS` in the background, its stderr in `log`; its pid.
pid_t start_rote(const std::filesystem::path& dir, const std::string& args, const std::filesystem::path& log)
{
    const std::string cmd = "ROTE_HOME='" + (dir / "home").string() + "' exec " ROTE_BINARY " " + args + " </dev/null >/dev/null 2>'"
        + log.string() + "'";
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    return pid;
}

std::string read_file(const std::filesystem::path& path)
{
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Polls the schedule's fires until `done` says so or `timeout` passes; the fires last seen.
std::vector<store::Fire> wait_fires(store::Store& s, const std::function<bool(const std::vector<store::Fire>&)>& done,
    std::chrono::seconds timeout)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::vector<store::Fire> fires;
    while (std::chrono::steady_clock::now() < deadline) {
        auto got = s.fires("lookups", 100);
        REQUIRE(got.ok());
        fires = *got;
        if (done(fires))
            break;
        std::this_thread::sleep_for(500ms);
    }
    return fires;
}

std::string run_status(store::Store& s, std::int64_t run_id)
{
    auto report = s.report({});
    REQUIRE(report.ok());
    for (const auto& r : report->runs) {
        if (r.id == run_id)
            return std::string(store::to_string(r.status));
    }
    return "absent";
}

} // namespace

TEST_CASE("a schedule fires on the minute under two schedulers, survives SIGKILL mid-fire, and catches up once")
{
    Fixture f;
    auto site = test::DemoSite::start("baseline");
    REQUIRE(site.ok());
    const std::string route = "--route registry.example.test=" + site->registry_route();
    const std::string db = "--db '" + f.db().string() + "'";
    auto taught = rote_cli(f.dir, db + " run registry-lookup -i 'company=Acme Robotics Ltd' " + route);
    REQUIRE_MESSAGE(taught.rc == 0, taught.err);
    {
        std::ofstream csv(f.dir / "companies.csv");
        csv << "company\nNorthwind Traders Ltd\nGlobex Corporation Ltd\nInitech Software Ltd\n";
    }
    auto added = rote_cli(f.dir, db + " schedule add lookups registry-lookup --cron '* * * * *' --tz Europe/London --inputs '"
            + (f.dir / "companies.csv").string() + "' --json");
    REQUIRE_MESSAGE(added.rc == 0, added.err);
    CHECK(json::parse(added.out)["rows"].size() == 3);

    const pid_t a = start_rote(f.dir, db + " -v scheduler " + route, f.dir / "a.log");
    const pid_t b = start_rote(f.dir, db + " -v scheduler " + route, f.dir / "b.log");
    const auto logs = [&] { return "scheduler a:\n" + read_file(f.dir / "a.log") + "\nscheduler b:\n" + read_file(f.dir / "b.log"); };

    // The first fire: three replays, no planner, each fire started by one scheduler only.
    auto fires = wait_fires(*f.store, [](const auto& fs) {
        return !fs.empty() && fs.back().status != store::FireStatus::running;
    }, 200s);
    REQUIRE_MESSAGE(!fires.empty(), logs());
    const store::Fire first = fires.back();
    CHECK_MESSAGE(first.status == store::FireStatus::succeeded, first.detail << "\n" << logs());
    REQUIRE(first.runs.size() == 3);
    for (auto run : first.runs) {
        CHECK(run_status(*f.store, run) == "succeeded");
        CHECK(stored_steps(f.db(), run, "planned") == 0);
        CHECK(stored_steps(f.db(), run, "replayed") > 0);
    }

    // The second fire, killed in its first run: both schedulers die with SIGKILL.
    fires = wait_fires(*f.store, [&](const auto& fs) {
        return fs.size() >= 2 && fs.front().status == store::FireStatus::running && !fs.front().runs.empty();
    }, 120s);
    REQUIRE_MESSAGE(fires.size() >= 2, logs());
    const store::Fire killed = fires.front();
    REQUIRE(killed.status == store::FireStatus::running);
    std::this_thread::sleep_for(1s);
    for (pid_t p : {a, b}) {
        ::kill(p, SIGKILL);
        int status = 0;
        REQUIRE(waitpid(p, &status, 0) == p);
    }
    // No scheduler runs while the next minute's fire comes due.
    const auto killed_at = store::parse_timestamp(killed.scheduled_at);
    REQUIRE(killed_at.ok());
    auto next_due = [&] {
        const auto fires_now = f.store->fires("lookups", 1);
        return fires_now.ok() && !fires_now->empty() ? fires_now->front().scheduled_at : std::string();
    };
    std::this_thread::sleep_for(2s);
    const auto killed_time = std::chrono::system_clock::now();
    const auto minute = std::chrono::floor<std::chrono::minutes>(killed_time) + std::chrono::minutes(1);
    std::this_thread::sleep_until(minute + 2s);
    CHECK(next_due() == killed.scheduled_at); // nothing fired meanwhile

    auto once = rote_cli(f.dir, db + " scheduler --once " + route);
    CHECK_MESSAGE(once.rc == 0, once.err);
    fires = *f.store->fires("lookups", 100);
    std::map<std::string, int> per_time;
    for (const auto& fire : fires)
        per_time[fire.scheduled_at] += 1;
    for (const auto& [time, n] : per_time)
        CHECK_MESSAGE(n == 1, time);
    const auto killed_after = std::find_if(fires.begin(), fires.end(), [&](const auto& x) { return x.id == killed.id; });
    REQUIRE(killed_after != fires.end());
    CHECK(killed_after->status == store::FireStatus::interrupted);
    CHECK_MESSAGE(killed_after->detail.find("went away without finishing it") != std::string::npos, killed_after->detail);
    int interrupted_runs = 0;
    for (auto run : killed_after->runs)
        interrupted_runs += run_status(*f.store, run) == "interrupted";
    CHECK(interrupted_runs == 1);
    // After it: exactly one fire ran (the newest due), any other due one was superseded, none missed.
    int ran = 0;
    for (const auto& fire : fires) {
        if (fire.scheduled_at <= killed.scheduled_at)
            continue;
        if (fire.status == store::FireStatus::skipped) {
            CHECK(fire.detail.find("superseded") != std::string::npos);
            continue;
        }
        ++ran;
        CHECK_MESSAGE(fire.status == store::FireStatus::succeeded, fire.detail << "\n" << once.err);
        CHECK(fire.runs.size() == 3);
    }
    CHECK(ran == 1);
    CHECK(once.err.find("started, 3 run(s) of registry-lookup") != std::string::npos);

    // Every fire and run is in the CLI's history and the report.
    auto history = rote_cli(f.dir, db + " schedule runs lookups --json");
    REQUIRE(history.rc == 0);
    CHECK(json::parse(history.out)["fires"].size() == fires.size());
    auto report = f.store->report({});
    REQUIRE(report.ok());
    CHECK(report->total.runs == static_cast<int>(1 + 3 + killed_after->runs.size() + 3));
}
