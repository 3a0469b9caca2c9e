#include "store/store_fixture.h"

#include <doctest/doctest.h>

#include <fstream>

#include <random>
#include <sqlite3.h>
#include <stdexcept>

#include <unistd.h>

namespace fixture {

namespace fs = std::filesystem;
using namespace rote;
using namespace rote::store;

TempDir::TempDir()
{
    std::string templ = (fs::temp_directory_path() / "rote-test-XXXXXX").string();
    if (mkdtemp(templ.data()) == nullptr)
        throw std::runtime_error("mkdtemp failed");
    m_path = templ;
}

TempDir::~TempDir()
{
    std::error_code ec;
    fs::remove_all(m_path, ec);
}

std::vector<std::uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }

std::vector<std::uint8_t> read_file(const fs::path& path)
{
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const fs::path& path, const std::vector<std::uint8_t>& data)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

int raw_exec(const fs::path& path, const std::string& sql)
{
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    if (err != nullptr)
        MESSAGE(err);
    sqlite3_free(err);
    sqlite3_close(db);
    return rc;
}

std::int64_t raw_int(const fs::path& path, const std::string& sql)
{
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
    const auto v = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return v;
}

std::vector<std::uint8_t> screen(int n, std::size_t size)
{
    std::mt19937 rng(static_cast<unsigned>(n) * 7919u + 1);
    std::vector<std::uint8_t> out(size);
    for (auto& b : out)
        b = static_cast<std::uint8_t>(rng());
    // A PNG's header (signature and IHDR: 1280x800) before the noise: imports check it, nothing decodes it.
    static constexpr std::uint8_t kHeader[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
        0, 0, 0x05, 0x00, 0, 0, 0x03, 0x20, 8, 2, 0, 0, 0};
    std::copy(std::begin(kHeader), std::end(kHeader), out.begin());
    return out;
}

NewTrace sample_trace(const std::string& workflow, int steps, int screens)
{
    NewTrace t;
    t.workflow = workflow;
    t.workflow_goal = "Look a company up and read its registration number";
    auto add = [&](std::vector<std::uint8_t> data) {
        Artifact a {content_hash(data), "image/png", std::move(data)};
        const Hash h = a.hash;
        for (const auto& existing : t.artifacts) {
            if (existing.hash == h)
                return h;
        }
        t.artifacts.push_back(std::move(a));
        return h;
    };
    const ActionKind kinds[]
        = {ActionKind::click, ActionKind::type, ActionKind::key, ActionKind::scroll, ActionKind::drag};
    for (int i = 0; i < steps; ++i) {
        Step s;
        s.index = i;
        s.action.kind = kinds[i % 5];
        s.action.at = {100 + i % 700, 50 + (i * 7) % 600};
        if (s.action.kind == ActionKind::type)
            s.action.text = "{{company}}";
        if (s.action.kind == ActionKind::key)
            s.action.text = "ctrl+l";
        if (s.action.kind == ActionKind::scroll)
            s.action.scroll_dy = 3;
        if (s.action.kind == ActionKind::drag)
            s.action.to = {400, 300};
        if (s.action.kind == ActionKind::type || s.action.kind == ActionKind::key)
            s.action.at = {};
        s.pre_artifact = add(screen(i % screens));
        s.post_artifact = add(screen((i + 1) % screens));
        s.anchor.patch = add(screen(1000 + i % 5, 512));
        s.pre_fingerprint = bytes("fp-" + std::to_string(i % screens));
        s.post_fingerprint = bytes("fp-" + std::to_string((i + 1) % screens));
        s.mask = {{1100, 10, 160, 30}};
        s.anchor.label = "Search";
        if (acts_at_point(s.action.kind))
            s.anchor.label_box = Rect {s.action.at.x - 20, s.action.at.y - 8, 60, 16};
        s.anchor.landmarks = {{"Company name", -120, 0}, {"Registry", 0, -200}};
        s.effect_region = Rect {0, 100, 1280, 600};
        s.settle_ms = 100 + i;
        s.provenance = i % 2 == 0 ? Provenance::llm : Provenance::repair;
        t.steps.push_back(std::move(s));
    }
    return t;
}

