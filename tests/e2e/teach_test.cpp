// Teaching by showing end to end: a person at the live view's page (teach.html: noVNC under rote's bar) in a
// real headless Chromium clicks and types on its canvas with a person's timing; the keys and clicks reach a
// real sandbox through websockify and the view's relay, the run records them with the human planner, the
// person presses the bar's Done, and the trace replays for other inputs with no planner call.

#include <doctest/doctest.h>

#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include <cstdio>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rote/agent/human.h>
#include <rote/desktop/desktop.h>
#include <rote/liveview/rfb_relay.h>

#include "e2e/support.h"

using namespace rote;
using namespace rote::runtime;
using namespace rote::e2e;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {


// What the person does: a click on nothing, the search field, a company typed with a typo corrected, Return,
// the company's link. An empty string, or what went wrong.
std::string show_lookup(test::BrowserPerson& person)
{
    auto home = test::wait_for_text(eyes(person), "Find a company", 30s);
    if (!home.where)
        return "the registry's home page did not show";
    const auto button = test::find_text(home.screen, "Search");
    if (!button)
        return "no Search button on the home page";
    auto ok = [](const Result<void>& r) { return r.ok() ? std::string() : r.error().message(); };
    std::string failed;
    const auto pause = [](int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); };
    if (!(failed = ok(person.click({home.screen.cols - 200, home.screen.rows - 150}))).empty()) // on nothing
        return failed;
    pause(700);
    if (!(failed = ok(person.click({button->x - 150, button->y + button->h / 2}))).empty())
        return failed;
    pause(400);
    if (!(failed = ok(person.type("Acme Robt"))).empty())
        return failed;
    pause(250);
    if (!(failed = ok(person.key("backspace"))).empty())
        return failed;
    pause(180);
    if (!(failed = ok(person.type("otics Ltd"))).empty())
        return failed;
    pause(300);
    if (!(failed = ok(person.key("return"))).empty())
        return failed;
    // The result's link, below the search field that still reads the company's name.
    const int field_y = button->y + button->h / 2;
    std::optional<Rect> link;
    for (int tries = 0; tries < 80 && !link; ++tries) {
        pause(250);
        auto screen = person.screenshot();
        if (!screen.ok())
            return screen.error().message();
        for (int k = 0; k < 4; ++k) { // the lowest reading, if it is below the field
            auto found = test::find_text(*screen, "Acme Robotics Ltd", 30, k);
            if (!found)
                break;
            if (found->center().y > field_y + 20 && (!link || found->y > link->y))
                link = found;
        }
    }
    if (!link)
        return "the search's result did not show";
    pause(500);
    if (!(failed = ok(person.click(link->center()))).empty())
        return failed;
    if (!test::wait_for_text(eyes(person), "Incorporated", 20s).where)
        return "the company's page did not show";
    return {};
}

// Clicks a field by its label (a <label for>: the click focuses the field) and types into it.
std::string fill(test::BrowserPerson& person, const cv::Mat& screen, const char* label, const std::string& text)
{
    const auto at = test::find_text(screen, label);
    if (!at)
        return std::string("no \"") + label + "\" on the screen";
    if (auto clicked = person.click(at->center()); !clicked.ok())
        return clicked.error().message();
    std::this_thread::sleep_for(300ms);
    if (auto typed = person.type(text); !typed.ok())
        return typed.error().message();
    std::this_thread::sleep_for(250ms);
    return {};
}

