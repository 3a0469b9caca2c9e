// Versions on probation (docs/replay.md): which trace version runs replay, how a repair earns the default,
// and what a person can do by hand. Real SQLite files.

#include <doctest/doctest.h>

#include "store_fixture.h"

using namespace rote::store;
using fixture::TempDir;

namespace {

// A run of `workflow` with `company` as its input, finished as `status`.
std::int64_t a_run(Store& s, const std::string& company, std::optional<std::int64_t> trace = {})
{
    NewRun run;
    run.workflow = "registry-lookup";
    run.trace_id = trace;
    run.inputs = {{"company", company}};
    run.provider = "local";
    run.planner = "hints";
    auto id = s.begin_run(run);
    REQUIRE(id.ok());
    REQUIRE(s.finish_run(*id, {}).ok());
    return *id;
}

// A repair of `parent` made by a run for `company` under `conditions`.
std::int64_t a_repair(Store& s, std::int64_t parent, const std::string& company, const std::string& conditions)
{
    NewTrace repair = fixture::sample_trace("registry-lookup", 2);
    repair.parent_id = parent;
    repair.source_run_id = a_run(s, company, parent);
    repair.conditions = conditions;
    auto id = s.save_trace(repair);
    REQUIRE(id.ok());
    return *id;
}

TraceStanding standing(Store& s, std::int64_t trace)
{
    auto all = s.trace_standings("registry-lookup");
    REQUIRE(all.ok());
    for (const auto& t : *all) {
        if (t.trace_id == trace)
            return t;
    }
    FAIL("no standing for trace " << trace);
    return {};
}

constexpr const char* kUsual = "local 1280x800 @1";

// A store of its own in a directory of its own.
struct Fresh {
    TempDir dir;
    std::unique_ptr<Store> store = Store::open(dir / "rote.db").value();
};

// The workflow's first trace, taught under the usual conditions.
std::int64_t a_taught(Store& s)
{
    NewTrace taught = fixture::sample_trace("registry-lookup", 3);
    taught.conditions = kUsual;
    auto id = s.save_trace(taught);
    REQUIRE(id.ok());
    return *id;
}

} // namespace

TEST_CASE("a repair is a candidate on probation until runs for other inputs succeed on it; then the default")
{
    Fresh fresh;
    Store& store = *fresh.store;
    CHECK_FALSE(store.choose_trace("registry-lookup", kUsual)->trace_id.has_value()); // nothing yet

    const auto v1 = a_taught(store);
    CHECK(standing(store, v1).role == TraceRole::default_version);
    CHECK(store.choose_trace("registry-lookup", kUsual)->trace_id == v1);

    const auto v2 = a_repair(store, v1, "Odd Input Ltd", kUsual);
    CHECK(standing(store, v2).role == TraceRole::candidate);
    auto choice = store.choose_trace("registry-lookup", kUsual);
    REQUIRE(choice.ok());
    CHECK(choice->trace_id == v2);
    CHECK(choice->fallback_id == v1);
    CHECK(choice->why.find("candidate on probation (0 of 2") != std::string::npos);

    // Its own input again proves nothing; two other inputs do.
    CHECK(store.record_trace_run(v2, a_run(store, "Odd Input Ltd", v2), true)->successes == 0);
    CHECK(store.record_trace_run(v2, a_run(store, "Acme Ltd", v2), true)->successes == 1);
    CHECK(standing(store, v2).role == TraceRole::candidate);
    const auto promoted = store.record_trace_run(v2, a_run(store, "Globex Ltd", v2), true);
    REQUIRE(promoted.ok());
    CHECK(promoted->role == TraceRole::default_version);
    CHECK(promoted->why.find("promoted") != std::string::npos);
    CHECK(standing(store, v1).role == TraceRole::retired);
    CHECK(standing(store, v1).why == "superseded by v2");
    CHECK(store.choose_trace("registry-lookup", kUsual)->trace_id == v2);
    CHECK_FALSE(store.choose_trace("registry-lookup", kUsual)->fallback_id.has_value());
}

