#pragma once

// The live view's own point in the RFB stream between a person's viewer (noVNC, behind websockify) and a
// sandbox's VNC server (docs/security.md, "live view"). rote frames every message the viewer sends, so that
// what the person may do is enforced here, not by the viewer's page: in view-only mode no key, pointer,
// clipboard, resize or power message reaches the desktop, whatever the client sends. The server's side passes
// unchanged. (The same framing is where teaching by showing will read the person's input.)

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rote/base/input.h>
#include <rote/base/result.h>
#include <rote/desktop/desktop.h>

namespace rote::runtime {

enum class RfbClientMessageKind {
    handshake, // the protocol version, the security type chosen, ClientInit
    set_pixel_format,
    set_encodings,
    update_request,
    continuous_updates, // EnableContinuousUpdates (150)
    fence, // ClientFence (248)
    key, // KeyEvent (4)
    pointer, // PointerEvent (5)
    cut_text, // ClientCutText (6): the person's clipboard, into the sandbox
    qemu_key, // QEMU's extended key event (255, 0)
    qemu_audio, // QEMU's audio messages (255, 1)
    set_desktop_size, // SetDesktopSize (251)
    xvp, // XVP (250): shutdown, reboot, reset
};

// True for what acts on the desktop (input, clipboard, resize, power): never passed by a view-only view.
bool acts_on_desktop(RfbClientMessageKind kind);

struct RfbClientMessage {
    RfbClientMessageKind kind;
    std::string bytes; // the whole message, as sent
};

// The person's input a message carries: a KeyEvent, a PointerEvent or QEMU's extended key event, as an
// InputEvent at `at_ms`; nothing for every other message.
std::optional<InputEvent> input_event_of(const RfbClientMessage& message, std::int64_t at_ms);

// Frames the byte stream an RFB client sends (RFC 6143, with the extensions noVNC speaks). Pure; not
// thread-safe.
class RfbClientStream {
public:
    // Appends what arrived and returns the messages it completes, in order. An error means the stream is not
    // one rote can frame (an unknown message type, a security type other than None, an oversized message):
    // nothing after it can be read, so the connection must end.
    Result<std::vector<RfbClientMessage>> feed(std::string_view bytes);

private:
    enum class Phase { version, security, client_init, messages };
    Phase m_phase = Phase::version;
    std::string m_pending;
};

enum class ViewMode { view_only, control };

// A unix socket that relays each connection to a VNC server through RfbClientStream, dropping what acts on the
// desktop when view-only. Connections are served on threads of their own; the destructor closes the listener
// and every connection and joins them. Non-copyable.
class RfbRelay {
public:
    // Called on a connection's thread for each key and pointer event passed to the desktop, its time in ms
    // on one clock for every relay of the process (teaching by showing records them). Must not block for
    // long: the person's input waits on it.
    using InputObserver = std::function<void(const InputEvent&)>;

    // Listens on `listen_path` (made anew, 0600: only this user, rote's, connects) and connects each client to
    // `target` (connect_vnc: a planted link is refused).
    static Result<std::unique_ptr<RfbRelay>> start(
        const std::filesystem::path& listen_path, VncEndpoint target, ViewMode mode, InputObserver observer = {});
    ~RfbRelay();
    RfbRelay(const RfbRelay&) = delete;
    RfbRelay& operator=(const RfbRelay&) = delete;

    // How many client messages were not passed on (view-only), over all connections so far. Thread-safe.
    std::uint64_t dropped() const;

    struct Impl;

private:
    explicit RfbRelay(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

} // namespace rote::runtime
