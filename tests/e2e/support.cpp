#include "e2e/support.h"

#include <rote/liveview/live_view.h>

#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include <sqlite3.h>

#include <rote/base/log.h>
#include <sys/wait.h>
#include <unistd.h>

namespace rote::e2e {

// When the test binary started: progress lines carry seconds since (the logs are quiet, doctest_main.cpp).
static const auto g_started = std::chrono::steady_clock::now();

Fixture::Fixture()
{
    static int counter = 0;
    dir = std::filesystem::temp_directory_path()
        / ("rote-e2e-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    auto s = store::Store::open(db());
    REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().message()));
    store = std::move(*s);
}

Fixture::~Fixture()
{
    store.reset();
    std::filesystem::remove_all(dir);
}

runtime::Workflow load(const char* name)
{
    auto w = runtime::load_workflow(std::string(ROTE_WORKFLOWS) + "/" + name + ".yaml");
    REQUIRE_MESSAGE(w.ok(), (w.ok() ? "" : w.error().message()));
    return *w;
}

runtime::RunResult run(store::Store& s, const runtime::Workflow& w, const std::map<std::string, std::string>& given,
    runtime::RunOptions options)
{
    auto inputs = runtime::check_inputs(w, given);
    REQUIRE_MESSAGE(inputs.ok(), (inputs.ok() ? "" : inputs.error().message()));
    auto outer = options.progress;
    options.progress = [outer](const std::string& line) {
        char at[32];
        std::snprintf(at, sizeof at, "[%.1f s] ",
            std::chrono::duration<double>(std::chrono::steady_clock::now() - g_started).count());
        MESSAGE((std::string(at) + line));
        if (outer)
            outer(line);
    };
    auto result = runtime::run_workflow(s, w, *inputs, options);
    REQUIRE_MESSAGE(result.ok(), (result.ok() ? "" : result.error().message()));
    return *result;
}

runtime::RunOptions routed_to(const test::DemoSite& site)
{
    runtime::RunOptions options;
    options.routes["registry.example.test"] = site.registry_route();
    options.routes["crm.example.test"] = site.crm_route();
    return options;
}

void teach_with_hints(store::Store& s, const runtime::Workflow& w, const std::map<std::string, std::string>& given)
{
    auto site = test::DemoSite::start("baseline");
    REQUIRE(site.ok());
    auto taught = run(s, w, given, routed_to(*site));
    REQUIRE_MESSAGE(taught.status == store::RunStatus::succeeded, taught.error);
    REQUIRE(taught.new_trace_id.has_value());
}

int stored_steps(const std::filesystem::path& db, std::int64_t run_id, const char* outcome)
{
    sqlite3* handle = nullptr;
    REQUIRE(sqlite3_open_v2(db.c_str(), &handle, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(handle, "SELECT count(*) FROM run_steps WHERE run_id = ? AND outcome = ?", -1, &st,
                nullptr)
        == SQLITE_OK);
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, outcome, -1, SQLITE_STATIC);
    REQUIRE(sqlite3_step(st) == SQLITE_ROW);
    const int n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(handle);
    return n;
}

bool store_contains(const std::filesystem::path& db, const std::string& needle)
{
    for (const auto& file : {db, std::filesystem::path(db.string() + "-wal")}) {
        std::ifstream in(file, std::ios::binary);
        std::stringstream bytes;
        bytes << in.rdbuf();
        if (bytes.str().find(needle) != std::string::npos)
            return true;
    }
    return false;
}

nlohmann::json registry_log(const test::DemoSite& site)
{
    auto body = test::http_get(site.registry_port, "/api/searches");
    REQUIRE(body.ok());
    return nlohmann::json::parse(*body);
}

nlohmann::json crm_leads(const test::DemoSite& site)
{
    auto body = test::http_get(site.crm_port, "/api/leads");
    REQUIRE(body.ok());
    return nlohmann::json::parse(*body);
}

} // namespace rote::e2e

