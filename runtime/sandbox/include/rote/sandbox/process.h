#pragma once

// Starting helper programs (bwrap, a supervisor, a test server). Children start with stdin from /dev/null,
// every signal at its default and none blocked, whatever the caller did (a supervisor blocks SIGTERM to wait
// for it; the VNC client ignores SIGPIPE), and with a minimal environment of their own: PATH (the system's
// directories), LANG=C.UTF-8, and only the caller's variables named in `pass_env`. Never the caller's
// whole environment: rote's holds API keys and ROTE_SECRET_* values, which no helper and no sandbox may
// see. Reaping them is the caller's job.

#include <filesystem>
#include <string>
#include <sys/types.h>
#include <vector>

#include <rote/base/result.h>

namespace rote::runtime {

// The environment a child gets: PATH, LANG, and the named variables of ours that are set.
std::vector<std::string> child_environment(const std::vector<std::string>& pass_env = {});

// Starts argv[0] (looked up in PATH) with stdout and stderr appended to `output`. `pass_fds` become the
// child's descriptors 3, 4, ... (e.g. files QEMU gets through -add-fd).
Result<pid_t> spawn(const std::vector<std::string>& argv, const std::filesystem::path& output,
    const std::vector<int>& pass_fds = {}, const std::vector<std::string>& pass_env = {});

// spawn, in a session of its own from before it executes (a signal to our process group never reaches it),
// no descriptors passed, no variables of ours.
Result<pid_t> spawn_in_own_session(const std::vector<std::string>& argv, const std::filesystem::path& output);

struct Spawned {
    pid_t pid = -1;
    std::string first_line; // without its newline; empty if the program closed stdout without one
};

// Starts argv[0] with stdout on a pipe, stderr inherited, and returns once it has printed its first line
// (a readiness report) or closed stdout. The program keeps running; later output goes nowhere.
Result<Spawned> spawn_and_read_line(const std::vector<std::string>& argv, const std::vector<std::string>& pass_env = {});

} // namespace rote::runtime
