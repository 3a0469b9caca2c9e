#include <rote/liveview/rfb_relay.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <list>
#include <mutex>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <rote/base/log.h>

#include "unix_listener.h"

namespace rote::runtime {

namespace {

spdlog::logger& log()
{
    static auto logger = rote::logger("runtime.liveview");
    return *logger;
}

std::uint32_t u32_at(std::string_view b, size_t at)
{
    return (std::uint32_t(std::uint8_t(b[at])) << 24) | (std::uint32_t(std::uint8_t(b[at + 1])) << 16)
        | (std::uint32_t(std::uint8_t(b[at + 2])) << 8) | std::uint32_t(std::uint8_t(b[at + 3]));
}
std::uint16_t u16_at(std::string_view b, size_t at)
{
    return static_cast<std::uint16_t>((std::uint8_t(b[at]) << 8) | std::uint8_t(b[at + 1]));
}

// A clipboard larger than this is no person's paste; refusing it bounds what one message can make us hold.
constexpr std::uint32_t kMaxCutText = 16u << 20;

// The size of the message at the front of `b` (which holds at least its type byte), its kind, or 0 when more
// bytes are needed to know; an error for what no client of rote's views sends.
struct Framing {
    size_t size = 0;
    RfbClientMessageKind kind = RfbClientMessageKind::handshake;
};

Result<Framing> frame(std::string_view b)
{
    using K = RfbClientMessageKind;
    const auto type = std::uint8_t(b[0]);
    switch (type) {
    case 0: return Framing {20, K::set_pixel_format};
    case 2: return b.size() < 4 ? Framing {} : Framing {4 + 4 * size_t(u16_at(b, 2)), K::set_encodings};
    case 3: return Framing {10, K::update_request};
    case 4: return Framing {8, K::key};
    case 5: return Framing {6, K::pointer};
    case 6: {
        if (b.size() < 8)
            return Framing {};
        // Negative: the extended clipboard's form, its length the absolute value.
        const auto length = static_cast<std::int32_t>(u32_at(b, 4));
        const std::uint32_t bytes = length < 0 ? std::uint32_t(-std::int64_t(length)) : std::uint32_t(length);
        if (bytes > kMaxCutText)
            return Error(Error::Code::invalid_argument, "the viewer sent a clipboard of " + std::to_string(bytes) + " bytes");
        return Framing {8 + size_t(bytes), K::cut_text};
    }
    case 150: return Framing {10, K::continuous_updates};
    case 248: return b.size() < 9 ? Framing {} : Framing {9 + size_t(std::uint8_t(b[8])), K::fence};
    case 250: return Framing {4, K::xvp};
    case 251: return b.size() < 8 ? Framing {} : Framing {8 + 16 * size_t(std::uint8_t(b[6])), K::set_desktop_size};
    case 255: {
        if (b.size() < 2)
            return Framing {};
        if (b[1] == 0)
            return Framing {12, K::qemu_key};
        if (b[1] == 1) { // audio: enable, disable, or set the format (6 bytes more)
            if (b.size() < 4)
                return Framing {};
            return Framing {u16_at(b, 2) == 2 ? size_t(10) : size_t(4), K::qemu_audio};
        }
        return Error(Error::Code::invalid_argument, "the viewer sent an unknown QEMU message (" + std::to_string(std::uint8_t(b[1])) + ")");
    }
    default:
        return Error(Error::Code::invalid_argument, "the viewer sent an RFB message of unknown type " + std::to_string(type));
    }
}

} // namespace

bool acts_on_desktop(RfbClientMessageKind kind)
{
    using K = RfbClientMessageKind;
    switch (kind) {
    case K::handshake:
    case K::set_pixel_format:
    case K::set_encodings:
    case K::update_request:
    case K::continuous_updates:
    case K::fence:
        return false;
    case K::key:
    case K::pointer:
    case K::cut_text:
    case K::qemu_key:
    case K::qemu_audio:
    case K::set_desktop_size:
    case K::xvp:
        return true;
    }
    return true;
}

Result<std::vector<RfbClientMessage>> RfbClientStream::feed(std::string_view bytes)
{
    m_pending.append(bytes);
    std::vector<RfbClientMessage> out;
    size_t at = 0;
    auto take = [&](size_t n, RfbClientMessageKind kind) {
        out.push_back({kind, m_pending.substr(at, n)});
        at += n;
    };
    while (at < m_pending.size()) {
        const std::string_view rest = std::string_view(m_pending).substr(at);
        if (m_phase == Phase::version) {
            if (rest.size() < 12)
                break;
            // "RFB 003.008\n". A 3.3 client chooses no security type (the server names it).
            if (!rest.starts_with("RFB 003.") || rest[11] != '\n')
                return Error(Error::Code::invalid_argument, "the viewer did not open with an RFB protocol version");
            const bool v33 = rest.substr(8, 3) < "007";
            take(12, RfbClientMessageKind::handshake);
            m_phase = v33 ? Phase::client_init : Phase::security;
        } else if (m_phase == Phase::security) {
            // The desktop offers None only (its socket is reachable by rote alone); any other choice would be
            // followed by bytes this relay does not frame.
            if (rest[0] != 1)
                return Error(Error::Code::invalid_argument,
                    "the viewer chose security type " + std::to_string(std::uint8_t(rest[0])) + "; the view passes None only");
            take(1, RfbClientMessageKind::handshake);
            m_phase = Phase::client_init;
        } else if (m_phase == Phase::client_init) {
            take(1, RfbClientMessageKind::handshake);
            m_phase = Phase::messages;
        } else {
            const Framing f = ROTE_TRY(frame(rest));
            if (f.size == 0 || rest.size() < f.size)
                break;
            take(f.size, f.kind);
        }
    }
    m_pending.erase(0, at);
    return out;
}

std::optional<InputEvent> input_event_of(const RfbClientMessage& message, std::int64_t at_ms)
{
    const std::string_view b = message.bytes;
    InputEvent e;
    e.at_ms = at_ms;
    switch (message.kind) {
    case RfbClientMessageKind::key: // 4, down, 2 padding, keysym
        e.kind = InputEvent::Kind::key;
        e.down = b[1] != 0;
        e.keysym = u32_at(b, 4);
        return e;
    case RfbClientMessageKind::qemu_key: // 255, 0, down (u16), keysym, keycode
        e.kind = InputEvent::Kind::key;
        e.down = u16_at(b, 2) != 0;
        e.keysym = u32_at(b, 4);
        return e;
    case RfbClientMessageKind::pointer: // 5, button mask, x, y
        e.kind = InputEvent::Kind::pointer;
        e.buttons = std::uint8_t(b[1]);
        e.at = {u16_at(b, 2), u16_at(b, 4)};
        return e;
    default:
        return std::nullopt;
    }
}

struct RfbRelay::Impl {
    std::filesystem::path path;
    VncEndpoint target;
    ViewMode mode = ViewMode::view_only;
    InputObserver observer;
    // One epoch for every relay of the process: a person's input through two views (one closed, another
    // opened) stays in time order for the one HumanInput that follows it.
    static inline const std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
    int listener = -1;
    int stop_pipe[2] = {-1, -1};
    std::atomic<std::uint64_t> dropped {0};
    std::thread acceptor;

