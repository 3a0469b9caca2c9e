// Schedules and their fires in the store: kept as given, each fire claimable once across processes, a fire
// whose scheduler died marked interrupted, the failure streak that pauses a schedule.
#include <doctest/doctest.h>

#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include <rote/store/store.h>

#include "schema.h"
#include "store/store_fixture.h"

using namespace rote;
using namespace rote::store;
using fixture::TempDir;

namespace {

Schedule lookup_schedule()
{
    Schedule s;
    s.name = "morning-lookups";
    s.workflow = "registry-lookup";
    s.cron = "30 8 * * MON-FRI";
    s.zone = "Europe/London";
    s.rows = {{{"company", "ACME Ltd"}}, {{"company", "Globex"}}};
    s.overlap = Overlap::buffer_one;
    s.catchup_seconds = 600;
    s.pause_after = 2;
    s.from = "2026-12-01T00:00:00Z";
    return s;
}

} // namespace

TEST_CASE("a schedule is kept as given; names are unique; bad ones are refused before anything is written")
{
    TempDir dir;
    auto s = Store::open(dir / "rote.db");
    REQUIRE(s.ok());
    REQUIRE((*s)->put_workflow({"registry-lookup", "", ""}).ok());
    REQUIRE((*s)->add_schedule(lookup_schedule()).ok());
    auto got = (*s)->get_schedule("morning-lookups");
    REQUIRE(got.ok());
    CHECK(got->workflow == "registry-lookup");
    CHECK(got->zone == "Europe/London");
    REQUIRE(got->rows.size() == 2);
    CHECK(got->rows[1].at("company") == "Globex");
    CHECK(got->overlap == Overlap::buffer_one);
    CHECK(got->catchup_seconds == 600);
    CHECK(got->pause_after == 2);
    CHECK(got->from == "2026-12-01T00:00:00Z");
    CHECK_FALSE(got->paused);

    CHECK((*s)->add_schedule(lookup_schedule()).error().code() == Error::Code::conflict);
    auto bad = lookup_schedule();
    bad.name = "has space";
    CHECK((*s)->add_schedule(bad).error().code() == Error::Code::invalid_argument);
    bad = lookup_schedule();
    bad.name = "other";
    bad.workflow = "unknown";
    CHECK((*s)->add_schedule(bad).error().code() == Error::Code::not_found);
    bad.workflow = "registry-lookup";
    bad.planner = "oracle";
    CHECK((*s)->add_schedule(bad).error().code() == Error::Code::invalid_argument);
    bad.planner = "hints";
    bad.rows.clear();
    CHECK((*s)->add_schedule(bad).error().code() == Error::Code::invalid_argument);
    CHECK((*s)->list_schedules()->size() == 1);
    CHECK((*s)->get_schedule("nope").error().code() == Error::Code::not_found);

    auto paused = (*s)->set_schedule_paused("morning-lookups", true, "by hand");
    REQUIRE(paused.ok());
    CHECK(paused->paused);
    CHECK(paused->paused_why == "by hand");
    auto resumed = (*s)->set_schedule_paused("morning-lookups", false, "");
    REQUIRE(resumed.ok());
    CHECK_FALSE(resumed->paused);
    CHECK(resumed->from > "2026-12-01T00:00:00Z"); // fires passed while paused are not due
}

