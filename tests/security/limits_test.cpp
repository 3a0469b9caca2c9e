// The sandbox boundary (docs/security.md, "resources"): what a sandbox may take of the host. A process inside a
// real local sandbox (in all its namespaces, as its uid, in its control group: a compromised browser) tries
// to take the host's memory, tasks and disk; the kernel stops it at the sandbox's limits, the rest of the sandbox
// lives on, and nothing of it outlives destroy().

#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <unistd.h>

#include <rote/sandbox/sandbox.h>

#include "runtime/support.h"

using namespace rote;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::string comm_of(pid_t pid)
{
    std::string comm = test::read_file("/proc/" + std::to_string(pid) + "/comm");
    if (!comm.empty() && comm.back() == '\n')
        comm.pop_back();
    return comm;
}

// A process's state letter from /proc/PID/stat ('Z' for a zombie); '?' when it is gone.
char state_of(pid_t pid)
{
    const std::string stat = test::read_file("/proc/" + std::to_string(pid) + "/stat");
    const size_t close = stat.rfind(')'); // the command name may hold spaces and parentheses
    return close == std::string::npos || close + 2 >= stat.size() ? '?' : stat[close + 2];
}

std::string first_line(const fs::path& file)
{
    std::string text = test::read_file(file);
    return text.substr(0, text.find('\n'));
}

// A shell command run as the sandbox would run it: in the control groups of `member` (a process of the
// sandbox), then in all of its namespaces as its user (uid 1000 inside).
std::string inside(pid_t member, const std::vector<fs::path>& groups, const std::string& command)
{
    std::string join;
    for (const fs::path& g : groups)
        join += "echo $$ > " + (g / "cgroup.procs").string() + " && ";
    return "sh -c '" + join + "exec nsenter -t " + std::to_string(member) + " -a -S 1000 -G 1000 sh -c \"" + command + "\"'";
}

} // namespace

TEST_CASE("a local sandbox's control group holds it to its memory and tasks, and goes with it")
{
    if (::geteuid() != 0) {
        MESSAGE("control groups are made by root; as a user, sandboxes run without them (the log says so once)");
        return;
    }
    runtime::SandboxOptions options;
    options.window = runtime::BrowserWindow::app;
    options.limits.memory_bytes = 1ull << 30;
    options.limits.max_tasks = 400;
    options.limits.cpu_weight = 50;
    auto started = runtime::start_local_sandbox(options);
    REQUIRE_MESSAGE(started, (started ? "" : started.error().message()));
    auto& sandbox = **started;
    bool limited = false;
    for (const auto& [key, value] : sandbox.details())
        limited = limited || (key == "limits" && value.starts_with("cgroup"));
    REQUIRE_MESSAGE(limited, "the sandbox has no control group on a host where root can make them");

    // The kernel's word: Xvnc (and so everything in the sandbox) is in groups with the limits asked for.
    pid_t xvnc = -1;
    for (int i = 0; i < 100 && xvnc <= 0; ++i) {
        xvnc = test::display_of(sandbox.pids());
        if (xvnc <= 0)
            std::this_thread::sleep_for(50ms);
    }
    REQUIRE(xvnc > 0);
    const fs::path memory = test::cgroup_of(xvnc, "memory"), pids = test::cgroup_of(xvnc, "pids"), cpu = test::cgroup_of(xvnc, "cpu");
    INFO("memory group " << memory << ", pids group " << pids);
    const bool v2 = memory == pids;
    REQUIRE(fs::exists(memory / "cgroup.procs"));
    CHECK(first_line(memory / (v2 ? "memory.max" : "memory.limit_in_bytes")) == std::to_string(1ull << 30));
    CHECK(first_line(pids / "pids.max") == "400");
    if (v2 && fs::exists(memory / "cpu.weight"))
        CHECK(first_line(memory / "cpu.weight") == "50");
    else if (!v2 && fs::exists(cpu / "cpu.shares"))
        CHECK(first_line(cpu / "cpu.shares") == "512");
    // Every process of the sandbox is in it, not only the first: each one's own word (/proc/PID/cgroup), read
    // after the process was listed (the sandbox's scripts fork while this runs; a process that exited in
    // between, or is a zombie, which no group lists, has nothing left to hold).
    for (pid_t pid : sandbox.pids()) {
        const fs::path in = test::cgroup_of(pid, "memory");
        if (in.empty() || !runtime::process_running(pid) || state_of(pid) == 'Z')
            continue;
        CHECK_MESSAGE(in == memory, pid << " (" << comm_of(pid) << ") is in " << in << ", not the sandbox's memory group");
    }
    const std::vector<fs::path> groups = v2 ? std::vector<fs::path> {memory} : std::vector<fs::path> {memory, pids};

    // 2 GiB held in a sandbox of 1 GiB (tail keeps a stream with no newline whole): the kernel kills the holder,
    // and only it.
    auto hog = test::run_shell(inside(xvnc, groups, "head -c 2048M /dev/zero | tail > /dev/null") + "; echo status $?");
    INFO(hog.out);
    CHECK(hog.out.find("status 137") != std::string::npos); // SIGKILL, from the OOM killer
    if (v2)
        CHECK(test::read_file(memory / "memory.events").find("oom_kill 0") == std::string::npos);
    else
        CHECK(test::read_file(memory / "memory.oom_control").find("oom_kill 0") == std::string::npos);
    CHECK(sandbox.alive());
    CHECK(runtime::process_running(xvnc));

    // The directory it shares with the host (its VNC socket and logs) is bounded: writing 200 MiB there stops
    // at 64 MiB, on a file system of its own, not the host's disk.
    auto fill = test::run_shell(inside(xvnc, groups, "head -c 200M /dev/zero > /run/rote/fill; echo written \\$?") + " 2>&1");
    INFO(fill.out);
    CHECK(fill.out.find("written 0") == std::string::npos);
    const fs::path filled = sandbox.directory() / "fill";
    REQUIRE(fs::exists(filled));
    CHECK(fs::file_size(filled) <= (64u << 20));
    CHECK(test::run_shell("findmnt -n -o FSTYPE " + sandbox.directory().string()).out == "tmpfs\n");
    fs::remove(filled);

    // A fork bomb stops at the tasks limit; the sandbox's own processes live on.
    auto bomb = test::run_shell(inside(xvnc, groups, "for i in \\$(seq 1000); do sleep 60 & done 2>/dev/null; echo done") + "; echo status $?");
    const std::string events = test::read_file(pids / "pids.events");
    INFO(bomb.out << " pids.events: " << events);
    CHECK(std::stol(first_line(pids / "pids.current")) <= 400);
    CHECK(events.find("max 0") == std::string::npos); // forks were refused at the limit
    CHECK(runtime::process_running(xvnc));

    // destroy() ends everything in the groups (the sleeps too) and removes them.
    const std::vector<pid_t> before = sandbox.pids();
    REQUIRE(sandbox.destroy());
    CHECK_FALSE(fs::exists(memory));
    CHECK_FALSE(fs::exists(pids));
    for (pid_t pid : before)
        CHECK_FALSE(runtime::process_running(pid));
}
