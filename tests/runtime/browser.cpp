#include "runtime/browser.h"

#include <cmath>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <rote/base/base64.h>
#include <rote/sandbox/process.h>

namespace rote::test {

using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

Error failed(std::string what) { return Error(Error::Code::io, "the person's browser: " + std::move(what)); }

// A named key as the DevTools protocol dispatches it: its key, code and Windows key code.
struct NamedKey {
    const char* name;
    const char* key;
    const char* code;
    int vk;
};
constexpr NamedKey kKeys[] = {{"return", "Enter", "Enter", 13}, {"backspace", "Backspace", "Backspace", 8},
    {"tab", "Tab", "Tab", 9}, {"escape", "Escape", "Escape", 27}};

// A printable character's code (KeyA, Digit1, Space; "" for the rest, which noVNC sends by its key alone).
std::string code_of(char c, int& vk)
{
    if (std::isalpha(static_cast<unsigned char>(c))) {
        vk = std::toupper(static_cast<unsigned char>(c));
        return std::string("Key") + static_cast<char>(vk);
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {
        vk = c;
        return std::string("Digit") + c;
    }
    vk = c == ' ' ? 32 : 0;
    return c == ' ' ? "Space" : "";
}

} // namespace

Result<std::unique_ptr<BrowserPerson>> BrowserPerson::open(const std::string& url, const std::filesystem::path& dir)
{
    std::unique_ptr<BrowserPerson> person(new BrowserPerson());
    person->m_dir = dir;
    std::filesystem::create_directories(dir / "profile");
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
        return failed("no socket pair");
    const int ours = ::fcntl(pair[0], F_DUPFD_CLOEXEC, 10), theirs = ::fcntl(pair[1], F_DUPFD_CLOEXEC, 10);
    ::close(pair[0]);
    ::close(pair[1]);
    person->m_fd = ours;
    auto spawned = runtime::spawn({"chromium", "--headless=new", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
                                      "--no-first-run", "--disable-background-networking", "--disable-component-update",
                                      "--disable-sync", "--proxy-server=127.0.0.1:9", "--window-size=1320,900",
                                      "--user-data-dir=" + (dir / "profile").string(), url},
        dir / "chromium.log", {theirs, theirs}, {"HOME"});
    ::close(theirs);
    person->m_pid = ROTE_TRY(std::move(spawned));
    // The page's target, and a session on it.
    for (int i = 0; i < 100 && person->m_session.empty(); ++i) {
        auto targets = ROTE_TRY(person->call("Target.getTargets", json::object(), false));
        for (const json& t : targets["targetInfos"]) {
            if (t["type"] == "page" && t["url"].get<std::string>().rfind("http://127.0.0.1:", 0) == 0) {
                auto attached = ROTE_TRY(
                    person->call("Target.attachToTarget", {{"targetId", t["targetId"]}, {"flatten", true}}, false));
                person->m_session = attached["sessionId"];
                break;
            }
        }
        if (person->m_session.empty())
            std::this_thread::sleep_for(100ms);
    }
    if (person->m_session.empty())
        return failed("no page for " + url);
    return person;
}

BrowserPerson::~BrowserPerson()
{
    if (m_pid > 0) {
        ::kill(m_pid, SIGKILL);
        ::waitpid(m_pid, nullptr, 0);
    }
    if (m_fd >= 0)
        ::close(m_fd);
    std::error_code ec;
    std::filesystem::remove_all(m_dir, ec);
}

Result<json> BrowserPerson::call(const std::string& method, json params, bool in_page)
{
    const int id = m_next++;
    json message {{"id", id}, {"method", method}, {"params", std::move(params)}};
    if (in_page)
        message["sessionId"] = m_session;
    const std::string bytes = message.dump() + '\0';
    if (::send(m_fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(bytes.size()))
        return failed("the pipe is closed");
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (true) {
        for (size_t end; (end = m_pending.find('\0')) != std::string::npos;) {
            json reply = json::parse(m_pending.substr(0, end), nullptr, false);
            m_pending.erase(0, end + 1);
            if (!reply.is_object() || reply.value("id", 0) != id)
                continue; // an event, or an answer nobody waits for
            if (reply.contains("error"))
                return failed(method + ": " + reply["error"].dump());
            return reply["result"];
        }
        pollfd in {m_fd, POLLIN, 0};
        if (std::chrono::steady_clock::now() > deadline || ::poll(&in, 1, 200) < 0)
            return failed(method + " had no answer");
        if (!(in.revents & POLLIN))
            continue;
        char buffer[65536];
        const ssize_t n = ::recv(m_fd, buffer, sizeof buffer, 0);
        if (n <= 0)
            return failed("the browser closed its pipe");
        m_pending.append(buffer, static_cast<size_t>(n));
    }
}

Result<json> BrowserPerson::evaluate(const std::string& expression)
{
    auto answer = ROTE_TRY(call("Runtime.evaluate", {{"expression", expression}, {"returnByValue", true}}));
    if (answer.contains("exceptionDetails"))
        return failed("the page threw on " + expression + ": " + answer["exceptionDetails"].dump());
    return answer["result"].value("value", json());
}

bool BrowserPerson::wait_for(const std::string& expression, std::chrono::milliseconds timeout)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        auto value = evaluate(expression);
        if (value && value->is_boolean() && value->get<bool>())
            return true;
        std::this_thread::sleep_for(100ms);
    }
    return false;
}

