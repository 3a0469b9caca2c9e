// The scheduler's decisions and its ticks against a real store file: fires missed, superseded, skipped for
// overlap, waiting, claimed once by two schedulers, and a schedule paused after failures. The fires here fail
// at once (their workflow is not found), so no sandbox starts; the runs themselves are the e2e test's.
#include <doctest/doctest.h>

#include <condition_variable>
#include <fstream>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include <rote/scheduler/scheduler.h>

#include "store/store_fixture.h"

using namespace rote;
using namespace rote::scheduler;
using fixture::TempDir;
using std::chrono::sys_seconds;
using Kind = FireDecision::Kind;

namespace {

sys_seconds at(const char* iso) { return parse_iso_utc(iso).value(); }

store::Schedule every_minute(const char* name = "every-minute")
{
    store::Schedule s;
    s.name = name;
    s.workflow = "registry-lookup";
    s.cron = "* * * * *";
    s.catchup_seconds = 120;
    s.pause_after = 2;
    s.from = "2026-12-07T09:00:30Z";
    return s;
}

std::vector<FireDecision> decide(const store::Schedule& s, const char* last, const char* now, int running = 0,
    bool slot_free = true)
{
    auto cron = parse_cron(s.cron).value();
    auto zone = Zone::find(s.zone).value();
    return decide_fires(cron, zone, s, at(last), at(now), running, slot_free);
}

struct Counts {
    int missed = 0, skipped = 0, start = 0, wait = 0;
};
Counts count(const std::vector<FireDecision>& ds)
{
    Counts c;
    for (const auto& d : ds)
        (d.kind == Kind::missed ? c.missed : d.kind == Kind::skipped ? c.skipped : d.kind == Kind::start ? c.start : c.wait) += 1;
    return c;
}

SchedulerOptions options_for(const TempDir& dir)
{
    SchedulerOptions o;
    o.store_path = dir / "rote.db";
    o.find_workflow = [](const std::string& name) -> Result<runtime::Workflow> {
        return Error(Error::Code::not_found, "no workflow file " + name + " here");
    };
    return o;
}

std::unique_ptr<store::Store> store_with(const TempDir& dir, const store::Schedule& s)
{
    auto opened = store::Store::open(dir / "rote.db");
    REQUIRE(opened.ok());
    REQUIRE((*opened)->put_workflow({"registry-lookup", "", ""}).ok());
    REQUIRE((*opened)->add_schedule(s).ok());
    return std::move(*opened);
}

} // namespace

TEST_CASE("decisions: the due fire starts; older ones within the window are superseded, beyond it missed")
{
    const auto s = every_minute();
    auto one = decide(s, "2026-12-07T09:00:30Z", "2026-12-07T09:01:00Z");
    REQUIRE(one.size() == 1);
    CHECK(one[0].kind == Kind::start);
    CHECK(iso_utc(one[0].at) == "2026-12-07T09:01:00Z");
    CHECK(decide(s, "2026-12-07T09:01:00Z", "2026-12-07T09:01:59Z").empty());

    // Down from 09:01 to 09:10:05 with a 120 s window (from 09:08:05): 09:02-09:08 missed, 09:09 superseded by
    // 09:10, which starts.
    auto down = decide(s, "2026-12-07T09:01:00Z", "2026-12-07T09:10:05Z");
    const auto c = count(down);
    CHECK(c.missed == 7);
    CHECK(c.skipped == 1);
    CHECK(c.start == 1);
    CHECK(iso_utc(down.back().at) == "2026-12-07T09:10:00Z");
    CHECK(down.back().kind == Kind::start);
    CHECK(down.front().why.find("catch-up window (120 s)") != std::string::npos);

    // Overlap: skip records it skipped, buffer-one waits, allow starts; a full scheduler waits.
    CHECK(decide(s, "2026-12-07T09:00:30Z", "2026-12-07T09:01:00Z", 1).back().kind == Kind::skipped);
    auto buffered = every_minute();
    buffered.overlap = store::Overlap::buffer_one;
    CHECK(decide(buffered, "2026-12-07T09:00:30Z", "2026-12-07T09:01:00Z", 1).back().kind == Kind::wait);
    auto allowed = every_minute();
    allowed.overlap = store::Overlap::allow;
    CHECK(decide(allowed, "2026-12-07T09:00:30Z", "2026-12-07T09:01:00Z", 1).back().kind == Kind::start);
    CHECK(decide(allowed, "2026-12-07T09:00:30Z", "2026-12-07T09:01:00Z", 0, false).back().kind == Kind::wait);
}

