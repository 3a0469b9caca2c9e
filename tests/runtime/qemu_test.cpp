// The qemu provider with real QEMU (TCG here), the image `rote image build` made for this test run
// ($ROTE_TEST_IMAGE, the qemu_image fixture), the egress proxy and the demo sites on loopback.

#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <thread>

#include <csignal>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include <rote/desktop/desktop.h>
#include <rote/sandbox/qemu.h>
#include <rote/sandbox/sandbox.h>
#include <rote/session/session.h>

#include "support.h"

using namespace rote;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

fs::path test_image()
{
    const char* dir = std::getenv("ROTE_TEST_IMAGE");
    REQUIRE_MESSAGE(dir, "ROTE_TEST_IMAGE names the image the qemu_image fixture built");
    REQUIRE_MESSAGE(fs::exists(fs::path(dir) / "image.json"), "no image in ", dir);
    return dir;
}

runtime::SessionSpec vm_spec(const test::DemoSite& site, const std::string& keep = {})
{
    runtime::SessionSpec spec;
    spec.provider = "qemu";
    spec.image = test_image();
    spec.keep = keep;
    spec.start_url = "http://registry.example.test/";
    spec.routes["registry.example.test"] = site.registry_route();
    spec.window = runtime::BrowserWindow::app;
    return spec;
}

std::unique_ptr<runtime::Session> start_vm(const runtime::SessionSpec& spec, double* seconds = nullptr)
{
    const auto began = Clock::now();
    auto session = runtime::Session::start(spec);
    REQUIRE_MESSAGE(session, (session ? "" : session.error().message()));
    if (seconds)
        *seconds = std::chrono::duration<double>(Clock::now() - began).count();
    CHECK((*session)->sandbox().provider() == "qemu");
    return std::move(*session);
}

std::string in_guest(runtime::Session& session, const std::string& command)
{
    auto out = runtime::guest_run(session.sandbox(), command);
    REQUIRE_MESSAGE(out, (out ? "" : out.error().message()));
    CHECK_MESSAGE(out->status == 0, command, " -> ", out->output);
    std::string text = out->output;
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
        text.pop_back();
    return text;
}

std::unique_ptr<runtime::Desktop> desktop_of(runtime::Session& session)
{
    auto desktop = runtime::Desktop::connect(session.sandbox().vnc(), runtime::desktop_options_for("qemu"));
    REQUIRE_MESSAGE(desktop, (desktop ? "" : desktop.error().message()));
    return std::move(*desktop);
}


// Every file under `dir` but lock files, with its size: what a run must leave as it found.
std::set<std::string> listing(const fs::path& dir)
{
    std::set<std::string> files;
    for (const auto& entry : fs::recursive_directory_iterator(dir)) {
        if (entry.is_regular_file() && entry.path().extension() != ".lock")
            files.insert(fs::relative(entry.path(), dir).string() + " " + std::to_string(entry.file_size()));
    }
    return files;
}

} // namespace

TEST_CASE("qemu: a VM restored from its ready state shows the start page over VNC; each clone is its own")
{
    auto site = test::DemoSite::start("baseline");
    REQUIRE(site.ok());
    std::string first_machine_id;
    for (int clone = 0; clone < 2; ++clone) {
        CAPTURE(clone);
        double seconds = 0;
        auto session = start_vm(vm_spec(*site), &seconds);
        MESSAGE("VM handed out ", seconds, " s after Session::start");
        const auto listed = session->sandbox().details();
        std::map<std::string, std::string> details(listed.begin(), listed.end());
        CHECK((details["accelerator"] == "tcg" || details["accelerator"] == "kvm"));
        CHECK(details["ready_state"].ends_with("1280x800-app"));
        CHECK(session->sandbox().time_scale() > 1.0);

        auto desktop = desktop_of(*session);
        CHECK(desktop->width() == 1280);
        CHECK(desktop->height() == 800);
        auto seen = test::wait_for_text(*desktop, "Company name", 60s);
        CHECK_MESSAGE(seen.where, "the registry's search page never showed in the VM");

        // The browser runs as the guest's user, with Chromium's own sandbox (no --no-sandbox).
        CHECK(in_guest(*session, "id -un") == "rote");
        CHECK(in_guest(*session, "stat -c %U /proc/$(cat /tmp/chromium.pid)") == "rote");
        CHECK(in_guest(*session, "tr '\\0' ' ' </proc/$(cat /tmp/chromium.pid)/cmdline | grep -c -- --no-sandbox || true")
            == "0");
        const std::string machine_id = in_guest(*session, "cat /etc/machine-id");
        CHECK(machine_id.size() == 32);
        if (clone == 0)
            first_machine_id = machine_id;
        else
            CHECK(machine_id != first_machine_id);
        REQUIRE(session->stop());
    }
}

