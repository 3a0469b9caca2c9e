// The recorder on real screenshots (Chromium-rendered corpus pages), saved to a real SQLite store.

#include <doctest/doctest.h>

#include "vision/page.h"

#include <opencv2/imgcodecs.hpp>

#include <rote/recorder/recorder.h>
#include <rote/store/store.h>
#include <rote/vision/fingerprint.h>
#include <rote/vision/ocr.h>

#include "store/store_fixture.h"

using namespace rote;
using namespace rote::recorder;

namespace {

cv::Mat page(const char* name) { return test::corpus_page(name); }

Action make(ActionKind kind, Point at = {}, std::string text = {})
{
    Action a;
    a.kind = kind;
    a.at = at;
    a.text = std::move(text);
    return a;
}

} // namespace

TEST_CASE("a label that shows an input's value, alone or among other words, keeps the placeholder there")
{
    const std::map<std::string, std::string> inputs {{"partner", "Stark Components"}, {"short", "Acme"}};
    CHECK(label_template("Stark Components", inputs) == "{{partner}}");
    CHECK(label_template("Stark Components @partners", inputs) == "{{partner}} @partners");
    CHECK(label_template("About Stark Components Ltd", inputs) == "About {{partner}} Ltd");
    CHECK(label_template("Acme Robotics", inputs) == "{{short}} Robotics");
    CHECK(label_template("Acmes and more", inputs) == "Acmes and more"); // whole words only
    CHECK(label_template("Search", inputs) == "Search");
}

TEST_CASE("typed text keeps the planner's placeholders and turns literal values into placeholders")
{
    const std::map<std::string, std::string> inputs {{"company", "Acme Robotics Ltd"}, {"short", "Acme"}};
    const std::map<std::string, std::string> secrets {{"pw", "hunter2"}};
    CHECK(text_template("{{company}}", inputs, secrets).value() == "{{company}}");
    CHECK(text_template("Acme Robotics Ltd", inputs, secrets).value() == "{{company}}");
    CHECK(text_template("hunter2", inputs, secrets).value() == "{{secret:pw}}");
    CHECK(text_template("{{secret:pw}}", inputs, secrets).value() == "{{secret:pw}}");
    CHECK(text_template("find {{short}} now", inputs, secrets).value() == "find {{short}} now");
    CHECK_FALSE(text_template("{{colour}}", inputs, secrets).ok());
}

TEST_CASE("a run becomes a trace: steps, artifacts stored once, anchors, effects, templates; the store keeps it")
{
    auto ocr = vision::Ocr::for_this_thread();
    REQUIRE(ocr.ok());
    const cv::Mat search = page("registry-search.baseline.png");
    const cv::Mat results = page("registry-results.baseline.png");
    // The centre of the corpus page's Search button (its recorded box in tests/vision/data/expected.jsonl).
    const Point search_button {307, 340};
    const std::vector<Observed> run {
        {search, make(ActionKind::type, {}, "Acme Robotics Ltd"), search, 120, store::Provenance::llm, {}, {}, {}, {}},
        {search, make(ActionKind::type, {}, "hunter2"), search, 80, store::Provenance::llm, {}, {}, {}, {}},
        {search, make(ActionKind::click, search_button), results, 640, store::Provenance::llm, {}, {}, {}, {}},
        {results, make(ActionKind::done, {}, "08431277"), results, 0, store::Provenance::llm, {}, {}, {}, {}},
    };
    RecordOptions options;
    options.workflow = "registry-lookup";
    options.goal = "Find the company.";
    options.inputs = {{"company", "Acme Robotics Ltd"}};
    options.secrets = {{"pw", "hunter2"}};
    auto trace = record(run, options, **ocr);
    REQUIRE_MESSAGE(trace.ok(), (trace.ok() ? "" : trace.error().message()));
    REQUIRE(trace->steps.size() == 3); // done is not a step
    CHECK(trace->steps[0].action.text == "{{company}}");
    CHECK(trace->steps[1].action.text == "{{secret:pw}}");
    const auto& click = trace->steps[2];
    CHECK(click.action.at == search_button);
    CHECK(click.settle_ms == 640);
    CHECK(click.anchor.patch);
    CHECK_MESSAGE(!click.anchor.landmarks.empty(), click.anchor.landmarks.size());
    REQUIRE(click.effect_region);
    CHECK(click.effect_region->w > 100); // the page changed
    CHECK_FALSE(trace->steps[0].effect_region); // typing into the same screen changed nothing here
    CHECK(vision::parse_fingerprint(click.pre_fingerprint).ok());
    CHECK(click.pre_artifact == trace->steps[0].pre_artifact);
    CHECK(click.post_artifact != click.pre_artifact);
    CHECK(trace->artifacts.size() == 3); // two screens and one patch, each once

    fixture::TempDir dir;
    auto store = store::Store::open(dir / "rote.db");
    REQUIRE(store.ok());
    auto id = (*store)->save_trace(*trace);
    REQUIRE_MESSAGE(id.ok(), (id.ok() ? "" : id.error().message()));
    auto back = (*store)->load_trace(*id);
    REQUIRE(back.ok());
    CHECK(back->steps == trace->steps);
    // The secret's value is nowhere in the stored trace.
    auto exported = (*store)->export_trace(*id);
    REQUIRE(exported.ok());
    CHECK(exported->find("hunter2") == std::string::npos);
}

