#include <rote/sandbox/qemu.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <regex>
#include <thread>

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <rote/base/base64.h>
#include <rote/base/log.h>
#include <rote/desktop/desktop.h>
#include <rote/sandbox/process.h>

#include "cgroup.h"
#include "common.h"
#include "qemu_control.h"

namespace rote::runtime {

namespace fs = std::filesystem;
using namespace detail;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

spdlog::logger& log()
{
    static auto logger = rote::logger("runtime.qemu");
    return *logger;
}

constexpr int kMemoryMiB = 1024;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

std::string one_decimal(double value)
{
    char text[32];
    std::snprintf(text, sizeof text, "%.1f", value);
    return text;
}

// A file descriptor that closes itself (a lock, a state file).
class Fd {
public:
    Fd() = default;
    explicit Fd(int fd)
        : m_fd(fd)
    {
    }
    Fd(Fd&& other) noexcept
        : m_fd(std::exchange(other.m_fd, -1))
    {
    }
    Fd& operator=(Fd&& other) noexcept
    {
        reset();
        m_fd = std::exchange(other.m_fd, -1);
        return *this;
    }
    ~Fd() { reset(); }
    void reset()
    {
        if (m_fd >= 0)
            ::close(m_fd);
        m_fd = -1;
    }
    int get() const { return m_fd; }

private:
    int m_fd = -1;
};

// flock on `path` (created if missing); Error::Code::conflict when `wait` is false and someone holds it.
Result<Fd> lock_file(const fs::path& path, int operation, bool wait)
{
    Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (fd.get() < 0)
        return errno_error("cannot open " + path.string());
    if (::flock(fd.get(), operation | (wait ? 0 : LOCK_NB)) != 0) {
        if (errno == EWOULDBLOCK)
            return Error(Error::Code::conflict, path.string() + " is locked");
        return errno_error("cannot lock " + path.string());
    }
    return fd;
}

Result<void> run_tool(const std::vector<std::string>& argv, const fs::path& log_path)
{
    pid_t pid = ROTE_TRY(spawn(argv, log_path));
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return Error(Error::Code::io, argv[0] + " failed:\n" + tail_of(log_path, 800));
    return {};
}

std::string window_name(BrowserWindow window) { return window == BrowserWindow::app ? "app" : "normal"; }

std::string ready_key(Accelerator accelerator, int width, int height, BrowserWindow window)
{
    return std::string(to_string(accelerator)) + "-" + std::to_string(width) + "x" + std::to_string(height) + "-"
        + window_name(window);
}

// What one launch of the guest needs.
struct Machine {
    fs::path image;
    Accelerator accelerator = Accelerator::tcg;
    int width = 1280;
    int height = 800;
    BrowserWindow window = BrowserWindow::app;
    fs::path disk; // the qcow2 the guest writes to
    fs::path dir; // sockets and logs
    fs::path proxy_socket; // the egress proxy; empty: the guest's connections to it fail at once
    bool incoming = false; // wait for a saved state (migrate-incoming) instead of booting
    uid_t runas = 0; // as root: the sandbox's (or the boot's) own uid QEMU drops to; 0: nobody
    std::vector<std::string> prefix; // put before QEMU's command line (joining the sandbox's control group)
};

std::vector<std::string> qemu_argv(const Machine& m)
{
    // The proxy's socket is handed to a socat that QEMU starts for each connection the guest opens to
    // 10.0.2.100:3128 (guestfwd's cmd: form; its chardev form takes one connection only). restrict=on: the
    // guest reaches nothing else, not the host, not the internet.
    fs::path proxy = m.proxy_socket.empty() ? m.dir / "no-proxy.sock" : m.proxy_socket;
    std::string append = "root=/dev/vda rw quiet loglevel=3 console=ttyS0 net.ifnames=0 mitigations=off"
                         " init=/usr/local/sbin/rote-init rote.window="
        + window_name(m.window);
    std::vector<std::string> argv = {"qemu-system-x86_64", "-name", "rote-sandbox", "-nodefaults", "-no-user-config",
        "-machine", "q35", "-accel", std::string(to_string(m.accelerator)), "-cpu",
        m.accelerator == Accelerator::kvm ? "host" : "max", "-smp", "2", "-m", std::to_string(kMemoryMiB),
        "-display", "none", "-device",
        "VGA,edid=on,xres=" + std::to_string(m.width) + ",yres=" + std::to_string(m.height), "-device", "qemu-xhci",
        "-device", "usb-tablet", "-kernel", (m.image / "vmlinuz").string(), "-initrd",
        (m.image / "initrd.img").string(), "-append", append, "-drive",
        "file=/dev/fdset/1,if=virtio,format=qcow2,cache=unsafe,discard=unmap", "-netdev",
        "user,id=net0,restrict=on,guestfwd=tcp:10.0.2.100:3128-cmd:socat - UNIX-CONNECT:" + proxy.string(),
        "-device", "virtio-net-pci,netdev=net0", "-device", "virtio-serial-pci", "-chardev",
        "socket,id=agent,path=" + (m.dir / "agent.sock").string() + ",server=on,wait=off", "-device",
        "virtserialport,chardev=agent,name=org.rote.agent", "-device", "virtio-rng-pci", "-device", "vmgenid",
        "-vnc", "unix:" + (m.dir / "vnc.sock").string(), "-qmp",
        "unix:" + (m.dir / "qmp.sock").string() + ",server=on,wait=off", "-serial",
        "file:" + (m.dir / "console.log").string(),
        // Seccomp: no obsolete system calls, no resource control; QEMU spawns socat, so spawning stays.
        "-sandbox", "on,obsolete=deny,resourcecontrol=deny"};
    // The writable disk comes as descriptors (3: read-write, 4: read-only), not a path: QEMU reopens it when
    // an incoming state is loaded, after -runas has dropped root, and the path may not be nobody's to open.
    // Its backing files (read-only, opened at start) are named inside it by absolute path.
    argv.insert(argv.end(), {"-add-fd", "fd=3,set=1", "-add-fd", "fd=4,set=1"});
    // Its pid, for a reaper started before it: written before QEMU drops root, into the root-only directory.
    argv.insert(argv.end(), {"-pidfile", (m.dir / "qemu.pid").string()});
    if (::geteuid() == 0) // after opening its files, the VM drops root: to the sandbox's uid, else nobody
        argv.insert(argv.end(), {"-runas", m.runas != 0 ? std::to_string(m.runas) + ":" + std::to_string(m.runas) : "nobody"});
    if (m.incoming)
        argv.insert(argv.end(), {"-incoming", "defer"});
    return argv;
}

// A reaper (spawn_reaper) for a QEMU about to be launched in owned[0] (a sandbox's or a boot's directory),
// where it will write its pid: when rote dies first, the reaper kills that pid if it is still a QEMU, then
// does `also` and, with `uid`, kills every process of that uid, and removes `owned`.
Result<pid_t> spawn_qemu_reaper(const std::vector<fs::path>& owned, uid_t uid, const std::string& also)
{
    const std::string by_pidfile = "p=$(cat \"$1/qemu.pid\" 2>/dev/null) && [ \"$(cat /proc/$p/comm 2>/dev/null)\" = "
                                   "qemu-system-x86 ] && kill -9 \"$p\" 2>/dev/null; ";
    return spawn_reaper(owned, uid, by_pidfile + also);
}

// What a boot of the image's own (a ready state, a measurement) runs as, as a sandbox does: as root, a uid of
// its own (QEMU drops to it) and a control group with a sandbox's default limits (QEMU joins it before it
// executes); and a reaper told both, for a rote that dies first. Everything ends with it.
class BootReaper {
public:
    static Result<BootReaper> start(const fs::path& dir)
    {
        BootReaper boot;
        boot.m_dir = dir;
        if (::geteuid() == 0)
            boot.m_uid = ROTE_TRY(SandboxUid::claim());
        boot.m_cgroup = Cgroup::named(random_sandbox_id());
        boot.m_pid = ROTE_TRY(spawn_qemu_reaper({dir}, boot.m_uid.uid(), boot.m_cgroup.reaper_script()));
        ResourceLimits limits; // QEMU's own memory is the guest's RAM and its needs beside (as a sandbox's)
        limits.memory_bytes += static_cast<std::uint64_t>(kMemoryMiB) << 20;
        ROTE_TRY(boot.m_cgroup.create(limits));
        return boot;
    }
    BootReaper(BootReaper&& other) noexcept
        : m_dir(std::move(other.m_dir))
        , m_uid(std::move(other.m_uid))
        , m_cgroup(std::move(other.m_cgroup))
        , m_pid(std::exchange(other.m_pid, -1))
    {
    }
    BootReaper& operator=(BootReaper&&) = delete;
    // After the QEMU is gone: its pid is nobody's to kill any more.
    ~BootReaper()
    {
        if (m_pid <= 0)
            return; // moved from (or never started: the group and the uid go by their own destructors)
        ::unlink((m_dir / "qemu.pid").c_str());
        finish_reaper(m_pid);
    }