// Signs in (the password typed by the person, as a secret's value) and adds one lead.
Showing add_lead(const std::map<std::string, std::string>& lead)
{
    return [lead](test::BrowserPerson& person) -> std::string {
        auto login = test::wait_for_text(eyes(person), "User name", 30s);
        if (!login.where)
            return "the CRM's sign-in page did not show";
        for (auto [label, input] : {std::pair {"User name", "crm_user"}, std::pair {"Password", "crm_password"}})
            if (auto failed = fill(person, login.screen, label, lead.at(input)); !failed.empty())
                return failed;
        if (auto pressed = person.key("return"); !pressed.ok())
            return pressed.error().message();
        auto form = test::wait_for_text(eyes(person), "Full name", 20s);
        if (!form.where)
            return "the new lead's form did not show";
        for (auto [label, input] :
            {std::pair {"Full name", "name"}, std::pair {"Email", "email"}, std::pair {"Company", "company"}})
            if (auto failed = fill(person, form.screen, label, lead.at(input)); !failed.empty())
                return failed;
        const auto save = test::find_text(form.screen, "Save lead");
        if (!save)
            return "no Save lead button";
        if (auto clicked = person.click(save->center()); !clicked.ok())
            return clicked.error().message();
        if (!test::wait_for_text(eyes(person), "Lead ID", 20s).where)
            return "the saved lead's page did not show";
        return {};
    };
}

const std::map<std::string, std::string> kKatherine {{"name", "Katherine Johnson"}, {"email", "kj@example.com"},
    {"company", "Orbital Mechanics Ltd"}, {"crm_user", "demo"}, {"crm_password", "demo-pass"}};
const std::map<std::string, std::string> kEdsger {{"name", "Edsger Dijkstra"}, {"email", "ewd@example.com"},
    {"company", "Shortest Paths BV"}, {"crm_user", "demo"}, {"crm_password", "demo-pass"}};

} // namespace

TEST_CASE("registry-lookup taught by showing: the person's actions become a trace that replays for three other companies")
{
    Fixture f;
    auto site = test::DemoSite::start("baseline");
    REQUIRE(site.ok());
    const Workflow w = load("registry-lookup");
    auto taught = taught_by(*f.store, w, {{"company", "Acme Robotics Ltd"}}, routed_to(*site), show_lookup);
    REQUIRE_MESSAGE(taught.status == store::RunStatus::succeeded, taught.error);
    CHECK(taught.planner_calls == 0);
    CHECK(taught.outputs["registration_number"] == "08431277");
    REQUIRE(taught.new_trace_id.has_value());
    auto trace = f.store->load_trace(*taught.new_trace_id);
    REQUIRE(trace.ok());
    // Every action is a step, the click on nothing too; the typo is corrected in the typed text, which is the
    // input's; the field and the link are known by the document, asked before each press landed.
    std::vector<std::string> steps;
    for (const auto& s : trace->steps) {
        steps.push_back(describe(s.action));
        CHECK(s.provenance == store::Provenance::human);
    }
    REQUIRE(steps.size() == 5);
    CHECK(steps[0].rfind("click", 0) == 0);
    CHECK(steps[1].rfind("click", 0) == 0);
    CHECK(steps[2] == "type {{company}}");
    CHECK(steps[3] == "key return");
    CHECK(steps[4].rfind("click", 0) == 0);
    CHECK(trace->steps[1].anchor.element == "field");
    CHECK(trace->steps[4].anchor.element == "link");
    CHECK(trace->steps[4].anchor.label == "{{company}}");

    // Replayed for three other companies, with no person and no planner call.
    RunOptions replay = routed_to(*site);
    for (const auto& [company, number] :
        std::vector<std::pair<std::string, std::string>> {
            {"Northwind Traders Ltd", "05583120"}, {"Initech Software Ltd", "07266019"}, {"Hooli Cloud Ltd", "13378204"}}) {
        auto replayed = run(*f.store, w, {{"company", company}}, replay);
        CHECK_MESSAGE(replayed.status == store::RunStatus::succeeded, replayed.error);
        CHECK(replayed.planner_calls == 0);
        CHECK(replayed.outputs["registration_number"] == number);
        CHECK_FALSE(replayed.new_trace_id.has_value());
    }
}

