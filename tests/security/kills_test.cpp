// The sandbox boundary (docs/security.md, "lifetime"): rote killed at any moment leaves nothing running. The
// supervisor of `rote sandbox start` and a whole `rote run` are SIGKILLed at random points (ROTE_KILLS times
// each, 100 by default; every third time with their whole process group), from before their sandbox exists to
// after it is up; after each, no process of a sandbox uid whose slot is free, no sandbox directory and no
// sandbox control group may be left, and once the store is opened again no run may be left `running`.

#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <rote/sandbox/sandbox.h>
#include <rote/store/store.h>

#include "runtime/support.h"

using namespace rote;
namespace fs = std::filesystem;

namespace {

int kills()
{
    const char* n = std::getenv("ROTE_KILLS");
    return n && std::atoi(n) > 0 ? std::atoi(n) : 100;
}

// Processes running as a sandbox uid whose slot lock nobody holds: a sandbox that outlived its owner.
std::vector<std::string> leaked_sandbox_processes()
{
    std::vector<std::string> leaked;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator("/proc", ec)) {
        const std::string name = entry.path().filename();
        if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0])))
            continue;
        const long uid = test::uid_of(std::stoi(name));
        std::ifstream stat(entry.path() / "stat");
        std::string line;
        std::getline(stat, line);
        const auto close = line.rfind(')');
        if (close == std::string::npos || line.compare(close, 3, ") Z") == 0)
            continue; // gone, or a zombie: dead, waiting for its parent (another test's process) to reap it
        if (uid < long(runtime::kSandboxUidBase) || uid >= long(runtime::kSandboxUidBase) + runtime::kSandboxUids)
            continue;
        const fs::path lock = fs::path(runtime::kSandboxUidLocks) / std::to_string(uid - runtime::kSandboxUidBase);
        const int fd = ::open(lock.c_str(), O_RDONLY | O_CLOEXEC);
        const bool free = fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) == 0;
        if (fd >= 0)
            ::close(fd); // and with it the lock, if we took it
        if (free || fd < 0) {
            std::ifstream cmdline(entry.path() / "cmdline");
            std::string command;
            std::getline(cmdline, command, '\0');
            leaked.push_back(name + " (uid " + std::to_string(uid) + ", " + command + ")");
        }
    }
    return leaked;
}

// Sandbox control groups (rote/sbx-* below this process's own, where rote, our child, makes them) holding no
// process: a group whose sandbox is gone. A group another test's sandbox is being made or destroyed in is
// empty for a few milliseconds only; the caller looks again until its deadline. Groups in `before` (left by
// something else on this host before the test began) are not counted.
std::vector<std::string> empty_sandbox_groups(const std::set<std::string>& before = {})
{
    std::vector<std::string> empty;
    for (const char* controller : {"memory", "pids"}) {
        const fs::path parent = test::cgroup_of(::getpid(), controller) / "rote";
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(parent, ec)) {
            if (e.path().filename().string().starts_with("sbx-") && !before.count(e.path().string())
                && test::read_file(e.path() / "cgroup.procs").empty())
                empty.push_back(e.path().string());
        }
    }
    return empty;
}

// The empty sandbox groups present when a test begins; rote removes such a group once it is a minute old.
std::set<std::string> groups_before()
{
    const std::vector<std::string> found = empty_sandbox_groups();
    if (!found.empty())
        MESSAGE(found.size() << " empty sandbox control groups were here before this test, e.g. " << found[0]);
    return {found.begin(), found.end()};
}

// Waits up to 10 s for a killed rote's sandbox to be gone: its processes, its directory in `runtime_dir` and
// its control groups. False, with the test failed, when something is left.
bool expect_nothing_left(const fs::path& runtime_dir, const std::set<std::string>& groups_before)
{
    std::vector<std::string> leaked, groups;
    bool dirs_left = true;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
        leaked = leaked_sandbox_processes();
        groups = empty_sandbox_groups(groups_before);
        dirs_left = false;
        for (const auto& e : fs::directory_iterator(runtime_dir))
            dirs_left = dirs_left || (e.is_directory() && e.path().filename().string().starts_with("sbx-"));
        if (leaked.empty() && !dirs_left && groups.empty())
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    CHECK_MESSAGE(leaked.empty(), leaked.size(), " processes outlived the killed rote, e.g. ", leaked.empty() ? "" : leaked[0]);
    CHECK_MESSAGE(!dirs_left, "a sandbox directory outlived the killed rote");
    CHECK_MESSAGE(groups.empty(), "a sandbox control group outlived the killed rote: ", groups.empty() ? "" : groups[0]);
    return leaked.empty() && !dirs_left && groups.empty();
}

