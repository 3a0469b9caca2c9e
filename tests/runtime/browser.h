#pragma once

// A person at a live view's page in a real headless Chromium on the host, driven over the DevTools protocol on
// a pipe (descriptors 3 and 4: no port). Eyes: the page's own canvas, captured by the browser and scaled to the
// desktop's pixels. Hands: the browser's mouse and keyboard events, with a person's timing: the pointer moves
// to a target in a few steps, keys come at uneven intervals. The browser's only proxy is a closed loopback
// port: it reaches the view on 127.0.0.1 and nothing else.

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include <rote/base/geometry.h>
#include <rote/base/result.h>

namespace rote::test {

class BrowserPerson {
public:
    // Opens `url` in a fresh headless Chromium (its profile in `dir`, made and removed here).
    static Result<std::unique_ptr<BrowserPerson>> open(const std::string& url, const std::filesystem::path& dir);
    ~BrowserPerson();
    BrowserPerson(const BrowserPerson&) = delete;
    BrowserPerson& operator=(const BrowserPerson&) = delete;

    // A JavaScript expression's value in the page (returned by value).
    Result<nlohmann::json> evaluate(const std::string& expression);
    // Waits until `expression` is true in the page; false at the timeout.
    bool wait_for(const std::string& expression, std::chrono::milliseconds timeout);

    // The desktop as the page draws it (the noVNC canvas), in the desktop's pixels, 8-bit BGR.
    Result<cv::Mat> screenshot();
    // A click at a point of the desktop: the pointer travels there, presses and releases.
    Result<void> click(Point desktop);
    // Printable text, key by key at uneven intervals.
    Result<void> type(std::string_view text);
    // One named key: "return", "backspace", "tab", "escape".
    Result<void> key(std::string_view name);
    // The whole page as the browser shows it, a PNG's bytes (for docs/).
    Result<std::string> page_png();
    // Clicks the page's element with this id (the bar's "done" or "cancel").
    Result<void> press(const std::string& id);

private:
    BrowserPerson() = default;
    Result<nlohmann::json> call(const std::string& method, nlohmann::json params = nlohmann::json::object(), bool in_page = true);
    Result<void> mouse(const std::string& type, double x, double y, int buttons);
    Result<void> move_to(double x, double y);
    // The canvas's place in the page and the desktop's size.
    struct Canvas {
        double left = 0, top = 0, width = 0, height = 0;
        int desktop_width = 0, desktop_height = 0;
    };
    Result<Canvas> canvas();

    int m_fd = -1;
    pid_t m_pid = -1;
    std::filesystem::path m_dir;
    std::string m_session;
    int m_next = 1;
    std::string m_pending; // what the pipe said after the last whole message
    double m_x = 10, m_y = 10; // where the pointer is, in page pixels
    unsigned m_rhythm = 0; // steps through the key intervals
};

} // namespace rote::test
