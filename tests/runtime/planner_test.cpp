// The step-hint planner on real screenshots (Chromium-rendered pages of the vision corpus).

#include <doctest/doctest.h>

#include "vision/page.h"

#include <thread>

#include <opencv2/imgcodecs.hpp>

#include <rote/agent/planner.h>
#include <rote/vision/ocr.h>

using namespace rote;
using namespace rote::runtime;

namespace {

cv::Mat page(const char* name) { return test::corpus_page(name); }

Workflow workflow_with(const std::string& hints)
{
    auto w = parse_workflow("name: t\ngoal: Find the company in the registry.\ninputs: {company: string, pw: secret}\n"
                            "start: {url: http://registry.example.test/}\nsuccess: {text: Done}\nhints:\n"
            + hints,
        "t.yaml");
    REQUIRE_MESSAGE(w.ok(), (w.ok() ? "" : w.error().message()));
    return *w;
}

// The box of two consecutive OCR words, read independently of the planner.
std::optional<Rect> words_box(const cv::Mat& screen, const char* first, const char* second)
{
    auto ocr = vision::Ocr::for_this_thread();
    auto words = (*ocr)->read(screen);
    for (size_t i = 0; i + 1 < words->size(); ++i) {
        const auto& a = (*words)[i];
        const auto& b = (*words)[i + 1];
        if (a.text == first && b.text == second && a.line == b.line)
            return Rect {a.box.x, std::min(a.box.y, b.box.y), b.box.x + b.box.w - a.box.x,
                std::max(a.box.y + a.box.h, b.box.y + b.box.h) - std::min(a.box.y, b.box.y)};
    }
    return std::nullopt;
}

} // namespace

TEST_CASE("step hints become grounded actions, in order, with typed text kept as templates")
{
    const cv::Mat search = page("registry-search.baseline.png");
    auto w = workflow_with("  - click \"Company name\"\n  - type \"{{company}}\" into \"Company name\"\n"
                           "  - type \"{{secret:pw}}\"\n  - key return\n  - wait 300ms\n  - scroll down 2\n");
    RunInputs inputs {{{"company", "Acme"}}, {{"pw", "hunter2"}}};
    auto planner = make_hint_planner(w, inputs);
    CHECK(planner->kind() == "hints");
    const auto label = words_box(search, "Company", "name");
    REQUIRE(label);

    auto click = planner->next(search, "");
    REQUIRE_MESSAGE(click.ok(), (click.ok() ? "" : click.error().message()));
    REQUIRE(click->actions.size() == 1);
    CHECK(click->actions[0].kind == ActionKind::click);
    CHECK(label->contains(click->actions[0].at));
    CHECK(click->hint == 0);

    auto type_into = planner->next(search, "");
    REQUIRE(type_into.ok());
    REQUIRE(type_into->actions.size() == 2);
    CHECK(type_into->actions[0].kind == ActionKind::click);
    CHECK(type_into->actions[1].kind == ActionKind::type);
    CHECK(type_into->actions[1].text == "{{company}}"); // rendered by whoever types it

    auto secret = planner->next(search, "");
    CHECK(secret->actions[0].text == "{{secret:pw}}"); // the planner never holds the value
    CHECK(planner->next(search, "")->actions[0].text == "return");
    CHECK(planner->next(search, "")->actions[0].wait_ms == 300);
    auto scroll = planner->next(search, "");
    CHECK(scroll->actions[0].scroll_dy == 2);
    auto done = planner->next(search, "");
    REQUIRE(done.ok());
    CHECK(done->actions.back().kind == ActionKind::done);
}

TEST_CASE("a hint whose label is missing or there twice is an error naming the hint's line, never a guess")
{
    auto w = workflow_with("  - click \"Dissolve company\"\n  - click \"Active\"\n");
    RunInputs inputs {{{"company", "Acme"}}, {{"pw", "x"}}};
    auto missing = make_hint_planner(w, inputs)->next(page("registry-search.baseline.png"), "");
    REQUIRE_FALSE(missing.ok());
    CHECK_MESSAGE(missing.error().message().find("t.yaml:7: step hint 'click': \"Dissolve company\" is not on the screen")
            != std::string::npos,
        missing.error().message());
    auto twice = make_hint_planner(w, inputs, 1)->next(page("registry-results.baseline.png"), "");
    REQUIRE_FALSE(twice.ok());
    CHECK_MESSAGE(twice.error().message().find("times; say which (first, second") != std::string::npos, twice.error().message());
}

