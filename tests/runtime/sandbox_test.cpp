// The local sandbox with a real Xvnc, Chromium and the egress proxy, driven over VNC as an agent drives it.

#include <doctest/doctest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <csignal>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rote/desktop/desktop.h>
#include <rote/egress/egress_proxy.h>
#include <rote/sandbox/sandbox.h>

#include "support.h"

using namespace rote;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

fs::path proxy_socket_path(const char* name)
{
    auto root = runtime::runtime_root();
    REQUIRE(root);
    return *root / (std::string("test-") + name + "-" + std::to_string(::getpid()) + ".sock");
}


void go_to(runtime::Desktop& desktop, const std::string& url)
{
    REQUIRE(desktop.key("ctrl+l"));
    std::this_thread::sleep_for(100ms);
    REQUIRE(desktop.type(url));
    REQUIRE(desktop.key("Return"));
}

// Opens URL from the address bar and waits for PHRASE on the screen. Keys sent while Chromium moves its focus
// (a page that just finished loading) can miss the address bar, so the address is typed once more if the phrase
// does not show; what is checked is what the page and the proxy saw, not how often the address was typed.
test::Sighting open_and_wait(runtime::Desktop& desktop, const std::string& url, std::string_view phrase,
                             std::chrono::milliseconds timeout)
{
    go_to(desktop, url);
    auto seen = test::wait_for_text(desktop, phrase, timeout);
    if (!seen.where) {
        MESSAGE("typing " << url << " once more: \"" << phrase << "\" did not show");
        go_to(desktop, url);
        seen = test::wait_for_text(desktop, phrase, timeout);
    }
    return seen;
}

// The demo registry behind an egress proxy that allows it, a sandbox on its start page, and a desktop on that
// sandbox. Members go in reverse: the desktop first, the site last.
struct RegistrySandbox {
    test::DemoSite site;
    std::unique_ptr<runtime::EgressProxy> proxy;
    std::unique_ptr<runtime::Sandbox> sandbox;
    std::unique_ptr<runtime::Desktop> desktop;
};

RegistrySandbox open_registry(const char* name, runtime::BrowserWindow window = runtime::BrowserWindow::normal)
{
    auto site = test::DemoSite::start();
    REQUIRE_MESSAGE(site, (site ? "" : site.error().message()));
    runtime::EgressProxyOptions proxy_options;
    proxy_options.socket_path = proxy_socket_path(name);
    proxy_options.allowlist = {"registry.example.test"};
    proxy_options.routes = {{"registry.example.test", site->registry_route()}};
    auto proxy = runtime::EgressProxy::start(proxy_options);
    REQUIRE_MESSAGE(proxy, (proxy ? "" : proxy.error().message()));
    runtime::SandboxOptions options;
    options.start_url = "http://registry.example.test/";
    options.proxy_socket = (*proxy)->socket_path();
    options.window = window;
    auto sandbox = runtime::start_local_sandbox(options);
    REQUIRE_MESSAGE(sandbox, (sandbox ? "" : sandbox.error().message()));
    auto desktop = runtime::Desktop::connect((*sandbox)->vnc());
    REQUIRE_MESSAGE(desktop, (desktop ? "" : desktop.error().message()));
    return {std::move(site).value(), std::move(*proxy), std::move(*sandbox), std::move(*desktop)};
}

} // namespace

TEST_CASE("a sandbox on the registry shows the page, and clicks and typing over VNC act as a person's")
{
    auto r = open_registry("registry");
    auto& desktop = r.desktop;
    CHECK(desktop->width() == 1280);
    CHECK(desktop->height() == 800);

    // The page as VNC shows it, read by OCR: not Chromium's word for it.
    auto seen = test::wait_for_text(*desktop, "Company name", 30s);
    REQUIRE_MESSAGE(seen.where, "the registry's search page never appeared");
    Rect label = *seen.where;
    // The text field lies under its label.
    REQUIRE(desktop->click({label.x + 20, label.y + label.h + 30}));
    REQUIRE(desktop->type("Acme"));
    REQUIRE(desktop->key("Return"));
    seen = test::wait_for_text(*desktop, "Acme Robotics Ltd", 15s);
    REQUIRE_MESSAGE(seen.where, "typing a name and pressing Return did not show the results");
    CHECK(test::find_text(seen.screen, "Acme Holdings"));

    REQUIRE(desktop->click(seen.where->center()));
    seen = test::wait_for_text(*desktop, "08431277", 15s);
    REQUIRE_MESSAGE(seen.where, "clicking the result did not open the company page");

    bool searched = false;
    for (const auto& request : r.proxy->requests()) {
        searched |= request.method == "GET" && request.host == "registry.example.test"
            && request.path == "/search?q=Acme" && request.status == 200;
    }
    CHECK(searched);
    CHECK(r.sandbox->destroy());
}

