#include <rote/sandbox/qemu.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <rote/base/log.h>
#include <rote/base/paths.h>
#include <rote/base/text.h>
#include <rote/sandbox/process.h>

#include "guest_files.h" // generated from runtime/guest/ by runtime/CMakeLists.txt
#include "common.h"

namespace rote::runtime {

namespace fs = std::filesystem;
using namespace detail;
using Clock = std::chrono::steady_clock;

namespace {

spdlog::logger& log()
{
    static auto logger = rote::logger("runtime.qemu");
    return *logger;
}

// What the guest is made of, beyond Debian's minbase: the kernel, Xorg with the modesetting driver (in the
// core package) and evdev input, the same window manager and fonts as the local sandbox (so a trace taught
// in one replays in the other), and Chromium (its GTK needs a session bus: dbus-x11 is the one without systemd).
const std::vector<std::string> kPackages = {"linux-image-amd64", "initramfs-tools", "kmod", "iproute2",
    "xserver-xorg-core", "xserver-xorg-input-evdev", "matchbox-window-manager", "fonts-dejavu-core", "dbus-x11", "chromium"};

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

bool on_path(const std::string& program)
{
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
        if (::access((fs::path(dir) / program).c_str(), X_OK) == 0)
            return true;
    }
    return false;
}

// The host's own Debian mirror (it is the one this machine can reach), else Debian's CDN.
std::string host_mirror()
{
    std::error_code ec;
    std::vector<fs::path> files = {"/etc/apt/sources.list"};
    for (const auto& entry : fs::directory_iterator("/etc/apt/sources.list.d", ec))
        files.push_back(entry.path());
    static const std::regex one_line(R"(^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s)");
    for (const fs::path& file : files) {
        std::ifstream in(file);
        std::string line, uris;
        bool bookworm = false;
        auto stanza_mirror = [&]() -> std::string {
            return bookworm && !uris.empty() && uris.find("security") == std::string::npos ? uris : "";
        };
        while (std::getline(in, line)) {
            std::smatch match;
            if (std::regex_search(line, match, one_line) && match[1].str().find("security") == std::string::npos)
                return match[1].str();
            if (line.starts_with("URIs:")) {
                std::istringstream words(line.substr(5));
                words >> uris;
            } else if (line.starts_with("Suites:")) {
                std::istringstream words(line.substr(7));
                std::string suite;
                while (words >> suite)
                    bookworm = bookworm || suite == "bookworm";
            } else if (line.find_first_not_of(" \t\r") == std::string::npos) {
                if (std::string m = stanza_mirror(); !m.empty())
                    return m;
                uris.clear();
                bookworm = false;
            }
        }
        if (std::string m = stanza_mirror(); !m.empty())
            return m;
    }
    return "http://deb.debian.org/debian";
}

// Runs a long tool with its output in `log_path`, reporting its last "I: ..." line every 10 s.
Result<void> run_step(const std::vector<std::string>& argv, const fs::path& log_path, const std::string& what,
    const Progress& progress)
{
    const auto began = Clock::now();
    // Building fetches packages: a host that reaches its mirror through a proxy says so in these.
    pid_t pid = ROTE_TRY(spawn(argv, log_path, {}, {"http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY"}));
    auto next = began + std::chrono::seconds(10);
    int status = 0;
    while (::waitpid(pid, &status, WNOHANG) == 0) {
        if (progress && Clock::now() > next) {
            std::string tail = tail_of(log_path, 400);
            size_t at = tail.rfind("\nI: ");
            std::string last = at == std::string::npos ? "" : tail.substr(at + 1, tail.find('\n', at + 1) - at - 1);
            progress(what + ": " + std::to_string(static_cast<int>(seconds_since(began))) + " s"
                + (last.empty() ? "" : " (" + last.substr(3) + ")"));
            next += std::chrono::seconds(10);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return Error(Error::Code::io, what + " failed (log: " + log_path.string() + "):\n" + tail_of(log_path, 1200));
    return {};
}

Result<void> write_file(const fs::path& path, std::string_view content, mode_t mode)
{
    fs::create_directories(path.parent_path());
    {
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out.write(content.data(), static_cast<std::streamsize>(content.size()));
        if (!out)
            return Error(Error::Code::io, "cannot write " + path.string());
    }
    if (::chmod(path.c_str(), mode) != 0)
        return errno_error("cannot chmod " + path.string());
    return {};
}

// The files configure_guest writes, as (path, content, mode).
std::vector<std::tuple<std::string, std::string, int>> guest_payload()
{
    std::vector<std::tuple<std::string, std::string, int>> files;
    for (const auto& file : kGuestFiles)
        files.emplace_back(file.path, std::string(file.content), file.mode);
    files.emplace_back("usr/local/share/rote/chromium.flags", chromium_flags() + "\n", 0644);
    files.emplace_back("etc/chromium/policies/managed/rote.json", chromium_policy(), 0644);
    return files;
}

// A digest of guest_payload() (64-bit FNV-1a in hex: it tells versions apart, it guards nothing).
std::string guest_files_digest()
{
    std::uint64_t h = 0xcbf29ce484222325ull;
    auto add = [&](std::string_view bytes) {
        for (const unsigned char c : bytes)
            h = (h ^ c) * 0x100000001b3ull;
        h = (h ^ 0xff) * 0x100000001b3ull; // a separator, so that ("ab", "c") and ("a", "bc") differ
    };
    for (const auto& [path, content, mode] : guest_payload()) {
        add(path);
        add(content);
        add(std::to_string(mode));
    }
    char text[17];
    std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(h));
    return text;
}

// Makes the debootstrapped tree a rote guest: the user, rote's init, agent, session and Xorg
// configuration, an empty machine id (each clone gets its own), no package caches.
Result<void> configure_guest(const fs::path& rootfs, const fs::path& log_path)
{
    bool has_user = false;
    {
        std::ifstream passwd(rootfs / "etc/passwd");
        std::string line;
        while (std::getline(passwd, line))
            has_user = has_user || line.starts_with("rote:");
    }
    if (!has_user) {
        pid_t pid = ROTE_TRY(spawn({"chroot", rootfs.string(), "useradd", "-m", "-u", "1000", "-U", "-s", "/bin/sh", "rote"}, log_path));
        int status = 0;
        ::waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            return Error(Error::Code::io, "cannot add the guest's user:\n" + tail_of(log_path));
    }
    for (const auto& [path, content, mode] : guest_payload())
        ROTE_TRY(write_file(rootfs / path, content, mode));
    ROTE_TRY(write_file(rootfs / "etc/machine-id", "", 0444));
    ROTE_TRY(write_file(rootfs / "etc/hostname", "sandbox\n", 0644));
    std::error_code ignored;
    for (const char* dir : {"var/cache/apt/archives", "var/lib/apt/lists"}) {
        for (const auto& entry : fs::directory_iterator(rootfs / dir, ignored)) {
            if (entry.is_regular_file())
                fs::remove(entry.path(), ignored);
        }
    }
    return {};
}

std::uint64_t disk_usage(const fs::path& path)
{
    std::uint64_t total = 0;
    std::error_code ec;
    struct stat st { };
    for (auto it = fs::recursive_directory_iterator(path, fs::directory_options::skip_permission_denied, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (::lstat(it->path().c_str(), &st) == 0)
            total += static_cast<std::uint64_t>(st.st_blocks) * 512;
    }
    return total;
}

std::vector<std::string> stems(const fs::path& dir, std::string_view extension)
{
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        if (entry.path().extension() == extension)
            names.push_back(entry.path().stem().string());
    }
    std::sort(names.begin(), names.end());
    return names;
}

} // namespace

Result<fs::path> images_root() { return ROTE_TRY(rote_home()) / "images"; }

Result<fs::path> default_image_dir() { return ROTE_TRY(images_root()) / "debian12"; }

Result<void> build_image(const ImageBuildOptions& options)
{
    const Progress& progress = options.progress;
    auto say = [&](const std::string& line) {
        if (progress)
            progress(line);
    };
    if (::geteuid() != 0)
        return Error(Error::Code::invalid_argument,
            "building a guest image needs root (debootstrap installs packages owned by the guest's users)");
    for (const auto& [tool, package] : std::vector<std::pair<std::string, std::string>> {{"debootstrap", "debootstrap"},
             {"mke2fs", "e2fsprogs"}, {"qemu-img", "qemu-utils"}, {"qemu-system-x86_64", "qemu-system-x86"},
             {"socat", "socat"}}) {
        if (!on_path(tool))
            return Error(Error::Code::not_found, tool + " is missing (Debian package " + package + ")");
    }
    fs::path dir = options.dir.empty() ? ROTE_TRY(default_image_dir()) : fs::absolute(options.dir);
    fs::create_directories(dir / "cache");
    int lock = ::open((dir / ".build.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock < 0 || ::flock(lock, LOCK_EX | LOCK_NB) != 0) {
        if (lock >= 0)
            ::close(lock);
        return Error(Error::Code::conflict, "another build of " + dir.string() + " is running");
    }
    struct Unlock {
        int fd;
        ~Unlock() { ::close(fd); }
    } unlock {lock};
    const auto began = Clock::now();
    const std::string mirror = options.mirror.empty() ? host_mirror() : options.mirror;
    fs::path rootfs = dir / "rootfs";
    fs::path root_img = dir / "root.img";

    if (fs::exists(dir / "image.json") && !ROTE_TRY(image_info(dir)).current) {
        // Built by another version of rote: its guest files (init, agent, session, Chromium's flags and
        // policy) are not this rote's. The guest is built again from the package cache; kept sandboxes are
        // disks over the old root and would not survive it, so they are the user's to remove first.
        if (const auto kept = stems(dir / "keep", ".qcow2"); !kept.empty())
            return Error(Error::Code::conflict,
                "image " + dir.string() + " was built by another version of rote and must be built again, but it has "
                    + std::to_string(kept.size()) + " kept sandbox(es) (" + kept.front()
                    + (kept.size() > 1 ? ", ..." : "") + ") over its disk: remove them (`rote image rm --kept NAME`) or build into another --out");
        say("image " + dir.string() + " holds another rote version's guest files: building it again");
        std::error_code ignored;
        for (const char* name : {"image.json", "root.img", "root.img.partial", "vmlinuz", "initrd.img", "kernel-version"})
            fs::remove(dir / name, ignored);
        fs::remove_all(dir / "ready", ignored);
    }
    if (fs::exists(dir / "image.json")) {
        say("image " + dir.string() + " is built");
    } else {
        if (!fs::exists(root_img) && !fs::exists(rootfs)) {
            fs::path partial = dir / "rootfs.partial";
            std::error_code ignored;
            fs::remove_all(partial, ignored); // debootstrap cannot resume a tree; its cache/ makes a rerun quick
            std::string include;
            for (const std::string& p : kPackages)
                include += (include.empty() ? "" : ",") + p;
            say("debootstrap: Debian 12 (bookworm) minbase + " + include + " from " + mirror);
            ROTE_TRY(run_step({"debootstrap", "--variant=minbase", "--cache-dir=" + (dir / "cache").string(),
                                  "--include=" + include, "bookworm", partial.string(), mirror},
                dir / "debootstrap.log", "debootstrap", progress));
            fs::rename(partial, rootfs);
            say("debootstrap done (" + std::to_string(static_cast<int>(seconds_since(began))) + " s)");
        }
        if (!fs::exists(root_img)) {
            say("configuring the guest (user, init, agent, session)");
            ROTE_TRY(configure_guest(rootfs, dir / "configure.log"));
            std::string kernel_version;
            for (const auto& entry : fs::directory_iterator(rootfs / "boot")) {
                std::string name = entry.path().filename().string();
                if (name.starts_with("vmlinuz-")) {
                    kernel_version = name.substr(8);
                    fs::copy_file(entry.path(), dir / "vmlinuz", fs::copy_options::overwrite_existing);
                } else if (name.starts_with("initrd.img-") && !name.ends_with(".new") && !name.ends_with(".dpkg-bak")) {
                    fs::copy_file(entry.path(), dir / "initrd.img", fs::copy_options::overwrite_existing);
                }
            }
            if (kernel_version.empty() || !fs::exists(dir / "initrd.img"))
                return Error(Error::Code::io, "the guest tree has no kernel and initrd in " + (rootfs / "boot").string());
            std::ofstream(dir / "kernel-version") << kernel_version << '\n';
            // ext4 from the tree without mounting anything (mke2fs -d); room for the user's files on top.
            std::uint64_t used = disk_usage(rootfs);
            std::uint64_t size = ((used + used / 4 + (1ULL << 30)) >> 20) << 20;
            say("making root.img (" + std::to_string(size >> 20) + " MiB ext4, " + std::to_string(used >> 20)
                + " MiB used)");
            fs::path partial = dir / "root.img.partial";
            {
                std::ofstream(partial).close();
            }
            fs::resize_file(partial, size);
            ROTE_TRY(run_step({"mke2fs", "-q", "-F", "-t", "ext4", "-L", "rote-root", "-d", rootfs.string(),
                                  partial.string()},
                dir / "mke2fs.log", "mke2fs", progress));
            fs::rename(partial, root_img);
            ::chmod(root_img.c_str(), 0444);
            std::error_code ignored;
            fs::remove_all(rootfs, ignored); // everything is in root.img now
        }
        std::string kernel;
        std::ifstream(dir / "kernel-version") >> kernel;
        nlohmann::json info {{"built", now_timestamp()}, {"debian", "12 (bookworm)"}, {"mirror", mirror},
            {"kernel", kernel}, {"packages", kPackages}, {"memory_mib", 1024}, {"guest_files", guest_files_digest()}};
        std::ofstream(dir / "image.json.partial") << info.dump(2) << '\n';
        fs::rename(dir / "image.json.partial", dir / "image.json");
        say("image built in " + std::to_string(static_cast<int>(seconds_since(began))) + " s");
    }
    AcceleratorChoice accelerator = choose_accelerator(dir);
    say("accelerator: " + std::string(to_string(accelerator.accelerator)) + " (" + accelerator.reason + ")");
    ROTE_TRY(ensure_ready_state(dir, accelerator.accelerator, options.width, options.height, options.window, progress));
    log().info("image {} ready in {:.0f} s", dir.string(), seconds_since(began));
    return {};
}

Result<ImageInfo> image_info(const fs::path& dir)
{
    if (!fs::is_directory(dir))
        return Error(Error::Code::not_found, "no image at " + dir.string());
    ImageInfo info;
    info.dir = dir;
    info.complete = fs::exists(dir / "image.json");
    if (info.complete) {
        std::ifstream in(dir / "image.json");
        nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
        if (j.is_object()) {
            info.built = j.value("built", "");
            info.kernel = j.value("kernel", "");
            info.guest_files = j.value("guest_files", "");
        }
        info.current = info.guest_files == guest_files_digest();
    }
    info.bytes = disk_usage(dir);
    info.ready = stems(dir / "ready", ".state");
    info.kept = stems(dir / "keep", ".qcow2");
    return info;
}

Result<std::vector<ImageInfo>> list_images()
{
    fs::path root = ROTE_TRY(images_root());
    std::vector<ImageInfo> images;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(root, ec)) {
        if (entry.is_directory() && (fs::exists(entry.path() / "image.json") || fs::exists(entry.path() / "cache")))
            images.push_back(ROTE_TRY(image_info(entry.path())));
    }
    std::sort(images.begin(), images.end(), [](const auto& a, const auto& b) { return a.dir < b.dir; });
    return images;
}

Result<void> remove_image(const fs::path& dir)
{
    if (!fs::exists(dir / "image.json") && !fs::exists(dir / "cache"))
        return Error(Error::Code::not_found, "no image at " + dir.string());
    // Held while removing, so no sandbox starts on a half-removed image.
    std::vector<int> locks;
    struct Release {
        std::vector<int>& fds;
        ~Release()
        {
            for (int fd : fds)
                ::close(fd);
        }
    } release {locks};
    for (const char* name : {".lock", ".build.lock"}) {
        int fd = ::open((dir / name).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            return errno_error("cannot open " + (dir / name).string());
        locks.push_back(fd);
        if (::flock(fd, LOCK_EX | LOCK_NB) != 0)
            return Error(Error::Code::conflict,
                dir.string() + (std::string_view(name) == ".lock" ? " is in use by a running sandbox" : " is being built"));
    }
    std::error_code ec;
    fs::remove_all(dir, ec);
    if (ec)
        return Error(Error::Code::io, "cannot remove " + dir.string() + ": " + ec.message());
    return {};
}

Result<void> remove_kept(const fs::path& image_dir, const std::string& name)
{
    fs::path keep = image_dir / "keep" / name;
    if (name.empty() || name.find('/') != std::string::npos || !fs::exists(keep.string() + ".qcow2"))
        return Error(Error::Code::not_found, "no kept sandbox '" + name + "' in " + image_dir.string());
    int fd = ::open((keep.string() + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return errno_error("cannot open " + keep.string() + ".lock");
    bool busy = ::flock(fd, LOCK_EX | LOCK_NB) != 0;
    if (!busy) {
        std::error_code ignored;
        for (const char* suffix : {".qcow2", ".state", ".state.partial", ".ready", ".lock"})
            fs::remove(keep.string() + suffix, ignored);
    }
    ::close(fd);
    if (busy)
        return Error(Error::Code::conflict, "the kept sandbox '" + name + "' is in use by a run");
    return {};
}

} // namespace rote::runtime
