// The run report as a page, rendered from a store with known runs: every run, its steps and their pictures,
// one chart point per run, the detail limit, what a page must escape, and the errors of a bad query. (The
// page in a real browser is tests/clients/report_test.mjs.)

#include <doctest/doctest.h>

#include <opencv2/core.hpp>

#include <rote/report/html.h>
#include <rote/vision/image.h>

#include "store/store_fixture.h"

using namespace rote;
using namespace rote::store;
using fixture::TempDir;

namespace {

std::size_t count(const std::string& text, const std::string& what)
{
    std::size_t n = 0;
    for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size()))
        ++n;
    return n;
}

} // namespace

TEST_CASE("the report page holds every run, their steps with pictures, one chart point per run, and escapes text")
{
    TempDir dir;
    auto s = Store::open(dir / "rote.db");
    REQUIRE(s.ok());
    fixture::fill_report_fixture(**s);

    // One more run whose step has its pictures, and whose error a page could take for markup.
    auto id = (*s)->begin_run({"registry-lookup", std::nullopt, {}, "local", "hints", "2027-01-05T09:00:00Z", std::nullopt});
    REQUIRE(id.ok());
    const cv::Mat grey(200, 320, CV_8UC3, cv::Scalar(200, 200, 200)), white(200, 320, CV_8UC3, cv::Scalar(255, 255, 255));
    const auto before = (*s)->put_artifact(vision::encode_thumbnail(grey).value(), "image/jpeg");
    const auto after = (*s)->put_artifact(vision::encode_thumbnail(white).value(), "image/jpeg");
    REQUIRE((before.ok() && after.ok()));
    RunStep step;
    step.outcome = StepOutcome::planned;
    step.action.kind = ActionKind::type;
    step.action.text = "{{secret:password}}";
    step.method = "hints";
    step.before_image = *before;
    step.after_image = *after;
    REQUIRE((*s)->add_run_step(*id, step).ok());
    RunEnd end;
    end.status = RunStatus::failed;
    end.error = "<script>alert('x')</script> was on the page";
    REQUIRE((*s)->finish_run(*id, end).ok());

    const auto page = report::html(**s, {});
    REQUIRE_MESSAGE(page.ok(), page.error().message());
    CHECK(page->starts_with("<!doctype html>"));
    CHECK(count(*page, "<section class=\"run\"") == 5);
    CHECK(count(*page, "<section class=\"workflow\"") == 2);
    CHECK(count(*page, "<circle class=\"point\"") == 2 * 5); // two charts, a point per run each
    CHECK(page->find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; was on the page") != std::string::npos);
    CHECK(page->find("<script>alert") == std::string::npos);
    CHECK(page->find("{{secret:password}}") != std::string::npos); // the template, never a value
    CHECK(count(*page, "data-shot=\"" + *before + "\"") == 1);
    CHECK(count(*page, "\"" + *before + "\":\"data:image/jpeg;base64,") == 1); // its bytes once, in the table
    CHECK(page->find("http-equiv=\"Content-Security-Policy\"") != std::string::npos);

    const auto newest = report::html(**s, {}, {1});
    REQUIRE(newest.ok());
    CHECK(count(*newest, "<section class=\"run\"") == 1);
    CHECK(newest->find("id=\"run-" + std::to_string(*id) + "\"") != std::string::npos);
    CHECK(newest->find("The newest 1 of 5 runs") != std::string::npos);

    const auto crm = report::html(**s, {std::string("crm-add-lead"), std::nullopt, std::nullopt});
    REQUIRE(crm.ok());
    CHECK(count(*crm, "<section class=\"run\"") == 1);
    CHECK_FALSE(report::html(**s, {std::string("nothing-such"), std::nullopt, std::nullopt}).ok());
    CHECK(report::html(**s, {std::nullopt, std::string("yesterday"), std::nullopt}).error().code() == Error::Code::invalid_argument);
}

TEST_CASE("a schedule's section: its fires by status, its runs, and per day a point of model dollars and of success")
{
    TempDir dir;
    auto s = Store::open(dir / "rote.db");
    REQUIRE(s.ok());
    REQUIRE((*s)->put_workflow({"registry-lookup", "", ""}).ok());
    Schedule daily;
    daily.name = "daily-lookups";
    daily.workflow = "registry-lookup";
    daily.cron = "0 9 * * *";
    const auto id = (*s)->add_schedule(daily).value();
    for (const char* day : {"2027-01-04", "2027-01-05"}) {
        const std::string at = std::string(day) + "T09:00:00Z";
        auto fire = (*s)->claim_fire(id, at, FireStatus::running, "");
        REQUIRE(fire.ok());
        REQUIRE(fire->has_value());
        for (RunStatus status : {RunStatus::succeeded, RunStatus::failed}) {
            auto run = (*s)->begin_run({"registry-lookup", std::nullopt, {}, "local", "hints", at, **fire});
            REQUIRE(run.ok());
            RunEnd end;
            end.status = status;
            REQUIRE((*s)->finish_run(*run, end).ok());
        }
        REQUIRE((*s)->finish_fire(**fire, FireStatus::failed, "1 of 2 runs failed").ok());
    }
    const auto page = report::html(**s, {});
    REQUIRE_MESSAGE(page.ok(), page.error().message());
    CHECK(count(*page, "<section class=\"schedule\" data-schedule=\"daily-lookups\"") == 1);
    CHECK(page->find("2 fires (2 failed); 4 runs, 2 succeeded (50%)") != std::string::npos);
    CHECK(count(*page, "data-chart=\"schedule-cost\"") == 1);
    CHECK(count(*page, "data-chart=\"schedule-success\"") == 1);
    CHECK(count(*page, "data-day=\"2027-01-05\"") == 2); // a point on each of its two charts
    CHECK(page->find("<title>2027-01-04: 50%</title>") != std::string::npos);
}

TEST_CASE("saved by the cache: a replayed step is valued at the model's cost per planned step of its workflow, any "
          "time; a workflow taught by hints at the store's; nothing without a model call")
{
    TempDir dir;
    auto s = Store::open(dir / "rote.db");
    REQUIRE(s.ok());
    fixture::fill_report_fixture(**s);
    // A workflow no model ever planned: taught and replayed by hints.
    REQUIRE((*s)->put_workflow({"wiki-lookup", "Read a wiki page", ""}).ok());
    auto id = (*s)->begin_run({"wiki-lookup", std::nullopt, {}, "local", "hints", "2026-11-20T09:00:00Z", std::nullopt});
    REQUIRE(id.ok());
    for (int i = 0; i < 4; ++i) {
        RunStep step;
        step.index = i;
        step.outcome = StepOutcome::replayed;
        step.action.kind = ActionKind::key;
        step.action.text = "return";
        REQUIRE((*s)->add_run_step(*id, step).ok());
    }
    RunEnd end;
    end.status = RunStatus::succeeded;
    REQUIRE((*s)->finish_run(*id, end).ok());

    // The window leaves out the run that taught registry-lookup (A, 2026-11-01: 5 steps planned for 12,750
    // micro-USD); its step is still valued with it: (12,750 + 2,000) / (5 + 1) = 2,458.33 micro-USD.
    const auto page = report::html(**s, {std::nullopt, std::string("2026-11-10"), std::nullopt});
    REQUIRE_MESSAGE(page.ok(), page.error().message());
    CHECK(page->find("a model-planned step of this workflow cost $0.0025 (its 6 model-planned steps") != std::string::npos);
    // wiki-lookup: the store's model-planned step, (12,750 + 13,700 + 2,000) / 8 = 3,556.25 micro-USD; 4 saved
    // steps, $0.0142.
    CHECK(page->find("no model ever planned this workflow (taught by hints), so a step is valued at what a "
                     "model-planned step of the other workflows of this store cost, $0.0036 (over 8 steps), so the 4 "
                     "replayed steps saved $0.0142") != std::string::npos);

    // A store with no model call at all values nothing, and says so.
    TempDir other;
    auto bare = Store::open(other / "rote.db");
    REQUIRE(bare.ok());
    REQUIRE((*bare)->put_workflow({"wiki-lookup", "Read a wiki page", ""}).ok());
    auto r = (*bare)->begin_run({"wiki-lookup", std::nullopt, {}, "local", "hints", "2026-11-20T09:00:00Z", std::nullopt});
    REQUIRE(r.ok());
    REQUIRE((*bare)->finish_run(*r, end).ok());
    const auto none = report::html(**bare, {});
    REQUIRE(none.ok());
    CHECK(none->find("no run in this store called a model, so what the cache saved is not valued") != std::string::npos);
    CHECK(none->find(">not estimated<") != std::string::npos);
}