namespace rote::e2e {

Shell rote_cli(const std::filesystem::path& dir, const std::string& args, const std::map<std::string, std::string>& env)
{
    const auto out = dir / "cli.out";
    const auto err = dir / "cli.err";
    std::string vars = "ROTE_HOME='" + (dir / "home").string() + "' ";
    for (const auto& [name, value] : env)
        vars += name + "='" + value + "' ";
    const std::string cmd = vars + ROTE_BINARY " " + args + " </dev/null >'" + out.string() + "' 2>'" + err.string() + "'";
    const int status = std::system(cmd.c_str());
    Shell s;
    s.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    for (auto [file, text] : {std::pair {&out, &s.out}, std::pair {&err, &s.err}}) {
        std::ifstream in(*file);
        std::stringstream bytes;
        bytes << in.rdbuf();
        *text = bytes.str();
    }
    return s;
}

CapturedLogs::CapturedLogs()
    : m_sink(std::make_shared<spdlog::sinks::ostream_sink_mt>(m_text))
{
    for (const char* name : {"runtime.agent", "llm", "runtime.sandbox", "runtime.proxy", "runtime.liveview"}) {
        auto log = logger(name);
        log->sinks().push_back(m_sink);
        m_levels.emplace_back(log, log->level());
        log->set_level(spdlog::level::trace);
    }
}

CapturedLogs::~CapturedLogs()
{
    for (auto& [log, level] : m_levels) {
        log->sinks().pop_back();
        log->set_level(level);
    }
}

std::string CapturedLogs::text()
{
    for (auto& [log, _] : m_levels)
        log->flush();
    return m_text.str();
}

void check_nowhere(const std::string& secret, const std::string& present, Fixture& f, CapturedLogs& logs,
    const std::vector<std::string>& progress)
{
    f.store.reset(); // everything on disk
    CHECK(store_contains(f.db(), present));
    CHECK_FALSE(store_contains(f.db(), secret));
    const std::string logged = logs.text();
    CHECK(logged.find("run 1") != std::string::npos);
    CHECK(logged.find(secret) == std::string::npos);
    REQUIRE_FALSE(progress.empty());
    for (const auto& line : progress)
        CHECK(line.find(secret) == std::string::npos);
}

void DesktopUp::operator()(const runtime::VncEndpoint* endpoint)
{
    std::lock_guard lock(m_mutex);
    if (endpoint && !m_endpoint)
        m_endpoint = *endpoint;
    m_changed.notify_all();
}

std::optional<runtime::VncEndpoint> DesktopUp::wait(std::chrono::milliseconds timeout)
{
    std::unique_lock lock(m_mutex);
    m_changed.wait_for(lock, timeout, [&] { return m_endpoint.has_value(); });
    return m_endpoint;
}

Result<std::unique_ptr<PersonAtView>> open_person_view(const runtime::VncEndpoint& endpoint, runtime::HumanInput& human,
    const runtime::Workflow& w, const std::map<std::string, std::string>& given)
{
    const auto inputs = ROTE_TRY(runtime::check_inputs(w, given));
    static std::atomic<int> views {0};
    auto at = std::make_unique<PersonAtView>();
    at->dir = std::filesystem::temp_directory_path()
        / ("rote-person-" + std::to_string(::getpid()) + "-" + std::to_string(++views));
    std::filesystem::create_directories(at->dir);
    auto bar = runtime::ViewBar::of_run(w.goal, inputs.values, inputs.secrets);
    PersonAtView* raw = at.get();
    bar.on_end = [&human, raw](bool done) {
        raw->pressed = done ? 1 : 2;
        human.finish(done);
    };
    at->view = ROTE_TRY(runtime::LiveView::start({endpoint, runtime::ViewMode::control, 0, at->dir, "person",
        [&human](const InputEvent& e) { human.observe(e); }, std::move(bar)}));
    at->browser = ROTE_TRY(test::BrowserPerson::open(at->view->url(), at->dir / "browser"));
    if (!at->browser->wait_for("document.getElementById('state').textContent === 'recording'"
                               " && !document.getElementById('done').disabled",
            std::chrono::seconds(30)))
        return Error(Error::Code::timeout, "the view's page never showed the desktop with its bar");
    return at;
}

PersonAtView::~PersonAtView()
{
    browser.reset();
    view.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
}

runtime::RunResult taught_by(store::Store& s, const runtime::Workflow& w, const std::map<std::string, std::string>& given,
    runtime::RunOptions options, const Showing& show)
{
    runtime::HumanInput human;
    DesktopUp up;
    options.planner = runtime::PlannerKind::human;
    options.human = &human;
    options.desktop = [&up](const runtime::VncEndpoint* e) { up(e); };
    std::string person_failed;
    std::thread person([&] {
        auto endpoint = up.wait(std::chrono::seconds(60));
        auto at = endpoint ? open_person_view(*endpoint, human, w, given)
                           : Result<std::unique_ptr<PersonAtView>>(Error(Error::Code::timeout, "the run's desktop never came up"));
        if (!at.ok()) {
            person_failed = at.error().message();
            human.finish(false);
            return;
        }
        PersonAtView& p = **at;
        person_failed = show(*p.browser);
        const bool done = person_failed.empty();
        if (auto pressed = p.browser->press(done ? "done" : "cancel"); !pressed.ok() && person_failed.empty())
            person_failed = pressed.error().message();
        for (int i = 0; i < 100 && p.pressed == 0; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        if (p.pressed != (done ? 1 : 2)) {
            if (person_failed.empty())
                person_failed = "rote never heard the page's Done";
            human.finish(false);
        }
    });
    auto taught = run(s, w, given, options);
    person.join();
    REQUIRE_MESSAGE(person_failed.empty(), person_failed);
    return taught;
}

} // namespace rote::e2e

