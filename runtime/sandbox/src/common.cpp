#include "common.h"

#include <cerrno>
#include <cstdlib>
#include <limits>
#include <map>
#include <cstring>
#include <fstream>
#include <sstream>
#include <mutex>
#include <random>

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rote/sandbox/process.h>
#include <rote/sandbox/sandbox.h>

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

Result<std::pair<std::string, fs::path>> sandbox_place(const SandboxOptions& options)
{
    if (!options.proxy_socket.empty() && !fs::exists(options.proxy_socket))
        return Error(
            Error::Code::not_found, "egress proxy socket " + options.proxy_socket.string() + " does not exist");
    fs::path root = options.runtime_root;
    if (root.empty())
        root = ROTE_TRY(runtime_root());
    std::string id = random_sandbox_id();
    return std::pair {id, root / id};
}

Result<void> create_sandbox_dir(const fs::path& dir)
{
    if (::mkdir(dir.c_str(), 0700) != 0)
        return errno_error("cannot create " + dir.string());
    return {};
}

Result<SandboxUid> SandboxUid::claim()
{
    const fs::path dir = kSandboxUidLocks;
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
        return errno_error("cannot create " + dir.string());
    struct stat st { };
    if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid())
        return Error(Error::Code::conflict, dir.string() + " is not a directory of ours; refusing it");
    const int first = static_cast<int>(std::random_device {}() % kSandboxUids);
    for (int i = 0; i < kSandboxUids; ++i) {
        const int slot = (first + i) % kSandboxUids;
        const fs::path lock = dir / std::to_string(slot);
        const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
            return errno_error("cannot open " + lock.string());
        if (::flock(fd, LOCK_EX | LOCK_NB) == 0) {
            SandboxUid claimed;
            claimed.m_uid = kSandboxUidBase + static_cast<uid_t>(slot);
            claimed.m_lock = fd;
            return claimed;
        }
        ::close(fd);
    }
    return Error(Error::Code::conflict, "all " + std::to_string(kSandboxUids) + " sandbox uids are in use");
}

SandboxUid& SandboxUid::operator=(SandboxUid&& other) noexcept
{
    if (this != &other) {
        if (m_lock >= 0)
            ::close(m_lock);
        m_uid = std::exchange(other.m_uid, 0);
        m_lock = std::exchange(other.m_lock, -1);
    }
    return *this;
}

SandboxUid::~SandboxUid()
{
    if (m_lock >= 0)
        ::close(m_lock);
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

Result<pid_t> spawn_reaper(const std::vector<fs::path>& paths, uid_t kill_uid, const std::string& also)
{
    std::string first;
    // As the sandbox's uid, "kill -9 -1" reaches exactly that uid's processes (and not the killer itself).
    if (kill_uid != 0)
        first += "setpriv --reuid=" + std::to_string(kill_uid) + " --regid=" + std::to_string(kill_uid)
            + " --clear-groups kill -9 -1 2>/dev/null; ";
    first += also;
    // The reaper watches its parent rather than trusting a parent-death signal: that signal is armed only once
    // the child runs (setpriv's prctl), and one that arrives before the shell's trap is set kills the shell
    // without cleaning; a parent killed in either window would leave the sandbox behind (1 in 100 SIGKILLs of
    // a starting supervisor did). Reading /proc/$$/stat is a shell builtin: the watch costs one `sleep` a
    // half second. It runs in a session of its own, made before it executes (spawn_in_own_session), so
    // that a signal to rote's whole process group (a terminal's ^C, `kill -- -PGID`, a job runner's timeout)
    // does not take the reaper down with rote (1 in 3 such SIGKILLs left a directory and a group; with
    // `setsid sh`, 1 in about 33 still did: the group kill fell between the spawn's return and setsid).
    const std::string parent = std::to_string(::getpid());
    std::vector<std::string> reaper = {"sh", "-c",
        "clean() { " + first + "rm -rf -- \"$@\"; exit 0; }; trap 'kill $! 2>/dev/null; wait $!; clean \"$@\"' TERM; "
        "while read -r _ _ _ parent _ < /proc/$$/stat && [ \"$parent\" = " + parent + " ]; do sleep 0.5 & wait $!; done; "
        "clean \"$@\"",
        "reaper"};
    for (const fs::path& p : paths)
        reaper.push_back(p.string());
    return spawn_in_own_session(reaper, "/dev/null");
}

void finish_reaper(pid_t reaper)
{
    if (reaper <= 0)
        return;
    ::kill(reaper, SIGTERM); // its trap kills its `sleep` and removes the paths
    ::waitpid(reaper, nullptr, 0);
}

} // namespace rote::runtime::detail

namespace rote::runtime {

namespace fs = std::filesystem;
using detail::errno_error;

ProcessInfo process_info(pid_t pid)
{
    ProcessInfo info;
    info.pid = pid;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line))
        return info;
    // "pid (comm) state ppid ... starttime (22nd)": comm may hold spaces and parentheses.
    const size_t open = line.find('('), close = line.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close < open || close + 2 > line.size())
        return info;
    info.name = line.substr(open + 1, close - open - 1);
    std::istringstream fields(line.substr(close + 2));
    std::string field;
    for (int i = 3; i <= 22 && fields >> field; ++i) {
        if (i == 3)
            info.running = field != "Z";
        else if (i == 4)
            info.parent = static_cast<pid_t>(std::strtol(field.c_str(), nullptr, 10));
        else if (i == 22)
            info.start = std::strtoull(field.c_str(), nullptr, 10);
    }
    return info;
}