TEST_CASE("a fire is claimed once, even by two processes at the same instant; its runs are linked to it")
{
    TempDir dir;
    const auto path = dir / "rote.db";
    auto s = Store::open(path);
    REQUIRE(s.ok());
    REQUIRE((*s)->put_workflow({"registry-lookup", "", ""}).ok());
    const auto id = (*s)->add_schedule(lookup_schedule()).value();

    // Eight processes race for the same fire; exactly one gets it.
    std::vector<pid_t> children;
    for (int i = 0; i < 8; ++i) {
        const pid_t child = fork();
        REQUIRE(child >= 0);
        if (child == 0) {
            auto mine = Store::open(path);
            if (!mine.ok())
                _exit(3);
            auto claimed = (*mine)->claim_fire(id, "2026-12-07T08:30:00Z", FireStatus::running, "");
            _exit(!claimed.ok() ? 3 : claimed->has_value() ? 0 : 1);
        }
        children.push_back(child);
    }
    int won = 0, lost = 0;
    for (pid_t child : children) {
        int status = 0;
        REQUIRE(waitpid(child, &status, 0) == child);
        REQUIRE(WIFEXITED(status));
        won += WEXITSTATUS(status) == 0;
        lost += WEXITSTATUS(status) == 1;
    }
    CHECK(won == 1);
    CHECK(lost == 7);
    CHECK_FALSE((*s)->claim_fire(id, "2026-12-07T08:30:00Z", FireStatus::skipped, "late").value().has_value());

    auto fire = (*s)->claim_fire(id, "2026-12-08T08:30:00Z", FireStatus::running, "");
    REQUIRE(fire.ok());
    REQUIRE(fire->has_value());
    // The winner above has exited: its fire is interrupted by whichever open of the store came after it (a
    // racing child's, or the one below), so it may still count here.
    CHECK((*s)->running_fires(id).value() >= 1);
    NewRun run;
    run.workflow = "registry-lookup";
    run.provider = "local";
    run.planner = "hints";
    run.fire_id = **fire;
    const auto run_id = (*s)->begin_run(run).value();
    RunEnd end;
    end.status = RunStatus::failed;
    REQUIRE((*s)->finish_run(run_id, end).ok());
    REQUIRE((*s)->finish_fire(**fire, FireStatus::failed, "1 of 1 runs failed").ok());
    CHECK((*s)->finish_fire(**fire, FireStatus::succeeded, "").error().code() == Error::Code::conflict);
    CHECK((*s)->claim_fire(id, "not a time", FireStatus::running, "").error().code() == Error::Code::invalid_argument);

    auto fires = (*s)->fires("morning-lookups", 10);
    REQUIRE(fires.ok());
    REQUIRE(fires->size() == 2);
    CHECK((*fires)[0].scheduled_at == "2026-12-08T08:30:00Z"); // newest first
    CHECK((*fires)[0].status == FireStatus::failed);
    CHECK((*fires)[0].runs == std::vector<std::int64_t>(1, run_id));
    CHECK((*fires)[0].failed_runs == 1);
    CHECK((*s)->last_fire_time(id).value() == "2026-12-08T08:30:00Z");

    // The winner's process is gone: opening the store again marks its fire interrupted.
    auto again = Store::open(path);
    REQUIRE(again.ok());
    CHECK(fixture::raw_int(path, "SELECT count(*) FROM schedule_fires WHERE status = 'interrupted' AND detail LIKE "
                                 "'the scheduler running it (pid %) went away%' AND finished_at IS NOT NULL")
        == 1);
    CHECK((*again)->running_fires(id).value() == 0);

    // Removing the schedule removes its fires; its runs stay, unlinked.
    REQUIRE((*s)->remove_schedule("morning-lookups").ok());
    CHECK(fixture::raw_int(path, "SELECT count(*) FROM schedule_fires") == 0);
    CHECK(fixture::raw_int(path, "SELECT count(*) FROM runs WHERE fire_id IS NULL") == 1);
    CHECK((*s)->remove_schedule("morning-lookups").error().code() == Error::Code::not_found);
}

TEST_CASE("failed fires in a row count from the last that succeeded; skipped and missed ones do not count")
{
    TempDir dir;
    auto s = Store::open(dir / "rote.db");
    REQUIRE(s.ok());
    REQUIRE((*s)->put_workflow({"registry-lookup", "", ""}).ok());
    const auto id = (*s)->add_schedule(lookup_schedule()).value();
    const auto fire = [&](const char* at, FireStatus end) {
        auto f = (*s)->claim_fire(id, at, FireStatus::running, "");
        REQUIRE(f.ok());
        REQUIRE(f->has_value());
        REQUIRE((*s)->finish_fire(**f, end, "").ok());
    };
    fire("2026-12-01T08:30:00Z", FireStatus::failed);
    fire("2026-12-02T08:30:00Z", FireStatus::succeeded);
    CHECK((*s)->failed_fires_in_a_row(id).value() == 0);
    fire("2026-12-03T08:30:00Z", FireStatus::failed);
    REQUIRE((*s)->claim_fire(id, "2026-12-04T08:30:00Z", FireStatus::missed, "the scheduler was down").value());
    REQUIRE((*s)->claim_fire(id, "2026-12-05T08:30:00Z", FireStatus::skipped, "overlap").value());
    fire("2026-12-06T08:30:00Z", FireStatus::failed);
    CHECK((*s)->failed_fires_in_a_row(id).value() == 2);
}

