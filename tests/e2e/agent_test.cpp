// The agent loop end to end: real sandboxes, real Chromium, the demo sites over loopback, a real store file.

#include <doctest/doctest.h>

#include <algorithm>

#include "e2e/support.h"

using namespace rote;
using namespace rote::runtime;

using namespace rote::e2e;

TEST_CASE("registry-lookup: taught with step hints, replayed for another company with no planner call")
{
    Fixture f;
    auto site = test::DemoSite::start("baseline");
    REQUIRE(site.ok());
    const Workflow w = load("registry-lookup");
    const RunOptions options = routed_to(*site);

    auto taught = run(*f.store, w, {{"company", "Acme Robotics Ltd"}}, options);
    CHECK_MESSAGE(taught.status == store::RunStatus::succeeded, taught.error);
    CHECK(taught.new_trace_id.has_value());
    CHECK(taught.outputs["registration_number"] == "08431277");
    CHECK(taught.outputs["status"] == "Active");
    // The sandbox's traffic is kept with the run: the search the form sent, as the site answered it.
    auto traffic = f.store->run_requests(taught.run_id);
    REQUIRE(traffic.ok());
    CHECK(std::any_of(traffic->begin(), traffic->end(), [](const store::RunRequest& r) {
        return r.method == "GET" && r.host == "registry.example.test" && r.path.find("/search?") == 0
            && r.path.find("Acme") != std::string::npos && r.status == 200;
    }));

    auto replayed = run(*f.store, w, {{"company", "Northwind Traders Ltd"}}, options);
    CHECK_MESSAGE(replayed.status == store::RunStatus::succeeded, replayed.error);
    CHECK(replayed.planner_calls == 0);
    CHECK(replayed.outputs["registration_number"] == "05583120");
    CHECK(replayed.outputs["status"] == "Active");
    CHECK_FALSE(replayed.new_trace_id.has_value());

    // A success text may name the input: the run proves it ended on this company's page.
    Workflow named = w;
    named.success_text = "{{company}}";
    auto proved = run(*f.store, named, {{"company", "Initech Software Ltd"}}, options);
    CHECK_MESSAGE(proved.status == store::RunStatus::succeeded, proved.error);
    CHECK(proved.planner_calls == 0);
    CHECK(proved.outputs["status"] == "Dissolved");

    // success.url: the page the run ended on, as the browser's document says it.
    Workflow on_page = w;
    on_page.success_url = "/company/[0-9]+$";
    auto at_page = run(*f.store, on_page, {{"company", "Northwind Traders Ltd"}}, options);
    CHECK_MESSAGE(at_page.status == store::RunStatus::succeeded, at_page.error);
    on_page.success_url = "/filings/";
    auto elsewhere = run(*f.store, on_page, {{"company", "Northwind Traders Ltd"}}, options);
    CHECK(elsewhere.status == store::RunStatus::failed);
    CHECK_MESSAGE(elsewhere.error.find("the page's URL http://registry.example.test/company/") != std::string::npos,
        elsewhere.error);
    CHECK(elsewhere.error.find("does not match /filings/") != std::string::npos);
}

TEST_CASE("a start page the egress proxy answers itself fails the run at once, with the proxy's reason")
{
    Fixture f;
    Workflow w = load("registry-lookup");
    // Nothing listens on the route's port: the proxy cannot reach the site.
    RunOptions options;
    options.routes["registry.example.test"] = "127.0.0.1:" + std::to_string(test::free_loopback_port());
    auto unreachable = run(*f.store, w, {{"company", "Acme Robotics Ltd"}}, options);
    CHECK(unreachable.status == store::RunStatus::failed);
    CHECK_MESSAGE(unreachable.error.find("did not load: rote's egress proxy answered 502") != std::string::npos,
        unreachable.error);
    CHECK(unreachable.steps == 0);
    // The start URL's host left out of the allowlist: blocked, and said so.
    w.policy.allow = {"crm.example.test"};
    auto blocked = run(*f.store, w, {{"company", "Acme Robotics Ltd"}}, options);
    CHECK(blocked.status == store::RunStatus::failed);
    CHECK_MESSAGE(blocked.error.find("did not load: rote's egress proxy answered 403") != std::string::npos, blocked.error);
    CHECK(blocked.steps == 0);
}

