// The replayer's decisions on real screenshots (Chromium-rendered corpus pages): act, wait or diverged, and
// the effect judgement. Steps are made by the recorder, as in a real run.

#include <doctest/doctest.h>

#include "vision/page.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <rote/recorder/recorder.h>
#include <rote/replayer/replayer.h>
#include <rote/vision/ocr.h>
#include <rote/vision/target.h>

using namespace rote;
using namespace rote::replayer;

namespace {

cv::Mat page(const char* name) { return test::corpus_page(name); }

vision::Ocr& ocr()
{
    auto o = vision::Ocr::for_this_thread();
    REQUIRE(o.ok());
    return **o;
}

Point centre_of(const cv::Mat& screen, const char* phrase)
{
    auto words = ocr().read(screen);
    REQUIRE(words.ok());
    auto match = vision::find_text(*words, phrase);
    REQUIRE(match.status == vision::LocateStatus::found);
    return match.box.center();
}

// One recorded step: `action` on `before`, which became `after`.
PreparedStep recorded(const cv::Mat& before, Action action, const cv::Mat& after,
    const std::map<std::string, std::string>& inputs = {})
{
    recorder::RecordOptions options;
    options.workflow = "t";
    options.inputs = inputs;
    auto trace = recorder::record({{before, action, after, 120, store::Provenance::script, {}, {}, {}, {}}}, options, ocr());
    REQUIRE_MESSAGE(trace.ok(), (trace.ok() ? "" : trace.error().message()));
    REQUIRE(trace->steps.size() == 1);
    auto prepared = prepare(trace->steps[0], before);
    REQUIRE_MESSAGE(prepared.ok(), (prepared.ok() ? "" : prepared.error().message()));
    return *prepared;
}

Action click_at(Point p)
{
    Action a;
    a.kind = ActionKind::click;
    a.at = p;
    return a;
}

} // namespace

TEST_CASE("a pointer step acts where its target is now, waits for it, or reports why it diverged")
{
    const cv::Mat search = page("registry-search.baseline.png");
    const Point label = centre_of(search, "Company name");
    const auto step = recorded(search, click_at(label), page("registry-results.baseline.png"));
    Situation situation;
    situation.ocr = &ocr();

    auto same = decide(step, search, situation);
    REQUIRE(same.verdict == Verdict::act);
    CHECK(same.method == "recorded");
    CHECK(same.action.at == label);
    CHECK_FALSE(same.relocated);

    auto shifted = decide(step, page("registry-search.shift-45.png"), situation);
    REQUIRE_MESSAGE(shifted.verdict == Verdict::act, shifted.why);
    CHECK(shifted.relocated);
    CHECK(shifted.offset == Point {shifted.action.at.x - label.x, shifted.action.at.y - label.y});

    auto absent = decide(step, page("crm-login.baseline.png"), situation);
    CHECK(absent.verdict == Verdict::diverged);
    CHECK_MESSAGE(absent.why.find("\"Company name\" was not found") != std::string::npos, absent.why);
    situation.may_wait = true;
    CHECK(decide(step, page("crm-login.baseline.png"), situation).verdict == Verdict::wait);
}

TEST_CASE("a keyboard step acts after a verified step or on its recorded screen, and nowhere else")
{
    const cv::Mat search = page("registry-search.baseline.png");
    Action type;
    type.kind = ActionKind::type;
    type.text = "Acme";
    cv::Mat typed = search.clone();
    cv::putText(typed, "Acme", {60, 300}, cv::FONT_HERSHEY_SIMPLEX, 0.6, {0, 0, 0});
    const auto step = recorded(search, type, typed, {{"company", "Acme"}});
    CHECK(step.step.action.text == "{{company}}");
    Situation situation;
    auto here = decide(step, search, situation);
    CHECK(here.verdict == Verdict::act);
    CHECK(here.method == "keyboard");
    auto elsewhere = decide(step, page("crm-login.baseline.png"), situation);
    CHECK(elsewhere.verdict == Verdict::diverged);
    CHECK(elsewhere.why.find("not the one this type step was recorded on") != std::string::npos);
    situation.follows_verified = true;
    CHECK(decide(step, page("crm-login.baseline.png"), situation).verdict == Verdict::act);
}