TEST_CASE("qemu: a page and its render-blocking CSS that end with the connection show whole in the guest's browser")
{
    // The guest's Chromium goes through the same egress proxy as the local one: PHP's built-in server frames
    // both answers close-delimited, and the proxy must re-frame them for a browser that keeps connections.
    // The normal window's ready state is made here on first use (a cold boot under TCG, about a minute).
    test::ClosedPages pages;
    REQUIRE_MESSAGE(pages.port > 0, "php -S did not start (package php-cli)");
    for (auto window : {runtime::BrowserWindow::app, runtime::BrowserWindow::normal}) {
        CAPTURE(window == runtime::BrowserWindow::app ? "app" : "normal");
        runtime::SessionSpec spec;
        spec.provider = "qemu";
        spec.image = test_image();
        spec.start_url = "http://closed.qemu.test/page.php";
        spec.routes["closed.qemu.test"] = "127.0.0.1:" + std::to_string(pages.port);
        spec.window = window;
        auto session = start_vm(spec);
        auto desktop = desktop_of(*session);
        auto seen = test::wait_for_text(*desktop, "Conformance page", 120s);
        REQUIRE_MESSAGE(seen.where, "the close-delimited page never showed in the VM");
        const std::string problems = test::ClosedPages::problems(seen.screen, session->proxy().requests());
        CHECK_MESSAGE(problems.empty(), problems);
        REQUIRE(session->stop());
    }
}

TEST_CASE("qemu: a click and typing over VNC change the guest's screen")
{
    auto site = test::DemoSite::start("baseline");
    REQUIRE(site.ok());
    auto session = start_vm(vm_spec(*site));
    auto desktop = desktop_of(*session);
    auto seen = test::wait_for_text(*desktop, "Company name", 60s);
    REQUIRE_MESSAGE(seen.where, "the registry's search page never showed in the VM");
    Rect label = *seen.where;
    // The page done loading and laid out (under TCG its text shows before its form is ready for input).
    CHECK(desktop->wait_stable(2s, 60s));
    // The text field lies under its label.
    const auto before = desktop->update_count();
    REQUIRE(desktop->click({label.x + 20, label.y + label.h + 30}));
    // The click answers (focus ring, caret) before anything is typed, as a person would wait: under TCG a
    // key sent at once can reach the page before the click has focused the field.
    CHECK(desktop->wait_update(before, 10s));
    CHECK(desktop->wait_stable(500ms, 10s));
    REQUIRE(desktop->type("Acme"));
    seen = test::wait_for_text(*desktop, "Acme", 30s);
    CHECK_MESSAGE(seen.where, "typed text never showed");
    REQUIRE(desktop->key("Return"));
    seen = test::wait_for_text(*desktop, "Acme Robotics Ltd", 60s);
    REQUIRE_MESSAGE(seen.where, "typing a name and pressing Return did not show the results");
    REQUIRE(desktop->click(seen.where->center()));
    seen = test::wait_for_text(*desktop, "08431277", 60s);
    CHECK_MESSAGE(seen.where, "clicking the result did not open the company page");
    bool searched = false;
    for (const auto& request : session->proxy().requests())
        searched = searched || request.path.find("Acme") != std::string::npos;
    CHECK_MESSAGE(searched, "the search went through the egress proxy");
}

