#include <rote/desktop/desktop.h>

#include <rote/base/input.h>

#include <array>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>

#include <cerrno>
#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <unistd.h>

#include <opencv2/imgproc.hpp>
#include <rfb/keysym.h>
#include <rfb/rfbclient.h>

#include <rote/base/log.h>
#include <rote/vision/diff.h>

#include <rote/base/text.h>

namespace rote::runtime {

namespace {

using Clock = std::chrono::steady_clock;

spdlog::logger& log()
{
    static auto logger = rote::logger("runtime.desktop");
    return *logger;
}

// libvncclient reports through two global printf-style hooks; route them to our logger at debug level
// (it is chatty: every connection logs its protocol version and encodings).
void vnc_log(const char* format, ...)
{
    char line[512];
    va_list args;
    va_start(args, format);
    std::vsnprintf(line, sizeof line, format, args);
    va_end(args);
    std::string_view text(line);
    while (!text.empty() && text.back() == '\n')
        text.remove_suffix(1);
    log().debug("libvncclient: {}", text);
}

int tag; // the address identifies our client data in libvncclient's per-client table

} // namespace

std::string VncEndpoint::to_string() const
{
    if (!unix_path.empty())
        return "unix:" + unix_path;
    return host + ":" + std::to_string(port);
}

Result<VncEndpoint> VncEndpoint::parse(std::string_view text)
{
    VncEndpoint endpoint;
    if (text.starts_with("unix:")) {
        endpoint.unix_path = std::string(text.substr(5));
        if (endpoint.unix_path.empty())
            return Error(Error::Code::invalid_argument, "VNC endpoint 'unix:' needs a socket path");
        return endpoint;
    }
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0)
        return Error(
            Error::Code::invalid_argument, "VNC endpoint '" + std::string(text) + "' is not unix:PATH or HOST:PORT");
    endpoint.host = std::string(text.substr(0, colon));
    std::string port(text.substr(colon + 1));
    char* end = nullptr;
    long value = std::strtol(port.c_str(), &end, 10);
    if (port.empty() || *end != '\0' || value <= 0 || value > 65535)
        return Error(Error::Code::invalid_argument, "VNC endpoint '" + std::string(text) + "' has no valid port");
    endpoint.port = static_cast<int>(value);
    return endpoint;
}

Result<int> open_socket_path(const std::string& path)
{
    const int fd = ::open(path.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
    struct stat st {};
    if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
        const int error = errno;
        if (fd >= 0)
            ::close(fd);
        // O_PATH | O_NOFOLLOW opens a link itself: fstat then says what it is.
        const bool link = fd >= 0 ? S_ISLNK(st.st_mode) : error == ELOOP;
        return Error(Error::Code::io,
            "the VNC socket " + path
                + (link ? " is a symbolic link (refused: it may point at any socket of this host)"
                        : fd < 0 ? " cannot be opened: " + std::string(std::strerror(error)) : " is not a socket"));
    }
    return fd;
}

Result<int> connect_vnc(const VncEndpoint& endpoint)
{
    if (!endpoint.unix_path.empty()) {
        const int path_fd = ROTE_TRY(open_socket_path(endpoint.unix_path));
        const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un address {};
        address.sun_family = AF_UNIX;
        std::snprintf(address.sun_path, sizeof address.sun_path, "/proc/self/fd/%d", path_fd);
        const bool connected = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
        const int error = errno;
        ::close(path_fd);
        if (!connected) {
            if (fd >= 0)
                ::close(fd);
            return Error(Error::Code::io, "cannot connect to the VNC socket " + endpoint.unix_path + ": " + std::strerror(error));
        }
        return fd;
    }
    addrinfo hints {};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (::getaddrinfo(endpoint.host.c_str(), std::to_string(endpoint.port).c_str(), &hints, &found) != 0 || !found)
        return Error(Error::Code::io, "cannot resolve the VNC server " + endpoint.to_string());
    int fd = -1;
    for (addrinfo* a = found; a && fd < 0; a = a->ai_next) {
        fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd >= 0 && ::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            ::close(fd);
            fd = -1;
        }
    }
    ::freeaddrinfo(found);
    if (fd < 0)
        return Error(Error::Code::io, "cannot connect to the VNC server " + endpoint.to_string() + ": " + std::strerror(errno));
    return fd;
}