TEST_CASE("the effect: a step that changed the screen must change it again, a new page more than a hover")
{
    const cv::Mat search = page("registry-search.baseline.png");
    const cv::Mat results = page("registry-results.baseline.png");
    const auto step = recorded(search, click_at(centre_of(search, "Company name")), results);
    REQUIRE(step.step.effect_region.has_value());

    CHECK(judge_effect(step, search, results, {}).as_recorded);
    auto nothing = judge_effect(step, search, search, {});
    CHECK_FALSE(nothing.as_recorded);
    CHECK(nothing.why.find("changed nothing") != std::string::npos);
    cv::Mat hover = search.clone();
    cv::rectangle(hover, {40, 130}, {180, 160}, {200, 200, 200}, cv::FILLED); // a small change only
    auto small = judge_effect(step, search, hover, {});
    CHECK_FALSE(small.as_recorded);
    CHECK_MESSAGE(small.why.find("% of the screen area") != std::string::npos, small.why);
}

TEST_CASE("the effect is judged by each run's own screen: a smaller window does not make a popup a new page")
{
    const cv::Mat search = page("registry-search.baseline.png");
    const cv::Mat results = page("registry-results.baseline.png");
    auto step = recorded(search, click_at(centre_of(search, "Company name")), results);
    REQUIRE(step.step.effect_region.has_value());
    const cv::Size small_window(search.cols * 4 / 5, search.rows * 24 / 25); // 1024x768 from 1280x800
    cv::Mat before, after;
    cv::resize(search, before, small_window);

    // A step that drew a popup over a fifth of the recorded screen (not a new page) is as recorded when it
    // draws it again in a window where that region would be more than a quarter.
    step.step.effect_region = Rect {search.cols / 2, 16, search.cols * 2 / 5, search.rows / 2};
    after = before.clone();
    cv::rectangle(after, {search.cols / 2, 40}, {search.cols / 2 + 200, 140}, {90, 90, 90}, cv::FILLED);
    const auto popup = judge_effect(step, before, after, {});
    CHECK_MESSAGE(popup.as_recorded, popup.why);

    // A new page when recorded still needs more than a hover in the smaller window.
    step.step.effect_region = Rect {0, 0, search.cols, search.rows * 3 / 4};
    after = before.clone();
    cv::rectangle(after, {40, 130}, {180, 160}, {200, 200, 200}, cv::FILLED);
    const auto hover = judge_effect(step, before, after, {});
    CHECK_FALSE(hover.as_recorded);
    CHECK_MESSAGE(hover.why.find("% of the screen area") != std::string::npos, hover.why);
    cv::resize(results, after, small_window);
    CHECK(judge_effect(step, before, after, {}).as_recorded);
}

TEST_CASE("the effect: focus leaving one field for another far below is as recorded when it happens again")
{
    const cv::Mat form = page("registry-search.baseline.png");
    // Two thin rings far apart (one field's focus ring gone, another's drawn): recorded, their box is a large
    // part of the screen; a run that changes the same two rings has the same box, not a hover's share of it.
    cv::Mat focused = form.clone();
    cv::rectangle(focused, {200, 190}, {1190, 222}, {200, 120, 40}, 2);
    cv::Mat moved_on = form.clone();
    cv::rectangle(moved_on, {200, 585}, {606, 610}, {200, 120, 40}, 2);
    const auto step = recorded(focused, click_at({300, 597}), moved_on);
    REQUIRE(step.step.effect_region.has_value());
    REQUIRE(double(step.step.effect_region->w) * step.step.effect_region->h * 4 >= double(form.cols) * form.rows);
    const auto again = judge_effect(step, focused, moved_on, {});
    CHECK_MESSAGE(again.as_recorded, again.why);
    // One of the two rings alone is still not the effect.
    const auto half = judge_effect(step, focused, form, {});
    CHECK_FALSE(half.as_recorded);
}

