#pragma once

// What the runtime's integration tests share: the demo sites as a real process, and reading the screen.

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
#include <thread>
#include <sys/types.h>

#include <opencv2/core.hpp>

#include <rote/base/geometry.h>
#include <rote/base/result.h>
#include <rote/desktop/desktop.h>
#include <rote/session/session.h>

namespace rote::test {

// rote-demo-site on loopback ports of its choosing, killed on destruction.
class DemoSite {
public:
    static Result<DemoSite> start(std::string_view variant = "baseline", std::vector<std::string> options = {});
    DemoSite(DemoSite&& other) noexcept;
    DemoSite& operator=(DemoSite&&) = delete;
    ~DemoSite();

    int registry_port = 0;
    int crm_port = 0;
    std::string registry_route() const { return "127.0.0.1:" + std::to_string(registry_port); }
    std::string crm_route() const { return "127.0.0.1:" + std::to_string(crm_port); }

private:
    DemoSite() = default;
    pid_t m_pid = -1;
};

// A TCP listener on host loopback that counts the connections it is offered (a sandbox must reach none).
class CountingListener {
public:
    CountingListener();
    ~CountingListener();
    CountingListener(const CountingListener&) = delete;
    CountingListener& operator=(const CountingListener&) = delete;
    int port = 0;
    std::atomic<int> accepted = 0;

private:
    int m_fd = -1;
    std::atomic<bool> m_stop = false;
    std::thread m_thread;
};

// Where `phrase` (one or more words, case and punctuation ignored) is on the screen, by full-screen OCR of the
// words read with at least `min_confidence`; its `occurrence`-th place in reading order (0: the first).
std::optional<Rect> find_text(
    const cv::Mat& screen, std::string_view phrase, float min_confidence = 30, int occurrence = 0);

// Polls the desktop until `phrase` is on screen; the screen it was found on, or the last one and nullopt.
struct Sighting {
    std::optional<Rect> where;
    cv::Mat screen;
};
Sighting wait_for_text(runtime::Desktop& desktop, std::string_view phrase, std::chrono::milliseconds timeout);
// The same for any eyes: `look` gives the screen as a person sees it (a live view's page in a browser).
Sighting wait_for_text(
    const std::function<Result<cv::Mat>()>& look, std::string_view phrase, std::chrono::milliseconds timeout);

// The sandbox's display among `pids`: the Xvnc whose parent is not Xvnc (Xvnc forks to run xkbcomp, and the
// child is named Xvnc until it execs); 0 when there is none.
pid_t display_of(const std::vector<pid_t>& pids);

// Runs a shell command; its exit status (-1 if it did not exit) and standard output.
struct ShellRun {
    int status = -1;
    std::string out;
};
ShellRun run_shell(const std::string& command);

// A plain HTTP GET over loopback TCP; the body, or an error.
Result<std::string> http_get(int port, const std::string& path);

// A TCP port on 127.0.0.1 free a moment ago (-1 if none), and whether something accepts connections on one.
int free_loopback_port();
bool accepts(int port);

// PHP's built-in server on 127.0.0.1, serving page.php (an <h1>Conformance page</h1>) and style.php (its
// render-blocking stylesheet: background rgb(255, 236, 150)), both close-delimited: no Content-Length, no
// chunks, the body ends with the connection. Killed on destruction.
class ClosedPages {
public:
    ClosedPages();
    ~ClosedPages();
    ClosedPages(const ClosedPages&) = delete;
    ClosedPages& operator=(const ClosedPages&) = delete;
    // Writes the two pages into `docroot` (for a server of the caller's own).
    static void write(const std::filesystem::path& docroot);
    // What is wrong with a sandbox's showing of page.php ("" when nothing): the screen it was seen on
    // must have the stylesheet's background, and the proxy must have logged style.php served whole,
    // close-delimited.
    static std::string problems(const cv::Mat& screen, const std::vector<runtime::ProxyRequest>& requests);
    int port = -1;

private:
    std::filesystem::path m_dir;
    pid_t m_pid = -1;
};

// Opens a websocket on loopback (binary subprotocol) and returns the payload of the first frame it receives
// (unmasked, under 126 bytes: a VNC server's version greeting), or "" on failure.
std::string websocket_greeting(int port, const std::string& path, const std::string& extra_headers = "");
// The same on a connection already made (to an egress proxy, say): the upgrade for `target` (a path, or an
// absolute URL for a proxy) with Host `host`, after `preamble` (a CONNECT, whose "200" answer is read first).
// Closes `fd`.
std::string websocket_greeting_on(int fd, const std::string& target, const std::string& host, const std::string& preamble = "",
    const std::string& extra_headers = "");

// The real uid of a host process, from its status file; -1 when it is gone.
long uid_of(pid_t pid);

// The directory of `pid`'s control group that holds `controller`'s files (memory, pids, cpu), from the kernel's
// /proc/PID/cgroup: cgroup v1's hierarchy for it (mounted at /sys/fs/cgroup/NAME), or the unified one at
// /sys/fs/cgroup. Empty when neither is there.
std::filesystem::path cgroup_of(pid_t pid, const std::string& controller);

// A file's bytes, whole ("" if it cannot be read).
std::string read_file(const std::filesystem::path& path);

// Sends `request` on a fresh connection to an egress proxy's unix socket, as a sandbox's forwarder does, and
// returns everything it answers until it closes (or 10 s pass).
std::string ask_proxy(const std::filesystem::path& socket_path, const std::string& request);

// A local sandbox on the demo registry's start page, through its own proxy; with `wait_for_page`, returned once
// the page shows on its desktop.
Result<std::unique_ptr<runtime::Session>> start_registry_session(const DemoSite& site, bool wait_for_page = true);

// Canary values in this process's environment (an Anthropic and an OpenAI key, a workflow secret), for tests
// that prove no host secret reaches a sandbox, a helper, a file or a log.
void plant_canaries();
// The names of the canaries whose values `text` contains.
std::vector<std::string> canaries_in(const std::string& text);
// Every process below this one whose environment holds a canary, as "PID (comm): NAME".
std::vector<std::string> processes_holding_canaries();

} // namespace rote::test
