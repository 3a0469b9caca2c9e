#include "sandbox_util.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <random>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rote/runtime/process.h>
#include <rote/runtime/sandbox.h>

namespace rote::runtime::detail {

namespace fs = std::filesystem;

std::string random_sandbox_id()
{
    std::random_device random;
    static constexpr char hex[] = "0123456789abcdef";
    std::string id = "sbx-";
    for (int i = 0; i < 8; ++i)
        id += hex[random() % 16];
    return id;
}

Result<std::pair<std::string, fs::path>> make_sandbox_dir(const SandboxOptions& options)
{
    if (!options.proxy_socket.empty() && !fs::exists(options.proxy_socket))
        return Error(
            Error::Code::not_found, "egress proxy socket " + options.proxy_socket.string() + " does not exist");
    fs::path root = options.runtime_root;
    if (root.empty())
        root = ROTE_TRY(runtime_root());
    std::string id = random_sandbox_id();
    fs::path dir = root / id;
    if (::mkdir(dir.c_str(), 0700) != 0)
        return errno_error("cannot create " + dir.string());
    return std::pair {id, dir};
}

Error errno_error(const std::string& what) { return Error(Error::Code::io, what + ": " + std::strerror(errno)); }

bool reaped(pid_t pid)
{
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    return r == pid || (r < 0 && errno == ECHILD);
}

bool gone(pid_t pid)
{
    ::waitpid(pid, nullptr, WNOHANG);
    return !process_running(pid);
}

std::string tail_of(const fs::path& file, size_t bytes)
{
    std::ifstream in(file, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (text.size() > bytes)
        text = "..." + text.substr(text.size() - bytes);
    return text;
}

bool accepts_connections(const std::string& path)
{
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address {};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    ::close(fd);
    return ok;
}

void become_subreaper()
{
    static std::once_flag once;
    std::call_once(once, [] { ::prctl(PR_SET_CHILD_SUBREAPER, 1); });
}

Result<pid_t> spawn_reaper(const std::vector<fs::path>& paths, pid_t kill_first)
{
    std::string first = kill_first > 0 ? "kill -9 " + std::to_string(kill_first) + " 2>/dev/null; " : "";
    std::vector<std::string> reaper = {"setpriv", "--pdeathsig", "TERM", "--", "sh", "-c",
        "trap '" + first + "kill $! 2>/dev/null; wait $!; rm -rf -- \"$@\"; exit 0' TERM; "
        "while :; do sleep 3600 & wait $!; done",
        "reaper"};
    for (const fs::path& p : paths)
        reaper.push_back(p.string());
    return spawn(reaper, "/dev/null");
}

void finish_reaper(pid_t reaper)
{
    if (reaper <= 0)
        return;
    ::kill(reaper, SIGTERM); // its trap kills its `sleep` and removes the paths
    ::waitpid(reaper, nullptr, 0);
}

} // namespace rote::runtime::detail