TEST_CASE("a target named by an input is found by this run's value, confirmed by its landmarks")
{
    const cv::Mat results = page("registry-results.baseline.png");
    auto words = ocr().read(results);
    REQUIRE(words.ok());
    // The corpus page lists several companies; the first row's name is the input when recorded.
    auto first = vision::find_text(*words, "ACME Trading Ltd");
    REQUIRE(first.status == vision::LocateStatus::found);
    const auto step = recorded(results, click_at(first.box.center()), page("registry-search.baseline.png"),
        {{"company", "ACME Trading Ltd"}});
    CHECK(step.step.anchor.label == "{{company}}");
    CHECK(step.label_template == "{{company}}");
    // Read by its value, at its place among its landmarks (the e2e tests replay other values in that place).
    const std::map<std::string, std::string> same {{"company", "ACME Trading Ltd"}};
    Situation situation;
    situation.ocr = &ocr();
    situation.inputs = &same;
    auto found = decide(step, results, situation);
    REQUIRE_MESSAGE(found.verdict == Verdict::act, found.why);
    CHECK(found.method == "input_text");
    CHECK(first.box.contains(found.action.at));
    // Another company's name on another row is not where the landmarks put the target: never clicked.
    const std::map<std::string, std::string> other {{"company", "Initech Solutions AG"}};
    situation.inputs = &other;
    auto elsewhere = decide(step, results, situation);
    CHECK(elsewhere.verdict == Verdict::diverged);
    CHECK(elsewhere.why.find("none of its landmarks") != std::string::npos);
    const std::map<std::string, std::string> absent {{"company", "Vandelay Industries"}};
    situation.inputs = &absent;
    CHECK(decide(step, results, situation).verdict == Verdict::diverged);
}

namespace {

Action key_action(const char* keys)
{
    Action a;
    a.kind = ActionKind::key;
    a.text = keys;
    return a;
}

// A steps' frame: the search page with a caret (a thin dark bar) at `caret`, or a highlighted line.
cv::Mat with_caret(const cv::Mat& screen, Point caret)
{
    cv::Mat out = screen.clone();
    cv::rectangle(out, {caret.x, caret.y}, {caret.x + 1, caret.y + 15}, {0, 0, 0}, cv::FILLED);
    return out;
}

} // namespace

TEST_CASE("re-synchronisation never skips a keyboard step, never jumps forward after a write")
{
    // The text edit that corrupted a page: click a line of a text area, key down, End, shift+Home, type the
    // new line, save. The click landed but was judged to change nothing (only the caret moved), a planner
    // clicked again, and the screen then matched the pre-states of both key steps and the typing (they differ
    // by a caret): resuming at the best and latest match skipped the keys, and the new text replaced the
    // wrong line. Re-synchronisation must go on at the first key step.
    const cv::Mat editor = page("registry-search.baseline.png");
    const cv::Mat line1 = with_caret(editor, {200, 300}), line2 = with_caret(editor, {200, 320});
    const cv::Mat end2 = with_caret(editor, {420, 320});
    cv::Mat selected = editor.clone();
    cv::rectangle(selected, {200, 318}, {420, 334}, {255, 215, 170}, cv::FILLED);
    cv::Mat typed = editor.clone();
    cv::putText(typed, "New line", {200, 332}, cv::FONT_HERSHEY_SIMPLEX, 0.5, {0, 0, 0});
    Action type;
    type.kind = ActionKind::type;
    type.text = "New line";
    std::vector<PreparedStep> steps {recorded(editor, click_at({200, 305}), line1),
        recorded(line1, key_action("down"), line2), recorded(line2, key_action("End"), end2),
        recorded(end2, key_action("shift+Home"), selected), recorded(selected, type, typed)};
    Situation situation;
    situation.ocr = &ocr();
    // The click (step 0) diverged; the planner's click put the caret on line 1 again: key down is next.
    auto at = resync(steps, 0, line1, situation);
    REQUIRE(at.has_value());
    CHECK(*at == 1);
    // Even a screen that matches a later key step's pre-state better does not skip the key steps before it,
    // nor the diverged key step itself while the screen still looks like the one it acted on.
    at = resync(steps, 0, end2, situation);
    CHECK((!at.has_value() || *at <= 1));
    at = resync(steps, 1, end2, situation);
    CHECK((!at.has_value() || *at <= 1));

    // A form field: click it, type the value, Return. The click diverged; the planner clicked and typed the
    // value itself. Going on at the typing would type it twice (a write that saved "visit 2visit 2"): the
    // planner's own typing stands for the step, and replay goes on at Return.
    std::vector<PreparedStep> field {recorded(editor, click_at({200, 305}), line1), recorded(line1, type, typed),
        recorded(typed, key_action("Return"), page("registry-results.baseline.png"))};
    Action clicked = click_at({200, 305});
    at = resync(field, 0, typed, situation, {clicked, type});
    REQUIRE(at.has_value());
    CHECK(*at == 2);
    // The planner clicked only: the typing is still to do.
    at = resync(field, 0, line1, situation, {clicked});
    REQUIRE(at.has_value());
    CHECK(*at == 1);
    // It typed something else: that is no stand-in for the step, which is neither skipped nor gone on at twice.
    Action other = type;
    other.text = "Other text";
    at = resync(field, 0, typed, situation, {clicked, other});
    CHECK((!at.has_value() || *at <= 1));

    // A diverged key step the planner did otherwise (Return no longer submits; it clicked the button): the
    // screen has moved on from the one the key acted on, so going on after it is proven.
    const cv::Mat results_page = page("registry-results.baseline.png");
    std::vector<PreparedStep> search_steps {recorded(editor, type, typed), recorded(typed, key_action("Return"), results_page),
        recorded(results_page, click_at(centre_of(results_page, "Filings")), page("crm-login.baseline.png"))};
    CHECK(resync(search_steps, 1, results_page, situation) == 2);

    // Pointer steps may be skipped when the screen is ready for a later one, until the run has written.
    const cv::Mat search = page("registry-search.baseline.png");
    const cv::Mat results = page("registry-results.baseline.png");
    const cv::Mat login = page("crm-login.baseline.png");
    std::vector<PreparedStep> clicks {recorded(search, click_at(centre_of(search, "Company name")), results),
        recorded(results, click_at(centre_of(results, "Filings")), login),
        recorded(login, click_at(centre_of(login, "Email")), login)};
    at = resync(clicks, 0, login, situation);
    REQUIRE(at.has_value());
    CHECK(*at == 2);
    situation.wrote = true;
    CHECK_FALSE(resync(clicks, 0, login, situation).has_value());
    CHECK(resync(clicks, 1, results, situation) == 1); // going on where it diverged skips nothing
}