TEST_CASE("crm-add-lead taught by showing: the password the person typed is nowhere but the page, and the trace replays")
{
    CapturedLogs logs;
    std::vector<std::string> progress;
    Fixture f;
    auto site = test::DemoSite::start("baseline");
    REQUIRE(site.ok());
    const Workflow w = load("crm-add-lead");
    RunOptions options = routed_to(*site);
    options.progress = [&](const std::string& line) { progress.push_back(line); };
    auto taught = taught_by(*f.store, w, kAda, options, add_lead(kAda));
    REQUIRE_MESSAGE(taught.status == store::RunStatus::succeeded, taught.error);
    CHECK(taught.outputs["lead_id"] == "L-1001");
    REQUIRE(taught.new_trace_id.has_value());
    auto trace = f.store->load_trace(*taught.new_trace_id);
    REQUIRE(trace.ok());
    std::vector<std::string> typed;
    for (const auto& step : trace->steps) {
        if (step.action.kind == ActionKind::type)
            typed.push_back(step.action.text);
    }
    CHECK(typed == std::vector<std::string> {"{{crm_user}}", "{{secret:crm_password}}", "{{name}}", "{{email}}", "{{company}}"});

    // Replayed for three other leads, each checked in the CRM's own records.
    const std::vector<std::map<std::string, std::string>> others {kGrace, kKatherine, kEdsger};
    for (std::size_t k = 0; k < others.size(); ++k) {
        auto replayed = run(*f.store, w, others[k], options);
        CHECK_MESSAGE(replayed.status == store::RunStatus::succeeded, replayed.error);
        CHECK(replayed.planner_calls == 0);
        CHECK(replayed.outputs["lead_id"] == "L-100" + std::to_string(k + 2));
    }
    const auto leads = crm_leads(*site);
    REQUIRE(leads.size() == 4);
    CHECK(leads[0]["name"] == "Ada Lovelace");
    CHECK(leads[0]["company"] == "Analytical Engines Ltd");
    for (std::size_t k = 0; k < others.size(); ++k) {
        CHECK(leads[k + 1]["name"] == others[k].at("name"));
        CHECK(leads[k + 1]["email"] == others[k].at("email"));
        CHECK(leads[k + 1]["company"] == others[k].at("company"));
    }

    // The person typed the password (the CRM let them in) and it is nowhere else: not in the store, not in a
    // log or progress line. Each check has its positive control.
    check_nowhere("demo-pass", "Grace Hopper", f, logs, progress);
}