TEST_CASE("inside the sandbox, host files and host loopback are out of reach, and the proxy refuses and logs")
{
    const std::string token = "HOSTSECRET" + std::to_string(::getpid());
    fs::path tmp_file = fs::path("/tmp") / ("rote-isolation-" + std::to_string(::getpid()) + ".txt");
    const char* home = std::getenv("HOME");
    REQUIRE(home);
    fs::path home_file = fs::path(home) / ("rote-isolation-" + std::to_string(::getpid()) + ".txt");
    std::ofstream(tmp_file) << token << "\n";
    std::ofstream(home_file) << token << "\n";
    test::CountingListener listener;

    runtime::EgressProxyOptions proxy_options;
    proxy_options.socket_path = proxy_socket_path("isolation");
    proxy_options.allowlist = {"registry.example.test"};
    auto proxy = runtime::EgressProxy::start(proxy_options);
    REQUIRE(proxy);
    runtime::SandboxOptions options;
    options.start_url = "file://" + tmp_file.string();
    options.proxy_socket = (*proxy)->socket_path();
    auto sandbox = runtime::start_local_sandbox(options);
    REQUIRE_MESSAGE(sandbox, (sandbox ? "" : sandbox.error().message()));
    auto desktop = runtime::Desktop::connect((*sandbox)->vnc());
    REQUIRE(desktop);

    auto seen = test::wait_for_text(**desktop, "ERR_FILE_NOT_FOUND", 30s);
    CHECK_MESSAGE(seen.where, "the host's /tmp file should not exist inside");
    CHECK_FALSE(test::find_text(seen.screen, token));

    seen = open_and_wait(**desktop, "http://127.0.0.1:" + std::to_string(listener.port) + "/", "127.0.0.1 is not on",
                         15s);
    CHECK_MESSAGE(seen.where, "host loopback must go through the proxy, which refuses it");

    seen = open_and_wait(**desktop, "file://" + home_file.string(), "ERR_FILE_NOT_FOUND", 15s);
    CHECK_MESSAGE(seen.where, "the host's home should not exist inside");
    CHECK_FALSE(test::find_text(seen.screen, token));

    seen = open_and_wait(**desktop, "http://evil.example.org/steal", "evil.example.org is not on", 15s);
    CHECK(seen.where);
    CHECK(test::find_text(seen.screen, "Blocked by rote"));

    CHECK(listener.accepted == 0);
    bool refused_evil = false;
    bool refused_loopback = false;
    for (const auto& r : (*proxy)->requests()) {
        refused_evil |= r.host == "evil.example.org" && r.status == 403 && r.path == "/steal";
        refused_loopback |= r.host == "127.0.0.1" && r.port == listener.port && r.status == 403;
    }
    CHECK(refused_evil);
    CHECK(refused_loopback);
    fs::remove(tmp_file);
    fs::remove(home_file);
}

