// qemu_bench: what a VM sandbox costs. Optionally the image build; a cold boot (no ready state) to the first
// desktop frame and to Chromium's first paint; a restore from the ready state to a visible start page
// (median of N); the first action answered after a restore; key-to-screen-change latency in the guest; memory
// per VM. The accelerator is whatever choose_accelerator picks here (printed). The demo registry (loopback)
// is the page.
//
//   qemu_bench --image DIR [--restores N] [--boots N] [--build]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <opencv2/core.hpp>

#include <rote/base/log.h>
#include <rote/desktop/desktop.h>
#include <rote/sandbox/qemu.h>
#include <rote/session/session.h>

#include "runtime/support.h"

namespace {

using namespace rote;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

[[noreturn]] void die(const std::string& what)
{
    std::fprintf(stderr, "qemu_bench: %s\n", what.c_str());
    std::exit(1);
}

std::string detail(runtime::Sandbox& sandbox, const std::string& key)
{
    for (const auto& [k, v] : sandbox.details()) {
        if (k == key)
            return v;
    }
    return "";
}

} // namespace

int main(int argc, char** argv)
{
    std::string image;
    int restores = 5;
    int boots = 1;
    bool build = false;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--image") && i + 1 < argc)
            image = argv[++i];
        else if (!std::strcmp(argv[i], "--restores") && i + 1 < argc)
            restores = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--boots") && i + 1 < argc)
            boots = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--build"))
            build = true;
        else
            die("usage: qemu_bench --image DIR [--restores N] [--boots N] [--build]");
    }
    if (image.empty())
        die("--image DIR is required (an image from `rote image build --out DIR`; --build builds it there)");
    spdlog::set_level(spdlog::level::warn);

    if (build) {
        runtime::ImageBuildOptions options;
        options.dir = image;
        const auto began = Clock::now();
        if (auto built = runtime::build_image(options); !built.ok())
            die(built.error().message());
        std::printf("image build (debootstrap, root.img, first ready state): %.0f s\n", seconds_since(began));
    }
    const runtime::AcceleratorChoice accel = runtime::choose_accelerator(image);
    std::printf("accelerator: %s (%s)\n", std::string(runtime::to_string(accel.accelerator)).c_str(),
        accel.reason.c_str());

    std::vector<double> first_frames, waiting_pages;
    for (int i = 0; i < boots; ++i) {
        auto boot = runtime::measure_cold_boot(image, accel.accelerator, 1280, 800, runtime::BrowserWindow::app);
        if (!boot.ok())
            die(boot.error().message());
        first_frames.push_back(boot->first_frame_s);
        waiting_pages.push_back(boot->waiting_page_s);
    }
    std::printf("cold boot, QEMU start to the browser's first desktop frame: median %.1f s (%d boots)\n",
        median(first_frames), boots);
    std::printf("cold boot, QEMU start to Chromium's first paint: median %.1f s\n", median(waiting_pages));

    auto site = test::DemoSite::start("baseline");
    if (!site.ok())
        die(site.error().message());
    runtime::SessionSpec spec;
    spec.provider = "qemu";
    spec.image = image;
    spec.start_url = "http://registry.example.test/";
    spec.routes["registry.example.test"] = site->registry_route();
    spec.window = runtime::BrowserWindow::app;

    std::vector<double> restored, handed_out, painted, visible, first_action, key_latency, memory;
    for (int i = 0; i < restores; ++i) {
        const auto began = Clock::now();
        auto session = runtime::Session::start(spec);
        if (!session.ok())
            die(session.error().message());
        handed_out.push_back(seconds_since(began));
        restored.push_back(std::atof(detail((*session)->sandbox(), "restore_s").c_str()));
        auto desktop = runtime::Desktop::connect((*session)->sandbox().vnc(), runtime::desktop_options_for("qemu"));
        if (!desktop.ok())
            die(desktop.error().message());
        // Painted: the screen is no longer the waiting page's one colour (a cheap check, every 20 ms).
        while (seconds_since(began) < 60) {
            auto screen = (*desktop)->screenshot();
            if (screen.ok()) {
                cv::Mat green;
                cv::inRange(*screen, cv::Scalar(60, 105, 23), cv::Scalar(72, 117, 35), green);
                if (cv::countNonZero(green) < static_cast<int>(screen->total() / 10))
                    break;
            }
            std::this_thread::sleep_for(20ms);
        }
        painted.push_back(seconds_since(began));
        auto seen = test::wait_for_text(**desktop, "Company name", 60s);
        if (!seen.where)
            die("the start page never showed");
        visible.push_back(seconds_since(began));

        // The first action: a click into the search field, answered by the caret and focus ring.
        Rect label = *seen.where;
        auto before = (*desktop)->update_count();
        const auto clicked = Clock::now();
        if (!(*desktop)->click({label.x + 20, label.y + label.h + 30}))
            die("click failed");
        if (!(*desktop)->wait_update(before, 30s))
            die("the click changed nothing within 30 s");
        first_action.push_back(seconds_since(clicked));

        // Keystrokes: each one's echo in the field.
        for (char c : std::string("acme")) {
            std::this_thread::sleep_for(300ms);
            before = (*desktop)->update_count();
            const auto typed = Clock::now();
            if (!(*desktop)->type(std::string(1, c)))
                die("typing failed");
            if ((*desktop)->wait_update(before, 30s))
                key_latency.push_back(seconds_since(typed) * 1000);
        }
        memory.push_back(static_cast<double>(runtime::pss_bytes((*session)->sandbox().pids())) / (1 << 20));
        desktop->reset();
        (void)(*session)->stop();
    }
    const double restore_median = median(visible);
    std::printf("restore, QEMU start to a running guest (state loaded): median %.2f s\n", median(restored));
    std::printf("restore, Session::start to handed out (proxy, QEMU, state, agent, redirect): median %.2f s\n",
        median(handed_out));
    std::printf("restore to the start page painted (not the waiting page): median %.2f s; cold first paint / this = %.0fx\n",
        median(painted), median(waiting_pages) / median(painted));
    std::printf("restore to the start page read by OCR (\"Company name\"): median %.2f s (%d restores)\n",
        restore_median, restores);
    std::printf("first action after a restore (click -> screen change): median %.2f s\n", median(first_action));
    std::printf("key -> screen change in the guest: median %.0f ms (%zu keys)\n", median(key_latency), key_latency.size());
    std::printf("memory per VM (PSS of QEMU and its helpers): median %.0f MiB (guest RAM %d MiB)\n", median(memory), 1024);
    return 0;
}
