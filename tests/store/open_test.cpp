// Opening a store: creation, refusal of foreign and newer files (untouched), migration of older ones.

#include <doctest/doctest.h>

#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include "schema.h"
#include "store/store_fixture.h"

using namespace rote;
using namespace rote::store;
using fixture::TempDir;
namespace fs = std::filesystem;

namespace {

// Everything a refusal must leave as it was: the bytes, the mtime, and no -wal/-shm beside the file.
struct Snapshot {
    std::vector<std::uint8_t> bytes;
    fs::file_time_type mtime;
    explicit Snapshot(const fs::path& p)
        : bytes(fixture::read_file(p))
        , mtime(fs::last_write_time(p))
    {
    }
    void check_unchanged(const fs::path& p) const
    {
        CHECK(fixture::read_file(p) == bytes);
        CHECK(fs::last_write_time(p) == mtime);
        CHECK_FALSE(fs::exists(p.string() + "-wal"));
        CHECK_FALSE(fs::exists(p.string() + "-shm"));
        CHECK_FALSE(fs::exists(p.string() + "-journal"));
    }
};

} // namespace

TEST_CASE("a new store is created with parents, WAL mode, the rote id and the current schema")
{
    TempDir dir;
    const auto path = dir / "nested/deeper/rote.db";
    {
        auto s = Store::open(path);
        REQUIRE(s.ok());
        CHECK((*s)->schema_version() == kSchemaVersion);
        CHECK((*s)->check_integrity().ok());
    }
    const auto header = fixture::read_file(path);
    REQUIRE(header.size() >= 100);
    const std::uint32_t app_id
        = (std::uint32_t(header[68]) << 24) | (header[69] << 16) | (header[70] << 8) | header[71];
    CHECK(app_id == static_cast<std::uint32_t>(kApplicationId));
    CHECK(fixture::raw_int(path, "PRAGMA user_version") == kSchemaVersion);
    CHECK(header[18] == 2); // WAL: file format write version 2
    // Reopening an existing store works and changes nothing in the schema.
    auto again = Store::open(path);
    REQUIRE(again.ok());
    CHECK((*again)->schema_version() == kSchemaVersion);
}

TEST_CASE("a second connection opens a new store while the first still holds its creation in the WAL")
{
    TempDir dir;
    const auto path = dir / "rote.db";
    auto first = Store::open(path);
    REQUIRE(first.ok());
    // The header on disk may not carry the rote id yet: it is in the write-ahead log until a checkpoint.
    auto second = Store::open(path);
    REQUIRE_MESSAGE(second.ok(), (second.ok() ? "" : second.error().message()));
    CHECK((*second)->schema_version() == kSchemaVersion);
}

TEST_CASE("foreign keys are enforced")
{
    TempDir dir;
    auto s = Store::open(dir / "rote.db");
    REQUIRE(s.ok());
    RunStep step;
    step.action.kind = ActionKind::wait;
    auto r = (*s)->add_run_step(12345, step); // no such run
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message().find("FOREIGN KEY") != std::string::npos);
}

TEST_CASE("a file that is not SQLite is refused and left untouched")
{
    TempDir dir;
    const auto path = dir / "notes.db";
    for (const std::string& content : {std::string("just some text, not a database\n"), std::string(5000, '\x42')}) {
        fixture::write_file(path, fixture::bytes(content));
        const Snapshot before(path);
        auto s = Store::open(path);
        REQUIRE_FALSE(s.ok());
        CHECK(s.error().code() == Error::Code::unsupported);
        CHECK(s.error().message().find("not a rote store") != std::string::npos);
        before.check_unchanged(path);
    }
}

TEST_CASE("an SQLite database of another application is refused and left untouched")
{
    TempDir dir;
    SUBCASE("with tables and no application id")
    {
        const auto path = dir / "other.db";
        REQUIRE(fixture::raw_exec(path,
                    "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO customers (name) VALUES "
                    "('x');")
            == SQLITE_OK);
        const Snapshot before(path);
        auto s = Store::open(path);
        REQUIRE_FALSE(s.ok());
        CHECK(s.error().message().find("another application") != std::string::npos);
        before.check_unchanged(path);
        CHECK(fixture::raw_int(path, "SELECT count(*) FROM customers") == 1);
    }
    SUBCASE("with another application id")
    {
        const auto path = dir / "fossil.db";
        REQUIRE(fixture::raw_exec(path, "PRAGMA application_id = 252006674;")
            == SQLITE_OK); // 0x0f055112, a Fossil checkout
        const Snapshot before(path);
        auto s = Store::open(path);
        REQUIRE_FALSE(s.ok());
        CHECK(s.error().message().find("0x0f055112") != std::string::npos);
        before.check_unchanged(path);
    }
}

TEST_CASE("an empty file or an empty SQLite database becomes a store")
{
    TempDir dir;
    const auto empty = dir / "empty.db";
    fixture::write_file(empty, {});
    CHECK(Store::open(empty).ok());

    const auto blank = dir / "blank.db";
    REQUIRE(fixture::raw_exec(blank, "PRAGMA user_version = 0; VACUUM;") == SQLITE_OK);
    CHECK(Store::open(blank).ok());
}