    // The machine of this boot: its QEMU drops to the boot's uid and starts in its group.
    Machine machine(Machine m) const
    {
        m.runas = m_uid.uid();
        m.prefix = m_cgroup.join_prefix();
        return m;
    }

private:
    BootReaper() = default;
    fs::path m_dir;
    SandboxUid m_uid; // declared before the group: freed last
    Cgroup m_cgroup;
    pid_t m_pid = -1;
};

// A QEMU process; killed on destruction unless released.
class QemuProcess {
public:
    QemuProcess() = default;
    QemuProcess(pid_t pid, fs::path log_path)
        : m_pid(pid)
        , m_log(std::move(log_path))
    {
    }
    QemuProcess(QemuProcess&& other) noexcept
        : m_pid(std::exchange(other.m_pid, -1))
        , m_log(std::move(other.m_log))
        , m_exited(other.m_exited)
    {
    }
    QemuProcess& operator=(QemuProcess&& other) noexcept
    {
        kill();
        m_pid = std::exchange(other.m_pid, -1);
        m_log = std::move(other.m_log);
        m_exited = other.m_exited;
        return *this;
    }
    ~QemuProcess() { kill(); }

    pid_t pid() const { return m_pid; }
    bool alive()
    {
        if (m_pid <= 0 || m_exited)
            return false;
        if (reaped(m_pid))
            m_exited = true;
        return !m_exited;
    }
    // Waits up to `timeout` for the process to exit by itself; true if it did.
    bool wait_exit(milliseconds timeout)
    {
        const auto deadline = Clock::now() + timeout;
        while (alive() && Clock::now() < deadline)
            std::this_thread::sleep_for(milliseconds(20));
        return !alive();
    }
    void kill()
    {
        if (alive()) {
            ::kill(m_pid, SIGKILL);
            ::waitpid(m_pid, nullptr, 0);
        }
        m_exited = true;
    }
    std::string log_tail() const { return tail_of(m_log, 1200); }

private:
    pid_t m_pid = -1;
    fs::path m_log;
    bool m_exited = false;
};

Result<QemuProcess> launch(const Machine& m)
{
    if (m.proxy_socket.string().find(',') != std::string::npos || m.disk.string().find(',') != std::string::npos
        || m.dir.string().find(',') != std::string::npos)
        return Error(Error::Code::invalid_argument, "QEMU cannot take paths with commas: " + m.dir.string());
    become_subreaper();
    // Above 10, so that spawn can place them at 3 and 4.
    auto open_high = [](const fs::path& path, int flags) {
        Fd low(::open(path.c_str(), flags | O_CLOEXEC));
        return Fd(low.get() < 0 ? -1 : ::fcntl(low.get(), F_DUPFD_CLOEXEC, 10));
    };
    Fd rw = open_high(m.disk, O_RDWR);
    Fd ro = open_high(m.disk, O_RDONLY);
    if (rw.get() < 0 || ro.get() < 0)
        return errno_error("cannot open " + m.disk.string());
    fs::path log_path = m.dir / "qemu.log";
    std::vector<std::string> argv = m.prefix;
    const std::vector<std::string> qemu = qemu_argv(m);
    argv.insert(argv.end(), qemu.begin(), qemu.end());
    pid_t pid = ROTE_TRY(spawn(argv, log_path, {rw.get(), ro.get()}));
    return QemuProcess(pid, log_path);
}

// The share of the screen painted in the waiting page's colour (#1d6f42).
double waiting_share(const cv::Mat& screen)
{
    if (screen.empty())
        return 0;
    cv::Mat mask;
    cv::inRange(screen, cv::Scalar(60, 105, 23), cv::Scalar(72, 117, 35), mask);
    return static_cast<double>(cv::countNonZero(mask)) / static_cast<double>(screen.total());
}

// Waits until `shown` holds for the guest's screen at the expected size (QEMU's VNC server drops its client
// when the guest changes resolution while it boots: reconnect until the size is right).
Result<void> wait_for_screen(QemuProcess& qemu, const fs::path& dir, int width, int height, milliseconds timeout,
    const std::string& what, const Progress& progress, const std::function<bool(const cv::Mat&)>& shown)
{
    const auto start = Clock::now();
    const auto deadline = start + timeout;
    auto next_report = start + seconds(10);
    std::unique_ptr<Desktop> desktop;
    while (true) {
        if (!qemu.alive())
            return Error(Error::Code::io, "QEMU exited while " + what + "; its log:\n" + qemu.log_tail()
                    + "\nthe guest's console:\n" + tail_of(dir / "console.log", 1500));
        if (Clock::now() > deadline)
            return Error(Error::Code::timeout, "the guest's screen was not as expected within "
                    + std::to_string(timeout.count() / 1000) + " s while " + what
                    + "; the guest's console:\n" + tail_of(dir / "console.log", 1500));
        if (progress && Clock::now() > next_report) {
            progress(what + ": " + std::to_string(static_cast<int>(seconds_since(start))) + " s");
            next_report += seconds(10);
        }
        if (!desktop) {
            VncEndpoint vnc;
            vnc.unix_path = (dir / "vnc.sock").string();
            DesktopOptions options;
            options.connect_timeout = milliseconds(3000);
            options.reconnect = false;
            auto connected = Desktop::connect(vnc, options);
            if (connected.ok())
                desktop = std::move(*connected);
            else
                std::this_thread::sleep_for(milliseconds(500));
            continue;
        }
        auto screen = desktop->screenshot();
        if (!screen.ok() || desktop->width() != width || desktop->height() != height) {
            desktop.reset(); // dropped, or still the boot console's size
            std::this_thread::sleep_for(milliseconds(500));
            continue;
        }
        if (shown(*screen))
            return {};
        std::this_thread::sleep_for(milliseconds(200));
    }
}

// Chromium's waiting page, seen twice a second apart: it has painted and stays.
Result<void> wait_waiting_page(QemuProcess& qemu, const fs::path& dir, int width, int height, milliseconds timeout,
    const std::string& what, const Progress& progress)
{
    std::optional<Clock::time_point> first;
    return wait_for_screen(qemu, dir, width, height, timeout, what, progress, [&first](const cv::Mat& screen) {
        if (waiting_share(screen) <= 0.7) {
            first.reset();
            return false;
        }
        if (!first)
            first = Clock::now();
        return Clock::now() - *first >= seconds(1);
    });
}

// Stops the guest and writes its memory and devices to `state` (QEMU's migration stream, through a
// descriptor we open, so a QEMU running as nobody needs no write access to the image).
Result<void> save_state(Qmp& qmp, const fs::path& state)
{
    ROTE_TRY(qmp.execute("stop"));
    // The default bandwidth cap (32 MiB/s) is for live migration over a network; a stopped VM to a file
    // should go at disk speed.
    ROTE_TRY(qmp.execute("migrate-set-parameters", {{"max-bandwidth", 64LL << 30}}));
    Fd file(::open(state.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (file.get() < 0)
        return errno_error("cannot create " + state.string());
    ROTE_TRY(qmp.execute("getfd", {{"fdname", "state"}}, milliseconds(10000), file.get()));
    ROTE_TRY(qmp.execute("migrate", {{"uri", "fd:state"}}));
    const auto deadline = Clock::now() + seconds(300);
    while (true) {
        auto status = ROTE_TRY(qmp.execute("query-migrate"));
        std::string s = status.value("status", "");
        if (s == "completed")
            break;
        if (s == "failed" || s == "cancelled")
            return Error(Error::Code::io, "saving the VM failed: " + status.value("error-desc", s));
        if (Clock::now() > deadline)
            return Error(Error::Code::timeout, "saving the VM took more than 300 s");
        std::this_thread::sleep_for(milliseconds(50));
    }
    if (::fsync(file.get()) != 0)
        return errno_error("cannot write " + state.string());
    return {};
}

// Loads a saved state into a QEMU started with -incoming defer and waits until the guest runs.
Result<void> restore_state(Qmp& qmp, const fs::path& state, milliseconds timeout)
{
    Fd file(::open(state.c_str(), O_RDONLY | O_CLOEXEC));
    if (file.get() < 0)
        return errno_error("cannot open " + state.string());
    ROTE_TRY(qmp.execute("getfd", {{"fdname", "state"}}, milliseconds(10000), file.get()));
    ROTE_TRY(qmp.execute("migrate-incoming", {{"uri", "fd:state"}}));
    const auto deadline = Clock::now() + timeout;
    while (true) {
        auto status = ROTE_TRY(qmp.execute("query-status"));
        std::string s = status.value("status", "");
        if (s == "running")
            return {};
        if (s == "paused") {
            // A state saved from a stopped VM arrives stopped (QEMU keeps the source's run state).
            auto migration = ROTE_TRY(qmp.execute("query-migrate"));
            if (migration.value("status", "") == "completed") {
                ROTE_TRY(qmp.execute("cont"));
                continue;
            }
        }
        if (s != "inmigrate" && s != "prelaunch" && s != "paused" && s != "finish-migrate")
            return Error(Error::Code::io, "restoring " + state.string() + " failed: the VM is " + s);
        if (Clock::now() > deadline)
            return Error(Error::Code::timeout, "restoring " + state.string() + " took more than "
                    + std::to_string(timeout.count() / 1000) + " s (the VM is " + s + ")");
        std::this_thread::sleep_for(milliseconds(10));
    }
}

std::string random_hex(int digits)
{
    std::random_device random;
    static constexpr char hex[] = "0123456789abcdef";
    std::string text;
    for (int i = 0; i < digits; ++i)
        text += hex[random() % 16];
    return text;
}

// A fresh seed for the guest's random pool and a fresh machine id: a restored clone shares neither with
// its siblings (vmgenid already makes the kernel reseed its generator on restore).
Result<void> freshen(GuestAgent& agent)
{
    ROTE_TRY(agent.command("fresh " + random_hex(64) + " " + random_hex(32), seconds(20)));
    return {};
}

// A directory in the runtime root for one boot's sockets and logs, removed with its owner.
class TempDir {
public:
    static Result<TempDir> make(const std::string& prefix)
    {
        fs::path root = ROTE_TRY(runtime_root());
        fs::path dir = root / (prefix + random_hex(8));
        if (::mkdir(dir.c_str(), 0700) != 0)
            return errno_error("cannot create " + dir.string());
        TempDir made;
        made.m_path = dir;
        return made;
    }
    TempDir() = default;
    TempDir(TempDir&& other) noexcept
        : m_path(std::exchange(other.m_path, {}))
    {
    }
    TempDir& operator=(TempDir&&) = delete;
    ~TempDir()
    {
        std::error_code ignored;
        if (!m_path.empty())
            fs::remove_all(m_path, ignored);
    }
    const fs::path& path() const { return m_path; }

private:
    fs::path m_path;
};

Result<void> create_overlay(const fs::path& overlay, const std::string& backing, const fs::path& log_path)
{
    return run_tool({"qemu-img", "create", "-q", "-f", "qcow2", "-F",
                        backing.ends_with(".img") ? "raw" : "qcow2", "-b", backing, overlay.string()},
        log_path);
}

bool valid_keep_name(const std::string& name)
{
    static const std::regex pattern("[A-Za-z0-9][A-Za-z0-9_.-]{0,63}");
    return std::regex_match(name, pattern);
}

class QemuSandbox final : public DirectorySandbox {
public:
    QemuSandbox(std::string id, fs::path dir, SandboxUid uid)
        : DirectorySandbox(std::move(id), std::move(dir))
        , m_uid(std::move(uid))
        , m_cgroup(Cgroup::named(m_id))
    {
    }
    ~QemuSandbox() override { (void)destroy(); }

    // What the sandbox holds on the host, in an order a SIGKILL at any point cannot leak (as the local
    // provider's): the reaper first, told the directory, the group and where QEMU will write its pid; then
    // the directory and the group. The reaper kills QEMU by its pid file (if that pid is still a QEMU), as
    // root every process of the sandbox's uid (QEMU after -runas, its socat helpers) and every process in
    // the group (QEMU before -runas).
    Result<void> prepare(const SandboxOptions& options)
    {
        m_cleanup = options.cleanup_paths;
        std::vector<fs::path> owned = {m_dir}; // "$1" in the reaper's script
        owned.insert(owned.end(), m_cleanup.begin(), m_cleanup.end());
        m_reaper = ROTE_TRY(spawn_qemu_reaper(owned, m_uid.uid(), m_cgroup.reaper_script()));
        ROTE_TRY(create_sandbox_dir(m_dir));
        // QEMU's own memory is the guest's RAM plus what it needs beside (its code cache, devices, I/O): the
        // sandbox's limit applies to the latter, the guest's kernel bounds the former.
        ResourceLimits limits = options.limits;
        limits.memory_bytes += static_cast<std::uint64_t>(kMemoryMiB) << 20;
        return m_cgroup.create(limits);
    }

    std::string_view provider() const override { return "qemu"; }
    std::vector<pid_t> pids() const override
    {
        return m_qemu.pid() > 0 ? process_tree(m_qemu.pid()) : std::vector<pid_t> {};
    }
    bool alive() override { return m_qemu.alive(); }
    double time_scale() const override { return m_machine.accelerator == Accelerator::kvm ? 2.0 : 8.0; }
    std::vector<std::pair<std::string, std::string>> details() const override { return m_details; }

    Result<void> start(const SandboxOptions& options)
    {
        fs::path image = options.image;
        if (image.empty())
            image = ROTE_TRY(default_image_dir());
        image = fs::absolute(image);
        const std::string build_command
            = "`rote image build" + (options.image.empty() ? std::string() : " --out " + image.string()) + "`";
        if (!fs::exists(image / "image.json")) {
            return Error(Error::Code::not_found,
                "no guest image in " + image.string() + "; build one with " + build_command);
        }
        if (const ImageInfo info = ROTE_TRY(image_info(image)); !info.current)
            return Error(Error::Code::conflict,
                "the guest image in " + image.string()
                    + " was built by another version of rote (its guest files differ from this one's); build it "
                      "again with "
                    + build_command);
        if (!options.keep.empty() && !valid_keep_name(options.keep))
            return Error(Error::Code::invalid_argument,
                "a kept sandbox's name is letters, digits, '.', '_' and '-' (at most 64): '" + options.keep + "'");
        m_image_lock = ROTE_TRY(lock_file(image / ".lock", LOCK_SH, true));
        AcceleratorChoice choice = choose_accelerator(image);
        std::string key = ROTE_TRY(
            ensure_ready_state(image, choice.accelerator, options.width, options.height, options.window, options.progress));
        m_machine = {image, choice.accelerator, options.width, options.height, options.window, {}, m_dir,
            options.proxy_socket, true, m_uid.uid(), m_cgroup.join_prefix()};
        fs::path state = image / "ready" / (key + ".state");
        bool cold = false;
        if (options.keep.empty()) {
            m_machine.disk = m_dir / "disk.qcow2";
            ROTE_TRY(create_overlay(m_machine.disk, (image / "ready" / (key + ".qcow2")).string(), m_dir / "qemu-img.log"));
        } else {
            fs::path keep = image / "keep";
            fs::create_directories(keep);
            auto lock = lock_file(keep / (options.keep + ".lock"), LOCK_EX, false);
            if (!lock.ok())
                return Error(Error::Code::conflict, "the kept sandbox '" + options.keep + "' is in use by another run");
            m_keep_lock = std::move(*lock);
            m_keep = keep / options.keep;
            m_machine.disk = m_keep.string() + ".qcow2";
            fs::path made_for = m_keep.string() + ".ready";
            if (fs::exists(m_machine.disk)) {
                std::ifstream in(made_for);
                std::string was;
                std::getline(in, was);
                if (was != key)
                    return Error(Error::Code::conflict, "the kept sandbox '" + options.keep + "' was made for " + was
                            + ", not " + key + " (size, window or accelerator differ)");
                if (fs::exists(m_keep.string() + ".state"))
                    state = m_keep.string() + ".state";
                else
                    cold = true; // its last run never suspended it: its disk is ahead of any saved memory
            } else {
                ROTE_TRY(create_overlay(m_machine.disk, (image / "ready" / (key + ".qcow2")).string(), m_dir / "qemu-img.log"));
                std::ofstream(made_for) << key << '\n';
            }
        }
        m_machine.incoming = !cold;
        const auto began = Clock::now();
        m_qemu = ROTE_TRY(launch(m_machine));

        auto qmp = Qmp::connect((m_dir / "qmp.sock").string(), seconds(10));
        if (!qmp.ok())
            return failed(qmp.error().with_context("connecting to QEMU's QMP"));
        m_qmp = std::move(*qmp);
        if (cold) {
            if (options.progress)
                options.progress("the kept sandbox '" + options.keep + "' was not suspended last time: booting it");
            ROTE_TRY(wait_waiting_page(m_qemu, m_dir, options.width, options.height,
                milliseconds(static_cast<int>(300000)), "booting the kept sandbox", options.progress));
        } else {
            if (auto restored = restore_state(*m_qmp, state, seconds(120)); !restored.ok())
                return failed(restored.error());
            if (state.string().starts_with(m_keep.string()) && !m_keep.empty()) {
                // The disk runs ahead of this state from now on: it must never be restored again.
                std::error_code ignored;
                fs::remove(state, ignored);
            }
        }
        const double restore_s = seconds_since(began);
        auto agent = GuestAgent::connect((m_dir / "agent.sock").string(), seconds(10));
        if (!agent.ok())
            return failed(agent.error().with_context("connecting to the guest agent"));
        m_agent = std::move(*agent);
        if (auto fresh = freshen(*m_agent); !fresh.ok())
            return failed(fresh.error());
        m_details = {{"accelerator", std::string(to_string(choice.accelerator))}, {"accelerator_reason", choice.reason},
            {"image", image.string()}, {"ready_state", key}, {"restore_s", one_decimal(restore_s)},
            {"start_s", one_decimal(seconds_since(began))}};
        if (!options.keep.empty())
            m_details.emplace_back("kept", options.keep);
        log().info("sandbox {} started ({}, {}, restored in {:.2f} s)", m_id, to_string(choice.accelerator),
            cold ? "cold boot" : state.filename().string(), restore_s);
        return {};
    }

    Result<GuestOutput> run(std::string_view command, milliseconds timeout)
    {
        if (!m_agent)
            return Error(Error::Code::io, "sandbox " + m_id + " has no guest agent");
        std::string encoded = base64_encode(
            std::span(reinterpret_cast<const std::uint8_t*>(command.data()), command.size()));
        std::string answer = ROTE_TRY(m_agent->command("run " + encoded, timeout));
        GuestOutput out;
        size_t space = answer.find(' ');
        try {
            out.status = std::stoi(answer.substr(0, space));
        } catch (const std::exception&) {
            return Error(Error::Code::io, "the guest agent answered 'run' with '" + answer.substr(0, 100) + "'");
        }
        if (space != std::string::npos) {
            auto bytes = base64_decode(answer.substr(space + 1));
            if (!bytes.ok())
                return bytes.error().with_context("the guest agent's output");
            out.output.assign(bytes->begin(), bytes->end());
        }
        return out;
    }

    Result<void> destroy() override
    {
        if (m_destroyed)
            return {};
        m_destroyed = true;
        Result<void> result;
        if (!m_keep.empty() && m_qemu.alive() && m_qmp && m_agent)
            result = suspend();
        m_qemu.kill();
        m_cgroup.remove(); // its socat helpers too
        ::unlink((m_dir / "qemu.pid").c_str()); // that pid is nobody's to kill any more
        finish_reaper(m_reaper);
        std::error_code ec = remove_files();
        m_keep_lock.reset();
        m_image_lock.reset();
        if (!result.ok())
            return result;
        if (ec)
            return Error(Error::Code::io, "cannot remove " + m_dir.string() + ": " + ec.message());
        log().info("sandbox {} destroyed", m_id);
        return {};
    }

    // Error on the way up: the log says what QEMU said.
    Error failed(const Error& error)
    {
        std::string why = error.message();
        if (!m_qemu.alive())
            why += "; QEMU exited, its log:\n" + m_qemu.log_tail();
        return Error(error.code(), why);
    }

private:
    // A kept sandbox is saved, not killed: its browser goes back to the waiting page (so the next run's
    // start URL reaches it), then memory and devices go to keep/NAME.state beside its disk.
    Result<void> suspend()
    {
        const auto began = Clock::now();
        fs::path state = m_keep.string() + ".state";
        fs::path partial = state.string() + ".partial";
        // `home` answers once a new Chromium has started; the waiting page is then the new one's.
        ROTE_TRY(m_agent->command("home", seconds(60)));
        ROTE_TRY(wait_waiting_page(m_qemu, m_dir, m_machine.width, m_machine.height, seconds(180),
            "suspending the kept sandbox", nullptr));
        ROTE_TRY(m_agent->command("drop-caches", seconds(60)));
        ROTE_TRY(save_state(*m_qmp, partial));
        (void)m_qmp->execute("quit");
        m_qemu.wait_exit(seconds(10));
        std::error_code ec;
        fs::rename(partial, state, ec);
        if (ec)
            return Error(Error::Code::io, "cannot keep " + state.string() + ": " + ec.message());
        log().info("kept sandbox {} suspended in {:.1f} s", m_keep.filename().string(), seconds_since(began));
        return {};
    }

    Machine m_machine;
    QemuProcess m_qemu;
    std::optional<Qmp> m_qmp;
    std::optional<GuestAgent> m_agent;
    SandboxUid m_uid; // declared before what its processes use: freed last
    Cgroup m_cgroup;
    pid_t m_reaper = -1;
    fs::path m_keep; // image/keep/NAME, for a kept sandbox
    Fd m_keep_lock;
    Fd m_image_lock;
    std::vector<std::pair<std::string, std::string>> m_details;
    bool m_destroyed = false;
};

} // namespace

std::string_view to_string(Accelerator accelerator) { return accelerator == Accelerator::kvm ? "kvm" : "tcg"; }

AcceleratorChoice choose_accelerator(const fs::path& image_dir)
{
    if (const char* forced = std::getenv("ROTE_QEMU_ACCEL"); forced && *forced) {
        std::string f = forced;
        if (f == "kvm" || f == "tcg")
            return {f == "kvm" ? Accelerator::kvm : Accelerator::tcg, "ROTE_QEMU_ACCEL=" + f};
    }
    {
        Fd kvm(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
        if (kvm.get() < 0)
            return {Accelerator::tcg, std::string("/dev/kvm: ") + std::strerror(errno)};
    }
    // The answer holds until the host reboots.
    std::string boot_id;
    std::ifstream("/proc/sys/kernel/random/boot_id") >> boot_id;
    auto root = runtime_root();
    fs::path cache = root.ok() ? *root / "kvm-probe" : fs::path();
    if (!cache.empty()) {
        std::ifstream in(cache);
        std::string id, accel, reason;
        if (in >> id >> accel && id == boot_id && std::getline(in >> std::ws, reason))
            return {accel == "kvm" ? Accelerator::kvm : Accelerator::tcg, reason + " (probed earlier)"};
    }
    // KVM can exist and hang (nested under some hypervisors): boot the image's kernel with no root disk;
    // it panics at once and -no-reboot makes QEMU exit. A working KVM does that in a second or two.
    AcceleratorChoice choice {Accelerator::tcg, "no kernel to probe KVM with"};
    auto temp = TempDir::make("kvm-probe-");
    if (temp.ok() && fs::exists(image_dir / "vmlinuz")) {
        const fs::path* dir = &temp->path();
        const auto began = Clock::now();
        auto pid = spawn({"qemu-system-x86_64", "-nodefaults", "-no-user-config", "-machine", "q35,accel=kvm",
                             "-cpu", "host", "-m", "256", "-display", "none", "-no-reboot", "-kernel",
                             (image_dir / "vmlinuz").string(), "-append", "console=ttyS0 panic=-1 loglevel=1",
                             "-serial", "file:" + (*dir / "console.log").string()},
            *dir / "qemu.log");
        if (pid.ok()) {
            QemuProcess probe(*pid, *dir / "qemu.log");
            const milliseconds limit(20000);
            if (probe.wait_exit(limit)) {
                std::string console = tail_of(*dir / "console.log", 4000);
                if (console.find("Kernel panic") != std::string::npos)
                    choice = {Accelerator::kvm, "KVM booted a kernel to its first panic in "
                            + one_decimal(seconds_since(began)) + " s"};
                else
                    choice = {Accelerator::tcg, "KVM failed: " + probe.log_tail().substr(0, 300)};
            } else {
                choice = {Accelerator::tcg, "KVM did not boot a kernel within 20 s (it hangs on this host)"};
            }
        }
        if (!cache.empty())
            std::ofstream(cache) << boot_id << ' ' << to_string(choice.accelerator) << ' ' << choice.reason << '\n';
    }
    log().info("accelerator: {} ({})", to_string(choice.accelerator), choice.reason);
    return choice;
}

Result<std::string> ensure_ready_state(const fs::path& image_dir, Accelerator accelerator, int width, int height,
    BrowserWindow window, const Progress& progress)
{
    if (width < 640 || height < 480 || width > 3840 || height > 2160)
        return Error(Error::Code::invalid_argument, "a VM's screen must be between 640x480 and 3840x2160");
    const std::string key = ready_key(accelerator, width, height, window);
    fs::path ready = image_dir / "ready";
    fs::path state = ready / (key + ".state");
    fs::path disk = ready / (key + ".qcow2");
    if (fs::exists(state) && fs::exists(disk))
        return key;
    fs::create_directories(ready);
    // One maker at a time; whoever waited finds it made.
    Fd lock = ROTE_TRY(lock_file(ready / (key + ".lock"), LOCK_EX, true));
    if (fs::exists(state) && fs::exists(disk))
        return key;
    if (progress)
        progress("making the ready state " + key + " (a first boot; once per image, size and window)");
    const auto began = Clock::now();
    TempDir temp = ROTE_TRY(TempDir::make("ready-"));
    const fs::path& dir = temp.path();
    fs::path partial_disk = disk.string() + ".partial";
    fs::path partial_state = state.string() + ".partial";
    std::error_code ignored;
    fs::remove(partial_disk, ignored);
    ROTE_TRY(create_overlay(partial_disk, (image_dir / "root.img").string(), dir / "qemu-img.log"));
    BootReaper reaper = ROTE_TRY(BootReaper::start(dir));
    const Machine m = reaper.machine({image_dir, accelerator, width, height, window, partial_disk, dir, {}, false, 0, {}});
    QemuProcess qemu = ROTE_TRY(launch(m));
    ROTE_TRY(wait_waiting_page(qemu, dir, width, height, seconds(600), "booting the guest", progress));
    auto agent = ROTE_TRY(GuestAgent::connect((dir / "agent.sock").string(), seconds(10)));
    ROTE_TRY(agent.command("drop-caches", seconds(60)));
    auto qmp = ROTE_TRY(Qmp::connect((dir / "qmp.sock").string(), seconds(10)));
    ROTE_TRY(save_state(qmp, partial_state));
    (void)qmp.execute("quit");
    qemu.wait_exit(seconds(10));
    qemu.kill();
    fs::rename(partial_disk, disk);
    fs::rename(partial_state, state);
    if (progress)
        progress("ready state " + key + " made in " + std::to_string(static_cast<int>(seconds_since(began))) + " s ("
            + std::to_string(fs::file_size(state) >> 20) + " MiB)");
    return key;
}

Result<ColdBoot> measure_cold_boot(
    const fs::path& image_dir, Accelerator accelerator, int width, int height, BrowserWindow window)
{
    TempDir temp = ROTE_TRY(TempDir::make("boot-"));
    const fs::path& dir = temp.path();
    ROTE_TRY(create_overlay(dir / "disk.qcow2", (image_dir / "root.img").string(), dir / "qemu-img.log"));
    BootReaper reaper = ROTE_TRY(BootReaper::start(dir));
    const Machine m = reaper.machine({image_dir, accelerator, width, height, window, dir / "disk.qcow2", dir, {}, false, 0, {}});
    const auto began = Clock::now();
    QemuProcess qemu = ROTE_TRY(launch(m));
    ColdBoot boot;
    // The first frame of the desktop: Chromium's window (white, or the waiting page) over Xorg's black.
    ROTE_TRY(wait_for_screen(qemu, dir, width, height, seconds(600), "booting", nullptr,
        [](const cv::Mat& screen) { return cv::mean(screen)[1] > 90; }));
    boot.first_frame_s = seconds_since(began);
    ROTE_TRY(wait_waiting_page(qemu, dir, width, height, seconds(600), "booting", nullptr));
    boot.waiting_page_s = seconds_since(began) - 1.0; // less the second it must stay
    return boot;
}

Result<std::unique_ptr<Sandbox>> start_qemu_sandbox(const SandboxOptions& options)
{
    if (options.scale != 1.0)
        return Error(Error::Code::unsupported, "the qemu provider runs its browser at scale 1 (its ready states are "
                                               "made so); start.scale needs the local provider");
    SandboxUid uid;
    if (::geteuid() == 0)
        uid = ROTE_TRY(SandboxUid::claim());
    auto [id, dir] = ROTE_TRY(sandbox_place(options));
    auto sandbox = std::make_unique<QemuSandbox>(id, dir, std::move(uid));
    if (auto prepared = sandbox->prepare(options); !prepared.ok()) {
        (void)sandbox->destroy();
        return prepared.release_error();
    }
    if (auto started = sandbox->start(options); !started.ok()) {
        (void)sandbox->destroy();
        return started.release_error();
    }
    return std::unique_ptr<Sandbox>(std::move(sandbox));
}

Result<GuestOutput> guest_run(Sandbox& sandbox, std::string_view command, milliseconds timeout)
{
    auto* vm = dynamic_cast<QemuSandbox*>(&sandbox);
    if (!vm)
        return Error(Error::Code::unsupported, "only a qemu sandbox runs commands in its guest");
    return vm->run(command, timeout);
}

} // namespace rote::runtime
