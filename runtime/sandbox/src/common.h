#pragma once

// What both sandbox providers share (so neither includes the other): ids, the sandbox directory, process
// checks, unix sockets, and the reaper that removes a sandbox's files if rote dies without destroying it.
// common.cpp also holds sandbox.h's provider-neutral functions (runtime_root, process_tree, chromium_flags).

#include <filesystem>
#include <string>
#include <utility>
#include <sys/types.h>
#include <vector>

#include <rote/base/result.h>

#include <rote/sandbox/sandbox.h>

namespace rote::runtime::detail {

// What every provider's sandbox holds: its id, its directory on the host, and its VNC socket in there.
class DirectorySandbox : public Sandbox {
public:
    DirectorySandbox(std::string id, std::filesystem::path dir)
        : m_id(std::move(id))
        , m_dir(std::move(dir))
    {
        m_vnc.unix_path = (m_dir / "vnc.sock").string();
    }
    const std::string& id() const override { return m_id; }
    const VncEndpoint& vnc() const override { return m_vnc; }
    const std::filesystem::path& directory() const override { return m_dir; }

protected:
    // Removes the cleanup paths and the directory (after the processes are gone); the directory's error.
    std::error_code remove_files()
    {
        std::error_code ec;
        for (const std::filesystem::path& p : m_cleanup) {
            std::error_code ignored;
            std::filesystem::remove_all(p, ignored);
        }
        std::filesystem::remove_all(m_dir, ec);
        return ec;
    }

    std::string m_id;
    std::filesystem::path m_dir;
    VncEndpoint m_vnc;
    std::vector<std::filesystem::path> m_cleanup; // more paths that go with the sandbox
};

// A host uid for one sandbox that no other live sandbox has (kSandboxUidBase + a slot): the slot's lock file
// in kSandboxUidLocks (one directory for the whole host, whatever runtime directory each rote uses), held
// with flock for the sandbox's life. The kernel releases it when its holder dies, so a crashed rote frees its
// slots; the search starts at a random slot, so a uid is seldom reused soon after. Move-only; the slot is free
// again when this is destroyed, so destroy it only once the sandbox's processes are gone.
class SandboxUid {
public:
    SandboxUid() = default; // none: rote is not root, and sandboxes run as rote's user
    // Claims a free slot (rote must be root).
    static Result<SandboxUid> claim();
    SandboxUid(SandboxUid&& other) noexcept
        : m_uid(std::exchange(other.m_uid, 0))
        , m_lock(std::exchange(other.m_lock, -1))
    {
    }
    SandboxUid& operator=(SandboxUid&& other) noexcept;
    SandboxUid(const SandboxUid&) = delete;
    SandboxUid& operator=(const SandboxUid&) = delete;
    ~SandboxUid();
    // 0 when none was claimed.
    uid_t uid() const { return m_uid; }

private:
    uid_t m_uid = 0;
    int m_lock = -1;
};

// "sbx-" and eight random hex digits.
std::string random_sandbox_id();
// Checks the proxy socket and picks a new sandbox's id and directory in options.runtime_root (default:
// runtime_root()); nothing is made yet (a reaper can be started for the path first).
Result<std::pair<std::string, std::filesystem::path>> sandbox_place(const SandboxOptions& options);
// Makes a sandbox's directory (0700); an error if it exists.
Result<void> create_sandbox_dir(const std::filesystem::path& dir);
Error errno_error(const std::string& what);
// True once `pid` (our child) has exited; reaps it.
bool reaped(pid_t pid);
// Reaps `pid` if it is a zombie child of ours; true once it is gone.
bool gone(pid_t pid);
// The last `bytes` of a log file, for an error message.
std::string tail_of(const std::filesystem::path& file, size_t bytes = 1500);
// True once a server listens on the unix socket at `path` (the file appears a moment before it listens).
bool accepts_connections(const std::string& path);
// Our own children are reaped by us, and so are orphans from our sandboxes: the supervisor is a subreaper,
// so that a killed child's own children do not linger as zombies of whatever init the host has.
void become_subreaper();
// A small process that removes `paths` when it gets SIGTERM or, within half a second, once the calling process
// is no longer its parent (it died, whenever that was).
// With `kill_uid` (a uid only a sandbox has, never 0), every process of that uid is killed first. `also` is a
// shell fragment run after that and before the paths go ("$1" is the first path; Cgroup::reaper_script: the
// sandbox's control group emptied and removed; QEMU killed by its pid file).
Result<pid_t> spawn_reaper(const std::vector<std::filesystem::path>& paths, uid_t kill_uid = 0, const std::string& also = {});
// SIGTERM to a reaper started by spawn_reaper, and waits for it to have removed its paths.
void finish_reaper(pid_t reaper);

} // namespace rote::runtime::detail
