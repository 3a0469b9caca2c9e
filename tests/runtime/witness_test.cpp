// The DevTools witness in a real local sandbox: Chromium's own document behind the screen, asked over the
// socket pair that is its descriptors 3 and 4. Every way a value belongs to its label, a wrapped value read
// whole, hidden and repeated labels, a page that tampers with its own DOM functions, and boxes that land on
// the screen's words in an app window and in a normal window at device scale 1.25; a form sent and a link
// followed, never taken for the page they leave.

#include <doctest/doctest.h>

#include <functional>

#include <httplib.h>
#include <opencv2/imgcodecs.hpp>

#include <rote/agent/planner.h>
#include <rote/desktop/desktop.h>
#include <rote/session/session.h>
#include <rote/witness/witness.h>

#include "support.h"

using namespace rote;
using namespace rote::runtime;

namespace {

constexpr const char* kPage = R"html(<!doctype html>
<html><head><title>Witness page</title>
<style>
  body { font: 16px sans-serif; margin: 16px; }
  .title { font-size: 20px; font-weight: bold; margin-right: 8px; }
  th, td { border: 1px solid #999; padding: 4px; vertical-align: top; text-align: left; }
  .narrow { width: 420px; }
  .hidden { display: none; }
  .attr div { display: inline-block; margin-right: 12px; }
</style>
<script>
  // The page's own world lies about its text and breaks the tree walker; the witness asks in a world of its own.
  Object.defineProperty(Node.prototype, 'textContent', { get() { return 'Region'; } });
  Object.defineProperty(HTMLElement.prototype, 'innerText', { get() { return 'forged'; } });
  document.createTreeWalker = function () { throw new Error('no walking here'); };
</script></head>
<body>
<p><span class="title">Witness page</span> <input name="q" placeholder="Search the wiki" size="16"> <a class="login action" href="/login#top" title="Log In">Log In</a>
   <span style="position: relative"><button id="under">Under</button>
   <span style="position: absolute; left: 0; top: -4px; width: 60px; height: 30px; background: #eee">Ad</span></span>
   <textarea id="notes" name="notes" rows="1" cols="14" style="vertical-align: middle; margin-left: 16px">line one</textarea></p>
<div class="hidden"><button id="hidden-save">Save</button></div>
<p><a href="/partners/stark">Stark Components</a> <button style="font: 16px sans-serif; padding: 4px 12px">Save</button>
   and a snippet: Stark Components is not to be confused with Wayne.</p>
<div style="display: flex; gap: 40px"><div>Code <b>A-1</b></div><div>Code <b>B-2</b></div></div>
<table class="narrow">
  <tr><th>Account manager</th><td>Hannah Cole</td></tr>
  <tr><th>Service address</th><td>Plot 22, Celtic Business Park, Queensway Meadows, Newport NP19 4PP</td></tr>
</table>
<div class="attr"><div class="label"><span>Priority</span>:</div><div class="value">High</div></div>
<dl><dt>Region</dt><dd>Wales</dd></dl>
<p><b>Status:</b> Resolved</p>
<p>Registration number: 08431277</p>
<p><label for="contact">Contact</label> <input id="contact" value="Dana Scully" size="20"></p>
<div class="hidden"><span>Renewal</span> <span>1999-01-01</span></div>
<p><span>Renewal</span> <span>2027-03-01</span></p>
<table><tr><th>Owner</th><th>Team</th></tr><tr><td>Ben Carter</td><td>Field Ops</td></tr></table>
<p style="margin-top: 4000px">Terms of the fold</p>
<p style="position: absolute; top: calc(100vh - 8px); left: 300px; margin: 0; font-size: 18px">Cut by the edge</p>
<p style="position: absolute; top: calc(100vh - 60px); left: 900px; width: 160px; margin: 0; font-size: 18px; line-height: 24px">
Two lines and more of a block the edge cuts below its second line</p>
</body></html>)html";

// Ways to leave a document and ways that only look like it: a link to a fragment of it, a link its own
// script handles (a router), a form that is sent; on the next page, a link and a script that sends a form
// (form.submit(): the page schedules the navigation in a task of its own).
constexpr const char* kLeave = R"html(<!doctype html>
<html><head><title>Leave</title><style>body { font: 24px sans-serif; margin: 24px; } a { margin-right: 40px; }</style>
<script>
  addEventListener('click', (e) => {
    const a = e.target.closest('a.routed');
    if (a) { e.preventDefault(); history.pushState({}, '', a.href); }
  });
</script></head>
<body><p><a href="#part">Part</a> <a class="routed" href="/routed">Routed</a> <a role="link" onclick="alert('Stop here')">Alert</a></p>
<form action="/slow" method="post"><label for="company">Company</label> <input id="company" name="company" value="Acme"></form>
</body></html>)html";

