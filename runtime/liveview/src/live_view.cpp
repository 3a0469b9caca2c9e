#include <rote/liveview/live_view.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rote/base/files.h>
#include <rote/base/token.h>
#include <rote/base/log.h>
#include <rote/sandbox/process.h>

#include <nlohmann/json.hpp>

#include "teach_page.h"
#include "unix_listener.h"

namespace rote::runtime {

namespace {

constexpr const char* kNoVnc = "/usr/share/novnc";

Error io(std::string message) { return Error(Error::Code::io, std::move(message)); }

sockaddr_in loopback(int port)
{
    sockaddr_in addr {};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    return addr;
}

// A port on 127.0.0.1 nothing listens on now (the kernel's choice).
Result<int> free_port()
{
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return io(std::string("socket: ") + std::strerror(errno));
    sockaddr_in addr = loopback(0);
    socklen_t len = sizeof addr;
    const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0
        && ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
    ::close(fd);
    if (!ok)
        return io(std::string("cannot find a free port on 127.0.0.1: ") + std::strerror(errno));
    return static_cast<int>(ntohs(addr.sin_port));
}

bool accepts(int port)
{
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    const sockaddr_in addr = loopback(port);
    const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

std::string tail_of(const std::filesystem::path& file)
{
    std::ifstream in(file);
    std::string said((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return said.size() > 600 ? said.substr(said.size() - 600) : said;
}

// A directory websockify serves as the view's web root: noVNC's files (links to the package's) and teach.html.
Result<void> make_web_root(const std::filesystem::path& dir)
{
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    if (!std::filesystem::create_directory(dir, ec))
        return io("cannot create " + dir.string() + ": " + ec.message());
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
    for (const auto& entry : std::filesystem::directory_iterator(kNoVnc, ec)) {
        std::filesystem::create_symlink(entry.path(), dir / entry.path().filename(), ec);
        if (ec)
            return io("cannot link " + entry.path().string() + " into " + dir.string() + ": " + ec.message());
    }
    if (ec)
        return io(std::string("cannot list ") + kNoVnc + ": " + ec.message());
    return write_file_atomically(dir / "teach.html", detail::kTeachPage, 0644);
}

} // namespace

// The bar's channel: a unix socket (0600) that websockify connects the page's control WebSocket to. Each
// connection is told the bar (one JSON line) and may then say "done" or "cancel", a line each; anything
// else ends the connection. One thread serves every connection (at most 8 at once).
class LiveView::Control {
public:
    static Result<std::unique_ptr<Control>> start(const std::filesystem::path& path, ViewBar bar)
    {
        std::unique_ptr<Control> control(new Control());
        control->m_path = path;
        control->m_on_end = std::move(bar.on_end);
        nlohmann::json inputs = nlohmann::json::array();
        for (const ViewBar::Input& input : bar.inputs)
            inputs.push_back({{"name", input.name}, {"value", input.secret ? "" : input.value}, {"secret", input.secret}});
        control->m_greeting = nlohmann::json {{"task", bar.task}, {"inputs", inputs}}.dump(-1, ' ', false,
                                  nlohmann::json::error_handler_t::replace)
            + "\n";
        control->m_listener = ROTE_TRY(detail::listen_private_unix(path));
        if (::pipe2(control->m_stop, O_CLOEXEC) != 0)
            return io(std::string("cannot make the view's stop pipe: ") + std::strerror(errno));
        Control* raw = control.get();
        control->m_thread = std::thread([raw] { raw->serve(); });
        return control;
    }

    ~Control()
    {
        if (m_thread.joinable()) {
            (void)!::write(m_stop[1], "x", 1);
            m_thread.join();
        }
        for (const auto& [fd, _] : m_clients)
            ::close(fd);
        for (int fd : {m_listener, m_stop[0], m_stop[1]})
            if (fd >= 0)
                ::close(fd);
        ::unlink(m_path.c_str());
    }

private:
    Control() = default;

    void serve()
    {
        while (true) {
            std::vector<pollfd> fds {{m_stop[0], POLLIN, 0}, {m_listener, POLLIN, 0}};
            for (const auto& [fd, _] : m_clients)
                fds.push_back({fd, POLLIN, 0});
            if (::poll(fds.data(), fds.size(), -1) < 0) {
                if (errno == EINTR)
                    continue;
                return;
            }
            if (fds[0].revents)
                return;
            if (fds[1].revents & POLLIN) {
                const int client = ::accept4(m_listener, nullptr, nullptr, SOCK_CLOEXEC);
                if (client >= 0) {
                    if (m_clients.size() >= 8 || ::send(client, m_greeting.data(), m_greeting.size(), MSG_NOSIGNAL) < 0)
                        ::close(client);
                    else
                        m_clients[client] = {};
                }
            }
            for (std::size_t k = 2; k < fds.size(); ++k) {
                if (fds[k].revents && !read_from(fds[k].fd)) {
                    ::close(fds[k].fd);
                    m_clients.erase(fds[k].fd);
                }
            }
        }
    }

    // False when the connection is over (closed, or it said something the bar does not know).
    bool read_from(int fd)
    {
        char buffer[256];
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0)
            return false;
        std::string& pending = m_clients[fd];
        pending.append(buffer, static_cast<size_t>(n));
        for (size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
            const std::string line = pending.substr(0, nl);
            pending.erase(0, nl + 1);
            if (line != "done" && line != "cancel") {
                log().warn("live view: the page's control channel said something unknown; closing it");
                return false;
            }
            log().info("live view: the person pressed {} on the view's page", line == "done" ? "Done" : "Cancel");
            if (m_on_end)
                m_on_end(line == "done");
        }
        return pending.size() <= 64;
    }

    static spdlog::logger& log()
    {
        static auto logger = rote::logger("runtime.liveview");
        return *logger;
    }

    std::filesystem::path m_path;
    std::function<void(bool)> m_on_end;
    std::string m_greeting;
    int m_listener = -1;
    int m_stop[2] = {-1, -1};
    std::map<int, std::string> m_clients; // connection: what it sent after its last line
    std::thread m_thread;
};

Result<std::unique_ptr<LiveView>> LiveView::start(const LiveViewOptions& options)
{
    if (!std::filesystem::exists(std::string(kNoVnc) + "/vnc.html"))
        return Error(Error::Code::not_found, "noVNC is not installed (Debian package novnc)");
    static std::atomic<int> views {0};
    const std::string stem = options.name + ".view-" + std::to_string(::getpid()) + "-" + std::to_string(++views);
    std::unique_ptr<LiveView> view(new LiveView());
    view->m_control = options.mode == ViewMode::control;
    view->m_tokens = options.dir / (stem + ".tokens");
    view->m_socket = options.dir / (stem + ".sock");
    view->m_log = options.dir / (stem + ".log");
    view->m_port = options.port != 0 ? options.port : ROTE_TRY(free_port());
    const std::string token = ROTE_TRY(random_token());
    // websockify reaches the desktop through rote's relay, which frames every message the viewer sends: a
    // view-only view passes no input, whatever the viewer's page or another client sends with the token.
    view->m_relay = ROTE_TRY(RfbRelay::start(view->m_socket, options.target, options.mode, options.on_input));
    std::string tokens = token + ": unix_socket:" + view->m_socket.string() + "\n";
    const std::string origin = "http://127.0.0.1:" + std::to_string(view->m_port);
    std::string web = kNoVnc;
    if (options.bar && view->m_control) {
        const std::string control_token = ROTE_TRY(random_token());
        const std::filesystem::path control_socket = options.dir / (stem + ".control.sock");
        view->m_control_channel = ROTE_TRY(Control::start(control_socket, *options.bar));
        tokens += control_token + ": unix_socket:" + control_socket.string() + "\n";
        view->m_web = options.dir / (stem + ".web");
        ROTE_TRY(make_web_root(view->m_web));
        web = view->m_web.string();
        view->m_url = origin + "/teach.html#view=" + token + "&control=" + control_token;
    } else {
        view->m_url = origin + "/vnc.html?autoconnect=1&resize=scale&view_only=" + (view->m_control ? "0" : "1")
            + "&path=websockify%3Ftoken%3D" + token;
    }
    ROTE_TRY(write_file_atomically(view->m_tokens, tokens, 0600));
    // In a session (and process group) of its own: websockify forks a child per connection, each holding the
    // listening socket too, so the view is closed by killing the whole group. And killed with the thread that
    // started it (setpriv --pdeathsig, util-linux), should rote die without closing it.
    auto child = spawn_in_own_session({"setpriv", "--pdeathsig", "KILL", "websockify", "--web", web, "--token-plugin", "TokenFile", "--token-source",
                           view->m_tokens.string(), "--auth-plugin", "ExpectOrigin", "--auth-source", origin,
                           "127.0.0.1:" + std::to_string(view->m_port)},
        view->m_log);
    if (!child.ok())
        return Error(Error::Code::not_found, "cannot run websockify (Debian package websockify): " + child.error().message());
    view->m_child = *child;
    view->m_group = *child;
    // Ready once it accepts: a client told the URL connects at once.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!accepts(view->m_port)) {
        if (auto gone = view->exited())
            return io("websockify exited: " + *gone);
        if (std::chrono::steady_clock::now() > deadline)
            return Error(Error::Code::timeout, "websockify did not listen on 127.0.0.1:" + std::to_string(view->m_port) + " within 10 s");
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return view;
}

std::optional<std::string> LiveView::exited()
{
    if (m_child <= 0)
        return tail_of(m_log);
    int status = 0;
    if (::waitpid(m_child, &status, WNOHANG) != m_child)
        return std::nullopt;
    m_child = -1;
    return tail_of(m_log);
}

LiveView::~LiveView()
{
    if (m_group > 0)
        ::kill(-m_group, SIGKILL); // websockify and its connections' children (they may outlive it); no state kept
    if (m_child > 0)
        ::waitpid(m_child, nullptr, 0);
    m_relay.reset();
    m_control_channel.reset();
    std::error_code ec;
    if (!m_web.empty())
        std::filesystem::remove_all(m_web, ec);
    std::filesystem::remove(m_tokens, ec);
    std::filesystem::remove(m_log, ec);
    std::filesystem::remove(m_socket, ec);
}

} // namespace rote::runtime
