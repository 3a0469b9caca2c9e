// The scheduler in real time, as an operator runs it: the real rote binary, real sandboxes, the demo registry
// on loopback. Two schedulers share one store; a schedule of three companies fires every 30 seconds (cron's
// six-field form, so that the suite waits seconds, not minutes, for what a minute-long schedule does) and replays
// with no planner; both schedulers are killed with SIGKILL in the middle of a fire; `rote scheduler --once`
// then marks that fire and its run interrupted and runs the fire missed meanwhile, once.

#include <doctest/doctest.h>

#include <csignal>
#include <future>
#include <fstream>
#include <mutex>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <httplib.h>

#include "e2e/support.h"
#include "llm/standin.h"

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

TEST_CASE("a schedule fires on time under two schedulers, survives SIGKILL mid-fire, and catches up once")
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
    auto added = rote_cli(f.dir, db + " schedule add lookups registry-lookup --cron '*/30 * * * * *' --tz Europe/London --inputs '"
            + (f.dir / "companies.csv").string() + "' --json");
    REQUIRE_MESSAGE(added.rc == 0, added.err);
    CHECK(json::parse(added.out)["rows"].size() == 3);

    // One of them keeps a warm sandbox ready (--pool 1): its fires' runs take it instead of starting one.
    const pid_t a = start_rote(f.dir, db + " -v scheduler --pool 1 " + route, f.dir / "a.log");
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
    // Whichever scheduler ran it: with the pool, a run after the first of a fire finds a sandbox ready.
    const std::string a_log = read_file(f.dir / "a.log");
    if (a_log.find("started, 3 run(s)") != std::string::npos)
        CHECK_MESSAGE(a_log.find("in a warm sandbox") != std::string::npos, a_log);
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
    // No scheduler runs while the next fire comes due.
    const auto killed_at = store::parse_timestamp(killed.scheduled_at);
    REQUIRE(killed_at.ok());
    auto next_due = [&] {
        const auto fires_now = f.store->fires("lookups", 1);
        return fires_now.ok() && !fires_now->empty() ? fires_now->front().scheduled_at : std::string();
    };
    std::this_thread::sleep_for(2s);
    const auto killed_time = std::chrono::system_clock::now();
    const auto next_fire = std::chrono::floor<std::chrono::duration<long, std::ratio<30>>>(killed_time) + 30s;
    std::this_thread::sleep_until(next_fire + 2s);
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
    auto cli_report = rote_cli(f.dir, db + " report --json");
    REQUIRE(cli_report.rc == 0);
    const auto schedules = json::parse(cli_report.out)["schedules"];
    REQUIRE(schedules.size() == 1);
    CHECK(schedules[0]["schedule"] == "lookups");
    CHECK(schedules[0]["fires"]["succeeded"] == 2);
    CHECK(schedules[0]["fires"]["interrupted"] == 1);
    CHECK(schedules[0]["runs"] == static_cast<int>(3 + killed_after->runs.size() + 3));
    CHECK(schedules[0]["llm_calls"] == 0);
    CHECK(schedules[0]["days"].size() >= 1);
    auto text_report = rote_cli(f.dir, db + " report");
    CHECK(text_report.out.find("Schedules") != std::string::npos);
}

namespace {

// A webhook receiver on loopback that keeps what it was sent.
struct Receiver {
    struct Request {
        std::string event, timestamp, signature, body;
    };
    httplib::Server server;
    std::thread thread;
    int port = 0;
    std::mutex mutex;
    std::vector<Request> requests;

    Receiver()
    {
        server.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
            std::lock_guard lock(mutex);
            requests.push_back({req.get_header_value("X-Rote-Event"), req.get_header_value("X-Rote-Timestamp"),
                req.get_header_value("X-Rote-Signature"), req.body});
            res.status = 204;
        });
        port = server.bind_to_any_port("127.0.0.1");
        thread = std::thread([this] { server.listen_after_bind(); });
    }
    ~Receiver()
    {
        server.stop();
        thread.join();
    }
    std::vector<Request> seen()
    {
        std::lock_guard lock(mutex);
        return requests;
    }
};

// HMAC-SHA256 of `message` under `key` by the openssl command, an implementation that is not rote's.
std::string openssl_hmac(const std::filesystem::path& dir, const std::string& key, const std::string& message)
{
    const auto file = dir / "signed.txt";
    std::ofstream(file, std::ios::binary) << message;
    auto shell = test::run_shell("openssl dgst -sha256 -hmac '" + key + "' -r < '" + file.string() + "'");
    REQUIRE(shell.status == 0);
    return "sha256=" + shell.out.substr(0, shell.out.find(' '));
}

std::string trimmed(std::string text)
{
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
        text.pop_back();
    return text;
}

} // namespace