TEST_CASE("a step recorded on a link goes to the one link the document says reads this run's value")
{
    const cv::Mat results = page("registry-results.baseline.png");
    auto words = ocr().read(results);
    REQUIRE(words.ok());
    const auto box_of = [&](const char* phrase) {
        auto m = vision::find_text(*words, phrase);
        REQUIRE(m.status == vision::LocateStatus::found);
        return m.box;
    };
    auto step = recorded(results, click_at(box_of("Initech Solutions AG").center()), page("crm-login.baseline.png"),
        {{"company", "Initech Solutions AG"}});
    REQUIRE(step.label_template == "{{company}}");
    step.step.anchor.element = "link";
    const std::map<std::string, std::string> inputs {{"company", "Globex Holdings GmbH"}};
    Situation situation;
    situation.ocr = &ocr();
    situation.inputs = &inputs;

    using Link = Situation::DocumentLink;
    const Rect globex = box_of("Globex Holdings GmbH");
    std::vector<Link> one {{globex, "http://registry.example.test/company/41007"}};
    situation.document_links = &one;
    auto d = decide(step, results, situation);
    REQUIRE_MESSAGE(d.verdict == Verdict::act, d.why);
    CHECK(d.method == "document_link");
    CHECK(d.action.at == globex.center());

    std::vector<Link> two {{globex, "http://registry.example.test/company/41007"},
        {box_of("Stark Components KG"), "http://registry.example.test/company/5521"}};
    situation.document_links = &two;
    d = decide(step, results, situation);
    CHECK(d.verdict == Verdict::diverged);
    CHECK(d.why.find("2 links read \"Globex Holdings GmbH\" and lead to different pages") != std::string::npos);
    // Two links to one page (a search's page-name match and its result): the one nearest the recorded point.
    std::vector<Link> same {{box_of("Vandelay Imports Ltd"), "http://registry.example.test/doku.php?id=globex"},
        {globex, "http://registry.example.test/doku.php?id=globex&s[]=globex#top"}};
    situation.document_links = &same;
    // (the screen's words in the chosen box must still read the value: Globex's box is the nearer one)
    d = decide(step, results, situation);
    REQUIRE_MESSAGE(d.verdict == Verdict::act, d.why);
    CHECK(d.action.at == globex.center());
    // A parameter changed, not added: another page.
    std::vector<Link> changed {{box_of("Vandelay Imports Ltd"), "http://registry.example.test/doku.php?id=globex"},
        {globex, "http://registry.example.test/doku.php?id=globex_holdings&s[]=globex"}};
    situation.document_links = &changed;
    CHECK(decide(step, results, situation).verdict == Verdict::diverged);
    std::vector<Link> none;
    situation.document_links = &none;
    CHECK(decide(step, results, situation).verdict == Verdict::diverged);
    // The document's box must read as the value on the screen.
    std::vector<Link> wrong {{box_of("Stark Components KG"), "http://registry.example.test/company/5521"}};
    situation.document_links = &wrong;
    d = decide(step, results, situation);
    CHECK(d.verdict == Verdict::diverged);
    CHECK(d.why.find("reads \"Stark Components KG\"") != std::string::npos);
    // No document (the qemu provider, a desktop app): the pixels alone, as before.
    situation.document_links = nullptr;
    CHECK(decide(step, results, situation).method != "document_link");
}