TEST_CASE("registry-lookup: a key whose page comes seconds later, with no traffic meanwhile, records that page as its effect")
{
    // The `deferred` site holds a submitted form in script: the screen and the proxy are quiet after the key
    // (as after a key a slow guest has not yet acted on), and the screen first looks settled on the page before.
    Fixture f;
    auto site = test::DemoSite::start("deferred");
    REQUIRE(site.ok());
    const Workflow w = load("registry-lookup");
    const RunOptions options = routed_to(*site);
    auto taught = run(*f.store, w, {{"company", "Acme Robotics Ltd"}}, options);
    REQUIRE_MESSAGE(taught.status == store::RunStatus::succeeded, taught.error);
    REQUIRE(taught.new_trace_id.has_value());
    auto trace = f.store->load_trace(*taught.new_trace_id);
    REQUIRE(trace.ok());
    const auto key = std::find_if(trace->steps.begin(), trace->steps.end(),
        [](const store::Step& s) { return s.action.kind == ActionKind::key; });
    REQUIRE(key != trace->steps.end());
    // The results page, not the unchanged search page, is what the key did; and it took the form's delay.
    REQUIRE(key->effect_region.has_value());
    CHECK(std::int64_t(key->effect_region->w) * key->effect_region->h * 8 >= std::int64_t(w.width) * w.height);
    CHECK(key->settle_ms >= 2000);

    auto replayed = run(*f.store, w, {{"company", "Globex Corporation Ltd"}}, options);
    CHECK_MESSAGE(replayed.status == store::RunStatus::succeeded, replayed.error);
    CHECK(replayed.planner_calls == 0);
    CHECK(replayed.outputs["registration_number"] == "09917744");
    const auto served = registry_log(*site);
    CHECK(served["searches"] == nlohmann::json::array({"Acme Robotics Ltd", "Globex Corporation Ltd"}));
    CHECK(served["opened"] == nlohmann::json::array({"08431277", "09917744"}));
}

TEST_CASE("registry-lookup: a result below the fold is scrolled into view with the wheel, and opened with no planner call")
{
    Fixture f;
    const Workflow w = load("registry-lookup");
    teach_with_hints(*f.store, w, {{"company", "Acme Robotics Ltd"}});
    // The `tall` site puts a long notice above the results: the company's link is in the document, out of
    // the view. Without scrolling, replay found "no link reads ..." and the step hints, which do not scroll,
    // could not see it either.
    auto site = test::DemoSite::start("tall");
    REQUIRE(site.ok());
    auto replayed = run(*f.store, w, {{"company", "Globex Corporation Ltd"}}, routed_to(*site));
    CHECK_MESSAGE(replayed.status == store::RunStatus::succeeded, replayed.error);
    CHECK(replayed.planner_calls == 0);
    CHECK(replayed.outputs["registration_number"] == "09917744");
    const auto served = registry_log(*site);
    CHECK(served["searches"] == nlohmann::json::array({"Globex Corporation Ltd"}));
    CHECK(served["opened"] == nlohmann::json::array({"09917744"}));
}

TEST_CASE("registry-lookup: vision alone replays moved, dynamic and slow pages, restyled with at most one repair; a removed field stops the run")
{
    Fixture f;
    const Workflow w = load("registry-lookup");
    teach_with_hints(*f.store, w, {{"company", "Acme Robotics Ltd"}});
    for (const std::string variant : {"moved", "restyled", "dynamic", "slow"}) {
        CAPTURE(variant);
        auto site = test::DemoSite::start(variant);
        REQUIRE(site.ok());
        const RunOptions options = routed_to(*site);
        auto replayed = run(*f.store, w, {{"company", "Globex Corporation Ltd"}}, options);
        CHECK_MESSAGE(replayed.status == store::RunStatus::succeeded, replayed.error);
        // Restyled, the landmarks do not line up around the name read whole (the new fonts move them); before
        // values had to be read exactly, the part "Globex Corporation" happened to line them up and was
        // clicked. A part of a value is never the target now, so the step hints repair that step, one call.
        CHECK(replayed.planner_calls <= (variant == "restyled" ? 1 : 0));
        CHECK(replayed.outputs["registration_number"] == "09917744");
        CHECK(replayed.outputs["status"] == "Active");
        const auto served = registry_log(*site);
        CHECK(served["searches"] == nlohmann::json::array({"Globex Corporation Ltd"}));
        CHECK(served["opened"] == nlohmann::json::array({"09917744"}));
    }

    auto site = test::DemoSite::start("removed");
    REQUIRE(site.ok());
    const RunOptions options = routed_to(*site);
    auto removed = run(*f.store, w, {{"company", "Globex Corporation Ltd"}}, options);
    CHECK(removed.status == store::RunStatus::failed);
    CHECK_MESSAGE(removed.error.find("replay diverged at step 0") != std::string::npos, removed.error);
    CHECK_MESSAGE(removed.error.find("\"Company name\"") != std::string::npos, removed.error);
    REQUIRE(removed.divergences.size() == 1);
    CHECK(removed.divergences[0].trace_step == 0);
    CHECK(removed.divergences[0].expected.find("click \"Company name\"") == 0);
    REQUIRE(removed.divergences[0].screenshot.has_value());
    auto shot = f.store->get_artifact(*removed.divergences[0].screenshot);
    REQUIRE(shot.ok());
    CHECK(shot->media_type == "image/png");
    // No action on a wrong target: none performed, none stored, nothing searched or opened on the server.
    CHECK(removed.steps == 0);
    CHECK(stored_steps(f.dir / "rote.db", removed.run_id, "replayed") == 0);
    CHECK(stored_steps(f.dir / "rote.db", removed.run_id, "relocated") == 0);
    CHECK(stored_steps(f.dir / "rote.db", removed.run_id, "planned") == 0);
    CHECK(stored_steps(f.dir / "rote.db", removed.run_id, "failed") >= 1);
    const auto served = registry_log(*site);
    CHECK(served["searches"].empty());
    CHECK(served["opened"].empty());
}

