// The live view as a person's browser reaches it: a WebSocket (Boost.Beast's client, with the view's token and
// Origin) to websockify, through rote's relay, to a real sandbox's Xvnc. A view-only view shows the desktop and
// passes none of the viewer's input, whatever the viewer sends; a view with --control passes it. The relay
// hands what it passes to its observer, as teaching by showing records it.

#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <rote/desktop/desktop.h>
#include <rote/liveview/rfb_relay.h>
#include <rote/recorder/demonstration.h>
#include <rote/sandbox/sandbox.h>

#include "support.h"

using namespace rote;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace beast = boost::beast;
namespace net = boost::asio;

namespace {

// An RFB client over the view's WebSocket, as noVNC is one.
class WebSocketViewer {
public:
    // Opens the WebSocket with the view's token and Origin and completes RFB's handshake (3.8, security None,
    // shared); throws on anything else.
    WebSocketViewer(int port, const std::string& token)
    {
        net::ip::tcp::resolver resolver(m_io);
        net::connect(m_ws.next_layer(), resolver.resolve("127.0.0.1", std::to_string(port)));
        timeval tv {10, 0}; // a view that stops answering fails the test instead of hanging it
        ::setsockopt(m_ws.next_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        const std::string origin = "http://127.0.0.1:" + std::to_string(port);
        m_ws.set_option(beast::websocket::stream_base::decorator([origin](beast::websocket::request_type& request) {
            request.set(beast::http::field::origin, origin);
            request.set(beast::http::field::sec_websocket_protocol, "binary");
        }));
        m_ws.handshake("127.0.0.1:" + std::to_string(port), "/websockify?token=" + token);
        m_ws.binary(true);
        REQUIRE(read(12).starts_with("RFB 003."));
        send("RFB 003.008\n");
        const std::string types = read(static_cast<unsigned char>(read(1)[0]));
        REQUIRE(types.find('\x01') != std::string::npos);
        send(std::string(1, '\x01'));
        REQUIRE(read(4) == std::string(4, '\0')); // SecurityResult: OK
        send(std::string(1, '\x01')); // ClientInit: shared
        const std::string init = read(24);
        const auto byte = [&](int i) { return static_cast<unsigned char>(init[i]); };
        width = byte(0) << 8 | byte(1);
        height = byte(2) << 8 | byte(3);
        read(static_cast<size_t>(byte(20)) << 24 | byte(21) << 16 | byte(22) << 8 | byte(23)); // the desktop's name
    }

    void send(const std::string& bytes) { m_ws.write(net::buffer(bytes)); }

    std::string read(size_t n)
    {
        while (m_buffered.size() < n) {
            beast::flat_buffer frame;
            m_ws.read(frame);
            m_buffered += beast::buffers_to_string(frame.data());
        }
        std::string out = m_buffered.substr(0, n);
        m_buffered.erase(0, n);
        return out;
    }

    // A whole-screen FramebufferUpdateRequest; true when the next message is a FramebufferUpdate (type 0).
    bool sees_the_desktop()
    {
        std::string request = {3, 0, 0, 0, 0, 0};
        for (int v : {width, height}) {
            request += static_cast<char>(v >> 8);
            request += static_cast<char>(v & 0xff);
        }
        send(request);
        return read(1)[0] == 0;
    }

    // What a person at the view does: a click at (x, y) (into the page's search field) and a word typed there.
    void act(int x, int y, const std::string& word)
    {
        auto pointer = [&](int buttons) {
            send({5, static_cast<char>(buttons), static_cast<char>(x >> 8), static_cast<char>(x & 0xff),
                static_cast<char>(y >> 8), static_cast<char>(y & 0xff)});
        };
        pointer(1);
        pointer(0);
        std::this_thread::sleep_for(200ms);
        for (char c : word) { // Latin-1 letters are their own X keysyms
            send({4, 1, 0, 0, 0, 0, 0, c});
            send({4, 0, 0, 0, 0, 0, 0, c});
        }
    }

    int width = 0;
    int height = 0;

private:
    net::io_context m_io;
    beast::websocket::stream<net::ip::tcp::socket> m_ws {m_io};
    std::string m_buffered;
};

cv::Mat screenshot(const std::string& id)
{
    const fs::path png = fs::temp_directory_path() / ("rote-liveview-" + id + ".png");
    const auto shot = test::run_shell(std::string(ROTE_BINARY) + " sandbox screenshot " + id + " " + png.string() + " 2>&1");
    REQUIRE_MESSAGE(shot.status == 0, shot.out);
    cv::Mat image = cv::imread(png.string());
    fs::remove(png);
    return image;
}

// The share of pixels that differ between two screens.
double changed(const cv::Mat& a, const cv::Mat& b)
{
    cv::Mat diff, gray;
    cv::absdiff(a, b, diff);
    cv::cvtColor(diff, gray, cv::COLOR_BGR2GRAY);
    return static_cast<double>(cv::countNonZero(gray > 16)) / static_cast<double>(gray.total());
}

// The screen once it stops changing (the page has drawn).
cv::Mat settled(const std::string& id)
{
    cv::Mat last = screenshot(id);
    for (int i = 0; i < 40; ++i) {
        std::this_thread::sleep_for(250ms);
        cv::Mat now = screenshot(id);
        if (changed(last, now) == 0)
            return now;
        last = now;
    }
    return last;
}

// `rote sandbox view ID` in the background; its pid and the token of the URL it printed.
struct View {
    pid_t pid = -1;
    std::string token;
};

View start_view(const std::string& id, int port, bool control, const fs::path& out)
{
    // The output of a view before (the same file) must not be read as this one's: the shell truncates it only
    // once the background command starts.
    fs::remove(out);
    FILE* shell = ::popen((std::string(ROTE_BINARY) + " sandbox view " + id + " --json --port " + std::to_string(port)
                              + (control ? " --control" : "") + " >" + out.string() + " 2>&1 & echo $!")
                              .c_str(),
        "r");
    REQUIRE(shell);
    View view;
    REQUIRE(std::fscanf(shell, "%d", &view.pid) == 1);
    ::pclose(shell);
    // The URL is printed once the view answers.
    auto printed = nlohmann::json::parse(test::read_file(out), nullptr, false);
    for (int i = 0; i < 200 && !printed.is_object(); ++i) {
        std::this_thread::sleep_for(50ms);
        printed = nlohmann::json::parse(test::read_file(out), nullptr, false);
    }
    REQUIRE(test::http_get(port, "/vnc.html"));
    REQUIRE_MESSAGE(printed.is_object(), test::read_file(out));
    const std::string url = printed["url"];
    view.token = url.substr(url.find("token%3D") + 8);
    return view;
}

void stop_view(const View& view)
{
    ::kill(view.pid, SIGTERM);
    for (int i = 0; i < 100 && runtime::process_running(view.pid); ++i)
        std::this_thread::sleep_for(50ms);
}

} // namespace

TEST_CASE("a view-only live view passes none of the viewer's input; a view with --control does")
{
    auto site = test::DemoSite::start();
    REQUIRE(site);
    const auto started = test::run_shell(std::string(ROTE_BINARY)
        + " sandbox start --json --url http://registry.example.test/ --route registry.example.test=" + site->registry_route()
        + " 2>/dev/null");
    REQUIRE(started.status == 0);
    const std::string id = nlohmann::json::parse(started.out)["id"];
    cv::Mat before = settled(id);
    for (int i = 0; i < 40 && !test::find_text(before, "Find a company"); ++i) {
        std::this_thread::sleep_for(250ms);
        before = settled(id);
    }
    REQUIRE(test::find_text(before, "Find a company"));
    const fs::path out = fs::temp_directory_path() / ("rote-liveview-" + id + ".json");
    const int port = 20000 + (::getpid() * 7) % 20000;

    // The search field, left of the "Search" button.
    const auto button = test::find_text(before, "Search");
    REQUIRE(button);
    const int field_x = button->x - 150, field_y = button->y + button->h / 2;

    // View only: the viewer sees the desktop, and its clicks and keys reach nothing (the page's own
    // view_only flag is not what stops them: this client sends them anyway).
    {
        const View view = start_view(id, port, false, out);
        {
            WebSocketViewer viewer(port, view.token);
            CHECK(viewer.width == before.cols);
            CHECK(viewer.sees_the_desktop());
            viewer.act(field_x, field_y, "initech");
            std::this_thread::sleep_for(1500ms);
        }
        const cv::Mat after = screenshot(id);
        const double share = changed(before, after);
        CHECK_MESSAGE(share < 0.001, "the view-only viewer changed " << share * 100 << "% of the screen");
        CHECK_FALSE(test::find_text(after, "initech"));
        stop_view(view);
    }
    // With --control the same input acts: the word is typed into the field.
    {
        const View view = start_view(id, port + 1, true, out);
        {
            WebSocketViewer viewer(port + 1, view.token);
            CHECK(viewer.sees_the_desktop());
            viewer.act(field_x, field_y, "initech");
            std::this_thread::sleep_for(1500ms);
        }
        CHECK(test::find_text(screenshot(id), "initech"));
        stop_view(view);
    }
    fs::remove(out);
    CHECK(test::run_shell(std::string(ROTE_BINARY) + " sandbox stop " + id + " 2>&1").status == 0);
}

TEST_CASE("the relay hands each input event it passes to its observer, and the compiler reads the gestures back")
{
    runtime::SandboxOptions options;
    auto sandbox = runtime::start_local_sandbox(options);
    REQUIRE_MESSAGE(sandbox, (sandbox ? "" : sandbox.error().message()));
    std::mutex mutex;
    std::vector<InputEvent> seen;
    const fs::path socket = fs::temp_directory_path() / ("rote-relay-test-" + std::to_string(::getpid()) + ".sock");
    auto relay = runtime::RfbRelay::start(socket, (*sandbox)->vnc(), runtime::ViewMode::control, [&](const InputEvent& e) {
        std::lock_guard lock(mutex);
        seen.push_back(e);
    });
    REQUIRE_MESSAGE(relay, (relay ? "" : relay.error().message()));
    runtime::VncEndpoint through;
    through.unix_path = socket.string();
    {
        // libvncclient through the relay, as a person's viewer would be.
        auto desktop = runtime::Desktop::connect(through);
        REQUIRE_MESSAGE(desktop, (desktop ? "" : desktop.error().message()));
        REQUIRE((*desktop)->click({200, 150}));
        std::this_thread::sleep_for(700ms); // beyond a double click's reach
        REQUIRE((*desktop)->click({200, 150}, runtime::MouseButton::left, 2));
        REQUIRE((*desktop)->type("Ab"));
        REQUIRE((*desktop)->key("ctrl+a"));
        REQUIRE((*desktop)->sync());
    }
    std::vector<InputEvent> events;
    for (int i = 0; i < 100; ++i) { // the relay's thread may still be passing the last message
        {
            std::lock_guard lock(mutex);
            events = seen;
        }
        if (!events.empty() && events.back().kind == InputEvent::Kind::key && !events.back().down
            && events.back().keysym == 0xffe3)
            break;
        std::this_thread::sleep_for(20ms);
    }
    auto actions = recorder::compile_demonstration(events);
    REQUIRE(actions);
    std::vector<std::string> described;
    for (const auto& a : *actions)
        described.push_back(describe(a.action, {}, TextStyle::quoted));
    CHECK(described
        == std::vector<std::string> {"click at (200, 150)", "double_click at (200, 150)", "type \"Ab\"", "key \"ctrl+a\""});
    relay->reset();
    CHECK((*sandbox)->destroy());
}

TEST_CASE("rote teach prints a live view with control; Enter ends the showing, and a task not done keeps no trace")
{
    auto site = test::DemoSite::start();
    REQUIRE(site);
    const fs::path dir = fs::temp_directory_path() / ("rote-teach-cli-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const fs::path in = dir / "in", out = dir / "out.json", err = dir / "err.txt", rc = dir / "rc";
    const auto teach = [&](bool enter) {
        fs::remove(in);
        REQUIRE(::mkfifo(in.c_str(), 0600) == 0);
        fs::remove(rc);
        FILE* shell = ::popen(("(ROTE_HOME=" + dir.string() + " " + ROTE_BINARY + " teach registry-lookup -i company=Globex"
                                  " --json --route registry.example.test=" + site->registry_route() + " <" + in.string()
                                  + " >" + out.string() + " 2>" + err.string() + "; echo $? >" + rc.string() + ") & echo $!")
                                  .c_str(),
            "r");
        REQUIRE(shell);
        pid_t pid = 0;
        REQUIRE(std::fscanf(shell, "%d", &pid) == 1);
        ::pclose(shell);
        const int done = ::open(in.c_str(), O_WRONLY); // once rote has opened its end
        REQUIRE(done >= 0);
        // The view's URL comes first, once the desktop is up.
        nlohmann::json view;
        for (int i = 0; i < 300 && !view.is_object(); ++i) {
            std::this_thread::sleep_for(100ms);
            const std::string text = test::read_file(out);
            view = nlohmann::json::parse(text.substr(0, text.find('\n')), nullptr, false);
        }
        REQUIRE_MESSAGE(view.is_object(), test::read_file(err));
        const std::string url = view["url"];
        CHECK(url.find("http://127.0.0.1:") == 0);
        if (enter) {
            // teach.html's fragment: view=TOKEN&control=TOKEN.
            const size_t at = url.find("#view=") + 6;
            WebSocketViewer viewer(view["port"].get<int>(), url.substr(at, url.find('&', at) - at));
            CHECK(viewer.sees_the_desktop());
            viewer.act(200, 150, "globex"); // a click and a word: not the lookup
            std::this_thread::sleep_for(500ms);
            REQUIRE(::write(done, "\n", 1) == 1);
        }
        ::close(done); // without Enter: the end of standard input cancels
        for (int i = 0; i < 600 && runtime::process_running(pid); ++i)
            std::this_thread::sleep_for(100ms);
        const std::string code = test::read_file(rc);
        return std::pair(code.empty() ? -1 : std::stoi(code), test::read_file(out));
    };

    // Enter: the run checks the success condition, which the click and the word did not reach.
    auto [entered, printed] = teach(true);
    CHECK(entered == 1);
    const std::string run_line = printed.substr(printed.find('\n') + 1);
    const auto run = nlohmann::json::parse(run_line, nullptr, false);
    REQUIRE_MESSAGE(run.is_object(), printed);
    CHECK(run["status"] == "failed");
    CHECK(run["error"].get<std::string>().find("success check") != std::string::npos);
    CHECK(run["planned"] == 2); // the click and the word, each recorded as the person's
    // The end of standard input: cancelled.
    auto [cancelled, _] = teach(false);
    CHECK(cancelled != 0);
    CHECK(test::read_file(err).find("cancelled") != std::string::npos);
    // Neither kept a trace.
    const auto listed = nlohmann::json::parse(
        test::run_shell("ROTE_HOME=" + dir.string() + " " + ROTE_BINARY + " list --json").out, nullptr, false);
    REQUIRE(listed.is_object());
    REQUIRE(listed["workflows"].size() == 1);
    CHECK(listed["workflows"][0]["last_run"]["status"] == "cancelled");
    CHECK(listed["workflows"][0]["traces"].empty());
    fs::remove_all(dir);
}