namespace {

// `step` as recorded with the document's identity of its target (prepared again: its look is of the pre-state).
PreparedStep with_identity(const PreparedStep& step, const cv::Mat& before, ElementIdentity identity)
{
    store::Step s = step.step;
    s.anchor.identity = std::move(identity);
    s.anchor.element = "button";
    auto prepared = prepare(s, before);
    REQUIRE_MESSAGE(prepared.ok(), (prepared.ok() ? "" : prepared.error().message()));
    return *prepared;
}

} // namespace

TEST_CASE("a target found by its identity in the document acts there once the pixels agree, else the pixels decide")
{
    const cv::Mat search = page("registry-search.baseline.png");
    const cv::Mat shifted = page("registry-search.shift-45.png");
    // The search button (centred at the target of tests/vision/data/expected.jsonl), recorded a little off its
    // centre.
    const Rect button {215, 304, 92, 36}, moved_button {260, 349, 92, 36};
    ElementIdentity identity;
    identity.tag = "button";
    identity.id = "search";
    identity.role = "button";
    identity.label = identity.text = "Search";
    identity.box = button;
    const auto step = with_identity(recorded(search, click_at({244, 317}), page("registry-results.baseline.png")), search, identity);
    REQUIRE_FALSE(step.element_look.empty());
    Situation situation;
    situation.ocr = &ocr();

    // Where the document draws it now, at the same place in it; its words read there.
    std::vector<Situation::DocumentTarget> targets {{moved_button, "id", "Search", {}, {}}};
    situation.document_targets = &targets;
    auto d = decide(step, shifted, situation);
    REQUIRE_MESSAGE(d.verdict == Verdict::act, d.why);
    CHECK(d.method == "document_id");
    CHECK(d.action.at == Point {289, 362});
    // Another language: the document's words now, read on the screen, whatever the trace recorded.
    cv::Mat translated = shifted.clone();
    cv::rectangle(translated, {moved_button.x + 2, moved_button.y + 2}, {moved_button.x + 89, moved_button.y + 33},
        {240, 240, 240}, cv::FILLED);
    cv::putText(translated, "Suche", {moved_button.x + 14, moved_button.y + 25}, cv::FONT_HERSHEY_SIMPLEX, 0.7, {0, 0, 0}, 2);
    targets = {{moved_button, "id", "Suche", {}, {}}};
    d = decide(step, translated, situation);
    REQUIRE_MESSAGE(d.verdict == Verdict::act, d.why);
    CHECK(d.method == "document_id");
    // The pixels disagree with the document (its words are not drawn where it says): the pixels decide.
    targets = {{moved_button, "id", "Abbrechen", {}, {}}};
    d = decide(step, shifted, situation);
    CHECK(d.method.rfind("document_", 0) != 0);
    // Two elements with the identity: the document does not tell them apart, the pixels decide.
    targets = {{moved_button, "classes", "Search", {}, {}}, {button, "classes", "Search", {}, {}}};
    d = decide(step, shifted, situation);
    CHECK(d.method.rfind("document_", 0) != 0);
    // An element that shows no words is confirmed by its look: the same place looks as recorded, another not.
    targets = {{button, "name", "", {}, {}}};
    d = decide(step, search, situation);
    REQUIRE_MESSAGE(d.verdict == Verdict::act, d.why);
    CHECK(d.method == "document_name");
    targets = {{Rect {20, 20, 92, 36}, "name", "", {}, {}}};
    CHECK(decide(step, search, situation).method.rfind("document_", 0) != 0);
    // A field that shows no words, named by its <label>: the label's words, read where the document draws
    // them, confirm it (in German its label is longer and it moved; its look resized is not the same).
    auto words = ocr().read(search);
    REQUIRE(words.ok());
    const auto label = vision::find_text(*words, "Company name");
    REQUIRE(label.status == vision::LocateStatus::found);
    targets = {{Rect {20, 20, 92, 36}, "id", "", "Company name", label.box}};
    d = decide(step, search, situation);
    REQUIRE_MESSAGE(d.verdict == Verdict::act, d.why);
    CHECK(d.method == "document_id");
    targets = {{Rect {20, 20, 92, 36}, "id", "", "Firmenname", label.box}};
    d = decide(step, search, situation);
    CHECK(d.method.rfind("document_", 0) != 0);
}

