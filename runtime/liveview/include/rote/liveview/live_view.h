#pragma once

// A person's live view of a desktop (docs/security.md, "live view"): noVNC served by websockify on
// 127.0.0.1, whose WebSocket opens only with this view's random token (a token file of ours, 0600) and only
// from the view's own page (an Origin check: a page of another site open in the person's browser is refused),
// to an RfbRelay in front of the desktop, which passes no input unless the view has control. Used by
// `rote sandbox view` and by `rote serve` for a running run's sandbox.

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <sys/types.h>

#include <rote/base/result.h>
#include <rote/desktop/desktop.h>
#include <rote/liveview/rfb_relay.h>

namespace rote::runtime {

struct LiveViewOptions {
    VncEndpoint target; // the desktop's VNC server
    ViewMode mode = ViewMode::view_only;
    int port = 0; // on 127.0.0.1; 0: a free one
    std::filesystem::path dir; // where its token file, relay socket and websockify's log go (rote's own, 0700)
    std::string name; // names those files: "<name>.view-<pid>-<n>.*"
    RfbRelay::InputObserver on_input; // with control: each key and pointer event passed (teaching by showing)
};

// Non-copyable; the destructor stops websockify and the relay and removes the files.
class LiveView {
public:
    static Result<std::unique_ptr<LiveView>> start(const LiveViewOptions& options);
    ~LiveView();
    LiveView(const LiveView&) = delete;
    LiveView& operator=(const LiveView&) = delete;

    // The page to open: vnc.html with this view's token and mode.
    const std::string& url() const { return m_url; }
    int port() const { return m_port; }
    bool control() const { return m_control; }
    // Nothing while websockify runs; once it has exited, what it said (the end of its log).
    std::optional<std::string> exited();

private:
    LiveView() = default;
    std::unique_ptr<RfbRelay> m_relay;
    pid_t m_child = -1; // websockify, until it was seen to exit
    pid_t m_group = -1; // its process group (a session of its own), killed whole at the end
    std::filesystem::path m_tokens, m_socket, m_log;
    std::string m_url;
    int m_port = 0;
    bool m_control = false;
};

} // namespace rote::runtime