constexpr const char* kArrived = R"html(<!doctype html>
<html><head><title>Arrived</title><style>body { font: 24px sans-serif; margin: 24px; }</style></head>
<body><p>Arrived. <a href="/slow?again">Again</a> <a role="link" onclick="document.forms.later.submit()">Scripted</a></p>
<form name="later" action="/slow?scripted" method="post"></form></body></html>)html";

// The page on a loopback port of its own.
class PageServer {
public:
    PageServer()
    {
        m_server.Get("/", [](const httplib::Request&, httplib::Response& res) { res.set_content(kPage, "text/html"); });
        m_server.Get("/leave", [](const httplib::Request&, httplib::Response& res) { res.set_content(kLeave, "text/html"); });
        // A slow server: the document before stays on the screen, "complete", while the next one is asked for.
        const auto slow = [](const httplib::Request&, httplib::Response& res) {
            std::this_thread::sleep_for(std::chrono::milliseconds(2000));
            res.set_content(kArrived, "text/html");
        };
        m_server.Get("/slow", slow);
        m_server.Post("/slow", slow);
        port = m_server.bind_to_any_port("127.0.0.1");
        m_thread = std::thread([this] { m_server.listen_after_bind(); });
        while (!m_server.is_running())
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    ~PageServer()
    {
        m_server.stop();
        m_thread.join();
    }
    int port = 0;

private:
    httplib::Server m_server;
    std::thread m_thread;
};

std::vector<LabelledValue> beside(Witness& witness, const char* label)
{
    auto values = witness.values_beside(label);
    REQUIRE_MESSAGE(values.ok(), label << ": " << values.error().message());
    return *values;
}

// The one value beside `label`, whose box must hold `shown` on the screen (OCR), with `how`.
void check_value(Witness& witness, const cv::Mat& screen, const char* label, const char* text, const char* how,
    const char* shown)
{
    const std::string name = label;
    CAPTURE(name);
    const auto values = beside(witness, label);
    REQUIRE(values.size() == 1);
    CHECK(values[0].text == std::string(text));
    CHECK(values[0].how == std::string(how));
    const auto where = test::find_text(screen, shown);
    REQUIRE_MESSAGE(where.has_value(), "\"" << shown << "\" is not on the screen");
    const Rect box {values[0].box.x - 4, values[0].box.y - 4, values[0].box.w + 8, values[0].box.h + 8};
    CHECK_MESSAGE(box.contains({where->x + where->w / 2, where->y + where->h / 2}),
        "the box (" << values[0].box.x << "," << values[0].box.y << " " << values[0].box.w << "x" << values[0].box.h
                    << ") does not hold \"" << shown << "\" at (" << where->x << "," << where->y << ")");
}

void check_document(BrowserWindow window, double scale)
{
    PageServer site;
    SessionSpec spec;
    spec.start_url = "http://witness.example.test/";
    spec.routes = {{"witness.example.test", "127.0.0.1:" + std::to_string(site.port)}};
    spec.window = window;
    spec.scale = scale;
    auto session = Session::start(spec);
    REQUIRE_MESSAGE(session.ok(), session.error().message());
    auto desktop = Desktop::connect((*session)->sandbox().vnc());
    REQUIRE(desktop.ok());
    const auto sighting = test::wait_for_text(**desktop, "Hannah Cole", std::chrono::seconds(30));
    if (!sighting.where && !sighting.screen.empty())
        cv::imwrite("witness-page-not-shown.png", sighting.screen);
    REQUIRE_MESSAGE(sighting.where.has_value(), "the page never showed (witness-page-not-shown.png)");
    const int fd = (*session)->sandbox().take_devtools_socket();
    REQUIRE(fd >= 0);
    CHECK((*session)->sandbox().take_devtools_socket() == -1); // handed out once
    auto witness = connect_devtools_witness(fd);
    const cv::Mat& screen = sighting.screen;

    CHECK(witness->url().value() == "http://witness.example.test/");
    // A wrapped cell, whole and in order; its header wraps too.
    check_value(*witness, screen, "Service address", "Plot 22, Celtic Business Park, Queensway Meadows, Newport NP19 4PP",
        "next cell", "Queensway Meadows");
    check_value(*witness, screen, "Account manager", "Hannah Cole", "next cell", "Hannah Cole");
    check_value(*witness, screen, "Priority:", "High", "after", "High");
    check_value(*witness, screen, "Region", "Wales", "definition", "Wales");
    check_value(*witness, screen, "Status:", "Resolved", "after", "Resolved");
    check_value(*witness, screen, "Contact", "Dana Scully", "field", "Dana Scully");
    check_value(*witness, screen, "Renewal", "2027-03-01", "after", "2027-03-01"); // the hidden one is not seen
    check_value(*witness, screen, "Owner", "Ben Carter", "cell below", "Ben Carter"); // a header row
    // Where a label is, by no words of it: its classes when they name it alone (Priority's "div.label"), never
    // its place among siblings (a header cell of a table without classes has none); read back from there.
    auto priority = beside(*witness, "Priority:");
    REQUIRE(priority.size() == 1);
    CHECK(priority[0].label_at == "div.label");
    auto at = witness->values_at(priority[0].label_at);
    REQUIRE(at.ok());
    REQUIRE(at->size() == 1);
    CHECK((*at)[0].text == "High");
    CHECK((*at)[0].how == "after");
    CHECK(beside(*witness, "Account manager").at(0).label_at.empty());
    for (const char* names_no_one_label : {"th", "p > span", "div.nowhere", "#under[", ""}) {
        CAPTURE(names_no_one_label);
        auto none = witness->values_at(names_no_one_label);
        REQUIRE(none.ok());
        CHECK(none->empty());
    }
    // A label that begins its text: the rest of it, or the next cell of a header cell.
    auto values = beside(*witness, "Registration number");
    REQUIRE(values.size() == 1);
    CHECK(values[0].text == "08431277");
    CHECK_FALSE(values[0].exact);
    values = beside(*witness, "Account");
    REQUIRE(values.size() == 1);
    CHECK(values[0].text == "Hannah Cole");
    // Twice, with two values: both reported, for the caller to refuse.
    values = beside(*witness, "Code");
    REQUIRE(values.size() == 2);
    CHECK(values[0].text == "A-1");
    CHECK(values[1].text == "B-2");
    // The link, never the same words in the snippet below it; what a person would call each element.
    auto links = witness->links_reading("stark  components");
    REQUIRE(links.ok());
    REQUIRE(links->size() == 1);
    const auto link_text = test::find_text(screen, "Stark Components", 30, 0);
    REQUIRE(link_text.has_value());
    CHECK((*links)[0].href == "http://witness.example.test/partners/stark");
    const Rect& found = (*links)[0].box;
    const Rect link {found.x - 4, found.y - 4, found.w + 8, found.h + 8};
    CHECK(link.contains(link_text->center()));
    const auto snippet = test::find_text(screen, "Stark Components", 30, 1);
    REQUIRE(snippet.has_value());
    CHECK_FALSE(link.contains(snippet->center()));
    CHECK(witness->links_reading("Wayne")->empty());
    CHECK(witness->element_at(link_text->center()).value().kind == "link");
    CHECK(witness->element_at(snippet->center()).value().kind == "text");
    // The button right after the link (OCR does not read its word reliably on a grey face).
    const Point save {found.x + found.w + 25, found.y + found.h / 2};
    CHECK(witness->element_at(save).value().kind == "button");
    const auto contact = test::find_text(screen, "Dana Scully");
    REQUIRE(contact.has_value());
    CHECK(witness->element_at(contact->center()).value().kind == "field");
    // Nothing: below the page's end in the app window, the tab strip above the page in the normal one.
    const Point nothing = window == BrowserWindow::app ? Point {screen.cols / 2, screen.rows - 10} : Point {screen.cols / 2, 30};
    CHECK(witness->element_at(nothing).value().kind.empty());

    // Who an element is, and finding it again by that: id, name, role and accessible name, text, href, classes.
    const auto contact_element = witness->element_at(contact->center());
    REQUIRE(contact_element.ok());
    const ElementIdentity& contact_identity = contact_element->identity;
    CHECK(contact_identity.tag == "input");
    CHECK(contact_identity.id == "contact");
    CHECK(contact_identity.role == "textbox");
    CHECK(contact_identity.label == "Contact");
    CHECK(contact_identity.text.empty()); // a field's value is never part of who it is
    CHECK(contact_identity.box.contains(contact->center()));
    const auto link_identity = witness->element_at(link_text->center())->identity;
    CHECK(link_identity.tag == "a");
    CHECK(link_identity.href == "http://witness.example.test/partners/stark");
    CHECK(link_identity.text == "Stark Components");
    const auto find = [&](ElementIdentity e) {
        auto found = witness->find(e);
        REQUIRE_MESSAGE(found.ok(), found.error().message());
        return *found;
    };
    auto hits = find(contact_identity);
    REQUIRE(hits.size() == 1);
    CHECK(hits[0].by == "id");
    CHECK(hits[0].shown == "Dana Scully");
    CHECK(hits[0].box.contains(contact->center()));
    CHECK(hits[0].label == "Contact"); // its <label>, drawn where the document says
    const auto contact_label = test::find_text(screen, "Contact");
    REQUIRE(contact_label.has_value());
    CHECK(std::abs(hits[0].label_box.x - contact_label->x) <= 4); // where its word begins
    CHECK(std::abs(hits[0].label_box.y - contact_label->y) <= 6);
    ElementIdentity search;
    search.tag = "input";
    search.name = "q";
    hits = find(search);
    REQUIRE(hits.size() == 1);
    CHECK(hits[0].by == "name");
    CHECK(hits[0].shown == "Search the wiki"); // its placeholder, as drawn
    const auto save_identity = witness->element_at(save)->identity;
    CHECK(save_identity.label == "Save");
    hits = find(save_identity);
    REQUIRE(hits.size() == 1); // not the hidden one
    CHECK(hits[0].by == "role and name");
    ElementIdentity login; // in another language: its words differ, where it leads does not
    login.tag = "a";
    login.role = "link";
    login.label = login.text = "Anmelden";
    login.href = "http://witness.example.test/login";
    hits = find(login);
    REQUIRE(hits.size() == 1);
    CHECK(hits[0].by == "href");
    CHECK(hits[0].shown == "Log In");
    login.href.clear();
    login.classes = "action login";
    hits = find(login);
    REQUIRE(hits.size() == 1);
    CHECK(hits[0].by == "classes");
    ElementIdentity hidden = save_identity; // its id names a hidden one: not the visible button with its words
    hidden.id = "hidden-save";
    CHECK(find(hidden).empty());
    ElementIdentity under; // drawn, but under a banner
    under.tag = "button";
    under.id = "under";
    CHECK(find(under).empty());

    // The focus and what keys do to it, from the document: a click into the text area, End, a letter.
    auto state = witness->state();
    REQUIRE_MESSAGE(state.ok(), state.error().message());
    CHECK(state->url == "http://witness.example.test/");
    CHECK(state->focus.empty());
    CHECK_FALSE(state->focus_is_field);
    const auto notes = test::find_text(screen, "line one");
    REQUIRE(notes.has_value());
    REQUIRE((*desktop)->click({notes->x + 2, notes->center().y}).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const auto clicked = witness->state();
    REQUIRE(clicked.ok());
    CHECK(clicked->focus.id == "notes");
    CHECK(clicked->focus_is_field);
    CHECK(clicked->value_length == 8);
    REQUIRE((*desktop)->key("End").ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const auto ended = witness->state();
    REQUIRE(ended.ok());
    CHECK(ended->selection_start == 8);
    CHECK(ended->selection_start != clicked->selection_start);
    CHECK(ended->value_digest == clicked->value_digest);
    REQUIRE((*desktop)->type("!").ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const auto typed = witness->state();
    REQUIRE(typed.ok());
    CHECK(typed->value_length == 9);
    CHECK(typed->value_digest != ended->value_digest);

    // Step hints that say which place they mean, grounded by this document: the link, not the snippet that
    // reads alike; the field a label names, not the label.
    {
        auto w = parse_workflow("name: t\ngoal: Open the partner.\nstart: {url: http://witness.example.test/}\n"
                                "success: {text: Done}\nhints:\n  - click \"Stark Components\"\n"
                                "  - click link \"Stark Components\"\n  - type \"Fox Mulder\" into field \"Contact\"\n",
            "t.yaml");
        REQUIRE_MESSAGE(w.ok(), (w.ok() ? "" : w.error().message()));
        RunInputs inputs;
        HintPlannerOptions options;
        options.witness = witness.get();
        auto ambiguous = make_hint_planner(*w, inputs, 0, options)->next(screen, "");
        REQUIRE_FALSE(ambiguous.ok());
        CHECK(ambiguous.error().message().find("is on the screen 2 times") != std::string::npos);
        auto planner = make_hint_planner(*w, inputs, 1, options);
        auto to_link = planner->next(screen, "");
        REQUIRE_MESSAGE(to_link.ok(), (to_link.ok() ? "" : to_link.error().message()));
        CHECK(link.contains(to_link->actions.at(0).at));
        CHECK_FALSE(link.contains(snippet->center()));
        auto into_field = planner->next(screen, "");
        REQUIRE_MESSAGE(into_field.ok(), (into_field.ok() ? "" : into_field.error().message()));
        REQUIRE(into_field->actions.size() == 2);
        CHECK(contact_identity.box.contains(into_field->actions[0].at)); // the field's box, not its label's
        CHECK(into_field->actions[1].text == "Fox Mulder");
    }

    // The page's rendered text, hidden text aside.
    using Place = Witness::TextPlace;
    auto snippet_place = witness->text_place("stark components  IS not");
    REQUIRE(snippet_place.ok());
    CHECK(snippet_place->place == Place::in_view);
    REQUIRE(snippet_place->boxes.size() == 1); // the paragraph that holds it, on the screen
    CHECK(snippet_place->boxes[0].contains(snippet->center()));
    CHECK(witness->text_place("1999-01-01").value().place == Place::absent);
    CHECK(witness->text_place("Terms of the fold").value().place == Place::out_of_view);
    CHECK(witness->text_place("Terms of the fold").value().boxes.empty());
    // Its top 8 pixels at the view's bottom edge: not readable there, so not in view (it was, with a box 8 px high).
    CHECK(witness->text_place("Cut by the edge").value().place == Place::out_of_view);
    // A block of several lines, two of them whole in the view: in view, its box clipped to the view.
    auto block = witness->text_place("a block the edge cuts");
    REQUIRE(block.ok());
    CHECK(block->place == Place::in_view);
    REQUIRE(block->boxes.size() == 1);
    CHECK(block->boxes[0].h < 90); // 60 CSS px shown (75 screen px at scale 1.25), of the 96 or more it takes

    // Not in the document.
    CHECK(beside(*witness, "Incorporated").empty());
    CHECK(beside(*witness, "Renew").empty()); // a word's beginning is not a label
}

} // namespace

TEST_CASE("the witness reads a real page's document in an app window")
{
    check_document(BrowserWindow::app, 1.0);
}

TEST_CASE("the witness's boxes land on the screen in a normal window at device scale 1.25")
{
    check_document(BrowserWindow::normal, 1.25);
}

TEST_CASE("a form sent or a link followed: the page left is never told as loaded once the page has the input's "
          "end; a fragment or a link the page routes itself stays loaded")
{
    PageServer site;
    SessionSpec spec;
    spec.start_url = "http://witness.example.test/leave";
    spec.routes = {{"witness.example.test", "127.0.0.1:" + std::to_string(site.port)}};
    auto session = Session::start(spec);
    REQUIRE_MESSAGE(session.ok(), session.error().message());
    auto desktop = Desktop::connect((*session)->sandbox().vnc());
    REQUIRE(desktop.ok());
    REQUIRE(test::wait_for_text(**desktop, "Company", std::chrono::seconds(30)).where.has_value());
    auto witness = connect_devtools_witness((*session)->sandbox().take_devtools_socket());

    // The state once the page has the end of the input `act` sends, as the agent waits for it. The browser
    // holds the witness's questions while it fetches the next document, and the answer is then the next
    // document's: the state is either that or "not loaded", never the page left, loaded.
    const auto after = [&](const std::function<void()>& act) {
        const auto before = witness->inputs_seen();
        REQUIRE_MESSAGE(before.ok(), before.error().message());
        act();
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (true) {
            const auto now = witness->inputs_seen();
            if (now.ok() && now->since(*before))
                break;
            REQUIRE(std::chrono::steady_clock::now() < deadline);
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
        auto state = witness->state();
        REQUIRE_MESSAGE(state.ok(), state.error().message());
        return *state;
    };
    const auto link = [&](const char* text) {
        const auto links = witness->links_reading(text);
        REQUIRE(links.ok());
        REQUIRE(links->size() == 1);
        return (*links)[0].box.center();
    };
    // Polls until the document says it has loaded, for `within`; its URL then.
    const auto loaded = [&](std::chrono::milliseconds within) -> std::string {
        const auto deadline = std::chrono::steady_clock::now() + within;
        while (std::chrono::steady_clock::now() < deadline) {
            auto state = witness->state();
            if (state.ok() && state->loaded)
                return state->url;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return "not loaded";
    };
    using std::chrono::milliseconds;

    after([&] { REQUIRE((*desktop)->click(link("Part")).ok()); });
    CHECK(loaded(milliseconds(1000)) == "http://witness.example.test/leave#part");
    after([&] { REQUIRE((*desktop)->click(link("Routed")).ok()); });
    CHECK(loaded(milliseconds(1000)) == "http://witness.example.test/routed");

    // A page that shows a dialog answers nothing until it is closed: the witness says so at once, not after
    // its timeout, and the caller goes on without the document.
    const Point alert = link("Alert");
    REQUIRE((*desktop)->click(alert).ok());
    REQUIRE(test::wait_for_text(**desktop, "Stop here", std::chrono::seconds(10)).where.has_value());
    const auto asked = std::chrono::steady_clock::now();
    const auto during = witness->state();
    REQUIRE_FALSE(during.ok());
    CHECK(during.error().message().find("dialog") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - asked < std::chrono::seconds(2));
    REQUIRE((*desktop)->key("Return").ok()); // its OK
    CHECK(loaded(milliseconds(3000)) == "http://witness.example.test/routed");

    const auto field = witness->values_beside("Company");
    REQUIRE(field.ok());
    REQUIRE(field->size() == 1);
    after([&] { REQUIRE((*desktop)->click((*field)[0].box.center()).ok()); });
    const auto sent = after([&] { REQUIRE((*desktop)->key("Return").ok()); }); // the server takes 2 s to answer
    CHECK_FALSE((sent.loaded && sent.url == "http://witness.example.test/routed"));
    CHECK(loaded(milliseconds(10000)) == "http://witness.example.test/slow");

    const auto followed = after([&] { REQUIRE((*desktop)->click(link("Again")).ok()); });
    CHECK_FALSE((followed.loaded && followed.url == "http://witness.example.test/slow"));
    CHECK(loaded(milliseconds(10000)) == "http://witness.example.test/slow?again");

    const auto scripted = after([&] { REQUIRE((*desktop)->click(link("Scripted")).ok()); });
    CHECK_FALSE((scripted.loaded && scripted.url == "http://witness.example.test/slow?again"));
    CHECK(loaded(milliseconds(10000)) == "http://witness.example.test/slow?scripted");
}