TEST_CASE("alerts: a signed webhook for a fire that needed the planner (banner) and one for a failed fire (removed); a "
          "spent model budget fails the row that needs the model without calling it")
{
    Fixture banner_store;
    Fixture removed_store;
    auto baseline = test::DemoSite::start("baseline");
    auto banner = test::DemoSite::start("banner");
    auto removed = test::DemoSite::start("removed");
    REQUIRE(baseline.ok());
    REQUIRE(banner.ok());
    REQUIRE(removed.ok());
    Receiver receiver;
    REQUIRE(receiver.port > 0);
    const std::string hook = "http://127.0.0.1:" + std::to_string(receiver.port) + "/hook";
    const auto db = [](const Fixture& f) { return "--db '" + f.db().string() + "'"; };

    // Taught once on the baseline site; the other store gets the same trace by export and import.
    auto taught = rote_cli(banner_store.dir, db(banner_store) + " run registry-lookup -i 'company=Acme Robotics Ltd' --json --route registry.example.test=" + baseline->registry_route());
    REQUIRE_MESSAGE(taught.rc == 0, taught.err);
    const auto trace = json::parse(taught.out)["runs"][0]["new_trace_id"].get<std::int64_t>();
    const auto exported = banner_store.dir / "trace.json";
    REQUIRE(rote_cli(banner_store.dir, db(banner_store) + " export " + std::to_string(trace) + " -o '" + exported.string() + "'").rc == 0);
    REQUIRE(rote_cli(removed_store.dir, db(removed_store) + " import '" + exported.string() + "'").rc == 0);

    const auto command_out = removed_store.dir / "alert-command.json";
    REQUIRE(rote_cli(banner_store.dir, db(banner_store) + " schedule add banner-watch registry-lookup --cron '*/10 * * * * *' "
                                          "-i 'company=Northwind Traders Ltd' --alert-webhook " + hook).rc == 0);
    // Beside removed-watch, the same on the model with no model calls left for the day: the removed page needs
    // one (it runs first: schedules are fired in the order of their names).
    REQUIRE(rote_cli(removed_store.dir, db(removed_store) + " schedule add budget-watch registry-lookup --cron '*/10 * * * * *' "
                                          "-i 'company=Globex Corporation Ltd' --planner llm --budget-calls 0 --alert-webhook " + hook).rc == 0);
    const std::string model_key = "sk-ant-scheduler-e2e-77c1";
    auto model = test::StandIn::start(model_key, {});
    REQUIRE(model);
    REQUIRE(rote_cli(removed_store.dir, db(removed_store) + " schedule add removed-watch registry-lookup --cron '*/10 * * * * *' "
                                           "-i 'company=Northwind Traders Ltd' --pause-after 1 --alert-webhook " + hook
                         + " --alert-command 'cat >> " + command_out.string() + " && echo >> " + command_out.string() + "'").rc == 0);

    // All fire at the next 10 seconds, each store's `rote scheduler --once` beside the other's.
    const auto due = std::chrono::floor<std::chrono::duration<long, std::ratio<10>>>(std::chrono::system_clock::now()) + 10s;
    std::this_thread::sleep_until(due + 1s);
    auto banner_once = std::async(std::launch::async, [&] {
        return rote_cli(banner_store.dir, db(banner_store) + " scheduler --once --route registry.example.test=" + banner->registry_route());
    });
    auto removed_once = rote_cli(removed_store.dir, db(removed_store) + " scheduler --once --route registry.example.test=" + removed->registry_route(),
        {{"ANTHROPIC_API_KEY", model_key}, {"ROTE_LLM_BASE_URL", model->base_url()}});
    const auto banner_run = banner_once.get();
    CHECK_MESSAGE(banner_run.rc == 0, banner_run.err);
    CHECK_MESSAGE(removed_once.rc == 1, removed_once.err); // a fire failed

    const auto seen = receiver.seen();
    const auto find = [&](const std::string& schedule, const std::string& event) -> std::optional<Receiver::Request> {
        for (const auto& r : seen) {
            if (r.event == event && json::parse(r.body)["schedule"] == schedule)
                return r;
        }
        return std::nullopt;
    };
    const auto planner = find("banner-watch", "fire.planner");
    REQUIRE_MESSAGE(planner, banner_run.err);
    const auto failed = find("removed-watch", "fire.failed");
    REQUIRE_MESSAGE(failed, removed_once.err);
    CHECK_FALSE(find("banner-watch", "fire.failed"));
    const auto budget = find("budget-watch", "budget.spent");
    REQUIRE_MESSAGE(budget, removed_once.err);
    CHECK(find("budget-watch", "fire.failed"));
    const auto budget_doc = json::parse(budget->body);
    CHECK(budget_doc["runs"][0]["status"] == "failed");
    CHECK_MESSAGE(budget_doc["runs"][0]["error"].get<std::string>().find("budget spent: schedule budget-watch's model budget") != std::string::npos,
        budget_doc.dump());
    CHECK(budget_doc["runs"][0]["planner_calls"] == 0);
    CHECK(model->requests().empty()); // the model was never called

    // Each is signed with its scheduler's key over "timestamp.body", as the openssl command computes it.
    const std::string banner_key = trimmed(read_file(banner_store.dir / "home" / "alert.key"));
    const std::string removed_key = trimmed(read_file(removed_store.dir / "home" / "alert.key"));
    REQUIRE(banner_key.size() == 64);
    CHECK(planner->signature == openssl_hmac(banner_store.dir, banner_key, planner->timestamp + "." + planner->body));
    CHECK(failed->signature == openssl_hmac(removed_store.dir, removed_key, failed->timestamp + "." + failed->body));
    CHECK(failed->signature != openssl_hmac(removed_store.dir, banner_key, failed->timestamp + "." + failed->body));

    const auto planner_doc = json::parse(planner->body);
    CHECK(planner_doc["fire"]["status"] == "succeeded");
    REQUIRE(planner_doc["runs"].size() == 1);
    CHECK(planner_doc["runs"][0]["planned"].get<int>() > 0);
    CHECK(planner_doc["runs"][0]["divergences"].size() >= 1);
    const auto failed_doc = json::parse(failed->body);
    CHECK(failed_doc["fire"]["status"] == "failed");
    CHECK(failed_doc["runs"][0]["status"] == "failed");
    CHECK_FALSE(failed_doc["runs"][0]["error"].get<std::string>().empty());
    CHECK(failed_doc["workflow"] == "registry-lookup");

    // The command got the same documents on its stdin, one per event; the failing schedule paused itself
    // (--pause-after 1).
    std::istringstream lines(read_file(command_out));
    std::string line;
    std::vector<std::string> events;
    while (std::getline(lines, line)) {
        const auto doc = json::parse(line);
        events.push_back(doc["event"]);
        if (doc["event"] == "fire.failed")
            CHECK(doc == failed_doc);
    }
    CHECK(std::find(events.begin(), events.end(), "fire.failed") != events.end());
    auto show = rote_cli(removed_store.dir, db(removed_store) + " schedule show removed-watch --json");
    REQUIRE(show.rc == 0);
    CHECK(json::parse(show.out)["paused"] == true);
}