TEST_CASE("a candidate that keeps failing is demoted; one made under other conditions serves only those")
{
    Fresh fresh;
    Store& store = *fresh.store;
    const auto v1 = a_taught(store);

    const auto v2 = a_repair(store, v1, "Acme Ltd", kUsual);
    CHECK(store.record_trace_run(v2, a_run(store, "Globex Ltd", v2), false)->role == TraceRole::candidate);
    const auto demoted = store.record_trace_run(v2, a_run(store, "Initech Ltd", v2), false);
    CHECK(demoted->role == TraceRole::demoted);
    CHECK(demoted->why.find("2 runs in a row failed") != std::string::npos);
    CHECK(store.choose_trace("registry-lookup", kUsual)->trace_id == v1);

    // A run at another window size repairs: its repair is tried only at that size, and never replaces the
    // default for the others, however well it does.
    const auto small = a_repair(store, v1, "Acme Ltd", "local 1024x768 @1");
    CHECK(store.choose_trace("registry-lookup", kUsual)->trace_id == v1);
    CHECK(store.choose_trace("registry-lookup", "local 1024x768 @1")->trace_id == small);
    REQUIRE(store.record_trace_run(small, a_run(store, "Globex Ltd", small), true).ok());
    const auto after = store.record_trace_run(small, a_run(store, "Initech Ltd", small), true);
    CHECK(after->role == TraceRole::candidate);
    CHECK(after->why.find("serves runs under local 1024x768 @1") != std::string::npos);
    CHECK(standing(store, v1).role == TraceRole::default_version);
    // The default's own failures change nothing by themselves.
    REQUIRE(store.record_trace_run(v1, a_run(store, "Hooli Ltd", v1), false).ok());
    REQUIRE(store.record_trace_run(v1, a_run(store, "Hooli Ltd", v1), false).ok());
    CHECK(standing(store, v1).role == TraceRole::default_version);
    CHECK(standing(store, v1).failures == 2);
}

TEST_CASE("by hand: pin holds the default against candidates, rollback demotes, promote and demote")
{
    Fresh fresh;
    Store& store = *fresh.store;
    const auto v1 = a_taught(store);
    const auto v2 = a_repair(store, v1, "Acme Ltd", kUsual);

    auto pinned = store.set_trace_standing("registry-lookup", 1, TraceCommand::pin);
    REQUIRE(pinned.ok());
    CHECK(pinned->pinned);
    // A pinned default is replayed even where a candidate exists, and no candidate earns its place.
    CHECK(store.choose_trace("registry-lookup", kUsual)->trace_id == v1);
    REQUIRE(store.record_trace_run(v2, a_run(store, "Globex Ltd", v2), true).ok());
    const auto held = store.record_trace_run(v2, a_run(store, "Initech Ltd", v2), true);
    CHECK(held->role == TraceRole::candidate);
    CHECK(held->why == "earned the default, but v1 is pinned");
    REQUIRE(store.set_trace_standing("registry-lookup", 1, TraceCommand::unpin).ok());
    CHECK_FALSE(store.set_trace_standing("registry-lookup", 1, TraceCommand::unpin).ok()); // not pinned now
    CHECK(store.choose_trace("registry-lookup", kUsual)->trace_id == v2);

    REQUIRE(store.set_trace_standing("registry-lookup", 2, TraceCommand::promote).ok());
    CHECK(standing(store, v2).role == TraceRole::default_version);
    CHECK(standing(store, v1).role == TraceRole::retired);
    auto back = store.set_trace_standing("registry-lookup", 1, TraceCommand::rollback);
    REQUIRE(back.ok());
    CHECK(back->role == TraceRole::default_version);
    CHECK(standing(store, v2).role == TraceRole::demoted);
    CHECK(standing(store, v2).why == "rolled back to v1");

    auto refused = store.set_trace_standing("registry-lookup", 1, TraceCommand::demote);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message().find("is the default") != std::string::npos);
    auto missing = store.set_trace_standing("registry-lookup", 9, TraceCommand::promote);
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().message().find("no trace version 9") != std::string::npos);
    // Teaching again makes a new default, whatever stood before.
    const auto v3 = *store.save_trace(fixture::sample_trace("registry-lookup", 2));
    CHECK(standing(store, v3).role == TraceRole::default_version);
    CHECK(standing(store, v1).role == TraceRole::retired);
}
