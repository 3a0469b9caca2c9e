// The sandbox boundary (docs/security.md): no host secret inside. Canary values stand in for an API key and a
// workflow secret in rote's own environment; no process rote starts, inside a sandbox or beside it, may hold
// them, and no file of the sandbox or its proxy may contain them.

#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <rote/desktop/desktop.h>
#include <rote/sandbox/sandbox.h>
#include <rote/session/session.h>

#include "runtime/support.h"

using namespace rote;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// Files below `dir` (a sandbox's directory, the runtime root) that contain a canary.
std::vector<std::string> files_holding_canaries(const fs::path& dir)
{
    std::vector<std::string> holders;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (ec)
            break;
        if (it->is_regular_file(ec) && it->file_size(ec) < (64u << 20)) {
            for (const std::string& name : test::canaries_in(test::read_file(it->path())))
                holders.push_back(it->path().string() + ": " + name);
        }
    }
    return holders;
}

} // namespace

TEST_CASE("no host variable reaches a local sandbox, its helpers, its files or its proxy's log")
{
    test::plant_canaries();
    auto site = test::DemoSite::start();
    REQUIRE(site);
    // Chromium and its helpers are up once the page shows: every process the sandbox will have is there.
    auto started = test::start_registry_session(*site);
    REQUIRE_MESSAGE(started, (started ? "" : started.error().message()));
    auto& session = *started;

    const auto sandbox_pids = session->sandbox().pids();
    CHECK(sandbox_pids.size() >= 6); // bwrap, init, Xvnc, the window manager, socat, Chromium's processes
    const auto holders = test::processes_holding_canaries();
    CHECK_MESSAGE(holders.empty(), "processes holding a host secret: " << doctest::toString(holders.size()) << " "
                                                                       << (holders.empty() ? "" : holders.front()));
    // Inside, the environment is the sandbox's own list and nothing else (Xvnc's, as it was started: Chromium
    // writes over its own for process titles).
    const std::string xvnc_env = test::read_file("/proc/" + std::to_string(test::display_of(sandbox_pids)) + "/environ");
    std::set<std::string> variables;
    for (size_t at = 0, end; at < xvnc_env.size(); at = end + 1) {
        end = xvnc_env.find('\0', at);
        if (end == std::string::npos)
            end = xvnc_env.size();
        variables.insert(xvnc_env.substr(at, end - at));
    }
    // PWD is the shell's own, from its working directory inside.
    variables.erase("PWD=/home/agent");
    const std::set<std::string> expected {"PATH=/usr/bin:/bin", "HOME=/home/agent", "USER=agent", "LANG=C.UTF-8"};
    CHECK_MESSAGE(variables == expected, "the sandbox's environment: " << [&] {
        std::string all;
        for (const auto& v : variables)
            all += v + " ";
        return all;
    }());
    const auto files = files_holding_canaries(session->sandbox().directory());
    CHECK_MESSAGE(files.empty(), (files.empty() ? "" : files.front()));
    CHECK(test::canaries_in(test::read_file(session->proxy_log())).empty());
}

TEST_CASE("rote sandbox start and view: the supervisor and websockify hold no host secret")
{
    test::plant_canaries();
    // The supervisor outlives the `rote sandbox start` that made it: as a subreaper, this test adopts it, so
    // that it is among the processes checked.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    auto site = test::DemoSite::start();
    REQUIRE(site);
    const std::string rote = ROTE_BINARY;
    auto started = test::run_shell(rote + " sandbox start --url http://registry.example.test/ --route registry.example.test="
        + site->registry_route() + " --json 2>/dev/null");
    REQUIRE(started.status == 0);
    auto state = nlohmann::json::parse(started.out);
    const std::string id = state["id"];
    // The view runs until it is stopped: in the background, as a person would leave it open.
    pid_t view = ::fork();
    if (view == 0) {
        const std::string port = std::to_string(20000 + ::getpid() % 20000);
        ::execl(rote.c_str(), rote.c_str(), "sandbox", "view", id.c_str(), "--port", port.c_str(),
            static_cast<char*>(nullptr));
        ::_exit(127);
    }
    std::this_thread::sleep_for(1500ms);
    const auto holders = test::processes_holding_canaries();
    ::kill(view, SIGTERM);
    ::waitpid(view, nullptr, 0);
    CHECK_MESSAGE(holders.empty(), (holders.empty() ? "" : holders.front()));
    CHECK(test::run_shell(rote + " sandbox stop " + id + " >/dev/null 2>&1").status == 0);
}

TEST_CASE("Chromium in a local sandbox makes no request of its own: no time service, no component updater")
{
    auto site = test::DemoSite::start();
    REQUIRE(site);
    auto started = test::start_registry_session(*site);
    REQUIRE_MESSAGE(started, (started ? "" : started.error().message()));
    auto& session = *started;
    // Its time queries and component updates came within seconds of the start (clients2.google.com, and
    // update.googleapis.com 3 s in even with --disable-component-update); give them time to show.
    std::this_thread::sleep_for(8s);
    std::vector<std::string> others;
    for (const auto& r : session->proxy().requests()) {
        if (r.host != "registry.example.test")
            others.push_back(r.method + " " + r.host + r.path);
    }
    CHECK_MESSAGE(others.empty(), (others.empty() ? "" : others.front()) << " (" << others.size() << " in all)");
}

TEST_CASE("a local sandbox's memory file systems are bounded: /tmp, its home and /run")
{
    auto site = test::DemoSite::start();
    REQUIRE(site);
    auto started = test::start_registry_session(*site);
    REQUIRE_MESSAGE(started, (started ? "" : started.error().message()));
    // The kernel's own account of the sandbox's mounts (its mount namespace, seen through Xvnc's /proc entry).
    const std::string mounts
        = test::read_file("/proc/" + std::to_string(test::display_of((*started)->sandbox().pids())) + "/mountinfo");
    REQUIRE_FALSE(mounts.empty());
    const auto options_of = [&](const std::string& point) {
        std::istringstream lines(mounts);
        for (std::string line; std::getline(lines, line);) {
            std::istringstream fields(line);
            std::string id, parent, dev, root, mount_point;
            fields >> id >> parent >> dev >> root >> mount_point;
            if (mount_point == point)
                return line;
        }
        return std::string();
    };
    CHECK(options_of("/tmp").find("size=524288k") != std::string::npos);
    CHECK(options_of("/home/agent").find("size=1048576k") != std::string::npos);
    CHECK(options_of("/run").find("size=65536k") != std::string::npos);
}