TEST_CASE("--planner human, and --ask where the hints cannot go on: a person repairs a divergence on a drifted "
          "site, and the repair replays with no planner call")
{
    Fixture f;
    const Workflow w = load("registry-lookup");
    teach_with_hints(*f.store, w, {{"company", "Acme Robotics Ltd"}});
    auto site = test::DemoSite::start("banner"); // a cookie dialog over the page
    REQUIRE(site.ok());
    HumanInput human;
    DesktopUp up;
    std::mutex mutex;
    std::condition_variable changed;
    int asked = 0, released = 0;
    RunOptions options = routed_to(*site);
    Workflow repaired_with = w;
    SUBCASE("--planner human")
    {
        options.planner = PlannerKind::human;
    }
    SUBCASE("--ask: the workflow has no step hints, so the hints planner cannot take the divergence")
    {
        repaired_with.hints.clear();
        options.planner = PlannerKind::hints;
        options.ask = true;
    }
    options.human = &human;
    options.desktop = [&up](const VncEndpoint* e) { up(e); };
    options.person = [&](bool needed) {
        std::lock_guard lock(mutex);
        ++(needed ? asked : released);
        changed.notify_all();
    };
    std::string person_failed;
    std::thread person([&] {
        {
            std::unique_lock lock(mutex);
            if (!changed.wait_for(lock, 60s, [&] { return asked > 0; })) {
                person_failed = "the run never asked for the person";
                return;
            }
        }
        auto endpoint = up.wait(1s);
        auto at = endpoint ? open_person_view(*endpoint, human, repaired_with, {{"company", "Northwind Traders Ltd"}})
                           : Result<std::unique_ptr<PersonAtView>>(Error(Error::Code::timeout, "no desktop"));
        if (!at.ok()) {
            person_failed = at.error().message();
            human.finish(false);
            return;
        }
        test::BrowserPerson& browser = *(*at)->browser;
        auto dialog = test::wait_for_text(eyes(browser), "Accept all cookies", 20s);
        if (!dialog.where || !browser.click(dialog.where->center()).ok()) {
            person_failed = "no cookie dialog to accept";
            human.finish(false);
            return;
        }
        // Nothing more: once the screen is one the trace knows, the run goes on by itself.
        std::unique_lock lock(mutex);
        if (!changed.wait_for(lock, 30s, [&] { return released > 0; })) {
            person_failed = "the run did not go back to its trace";
            human.finish(false);
        }
    });
    auto repaired = run(*f.store, repaired_with, {{"company", "Northwind Traders Ltd"}}, options);
    person.join();
    REQUIRE_MESSAGE(person_failed.empty(), person_failed);
    REQUIRE_MESSAGE(repaired.status == store::RunStatus::succeeded, repaired.error);
    CHECK(repaired.outputs["registration_number"] == "05583120");
    CHECK(repaired.planner_calls == 0); // a person is no model call
    CHECK(repaired.planned == 1);
    CHECK(repaired.new_trace_id.has_value());

    // The repair replays on the same drift with nobody there and no planner call; the baseline still replays.
    auto again = run(*f.store, w, {{"company", "Initech Software Ltd"}}, routed_to(*site));
    CHECK_MESSAGE(again.status == store::RunStatus::succeeded, again.error);
    CHECK(again.planner_calls == 0);
    CHECK(again.outputs["registration_number"] == "07266019");
    auto baseline = test::DemoSite::start("baseline");
    REQUIRE(baseline.ok());
    auto plain = run(*f.store, w, {{"company", "Hooli Cloud Ltd"}}, routed_to(*baseline));
    CHECK_MESSAGE(plain.status == store::RunStatus::succeeded, plain.error);
    CHECK(plain.planner_calls == 0);
    CHECK(plain.outputs["registration_number"] == "13378204");
}

namespace {

// `rote teach WHAT` (a workflow and its inputs) in the background, its standard input a FIFO held open by
// the test (its end would cancel), its outputs in files under `dir`.
class Teaching {
public:
    Teaching(const fs::path& dir, const std::string& what, const test::DemoSite& site, const std::string& options = "")
        : m_dir(dir)
    {
        const fs::path in = dir / "in";
        fs::remove(in);
        REQUIRE(::mkfifo(in.c_str(), 0600) == 0);
        for (const char* file : {"rc", "out", "err"})
            fs::remove(dir / file);
        const std::string command = "(ROTE_HOME='" + (dir / "home").string() + "' " ROTE_BINARY
            " teach " + what + " --json " + options + " --route registry.example.test="
            + site.registry_route() + " <'" + in.string() + "' >'" + (dir / "out").string() + "' 2>'"
            + (dir / "err").string() + "'; echo $? >'" + (dir / "rc").string() + "') & echo $!";
        FILE* shell = ::popen(command.c_str(), "r");
        REQUIRE(shell);
        REQUIRE(std::fscanf(shell, "%d", &m_pid) == 1);
        ::pclose(shell);
        m_stdin = ::open(in.c_str(), O_WRONLY); // once rote has opened its end
        REQUIRE(m_stdin >= 0);
    }
    ~Teaching() { end(); }

    // The view's URL, printed first once the desktop is up; empty if it never came.
    std::string url()
    {
        for (int i = 0; i < 600; ++i) {
            const std::string text = test::read_file(m_dir / "out");
            const auto line = nlohmann::json::parse(text.substr(0, text.find('\n')), nullptr, false);
            if (line.is_object() && line.contains("url"))
                return line["url"];
            std::this_thread::sleep_for(100ms);
        }
        return {};
    }

