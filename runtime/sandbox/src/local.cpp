#include <rote/sandbox/sandbox.h>

#include <algorithm>
#include <cstdio>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>
#include <utility>

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rote/base/files.h>
#include <rote/base/log.h>
#include <rote/sandbox/process.h>

#include "cgroup.h"
#include "common.h"

namespace rote::runtime {

namespace fs = std::filesystem;
using namespace detail;
using Clock = std::chrono::steady_clock;

namespace {

spdlog::logger& log()
{
    static auto logger = rote::logger("runtime.sandbox");
    return *logger;
}

// The namespace probe has a uid of its own, past the sandboxes' range.
constexpr uid_t kProbeUid = kSandboxUidBase + kSandboxUids;

// The sizes of a sandbox's memory file systems (docs/security.md): /tmp, the home with Chromium's profile
// and cache, and /run. tmpfs is memory; unbounded, each would be half of the host's.
constexpr const char* kTmpBytes = "536870912"; // 512 MiB
constexpr const char* kHomeBytes = "1073741824"; // 1 GiB
constexpr const char* kRunBytes = "67108864"; // 64 MiB
// The sandbox's directory on the host (its VNC socket and logs, /run/rote inside), which the sandbox can write:
// as root, a memory file system of this size of its own, so a page cannot fill the host's disk through it.
constexpr const char* kDirBytes = "67108864"; // 64 MiB

} // namespace

namespace {

// The start of every bwrap command line: when rote runs as root, setpriv drops to the sandbox's own uid
// first (root on the host stays outside: even an escape from every namespace lands without privilege, as a
// uid nothing else has); then bwrap with the sandbox's namespaces and user. The probe runs exactly this, so
// it tests what a launch needs.
std::vector<std::string> bwrap_prefix(uid_t host_uid)
{
    std::vector<std::string> argv;
    if (::geteuid() == 0)
        argv = {"setpriv", "--reuid=" + std::to_string(host_uid), "--regid=" + std::to_string(host_uid),
            "--clear-groups", "--inh-caps=-all"};
    argv.insert(argv.end(),
        {"bwrap", "--unshare-user", "--uid", "1000", "--gid", "1000", "--unshare-pid", "--unshare-ipc",
            "--unshare-uts", "--unshare-net", "--unshare-cgroup-try", "--die-with-parent"});
    return argv;
}

// What runs inside the namespaces, as pid 1's child: Xvnc on the bind-mounted directory, then the
// window manager, the proxy forwarder and Chromium. It lives as long as Xvnc does: a sandbox whose display
// died is over (its namespace, and everything in it, ends with this script). With `sealed`, nothing but Xvnc
// starts before rote has sealed the VNC socket's directory (LocalSandbox::seal_vnc).
std::string init_script(const SandboxOptions& options, bool network, bool sealed)
{
    std::string size = std::to_string(options.width) + "x" + std::to_string(options.height);
    // No GLX: Chromium draws without the GPU, and Mesa's software renderer cost Xvnc 50 MiB.
    std::string script = "Xvnc :0 -geometry " + size
        + " -depth 24 -rfbunixpath /run/rote/vnc/vnc.sock -rfbunixmode 0600 -rfbport -1 -SecurityTypes None"
          " -nolisten tcp -extension GLX -AlwaysShared -DisconnectClients=0 -AcceptSetDesktopSize=0 "
          ">/run/rote/xvnc.log 2>&1 3>&- 4>&- &\n"
          "xvnc=$!\n"
          "for i in $(seq 500); do [ -S /tmp/.X11-unix/X0 ] && break; sleep 0.01; done\n";
    if (sealed)
        script += "for i in $(seq 1000); do [ -w /run/rote/vnc ] || break; sleep 0.005; done\n";
    script += "export DISPLAY=:0\n"
          "matchbox-window-manager -use_titlebar no -use_cursor yes >/run/rote/wm.log 2>&1 3>&- 4>&- &\n";
    if (network) {
        // A browser opens many connections at once; socat's default backlog (5) dropped a fifth of 200.
        script += "socat TCP-LISTEN:3128,bind=127.0.0.1,fork,reuseaddr,backlog=1024 UNIX-CONNECT:/run/rote/proxy.sock "
                  ">/run/rote/forward.log 2>&1 3>&- 4>&- &\n";
    }
    // Descriptors 3 and 4 are rote's DevTools socket (SandboxOptions, take_devtools_socket): Chromium's alone.
    // Chromium's own sandbox works here (the namespaces are unprivileged), so no --no-sandbox and no
    // warning bar.
    // Chromium's own binary, not Debian's wrapper script (which adds flags for extensions and exports API
    // keys of no use offline).
    auto scale_text = [](double scale) {
        char text[16];
        std::snprintf(text, sizeof text, "%.2f", scale);
        return std::string(text);
    };
    script += "/usr/lib/chromium/chromium --user-data-dir=$HOME/chromium " + chromium_flags()
        + " --remote-debugging-pipe --proxy-server=http://127.0.0.1:3128 --proxy-bypass-list='<-loopback>;" + kNowhereHost
        + "'"
              " --window-position=0,0 --window-size="
        + std::to_string(options.width) + "," + std::to_string(options.height) + " --start-maximized "
        + (options.scale != 1.0 ? "--force-device-scale-factor=" + scale_text(options.scale) + " " : "")
        + (options.trusted_spki.empty() ? "" : "--ignore-certificate-errors-spki-list='" + options.trusted_spki + "' ")
        + (options.window == BrowserWindow::app ? "--app=\"$1\"" : "\"$1\"") + " >/run/rote/chromium.log 2>&1 &\n";
    script += "wait $xvnc\n";
    return script;
}

} // namespace

namespace {

class LocalSandbox final : public DirectorySandbox {
public:
    LocalSandbox(std::string id, fs::path dir, SandboxUid uid)
        : DirectorySandbox(std::move(id), std::move(dir))
        , m_uid(std::move(uid))
        , m_cgroup(Cgroup::named(m_id))
    {
        m_vnc.unix_path = (vnc_dir() / "vnc.sock").string(); // see seal_vnc
    }
    ~LocalSandbox() override
    {
        (void)destroy();
        if (m_devtools >= 0)
            ::close(m_devtools);
        // m_uid's slot is free again once its processes are gone (destroy waited for them)
    }

