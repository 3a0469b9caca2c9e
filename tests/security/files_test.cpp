// Files rote writes where others can reach: state and logs private, and no write through a link another user
// planted where a temporary file would go.

#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <rote/desktop/desktop.h>
#include <rote/sandbox/sandbox.h>
#include <rote/session/session.h>

#include "runtime/support.h"

using namespace rote;
namespace fs = std::filesystem;

namespace {

unsigned mode_of(const fs::path& p)
{
    struct stat st { };
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

struct Scratch {
    Scratch()
    {
        char name[] = "/tmp/rote-files-XXXXXX";
        REQUIRE(::mkdtemp(name) != nullptr);
        dir = name;
        // A file only its owner may change, and links to it at every name a careless writer would use.
        victim = dir / "victim";
        std::ofstream(victim) << "precious";
        fs::permissions(victim, fs::perms::owner_read | fs::perms::owner_write);
    }
    ~Scratch() { fs::remove_all(dir); }
    void plant(const fs::path& at) { fs::create_symlink(victim, at); }
    fs::path dir;
    fs::path victim;
};

} // namespace

TEST_CASE("a sandbox starts only on a web page: file:, javascript: and data: URLs are refused")
{
    // A runtime directory of its own: other tests' sandboxes, running beside this one, are not listed in it.
    const fs::path runtime_dir = fs::temp_directory_path() / ("rote-urls-" + std::to_string(::getpid()));
    const std::string rote = "ROTE_RUNTIME_DIR=" + runtime_dir.string() + " " + ROTE_BINARY;
    for (const char* url : {"file:///etc/passwd", "javascript:alert(1)", "data:text/html,<h1>x</h1>", "http://",
             "chrome://settings"}) {
        CAPTURE(url);
        auto run = test::run_shell(rote + " sandbox start --url '" + url + "' 2>&1");
        CHECK(run.status == 2);
        CHECK(run.out.find("the start URL must be") != std::string::npos);
    }
    CHECK(test::run_shell(rote + " sandbox list --json").out.find("sbx-") == std::string::npos);
    fs::remove_all(runtime_dir);
}

TEST_CASE("rote export -o and sandbox screenshot never write through a planted link")
{
    Scratch s;
    const std::string rote = ROTE_BINARY;
    const fs::path db = s.dir / "rote.db";
    auto imported = test::run_shell(rote + " --db " + db.string() + " import " + ROTE_TRACE_CORPUS
        + "/valid.json --json 2>&1");
    REQUIRE_MESSAGE(imported.status == 0, imported.out);
    const std::string trace = std::to_string(nlohmann::json::parse(imported.out)["trace_id"].get<int>());
    const fs::path out = s.dir / "trace.json";
    for (const char* suffix : {".partial", ".tmp", "~"})
        s.plant(out.string() + suffix);
    auto exported = test::run_shell(rote + " --db " + db.string() + " export " + trace + " -o " + out.string() + " 2>&1");
    CHECK_MESSAGE(exported.status == 0, exported.out);
    CHECK(test::read_file(s.victim) == "precious");
    CHECK(nlohmann::json::parse(test::read_file(out), nullptr, false).is_object());

    auto site = test::DemoSite::start();
    REQUIRE(site);
    auto started = test::run_shell(rote + " sandbox start --url http://registry.example.test/ --route registry.example.test="
        + site->registry_route() + " --json 2>/dev/null");
    REQUIRE(started.status == 0);
    auto state = nlohmann::json::parse(started.out);
    const std::string id = state["id"];
    const fs::path shot = s.dir / "page.png";
    for (const char* suffix : {".tmp", ".partial"})
        s.plant(shot.string() + suffix);
    auto taken = test::run_shell(rote + " sandbox screenshot " + id + " " + shot.string() + " 2>&1");
    CHECK_MESSAGE(taken.status == 0, taken.out);
    CHECK(test::read_file(s.victim) == "precious");
    CHECK(test::read_file(shot).starts_with("\x89PNG"));

    // The sandbox's state and its proxy's log (URLs with their query tokens) are for their owner alone.
    const fs::path root = runtime::runtime_root().value();
    CHECK(mode_of(root / (id + ".json")) == 0600);
    CHECK(mode_of(state["proxy_log"].get<std::string>()) == 0600);
    CHECK(test::run_shell(rote + " sandbox stop " + id + " >/dev/null 2>&1").status == 0);
}

TEST_CASE("a VNC socket replaced by a link is refused, and the socket it points at is never connected to")
{
    // A sandbox can write its own directory, where its vnc.sock lives; root's client (rote sandbox
    // screenshot, type, a run) must not follow a link planted there to a host socket of the sandbox's choosing.
    const fs::path dir = fs::temp_directory_path() / ("rote-vnc-link-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const fs::path host_socket = dir / "host-service.sock";
    const int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listener >= 0);
    sockaddr_un address {};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, host_socket.c_str(), sizeof address.sun_path - 1);
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(listener, 4) == 0);
    fs::create_symlink(host_socket, dir / "vnc.sock");

    runtime::VncEndpoint endpoint;
    endpoint.unix_path = (dir / "vnc.sock").string();
    runtime::DesktopOptions options;
    options.connect_timeout = std::chrono::milliseconds(1000);
    auto desktop = runtime::Desktop::connect(endpoint, options);
    REQUIRE_FALSE(desktop.ok());
    CHECK_MESSAGE(desktop.error().message().find("symbolic link") != std::string::npos, desktop.error().message());
    // Nothing reached the host's socket.
    ::fcntl(listener, F_SETFL, O_NONBLOCK);
    CHECK(::accept(listener, nullptr, nullptr) < 0);
    ::close(listener);
    fs::remove_all(dir);
}

