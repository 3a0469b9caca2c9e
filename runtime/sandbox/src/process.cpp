#include <rote/sandbox/process.h>

#include <cstdlib>
#include <cstring>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

namespace rote::runtime {

namespace {

// posix_spawnp with default signals, the given file actions and a child's environment; the actions are
// destroyed here.
Result<pid_t> start(const std::vector<std::string>& argv, posix_spawn_file_actions_t& actions,
    const std::vector<std::string>& pass_env, short flags = 0)
{
    std::vector<char*> args;
    for (const std::string& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const std::vector<std::string> environment = child_environment(pass_env);
    std::vector<char*> env;
    for (const std::string& e : environment)
        env.push_back(const_cast<char*>(e.c_str()));
    env.push_back(nullptr);
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    sigset_t none;
    sigemptyset(&none);
    sigset_t all;
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attributes, &none);
    posix_spawnattr_setsigdefault(&attributes, &all);
    posix_spawnattr_setflags(&attributes, static_cast<short>(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | flags));
    pid_t pid = 0;
    // posix_spawnp looks argv[0] up in our PATH, before the child's environment applies.
    int rc = posix_spawnp(&pid, args[0], &actions, &attributes, args.data(), env.data());
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
        return Error(Error::Code::io, "cannot start " + argv[0] + ": " + std::strerror(rc));
    return pid;
}

} // namespace

std::vector<std::string> child_environment(const std::vector<std::string>& pass_env)
{
    std::vector<std::string> out = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"};
    for (const std::string& name : pass_env) {
        if (const char* value = std::getenv(name.c_str()))
            out.push_back(name + "=" + value);
    }
    return out;
}

// Actions for stdin from /dev/null and stdout and stderr appended to `output`.
static void output_actions(posix_spawn_file_actions_t& actions, const std::filesystem::path& output)
{
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, output.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
}

Result<pid_t> spawn_in_own_session(const std::vector<std::string>& argv, const std::filesystem::path& output)
{
    posix_spawn_file_actions_t actions;
    output_actions(actions, output);
    return start(argv, actions, {}, POSIX_SPAWN_SETSID);
}

Result<pid_t> spawn(const std::vector<std::string>& argv, const std::filesystem::path& output,
    const std::vector<int>& pass_fds, const std::vector<std::string>& pass_env)
{
    // The copies go to 3, 4, ...: a source among those numbers would be overwritten before it is copied.
    for (int fd : pass_fds) {
        if (fd < 3 + static_cast<int>(pass_fds.size()))
            return Error(Error::Code::invalid_argument, "spawn: descriptor " + std::to_string(fd) + " is too low to pass");
    }
    posix_spawn_file_actions_t actions;
    output_actions(actions, output);
    for (size_t i = 0; i < pass_fds.size(); ++i)
        posix_spawn_file_actions_adddup2(&actions, pass_fds[i], 3 + static_cast<int>(i)); // the copy stays open
    return start(argv, actions, pass_env);
}

Result<Spawned> spawn_and_read_line(const std::vector<std::string>& argv, const std::vector<std::string>& pass_env)
{
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0)
        return Error(Error::Code::io, std::string("pipe: ") + std::strerror(errno));
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    auto pid = start(argv, actions, pass_env);
    ::close(out[1]);
    if (!pid) {
        ::close(out[0]);
        return pid.release_error();
    }
    Spawned spawned {*pid, {}};
    char c;
    while (::read(out[0], &c, 1) == 1 && c != '\n')
        spawned.first_line += c;
    ::close(out[0]);
    return spawned;
}

} // namespace rote::runtime
