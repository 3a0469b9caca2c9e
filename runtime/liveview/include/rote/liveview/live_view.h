#pragma once

// A person's live view of a desktop (docs/security.md, "live view"): noVNC served by websockify on
// 127.0.0.1, whose WebSocket opens only with this view's random token (a token file of ours, 0600) and only
// from the view's own page (an Origin check: a page of another site open in the person's browser is refused),
// to an RfbRelay in front of the desktop, which passes no input unless the view has control. Used by
// `rote sandbox view` and by `rote serve` for a running run's sandbox.

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

#include <rote/base/result.h>
#include <rote/desktop/desktop.h>
#include <rote/liveview/rfb_relay.h>

namespace rote::runtime {

// The bar of a view where a person shows rote a task (rote teach; a run's human planner): the view's page is
// then rote's own, teach.html, noVNC's RFB client under a bar that says what is being recorded, lists the
// inputs with the values to type, and has Done and Cancel. The page reaches rote on a second WebSocket with a
// token of its own (the bar's text comes over it, so the page served to anyone on 127.0.0.1 holds nothing).
struct ViewBar {
    struct Input {
        std::string name;
        std::string value; // what to type; empty for a secret, whose value never reaches the page
        bool secret = false;
    };
    std::string task; // what the person shows (the workflow's goal)
    std::vector<Input> inputs;
    // Done (true) or Cancel (false), pressed on the page; on the control channel's thread.
    std::function<void(bool done)> on_end;

    // The bar of a run: its task, its inputs' values to type, and its secrets by name alone.
    static ViewBar of_run(std::string task, const std::map<std::string, std::string>& values,
        const std::map<std::string, std::string>& secrets)
    {
        ViewBar bar;
        bar.task = std::move(task);
        for (const auto& [name, value] : values)
            bar.inputs.push_back({name, value, false});
        for (const auto& [name, _] : secrets)
            bar.inputs.push_back({name, "", true});
        return bar;
    }
};

struct LiveViewOptions {
    VncEndpoint target; // the desktop's VNC server
    ViewMode mode = ViewMode::view_only;
    int port = 0; // on 127.0.0.1; 0: a free one
    std::filesystem::path dir; // where its token file, relay socket and websockify's log go (rote's own, 0700)
    std::string name; // names those files: "<name>.view-<pid>-<n>.*"
    RfbRelay::InputObserver on_input; // with control: each key and pointer event passed (teaching by showing)
    std::optional<ViewBar> bar; // with control: rote's own page, with the bar (see ViewBar)
};

// Non-copyable; the destructor stops websockify and the relay and removes the files.
class LiveView {
public:
    static Result<std::unique_ptr<LiveView>> start(const LiveViewOptions& options);
    ~LiveView();
    LiveView(const LiveView&) = delete;
    LiveView& operator=(const LiveView&) = delete;

    // The page to open: vnc.html with this view's token and mode; with a bar, teach.html with its two tokens
    // (in the URL's fragment, which no HTTP request carries).
    const std::string& url() const { return m_url; }
    int port() const { return m_port; }
    bool control() const { return m_control; }
    // Nothing while websockify runs; once it has exited, what it said (the end of its log).
    std::optional<std::string> exited();

    class Control; // the bar's channel (live_view.cpp)

private:
    LiveView() = default;
    std::unique_ptr<RfbRelay> m_relay;
    std::unique_ptr<Control> m_control_channel;
    pid_t m_child = -1; // websockify, until it was seen to exit
    pid_t m_group = -1; // its process group (a session of its own), killed whole at the end
    std::filesystem::path m_tokens, m_socket, m_log, m_web; // m_web: teach.html's directory, with a bar
    std::string m_url;
    int m_port = 0;
    bool m_control = false;
};

} // namespace rote::runtime