TEST_CASE("a sandbox cannot move, replace or add to its VNC socket's directory; rote's client still reaches Xvnc")
{
    if (::geteuid() != 0) {
        MESSAGE("as a user, rote's sandboxes run as that user, who owns everything of theirs");
        return;
    }
    test::DemoSite site = test::DemoSite::start().value();
    auto session = test::start_registry_session(site, false);
    REQUIRE_MESSAGE(session, (session ? "" : session.error().message()));
    const auto pids = (*session)->sandbox().pids();
    REQUIRE(pids.size() >= 2);
    const long uid = test::uid_of(pids[1]);
    const fs::path socket = (*session)->sandbox().vnc().unix_path, parent = socket.parent_path();
    REQUIRE(fs::is_socket(socket));
    // The sandbox's uid on the host sees the same files as its processes inside (its directory is
    // /run/rote there): what it may not do to the socket it is driven through.
    const std::string as = "setpriv --reuid=" + std::to_string(uid) + " --regid=" + std::to_string(uid) + " --clear-groups ";
    for (const std::string& attempt : {"mv " + socket.string() + " " + socket.string() + ".moved",
             "mv " + parent.string() + " " + parent.string() + ".moved", "rm -rf " + parent.string(),
             "ln -s /run/host.sock " + parent.string() + "/other.sock",
             "socat -u UNIX-LISTEN:" + socket.string() + ".new /dev/null"}) {
        CAPTURE(attempt);
        CHECK(test::run_shell(as + "timeout 3 " + attempt + " 2>&1").status != 0);
    }
    CHECK(fs::is_socket(socket));
    // And the directory's one socket is still Xvnc's: rote's client connects and sees the page.
    auto desktop = runtime::Desktop::connect((*session)->sandbox().vnc(), runtime::DesktopOptions {});
    REQUIRE_MESSAGE(desktop, (desktop ? "" : desktop.error().message()));
    CHECK(test::wait_for_text(**desktop, "Company name", std::chrono::seconds(20)).where);
}

TEST_CASE("two sandboxes at once run as host uids of their own: neither reads the other's processes or reaches its desktop")
{
    if (::geteuid() != 0) {
        MESSAGE("rote runs sandboxes as uids of their own only as root; as a user, they are that user's");
        return;
    }
    test::DemoSite site = test::DemoSite::start().value();
    auto a = test::start_registry_session(site, false);
    REQUIRE_MESSAGE(a, (a ? "" : a.error().message()));
    auto b = test::start_registry_session(site, false);
    REQUIRE_MESSAGE(b, (b ? "" : b.error().message()));
    const auto pa = (*a)->sandbox().pids(), pb = (*b)->sandbox().pids();
    REQUIRE(pa.size() >= 2);
    REQUIRE(pb.size() >= 2);
    const long ua = test::uid_of(pa[1]), ub = test::uid_of(pb[1]);
    CHECK(ua != ub);
    for (long uid : {ua, ub}) {
        CHECK(uid >= 2100000000L);
        CHECK(uid != 65534); // nobody, which host daemons run as
    }
    for (pid_t pid : pa) {
        const long uid = test::uid_of(pid); // -1: gone since it was listed (the init script's short-lived helpers)
        CHECK((uid == ua || uid == -1));
    }
    const fs::path bs_socket = (*b)->sandbox().vnc().unix_path;
    REQUIRE(fs::exists(bs_socket));
    const auto as = [](long uid) {
        return "setpriv --reuid=" + std::to_string(uid) + " --regid=" + std::to_string(uid) + " --clear-groups ";
    };
    // Sandbox a's uid, on the host, against sandbox b: its processes' environment and its VNC socket.
    const std::string environ = "/proc/" + std::to_string(pb[1]) + "/environ";
    auto read_other = test::run_shell(as(ua) + "cat " + environ + " > /dev/null");
    CHECK(read_other.status != 0);
    auto reach_other = test::run_shell(as(ua) + "timeout 3 socat -u UNIX-CONNECT:" + bs_socket.string() + " /dev/null");
    CHECK(reach_other.status != 0);
    // The same attempts as b's own uid succeed: what stops a is the uid, not the way the test asks.
    auto read_own = test::run_shell(as(ub) + "cat " + environ + " > /dev/null");
    CHECK_MESSAGE(read_own.status == 0, read_own.out);
}