TEST_CASE("registry-lookup: the step hints repair banner and renamed pages only where they diverged, and the repair replays")
{
    const Workflow w = load("registry-lookup");
    for (const std::string variant : {"banner", "renamed"}) {
        CAPTURE(variant);
        Fixture f;
        teach_with_hints(*f.store, w, {{"company", "Acme Robotics Ltd"}});
        auto site = test::DemoSite::start(variant);
        REQUIRE(site.ok());
        const RunOptions options = routed_to(*site);
        auto repaired = run(*f.store, w, {{"company", "Hooli Cloud Ltd"}}, options);
        CHECK_MESSAGE(repaired.status == store::RunStatus::succeeded, repaired.error);
        CHECK(repaired.planner_calls >= 1);
        CHECK(repaired.planned >= 1);
        CHECK(repaired.replayed + repaired.relocated >= 2); // the steps that did not diverge were replayed
        CHECK(repaired.outputs["registration_number"] == "13378204");
        REQUIRE(repaired.new_trace_id.has_value());
        auto traces = f.store->list_traces("registry-lookup");
        REQUIRE(traces.ok());
        CHECK(traces->size() == 2); // the old version is kept
        auto trace = f.store->load_trace(*repaired.new_trace_id);
        REQUIRE(trace.ok());
        CHECK(trace->parent_id == repaired.trace_id);

        auto again = run(*f.store, w, {{"company", "Wayne Foods Ltd"}}, options);
        CHECK_MESSAGE(again.status == store::RunStatus::succeeded, again.error);
        CHECK(again.planner_calls == 0);
        CHECK(again.trace_id == repaired.new_trace_id);
        CHECK(again.outputs["registration_number"] == "10045562");
        const auto served = registry_log(*site);
        CHECK(served["searches"] == nlohmann::json::array({"Hooli Cloud Ltd", "Wayne Foods Ltd"}));
        CHECK(served["opened"] == nlohmann::json::array({"13378204", "10045562"}));

        // The repair is a candidate on probation, the taught version still the default, and it still serves
        // the unchanged site: the candidate diverges there before anything is written, and the run starts
        // again on the default, with no planner call.
        auto standings = f.store->trace_standings("registry-lookup");
        REQUIRE(standings.ok());
        REQUIRE(standings->size() == 2);
        CHECK((*standings)[0].role == store::TraceRole::default_version);
        CHECK((*standings)[1].role == store::TraceRole::candidate);
        CHECK((*standings)[1].successes == 1);
        auto unchanged = test::DemoSite::start("baseline");
        REQUIRE(unchanged.ok());
        auto base = run(*f.store, w, {{"company", "Wayne Foods Ltd"}}, routed_to(*unchanged));
        CHECK_MESSAGE(base.status == store::RunStatus::succeeded, base.error);
        CHECK(base.planner_calls == 0);
        CHECK(base.trace_id == repaired.trace_id);
        CHECK_FALSE(base.new_trace_id.has_value());
        CHECK(base.divergences.size() == 1); // the candidate's
        CHECK(base.outputs["registration_number"] == "10045562");
        CHECK(registry_log(*unchanged)["opened"] == nlohmann::json::array({"10045562"}));

        // One more input on the changed site, and the candidate has earned the default.
        auto third = run(*f.store, w, {{"company", "Acme Robotics Ltd"}}, options);
        CHECK_MESSAGE(third.status == store::RunStatus::succeeded, third.error);
        CHECK(third.planner_calls == 0);
        CHECK(third.trace_id == repaired.new_trace_id);
        standings = f.store->trace_standings("registry-lookup");
        REQUIRE(standings.ok());
        CHECK((*standings)[0].role == store::TraceRole::retired);
        CHECK((*standings)[1].role == store::TraceRole::default_version);
    }
}
