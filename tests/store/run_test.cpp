// Runs, LLM calls and the cost report, checked against hand-computed figures.

#include <doctest/doctest.h>

#include "store/store_fixture.h"

using namespace rote;
using namespace rote::store;
using fixture::TempDir;

TEST_CASE("the report sums runs, steps and LLM calls exactly")
{
    TempDir dir;
    auto s = Store::open(dir / "rote.db");
    REQUIRE(s.ok());
    fixture::fill_report_fixture(**s);

    SUBCASE("everything")
    {
        auto r = (*s)->report({});
        REQUIRE(r.ok());
        REQUIRE(r->runs.size() == 4);
        // Oldest first: A, B, D, C.
        CHECK(r->runs[0].started_at == "2026-11-01T09:00:00Z");
        CHECK(r->runs[2].workflow == "crm-add-lead");
        CHECK(r->runs[3].status == RunStatus::failed);

        const auto& a = r->runs[0].figures;
        CHECK(a.llm_calls == 3);
        CHECK(a.input_tokens == 3000);
        CHECK(a.output_tokens == 450);
        CHECK(a.cache_read_tokens == 1000);
        CHECK(a.cache_write_tokens == 500);
        CHECK(a.cost_microusd == 12750);
        CHECK(a.steps == 5);
        CHECK(a.steps_replayed == 0);
        CHECK(a.replay_share() == 0.0);

        const auto& b = r->runs[1].figures;
        CHECK(b.llm_calls == 0);
        CHECK(b.cost_microusd == 0);
        CHECK(b.steps_replayed == 5); // relocated counts as replayed: no planner needed
        CHECK(b.replay_share() == 1.0);

        REQUIRE(r->workflows.size() == 2);
        const auto& crm = r->workflows[0];
        CHECK(crm.workflow == "crm-add-lead");
        CHECK(crm.figures.runs == 1);
        CHECK(crm.figures.llm_calls == 2);
        CHECK(crm.figures.input_tokens == 2500);
        CHECK(crm.figures.output_tokens == 420);
        CHECK(crm.figures.cache_read_tokens == 1000);
        CHECK(crm.figures.cache_write_tokens == 1000);
        CHECK(crm.figures.cost_microusd == 13700);
        CHECK(crm.figures.steps == 8);
        CHECK(crm.figures.steps_replayed == 6);

        const auto& reg = r->workflows[1];
        CHECK(reg.workflow == "registry-lookup");
        CHECK(reg.figures.runs == 3);
        CHECK(reg.figures.succeeded == 2);
        CHECK(reg.figures.llm_calls == 4);
        CHECK(reg.figures.input_tokens == 3900);
        CHECK(reg.figures.output_tokens == 530);
        CHECK(reg.figures.cache_read_tokens == 1500);
        CHECK(reg.figures.cache_write_tokens == 500);
        CHECK(reg.figures.cost_microusd == 14750);
        CHECK(reg.figures.steps == 14);
        CHECK(reg.figures.steps_replayed == 7);
        CHECK(reg.figures.wall_ms == 22000);
        CHECK(reg.figures.sandbox_ms == 18500);

        const auto& t = r->total;
        CHECK(t.runs == 4);
        CHECK(t.succeeded == 3);
        CHECK(t.llm_calls == 6);
        CHECK(t.input_tokens == 6400);
        CHECK(t.output_tokens == 950);
        CHECK(t.cache_read_tokens == 2500);
        CHECK(t.cache_write_tokens == 1500);
        CHECK(t.cost_microusd == 28450);
        CHECK(t.steps == 22);
        CHECK(t.steps_replayed == 13);
        CHECK(t.replay_share().value() == doctest::Approx(13.0 / 22.0));
        CHECK(t.wall_ms == 31000);
        CHECK(t.sandbox_ms == 26500);
    }
    SUBCASE("since a date")
    {
        auto r = (*s)->report({std::nullopt, "2026-11-10", std::nullopt});
        REQUIRE(r.ok());
        CHECK(r->query.since == "2026-11-10T00:00:00Z");
        CHECK(r->total.runs == 3);
        CHECK(r->total.llm_calls == 3);
        CHECK(r->total.input_tokens == 3400);
        CHECK(r->total.output_tokens == 500);
        CHECK(r->total.cost_microusd == 15700);
        CHECK(r->total.steps == 17);
        CHECK(r->total.steps_replayed == 13);
        CHECK(r->total.wall_ms == 19000);
    }
    SUBCASE("one workflow since a time of day")
    {
        auto r = (*s)->report({"registry-lookup", "2026-11-10T09:00:00Z", std::nullopt});
        REQUIRE(r.ok());
        REQUIRE(r->workflows.size() == 1);
        CHECK(r->total.runs == 2);
        CHECK(r->total.llm_calls == 1);
        CHECK(r->total.cost_microusd == 2000);
        CHECK(r->total.steps == 9);
        CHECK(r->total.steps_replayed == 7);
        CHECK(r->total.wall_ms == 10000);
    }
    SUBCASE("an unknown workflow or a bad date is an error, not an empty report")
    {
        auto unknown = (*s)->report({"no-such-flow", std::nullopt, std::nullopt});
        REQUIRE_FALSE(unknown.ok());
        CHECK(unknown.error().message().find("no workflow named \"no-such-flow\"") != std::string::npos);
        for (const char* bad : {"yesterday", "2026-13-01", "2026-02-30", "2026-11-10T25:00:00Z", "2026-11-10 09:00"}) {
            CAPTURE(bad);
            auto r = (*s)->report({std::nullopt, std::string(bad), std::nullopt});
            REQUIRE_FALSE(r.ok());
            CHECK(r.error().code() == Error::Code::invalid_argument);
        }
    }
}