TEST_CASE("destroying a sandbox leaves no process and no directory")
{
    runtime::SandboxOptions options;
    auto sandbox = runtime::start_local_sandbox(options);
    REQUIRE_MESSAGE(sandbox, (sandbox ? "" : sandbox.error().message()));
    auto desktop = runtime::Desktop::connect((*sandbox)->vnc());
    REQUIRE(desktop);
    // Chromium's processes take a moment to appear; wait for the browser proper.
    std::vector<pid_t> pids;
    for (int i = 0; i < 100 && pids.size() < 6; ++i) {
        std::this_thread::sleep_for(50ms);
        pids = (*sandbox)->pids();
    }
    REQUIRE(pids.size() >= 4); // bwrap, its init, the shell, Xvnc, and more
    fs::path dir = (*sandbox)->directory();
    REQUIRE(fs::exists(dir));
    desktop->reset();
    REQUIRE((*sandbox)->destroy());
    for (pid_t p : pids)
        CHECK_MESSAGE(!fs::exists("/proc/" + std::to_string(p)), "process ", p, " survived");
    CHECK_FALSE(fs::exists(dir));
}

namespace {

// Kills the sandbox's Xvnc `at_once` (the start script may still be waiting for the display's X socket)
// or once the browser's processes run, and checks that the sandbox and all its processes end. With
// `starve_script`, the start script is stopped first (SIGSTOP), as a script starved of CPU or memory would be.
void check_display_death_ends_sandbox(bool at_once, bool starve_script = false)
{
    runtime::SandboxOptions options;
    auto sandbox = runtime::start_local_sandbox(options);
    REQUIRE_MESSAGE(sandbox, (sandbox ? "" : sandbox.error().message()));
    std::vector<pid_t> pids;
    pid_t xvnc = 0;
    for (int i = 0; i < 100 && ((!at_once && pids.size() < 6) || xvnc == 0); ++i) {
        if (i > 0 || !at_once)
            std::this_thread::sleep_for(at_once ? 1ms : 50ms);
        pids = (*sandbox)->pids();
        xvnc = test::display_of(pids); // not Xvnc's child forked for xkbcomp: killing that left the display up
    }
    REQUIRE(xvnc > 0);
    CHECK((*sandbox)->alive());
    if (starve_script) {
        const pid_t script = runtime::process_info(xvnc).parent;
        REQUIRE(script > 0);
        REQUIRE(::kill(script, SIGSTOP) == 0);
    }
    REQUIRE(::kill(xvnc, SIGKILL) == 0);
    // The kernel takes the namespace down once the start script returns, and rote ends the sandbox itself
    // once alive() sees its Xvnc gone, however long the script takes (a script starved of CPU). A failure
    // names the survivors and their state.
    auto survivors = [&] {
        std::string out;
        for (pid_t p : pids) {
            std::ifstream stat("/proc/" + std::to_string(p) + "/stat");
            std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
            const auto close = text.rfind(')');
            if (!text.empty() && !(close != std::string::npos && text.substr(close + 2, 1) == "Z"))
                out += text.substr(0, close == std::string::npos ? text.size() : close + 3) + "; ";
        }
        return out;
    };
    const auto killed = std::chrono::steady_clock::now();
    const auto deadline = killed + 30s;
    bool ended = false;
    std::string left = "not looked at";
    while (std::chrono::steady_clock::now() < deadline && !(ended && left.empty())) {
        std::this_thread::sleep_for(20ms);
        ended = ended || !(*sandbox)->alive();
        if (ended)
            left = survivors();
    }
    MESSAGE("the sandbox ended ",
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - killed).count(),
        " ms after its display died");
    CHECK(ended);
    CHECK_MESSAGE(left.empty(), "processes survived their sandbox's display: ", survivors());
    CHECK((*sandbox)->destroy());
}

} // namespace

TEST_CASE("a sandbox whose Xvnc dies is over: it is no longer alive, and every process in it ends")
{
    SUBCASE("as soon as the sandbox started") { check_display_death_ends_sandbox(true); }
    SUBCASE("once its browser runs") { check_display_death_ends_sandbox(false); }
    SUBCASE("while its start script is stopped") { check_display_death_ends_sandbox(false, true); }
}

TEST_CASE("an app window shows the page alone, from the top of the screen")
{
    auto r = open_registry("app", runtime::BrowserWindow::app);
    auto seen = test::wait_for_text(*r.desktop, "Company Registry", 30s);
    REQUIRE(seen.where);
    // No tab strip or address bar above it: the site's header starts at the top of the screen.
    CHECK(seen.where->y < 40);
    CHECK_FALSE(test::find_text(seen.screen, "registry.example.test"));
}