std::vector<pid_t> process_tree(pid_t root)
{
    std::multimap<pid_t, pid_t> children;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator("/proc", ec)) {
        const std::string name = entry.path().filename();
        if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0])))
            continue;
        const pid_t pid = static_cast<pid_t>(std::stol(name));
        const ProcessInfo info = process_info(pid);
        if (!info.name.empty())
            children.emplace(info.parent, pid);
    }
    std::vector<pid_t> tree;
    if (::kill(root, 0) == 0 || errno == EPERM)
        tree.push_back(root);
    for (size_t i = 0; i < tree.size(); ++i) {
        auto [begin, end] = children.equal_range(tree[i]);
        for (auto it = begin; it != end; ++it)
            tree.push_back(it->second);
    }
    return tree;
}

bool process_running(pid_t pid) { return process_info(pid).running; }

DesktopOptions desktop_options_for(std::string_view provider)
{
    DesktopOptions options;
    if (provider == "qemu")
        options.key_delay = std::chrono::milliseconds(25);
    return options;
}

std::string chromium_policy()
{
    // Policy names from Chromium's policy list; a run that logs in, or lands on a page in another language,
    // must see the page and nothing over it.
    return R"({
  "BrowserNetworkTimeQueriesEnabled": false,
  "ComponentUpdatesEnabled": false,
  "SafeBrowsingProtectionLevel": 0,
  "MetricsReportingEnabled": false,
  "UrlKeyedAnonymizedDataCollectionEnabled": false,
  "SpellCheckServiceEnabled": false,
  "SearchSuggestEnabled": false,
  "BackgroundModeEnabled": false,
  "PromotionalTabsEnabled": false,
  "PasswordManagerEnabled": false,
  "TranslateEnabled": false,
  "DefaultNotificationsSetting": 2,
  "AutofillAddressEnabled": false,
  "AutofillCreditCardEnabled": false,
  "CommandLineFlagSecurityWarningsEnabled": false
}
)";
}

std::string chromium_flags()
{
    // The flags close every connection Chromium makes on its own (the proxy would refuse them anyway) and
    // keep the process count down. Some services call out whatever the switches and the policy say: the
    // component updater (an on-demand component, appid ceofaddefefcbblgcgnibnonglccbfja, at every start), Google's
    // account check (accounts.google.com) and the messaging check-in (android.clients.google.com), the last two
    // not at every start (a CI run saw both from the guest's Chromium, under a DevTools pipe too). Their endpoints are sent to a name under
    // .invalid, which never resolves and which every launcher keeps off the proxy (--proxy-bypass-list), so
    // the request ends inside the sandbox, where there is no network. Chromium shows an "unsupported flag" bar
    // over the page for --gaia-url unless the policy turns its flag warnings off (chromium_policy does).
    const std::string nowhere = std::string("http://") + kNowhereHost;
    return "--component-updater=url-source=" + nowhere + "/ --gaia-url=" + nowhere + "/ --google-apis-url="
        + nowhere + "/ --gcm-checkin-url=" + nowhere + "/checkin --gcm-registration-url=" + nowhere
        + "/register --gcm-mcs-endpoint=" + nowhere + ":5228"
        + " --no-first-run --no-default-browser-check"
           " --disable-background-networking --disable-component-update --disable-sync --disable-breakpad"
           " --disable-default-apps --disable-extensions --disable-session-crashed-bubble --password-store=basic"
           " --disable-gpu --in-process-gpu --no-pings --media-router=0 --lang=en-US"
           " --disable-features=Translate,MediaRouter,OptimizationHints,SpareRendererForSitePerProcess,"
           "IsolateOrigins,site-per-process,PreloadTopChromeWebUI --enable-features=NetworkServiceInProcess2"
           " --renderer-process-limit=1";
}

Result<fs::path> runtime_root()
{
    fs::path root;
    if (const char* dir = std::getenv("ROTE_RUNTIME_DIR"); dir && *dir)
        root = dir;
    else if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && *xdg)
        root = fs::path(xdg) / "rote";
    else
        root = "/tmp/rote-" + std::to_string(::geteuid());
    if (::mkdir(root.c_str(), 0711) != 0 && errno != EEXIST)
        return errno_error("cannot create " + root.string());
    struct stat st { };
    if (::lstat(root.c_str(), &st) != 0)
        return errno_error("cannot stat " + root.string());
    if (!S_ISDIR(st.st_mode) || st.st_uid != ::geteuid())
        return Error(
            Error::Code::conflict, root.string() + " is not a directory of ours (a planted link?); refusing it");
    ::chmod(root.c_str(), 0711);
    return root;
}

std::uint64_t pss_bytes(const std::vector<pid_t>& pids)
{
    std::uint64_t total = 0;
    for (pid_t pid : pids) {
        std::ifstream in("/proc/" + std::to_string(pid) + "/smaps_rollup");
        std::string key;
        std::uint64_t kb = 0;
        while (in >> key) {
            if (key == "Pss:" && in >> kb) {
                total += kb * 1024;
                break;
            }
            in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
        }
    }
    return total;
}

} // namespace rote::runtime
