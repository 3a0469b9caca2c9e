#pragma once

// The agent's screen, mouse and keyboard, reached over VNC (design.md, "Desktop"). Everything above a
// Sandbox speaks only this, so a VM, a container or a remote machine look the same.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <opencv2/core.hpp>

#include <rote/base/geometry.h>
#include <rote/base/result.h>

namespace rote::runtime {

// Where a VNC server listens: a unix socket path, or a loopback TCP port.
struct VncEndpoint {
    std::string unix_path; // set for a unix socket
    std::string host = "127.0.0.1"; // else host and port
    int port = 0;

    std::string to_string() const; // "unix:/path" or "host:port"
    static Result<VncEndpoint> parse(std::string_view text); // the inverse of to_string
};

// A stream connected to a VNC server (the caller owns the descriptor). A unix socket is opened without following
// a link (a sandbox may write the socket's directory; a link planted there must never send rote, often root,
// to another socket of the host) and checked to be a socket; the connection goes to exactly that inode.
Result<int> connect_vnc(const VncEndpoint& endpoint);

// Opens a unix socket's path for connecting through /proc/self/fd/N (O_PATH, no link followed, checked to be
// a socket); the caller closes the descriptor once connected. connect_vnc uses it; so does Desktop.
Result<int> open_socket_path(const std::string& path);

enum class MouseButton { left, middle, right };

struct DesktopOptions {
    // libvncclient's encodings, in order of preference. Raw is the right default for a unix socket or
    // loopback (no compression to pay for, and some servers hang with others on a unix socket).
    std::string encodings = "copyrect raw";
    std::chrono::milliseconds connect_timeout {5000};
    std::chrono::milliseconds key_delay {0}; // between the key events of type(); 0 sends them back to back
    // Retry a dropped connection once (and warn). False for a caller that expects drops and reconnects
    // itself (a VM's boot changes the resolution, and QEMU's VNC server drops its client then).
    bool reconnect = true;
};

// A connection to one VNC server. A background thread keeps the framebuffer current from incremental
// updates; every method may be called from any thread (one lock serialises the socket). A dropped
// connection is retried once; if that fails, the methods return Error::Code::io from then on.
// Non-copyable, non-movable: the update thread holds `this`.
class Desktop {
public:
    static Result<std::unique_ptr<Desktop>> connect(const VncEndpoint& endpoint, DesktopOptions options = {});
    ~Desktop();
    Desktop(const Desktop&) = delete;
    Desktop& operator=(const Desktop&) = delete;

    int width() const;
    int height() const;

    // A copy of the current framebuffer, 8-bit BGR.
    Result<cv::Mat> screenshot();
    // Number of framebuffer updates received so far; it grows whenever the screen may have changed.
    std::uint64_t update_count() const;
    // Waits until the screen has not changed for `quiet` (a blinking cursor and the masked regions do
    // not count), and returns that screen; Error::Code::timeout if it is still changing at `timeout`.
    Result<cv::Mat> wait_stable(
        std::chrono::milliseconds quiet, std::chrono::milliseconds timeout, std::vector<Rect> mask = {});
    // Waits until an update arrives after `since` (an update_count()), or the timeout passes.
    bool wait_update(std::uint64_t since, std::chrono::milliseconds timeout);
    // Ends the connection for good, from any thread: every wait returns at once and every later call fails
    // with `why` (a run cancelled while it waits on the screen).
    void interrupt(const std::string& why);

    // Returns once the server has taken in every input event sent so far (a round trip: a small full
    // update request, answered after the events before it). The destructor does this too, so input sent
    // just before disconnecting is not lost.
    Result<void> sync(std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));
    // Asks the server for the whole screen again (not only what changed) and waits for it: what a fresh
    // capture costs on an open connection.
    Result<void> refresh(std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));

    Result<void> move(Point to);
    Result<void> click(Point at, MouseButton button = MouseButton::left, int count = 1);
    // Press at `from`, move in steps, release at `to`.
    Result<void> drag(Point from, Point to, MouseButton button = MouseButton::left);
    // Wheel clicks at `at`: positive dy scrolls down, positive dx right.
    Result<void> scroll(Point at, int dx, int dy);
    // A key or a combination by name: "Return", "ctrl+l", "shift+Tab", "ctrl+alt+Delete", "a", "F5",
    // "0xff0d" (a keysym in hex). Modifiers are pressed in order and released in reverse.
    Result<void> key(std::string_view combo);
    // Types printable text (UTF-8), including characters that need shift; '\n' is Return, '\t' Tab.
    Result<void> type(std::string_view text);
    // One key event by X keysym.
    Result<void> key_event(std::uint32_t keysym, bool down);

private:
    std::optional<Error> connection_error() const; // set once the connection is lost for good
    Result<void> request_update(bool full_screen, std::chrono::milliseconds timeout);
    struct Impl;
    explicit Desktop(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

} // namespace rote::runtime