TEST_CASE("qemu: the guest reaches nothing but the egress proxy, and no host secret")
{
    test::plant_canaries();
    auto site = test::DemoSite::start("baseline");
    REQUIRE(site.ok());
    test::CountingListener host_port;
    auto session = start_vm(vm_spec(*site));
    if (::geteuid() == 0) {
        // QEMU runs as a host uid of its own sandbox's (not the `nobody` every host daemon may share), in a
        // control group of its own with the sandbox's limits: a task limit, and memory for the guest's RAM
        // and QEMU beside it.
        const std::vector<pid_t> pids = session->sandbox().pids();
        REQUIRE_FALSE(pids.empty());
        const long uid = test::uid_of(pids.front());
        CHECK(uid >= long(runtime::kSandboxUidBase));
        CHECK(uid < long(runtime::kSandboxUidBase) + runtime::kSandboxUids);
        const fs::path tasks = test::cgroup_of(pids.front(), "pids");
        CHECK(tasks.filename() == session->sandbox().id());
        CHECK(test::read_file(tasks / "pids.max") == "1024\n");
        const fs::path memory = test::cgroup_of(pids.front(), "memory");
        CHECK(memory.filename() == session->sandbox().id());
        const std::string limit = test::read_file(memory / (fs::exists(memory / "memory.max") ? "memory.max" : "memory.limit_in_bytes"));
        CHECK(std::stoull(limit) == (3ull << 30)); // 2 GiB (the default) beside the guest's 1 GiB
    }
    // QEMU, its helpers and every process in the guest hold none of the canaries of rote's environment.
    const auto holders = test::processes_holding_canaries();
    CHECK_MESSAGE(holders.empty(), (holders.empty() ? "" : holders.front()));
    CHECK(in_guest(*session, "cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c canary || true") == "0");
    const std::string port = std::to_string(host_port.port);
    // Straight at the host (slirp's gateway and DNS addresses), at the guest's own loopback, and at the
    // proxy's address on another port: nothing connects.
    for (const std::string target : {"10.0.2.2", "10.0.2.3", "127.0.0.1", "10.0.2.100"}) {
        CAPTURE(target);
        std::string p = target == "10.0.2.100" ? "80" : port;
        CHECK(in_guest(*session, "timeout 5 bash -c 'exec 3<>/dev/tcp/" + target + "/" + p
                  + "' 2>/dev/null && echo open || echo closed")
            == "closed");
    }
    // Through the proxy: the host's port is refused (not on the allowlist), the allowed site answers.
    auto via_proxy = [&](const std::string& url) {
        return in_guest(*session,
            "bash -c 'exec 3<>/dev/tcp/10.0.2.100/3128 && printf \"GET " + url
                + " HTTP/1.0\\r\\n\\r\\n\" >&3 && head -1 <&3'");
    };
    CHECK(via_proxy("http://127.0.0.1:" + port + "/").find(" 403 ") != std::string::npos);
    CHECK(via_proxy("http://registry.example.test/").find(" 200 ") != std::string::npos);
    CHECK(host_port.accepted == 0);
    bool refused_logged = false;
    for (const auto& request : session->proxy().requests()) {
        refused_logged = refused_logged || (request.host == "127.0.0.1" && request.status == 403);
        // The guest's Chromium asked nothing of its own (no updater, no time service).
        CHECK_MESSAGE((request.host == "127.0.0.1" || request.host == "registry.example.test"), request.method, " ",
            request.host, request.path);
    }
    CHECK(refused_logged);
}

TEST_CASE("qemu: 200 concurrent requests from inside the guest are all served")
{
    auto site = test::DemoSite::start("baseline");
    REQUIRE(site.ok());
    auto session = start_vm(vm_spec(*site));
    // 200 connections open at once, each through guestfwd (a socat QEMU starts per connection, as the
    // sandbox's uid, in its group) to the egress proxy; then a request on each, then every answer. One shell
    // holds them all: 200 shells at once starve an emulated guest for longer than the proxy's header deadline
    // (2 of 200 were answered 408, correctly).
    const std::string script = R"(fds=""
for i in $(seq 200); do exec {fd}<>/dev/tcp/10.0.2.100/3128 || exit 1; fds="$fds $fd"; done
i=0
for fd in $fds; do i=$((i+1)); printf 'GET http://registry.example.test/search?q=%s HTTP/1.0\r\nHost: registry.example.test\r\n\r\n' $i >&$fd; done
for fd in $fds; do head -1 <&$fd; done | tr -d '\r' | sort | uniq -c
)";
    const auto began = Clock::now();
    auto out = runtime::guest_run(session->sandbox(),
        "cat > /tmp/burst.sh <<'EOF'\n" + script + "EOF\ntimeout 150 bash /tmp/burst.sh", 180s);
    REQUIRE_MESSAGE(out, (out ? "" : out.error().message()));
    MESSAGE("200 connections at once from the guest, all answered in ", std::chrono::duration<double>(Clock::now() - began).count(), " s");
    INFO(out->output);
    CHECK(out->output.find(" 200 HTTP/1.0 200 OK\n") != std::string::npos);
}

TEST_CASE("qemu: an ephemeral VM leaves nothing behind, and the image is as it was")
{
    auto site = test::DemoSite::start("baseline");
    REQUIRE(site.ok());
    const fs::path image = test_image();
    {
        // A first start may make a ready state; what follows must not change the image.
        auto warm = start_vm(vm_spec(*site));
    }
    const auto before = listing(image);
    auto session = start_vm(vm_spec(*site));
    const fs::path dir = session->sandbox().directory();
    const auto pids = session->sandbox().pids();
    REQUIRE_FALSE(pids.empty());
    CHECK(fs::exists(dir / "disk.qcow2"));
    in_guest(*session, "head -c 1000000 /dev/urandom > ~/junk && sync");
    REQUIRE(session->stop());
    CHECK_FALSE(fs::exists(dir));
    for (pid_t pid : pids)
        CHECK_FALSE(runtime::process_running(pid));
    auto root = runtime::runtime_root();
    REQUIRE(root);
    for (const auto& entry : fs::recursive_directory_iterator(*root)) {
        CHECK_MESSAGE(entry.path().extension() != ".qcow2", entry.path().string());
    }
    CHECK(listing(image) == before);
}