TEST_CASE("a version-6 store's schedules become named schedules in UTC; a disabled one is paused")
{
    TempDir dir;
    const auto path = dir / "rote.db";
    std::string v6;
    for (int v = 0; v < 6; ++v)
        v6 += migrations()[static_cast<size_t>(v)];
    REQUIRE(fixture::raw_exec(path,
                v6 + "PRAGMA application_id = " + std::to_string(kApplicationId)
                    + "; PRAGMA user_version = 6;"
                      "INSERT INTO workflows (name, goal, created_at) VALUES ('registry-lookup', '', '2026-01-01T00:00:00Z');"
                      "INSERT INTO schedules (workflow_id, cron, inputs, enabled, created_at) VALUES (1, '0 9 * * 1-5', "
                      "'{\"company\":\"ACME\"}', 1, '2026-01-01T00:00:00Z'), (1, '@daily', '{}', 0, '2026-01-02T00:00:00Z');")
        == SQLITE_OK);
    auto s = Store::open(path);
    REQUIRE(s.ok());
    auto all = (*s)->list_schedules();
    REQUIRE(all.ok());
    REQUIRE(all->size() == 2);
    CHECK((*all)[0].name == "schedule-1");
    CHECK((*all)[0].zone == "UTC");
    CHECK((*all)[0].rows.at(0).at("company") == "ACME");
    CHECK_FALSE((*all)[0].paused);
    CHECK((*all)[1].paused);
    CHECK((*all)[1].from == "2026-01-02T00:00:00Z");
    CHECK((*s)->check_integrity().ok());
}

TEST_CASE("the report gives each schedule its fires by status, its runs' figures, and per day what the model cost")
{
    TempDir dir;
    auto s = Store::open(dir / "rote.db");
    REQUIRE(s.ok());
    REQUIRE((*s)->put_workflow({"registry-lookup", "", ""}).ok());
    const auto id = (*s)->add_schedule(lookup_schedule()).value();
    const auto fire_with_runs = [&](const char* at, const char* started, std::vector<std::pair<RunStatus, std::int64_t>> runs) {
        auto fire = (*s)->claim_fire(id, at, FireStatus::running, "");
        REQUIRE(fire.ok());
        REQUIRE(fire->has_value());
        for (const auto& [status, cost] : runs) {
            NewRun run {"registry-lookup", std::nullopt, {}, "local", "llm", started, **fire};
            const auto run_id = (*s)->begin_run(run).value();
            if (cost > 0) {
                LlmCall call;
                call.run_id = run_id;
                call.provider = "anthropic";
                call.model = "claude";
                call.cost_microusd = cost;
                call.created_at = started;
                REQUIRE((*s)->add_llm_call(call).ok());
            }
            RunEnd end;
            end.status = status;
            REQUIRE((*s)->finish_run(run_id, end).ok());
        }
        REQUIRE((*s)->finish_fire(**fire, FireStatus::succeeded, "").ok());
    };
    fire_with_runs("2026-12-01T08:30:00Z", "2026-12-01T08:30:01Z", {{RunStatus::succeeded, 0}, {RunStatus::succeeded, 250000}});
    fire_with_runs("2026-12-02T08:30:00Z", "2026-12-02T08:30:01Z", {{RunStatus::failed, 100000}, {RunStatus::succeeded, 0}});
    REQUIRE((*s)->claim_fire(id, "2026-12-03T08:30:00Z", FireStatus::missed, "down").value());
    // A run of the same workflow by hand is not the schedule's.
    REQUIRE((*s)->begin_run({"registry-lookup", std::nullopt, {}, "local", "hints", "2026-12-02T10:00:00Z", std::nullopt}).ok());

    auto report = (*s)->report({});
    REQUIRE(report.ok());
    REQUIRE(report->schedules.size() == 1);
    const auto& sr = report->schedules[0];
    CHECK(sr.schedule == "morning-lookups");
    CHECK(sr.workflow == "registry-lookup");
    CHECK(sr.fires.at("succeeded") == 2);
    CHECK(sr.fires.at("missed") == 1);
    CHECK(sr.figures.runs == 4);
    CHECK(sr.figures.succeeded == 3);
    CHECK(sr.figures.llm_calls == 2);
    CHECK(sr.figures.cost_microusd == 350000);
    REQUIRE(sr.days.size() == 2);
    CHECK(sr.days.at("2026-12-01").cost_microusd == 250000);
    CHECK(sr.days.at("2026-12-02").llm_calls == 1);
    CHECK(sr.days.at("2026-12-02").succeeded == 1);
    CHECK(report->total.runs == 5);
    CHECK((*s)->schedule_spend(id, "2026-12-02T00:00:00Z").value().cost_microusd == 100000);
    CHECK((*s)->schedule_spend(id, "2026-12-01T00:00:00Z").value().model_calls == 2);

    auto since = (*s)->report({std::nullopt, std::string("2026-12-02"), std::nullopt});
    REQUIRE(since.ok());
    REQUIRE(since->schedules.size() == 1);
    CHECK(since->schedules[0].fires.at("succeeded") == 1);
    CHECK(since->schedules[0].figures.runs == 2);
}