struct Desktop::Impl {
    VncEndpoint endpoint;
    DesktopOptions options;

    // Guards everything below: the client's socket and framebuffer are touched only under it.
    mutable std::mutex mutex;
    std::condition_variable changed; // an update arrived, or the connection changed state
    rfbClient* client = nullptr;
    std::uint64_t updates = 0;
    std::uint64_t full_frames = 0; // updates whose rectangles covered the whole screen
    std::uint64_t pixels_in_update = 0;
    std::uint64_t generation = 0; // counts connections made
    int buttons = 0; // the pointer buttons held down
    bool unsynced = false; // input sent since the last sync()
    std::string failure; // set once the connection is lost for good
    std::atomic<bool> stopping = false;
    std::thread reader;

    ~Impl()
    {
        stopping = true;
        {
            std::lock_guard lock(mutex);
            if (client)
                ::shutdown(client->sock, SHUT_RDWR); // wakes the reader from its wait
        }
        if (reader.joinable())
            reader.join();
        close_client();
    }

    void close_client()
    {
        if (!client)
            return;
        std::free(client->frameBuffer); // allocated by libvncclient's default MallocFrameBuffer; cleanup leaves it
        client->frameBuffer = nullptr;
        rfbClientCleanup(client);
        client = nullptr;
    }

    // A new connection, handshaken, with the first full update requested. On failure libvncclient has
    // already freed the client.
    Result<rfbClient*> open_client()
    {
        rfbClient* c = rfbGetClient(8, 3, 4);
        if (!c)
            return Error(Error::Code::internal, "libvncclient could not allocate a client");
        // Memory order B, G, R, X: OpenCV's BGRA, so a screenshot is one channel drop.
        c->format.redShift = 16;
        c->format.greenShift = 8;
        c->format.blueShift = 0;
        c->appData.encodingsString = options.encodings.c_str();
        c->appData.shareDesktop = TRUE;
        // Ask for the pointer's shape as a pseudo-encoding: the server then leaves the pointer out of the
        // framebuffer, so screenshots (and the OCR and template matching on them) never show it over a word.
        c->appData.useRemoteCursor = TRUE;
        // A unix socket is connected through a descriptor of the path itself, opened without following a
        // link: the socket's directory may be one a sandbox writes, and a link planted at its name must not
        // send this client (root's, often) to another socket of the host. /proc/self/fd/N connects to exactly
        // the socket inode opened, so nothing can be swapped in between.
        int socket_path_fd = -1;
        if (!endpoint.unix_path.empty()) {
            auto opened = open_socket_path(endpoint.unix_path);
            if (!opened) {
                rfbClientCleanup(c);
                return opened.release_error();
            }
            socket_path_fd = *opened;
            c->serverHost = strdup(("/proc/self/fd/" + std::to_string(socket_path_fd)).c_str());
        } else {
            c->serverHost = strdup(endpoint.host.c_str());
        }
        c->serverPort = endpoint.unix_path.empty() ? endpoint.port : 0;
        auto seconds = std::chrono::ceil<std::chrono::seconds>(options.connect_timeout).count();
        c->connectTimeout = static_cast<unsigned>(std::max<long>(1, seconds));
        c->readTimeout = 30; // a server that stops mid-message is dead, not slow
        // Our own allocation, zeroed: malloc may hand back a buffer freed by an earlier connection, and its
        // old picture would pass for this server's until the first pixels arrive.
        c->MallocFrameBuffer = [](rfbClient* cl) -> rfbBool {
            std::free(cl->frameBuffer);
            auto bytes = static_cast<std::size_t>(cl->width) * cl->height * (cl->format.bitsPerPixel / 8);
            cl->frameBuffer = static_cast<uint8_t*>(std::calloc(bytes, 1));
            return cl->frameBuffer ? TRUE : FALSE;
        };
        // Both run under the mutex: HandleRFBServerMessage is only called with it held.
        c->GotFrameBufferUpdate = [](rfbClient* cl, int, int, int w, int h) {
            auto* self = static_cast<Impl*>(rfbClientGetClientData(cl, &tag));
            self->pixels_in_update += static_cast<std::uint64_t>(w) * h;
        };
        c->FinishedFrameBufferUpdate = [](rfbClient* cl) {
            auto* self = static_cast<Impl*>(rfbClientGetClientData(cl, &tag));
            ++self->updates;
            if (self->pixels_in_update >= static_cast<std::uint64_t>(cl->width) * cl->height)
                ++self->full_frames;
            self->pixels_in_update = 0;
        };
        rfbClientSetClientData(c, &tag, this);
        int argc = 0;
        const bool connected = rfbInitClient(c, &argc, nullptr);
        if (socket_path_fd >= 0)
            ::close(socket_path_fd);
        if (!connected)
            return Error(Error::Code::io, "cannot connect to the VNC server at " + endpoint.to_string());
        return c;
    }

