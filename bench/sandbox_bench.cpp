// sandbox_bench: what a local sandbox costs. Start to first paint, a full-frame VNC capture per encoding,
// input-to-screen latency, memory (PSS of every process in the sandbox), and how many sandboxes run at once
// with each still answering. Prints medians; the demo registry (loopback) is the page.
//
//   sandbox_bench [--starts N] [--max-sandboxes N] [--breakdown]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <rote/base/log.h>
#include <rote/desktop/desktop.h>
#include <rote/egress/egress_proxy.h>
#include <rote/sandbox/sandbox.h>

#include "runtime/support.h"

namespace {

using namespace rote;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start)
{
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

// One line per process of a sandbox, biggest first: "chromium --type=renderer 44 MiB".
void print_breakdown(const std::vector<pid_t>& pids)
{
    std::vector<std::pair<double, std::string>> rows;
    for (pid_t pid : pids) {
        std::ifstream cmdline("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
        std::string args((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
        // Chromium rewrites its command line into one string, so arguments end at a space or a NUL.
        std::replace(args.begin(), args.end(), '\0', ' ');
        std::string name = args.substr(0, args.find(' '));
        name = name.substr(name.rfind('/') + 1);
        for (const char* kind : {"--type=", "--top-chrome-webui", "--utility-sub-type="}) {
            size_t at = args.find(kind);
            if (at != std::string::npos)
                name += " " + args.substr(at, args.find(' ', at) - at);
        }
        rows.emplace_back(static_cast<double>(runtime::pss_bytes({pid})) / (1024 * 1024), name.substr(0, 70));
    }
    std::sort(rows.rbegin(), rows.rend());
    for (const auto& [mib, name] : rows) {
        if (mib >= 1)
            std::printf("    %6.1f MiB  %s\n", mib, name.c_str());
    }
}

[[noreturn]] void die(const std::string& what)
{
    std::fprintf(stderr, "sandbox_bench: %s\n", what.c_str());
    std::exit(1);
}

template<typename T> T must(Result<T> r, const char* what)
{
    if (!r)
        die(std::string(what) + ": " + r.error().message());
    return std::move(r).value();
}

// The registry's header bar (#1f3a5f), under the browser's toolbar or (app window) at the top: the page, not
// the browser, has painted.
bool page_painted(const cv::Mat& screen)
{
    if (screen.rows < 140)
        return false;
    for (int y : {110, 25}) {
        const cv::Vec3b& p = screen.at<cv::Vec3b>(y, 640);
        if (std::abs(p[0] - 0x5f) < 6 && std::abs(p[1] - 0x3a) < 6 && std::abs(p[2] - 0x1f) < 6)
            return true;
    }
    return false;
}

struct Started {
    std::unique_ptr<runtime::Sandbox> sandbox;
    std::unique_ptr<runtime::Desktop> desktop;
    double first_paint_ms = 0;
};

Started start_one(const runtime::EgressProxy& proxy, runtime::DesktopOptions desktop_options = {},
    runtime::BrowserWindow window = runtime::BrowserWindow::normal)
{
    runtime::SandboxOptions options;
    options.window = window;
    options.start_url = "http://registry.example.test/";
    options.proxy_socket = proxy.socket_path();
    const auto t0 = Clock::now();
    Started s;
    s.sandbox = must(runtime::start_local_sandbox(options), "start");
    s.desktop = must(runtime::Desktop::connect(s.sandbox->vnc(), desktop_options), "connect");
    while (true) {
        std::uint64_t seen = s.desktop->update_count();
        if (page_painted(must(s.desktop->screenshot(), "screenshot")))
            break;
        if (ms_since(t0) > 30000)
            die("the page did not paint within 30 s");
        s.desktop->wait_update(seen, 50ms);
    }
    s.first_paint_ms = ms_since(t0);
    return s;
}

} // namespace

int main(int argc, char** argv)
{
    int starts = 5;
    int max_sandboxes = 24;
    bool breakdown = false;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--starts"))
            starts = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--max-sandboxes"))
            max_sandboxes = std::atoi(argv[i + 1]);
    }
    for (int i = 1; i < argc; ++i)
        breakdown |= !std::strcmp(argv[i], "--breakdown");
    spdlog::set_level(spdlog::level::warn);
    auto site = must(test::DemoSite::start(), "demo site");
    auto root = must(runtime::runtime_root(), "runtime root");
    runtime::EgressProxyOptions proxy_options;
    proxy_options.socket_path = root / ("bench-proxy-" + std::to_string(::getpid()) + ".sock");
    proxy_options.allowlist = {"registry.example.test"};
    proxy_options.routes = {{"registry.example.test", site.registry_route()}};
    auto proxy = must(runtime::EgressProxy::start(proxy_options), "proxy");

    std::printf("sandbox_bench: local sandbox (bwrap + Xvnc + matchbox + Chromium), 1280x800, %ld cores\n\n",
        sysconf(_SC_NPROCESSORS_ONLN));

    // 1. Start to first paint, and memory, for both kinds of browser window.
    for (auto window : {runtime::BrowserWindow::normal, runtime::BrowserWindow::app}) {
        std::vector<double> paints;
        std::vector<double> pss;
        for (int i = 0; i < starts; ++i) {
            Started s = start_one(*proxy, {}, window);
            paints.push_back(s.first_paint_ms);
            std::this_thread::sleep_for(1500ms); // let Chromium finish its start-up work before weighing it
            pss.push_back(static_cast<double>(runtime::pss_bytes(s.sandbox->pids())) / (1024 * 1024));
            if (breakdown && i == starts - 1) {
                std::printf("  PSS by process, the last %s sandbox:\n",
                    window == runtime::BrowserWindow::app ? "app-window" : "normal-window");
                print_breakdown(s.sandbox->pids());
            }
            s.desktop.reset();
            if (!s.sandbox->destroy())
                die("destroy failed");
        }
        const char* name = window == runtime::BrowserWindow::app ? "app window" : "normal window";
        std::printf("%-13s start to first paint  median %6.0f ms   (min %.0f, max %.0f, n=%d; target <= 1000)\n", name,
            median(paints), *std::min_element(paints.begin(), paints.end()),
            *std::max_element(paints.begin(), paints.end()), starts);
        std::printf(
            "%-13s memory (PSS)          median %6.0f MiB  (all its processes; target <= 350)\n", name, median(pss));
    }
    std::printf("\n");

    // 2. A full-frame capture on an open connection, per encoding; and the copy into a cv::Mat.
    for (const char* encodings : {"raw", "copyrect raw", "hextile raw", "zlib raw", "zrle raw", "tight raw"}) {
        runtime::DesktopOptions desktop_options;
        desktop_options.encodings = encodings;
        Started s = start_one(*proxy, desktop_options);
        std::vector<double> full;
        for (int i = 0; i < 30; ++i) {
            const auto t = Clock::now();
            if (!s.desktop->refresh(5s))
                die(std::string("full-frame refresh failed with ") + encodings);
            full.push_back(ms_since(t));
        }
        std::vector<double> copy;
        for (int i = 0; i < 30; ++i) {
            const auto t = Clock::now();
            (void)must(s.desktop->screenshot(), "screenshot");
            copy.push_back(ms_since(t));
        }
        std::printf("full-frame capture [%-13s] median %6.2f ms   screenshot() copy %5.2f ms   (target <= 10)\n",
            encodings, median(full), median(copy));
        if (std::strcmp(encodings, "copyrect raw") == 0) {
            // 3. Input to screen change: a key into the focused search field, until the update that shows it.
            auto label = test::find_text(must(s.desktop->screenshot(), "screenshot"), "Company name");
            if (!label)
                die("no search field on the page");
            (void)s.desktop->click({label->x + 20, label->y + label->h + 30});
            (void)s.desktop->wait_stable(300ms, 5s);
            std::vector<double> latency;
            for (int i = 0; i < 30; ++i) {
                cv::Mat before = must(s.desktop->screenshot(), "screenshot");
                std::uint64_t seen = s.desktop->update_count();
                const auto t = Clock::now();
                (void)s.desktop->key(i % 2 == 0 ? "x" : "BackSpace");
                while (true) {
                    if (!s.desktop->wait_update(seen, 2s))
                        die("no screen change after a key");
                    seen = s.desktop->update_count();
                    cv::Mat after = must(s.desktop->screenshot(), "screenshot");
                    cv::Mat diff;
                    cv::absdiff(before(cv::Rect(40, 250, 400, 60)), after(cv::Rect(40, 250, 400, 60)), diff);
                    if (cv::countNonZero(diff.reshape(1)) > 0)
                        break;
                }
                latency.push_back(ms_since(t));
                std::this_thread::sleep_for(100ms); // past the caret's blink reset
            }
            std::printf(
                "\ninput to screen change    median %7.1f ms   (a key into the focused field; target <= 50)\n\n",
                median(latency));
        }
        s.desktop.reset();
        (void)s.sandbox->destroy();
    }

    // 4. How many at once, each still answering (a VNC round trip within 2 s and its page painted).
    std::vector<Started> running;
    int answering = 0;
    std::string stopped_because = "the cap (--max-sandboxes)";
    for (int n = 1; n <= max_sandboxes; ++n) {
        runtime::SandboxOptions options;
        options.start_url = "http://registry.example.test/";
        options.proxy_socket = proxy->socket_path();
        options.start_timeout = 30s;
        auto sandbox = runtime::start_local_sandbox(options);
        if (!sandbox) {
            stopped_because = "start failed: " + sandbox.error().message().substr(0, 120);
            break;
        }
        auto desktop = runtime::Desktop::connect((*sandbox)->vnc());
        if (!desktop) {
            stopped_because = "connect failed";
            break;
        }
        running.push_back({std::move(*sandbox), std::move(*desktop), 0});
        // Give the newest time to paint, then ask every one of them.
        const auto t0 = Clock::now();
        while (!page_painted(*running.back().desktop->screenshot()) && ms_since(t0) < 30000)
            std::this_thread::sleep_for(100ms);
        int ok = 0;
        std::vector<double> rtt;
        for (auto& s : running) {
            const auto t = Clock::now();
            bool answered = s.desktop->sync(2s).ok() && page_painted(*s.desktop->screenshot());
            rtt.push_back(ms_since(t));
            ok += answered;
        }
        std::uint64_t total_pss = 0;
        for (auto& s : running)
            total_pss += runtime::pss_bytes(s.sandbox->pids());
        std::printf("%2d sandboxes: %2d answering, slowest round trip %6.1f ms, PSS total %6.0f MiB\n", n, ok,
            *std::max_element(rtt.begin(), rtt.end()), static_cast<double>(total_pss) / (1024 * 1024));
        if (ok < n) {
            stopped_because = "a sandbox stopped answering";
            break;
        }
        answering = n;
    }
    std::printf("\nconcurrent sandboxes, all answering: %d (stopped at %s)\n", answering, stopped_because.c_str());
    for (auto& s : running) {
        s.desktop.reset();
        (void)s.sandbox->destroy();
    }
    return 0;
}
