// The DevTools witness in a real local sandbox: Chromium's own document behind the screen, asked over the
// socket pair that is its descriptors 3 and 4. Every way a value belongs to its label, a wrapped value read
// whole, hidden and repeated labels, a page that tampers with its own DOM functions, and boxes that land on
// the screen's words in an app window and in a normal window at device scale 1.25.

#include <doctest/doctest.h>

#include <httplib.h>
#include <opencv2/imgcodecs.hpp>

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
<h1>Witness page</h1>
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
</body></html>)html";

// The page on a loopback port of its own.
class PageServer {
public:
    PageServer()
    {
        m_server.Get("/", [](const httplib::Request&, httplib::Response& res) { res.set_content(kPage, "text/html"); });
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
    CHECK(witness->element_at(link_text->center()).value() == "link");
    CHECK(witness->element_at(snippet->center()).value() == "text");
    // The button right after the link (OCR does not read its word reliably on a grey face).
    const Point save {found.x + found.w + 25, found.y + found.h / 2};
    CHECK(witness->element_at(save).value() == "button");
    const auto contact = test::find_text(screen, "Dana Scully");
    REQUIRE(contact.has_value());
    CHECK(witness->element_at(contact->center()).value() == "field");
    // Nothing: below the page's end in the app window, the tab strip above the page in the normal one.
    const Point nothing = window == BrowserWindow::app ? Point {screen.cols / 2, screen.rows - 10} : Point {screen.cols / 2, 30};
    CHECK(witness->element_at(nothing).value().empty());

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