namespace {

void add_steps(Store& store, std::int64_t run, std::initializer_list<StepOutcome> outcomes)
{
    int i = 0;
    for (auto outcome : outcomes) {
        RunStep s;
        s.index = i;
        s.trace_step = i;
        s.outcome = outcome;
        s.action.kind = ActionKind::click;
        s.action.at = {10 * i, 20};
        s.method = outcome == StepOutcome::relocated ? "template" : "recorded";
        s.confidence = 0.9;
        s.duration_ms = 150;
        REQUIRE(store.add_run_step(run, s).ok());
        ++i;
    }
}

void add_call(Store& store, std::int64_t run, std::int64_t in, std::int64_t out, std::int64_t cache_read,
    std::int64_t cache_write, std::int64_t cost)
{
    LlmCall c;
    c.run_id = run;
    c.provider = "anthropic";
    c.model = "claude-sonnet-4-5";
    c.input_tokens = in;
    c.output_tokens = out;
    c.cache_read_tokens = cache_read;
    c.cache_write_tokens = cache_write;
    c.cost_microusd = cost;
    c.latency_ms = 1800;
    REQUIRE(store.add_llm_call(c).ok());
}

std::int64_t run(Store& store, const std::string& workflow, const std::string& started)
{
    auto id = store.begin_run({workflow, std::nullopt, {{"company", "ACME Ltd"}}, "local", "llm", started, std::nullopt});
    REQUIRE(id.ok());
    return *id;
}

void finish(Store& store, std::int64_t id, RunStatus status, std::int64_t wall, std::int64_t sandbox)
{
    RunEnd end;
    end.status = status;
    end.wall_ms = wall;
    end.sandbox_ms = sandbox;
    end.error = status == RunStatus::failed ? "step 3 diverged" : "";
    REQUIRE(store.finish_run(id, end).ok());
}

} // namespace

// Figures (hand-computed totals are asserted in run_test.cpp and cli_test.cpp):
//   registry-lookup  A 2026-11-01 succeeded  5 planned                    3 calls  wall 12000 sandbox 10000
//                    B 2026-11-10 succeeded  4 replayed + 1 relocated     0 calls  wall  4000 sandbox  3500
//                    C 2026-11-15 failed     2 replayed, 1 planned, 1 failed  1 call  wall 6000 sandbox 5000
//   crm-add-lead     D 2026-11-12 succeeded  6 replayed, 2 planned        2 calls  wall  9000 sandbox  8000
void fill_report_fixture(Store& store)
{
    REQUIRE(store.put_workflow({"registry-lookup", "Look a company up in the registry", ""}).ok());
    REQUIRE(store.put_workflow({"crm-add-lead", "Enter a lead into the CRM", ""}).ok());
    using O = StepOutcome;

    const auto a = run(store, "registry-lookup", "2026-11-01T09:00:00Z");
    add_steps(store, a, {O::planned, O::planned, O::planned, O::planned, O::planned});
    add_call(store, a, 1000, 200, 0, 500, 4000);
    add_call(store, a, 1200, 150, 500, 0, 5500);
    add_call(store, a, 800, 100, 500, 0, 3250);
    finish(store, a, RunStatus::succeeded, 12000, 10000);

    const auto b = run(store, "registry-lookup", "2026-11-10T09:00:00Z");
    add_steps(store, b, {O::replayed, O::replayed, O::relocated, O::replayed, O::replayed});
    finish(store, b, RunStatus::succeeded, 4000, 3500);

    const auto d = run(store, "crm-add-lead", "2026-11-12T08:30:00Z");
    add_steps(store, d,
        {O::replayed, O::replayed, O::planned, O::replayed, O::replayed, O::planned, O::replayed, O::replayed});
    add_call(store, d, 1500, 300, 0, 1000, 9000);
    add_call(store, d, 1000, 120, 1000, 0, 4700);
    finish(store, d, RunStatus::succeeded, 9000, 8000);

    const auto c = run(store, "registry-lookup", "2026-11-15T12:00:00Z");
    add_steps(store, c, {O::replayed, O::replayed, O::planned, O::failed});
    add_call(store, c, 900, 80, 500, 0, 2000);
    finish(store, c, RunStatus::failed, 6000, 5000);
}

} // namespace fixture