TEST_CASE("overlap skip: a fire due while a long fire runs is skipped; SIGTERM drains, a second cancels")
{
    Fixture f;
    auto site = test::DemoSite::start("baseline");
    auto slow = test::DemoSite::start("slow", {"--slow-ms", "25000"}); // every answer 25 s late: a row takes > 25 s
    REQUIRE(site.ok());
    REQUIRE(slow.ok());
    const std::string db = "--db '" + f.db().string() + "'";
    auto taught = rote_cli(f.dir, db + " run registry-lookup -i 'company=Acme Robotics Ltd' --route registry.example.test=" + site->registry_route());
    REQUIRE_MESSAGE(taught.rc == 0, taught.err);
    {
        std::ofstream csv(f.dir / "companies.csv");
        csv << "company\nNorthwind Traders Ltd\nGlobex Corporation Ltd\nInitech Software Ltd\n";
    }
    REQUIRE(rote_cli(f.dir, db + " schedule add lookups registry-lookup --cron '*/20 * * * * *' --overlap skip --inputs '"
                            + (f.dir / "companies.csv").string() + "'").rc == 0);
    const pid_t sched = start_rote(f.dir, db + " scheduler --route registry.example.test=" + slow->registry_route(), f.dir / "s.log");

    // The first fire runs past the next one's time (20 s later): that fire is recorded skipped, not started.
    auto fires = wait_fires(*f.store, [](const auto& fs) { return fs.size() >= 2; }, 150s);
    REQUIRE_MESSAGE(fires.size() >= 2, read_file(f.dir / "s.log"));
    CHECK(fires.front().status == store::FireStatus::skipped);
    CHECK(fires.front().detail.find("still running (overlap: skip)") != std::string::npos);
    CHECK(fires.back().status == store::FireStatus::running);
    const auto long_fire = fires.back().id;

    // SIGTERM drains (the running run goes on); a second SIGTERM cancels it, and the scheduler exits.
    ::kill(sched, SIGTERM);
    std::this_thread::sleep_for(1s);
    int status = 0;
    CHECK(waitpid(sched, &status, WNOHANG) == 0); // still draining
    ::kill(sched, SIGTERM);
    REQUIRE(waitpid(sched, &status, 0) == sched);
    CHECK(WIFEXITED(status));
    const std::string log = read_file(f.dir / "s.log");
    CHECK_MESSAGE(log.find("draining: no new fire or run starts") != std::string::npos, log);
    CHECK(log.find("stopping: running runs are cancelled") != std::string::npos);
    fires = *f.store->fires("lookups", 100);
    const auto ended = std::find_if(fires.begin(), fires.end(), [&](const auto& x) { return x.id == long_fire; });
    REQUIRE(ended != fires.end());
    CHECK_MESSAGE(ended->status == store::FireStatus::interrupted, ended->detail);
    int cancelled = 0;
    for (auto run : ended->runs)
        cancelled += run_status(*f.store, run) == "cancelled";
    CHECK(cancelled == 1);
    for (const auto& fire : fires)
        CHECK(fire.status != store::FireStatus::running);
}