// Starts rote with `args` (ROTE_RUNTIME_DIR and ROTE_HOME set, its output in dir/rote.log) and SIGKILLs it
// after `after_ms`, or with `whole_group` its whole process group (as a terminal's ^C or a job runner's
// timeout reaches every process of a job); its exit status, or -1 when it was killed.
int run_and_kill(const fs::path& dir, const std::vector<std::string>& args, int after_ms, bool whole_group = false)
{
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::setpgid(0, 0);
        ::setenv("ROTE_RUNTIME_DIR", (dir / "runtime").c_str(), 1);
        ::setenv("ROTE_HOME", (dir / "home").c_str(), 1);
        const int null = ::open("/dev/null", O_RDONLY);
        const int log = ::open((dir / "rote.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ::dup2(null, 0);
        ::dup2(log, 1);
        ::dup2(log, 2);
        std::vector<char*> argv {const_cast<char*>(ROTE_BINARY)};
        for (const std::string& a : args)
            argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        ::execv(ROTE_BINARY, argv.data());
        ::_exit(127);
    }
    ::setpgid(pid, pid); // here too: a group kill sent before the child made its group would reach nothing
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(after_ms);
    while (std::chrono::steady_clock::now() < deadline) {
        if (::waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    ::kill(whole_group ? -pid : pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    return -1;
}

struct TempDir {
    TempDir()
    {
        char name[] = "/tmp/rote-kills-XXXXXX";
        REQUIRE(::mkdtemp(name) != nullptr);
        path = name;
        fs::permissions(path, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec); // 0711
        fs::create_directories(path / "runtime");
    }
    ~TempDir()
    {
        std::error_code ec; // a leak the test reported (a mount left in it) must not turn into an abort here
        fs::remove_all(path, ec);
    }
    fs::path path;
};

} // namespace

TEST_CASE("SIGKILLs at random points of a sandbox's start leave no process, directory or control group behind")
{
    if (::geteuid() != 0) {
        MESSAGE("as root only: that is where sandboxes have uids of their own to count by");
        return;
    }
    test::DemoSite site = test::DemoSite::start().value();
    TempDir dir;
    const std::set<std::string> before = groups_before();
    const nlohmann::json spec {{"url", "http://registry.example.test/"}, {"allow", {"registry.example.test"}},
        {"routes", {{"registry.example.test", site.registry_route()}}}, {"width", 1280}, {"height", 800},
        {"scale", 1.0}, {"provider", "local"}, {"app", true}, {"image", ""}, {"keep", ""}};
    // Left alone, the supervisor starts its sandbox and keeps it: still running 3 s in.
    REQUIRE_MESSAGE(run_and_kill(dir.path, {"sandbox", "supervise", spec.dump()}, 3000) == -1,
        test::read_file(dir.path / "rote.log"));
    REQUIRE(expect_nothing_left(dir.path / "runtime", before));
    std::mt19937 random(std::random_device {}());
    for (int i = 0; i < kills(); ++i) {
        // The supervisor as `rote sandbox start` runs it, killed 0 to 1.5 s in: from before its sandbox
        // exists to after it is up; every third time with its whole process group (the sandbox's helpers
        // and reaper included, unless they left it).
        const int after_ms = static_cast<int>(random() % 1500);
        const bool whole_group = i % 3 == 2;
        CAPTURE(i);
        CAPTURE(after_ms);
        CAPTURE(whole_group);
        run_and_kill(dir.path, {"sandbox", "supervise", spec.dump()}, after_ms, whole_group);
        if (!expect_nothing_left(dir.path / "runtime", before))
            break; // one leak is enough to see; the rest would each wait out the deadline
    }
}

TEST_CASE("SIGKILLs at random points of rote run leave no process, directory or control group, and no run running")
{
    if (::geteuid() != 0) {
        MESSAGE("as root only: that is where sandboxes have uids of their own to count by");
        return;
    }
    test::DemoSite site = test::DemoSite::start().value();
    TempDir dir;
    const std::set<std::string> before = groups_before();
    const fs::path db = dir.path / "rote.db";
    auto run_args = [&](const std::string& company) {
        return std::vector<std::string> {"--db", db.string(), "run", "registry-lookup", "-i", "company=" + company,
            "--route", "registry.example.test=" + site.registry_route()};
    };
    // Taught once, so that the killed runs replay (and write their runs, steps and traffic) as most runs do.
    const int taught = run_and_kill(dir.path, run_args("Acme Robotics Ltd"), 120000);
    REQUIRE_MESSAGE(taught == 0, test::read_file(dir.path / "rote.log"));
    std::mt19937 random(std::random_device {}());
    int killed = 0;
    for (int i = 0; i < kills(); ++i) {
        // 0 to 5 s: opening the store, starting the sandbox, replaying, ending the run (a whole run takes about 4 s).
        const int after_ms = static_cast<int>(random() % 5000);
        const bool whole_group = i % 3 == 2;
        CAPTURE(i);
        CAPTURE(after_ms);
        CAPTURE(whole_group);
        killed += run_and_kill(dir.path, run_args(i % 2 ? "Northwind Traders Ltd" : "Initech Software Ltd"), after_ms,
                      whole_group) == -1;
        if (!expect_nothing_left(dir.path / "runtime", before))
            break;
    }
    MESSAGE(killed << " of " << kills() << " runs were killed before they ended");
    // The next open of the store ends the runs whose rote is gone; none is left `running`.
    auto store = store::Store::open(db);
    REQUIRE_MESSAGE(store, (store ? "" : store.error().message()));
    store->reset();
    sqlite3* handle = nullptr;
    REQUIRE(sqlite3_open_v2(db.c_str(), &handle, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    sqlite3_stmt* statement = nullptr;
    REQUIRE(sqlite3_prepare_v2(handle, "SELECT status, count(*) FROM runs GROUP BY status", -1, &statement, nullptr) == SQLITE_OK);
    std::map<std::string, int> statuses;
    while (sqlite3_step(statement) == SQLITE_ROW)
        statuses[reinterpret_cast<const char*>(sqlite3_column_text(statement, 0))] = sqlite3_column_int(statement, 1);
    sqlite3_finalize(statement);
    sqlite3_close(handle);
    std::string seen;
    for (const auto& [status, count] : statuses)
        seen += status + "=" + std::to_string(count) + " ";
    INFO(seen);
    CHECK(statuses.count("running") == 0);
    CHECK(statuses["succeeded"] >= 1);
}

// The qemu provider (an entry of its own with the qemu_image fixture, run alone: TCG takes both cores).
TEST_CASE("SIGKILLs at random points of a VM's start (qemu provider) leave no QEMU, directory or control group behind")
{
    if (::geteuid() != 0) {
        MESSAGE("as root only: that is where sandboxes have uids of their own to count by");
        return;
    }
    const char* image = std::getenv("ROTE_TEST_IMAGE");
    REQUIRE_MESSAGE(image, "ROTE_TEST_IMAGE names the image the qemu_image fixture built");
    test::DemoSite site = test::DemoSite::start().value();
    TempDir dir;
    const std::set<std::string> before = groups_before();
    const nlohmann::json spec {{"url", "http://registry.example.test/"}, {"allow", {"registry.example.test"}},
        {"routes", {{"registry.example.test", site.registry_route()}}}, {"width", 1280}, {"height", 800},
        {"scale", 1.0}, {"provider", "qemu"}, {"app", true}, {"image", image}, {"keep", ""}};
    // QEMUs of ours: the only ones on this host while this test runs (the qemu tests run one at a time).
    auto qemus = [] {
        std::vector<std::string> found;
        std::error_code ec;
        for (const auto& entry : fs::directory_iterator("/proc", ec)) {
            const std::string name = entry.path().filename();
            if (!name.empty() && std::isdigit(static_cast<unsigned char>(name[0]))
                && test::read_file(entry.path() / "comm") == "qemu-system-x86\n"
                && test::read_file(entry.path() / "stat").find(") Z") == std::string::npos)
                found.push_back(name + " (uid " + std::to_string(test::uid_of(std::stoi(name))) + ")");
        }
        return found;
    };
    auto nothing_left = [&] {
        std::vector<std::string> left = qemus();
        for (int i = 0; i < 100 && !left.empty(); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            left = qemus();
        }
        CHECK_MESSAGE(left.empty(), "a QEMU outlived the killed rote: ", left.empty() ? "" : left[0]);
        return expect_nothing_left(dir.path / "runtime", before) && left.empty();
    };
    REQUIRE_MESSAGE(qemus().empty(), "a QEMU is running before the test: ", qemus()[0]);
    // Left alone, the supervisor starts its VM (and makes the ready state, if this is the image's first
    // start) and keeps it.
    REQUIRE_MESSAGE(run_and_kill(dir.path, {"sandbox", "supervise", spec.dump()}, 60000) == -1,
        test::read_file(dir.path / "rote.log"));
    REQUIRE(nothing_left());
    const char* n = std::getenv("ROTE_QEMU_KILLS");
    const int rounds = n && std::atoi(n) > 0 ? std::atoi(n) : 12;
    std::mt19937 random(std::random_device {}());
    for (int i = 0; i < rounds; ++i) {
        // 0 to 6 s: before QEMU exists, while it restores the ready state, once the browser is up; every third
        // time with the whole process group.
        const int after_ms = static_cast<int>(random() % 6000);
        const bool whole_group = i % 3 == 2;
        CAPTURE(i);
        CAPTURE(after_ms);
        CAPTURE(whole_group);
        run_and_kill(dir.path, {"sandbox", "supervise", spec.dump()}, after_ms, whole_group);
        if (!nothing_left())
            break;
    }
}
