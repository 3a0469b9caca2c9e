#pragma once

// A computer of the agent's own (design.md, "Sandboxes"): an isolated desktop with a browser, reached
// only over VNC. Everything above this interface speaks VNC, so providers (local, qemu) are swappable.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include <rote/base/result.h>
#include <rote/desktop/desktop.h>

namespace rote::runtime {

enum class BrowserWindow {
    normal, // tabs and an address bar, as a person's browser
    app, // the page alone (Chromium's --app): no address bar to type URLs into, 45 MiB less
};

// What one sandbox may take of the host (cgroups; docs/security.md, "resources"). The memory counts every
// page the sandbox's processes hold, its memory file systems (/tmp, home, /run) included; past it the kernel's
// OOM killer ends a process inside the sandbox, never one outside. The tasks are processes and threads (a
// sandbox's Chromium runs about 150). The CPU weight is the share under contention (cgroup v2's cpu.weight,
// 100 = an ordinary process group's; v1's cpu.shares is scaled from it).
struct ResourceLimits {
    std::uint64_t memory_bytes = 2ull << 30; // 2 GiB (the local provider; the qemu provider has no limits yet)
    int max_tasks = 1024;
    int cpu_weight = 100;
};

struct SandboxOptions {
    std::string start_url = "about:blank";
    int width = 1280;
    int height = 800;
    // The browser's device scale factor: 1.25 draws every CSS pixel as 1.25 screen pixels (a laptop set to
    // 125%). local only; the qemu provider refuses anything but 1 (its ready states are made at 1).
    double scale = 1.0;
    // The egress proxy's unix socket on the host (EgressProxy::socket_path). Inside the sandbox it is
    // reached at 127.0.0.1:3128, where the browser is pointed. Empty: the sandbox has no network at all.
    std::filesystem::path proxy_socket;
    // local only: the base64 SHA-256 of a certificate authority's key the browser trusts beside the system's
    // (the sandbox's own, EgressProxyOptions::intercept), for this sandbox alone. Empty: none.
    std::string trusted_spki;
    // Where the sandbox's own directory (its VNC socket and logs) is made; empty: runtime_root().
    std::filesystem::path runtime_root;
    std::chrono::milliseconds start_timeout {20000};
    BrowserWindow window = BrowserWindow::normal;
    // More host paths that belong to this sandbox and go with it (removed by destroy() and by the reaper).
    std::vector<std::filesystem::path> cleanup_paths;
    // qemu only: the guest image's directory (empty: default_image_dir()), and the name of a kept sandbox
    // (empty: an ephemeral one, its disk thrown away by destroy()).
    std::filesystem::path image;
    std::string keep;
    // qemu only: told what a long start is doing (making a ready snapshot the first time), one line a step.
    std::function<void(const std::string&)> progress;
    ResourceLimits limits;
};

// A running sandbox. Destroying it (destroy() or the destructor) kills every process in it and removes its
// directory; if the owning process dies instead, the kernel kills the processes (die-with-parent) and a
// small reaper removes the directory. Non-copyable; methods are not thread-safe.
class Sandbox {
public:
    virtual ~Sandbox() = default;
    Sandbox() = default;
    Sandbox(const Sandbox&) = delete;
    Sandbox& operator=(const Sandbox&) = delete;