TEST_CASE("a store written by a newer rote is refused with a clear message and left untouched")
{
    TempDir dir;
    const auto path = dir / "rote.db";
    {
        REQUIRE(Store::open(path).ok());
    }
    REQUIRE(fixture::raw_exec(path,
                "PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE; PRAGMA user_version = "
                    + std::to_string(kSchemaVersion + 1) + ";")
        == SQLITE_OK);
    const Snapshot before(path);
    auto s = Store::open(path);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().code() == Error::Code::unsupported);
    CHECK(s.error().message().find("newer rote") != std::string::npos);
    CHECK(s.error().message().find("schema " + std::to_string(kSchemaVersion + 1)) != std::string::npos);
    before.check_unchanged(path);
}

TEST_CASE("a store at an older schema is upgraded in place and keeps its data")
{
    TempDir dir;
    const auto path = dir / "rote.db";
    // A version-1 file as the first release wrote it, with data in it.
    REQUIRE(
        fixture::raw_exec(path,
            std::string(migrations()[0]) + "PRAGMA application_id = " + std::to_string(kApplicationId)
                + "; PRAGMA user_version = 1;"
                  "INSERT INTO workflows (name, goal, created_at) VALUES ('registry-lookup', 'find a company', "
                  "'2026-01-01T00:00:00Z');"
                  "INSERT INTO runs (workflow_id, provider, planner, status, started_at, wall_ms) VALUES (1, 'local', "
                  "'llm', 'succeeded', '2026-01-02T00:00:00Z', 5000);")
        == SQLITE_OK);
    CHECK(fixture::raw_int(path, "SELECT count(*) FROM sqlite_schema WHERE name = 'schedules'") == 0);

    auto s = Store::open(path);
    REQUIRE(s.ok());
    CHECK((*s)->schema_version() == kSchemaVersion);
    CHECK((*s)->check_integrity().ok());
    auto workflows = (*s)->list_workflows();
    REQUIRE(workflows.ok());
    REQUIRE(workflows->size() == 1);
    CHECK((*workflows)[0].goal == "find a company");
    REQUIRE((*workflows)[0].last_run.has_value());
    // The schedules table (version 2, remade in 7) exists and works.
    Schedule daily;
    daily.name = "weekday-lookup";
    daily.workflow = "registry-lookup";
    daily.cron = "0 9 * * 1-5";
    daily.rows = {{{"company", "ACME"}}};
    REQUIRE((*s)->add_schedule(daily).ok());
    // Version 3: the traces a file already had stand as they were replayed, the newest the default.
    CHECK(fixture::raw_int(path, "SELECT count(*) FROM trace_standing") == 0);
    REQUIRE((*s)->save_trace(fixture::sample_trace("registry-lookup", 2)).ok());
    CHECK((*s)->choose_trace("registry-lookup", "")->trace_id.has_value());
    CHECK(fixture::raw_int(path, "PRAGMA user_version") == kSchemaVersion);
}

TEST_CASE("a version-2 store's traces get their standing: the newest of each workflow the default")
{
    TempDir dir;
    const auto path = dir / "rote.db";
    std::string v2_schema = std::string(migrations()[0]) + migrations()[1];
    REQUIRE(fixture::raw_exec(path,
                v2_schema + "PRAGMA application_id = " + std::to_string(kApplicationId)
                    + "; PRAGMA user_version = 2;"
                      "INSERT INTO workflows (name, created_at) VALUES ('registry-lookup', '2026-01-01T00:00:00Z');"
                      "INSERT INTO traces (workflow_id, version, created_at) VALUES (1, 1, '2026-01-01T00:00:00Z');"
                      "INSERT INTO traces (workflow_id, version, parent_id, created_at) VALUES (1, 2, 1, '2026-01-02T00:00:00Z');")
        == SQLITE_OK);
    auto s = Store::open(path);
    REQUIRE(s.ok());
    auto standings = (*s)->trace_standings("registry-lookup");
    REQUIRE(standings.ok());
    REQUIRE(standings->size() == 2);
    CHECK((*standings)[0].role == TraceRole::retired);
    CHECK((*standings)[1].role == TraceRole::default_version);
    CHECK((*s)->choose_trace("registry-lookup", "local 1280x800 @1")->trace_id == (*standings)[1].trace_id);
}

TEST_CASE("a path that is a directory is refused")
{
    TempDir dir;
    auto s = Store::open(dir.path());
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().message().find("not a regular file") != std::string::npos);
}