TEST_CASE("an empty store reports zeros and no replay share")
{
    TempDir dir;
    auto s = Store::open(dir / "rote.db");
    REQUIRE(s.ok());
    auto r = (*s)->report({});
    REQUIRE(r.ok());
    CHECK(r->runs.empty());
    CHECK(r->total.runs == 0);
    CHECK_FALSE(r->total.replay_share().has_value());
}

TEST_CASE("a run is finished once, with a final status")
{
    TempDir dir;
    auto s = Store::open(dir / "rote.db");
    REQUIRE(s.ok());
    auto id = (*s)->begin_run({"registry-lookup", std::nullopt, {}, "local", "hints", "", std::nullopt});
    REQUIRE(id.ok());
    RunEnd running;
    running.status = RunStatus::running;
    CHECK_FALSE((*s)->finish_run(*id, running).ok());
    RunEnd done;
    done.outputs = {{"registration_number", "HRB 12345"}};
    REQUIRE((*s)->finish_run(*id, done).ok());
    auto again = (*s)->finish_run(*id, done);
    REQUIRE_FALSE(again.ok());
    CHECK(again.error().code() == Error::Code::not_found);

    auto workflows = (*s)->list_workflows();
    REQUIRE(workflows.ok());
    REQUIRE(workflows->size() == 1);
    REQUIRE((*workflows)[0].last_run.has_value());
    CHECK((*workflows)[0].last_run->status == RunStatus::succeeded);

    // A run step index is unique within its run.
    RunStep step;
    step.action.kind = ActionKind::wait;
    step.action.wait_ms = 200;
    REQUIRE((*s)->add_run_step(*id, step).ok());
    CHECK((*s)->add_run_step(*id, step).error().code() == Error::Code::conflict);
}

TEST_CASE("a run cannot name a trace of another workflow, and LLM figures cannot be negative")
{
    TempDir dir;
    auto s = Store::open(dir / "rote.db");
    REQUIRE(s.ok());
    auto trace = (*s)->save_trace(fixture::sample_trace("crm-add-lead", 2));
    REQUIRE(trace.ok());
    auto r = (*s)->begin_run({"registry-lookup", *trace, {}, "local", "llm", "", std::nullopt});
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message().find("not a trace of registry-lookup") != std::string::npos);

    LlmCall c;
    c.provider = "anthropic";
    c.model = "m";
    c.output_tokens = -1;
    CHECK((*s)->add_llm_call(c).error().code() == Error::Code::invalid_argument);
}

