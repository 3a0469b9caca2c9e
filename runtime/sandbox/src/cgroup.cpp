#include "cgroup.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rote/base/log.h>

#include "common.h"

namespace rote::runtime::detail {

namespace fs = std::filesystem;

namespace {

spdlog::logger& log()
{
    static auto logger = rote::logger("runtime.sandbox");
    return *logger;
}

std::vector<std::string> split(const std::string& text, char by)
{
    std::vector<std::string> parts;
    std::istringstream in(text);
    std::string part;
    while (std::getline(in, part, by))
        parts.push_back(part);
    return parts;
}

// A control file's text; empty when it cannot be read. Not through a stream: reading the file of a group
// another process is removing fails with ENODEV, which libstdc++'s filebuf turns into an exception.
std::string read_text(const fs::path& path)
{
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return {};
    std::string text;
    char buffer[4096];
    ssize_t n = 0;
    while ((n = ::read(fd, buffer, sizeof buffer)) > 0)
        text.append(buffer, static_cast<size_t>(n));
    ::close(fd);
    return n < 0 ? std::string() : text;
}

// Writes `value` to a control file the way `echo` would; the kernel's answer as an error.
Result<void> write_control(const fs::path& file, const std::string& value)
{
    const int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return errno_error("cannot open " + file.string());
    const ssize_t n = ::write(fd, value.data(), value.size());
    const int saved = errno;
    ::close(fd);
    if (n != static_cast<ssize_t>(value.size())) {
        errno = saved;
        return errno_error("cannot write \"" + value + "\" to " + file.string());
    }
    return {};
}

// Where this host lets rote make sandboxes' groups: the parent directory in each hierarchy.
struct Layout {
    std::string version; // "v2", "v1"; empty: none (why says why)
    std::vector<fs::path> parents;
    bool cpu = false; // v2: the cpu controller is on for the parents' children; v1: parents[2] is cpu's
    std::string why;
};

struct Mount {
    fs::path point;
    std::string type; // cgroup, cgroup2
    std::set<std::string> options; // a v1 hierarchy's controllers are among its super options
};

std::vector<Mount> cgroup_mounts()
{
    std::vector<Mount> mounts;
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
        // "id parent major:minor root mount-point options [optional...] - type source super-options"
        const size_t dash = line.find(" - ");
        if (dash == std::string::npos)
            continue;
        const std::vector<std::string> before = split(line.substr(0, dash), ' ');
        const std::vector<std::string> after = split(line.substr(dash + 3), ' ');
        if (before.size() < 5 || after.size() < 3 || (after[0] != "cgroup" && after[0] != "cgroup2"))
            continue;
        Mount m {before[4], after[0], {}};
        for (const std::string& o : split(after[2], ','))
            m.options.insert(o);
        mounts.push_back(std::move(m));
    }
    return mounts;
}

// This process's group in each hierarchy (/proc/self/cgroup): "0" for v2, else the controllers' names.
std::vector<std::pair<std::set<std::string>, std::string>> own_groups()
{
    std::vector<std::pair<std::set<std::string>, std::string>> groups;
    std::ifstream in("/proc/self/cgroup");
    std::string line;
    while (std::getline(in, line)) {
        // "id:controllers:path"; the path may hold ':'.
        const size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
        if (b == std::string::npos)
            continue;
        std::set<std::string> names;
        for (const std::string& n : split(line.substr(a + 1, b - a - 1), ','))
            names.insert(n);
        if (names.empty())
            names.insert("0");
        groups.emplace_back(std::move(names), line.substr(b + 1));
    }
    return groups;
}

Result<void> make_dir(const fs::path& dir)
{
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
        return errno_error("cannot create " + dir.string());
    return {};
}

// cgroup v2: the unified hierarchy, with memory and pids available at its root. The parent is "rote" below
// the mount's root (whose own processes do not forbid controllers for its children, as a non-root group's
// would); memory, pids and, where there, cpu are turned on for the parent's children.
Layout v2_layout(const Mount& m)
{
    Layout layout;
    const std::string offered = read_text(m.point / "cgroup.controllers");
    std::set<std::string> controllers;
    for (const std::string& c : split(offered, ' '))
        controllers.insert(c.substr(0, c.find('\n')));
    if (!controllers.count("memory") || !controllers.count("pids")) {
        layout.why = "the unified hierarchy at " + m.point.string() + " offers no memory and pids controllers";
        return layout;
    }
    layout.cpu = controllers.count("cpu") > 0;
    const fs::path parent = m.point / "rote";
    const std::string enable = std::string("+memory +pids") + (layout.cpu ? " +cpu" : "");
    for (const fs::path& dir : {m.point, parent}) {
        if (dir == parent) {
            if (auto made = make_dir(parent); !made) {
                layout.why = made.error().message();
                return layout;
            }
        }
        if (auto on = write_control(dir / "cgroup.subtree_control", enable); !on) {
            layout.why = on.error().message();
            return layout;
        }
    }
    layout.version = "v2";
    layout.parents = {parent};
    return layout;
}

// cgroup v1: a "rote" group below rote's own in the memory, pids and (if mounted) cpu hierarchies, so a host
// limit on rote holds for its sandboxes too.
Layout v1_layout(const std::vector<Mount>& mounts)
{
    Layout layout;
    const auto groups = own_groups();
    auto parent_in = [&](const std::string& controller) -> fs::path {
        for (const Mount& m : mounts) {
            if (m.type != "cgroup" || !m.options.count(controller))
                continue;
            for (const auto& [names, path] : groups) {
                if (names.count(controller))
                    return m.point / fs::path(path).relative_path() / "rote";
            }
        }
        return {};
    };
    const fs::path memory = parent_in("memory"), pids = parent_in("pids"), cpu = parent_in("cpu");
    if (memory.empty() || pids.empty()) {
        layout.why = "no memory and pids hierarchies are mounted (cgroup v1), and no unified one has them";
        return layout;
    }
    layout.parents = {memory, pids};
    if (!cpu.empty()) {
        layout.parents.push_back(cpu);
        layout.cpu = true;
    }
    for (const fs::path& parent : layout.parents) {
        if (auto made = make_dir(parent); !made) {
            layout.why = made.error().message();
            layout.parents.clear();
            return layout;
        }
    }
    layout.version = "v1";
    return layout;
}

// Removes the groups of sandboxes whose rote and reaper both died (a SIGKILL to rote's whole process group
// before the reaper had its own session, a host crash): empty "sbx-*" groups made over a minute ago. A live
// sandbox's group is never empty; one being made is empty for milliseconds, between its mkdir and its join.
void sweep_stale(const std::vector<fs::path>& parents)
{
    const auto now = std::chrono::system_clock::now();
    for (const fs::path& parent : parents) {
        std::error_code ec;
        for (const auto& entry : fs::directory_iterator(parent, ec)) {
            struct stat st {};
            if (!entry.path().filename().string().starts_with("sbx-") || ::stat(entry.path().c_str(), &st) != 0)
                continue;
            const auto made = std::chrono::system_clock::from_time_t(st.st_mtime);
            if (now - made > std::chrono::minutes(1) && read_text(entry.path() / "cgroup.procs").empty()
                && ::rmdir(entry.path().c_str()) == 0)
                log().info("removed the control group of a sandbox whose rote is gone: {}", entry.path().string());
        }
    }
}

const Layout& layout()
{
    static const Layout answer = [] {
        Layout l;
        const std::vector<Mount> mounts = cgroup_mounts();
        std::string v2_why;
        for (const Mount& m : mounts) {
            if (m.type == "cgroup2") {
                l = v2_layout(m);
                if (!l.version.empty())
                    break;
                v2_why = l.why;
            }
        }
        if (l.version.empty()) {
            l = v1_layout(mounts);
            if (l.version.empty() && !v2_why.empty())
                l.why = v2_why + "; " + l.why;
        }
        // The paths go into shell scripts (join_prefix, the reaper's trap) in double quotes.
        for (const fs::path& p : l.parents) {
            const std::string text = p.string();
            if (!std::all_of(text.begin(), text.end(), [](char c) {
                    return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("/._:@+=,-", c);
                })) {
                l = Layout {};
                l.why = "a control group path holds characters rote does not quote: " + text;
            }
        }
        if (l.version.empty())
            log().warn("sandboxes run without memory, task and CPU limits: control groups cannot be made here ({})",
                l.why.empty() ? "no cgroup file system" : l.why);
        else {
            log().debug("sandbox limits by cgroup {} below {}", l.version, l.parents.front().string());
            sweep_stale(l.parents);
        }
        return l;
    }();
    return answer;
}

// Safe in double quotes, and inside the reaper's single-quoted trap: layout() admits no other characters.
std::string quoted(const fs::path& p) { return "\"" + p.string() + "\""; }

} // namespace