TEST_CASE("an element's identity is kept unless it names an input or a secret; the focus only when a field has it")
{
    auto ocr = vision::Ocr::for_this_thread();
    REQUIRE(ocr.ok());
    const cv::Mat search = page("registry-search.baseline.png");
    const cv::Mat results = page("registry-results.baseline.png");
    ElementIdentity button;
    button.tag = "button";
    button.id = "search";
    button.role = "button";
    button.label = button.text = "Search";
    ElementIdentity record_link; // a link to this run's record, as a page would make its id and URL
    record_link.tag = "a";
    record_link.role = "link";
    record_link.label = record_link.text = "Open";
    record_link.href = "http://registry.example.test/company/acme-robotics-ltd";
    ElementIdentity secret_field;
    secret_field.tag = "input";
    secret_field.name = "hunter2_box";
    ElementIdentity field;
    field.tag = "input";
    field.id = "company";
    field.role = "textbox";
    ElementIdentity text = button;
    text.tag = "p";
    text.role.clear();
    const std::vector<Observed> run {
        {search, make(ActionKind::click, {307, 340}), results, 100, store::Provenance::llm, {}, "button", button, field},
        {search, make(ActionKind::click, {307, 340}), results, 100, store::Provenance::llm, {}, "link", record_link, text},
        {search, make(ActionKind::click, {307, 340}), results, 100, store::Provenance::llm, {}, "field", secret_field, secret_field},
    };
    RecordOptions options;
    options.workflow = "registry-lookup";
    options.inputs = {{"company", "Acme Robotics Ltd"}};
    options.secrets = {{"pw", "hunter2"}};
    auto trace = record(run, options, **ocr);
    REQUIRE_MESSAGE(trace.ok(), (trace.ok() ? "" : trace.error().message()));
    REQUIRE(trace->steps.size() == 3);
    CHECK(trace->steps[0].anchor.identity == button);
    CHECK(trace->steps[0].anchor.focus == field);
    CHECK(trace->steps[1].anchor.identity.empty()); // it names the input: another run's record is elsewhere
    CHECK(trace->steps[1].anchor.focus.empty()); // no field had the focus
    CHECK(trace->steps[2].anchor.identity.empty()); // it names the secret
    CHECK(trace->steps[2].anchor.focus.empty());
}

TEST_CASE("screens that do not pair up are an error, not a trace")
{
    auto ocr = vision::Ocr::for_this_thread();
    const std::vector<Observed> bad {{page("registry-search.baseline.png"), make(ActionKind::click, {5, 5}),
        cv::Mat(10, 10, CV_8UC3), 0, store::Provenance::llm, {}, {}, {}, {}}};
    auto trace = record(bad, {"w", "g", {}, {}, ""}, **ocr);
    REQUIRE_FALSE(trace.ok());
    CHECK(trace.error().message().find("step 0") != std::string::npos);
}