    std::string_view provider() const override { return "local"; }
    std::vector<pid_t> pids() const override { return m_bwrap > 0 ? process_tree(m_bwrap) : std::vector<pid_t> {}; }

    int take_devtools_socket() override { return std::exchange(m_devtools, -1); }

    bool alive() override
    {
        if (m_bwrap <= 0 || m_exited)
            return false;
        if (reaped(m_bwrap)) {
            m_exited = true;
            return false;
        }
        if (const ProcessInfo now = process_info(m_display.pid);
            m_display.pid > 0 && (!now.running || now.start != m_display.start)) {
            end_without_display();
            return false;
        }
        return true;
    }

    // What the sandbox holds on the host, in an order a SIGKILL at any point cannot leak: the reaper first
    // (it is told every path and group before any exists, and cleans whatever of them it finds), then the
    // directory (as root: a bounded file system of its own, owned by the sandbox's uid) and the control group.
    Result<void> prepare(const SandboxOptions& options)
    {
        m_cleanup = {m_dir.parent_path() / (m_id + ".chromium-policy.json"), vnc_dir()};
        m_cleanup.insert(m_cleanup.end(), options.cleanup_paths.begin(), options.cleanup_paths.end());
        std::vector<fs::path> owned = {m_dir};
        owned.insert(owned.end(), m_cleanup.begin(), m_cleanup.end());
        const bool root = m_uid.uid() != 0;
        const std::string unmount = root ? "umount -l \"" + m_dir.string() + "\" 2>/dev/null; " : "";
        m_reaper = ROTE_TRY(spawn_reaper(owned, m_uid.uid(), m_cgroup.reaper_script() + unmount));
        ROTE_TRY(create_sandbox_dir(m_dir));
        if (root) {
            if (::chown(m_dir.c_str(), m_uid.uid(), m_uid.uid()) != 0)
                return errno_error("cannot hand " + m_dir.string() + " to the sandbox's uid " + std::to_string(m_uid.uid()));
            const std::string data = "size=" + std::string(kDirBytes) + ",mode=0700,uid=" + std::to_string(m_uid.uid())
                + ",gid=" + std::to_string(m_uid.uid());
            if (::mount("rote-sandbox", m_dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, data.c_str()) != 0)
                return errno_error("cannot mount a bounded file system on " + m_dir.string());
            m_bounded = true;
        }
        // Where Xvnc makes its socket: the sandbox's until the socket exists, then sealed (seal_vnc).
        const fs::path vnc = vnc_dir();
        if (::mkdir(vnc.c_str(), 0700) != 0 || (root && ::chown(vnc.c_str(), m_uid.uid(), m_uid.uid()) != 0))
            return errno_error("cannot make " + vnc.string());
        return m_cgroup.create(options.limits);
    }

