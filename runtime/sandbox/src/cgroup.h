#pragma once

// A sandbox's resource limits, enforced by the kernel's control groups (docs/security.md, "resources"): its
// memory (tmpfs pages written inside it included), its number of tasks (processes and threads) and its share
// of the CPU. cgroup v2 where the unified hierarchy has the memory and pids controllers; otherwise cgroup v1's
// memory, pids and cpu hierarchies (a hybrid host, such as this project's machines). Where neither can be
// made (rote not root, no writable cgroup file system, controllers not delegated to a container), the host is
// told once and sandboxes run without them: the bounded memory file systems still hold.

#include <filesystem>
#include <string>
#include <vector>

#include <rote/base/result.h>
#include <rote/sandbox/sandbox.h>

namespace rote::runtime::detail {

class Cgroup {
public:
    // The control group(s) of sandbox `id` below rote's own ("rote/<id>" in each hierarchy), named but not made
    // yet (so that a reaper can be told them before anything exists). Inactive when this host cannot make them
    // (logged once per process).
    static Cgroup named(const std::string& id);
    // Makes the named groups with `limits`; an error when a step fails (what was made is removed by remove()).
    Result<void> create(const ResourceLimits& limits);

    Cgroup() = default;
    Cgroup(const Cgroup&) = delete;
    Cgroup& operator=(const Cgroup&) = delete;
    Cgroup(Cgroup&& other) noexcept;
    Cgroup& operator=(Cgroup&& other) noexcept;
    // Kills what is left in it and removes it.
    ~Cgroup() { remove(); }

    bool active() const { return !m_dirs.empty(); }
    // "v2" or "v1"; empty when inactive.
    const std::string& version() const { return m_version; }
    // The group's directories, one per hierarchy (v2: one).
    const std::vector<std::filesystem::path>& dirs() const { return m_dirs; }
    // Put before a command line: the command enters the group before it executes, so everything it starts is
    // in the group from its first instruction (no window between a spawn and a move). Empty when inactive.
    std::vector<std::string> join_prefix() const;
    // A shell fragment for the reaper: kills every process in the group and removes it (rote died first).
    std::string reaper_script() const;
    // Kills every process in the group and removes its directories (those made); waits up to 5 s. Idempotent.
    void remove();

private:
    std::string m_version;
    std::vector<std::filesystem::path> m_dirs;
};

} // namespace rote::runtime::detail