TEST_CASE("wait for text polls until the text is there, and gives up after its timeout")
{
    auto w = workflow_with("  - wait for \"Search results\"\n  - click \"Vandelay Imports Ltd\"\n");
    RunInputs inputs {{{"company", "Acme"}}, {{"pw", "x"}}};
    HintPlannerOptions options;
    options.wait_for_timeout = std::chrono::milliseconds(0);
    auto planner = make_hint_planner(w, inputs, 0, options);
    auto waiting = planner->next(page("registry-search.baseline.png"), "");
    REQUIRE(waiting.ok());
    CHECK(waiting->actions[0].kind == ActionKind::wait);
    CHECK(waiting->hint == -1);
    // Seen: the next hint is the same turn's decision (one decision a turn, as a model's).
    auto click = planner->next(page("registry-results.baseline.png"), "");
    REQUIRE_MESSAGE(click.ok(), (click.ok() ? "" : click.error().message()));
    REQUIRE(click->actions.size() == 1);
    CHECK(click->actions[0].kind == ActionKind::click);
    CHECK(click->hint == 1);

    auto impatient = make_hint_planner(w, inputs, 0, options);
    (void)impatient->next(page("registry-search.baseline.png"), "");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    auto gave_up = impatient->next(page("registry-search.baseline.png"), "");
    REQUIRE_FALSE(gave_up.ok());
    CHECK(gave_up.error().message().find("waited 0 s for \"Search results\"") != std::string::npos);
}

TEST_CASE("a hint may name other labels that will do, and may be optional")
{
    auto w = workflow_with("  - click \"Accept all cookies\" if present\n  - click \"Business name\" or \"Company name\"\n"
                           "  - click \"Business name\" or \"Dissolve company\"\n");
    RunInputs inputs {{{"company", "Acme"}}, {{"pw", "x"}}};
    const cv::Mat search = page("registry-search.baseline.png");
    auto planner = make_hint_planner(w, inputs);
    // The optional control is not there: the turn goes on to the next hint.
    auto other = planner->next(search, "");
    REQUIRE_MESSAGE(other.ok(), (other.ok() ? "" : other.error().message()));
    CHECK(other->hint == 1);
    CHECK_MESSAGE(other->note.find("not present") != std::string::npos, other->note);
    const auto label = words_box(search, "Company", "name");
    REQUIRE(label);
    CHECK(label->contains(other->actions.at(0).at));
    auto none = planner->next(search, "");
    REQUIRE_FALSE(none.ok());
    CHECK_MESSAGE(none.error().message().find("\"Business name\" or \"Dissolve company\": none of them is on the screen")
            != std::string::npos,
        none.error().message());
}

TEST_CASE("first, second, ... and below \"Heading\" say which of a label's places a hint means; nothing else guesses")
{
    auto w = workflow_with("  - click \"Active\"\n  - click second \"Active\"\n  - click \"Active\" below \"Globex Holdings GmbH\"\n"
                           "  - click third \"Active\" below \"Status\"\n  - click tenth \"Active\"\n"
                           "  - click \"Active\" below \"Nowhere\"\n  - click link \"Active\"\n");
    RunInputs inputs {{{"company", "Acme"}}, {{"pw", "x"}}};
    const cv::Mat results = page("registry-results.baseline.png");
    auto words = (*vision::Ocr::for_this_thread())->read(results);
    REQUIRE(words.ok());
    std::vector<Rect> active; // top to bottom
    for (const auto& word : *words) {
        if (word.text == "Active")
            active.push_back(word.box);
    }
    std::sort(active.begin(), active.end(), [](const Rect& a, const Rect& b) { return a.y < b.y; });
    REQUIRE(active.size() >= 4);
    const auto globex = words_box(results, "Globex", "Holdings");
    REQUIRE(globex);
    for (int first = 0; first < 7; ++first) {
        CAPTURE(first);
        auto planner = make_hint_planner(w, inputs, first);
        auto turn = planner->next(results, "");
        if (first == 0) {
            REQUIRE_FALSE(turn.ok());
            CHECK(turn.error().message().find("say which (first, second, ..., below \"Heading\", link or field)") != std::string::npos);
        } else if (first == 1) {
            REQUIRE_MESSAGE(turn.ok(), (turn.ok() ? "" : turn.error().message()));
            CHECK(active[1].contains(turn->actions.at(0).at));
        } else if (first == 2) {
            // The nearest below the heading, not the one on its own line.
            REQUIRE_MESSAGE(turn.ok(), (turn.ok() ? "" : turn.error().message()));
            const Point at = turn->actions.at(0).at;
            CHECK(at.y > globex->y + globex->h);
            CHECK(std::find_if(active.begin(), active.end(), [&](const Rect& r) { return r.contains(at); }) != active.end());
            for (const auto& r : active)
                CHECK((r.center().y <= globex->center().y + 4 || r.y >= at.y - r.h));
        } else if (first == 3) {
            REQUIRE_MESSAGE(turn.ok(), (turn.ok() ? "" : turn.error().message()));
            CHECK(active[2].contains(turn->actions.at(0).at));
        } else if (first == 4) {
            REQUIRE_FALSE(turn.ok());
            CHECK(turn.error().message().find("times, not 10") != std::string::npos);
        } else if (first == 5) {
            REQUIRE_FALSE(turn.ok());
            CHECK(turn.error().message().find("\"Nowhere\" (what \"Active\" is below) is not on the screen") != std::string::npos);
        } else {
            REQUIRE_FALSE(turn.ok()); // no document here: a link cannot be told from text
            CHECK(turn.error().message().find("needs the browser's document") != std::string::npos);
        }
    }
}