TEST_CASE("a version-3 store's runs table is rebuilt for the interrupted status, and everything that refers to it stays")
{
    TempDir dir;
    const auto path = dir / "rote.db";
    std::string v3_schema = std::string(migrations()[0]) + migrations()[1] + migrations()[2];
    REQUIRE(fixture::raw_exec(path,
                v3_schema + "PRAGMA application_id = " + std::to_string(kApplicationId)
                    + "; PRAGMA user_version = 3;"
                      "INSERT INTO workflows (name, created_at) VALUES ('registry-lookup', '2026-01-01T00:00:00Z');"
                      "INSERT INTO runs (id, workflow_id, provider, planner, status, error, started_at, wall_ms)"
                      " VALUES (7, 1, 'local', 'llm', 'failed', 'no such page', '2026-01-02T00:00:00Z', 5000);"
                      "INSERT INTO run_steps (run_id, idx, outcome, action) VALUES (7, 0, 'planned', '{}');"
                      "INSERT INTO llm_calls (run_id, provider, model, input_tokens, output_tokens, cost_microusd,"
                      " latency_ms, created_at) VALUES (7, 'anthropic', 'm', 1, 1, 3, 1, '2026-01-02T00:00:00Z');"
                      "INSERT INTO traces (workflow_id, version, source_run_id, created_at)"
                      " VALUES (1, 1, 7, '2026-01-02T00:00:00Z');")
        == SQLITE_OK);
    {
        auto s = Store::open(path);
        REQUIRE(s.ok());
        CHECK((*s)->check_integrity().ok());
        // The row kept its id, and what refers to it still does; deleting the run still cascades.
        CHECK(fixture::raw_int(path, "SELECT count(*) FROM runs WHERE id = 7 AND error = 'no such page'") == 1);
        CHECK(fixture::raw_int(path, "SELECT count(*) FROM run_steps WHERE run_id = 7") == 1);
        CHECK(fixture::raw_int(path, "SELECT count(*) FROM llm_calls WHERE run_id = 7") == 1);
        CHECK(fixture::raw_int(path, "SELECT source_run_id FROM traces") == 7);
        CHECK(fixture::raw_int(path, "SELECT count(*) FROM sqlite_schema WHERE name IN ('runs_by_start', 'runs_by_workflow')") == 2);
    }
    CHECK(fixture::raw_exec(path, "PRAGMA foreign_keys = ON; INSERT INTO run_steps (run_id, idx, outcome, action)"
                                  " VALUES (99, 0, 'planned', '{}')")
        == SQLITE_CONSTRAINT);
    CHECK(fixture::raw_exec(path, "UPDATE runs SET status = 'interrupted' WHERE id = 7") == SQLITE_OK);
    CHECK(fixture::raw_exec(path, "UPDATE runs SET status = 'lost' WHERE id = 7") == SQLITE_CONSTRAINT);
}

TEST_CASE("a run whose rote process went away is interrupted when the store is next opened; a live one stays running")
{
    TempDir dir;
    const auto path = dir / "rote.db";
    NewRun run;
    run.workflow = "registry-lookup";
    run.provider = "local";
    run.planner = "hints";
    std::int64_t mine = 0;
    {
        auto s = Store::open(path);
        REQUIRE(s.ok());
        mine = (*s)->begin_run(run).value();
    }
    // Another rote process begins a run and is killed before it ends it.
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        auto s = Store::open(path);
        if (s.ok())
            (void)(*s)->begin_run(run);
        ::raise(SIGKILL);
        _exit(1);
    }
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    REQUIRE(WIFSIGNALED(status));
    CHECK(fixture::raw_int(path, "SELECT count(*) FROM runs WHERE status = 'running'") == 2);

    auto s = Store::open(path);
    REQUIRE(s.ok());
    CHECK(fixture::raw_int(path, "SELECT count(*) FROM runs WHERE status = 'interrupted' AND id != "
                                     + std::to_string(mine) + " AND error LIKE 'interrupted: the rote process running it (pid "
                                     + std::to_string(child) + ") went away%' AND finished_at IS NOT NULL")
        == 1);
    CHECK(fixture::raw_int(path, "SELECT status = 'running' FROM runs WHERE id = " + std::to_string(mine)) == 1);
    // An owner from another boot is gone too, whatever its pid; one of another pid namespace is left alone.
    REQUIRE(fixture::raw_exec(path, "UPDATE run_owners SET pid_ns = 'pid:[1]' WHERE run_id = " + std::to_string(mine)) == SQLITE_OK);
    CHECK((*s)->end_abandoned_runs().value() == 0);
    REQUIRE(fixture::raw_exec(path, "UPDATE run_owners SET pid_ns = (SELECT pid_ns FROM run_owners WHERE run_id != "
                                        + std::to_string(mine) + "), boot_id = 'another boot' WHERE run_id = " + std::to_string(mine))
        == SQLITE_OK);
    CHECK((*s)->end_abandoned_runs().value() == 1);
    CHECK(fixture::raw_int(path, "SELECT count(*) FROM runs WHERE status = 'interrupted' AND error LIKE '%machine has restarted%'") == 1);
    // Ending it now is refused: it is no longer running.
    RunEnd end;
    CHECK_FALSE((*s)->finish_run(mine, end).ok());
}