    virtual std::string_view provider() const = 0;
    virtual const std::string& id() const = 0;
    virtual const VncEndpoint& vnc() const = 0;
    // The sandbox's directory on the host (VNC socket, logs).
    virtual const std::filesystem::path& directory() const = 0;
    // Host pids of every process in the sandbox, the outermost first.
    virtual std::vector<pid_t> pids() const = 0;
    // False once the sandbox's processes have exited (crashed or killed from outside).
    virtual bool alive() = 0;
    // Kills everything and removes the directory; waits until no process is left. Idempotent.
    virtual Result<void> destroy() = 0;
    // How much slower than the local sandbox this desktop answers (a click's screen change, a page load):
    // the agent scales its waits by it. 1 for the local sandbox; about 10 for a VM under TCG.
    virtual double time_scale() const { return 1.0; }
    // The browser's DevTools protocol (JSON messages ended by NUL, as Chromium's --remote-debugging-pipe
    // speaks it): one end of a socket pair whose other end is the sandbox browser's descriptors 3 and 4, never
    // a port a page or another process could reach. The caller takes ownership (the first call; later calls
    // and providers without it return -1).
    virtual int take_devtools_socket() { return -1; }
    // What the provider chose, for people and --json (e.g. {"accelerator": "tcg", ...}); empty if nothing.
    virtual std::vector<std::pair<std::string, std::string>> details() const { return {}; }
};

// How to drive a provider's desktop: a VM's emulated keyboard holds only a few keys (QEMU's PS/2 queue), so
// keys typed back to back into a busy guest are lost; its desktops type with a pause between key events.
DesktopOptions desktop_options_for(std::string_view provider);

// Chromium's flags in every sandbox, local and guest: no connections of its own, few processes.
std::string chromium_flags();
// Where chromium_flags() sends the services that call out on their own (the component updater, the Google
// account check, the messaging check-in): a name that never resolves, which every launcher puts on
// Chromium's --proxy-bypass-list (the guest's session script spells it out too).
inline constexpr const char* kNowhereHost = "rote-nowhere.invalid";

// Chromium's enterprise policy in every sandbox (JSON, /etc/chromium/policies/managed/): what the flags
// cannot turn off for good (the network time queries, the component updater, Safe Browsing, metrics), and
// the bubbles that would cover a page (save password, translate, notifications, autofill).
std::string chromium_policy();

// The local provider: bubblewrap (new user, pid, ipc, uts and net namespaces; read-only system directories;
// a tmpfs home; no host files) running TigerVNC's Xvnc on a unix socket, a window manager and Chromium
// with a fresh profile on the start URL. When rote runs as root the sandbox runs as a host uid of its own (from 2100000000), shared with no other sandbox and no account.
// Calls check_local_sandbox() first.
Result<std::unique_ptr<Sandbox>> start_local_sandbox(const SandboxOptions& options);

// When rote runs as root, every local sandbox runs as a host uid of its own from this range, far above any
// login user's and the subordinate ranges Debian hands out (from 100000, 65536 each): a sandbox cannot
// signal, trace or read the /proc of another sandbox's processes, nor reach its VNC socket, and no host
// account (nobody included) shares its uid. Slot N (uid kSandboxUidBase + N) is held by an flock on the file
// N in kSandboxUidLocks for the sandbox's life: a process of a sandbox uid whose lock is free is a leak.
inline constexpr uid_t kSandboxUidBase = 2100000000;
inline constexpr int kSandboxUids = 4096;
inline constexpr const char* kSandboxUidLocks = "/run/rote-sandbox-uids";

// Whether this host can run the local provider: bubblewrap is installed and may make the namespaces a sandbox
// needs. Probed once per process (about 10 ms) and the answer kept. Error::Code::unsupported says in one line
// what the host lacks (a chroot, user namespaces turned off, a container's seccomp profile) and what to do;
// commands that start many sandboxes call it first, so they say it once rather than once a run.
Result<void> check_local_sandbox();

// The default parent of sandbox directories and proxy sockets: $ROTE_RUNTIME_DIR, else
// $XDG_RUNTIME_DIR/rote, else /tmp/rote-UID. Created 0711 and checked to be ours (not a planted symlink).
Result<std::filesystem::path> runtime_root();

// A process as /proc/PID/stat tells it: its name, its parent, when it started (clock ticks after boot: a
// pid reused by another process has another start), and whether it still runs (exists, not a zombie).
struct ProcessInfo {
    pid_t pid = 0;
    std::string name;
    pid_t parent = 0;
    unsigned long long start = 0;
    bool running = false;
};
ProcessInfo process_info(pid_t pid);
// Every process below `root` (and `root` itself, if it exists), from /proc's parent links.
std::vector<pid_t> process_tree(pid_t root);
// True while `pid` runs (exists and is not a zombie).
bool process_running(pid_t pid);

// Proportional set size of the given processes, in bytes (their shared pages counted once overall).
std::uint64_t pss_bytes(const std::vector<pid_t>& pids);

} // namespace rote::runtime