TEST_CASE("a run's end, the trace it made and the standing of the one it replayed commit together or not at all")
{
    TempDir dir;
    auto s = Store::open(dir / "rote.db");
    REQUIRE(s.ok());
    auto taught = (*s)->save_trace(fixture::sample_trace("registry-lookup", 2));
    REQUIRE(taught.ok());
    auto id = (*s)->begin_run({"registry-lookup", *taught, {}, "local", "hints", "", std::nullopt});
    REQUIRE(id.ok());
    auto repair = fixture::sample_trace("registry-lookup", 3);
    repair.parent_id = *taught;
    repair.source_run_id = *id;
    RunEnd done;
    done.outputs = {{"registration_number", "08431277"}};

    // The standing's update fails (no such trace) after the trace was written: none of it stays.
    auto failed = (*s)->close_run(*id, done, &repair, 999);
    REQUIRE_FALSE(failed.ok());
    CHECK((*s)->list_traces("registry-lookup")->size() == 1);
    auto before = (*s)->list_workflows();
    REQUIRE(before.ok());
    CHECK((*before)[0].last_run->status == RunStatus::running);

    auto closed = (*s)->close_run(*id, done, &repair, *taught);
    REQUIRE_MESSAGE(closed.ok(), closed.error().message());
    REQUIRE(closed->new_trace_id.has_value());
    REQUIRE(closed->standing.has_value());
    CHECK(closed->standing->version == 1);
    CHECK((*s)->list_traces("registry-lookup")->size() == 2);
    auto after = (*s)->list_workflows();
    CHECK((*after)[0].last_run->status == RunStatus::succeeded);
    CHECK((*s)->load_trace(*closed->new_trace_id).ok());
}

TEST_CASE("a run's steps keep the screen before and after them, and its model calls read back in order")
{
    TempDir dir;
    auto s = Store::open(dir / "rote.db");
    REQUIRE(s.ok());
    auto id = (*s)->begin_run({"registry-lookup", std::nullopt, {}, "local", "llm", "", std::nullopt});
    REQUIRE(id.ok());
    const std::vector<std::uint8_t> before_bytes {0xff, 0xd8, 1}, after_bytes {0xff, 0xd8, 2};
    const auto before = (*s)->put_artifact(before_bytes, "image/jpeg");
    const auto after = (*s)->put_artifact(after_bytes, "image/jpeg");
    REQUIRE((before.ok() && after.ok()));
    RunStep step;
    step.outcome = StepOutcome::planned;
    step.action.kind = ActionKind::click;
    step.before_image = *before;
    step.after_image = *after;
    REQUIRE((*s)->add_run_step(*id, step).ok());
    RunStep bad = step;
    bad.index = 1;
    bad.after_image = "not a hash";
    CHECK((*s)->add_run_step(*id, bad).error().code() == Error::Code::invalid_argument);
    for (const auto& [step_index, cost] : {std::pair {0, 900}, std::pair {0, 300}}) {
        LlmCall c;
        c.run_id = *id;
        c.run_step = step_index;
        c.provider = "anthropic";
        c.model = "m";
        c.input_tokens = 10;
        c.output_tokens = 2;
        c.cost_microusd = cost;
        REQUIRE((*s)->add_llm_call(c).ok());
    }
    RunEnd end;
    end.status = RunStatus::failed;
    end.error = "the page was gone";
    REQUIRE((*s)->finish_run(*id, end).ok());

    const auto steps = (*s)->run_steps(*id);
    REQUIRE(steps.ok());
    REQUIRE(steps->size() == 1);
    CHECK((*steps)[0].before_image == *before);
    CHECK((*steps)[0].after_image == *after);
    const auto calls = (*s)->run_calls(*id);
    REQUIRE(calls.ok());
    REQUIRE(calls->size() == 2);
    CHECK((*calls)[0].cost_microusd == 900);
    CHECK((*calls)[1].cost_microusd == 300);
    CHECK((*calls)[1].run_step == 0);
    CHECK((*s)->run_calls(*id + 1).error().code() == Error::Code::not_found);
    const auto stats = (*s)->artifact_stats();
    REQUIRE(stats.ok());
    CHECK(stats->references == 2); // the pictures are uses of their artifacts
    const auto report = (*s)->report({});
    REQUIRE(report.ok());
    REQUIRE(report->runs.size() == 1);
    CHECK(report->runs[0].planner == "llm");
    CHECK(report->runs[0].error == "the page was gone");
    CHECK_FALSE(report->runs[0].trace_id.has_value());
}