    // Waits for rote to exit: its status (-1 if it did not) and the run it printed after the URL.
    std::pair<int, nlohmann::json> end()
    {
        if (m_stdin >= 0) {
            for (int i = 0; i < 1200 && runtime::process_running(m_pid); ++i)
                std::this_thread::sleep_for(100ms);
            ::close(m_stdin);
            m_stdin = -1;
        }
        const std::string code = test::read_file(m_dir / "rc");
        const auto printed = lines();
        return {code.empty() ? -1 : std::stoi(code), printed.size() > 1 ? printed[1] : nlohmann::json()};
    }

    std::string err() const { return test::read_file(m_dir / "err"); }
    // Waits (up to `timeout`) for rote to write `text` to its standard error.
    bool said(const std::string& text, std::chrono::milliseconds timeout)
    {
        for (auto end = std::chrono::steady_clock::now() + timeout; std::chrono::steady_clock::now() < end;) {
            if (err().find(text) != std::string::npos)
                return true;
            std::this_thread::sleep_for(100ms);
        }
        return false;
    }
    // A line on rote's standard input (an answer to its question).
    void answer(const std::string& line)
    {
        const std::string text = line + "\n";
        REQUIRE(::write(m_stdin, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    }
    // Every line rote printed, parsed (the URL's, the run's, and with --verify the verifying run's).
    std::vector<nlohmann::json> lines() const
    {
        std::vector<nlohmann::json> parsed;
        std::istringstream out(test::read_file(m_dir / "out"));
        for (std::string line; std::getline(out, line);)
            parsed.push_back(nlohmann::json::parse(line, nullptr, false));
        return parsed;
    }

private:
    fs::path m_dir;
    pid_t m_pid = -1;
    int m_stdin = -1;
};

const char* kRecording = "document.getElementById('state').textContent === 'recording'"
                         " && !document.getElementById('done').disabled";

// A person at the teaching's page who shows the lookup and presses Done (`before_done` first); the browser,
// kept open until the teaching ends.
std::unique_ptr<test::BrowserPerson> show_lookup_done(
    Teaching& teaching, const fs::path& dir, const std::function<void(test::BrowserPerson&)>& before_done = {})
{
    auto person = test::BrowserPerson::open(teaching.url(), dir / "person");
    REQUIRE_MESSAGE(person.ok(), person.error().message());
    REQUIRE((*person)->wait_for(kRecording, 30s));
    const std::string failed = show_lookup(**person);
    REQUIRE_MESSAGE(failed.empty(), failed);
    if (before_done)
        before_done(**person);
    REQUIRE((*person)->press("done").ok());
    return std::move(*person);
}

} // namespace

TEST_CASE("rote teach's view page in a real browser: a page without the view's tokens gets nothing, Cancel keeps "
          "nothing, Done keeps a trace that replays (--verify says so at once)")
{
    auto site = test::DemoSite::start("baseline");
    REQUIRE(site.ok());
    const fs::path dir = fs::temp_directory_path() / ("rote-teach-page-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);

    {
        Teaching teaching(dir, "registry-lookup -i company='Acme Robotics Ltd'", *site);
        const std::string url = teaching.url();
        REQUIRE_MESSAGE(url.find("http://127.0.0.1:") == 0, teaching.err());
        CHECK(url.find("/teach.html#view=") != std::string::npos);
        // The page with the right port and made-up tokens: neither the desktop nor the bar opens for it.
        const std::string page = url.substr(0, url.find('#'));
        {
            auto stranger = test::BrowserPerson::open(page + "#view=" + std::string(64, '0') + "&control=" + std::string(64, '0'), dir / "stranger");
            REQUIRE_MESSAGE(stranger.ok(), stranger.error().message());
            CHECK((*stranger)->wait_for("['rote refused or closed this view', 'the desktop is not connected']"
                                        ".includes(document.getElementById('state').textContent)",
                10s));
            std::this_thread::sleep_for(2s);
            auto seen = (*stranger)->evaluate("[document.getElementById('task').textContent,"
                                              " document.getElementById('done').disabled]");
            REQUIRE(seen.ok());
            CHECK((*seen)[0] == "connecting to rote...");
            CHECK((*seen)[1] == true);
        }
        // The person's page: the bar says what to show; Cancel ends the teaching and keeps nothing.
        auto person = test::BrowserPerson::open(url, dir / "person");
        REQUIRE_MESSAGE(person.ok(), person.error().message());
        REQUIRE((*person)->wait_for(kRecording, 30s));
        auto bar = (*person)->evaluate("document.getElementById('bar').innerText");
        REQUIRE(bar.ok());
        CHECK(bar->get<std::string>().find("company: Acme Robotics Ltd") != std::string::npos);
        REQUIRE((*person)->press("cancel").ok());
        auto [rc, run] = teaching.end();
        CHECK(rc != 0);
        CHECK(teaching.err().find("cancelled on the view's page") != std::string::npos);
        CHECK((!run.is_object() || run.value("status", "") != "succeeded"));
    }
    {
        Teaching teaching(dir, "registry-lookup -i company='Acme Robotics Ltd'", *site, "--verify");
        auto person = show_lookup_done(teaching, dir, [](test::BrowserPerson& at_page) {
            // ROTE_TEACH_SCREENSHOT: a file for the page as the person sees it now (docs/teach-view.png).
            if (const char* file = std::getenv("ROTE_TEACH_SCREENSHOT")) {
                auto png = at_page.page_png();
                REQUIRE(png.ok());
                std::ofstream(file, std::ios::binary) << *png;
            }
        });
        auto [rc, run] = teaching.end();
        CHECK_MESSAGE(rc == 0, teaching.err());
        REQUIRE(run.is_object());
        CHECK(run["status"] == "succeeded");
        CHECK(run["outputs"]["registration_number"] == "08431277");
        // --verify: replayed at once in a fresh sandbox, with no planner call.
        const auto printed = teaching.lines();
        REQUIRE(printed.size() == 3);
        CHECK(printed[2]["verified"] == true);
        CHECK(printed[2]["verify"]["planner_calls"] == 0);
        CHECK(printed[2]["verify"]["status"] == "succeeded");
    }
    // One trace, from the Done; it replays for another company with no planner call.
    auto listed = rote_cli(dir, "list --json");
    const auto workflows = nlohmann::json::parse(listed.out, nullptr, false);
    REQUIRE(workflows.is_object());
    REQUIRE(workflows["workflows"].size() == 1);
    CHECK(workflows["workflows"][0]["traces"].size() == 1);
    auto replayed = rote_cli(dir, "run registry-lookup -i company='Initech Software Ltd' --json --route registry.example.test="
            + site->registry_route());
    const auto printed = nlohmann::json::parse(replayed.out, nullptr, false);
    REQUIRE_MESSAGE((printed.is_object() && printed["runs"].size() == 1), (replayed.out + replayed.err));
    const auto& again = printed["runs"][0];
    CHECK(again["status"] == "succeeded");
    CHECK(again["planner_calls"] == 0);
    CHECK(again["outputs"]["registration_number"] == "07266019");
    fs::remove_all(dir);
}

TEST_CASE("rote teach proposes a typed value that no input names as a new input: the person names it, the workflow's "
          "file gets it with the value as its default, and the trace replays for other values and for none")
{
    auto site = test::DemoSite::start("baseline");
    REQUIRE(site.ok());
    const fs::path dir = fs::temp_directory_path() / ("rote-teach-new-input-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    // registry-lookup without its input: the company the person types is a value no input names.
    std::string text = test::read_file(fs::path(ROTE_WORKFLOWS) / "registry-lookup.yaml");
    const auto cut = [&text](const std::string& from, const std::string& to) {
        const size_t at = text.find(from);
        REQUIRE(at != std::string::npos);
        text.erase(at, to.empty() ? std::string::npos : text.find(to, at) - at);
    };
    cut("inputs:\n", "outputs:\n");
    cut("# RPA-style", "");
    text.replace(text.find("name: registry-lookup"), 21, "name: lookup-any");
    const fs::path file = dir / "home" / "workflows" / "lookup-any.yaml";
    fs::create_directories(file.parent_path());
    std::ofstream(file) << text;
    std::string same = text;
    same.replace(same.find("name: lookup-any"), 16, "name: lookup-yes");
    std::ofstream(dir / "home" / "workflows" / "lookup-yes.yaml") << same;

    {
        Teaching teaching(dir, "lookup-any", *site);
        auto person = show_lookup_done(teaching, dir);
        // Asked in the terminal, the person first gives a name that is no input name, then one.
        REQUIRE_MESSAGE(teaching.said("You typed \"Acme Robotics Ltd\" into \"Company name\", which no input of "
                                      "lookup-any names",
                            60s),
            teaching.err());
        CHECK(teaching.err().find("Enter: yes, as company_name;") != std::string::npos);
        teaching.answer("Firm Name");
        REQUIRE_MESSAGE(teaching.said("Firm Name is no input name", 10s), teaching.err());
        teaching.answer("firm");
        auto [rc, run] = teaching.end();
        CHECK_MESSAGE(rc == 0, teaching.err());
        REQUIRE(run.is_object());
        CHECK(run["status"] == "succeeded");
        CHECK(run["new_inputs"] == nlohmann::json {{"firm", "Acme Robotics Ltd"}});
        CHECK(run["workflow_file"] == file.string());
    }
    {
        // --yes: the name proposed (the field's), unasked; --verify replays with the input's default.
        Teaching teaching(dir, "lookup-yes", *site, "--yes --verify");
        auto person = show_lookup_done(teaching, dir);
        auto [rc, run] = teaching.end();
        CHECK_MESSAGE(rc == 0, teaching.err());
        CHECK(teaching.err().find("You typed") == std::string::npos);
        REQUIRE(run.is_object());
        CHECK(run["new_inputs"] == nlohmann::json {{"company_name", "Acme Robotics Ltd"}});
        const auto printed = teaching.lines();
        REQUIRE(printed.size() == 3);
        CHECK(printed[2]["verified"] == true);
        CHECK(printed[2]["verify"]["inputs"] == nlohmann::json {{"company_name", "Acme Robotics Ltd"}});
        CHECK(printed[2]["verify"]["outputs"]["registration_number"] == "08431277");
    }
    // The file: the new input with what was typed as its default, everything else as it was.
    const std::string now = test::read_file(file);
    CHECK(now == text + "inputs:\n  # added by rote teach: values typed while showing the task\n  firm: "
                        "{type: string, description: Typed into \"Company name\" when the task was shown, default: Acme Robotics Ltd}\n");
    auto changed = runtime::load_workflow(file);
    REQUIRE(changed.ok());
    REQUIRE(changed->inputs.size() == 1);
    CHECK(changed->inputs[0].name == "firm");
    CHECK(changed->inputs[0].default_value == "Acme Robotics Ltd");
    CHECK(changed->inputs[0].description == "Typed into \"Company name\" when the task was shown");
    // The trace types the input's value: another company's, and the default when none is given.
    const std::string route = " --json --route registry.example.test=" + site->registry_route();
    for (auto [given, number] : {std::pair {std::string("-i firm='Initech Software Ltd'"), "07266019"},
             std::pair {std::string(), "08431277"}}) {
        CAPTURE(given);
        auto replayed = rote_cli(dir, "run lookup-any " + given + route);
        const auto printed = nlohmann::json::parse(replayed.out, nullptr, false);
        REQUIRE_MESSAGE((printed.is_object() && printed["runs"].size() == 1), (replayed.out + replayed.err));
        const auto& again = printed["runs"][0];
        CHECK(again["status"] == "succeeded");
        CHECK(again["planner_calls"] == 0);
        CHECK(again["outputs"]["registration_number"] == number);
    }
    fs::remove_all(dir);
}
