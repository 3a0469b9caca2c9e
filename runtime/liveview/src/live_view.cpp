#include <rote/liveview/live_view.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iterator>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rote/base/files.h>
#include <rote/base/token.h>
#include <rote/sandbox/process.h>

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

} // namespace

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
    ROTE_TRY(write_file_atomically(view->m_tokens, token + ": unix_socket:" + view->m_socket.string() + "\n", 0600));
    const std::string origin = "http://127.0.0.1:" + std::to_string(view->m_port);
    view->m_url = origin + "/vnc.html?autoconnect=1&resize=scale&view_only=" + (view->m_control ? "0" : "1")
        + "&path=websockify%3Ftoken%3D" + token;
    // In a session (and process group) of its own: websockify forks a child per connection, each holding the
    // listening socket too, so the view is closed by killing the whole group. And killed with the thread that
    // started it (setpriv --pdeathsig, util-linux), should rote die without closing it.
    auto child = spawn_in_own_session({"setpriv", "--pdeathsig", "KILL", "websockify", "--web", kNoVnc, "--token-plugin", "TokenFile", "--token-source",
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
    std::error_code ec;
    std::filesystem::remove(m_tokens, ec);
    std::filesystem::remove(m_log, ec);
    std::filesystem::remove(m_socket, ec);
}

} // namespace rote::runtime