TEST_CASE("a run's captured exchanges read back byte for byte, and API plans keep their standing and proof")
{
    TempDir dir;
    auto s = Store::open(dir / "rote.db");
    REQUIRE(s.ok());
    auto id = (*s)->begin_run({"registry-lookup", std::nullopt, {{"company", "Acme"}}, "local", "hints", "", std::nullopt});
    REQUIRE(id.ok());
    RunEnd end;
    end.outputs = {{"registration_number", "08431277"}};
    RunRequest plain;
    plain.method = "CONNECT";
    plain.host = "tracker.example.com";
    plain.port = 443;
    RunRequest captured;
    captured.method = "GET";
    captured.host = "registry.example.test";
    captured.port = 80;
    captured.path = "/search?q=Acme";
    captured.status = 200;
    captured.step = 2;
    const std::string binary("\x1f\x8b\x08\x00\x00\xff", 6); // a gzip body's first bytes, a NUL among them
    captured.capture = CapturedExchange {{{"Accept", "text/html"}, {"Cookie", "consent; session"}}, "",
        {{"Content-Type", "text/html"}, {"Content-Encoding", "gzip"}}, binary, true};
    end.requests = {plain, captured};
    REQUIRE((*s)->finish_run(*id, end).ok());
    auto back = (*s)->run_requests(*id);
    REQUIRE(back.ok());
    REQUIRE(back->size() == 2);
    CHECK_FALSE((*back)[0].capture.has_value());
    REQUIRE((*back)[1].capture.has_value());
    CHECK((*back)[1].step == 2);
    CHECK((*back)[1].capture->response_body == binary);
    CHECK((*back)[1].capture->truncated);
    CHECK((*back)[1].capture->request_headers == captured.capture->request_headers);
    CHECK((*back)[1].capture->response_headers == captured.capture->response_headers);

    auto outcomes = (*s)->run_outcomes("registry-lookup", 10);
    REQUIRE(outcomes.ok());
    REQUIRE(outcomes->size() == 1);
    CHECK((*outcomes)[0].inputs.at("company") == "Acme");
    CHECK((*outcomes)[0].outputs.at("registration_number") == "08431277");
    CHECK((*s)->run_outcomes("never-run", 10)->empty());

    ApiPlan plan;
    plan.workflow = "registry-lookup";
    plan.run_id = *id;
    plan.plan = R"({"format":"rote-api-plan/1"})";
    auto plan_id = (*s)->save_api_plan(plan);
    REQUIRE(plan_id.ok());
    CHECK((*s)->api_plan(*plan_id)->standing == PlanStanding::unproven);
    REQUIRE((*s)->set_api_plan_standing(*plan_id, PlanStanding::proved, "gave runs 1 and 2's outputs").ok());
    auto plans = (*s)->api_plans("registry-lookup");
    REQUIRE(plans.ok());
    REQUIRE(plans->size() == 1);
    CHECK((*plans)[0].standing == PlanStanding::proved);
    CHECK((*plans)[0].proof == "gave runs 1 and 2's outputs");
    CHECK((*plans)[0].run_id == *id);
    CHECK((*s)->set_api_plan_standing(999, PlanStanding::failed, "").error().code() == Error::Code::not_found);
    plan.workflow = "unknown-flow";
    CHECK_FALSE((*s)->save_api_plan(plan).ok());
}