TEST_CASE("ticks on a real store: a fire is claimed once by two schedulers; failures in a row pause the schedule")
{
    TempDir dir;
    auto s = store_with(dir, every_minute());
    Scheduler first(options_for(dir));
    Scheduler second(options_for(dir));
    auto a = first.tick(at("2026-12-07T09:01:10Z"));
    auto b = second.tick(at("2026-12-07T09:01:10Z"));
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    CHECK(a->started + b->started == 1);
    REQUIRE(a->next.has_value());
    CHECK(iso_utc(*a->next) == "2026-12-07T09:02:00Z");
    first.wait();
    second.wait();
    CHECK(first.failed() + second.failed() == 1);
    auto fires = s->fires("every-minute", 10);
    REQUIRE(fires.ok());
    REQUIRE(fires->size() == 1);
    CHECK((*fires)[0].status == store::FireStatus::failed);
    CHECK((*fires)[0].detail.find("workflow registry-lookup: no workflow file registry-lookup here") != std::string::npos);
    CHECK_FALSE(s->get_schedule("every-minute")->paused); // one failure; it pauses after two

    REQUIRE(first.tick(at("2026-12-07T09:02:10Z")).ok());
    first.wait();
    const auto paused = s->get_schedule("every-minute");
    REQUIRE(paused.ok());
    CHECK(paused->paused);
    CHECK(paused->paused_why.find("2 fires in a row failed") != std::string::npos);
    auto later = first.tick(at("2026-12-07T09:05:10Z"));
    REQUIRE(later.ok());
    CHECK(later->started == 0); // paused: nothing fires, nothing is recorded
    CHECK(s->fires("every-minute", 10)->size() == 2);
}

TEST_CASE("ticks: overlap skip records the fire skipped while another scheduler's fire of it runs")
{
    TempDir dir;
    auto s = store_with(dir, every_minute());
    const auto id = s->get_schedule("every-minute")->id;
    // A live process (this one, as another scheduler would) holds the 09:01 fire.
    REQUIRE(s->claim_fire(id, "2026-12-07T09:01:00Z", store::FireStatus::running, "").value().has_value());
    Scheduler sched(options_for(dir));
    auto t = sched.tick(at("2026-12-07T09:02:05Z"));
    REQUIRE(t.ok());
    CHECK(t->started == 0);
    CHECK(t->skipped == 1);
    auto fires = s->fires("every-minute", 10);
    REQUIRE(fires.ok());
    REQUIRE(fires->size() == 2);
    CHECK((*fires)[0].status == store::FireStatus::skipped);
    CHECK((*fires)[0].detail.find("still running (overlap: skip)") != std::string::npos);
}

TEST_CASE("ticks: a schedule whose expression no longer parses is paused with why; the others still fire")
{
    TempDir dir;
    auto s = store_with(dir, every_minute());
    auto broken = every_minute("broken");
    broken.zone = "Nowhere/Atlantis";
    REQUIRE(s->add_schedule(broken).ok());
    Scheduler sched(options_for(dir));
    auto t = sched.tick(at("2026-12-07T09:01:05Z"));
    REQUIRE(t.ok());
    CHECK(t->started == 1);
    sched.wait();
    auto b = s->get_schedule("broken");
    REQUIRE(b.ok());
    CHECK(b->paused);
    CHECK(b->paused_why.find("Nowhere/Atlantis") != std::string::npos);
}