Result<BrowserPerson::Canvas> BrowserPerson::canvas()
{
    auto box = ROTE_TRY(evaluate("(() => { const c = document.querySelector('#screen canvas'); if (!c) return null;"
                                 " const r = c.getBoundingClientRect();"
                                 " return [r.left, r.top, r.width, r.height, c.width, c.height]; })()"));
    if (!box.is_array() || box.size() != 6 || box[2].get<double>() < 1 || box[4].get<int>() < 1)
        return failed("the view's page shows no desktop");
    return Canvas {box[0], box[1], box[2], box[3], box[4], box[5]};
}

Result<cv::Mat> BrowserPerson::screenshot()
{
    const Canvas c = ROTE_TRY(canvas());
    auto shot = ROTE_TRY(call("Page.captureScreenshot",
        {{"format", "png"}, {"clip", {{"x", c.left}, {"y", c.top}, {"width", c.width}, {"height", c.height}, {"scale", 1}}}}));
    const auto png = ROTE_TRY(base64_decode(shot["data"].get<std::string>()));
    cv::Mat image = cv::imdecode(png, cv::IMREAD_COLOR);
    if (image.empty())
        return failed("a screenshot that is not a PNG");
    if (image.cols != c.desktop_width || image.rows != c.desktop_height)
        cv::resize(image, image, cv::Size(c.desktop_width, c.desktop_height), 0, 0, cv::INTER_LINEAR);
    return image;
}

Result<std::string> BrowserPerson::page_png()
{
    auto shot = ROTE_TRY(call("Page.captureScreenshot", {{"format", "png"}}));
    const auto png = ROTE_TRY(base64_decode(shot["data"].get<std::string>()));
    return std::string(png.begin(), png.end());
}

Result<void> BrowserPerson::mouse(const std::string& type, double x, double y, int buttons)
{
    json params {{"type", type}, {"x", x}, {"y", y}, {"buttons", buttons}};
    if (type != "mouseMoved")
        params.update({{"button", "left"}, {"clickCount", 1}});
    ROTE_TRY(call("Input.dispatchMouseEvent", std::move(params)));
    return {};
}

Result<void> BrowserPerson::move_to(double x, double y)
{
    // A few steps along the way, easing in, as a hand moves a mouse.
    constexpr int kSteps = 6;
    const double from_x = m_x, from_y = m_y;
    for (int k = 1; k <= kSteps; ++k) {
        const double t = 1 - std::pow(1 - double(k) / kSteps, 2);
        ROTE_TRY(mouse("mouseMoved", from_x + (x - from_x) * t, from_y + (y - from_y) * t, 0));
        std::this_thread::sleep_for(std::chrono::milliseconds(15 + 7 * (k % 3)));
    }
    m_x = x;
    m_y = y;
    return {};
}

Result<void> BrowserPerson::click(Point desktop)
{
    const Canvas c = ROTE_TRY(canvas());
    const double x = c.left + (desktop.x + 0.5) * c.width / c.desktop_width;
    const double y = c.top + (desktop.y + 0.5) * c.height / c.desktop_height;
    ROTE_TRY(move_to(x, y));
    std::this_thread::sleep_for(120ms);
    ROTE_TRY(mouse("mousePressed", x, y, 1));
    std::this_thread::sleep_for(90ms);
    ROTE_TRY(mouse("mouseReleased", x, y, 0));
    return {};
}

Result<void> BrowserPerson::type(std::string_view text)
{
    static constexpr int kIntervals[] = {70, 140, 95, 210, 60, 120, 180, 85};
    for (char ch : text) {
        int vk = 0;
        const std::string key(1, ch), code = code_of(ch, vk);
        json down {{"type", "keyDown"}, {"key", key}, {"text", key}, {"code", code}, {"windowsVirtualKeyCode", vk}};
        ROTE_TRY(call("Input.dispatchKeyEvent", down));
        std::this_thread::sleep_for(30ms);
        ROTE_TRY(call("Input.dispatchKeyEvent", {{"type", "keyUp"}, {"key", key}, {"code", code}, {"windowsVirtualKeyCode", vk}}));
        std::this_thread::sleep_for(std::chrono::milliseconds(kIntervals[m_rhythm++ % std::size(kIntervals)]));
    }
    return {};
}

Result<void> BrowserPerson::key(std::string_view name)
{
    for (const NamedKey& k : kKeys) {
        if (name != k.name)
            continue;
        const auto event = [&k](const char* type) {
            return json {{"type", type}, {"key", k.key}, {"code", k.code}, {"windowsVirtualKeyCode", k.vk}};
        };
        ROTE_TRY(call("Input.dispatchKeyEvent", event("rawKeyDown")));
        std::this_thread::sleep_for(60ms);
        ROTE_TRY(call("Input.dispatchKeyEvent", event("keyUp")));
        std::this_thread::sleep_for(150ms);
        return {};
    }
    return failed("no key named " + std::string(name));
}

Result<void> BrowserPerson::press(const std::string& id)
{
    auto box = ROTE_TRY(evaluate("(() => { const e = document.getElementById('" + id
        + "'); if (!e) return null; const r = e.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; })()"));
    if (!box.is_array())
        return failed("no #" + id + " on the page");
    ROTE_TRY(move_to(box[0], box[1]));
    std::this_thread::sleep_for(150ms);
    ROTE_TRY(mouse("mousePressed", box[0], box[1], 1));
    std::this_thread::sleep_for(80ms);
    ROTE_TRY(mouse("mouseReleased", box[0], box[1], 0));
    return {};
}

} // namespace rote::test
