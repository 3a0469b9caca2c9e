#pragma once

// What the end-to-end tests share: a store in a fresh directory, the example workflows, a run that reports
// each step as a test message, and the demo sites' server-side records.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <rote/agent/agent.h>
#include <rote/agent/human.h>
#include <rote/desktop/desktop.h>
#include <rote/liveview/live_view.h>
#include <rote/liveview/rfb_relay.h>
#include <rote/store/store.h>

#include "runtime/browser.h"
#include "runtime/support.h"

namespace rote::e2e {

struct Fixture {
    std::filesystem::path dir;
    std::unique_ptr<store::Store> store;
    Fixture();
    ~Fixture();
    std::filesystem::path db() const { return dir / "rote.db"; }
};

// workflows/NAME.yaml.
runtime::Workflow load(const char* name);

runtime::RunResult run(store::Store& s, const runtime::Workflow& w, const std::map<std::string, std::string>& given,
    runtime::RunOptions options);

// Run options that send the demo hosts (registry.example.test, crm.example.test) to `site`.
runtime::RunOptions routed_to(const test::DemoSite& site);

// Teaches `w` with its step hints on the baseline demo sites (served for this run only); the run must succeed.
void teach_with_hints(store::Store& s, const runtime::Workflow& w, const std::map<std::string, std::string>& given);

// crm-add-lead's inputs for two leads (the demo CRM's password is demo-pass).
inline const std::map<std::string, std::string> kAda {{"name", "Ada Lovelace"}, {"email", "ada@example.com"},
    {"company", "Analytical Engines Ltd"}, {"crm_user", "demo"}, {"crm_password", "demo-pass"}};
inline const std::map<std::string, std::string> kGrace {{"name", "Grace Hopper"}, {"email", "grace@example.com"},
    {"company", "Compilers Inc"}, {"crm_user", "demo"}, {"crm_password", "demo-pass"}};

// Rows of the run's stored steps with this outcome, read straight from the store file.
int stored_steps(const std::filesystem::path& db, std::int64_t run_id, const char* outcome);

// Whether `needle` occurs anywhere in the store's files (the database, its WAL) as raw bytes.
bool store_contains(const std::filesystem::path& db, const std::string& needle);

// What the registry served: {"searches": [...], "opened": [...]}.
nlohmann::json registry_log(const test::DemoSite& site);
// The CRM's leads: [{"id", "name", "email", "company", ...}].
nlohmann::json crm_leads(const test::DemoSite& site);

} // namespace rote::e2e

namespace rote::e2e {

// Every log line of the components a run goes through (the agent, the model client, the sandbox, the proxy,
// the live view), for as long as it lives.
class CapturedLogs {
public:
    CapturedLogs();
    ~CapturedLogs();
    CapturedLogs(const CapturedLogs&) = delete;
    CapturedLogs& operator=(const CapturedLogs&) = delete;
    std::string text();

private:
    std::ostringstream m_text;
    std::shared_ptr<spdlog::sinks::ostream_sink_mt> m_sink;
    std::vector<std::pair<std::shared_ptr<spdlog::logger>, spdlog::level::level_enum>> m_levels;
};

// The run's desktop (RunOptions::desktop), once it is up.
class DesktopUp {
public:
    void operator()(const runtime::VncEndpoint* endpoint);
    std::optional<runtime::VncEndpoint> wait(std::chrono::milliseconds timeout);

private:
    std::mutex m_mutex;
    std::condition_variable m_changed;
    std::optional<runtime::VncEndpoint> m_endpoint;
};

// A person's live view (with its bar: teach.html) on a run's desktop, open in a real headless Chromium:
// the bar's Done and Cancel go to `human`, as do the person's keys and clicks. Ready once the page shows the
// desktop and the bar.
struct PersonAtView {
    std::filesystem::path dir;
    std::unique_ptr<runtime::LiveView> view;
    std::unique_ptr<test::BrowserPerson> browser;
    std::atomic<int> pressed {0}; // 1: Done, 2: Cancel, as rote heard them from the page
    ~PersonAtView();
};
Result<std::unique_ptr<PersonAtView>> open_person_view(const runtime::VncEndpoint& endpoint, runtime::HumanInput& human,
    const runtime::Workflow& w, const std::map<std::string, std::string>& given);

// Runs `w` with the human planner and a person at its desktop: a live view with its bar (teach.html), open in
// a real headless Chromium (test::BrowserPerson), where `show` does the task and then presses Done (Cancel if
// `show` failed). The person's failure, if any, fails the test.
using Showing = std::function<std::string(test::BrowserPerson&)>;
runtime::RunResult taught_by(store::Store& s, const runtime::Workflow& w, const std::map<std::string, std::string>& given,
    runtime::RunOptions options, const Showing& show);

// The person's eyes, for test::wait_for_text: the desktop as the view's page shows it.
inline std::function<Result<cv::Mat>()> eyes(test::BrowserPerson& person)
{
    return [&person] { return person.screenshot(); };
}

// `secret` is nowhere but the page: not in the store's files (closed first; `present`, which the runs
// stored, is there), not in a captured log line (which names run 1), not in a progress line (there are some).
void check_nowhere(const std::string& secret, const std::string& present, Fixture& f, CapturedLogs& logs,
    const std::vector<std::string>& progress);

struct Shell {
    int rc = -1;
    std::string out;
    std::string err;
};
// Runs `rote ARGS` (through the shell, ARGS verbatim) with ROTE_HOME in `dir` and `env` added.
Shell rote_cli(
    const std::filesystem::path& dir, const std::string& args, const std::map<std::string, std::string>& env = {});

} // namespace rote::e2e