    Result<void> launch(const SandboxOptions& options)
    {
        fs::path log_path = m_dir / "sandbox.log";
        bool network = !options.proxy_socket.empty();
        // In its control group before bwrap runs: everything in the sandbox is limited from its first fork.
        std::vector<std::string> argv = m_cgroup.join_prefix();
        const std::vector<std::string> prefix = bwrap_prefix(m_uid.uid());
        argv.insert(argv.end(), prefix.begin(), prefix.end());
        std::vector<std::string> bwrap = {
            "--hostname",
            "sandbox",
            "--new-session",
            "--ro-bind",
            "/usr",
            "/usr",
            "--symlink",
            "usr/bin",
            "/bin",
            "--symlink",
            "usr/sbin",
            "/sbin",
            "--symlink",
            "usr/lib",
            "/lib",
            "--symlink",
            "usr/lib64",
            "/lib64",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            // Bounded: a page (or a process in the sandbox) filling them cannot take the host's memory.
            "--size",
            kTmpBytes,
            "--tmpfs",
            "/tmp",
            "--size",
            kHomeBytes,
            "--tmpfs",
            "/home/agent",
            "--size",
            kRunBytes,
            "--tmpfs",
            "/run",
            "--bind",
            m_dir.string(),
            "/run/rote",
            "--bind",
            vnc_dir().string(),
            "/run/rote/vnc",
            // The sandbox's environment is this list and nothing of the host's (bwrap's own is minimal too).
            "--clearenv",
            "--setenv",
            "PATH",
            "/usr/bin:/bin",
            "--setenv",
            "HOME",
            "/home/agent",
            "--setenv",
            "USER",
            "agent",
            "--setenv",
            "LANG",
            "C.UTF-8",
        };
        // Only the parts of /etc that programs need to start and draw text: not passwd, shadow, ssh keys,
        // or anything of the host's configuration beyond fonts and the linker. The system's font cache
        // too: without it every Chromium start rescans every font.
        for (const char* etc : {"/etc/fonts", "/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf",
                 "/etc/ld.so.conf.d", "/etc/X11", "/etc/ssl",
                 "/etc/ca-certificates", "/etc/localtime", "/etc/mime.types", "/var/cache/fontconfig"}) {
            bwrap.insert(bwrap.end(), {"--ro-bind-try", etc, etc});
        }
        // rote's own Chromium policy, and none of the host's Chromium configuration (its policies and
        // preferences are the host's; rote starts Chromium's binary, so the wrapper's chromium.d is unused).
        // From a file beside, not in, the sandbox's directory, which the sandbox can write.
        const fs::path policy = m_dir.parent_path() / (m_id + ".chromium-policy.json"); // the reaper knows it
        ROTE_TRY(write_file_atomically(policy, chromium_policy(), 0644));
        bwrap.insert(bwrap.end(), {"--ro-bind", policy.string(), "/etc/chromium/policies/managed/rote.json"});
        if (network)
            bwrap.insert(bwrap.end(), {"--bind", options.proxy_socket.string(), "/run/rote/proxy.sock"});
        bwrap.insert(bwrap.end(), {"--", "/bin/sh", "-c", init_script(options, network, m_uid.uid() != 0), "sh", options.start_url});
        argv.insert(argv.end(), bwrap.begin(), bwrap.end());
        // The browser's DevTools end becomes its descriptors 3 and 4 (read and write: one socket serves both);
        // ours stays here. Both above 4, so that spawn's copies overwrite neither.
        int pair[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
            return errno_error("cannot make the browser's DevTools socket");
        const int ours = ::fcntl(pair[0], F_DUPFD_CLOEXEC, 10), theirs = ::fcntl(pair[1], F_DUPFD_CLOEXEC, 10);
        ::close(pair[0]);
        ::close(pair[1]);
        if (ours < 0 || theirs < 0) {
            if (ours >= 0)
                ::close(ours);
            if (theirs >= 0)
                ::close(theirs);
            return errno_error("cannot place the browser's DevTools socket");
        }
        m_devtools = ours;

        auto spawned = spawn(argv, log_path, {theirs, theirs});
        ::close(theirs);
        m_bwrap = ROTE_TRY(std::move(spawned));

        const auto deadline = Clock::now() + options.start_timeout;
        while (!accepts_connections(m_vnc.unix_path)) {
            if (!alive()) {
                return Error(Error::Code::io,
                    "sandbox " + m_id + " exited while starting; its log:\n" + tail_of(log_path)
                        + tail_of(m_dir / "xvnc.log"));
            }
            if (Clock::now() > deadline) {
                return Error(Error::Code::timeout,
                    "sandbox " + m_id + " had no VNC server after " + std::to_string(options.start_timeout.count())
                        + " ms; Xvnc's log:\n" + tail_of(m_dir / "xvnc.log"));
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        if (m_uid.uid() != 0) // as a user, the sandbox is that user: nothing to seal it from
            ROTE_TRY(seal_vnc());
        // Its Xvnc: the one the start script started. Xvnc forks to run xkbcomp, and the child is named Xvnc
        // until it execs: taken for the display, its quick end read as the display's death.
        for (pid_t p : pids()) {
            const ProcessInfo info = process_info(p);
            if (info.name == "Xvnc" && info.running && process_info(info.parent).name != "Xvnc")
                m_display = info;
        }
        log().info("sandbox {} started (pid {}, {})", m_id, m_bwrap, m_vnc.to_string());
        return {};
    }

    // The sandbox can write its directory; the VNC socket rote's client connects to must be a path it
    // cannot swap. Its directory is beside the sandbox's, in the runtime root (which only rote writes), and
    // bound into the sandbox at /run/rote/vnc. Xvnc (the only process running yet: the init script starts
    // nothing else until this is done) makes its socket there, and the directory then becomes root's, 0700:
    // the sandbox's uid can no longer enter it or change what is in it, and cannot rename or remove it
    // (its parent is not the sandbox's; inside, it is a mount point). Root's client keeps connecting to
    // that very socket.
    fs::path vnc_dir() const { return m_dir.parent_path() / (m_id + ".vnc"); }

    Result<void> seal_vnc()
    {
        const fs::path vnc = vnc_dir();
        const int fd = ::open(vnc.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        const bool sealed = fd >= 0 && ::fchown(fd, 0, 0) == 0 && ::fchmod(fd, 0700) == 0;
        const int saved = errno;
        if (fd >= 0)
            ::close(fd);
        errno = saved;
        if (!sealed)
            return errno_error("cannot seal " + vnc.string());
        return {};
    }

    Result<void> destroy() override
    {
        if (m_destroyed)
            return {};
        m_destroyed = true;
        std::vector<pid_t> tree = pids();
        if (m_bwrap > 0 && !m_exited) {
            ::kill(m_bwrap, SIGKILL); // its child, the namespace's init, dies with it and takes the namespace along
            ::waitpid(m_bwrap, nullptr, 0);
        }
        for (pid_t p : tree) {
            if (p != m_bwrap)
                ::kill(p, SIGKILL); // belt and braces: they are in a namespace whose init is gone
        }
        const auto deadline = Clock::now() + std::chrono::seconds(5);
        bool all_gone = false;
        while (!all_gone && Clock::now() < deadline) {
            all_gone = std::all_of(tree.begin(), tree.end(), gone);
            if (!all_gone)
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        m_cgroup.remove(); // whatever escaped the tree (a daemonised process) goes with the group
        if (m_bounded)
            ::umount2(m_dir.c_str(), MNT_DETACH);
        finish_reaper(m_reaper);
        std::error_code ec = remove_files();
        if (!all_gone)
            return Error(Error::Code::timeout, "sandbox " + m_id + " left processes behind after 5 s");
        if (ec)
            return Error(Error::Code::io, "cannot remove " + m_dir.string() + ": " + ec.message());
        log().info("sandbox {} destroyed", m_id);
        return {};
    }

    // A sandbox whose display died is over. Its init script ends with Xvnc, and the kernel then takes the
    // namespace down; but that script is a shell in a sandbox that may be starved of CPU or memory (CI once
    // saw it still running 30 s after Xvnc died), so rote ends it as soon as it sees the display gone.
    void end_without_display()
    {
        log().warn("sandbox {}: its display (Xvnc, pid {}) died; ending the sandbox", m_id, m_display.pid);
        const std::vector<pid_t> tree = pids();
        ::kill(m_bwrap, SIGKILL); // the namespace's init dies with it and takes the namespace along
        ::waitpid(m_bwrap, nullptr, 0);
        for (pid_t p : tree) {
            if (p != m_bwrap)
                ::kill(p, SIGKILL);
        }
        m_exited = true;
    }

    std::vector<std::pair<std::string, std::string>> details() const override
    {
        if (!m_cgroup.active())
            return {{"limits", "none (no control groups here)"}};
        return {{"limits", "cgroup " + m_cgroup.version()}, {"cgroup", m_cgroup.dirs().front().string()}};
    }

private:
    SandboxUid m_uid; // its host uid, when rote runs as root (declared first: freed last)
    Cgroup m_cgroup; // its resource limits; empty where the host has no control groups for rote
    bool m_bounded = false; // its directory is a bounded memory file system of its own (as root)
    pid_t m_bwrap = -1;
    pid_t m_reaper = -1;
    int m_devtools = -1; // ours, until take_devtools_socket()
    ProcessInfo m_display; // its Xvnc, once started
    bool m_exited = false;
    bool m_destroyed = false;
};

} // namespace

namespace {

std::string first_line_of(const std::string& text)
{
    std::string line = text.substr(0, text.find('\n'));
    while (!line.empty() && (line.back() == '\r' || line.back() == ' '))
        line.pop_back();
    return line;
}

std::string read_proc_value(const char* path)
{
    std::ifstream in(path);
    std::string value;
    in >> value;
    return value;
}

// True when this process is chrooted below its mount namespace's root: then no mount of ours has "/" as its
// mount point (/proc/self/mountinfo lists mount points relative to our root). /proc/1/root, which chroot
// checks usually compare with "/", is often unreadable (a VM's or container's init refuses ptrace access).
// A chroot onto a mount point of its own is not seen.
bool chrooted()
{
    std::ifstream mounts("/proc/self/mountinfo");
    std::string line;
    bool any = false;
    while (std::getline(mounts, line)) {
        any = true;
        // "id parent major:minor root mount-point ...": the fifth field.
        std::istringstream fields(line);
        std::string field;
        for (int i = 0; i < 5 && fields >> field; ++i) {
        }
        if (field == "/")
            return false;
    }
    return any;
}

// Why the kernel would refuse bwrap its namespaces, from what this host shows; empty when nothing shows it.
std::string namespace_obstacle()
{
    if (chrooted())
        return "rote runs in a chroot, where the kernel refuses new user namespaces; run it in a container or VM "
               "with a root of its own (systemd-nspawn, Docker, a Kubernetes pod), or use --provider qemu";
    if (read_proc_value("/proc/sys/user/max_user_namespaces") == "0")
        return "user namespaces are turned off (user.max_user_namespaces = 0); allow them with "
               "`sysctl user.max_user_namespaces=15000`, or use --provider qemu";
    if (read_proc_value("/proc/sys/kernel/unprivileged_userns_clone") == "0")
        return "unprivileged user namespaces are turned off (kernel.unprivileged_userns_clone = 0); allow them "
               "with `sysctl kernel.unprivileged_userns_clone=1`, or use --provider qemu";
    return {};
}

Result<void> probe_local_sandbox()
{
    if (::access("/usr/bin/bwrap", X_OK) != 0)
        return Error(Error::Code::unsupported,
            "the local sandbox needs bubblewrap, which is not installed (apt-get install bubblewrap), or use "
            "--provider qemu");
    // The same namespaces, as the same user, as a real sandbox; the smallest file system that runs a program.
    std::vector<std::string> argv = bwrap_prefix(kProbeUid);
    argv.insert(argv.end(),
        {"--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib", "--symlink",
            "usr/lib64", "/lib64", "--proc", "/proc", "--dev", "/dev", "--chdir", "/", "--", "/bin/true"});
    char path[] = "/tmp/rote-bwrap-probe-XXXXXX";
    const int fd = ::mkstemp(path);
    if (fd < 0)
        return errno_error("cannot make a file for the bubblewrap probe's output");
    ::close(fd);
    auto output = [&] {
        std::ifstream in(path);
        std::stringstream text;
        text << in.rdbuf();
        ::unlink(path);
        return text.str();
    };
    auto child = spawn(argv, path);
    if (!child.ok()) {
        output();
        return child.error().with_context("probing bubblewrap");
    }
    int status = 0;
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (::waitpid(*child, &status, WNOHANG) == 0) {
        if (Clock::now() > deadline) {
            ::kill(*child, SIGKILL);
            ::waitpid(*child, &status, 0);
            output();
            return Error(Error::Code::timeout, "bubblewrap did not start a program within 10 s");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    const std::string said = first_line_of(output());
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return {};
    std::string why = namespace_obstacle();
    if (why.empty())
        why = "this host or container forbids unprivileged user namespaces (a chroot, or a seccomp profile or "
              "security policy that refuses clone with CLONE_NEWUSER); allow them, or use --provider qemu";
    return Error(Error::Code::unsupported,
        "the local sandbox cannot start here: bubblewrap cannot make its namespaces (" + (said.empty() ? "exit status "
            + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)) : "\"" + said + "\"")
            + "): " + why);
}

} // namespace

Result<void> check_local_sandbox()
{
    static const Result<void> answer = probe_local_sandbox();
    return answer;
}

Result<std::unique_ptr<Sandbox>> start_local_sandbox(const SandboxOptions& options)
{
    ROTE_TRY(check_local_sandbox());
    if (options.width < 320 || options.height < 240 || options.width > 7680 || options.height > 4320)
        return Error(Error::Code::invalid_argument, "sandbox screen size must be between 320x240 and 7680x4320");
    if (!(options.scale >= 0.5 && options.scale <= 3))
        return Error(Error::Code::invalid_argument, "the browser's scale must be from 0.5 to 3");
    SandboxUid uid;
    if (::geteuid() == 0)
        uid = ROTE_TRY(SandboxUid::claim());
    auto [id, dir] = ROTE_TRY(sandbox_place(options));
    become_subreaper();
    auto sandbox = std::make_unique<LocalSandbox>(id, dir, std::move(uid));
    ROTE_TRY(sandbox->prepare(options)); // on failure, its destructor undoes what was made
    ROTE_TRY(sandbox->launch(options));
    return std::unique_ptr<Sandbox>(std::move(sandbox));
}

} // namespace rote::runtime