    void run()
    {
        while (!stopping) {
            rfbClient* c = nullptr;
            {
                std::lock_guard lock(mutex);
                c = client;
            }
            // Only this thread replaces the client, so waiting on it outside the lock is safe; senders only
            // write to the socket.
            int ready = c->buffered > 0 ? 1 : WaitForMessage(c, 100'000);
            if (stopping)
                break;
            bool ok = ready >= 0;
            if (ready > 0) {
                std::lock_guard lock(mutex);
                ok = HandleRFBServerMessage(c);
            }
            if (ok) {
                if (ready > 0)
                    changed.notify_all();
                continue;
            }
            if (!reconnect())
                break;
        }
    }

    // The connection dropped: try once more, then give up for good.
    bool reconnect()
    {
        {
            std::lock_guard lock(mutex);
            close_client();
        }
        if (!options.reconnect) {
            std::lock_guard lock(mutex);
            failure = "the VNC connection to " + endpoint.to_string() + " dropped";
            log().debug("{}", failure);
            changed.notify_all();
            return false;
        }
        log().warn("VNC connection to {} dropped; reconnecting once", endpoint.to_string());
        auto fresh = open_client();
        std::lock_guard lock(mutex);
        if (!fresh || stopping) {
            if (fresh)
                client = *fresh, close_client();
            failure = "the VNC connection to " + endpoint.to_string() + " dropped and could not be re-established";
            if (!fresh)
                failure += ": " + fresh.error().message();
            log().error("{}", failure);
            changed.notify_all();
            return false;
        }
        client = *fresh;
        ++generation;
        buttons = 0;
        changed.notify_all();
        return true;
    }

    // Runs `send` with the socket, once more after a reconnection if it fails.
    Result<void> with_client(const std::function<bool(rfbClient*)>& send)
    {
        std::unique_lock lock(mutex);
        for (int attempt = 0; attempt < 2; ++attempt) {
            changed.wait_for(lock, options.connect_timeout, [&] { return client || !failure.empty(); });
            if (!failure.empty())
                return Error(Error::Code::io, failure);
            if (!client)
                return Error(Error::Code::timeout, "the VNC connection to " + endpoint.to_string() + " is not back");
            std::uint64_t before = generation;
            if (send(client)) {
                unsynced = true;
                return {};
            }
            changed.wait_for(lock, options.connect_timeout, [&] { return generation != before || !failure.empty(); });
        }
        return Error(Error::Code::io, "cannot send input to the VNC server at " + endpoint.to_string());
    }

    Result<void> pointer_event(Point at, int mask)
    {
        return with_client([&](rfbClient* c) {
            buttons = mask;
            return SendPointerEvent(c, at.x, at.y, mask) != 0;
        });
    }
};

Desktop::Desktop(std::unique_ptr<Impl> impl)
    : m_impl(std::move(impl))
{
}

Desktop::~Desktop()
{
    bool unsynced;
    {
        std::lock_guard lock(m_impl->mutex);
        unsynced = m_impl->unsynced && m_impl->failure.empty();
    }
    if (unsynced)
        (void)sync();
}

Result<void> Desktop::sync(std::chrono::milliseconds timeout)
{
    // Xvnc handles a client's messages in order and answers a non-incremental request at once, so its
    // answer means the input before it has been delivered to the X server.
    return request_update(false, timeout);
}

Result<void> Desktop::refresh(std::chrono::milliseconds timeout) { return request_update(true, timeout); }

Result<void> Desktop::request_update(bool full_screen, std::chrono::milliseconds timeout)
{
    std::uint64_t before = 0;
    {
        std::lock_guard lock(m_impl->mutex);
        before = full_screen ? m_impl->full_frames : m_impl->updates;
    }
    ROTE_TRY(m_impl->with_client([&](rfbClient* c) {
        int w = full_screen ? c->width : 1;
        int h = full_screen ? c->height : 1;
        return SendFramebufferUpdateRequest(c, 0, 0, w, h, FALSE) != 0;
    }));
    std::unique_lock wait_lock(m_impl->mutex);
    auto& counter = full_screen ? m_impl->full_frames : m_impl->updates;
    bool answered
        = m_impl->changed.wait_for(wait_lock, timeout, [&] { return counter > before || !m_impl->failure.empty(); });
    wait_lock.unlock();
    if (!answered)
        return Error(
            Error::Code::timeout, "the VNC server did not answer within " + std::to_string(timeout.count()) + " ms");
    std::lock_guard lock(m_impl->mutex);
    if (!m_impl->failure.empty())
        return Error(Error::Code::io, m_impl->failure);
    m_impl->unsynced = false;
    return {};
}

Result<std::unique_ptr<Desktop>> Desktop::connect(const VncEndpoint& endpoint, DesktopOptions options)
{
    static std::once_flag hooks;
    std::call_once(hooks, [] {
        rfbClientLog = vnc_log;
        rfbClientErr = vnc_log;
        // A write to a server that has gone must be an error value, not a process-killing signal.
        std::signal(SIGPIPE, SIG_IGN);
    });
    auto impl = std::make_unique<Impl>();
    impl->endpoint = endpoint;
    impl->options = std::move(options);
    impl->client = ROTE_TRY(impl->open_client());
    Impl* raw = impl.get();
    impl->reader = std::thread([raw] { raw->run(); });
    std::unique_ptr<Desktop> desktop(new Desktop(std::move(impl)));
    if (!desktop->wait_update(0, raw->options.connect_timeout))
        return Error(Error::Code::timeout, "the VNC server at " + endpoint.to_string() + " sent no picture");
    log().debug("connected to {} ({}x{})", endpoint.to_string(), desktop->width(), desktop->height());
    return desktop;
}

int Desktop::width() const
{
    std::lock_guard lock(m_impl->mutex);
    return m_impl->client ? m_impl->client->width : 0;
}

int Desktop::height() const
{
    std::lock_guard lock(m_impl->mutex);
    return m_impl->client ? m_impl->client->height : 0;
}

std::uint64_t Desktop::update_count() const
{
    std::lock_guard lock(m_impl->mutex);
    return m_impl->updates;
}

bool Desktop::wait_update(std::uint64_t since, std::chrono::milliseconds timeout)
{
    std::unique_lock lock(m_impl->mutex);
    return m_impl->changed.wait_for(lock, timeout, [&] { return m_impl->updates > since || !m_impl->failure.empty(); })
        && m_impl->updates > since;
}

Result<cv::Mat> Desktop::screenshot()
{
    std::unique_lock lock(m_impl->mutex);
    m_impl->changed.wait_for(lock, m_impl->options.connect_timeout,
        [&] { return (m_impl->client && m_impl->client->frameBuffer) || !m_impl->failure.empty(); });
    if (!m_impl->failure.empty())
        return Error(Error::Code::io, m_impl->failure);
    rfbClient* c = m_impl->client;
    if (!c || !c->frameBuffer)
        return Error(Error::Code::timeout, "no framebuffer from " + m_impl->endpoint.to_string());
    cv::Mat bgra(c->height, c->width, CV_8UC4, c->frameBuffer);
    cv::Mat bgr;
    cv::cvtColor(bgra, bgr, cv::COLOR_BGRA2BGR);
    return bgr;
}

Result<cv::Mat> Desktop::wait_stable(
    std::chrono::milliseconds quiet, std::chrono::milliseconds timeout, std::vector<Rect> mask)
{
    vision::StabilityTracker tracker(std::move(mask));
    const auto deadline = Clock::now() + timeout;
    cv::Mat frame;
    std::optional<std::uint64_t> copied; // the update count of `frame`
    while (true) {
        // A new copy only when an update arrived: waking up to a quiet screen costs no frame copy or diff.
        std::uint64_t count = update_count();
        if (copied != count) {
            frame = ROTE_TRY(screenshot());
            tracker.update(frame, Clock::now());
            copied = count;
        } else if (auto lost = connection_error()) {
            return *lost;
        }
        auto now = Clock::now();
        if (tracker.stable(quiet, now))
            return frame;
        if (now >= deadline)
            return Error(
                Error::Code::timeout, "the screen was still changing after " + std::to_string(timeout.count()) + " ms");
        auto until_quiet = tracker.last_change() + quiet - now;
        auto wait = std::min<Clock::duration>(until_quiet, deadline - now);
        wait_update(count, std::chrono::ceil<std::chrono::milliseconds>(wait) + std::chrono::milliseconds(1));
    }
}

void Desktop::interrupt(const std::string& why)
{
    std::lock_guard lock(m_impl->mutex);
    if (m_impl->failure.empty())
        m_impl->failure = why;
    m_impl->changed.notify_all();
}

std::optional<Error> Desktop::connection_error() const
{
    std::lock_guard lock(m_impl->mutex);
    if (m_impl->failure.empty())
        return std::nullopt;
    return Error(Error::Code::io, m_impl->failure);
}

Result<void> Desktop::move(Point to)
{
    int held;
    {
        std::lock_guard lock(m_impl->mutex);
        held = m_impl->buttons;
    }
    return m_impl->pointer_event(to, held);
}

namespace {

int button_mask(MouseButton button)
{
    switch (button) {
    case MouseButton::left:
        return rfbButton1Mask;
    case MouseButton::middle:
        return rfbButton2Mask;
    case MouseButton::right:
        return rfbButton3Mask;
    }
    return rfbButton1Mask;
}

} // namespace

Result<void> Desktop::click(Point at, MouseButton button, int count)
{
    ROTE_TRY(m_impl->pointer_event(at, 0));
    for (int i = 0; i < count; ++i) {
        ROTE_TRY(m_impl->pointer_event(at, button_mask(button)));
        ROTE_TRY(m_impl->pointer_event(at, 0));
    }
    return {};
}

Result<void> Desktop::drag(Point from, Point to, MouseButton button)
{
    ROTE_TRY(m_impl->pointer_event(from, 0));
    ROTE_TRY(m_impl->pointer_event(from, button_mask(button)));
    // Intermediate moves: pages that implement dragging listen for motion, not only for the release.
    constexpr int steps = 10;
    for (int i = 1; i <= steps; ++i) {
        Point p {from.x + (to.x - from.x) * i / steps, from.y + (to.y - from.y) * i / steps};
        ROTE_TRY(m_impl->pointer_event(p, button_mask(button)));
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return m_impl->pointer_event(to, 0);
}

Result<void> Desktop::scroll(Point at, int dx, int dy)
{
    // X maps the wheel to buttons 4 (up), 5 (down), 6 (left), 7 (right); one press and release per click.
    auto wheel = [&](int clicks, int negative_button, int positive_button) -> Result<void> {
        int mask = 1 << ((clicks < 0 ? negative_button : positive_button) - 1);
        for (int i = 0; i < std::abs(clicks); ++i) {
            ROTE_TRY(m_impl->pointer_event(at, mask));
            ROTE_TRY(m_impl->pointer_event(at, 0));
        }
        return {};
    };
    ROTE_TRY(m_impl->pointer_event(at, 0));
    ROTE_TRY(wheel(dy, 4, 5));
    return wheel(dx, 6, 7);
}

Result<void> Desktop::key_event(std::uint32_t keysym, bool down)
{
    return m_impl->with_client([&](rfbClient* c) { return SendKeyEvent(c, keysym, down ? TRUE : FALSE) != 0; });
}

Result<void> Desktop::key(std::string_view combo)
{
    auto keys = ROTE_TRY(parse_key_combo(combo));
    for (std::uint32_t k : keys)
        ROTE_TRY(key_event(k, true));
    for (auto it = keys.rbegin(); it != keys.rend(); ++it)
        ROTE_TRY(key_event(*it, false));
    return {};
}

namespace {

// Decodes UTF-8; an invalid sequence is an error (we never type something other than what was asked).
Result<std::u32string> decode_utf8(std::string_view text)
{
    std::u32string out;
    for (size_t i = 0; i < text.size();) {
        auto byte = static_cast<unsigned char>(text[i]);
        int length = byte < 0x80 ? 1 : (byte >> 5) == 0x6 ? 2 : (byte >> 4) == 0xe ? 3 : (byte >> 3) == 0x1e ? 4 : 0;
        if (length == 0 || i + length > text.size())
            return Error(Error::Code::invalid_argument, "text to type is not valid UTF-8");
        char32_t cp = length == 1 ? byte : byte & (0x7f >> length);
        for (int k = 1; k < length; ++k) {
            auto next = static_cast<unsigned char>(text[i + k]);
            if ((next & 0xc0) != 0x80)
                return Error(Error::Code::invalid_argument, "text to type is not valid UTF-8");
            cp = (cp << 6) | (next & 0x3f);
        }
        out.push_back(cp);
        i += length;
    }
    return out;
}

bool needs_shift(char32_t cp)
{
    return (cp >= 'A' && cp <= 'Z')
        || (cp < 0x80
            && std::string_view("~!@#$%^&*()_+{}|:\"<>?").find(static_cast<char>(cp)) != std::string_view::npos);
}

} // namespace

Result<void> Desktop::type(std::string_view text)
{
    auto code_points = ROTE_TRY(decode_utf8(text));
    for (char32_t cp : code_points) {
        if (cp < 0x20 && cp != '\n' && cp != '\t')
            return Error(Error::Code::invalid_argument, "text to type holds a control character");
        std::uint32_t keysym = cp == '\n' ? XK_Return : cp == '\t' ? XK_Tab : keysym_for(cp);
        // Xvnc maps a keysym to its key but not to its shift level: 'A' alone arrives as 'a'. So we hold
        // shift for the characters that need it on the US layout the sandboxes use. (Keysyms missing from
        // the keymap, such as 'é', Xvnc maps to a spare key itself.)
        bool shifted = needs_shift(cp);
        if (shifted)
            ROTE_TRY(key_event(XK_Shift_L, true));
        ROTE_TRY(key_event(keysym, true));
        ROTE_TRY(key_event(keysym, false));
        if (shifted)
            ROTE_TRY(key_event(XK_Shift_L, false));
        if (m_impl->options.key_delay.count() > 0)
            std::this_thread::sleep_for(m_impl->options.key_delay);
    }
    return {};
}

} // namespace rote::runtime
