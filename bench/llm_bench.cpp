// llm_bench: what rote itself spends on a model call, apart from the model. Per screen size: downscaling,
// PNG encoding, base64, and a whole Conversation::next() against a loopback server that answers at once
// (request JSON, HTTP over loopback, response parsing), on real screenshots of the demo registry taken from
// sandboxes of that size. Medians of --calls (default 30).
//
//   llm_bench [--calls N]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <opencv2/imgproc.hpp>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <rote/desktop/desktop.h>
#include <rote/egress/egress_proxy.h>
#include <rote/llm/provider.h>
#include <rote/sandbox/sandbox.h>
#include <rote/vision/image.h>

#include "runtime/support.h"
#include "screen.h" // llm-client's own: the scale-encode step measured on its own

namespace {

using namespace rote;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) { return std::chrono::duration<double, std::milli>(Clock::now() - start).count(); }

double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

// The registry's results page as a sandbox of this size shows it.
cv::Mat real_screenshot(int width, int height)
{
    auto site = test::DemoSite::start();
    if (!site)
        return {};
    runtime::EgressProxyOptions proxy_options;
    proxy_options.socket_path = *runtime::runtime_root() / ("bench-llm-" + std::to_string(::getpid()) + ".sock");
    proxy_options.allowlist = {"registry.example.test"};
    proxy_options.routes = {{"registry.example.test", site->registry_route()}};
    auto proxy = runtime::EgressProxy::start(proxy_options);
    runtime::SandboxOptions options;
    options.start_url = "http://registry.example.test/search?q=Acme";
    options.proxy_socket = (*proxy)->socket_path();
    options.width = width;
    options.height = height;
    auto sandbox = runtime::start_local_sandbox(options);
    if (!sandbox)
        return {};
    auto desktop = runtime::Desktop::connect((*sandbox)->vnc());
    auto seen = test::wait_for_text(**desktop, "Acme Holdings", 30s);
    desktop->reset(); // disconnect before the server goes
    (void)(*sandbox)->destroy();
    return seen.where ? seen.screen : cv::Mat();
}

} // namespace

int main(int argc, char** argv)
{
    int calls = 30;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--calls") == 0 && i + 1 < argc)
            calls = std::max(1, std::atoi(argv[++i]));
    }
    spdlog::set_level(spdlog::level::warn);

    // A server that answers every call at once with a click, in Anthropic's wire format.
    httplib::Server server;
    const std::string answer = R"({"id":"msg_1","type":"message","role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"computer","input":{"action":"left_click","coordinate":[100,100]}}],"stop_reason":"tool_use","usage":{"input_tokens":1500,"output_tokens":40}})";
    server.Post("/v1/messages", [&](const httplib::Request&, httplib::Response& res) { res.set_content(answer, "application/json"); });
    const int port = server.bind_to_any_port("127.0.0.1");
    std::thread listener([&] { server.listen_after_bind(); });

    std::printf("%-10s %10s %10s %10s %10s %12s %10s\n", "screen", "scale ms", "png ms", "base64 ms", "prepare ms",
        "next() ms", "png KiB");
    for (auto [w, h] : {std::pair {1280, 800}, std::pair {1920, 1080}}) {
        const cv::Mat screen = real_screenshot(w, h);
        if (screen.empty()) {
            std::fprintf(stderr, "llm_bench: no %dx%d screenshot from a sandbox\n", w, h);
            return 1;
        }
        const auto scale = llm::ScreenScale::fit({w, h}, {1280, 800});
        std::vector<double> t_scale, t_png, t_b64, t_prepare, t_next;
        size_t png_bytes = 0;
        for (int i = 0; i < calls; ++i) {
            auto t0 = Clock::now();
            cv::Mat scaled = screen;
            if (!scale.identity())
                cv::resize(screen, scaled, {scale.model().width, scale.model().height}, 0, 0, cv::INTER_AREA);
            t_scale.push_back(ms_since(t0));
            t0 = Clock::now();
            auto png = vision::encode_png(scaled);
            t_png.push_back(ms_since(t0));
            png_bytes = png->size();
            t0 = Clock::now();
            auto b64 = llm::base64(*png);
            t_b64.push_back(ms_since(t0));
            t0 = Clock::now();
            auto prepared = llm::prepare_screen(screen, {1280, 800});
            t_prepare.push_back(ms_since(t0));
        }
        llm::LlmConfig config;
        config.base_url = "http://127.0.0.1:" + std::to_string(port);
        config.api_key = llm::Secret("bench");
        auto provider = llm::make_provider(config);
        for (int i = 0; i < calls; ++i) {
            // A fresh conversation per call: the first turn's body (system, tools, screenshot) each time.
            auto conversation = (*provider)->start({"bench", {}});
            auto t0 = Clock::now();
            auto turn = conversation->next({screen, {}});
            t_next.push_back(ms_since(t0));
            if (!turn) {
                std::fprintf(stderr, "llm_bench: %s\n", turn.error().message().c_str());
                return 1;
            }
        }
        std::printf("%4dx%-5d %10.2f %10.2f %10.2f %10.2f %12.2f %10.1f\n", w, h, median(t_scale), median(t_png),
            median(t_b64), median(t_prepare), median(t_next), png_bytes / 1024.0);
    }
    server.stop();
    listener.join();
    return 0;
}