    struct Connection {
        int client = -1;
        int server = -1;
        std::thread to_server, to_client;
    };
    std::mutex mutex; // guards connections
    std::list<Connection> connections;
    bool stopping = false;

    // Copies the server's bytes to the client unchanged until either side ends.
    static void copy(int from, int to)
    {
        char buffer[65536];
        while (true) {
            const ssize_t n = ::recv(from, buffer, sizeof buffer, 0);
            if (n <= 0)
                break;
            ssize_t sent = 0;
            while (sent < n) {
                const ssize_t w = ::send(to, buffer + sent, size_t(n - sent), MSG_NOSIGNAL);
                if (w <= 0)
                    goto done;
                sent += w;
            }
        }
    done:
        ::shutdown(from, SHUT_RDWR);
        ::shutdown(to, SHUT_RDWR);
    }

    // Frames the client's messages and passes those the mode allows.
    void filter(int client, int server)
    {
        RfbClientStream stream;
        char buffer[65536];
        std::uint64_t dropped_here = 0;
        while (true) {
            const ssize_t n = ::recv(client, buffer, sizeof buffer, 0);
            if (n <= 0)
                break;
            auto messages = stream.feed(std::string_view(buffer, size_t(n)));
            if (!messages) {
                log().warn("live view: closing a viewer's connection: {}", messages.error().message());
                break;
            }
            std::string pass;
            const auto now = std::chrono::steady_clock::now();
            for (const RfbClientMessage& m : *messages) {
                if (mode == ViewMode::view_only && acts_on_desktop(m.kind)) {
                    ++dropped_here;
                    continue;
                }
                pass += m.bytes;
                if (observer) {
                    const auto at = std::chrono::duration_cast<std::chrono::milliseconds>(now - started).count();
                    if (auto e = input_event_of(m, at))
                        observer(*e);
                }
            }
            if (!pass.empty() && ::send(server, pass.data(), pass.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(pass.size()))
                break;
        }
        dropped += dropped_here;
        if (dropped_here)
            log().info("live view: {} input messages of a view-only viewer not passed on", dropped_here);
        ::shutdown(client, SHUT_RDWR);
        ::shutdown(server, SHUT_RDWR);
    }

    void accept_loop()
    {
        while (true) {
            pollfd fds[2] = {{listener, POLLIN, 0}, {stop_pipe[0], POLLIN, 0}};
            if (::poll(fds, 2, -1) < 0) {
                if (errno == EINTR)
                    continue;
                return;
            }
            if (fds[1].revents)
                return;
            const int client = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
            if (client < 0)
                continue;
            auto server = connect_vnc(target);
            if (!server) {
                log().warn("live view: {}", server.error().message());
                ::close(client);
                continue;
            }
            std::lock_guard lock(mutex);
            reap_finished();
            Connection& c = connections.emplace_back();
            c.client = client;
            c.server = *server;
            c.to_server = std::thread([this, client, s = *server] { filter(client, s); });
            c.to_client = std::thread([client, s = *server] { copy(s, client); });
        }
    }

    // Joins connections whose both directions ended (called under the mutex).
    void reap_finished()
    {
        for (auto it = connections.begin(); it != connections.end();) {
            pollfd probe[2] = {{it->client, POLLRDHUP, 0}, {it->server, POLLRDHUP, 0}};
            ::poll(probe, 2, 0);
            if ((probe[0].revents & (POLLHUP | POLLRDHUP)) && (probe[1].revents & (POLLHUP | POLLRDHUP))) {
                ::shutdown(it->client, SHUT_RDWR);
                ::shutdown(it->server, SHUT_RDWR);
                it->to_server.join();
                it->to_client.join();
                ::close(it->client);
                ::close(it->server);
                it = connections.erase(it);
            } else {
                ++it;
            }
        }
    }
};

Result<std::unique_ptr<RfbRelay>> RfbRelay::start(
    const std::filesystem::path& listen_path, VncEndpoint target, ViewMode mode, InputObserver observer)
{
    auto impl = std::make_unique<Impl>();
    impl->path = listen_path;
    impl->target = std::move(target);
    impl->mode = mode;
    impl->observer = std::move(observer);
    impl->listener = ROTE_TRY(detail::listen_private_unix(listen_path));
    if (::pipe2(impl->stop_pipe, O_CLOEXEC) != 0) {
        const std::string why = std::strerror(errno);
        ::close(impl->listener);
        return Error(Error::Code::io, "cannot make the live view's stop pipe: " + why);
    }
    Impl* raw = impl.get();
    impl->acceptor = std::thread([raw] { raw->accept_loop(); });
    return std::unique_ptr<RfbRelay>(new RfbRelay(std::move(impl)));
}

RfbRelay::RfbRelay(std::unique_ptr<Impl> impl)
    : m_impl(std::move(impl))
{
}

RfbRelay::~RfbRelay()
{
    (void)!::write(m_impl->stop_pipe[1], "x", 1);
    m_impl->acceptor.join();
    ::close(m_impl->listener);
    ::unlink(m_impl->path.c_str());
    std::lock_guard lock(m_impl->mutex);
    for (auto& c : m_impl->connections) {
        ::shutdown(c.client, SHUT_RDWR);
        ::shutdown(c.server, SHUT_RDWR);
        c.to_server.join();
        c.to_client.join();
        ::close(c.client);
        ::close(c.server);
    }
    ::close(m_impl->stop_pipe[0]);
    ::close(m_impl->stop_pipe[1]);
}

std::uint64_t RfbRelay::dropped() const { return m_impl->dropped.load(); }

namespace detail {

Result<int> listen_private_unix(const std::filesystem::path& path)
{
    sockaddr_un address {};
    address.sun_family = AF_UNIX;
    if (path.string().size() >= sizeof address.sun_path)
        return Error(Error::Code::invalid_argument, "the live view's socket path is too long: " + path.string());
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    ::unlink(path.c_str());
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const mode_t old_mask = ::umask(0177);
    const bool bound = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    ::umask(old_mask);
    if (!bound || ::listen(fd, 64) != 0) {
        const std::string why = std::strerror(errno);
        if (fd >= 0)
            ::close(fd);
        return Error(Error::Code::io, "cannot listen on " + path.string() + ": " + why);
    }
    return fd;
}

} // namespace detail

} // namespace rote::runtime