TEST_CASE("ticks: the per-site limit makes a second fire on the same host wait; another host's fire starts")
{
    TempDir dir;
    auto s = store_with(dir, every_minute("a-registry"));
    REQUIRE(s->add_schedule(every_minute("b-registry")).ok());
    auto other = every_minute("c-crm");
    other.workflow = "crm-add-lead";
    REQUIRE(s->put_workflow({"crm-add-lead", "", ""}).ok());
    REQUIRE(s->add_schedule(other).ok());

    // The fires' own lookups (on their threads) wait until released, so the first fire holds its site.
    const auto ticking = std::this_thread::get_id();
    std::mutex mutex;
    std::condition_variable released_cv;
    bool released = false;
    auto options = options_for(dir);
    options.concurrency = 4;
    options.per_site = 1;
    options.find_workflow = [&](const std::string& name) -> Result<runtime::Workflow> {
        if (std::this_thread::get_id() != ticking) {
            std::unique_lock lock(mutex);
            released_cv.wait(lock, [&] { return released; });
            return Error(Error::Code::not_found, "released");
        }
        runtime::Workflow w;
        w.name = name;
        w.start_url = name == "crm-add-lead" ? "https://crm.example.test/leads" : "https://Registry.example.test:443/search";
        return w;
    };
    Scheduler sched(options);
    auto first = sched.tick(at("2026-12-07T09:01:10Z"));
    REQUIRE(first.ok());
    CHECK(first->started == 2); // a-registry and c-crm
    CHECK(first->waiting == 1); // b-registry: its site is busy
    CHECK(sched.running() == 2);
    {
        std::lock_guard lock(mutex);
        released = true;
    }
    released_cv.notify_all();
    sched.wait();
    auto second = sched.tick(at("2026-12-07T09:01:20Z"));
    REQUIRE(second.ok());
    CHECK(second->started == 1); // b-registry's 09:01 fire, still within its window
    sched.wait();
    auto b = s->fires("b-registry", 10);
    REQUIRE(b.ok());
    REQUIRE(b->size() == 1);
    CHECK((*b)[0].scheduled_at == "2026-12-07T09:01:00Z");
}

TEST_CASE("alerts: fires recorded missed are told once per tick to the schedule's command, signed docs aside")
{
    TempDir dir;
    auto schedule = every_minute();
    const auto out = dir / "alerts.jsonl";
    schedule.alert_command = "cat >> '" + out.string() + "' && echo >> '" + out.string() + "'";
    auto s = store_with(dir, schedule);
    AlertOptions alert_options;
    alert_options.key = "k";
    alert_options.backoff = std::chrono::milliseconds(10);
    Alerter alerts(alert_options);
    auto options = options_for(dir);
    options.alerts = &alerts;
    Scheduler sched(options);
    // Down from 09:00:30 to 09:10:05 with a 120 s window: 09:01-09:08 missed, 09:09 superseded, 09:10 runs.
    auto t = sched.tick(at("2026-12-07T09:10:05Z"));
    REQUIRE(t.ok());
    CHECK(t->missed == 8);
    sched.wait();
    alerts.flush(std::chrono::seconds(10));
    std::ifstream in(out);
    std::string line;
    std::vector<nlohmann::json> docs;
    while (std::getline(in, line))
        docs.push_back(nlohmann::json::parse(line));
    REQUIRE(docs.size() == 2); // the missed fires, then the failed one (its workflow is not found here)
    CHECK(docs[0]["event"] == "fire.missed");
    CHECK(docs[0]["fires"].size() == 8);
    CHECK(docs[0]["fires"][0]["scheduled_at"] == "2026-12-07T09:01:00Z");
    CHECK(docs[1]["event"] == "fire.failed");
    CHECK(docs[1]["fire"]["scheduled_at"] == "2026-12-07T09:10:00Z");
    CHECK(alerts.delivered() == 2);

    // A command that fails is tried again, then given up on; the scheduler never waits for it.
    auto failing = every_minute("failing");
    failing.alert_command = "exit 3";
    REQUIRE(s->add_schedule(failing).ok());
    const auto before = std::chrono::steady_clock::now();
    REQUIRE(sched.tick(at("2026-12-07T09:11:05Z")).ok());
    CHECK(std::chrono::steady_clock::now() - before < std::chrono::seconds(2));
    sched.wait();
    alerts.flush(std::chrono::seconds(20));
    CHECK(alerts.dropped() >= 1);
}
