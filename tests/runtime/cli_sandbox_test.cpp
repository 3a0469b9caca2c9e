// `rote sandbox ...` as a user runs it: a supervisor in the background, driven and stopped by later commands.

#include <doctest/doctest.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

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

    // The live view: noVNC's page and, behind its websocket, the sandbox's VNC server, for this view's token
    // and from this view's own page only.
    const int port = 20000 + ::getpid() % 20000;
    const fs::path view_out = fs::temp_directory_path() / ("rote-view-" + std::to_string(::getpid()) + ".json");
    FILE* view = ::popen((std::string(ROTE_BINARY) + " sandbox view " + id + " --json --port " + std::to_string(port)
                             + " >" + view_out.string() + " 2>&1 & echo $!")
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
    nlohmann::json printed; // printed once the view answers
    wait_until(
        [&] {
            printed = nlohmann::json::parse(test::read_file(view_out), nullptr, false);
            return printed.is_object();
        },
        10s);
    REQUIRE(printed.is_object());
    const std::string url = printed["url"];
    CHECK(url.find("view_only=1") != std::string::npos);
    const auto at = url.find("token%3D");
    REQUIRE(at != std::string::npos);
    const std::string token = url.substr(at + 8);
    CHECK(token.size() == 64);
    const std::string origin = "Origin: http://127.0.0.1:" + std::to_string(port) + "\r\n";
    CHECK(test::websocket_greeting(port, "/websockify?token=" + token, origin).starts_with("RFB 003.008"));
    // No token, another token, or another site's page (a cross-site WebSocket from the operator's browser):
    // nothing of the desktop.
    CHECK(test::websocket_greeting(port, "/websockify", origin).empty());
    CHECK(test::websocket_greeting(port, "/websockify?token=" + std::string(64, '0'), origin).empty());
    CHECK(test::websocket_greeting(port, "/websockify?token=" + token, "Origin: http://evil.example\r\n").empty());
    CHECK(test::websocket_greeting(port, "/websockify?token=" + token).empty());

    std::vector<pid_t> tree = runtime::process_tree(supervisor);
    CHECK(tree.size() >= 5);
    Run stopped = rote_cli("sandbox stop " + id);
    CHECK(stopped.status == 0);
    CHECK(wait_until([&] { return all_gone(tree); }, 5s));
    // The view closes with its sandbox, and takes its token file along.
    CHECK(wait_until([&] { return !runtime::process_running(view_pid); }, 5s));
    CHECK(test::read_file(view_out).find("the sandbox stopped") != std::string::npos);
    fs::remove(view_out);
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

TEST_CASE("in a chroot, rote run says once what the host lacks, before any run")
{
    // A real chroot (bind mounts in a mount namespace of the test's own): the kernel refuses new user
    // namespaces to a chrooted process, as on a freshly debootstrapped root entered with chroot(8).
    REQUIRE_MESSAGE(::geteuid() == 0, "the chroot needs root, as the whole suite does");
    char dir_template[] = "/tmp/rote-chroot-XXXXXX";
    REQUIRE(::mkdtemp(dir_template) != nullptr);
    const fs::path root = dir_template;
    fs::permissions(root, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec
            | fs::perms::others_read | fs::perms::others_exec); // the sandbox's user (nobody) walks it too
    const fs::path binary = fs::canonical(ROTE_BINARY);
    std::ofstream(root.string() + ".csv") << "company\nAcme Robotics Ltd\nGlobex Corporation Ltd\nInitech Software Ltd\n";
    const std::string script = "set -e; r=" + root.string()
        + "; for d in usr etc proc dev tmp home/rote " + binary.parent_path().string().substr(1)
        + "; do mkdir -p $r/$d; done; "
          "for l in bin lib lib64 sbin; do ln -s usr/$l $r/$l; done; "
          "mount --rbind /usr $r/usr; mount --bind /etc $r/etc; mount --rbind /dev $r/dev; "
          "mount -t proc proc $r/proc; mount --bind "
        + binary.parent_path().string() + " $r" + binary.parent_path().string() + "; cp " + root.string()
        + ".csv $r/tmp/companies.csv; set +e; "
          "chroot $r env -i HOME=/home/rote ROTE_HOME=/home/rote PATH=/usr/bin:/usr/sbin "
        + binary.string() + " run registry-lookup --inputs /tmp/companies.csv 2>&1; echo \"exit=$?\"";
    Run run = test::run_shell("unshare --mount --propagation private sh -c '" + script + "'");
    fs::remove_all(root);
    fs::remove(root.string() + ".csv");
    INFO(run.out);
    CHECK(run.out.find("exit=1") != std::string::npos);
    // One line, with the reason and what to do; no run was made or stored.
    const std::string said = "bubblewrap cannot make its namespaces";
    CHECK(run.out.find(said) != std::string::npos);
    CHECK(run.out.find(said) == run.out.rfind(said));
    CHECK(run.out.find("chroot") != std::string::npos);
    CHECK(run.out.find("[1/3]") == std::string::npos);
    CHECK(std::count(run.out.begin(), run.out.end(), '\n') == 2);
}