Cgroup::Cgroup(Cgroup&& other) noexcept
    : m_version(std::move(other.m_version))
    , m_dirs(std::exchange(other.m_dirs, {}))
{
}

Cgroup& Cgroup::operator=(Cgroup&& other) noexcept
{
    if (this != &other) {
        remove();
        m_version = std::move(other.m_version);
        m_dirs = std::exchange(other.m_dirs, {});
    }
    return *this;
}

Cgroup Cgroup::named(const std::string& id)
{
    const Layout& l = layout();
    Cgroup group;
    group.m_version = l.version;
    for (const fs::path& parent : l.parents)
        group.m_dirs.push_back(parent / id);
    return group;
}

Result<void> Cgroup::create(const ResourceLimits& limits)
{
    if (limits.memory_bytes < (64ull << 20) || limits.max_tasks < 16 || limits.cpu_weight < 1 || limits.cpu_weight > 10000)
        return Error(Error::Code::invalid_argument,
            "sandbox limits out of range: memory at least 64 MiB, at least 16 tasks, CPU weight 1 to 10000");
    if (!active())
        return {};
    for (const fs::path& dir : m_dirs) {
        if (::mkdir(dir.c_str(), 0755) != 0)
            return errno_error("cannot create the sandbox's control group " + dir.string());
    }
    const bool cpu = layout().cpu;
    const std::string memory = std::to_string(limits.memory_bytes), tasks = std::to_string(limits.max_tasks);
    if (m_version == "v2") {
        const fs::path& dir = m_dirs[0];
        ROTE_TRY(write_control(dir / "memory.max", memory));
        if (fs::exists(dir / "memory.swap.max"))
            ROTE_TRY(write_control(dir / "memory.swap.max", "0"));
        ROTE_TRY(write_control(dir / "pids.max", tasks));
        if (cpu)
            ROTE_TRY(write_control(dir / "cpu.weight", std::to_string(limits.cpu_weight)));
    } else {
        ROTE_TRY(write_control(m_dirs[0] / "memory.limit_in_bytes", memory));
        if (fs::exists(m_dirs[0] / "memory.memsw.limit_in_bytes"))
            ROTE_TRY(write_control(m_dirs[0] / "memory.memsw.limit_in_bytes", memory));
        ROTE_TRY(write_control(m_dirs[1] / "pids.max", tasks));
        if (cpu) // cpu.shares: 1024 is an ordinary group's, as cpu.weight's 100 is
            ROTE_TRY(write_control(m_dirs[2] / "cpu.shares", std::to_string(std::max(2, limits.cpu_weight * 1024 / 100))));
    }
    return {};
}