TEST_CASE("qemu: a kept sandbox keeps a file written inside it across two runs")
{
    auto site = test::DemoSite::start("baseline");
    REQUIRE(site.ok());
    const fs::path image = test_image();
    const std::string name = "test-" + std::to_string(::getpid());
    (void)runtime::remove_kept(image, name);

    std::string written;
    {
        auto session = start_vm(vm_spec(*site, name));
        written = in_guest(*session, "echo \"kept $(cat /etc/machine-id)\" > ~/note.txt && cat ~/note.txt");
        CHECK(written.starts_with("kept "));
        const auto began = Clock::now();
        REQUIRE(session->stop());
        MESSAGE("suspending the kept VM took ", std::chrono::duration<double>(Clock::now() - began).count(), " s");
    }
    CHECK(fs::exists(image / "keep" / (name + ".qcow2")));
    CHECK(fs::exists(image / "keep" / (name + ".state")));
    {
        auto session = start_vm(vm_spec(*site, name));
        CHECK(in_guest(*session, "cat ~/note.txt") == written);
        // The kept VM went back to its waiting page when it was saved: this run's start page shows.
        auto desktop = desktop_of(*session);
        CHECK_MESSAGE(test::wait_for_text(*desktop, "Company name", 60s).where, "the start page never showed");
        // One run at a time per kept sandbox.
        auto second = runtime::Session::start(vm_spec(*site, name));
        REQUIRE_FALSE(second);
        CHECK(second.error().message().find("in use") != std::string::npos);
        REQUIRE(session->stop());
    }
    REQUIRE(runtime::remove_kept(image, name));
    CHECK_FALSE(fs::exists(image / "keep" / (name + ".qcow2")));
}

TEST_CASE("qemu: rote sandbox start --provider qemu, screenshot, stop; a killed supervisor takes its VM along")
{
    auto site = test::DemoSite::start("baseline");
    REQUIRE(site.ok());
    const std::string rote = std::string(ROTE_BINARY) + " ";
    auto started = test::run_shell(rote + "sandbox start --provider qemu --app --json --image " + test_image().string()
        + " --url http://registry.example.test/ --route registry.example.test=" + site->registry_route() + " 2>/dev/null");
    REQUIRE_MESSAGE(started.status == 0, started.out);
    auto state = nlohmann::json::parse(started.out, nullptr, false);
    REQUIRE(state.is_object());
    CHECK(state["provider"] == "qemu");
    CHECK(state["details"]["accelerator"].is_string());
    const std::string id = state["id"];

    const fs::path png = fs::temp_directory_path() / ("rote-qemu-" + id + ".png");
    auto shot = test::run_shell(rote + "sandbox screenshot " + id + " " + png.string() + " 2>/dev/null");
    CHECK(shot.status == 0);
    CHECK(fs::file_size(png) > 1000);
    fs::remove(png);
    CHECK(test::run_shell(rote + "sandbox stop " + id + " 2>/dev/null").status == 0);

    // Again, and this time the supervisor dies without stopping anything.
    started = test::run_shell(rote + "sandbox start --provider qemu --app --json --image " + test_image().string()
        + " --url http://registry.example.test/ --route registry.example.test=" + site->registry_route() + " 2>/dev/null");
    REQUIRE(started.status == 0);
    state = nlohmann::json::parse(started.out, nullptr, false);
    auto root = runtime::runtime_root();
    REQUIRE(root);
    const fs::path dir = *root / state["id"].get<std::string>();
    REQUIRE(fs::exists(dir));
    const std::vector<pid_t> vm = runtime::process_tree(state["pid"].get<pid_t>());
    REQUIRE(vm.size() > 1);
    ::kill(state["pid"].get<pid_t>(), SIGKILL);
    const auto deadline = Clock::now() + 20s;
    bool gone = false;
    while (!gone && Clock::now() < deadline) {
        gone = !fs::exists(dir);
        for (pid_t p : vm)
            gone = gone && !runtime::process_running(p);
        std::this_thread::sleep_for(100ms);
    }
    CHECK_MESSAGE(gone, "QEMU or the sandbox's directory outlived a killed supervisor");
}