TEST_CASE("the document proves an effect the pixels barely show, and holds the focus to the recorded field")
{
    // The false "changed nothing": a click on a line of a text area that has the focus already moves only its
    // caret, which blinks: the screen after it may show no change at all. The planner was asked, clicked
    // again, and re-synchronisation then skipped the key steps. The document sees the caret move.
    const cv::Mat editor = page("registry-search.baseline.png");
    const cv::Mat line1 = with_caret(editor, {200, 300});
    auto step = recorded(editor, click_at({200, 305}), line1);
    REQUIRE(step.step.effect_region.has_value());
    ElementIdentity text_area;
    text_area.tag = "textarea";
    text_area.id = "wiki__text";
    text_area.name = "wikitext";
    text_area.role = "textbox";
    step.step.anchor.focus = text_area;

    const auto pixels_only = judge_effect(step, editor, editor, {});
    CHECK_FALSE(pixels_only.as_recorded);
    CHECK(pixels_only.why.find("changed nothing") != std::string::npos);
    DocumentEffect caret;
    caret.caret_moved = true;
    caret.focus = text_area;
    const auto proven = judge_effect(step, editor, editor, {}, &caret);
    CHECK(proven.as_recorded);
    CHECK_MESSAGE(proven.proof.find("the caret in textarea #wiki__text") != std::string::npos, proven.proof);
    // Nothing moved in the document either: still nothing.
    DocumentEffect still;
    still.focus = text_area;
    CHECK_FALSE(judge_effect(step, editor, editor, {}, &still).as_recorded);
    // The focus went to another field (keys typed next would go there), whatever the pixels show.
    DocumentEffect elsewhere;
    elsewhere.focus_moved = true;
    elsewhere.focus.tag = "input";
    elsewhere.focus.id = "search";
    const auto wrong = judge_effect(step, editor, line1, {}, &elsewhere);
    CHECK_FALSE(wrong.as_recorded);
    CHECK_MESSAGE(wrong.why.find("the focus is on input #search; when recorded this step left it on textarea #wiki__text")
            != std::string::npos, wrong.why);
    DocumentEffect lost;
    lost.focus_moved = true;
    CHECK(judge_effect(step, editor, line1, {}, &lost).why.find("the focus is on no field") != std::string::npos);

    // A step that brought a new page when recorded is not proven by a caret or a focus.
    const cv::Mat results = page("registry-results.baseline.png");
    const auto navigation = recorded(editor, click_at(centre_of(editor, "Company name")), results);
    DocumentEffect focused;
    focused.focus_moved = caret.caret_moved = true;
    CHECK_FALSE(judge_effect(navigation, editor, editor, {}, &focused).as_recorded);
    CHECK_FALSE(judge_effect(navigation, editor, editor, {}, &caret).as_recorded);
}

TEST_CASE("a corrupt step is an error, not a decision")
{
    const cv::Mat search = page("registry-search.baseline.png");
    auto step = recorded(search, click_at(centre_of(search, "Company name")), page("registry-results.baseline.png"));
    store::Step broken = step.step;
    broken.pre_fingerprint = {1, 2, 3};
    auto corrupt = prepare(broken, search);
    REQUIRE_FALSE(corrupt.ok());
    CHECK(corrupt.error().message().find("trace step 0") != std::string::npos);
    cv::Mat small;
    cv::resize(search, small, {640, 400});
    auto wrong_size = prepare(step.step, small);
    REQUIRE_FALSE(wrong_size.ok());
    CHECK(wrong_size.error().message().find("640x400") != std::string::npos);
}
