#pragma once

// The qemu provider (design.md, "Sandboxes"): a Debian guest image rote builds itself, restored from a saved
// "ready" state (a booted desktop with Chromium on a waiting page) instead of booted, and driven over QEMU's
// own VNC server like any other sandbox.
//
// An image is a directory:
//   cache/          the .deb files debootstrap fetched (a rerun fetches nothing again)
//   rootfs/         the guest's file tree (rootfs.partial/ while debootstrap runs)
//   vmlinuz, initrd.img, root.img   Debian's kernel and initrd, and the tree as a raw ext4 image (read-only)
//   ready/KEY.qcow2, ready/KEY.state   a ready state: its disk (over root.img) and its memory and devices,
//                   one per accelerator, screen size and window kind (KEY = tcg-1280x800-app)
//   keep/NAME.qcow2, keep/NAME.state   a kept sandbox, suspended between runs
//   image.json      written last: what was built, and when

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <rote/base/result.h>
#include <rote/sandbox/sandbox.h>

namespace rote::runtime {

using Progress = std::function<void(const std::string&)>;

// rote_home()/images, and the image used when none is named: images_root()/debian12.
Result<std::filesystem::path> images_root();
Result<std::filesystem::path> default_image_dir();

struct ImageBuildOptions {
    std::filesystem::path dir; // empty: default_image_dir()
    // The Debian mirror debootstrap fetches from; empty: the host's apt source for bookworm, else
    // http://deb.debian.org/debian.
    std::string mirror;
    // The ready state made at the end, so the first run needs none (others are made on first use).
    int width = 1280;
    int height = 800;
    BrowserWindow window = BrowserWindow::app;
    Progress progress; // one line a step; long steps report every few seconds
};

// Builds (or finishes building) the image in options.dir: every step whose result exists is skipped, so an
// interrupted build reruns from where it stopped. Needs root (debootstrap, files owned by the guest's users).
Result<void> build_image(const ImageBuildOptions& options);

struct ImageInfo {
    std::filesystem::path dir;
    bool complete = false; // image.json exists: root.img, kernel and initrd are there
    std::uint64_t bytes = 0; // disk space used by the whole directory
    std::string built; // ISO 8601 time of the build, from image.json
    std::string kernel; // the guest kernel's version
    // A digest of the files rote put into the guest (its init, agent, session, Chromium's flags and policy)
    // and whether they are this rote's: an image built by another version is rebuilt, never run.
    std::string guest_files;
    bool current = false;
    std::vector<std::string> ready; // ready state keys
    std::vector<std::string> kept; // kept sandboxes
};

Result<ImageInfo> image_info(const std::filesystem::path& dir);
// Every directory in images_root() that looks like an image (built or half built).
Result<std::vector<ImageInfo>> list_images();
// Removes an image (refused, naming the sandbox, while a sandbox uses it).
Result<void> remove_image(const std::filesystem::path& dir);
// Removes a kept sandbox's disk and saved state (refused while a run uses it).
Result<void> remove_kept(const std::filesystem::path& image_dir, const std::string& name);

enum class Accelerator { kvm, tcg };
std::string_view to_string(Accelerator accelerator);

struct AcceleratorChoice {
    Accelerator accelerator = Accelerator::tcg;
    std::string reason; // "KVM booted a kernel in 1.2 s", "/dev/kvm: Permission denied", ...
};

// KVM when /dev/kvm opens and boots the image's kernel to its first panic within a time limit (KVM can be
// present and hang, as nested under some hypervisors), TCG otherwise. The answer is cached per host boot
// in the runtime root. $ROTE_QEMU_ACCEL=kvm|tcg decides without a probe.
AcceleratorChoice choose_accelerator(const std::filesystem::path& image_dir);

// Makes the ready state for this accelerator, size and window kind if it does not exist yet: boots the
// image, waits for Chromium's waiting page, saves the machine. Takes a minute or two under TCG.
Result<std::string> ensure_ready_state(const std::filesystem::path& image_dir, Accelerator accelerator, int width,
    int height, BrowserWindow window, const Progress& progress);

struct ColdBoot {
    double first_frame_s = 0; // QEMU's start to the browser's first frame on the desktop
    double waiting_page_s = 0; // to Chromium's first paint of its waiting page
};

// Boots a throw-away VM from the image's root.img with no saved state, and times it: what every start would
// cost without ready states (for bench/qemu_bench).
Result<ColdBoot> measure_cold_boot(
    const std::filesystem::path& image_dir, Accelerator accelerator, int width, int height, BrowserWindow window);

// Starts a VM from a ready state (options.keep: from the kept sandbox's own saved state, if it has one).
// The browser shows a waiting page until the egress proxy behind options.proxy_socket answers for
// start.rote.invalid, which sends it to the start URL (EgressProxyOptions::start_url).
Result<std::unique_ptr<Sandbox>> start_qemu_sandbox(const SandboxOptions& options);

struct GuestOutput {
    int status = 0;
    std::string output; // stdout and stderr, at most 64 KiB
};

// Runs a shell command in a qemu sandbox's guest as its user (through the guest agent, not over the
// network). Error::Code::unsupported for other providers.
Result<GuestOutput> guest_run(Sandbox& sandbox, std::string_view command,
    std::chrono::milliseconds timeout = std::chrono::milliseconds(30000));

} // namespace rote::runtime