std::vector<std::string> Cgroup::join_prefix() const
{
    if (m_dirs.empty())
        return {};
    // Writing 0 to cgroup.procs moves the writer (the shell, which then becomes the command by exec).
    std::string script;
    for (const fs::path& dir : m_dirs)
        script += "echo 0 > " + quoted(dir / "cgroup.procs") + " || exit 125; ";
    script += "exec \"$@\"";
    return {"/bin/sh", "-c", script, "join-cgroup"};
}

std::string Cgroup::reaper_script() const
{
    std::string script;
    for (const fs::path& dir : m_dirs) {
        const std::string d = quoted(dir);
        script += "for i in $(seq 100); do [ -d " + d + " ] || break; [ -e " + d + "/cgroup.kill ] && echo 1 > " + d
            + "/cgroup.kill 2>/dev/null; for p in $(cat " + d + "/cgroup.procs 2>/dev/null); do kill -9 $p 2>/dev/null; done; "
              "rmdir " + d + " 2>/dev/null || sleep 0.05; done; ";
    }
    return script;
}

void Cgroup::remove()
{
    if (m_dirs.empty())
        return;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (const fs::path& dir : m_dirs) {
        while (true) {
            if (fs::exists(dir / "cgroup.kill"))
                (void)write_control(dir / "cgroup.kill", "1");
            std::istringstream procs(read_text(dir / "cgroup.procs"));
            pid_t pid = 0;
            while (procs >> pid)
                ::kill(pid, SIGKILL);
            if (::rmdir(dir.c_str()) == 0 || errno == ENOENT)
                break;
            if (std::chrono::steady_clock::now() > deadline) {
                log().warn("cannot remove the sandbox's control group {}: {}", dir.string(), std::strerror(errno));
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }
    m_dirs.clear();
}

} // namespace rote::runtime::detail
