// `rote sandbox ...` as a user runs it: a supervisor in the background, driven and stopped by later commands.

#include <doctest/doctest.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <thread>

#include <sys/wait.h>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include <rote/sandbox/sandbox.h>

#include "support.h"

using namespace rote;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

using Run = test::ShellRun;

Run rote_cli(const std::string& args) { return test::run_shell(std::string(ROTE_BINARY) + " " + args + " 2>/dev/null"); }

bool all_gone(const std::vector<pid_t>& pids)
{
    for (pid_t p : pids) {
        if (runtime::process_running(p))
            return false;
    }
    return true;
}

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout)
{
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!condition()) {
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        std::this_thread::sleep_for(20ms);
    }
    return true;
}

} // namespace

TEST_CASE("rote sandbox: start, list, screenshot, act, stop; a killed supervisor takes its sandbox along")
{
    auto site = test::DemoSite::start();
    REQUIRE(site);
    const std::string start = "sandbox start --json --url http://registry.example.test/ --route registry.example.test="
        + site->registry_route();

    Run started = rote_cli(start);
    REQUIRE(started.status == 0);
    auto state = nlohmann::json::parse(started.out);
    const std::string id = state["id"];
    const pid_t supervisor = state["pid"];
    CHECK(state["allow"] == nlohmann::json::array({"registry.example.test"}));

    Run listed = rote_cli("sandbox list --json");
    REQUIRE(listed.status == 0);
    bool found = false;
    for (const auto& s : nlohmann::json::parse(listed.out))
        found |= s["id"] == id;
    CHECK(found);

    fs::path png = fs::temp_directory_path() / ("rote-cli-" + id + ".png");
    Run shot = rote_cli("sandbox screenshot " + id + " " + png.string());
    REQUIRE(shot.status == 0);
    cv::Mat screen = cv::imread(png.string());
    CHECK(screen.cols == 1280);
    CHECK(screen.rows == 800);
    fs::remove(png);

    CHECK(rote_cli("sandbox key " + id + " ctrl+nonsense").status == 2);
    CHECK(rote_cli("sandbox click " + id + " 5000 10").status == 2);
    CHECK(rote_cli("sandbox click sbx-00000000 1 1").status == 1);
    CHECK(rote_cli("sandbox stop ../etc").status == 2);
    CHECK(rote_cli("sandbox start --route registry.example.test=nowhere").status == 2);
    CHECK(rote_cli("sandbox start --size 10x10").status == 2);
    CHECK(rote_cli("sandbox start --size wide").status == 2);

    // The live view: noVNC's page and, behind its websocket, the sandbox's VNC server.
    {
        const int port = 20000 + ::getpid() % 20000;
        FILE* view = ::popen((std::string(ROTE_BINARY) + " sandbox view " + id + " --port " + std::to_string(port)
                                 + " >/dev/null 2>&1 & echo $!")
                                 .c_str(),
            "r");
        REQUIRE(view);
        pid_t view_pid = 0;
        REQUIRE(std::fscanf(view, "%d", &view_pid) == 1);
        ::pclose(view);
        std::string page;
        wait_until(
            [&] {
                auto got = test::http_get(port, "/vnc.html");
                page = got ? *got : "";
                return !page.empty();
            },
            10s);
        CHECK(page.find("noVNC") != std::string::npos);
        CHECK(test::websocket_greeting(port, "/websockify").starts_with("RFB 003.008"));
        ::kill(view_pid, SIGTERM);
    }

    std::vector<pid_t> tree = runtime::process_tree(supervisor);
    CHECK(tree.size() >= 5);
    Run stopped = rote_cli("sandbox stop " + id);
    CHECK(stopped.status == 0);
    CHECK(wait_until([&] { return all_gone(tree); }, 5s));
    auto root = runtime::runtime_root();
    REQUIRE(root);
    CHECK_FALSE(fs::exists(*root / id));
    CHECK_FALSE(fs::exists(*root / (id + ".json")));

    // SIGKILL of the supervisor: die-with-parent ends the processes, the reaper removes the files.
    started = rote_cli(start);
    REQUIRE(started.status == 0);
    state = nlohmann::json::parse(started.out);
    const std::string id2 = state["id"];
    fs::path proxy_log = state["proxy_log"].get<std::string>();
    fs::path proxy_socket = proxy_log;
    proxy_socket.replace_extension(".sock");
    REQUIRE(fs::exists(proxy_socket));
    // Wait for Chromium's processes, so that they are in the tree we check.
    std::vector<pid_t> tree2;
    wait_until([&] { return (tree2 = runtime::process_tree(state["pid"])).size() >= 8; }, 10s);
    ::kill(state["pid"].get<pid_t>(), SIGKILL);
    CHECK_MESSAGE(wait_until([&] { return all_gone(tree2); }, 5s), "processes outlived their supervisor");
    CHECK(wait_until([&] { return !fs::exists(*root / id2); }, 5s));
    CHECK_FALSE(fs::exists(proxy_socket));
    CHECK_FALSE(fs::exists(proxy_log));
    // The state file is left behind by a killed supervisor; `list` notices and clears it.
    Run after = rote_cli("sandbox list --json");
    CHECK(nlohmann::json::parse(after.out).empty());
    CHECK_FALSE(fs::exists(*root / (id2 + ".json")));
}
