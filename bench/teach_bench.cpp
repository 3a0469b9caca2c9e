// Teaching by showing: what watching costs the person, and what the compiler costs rote.
//
//   teach_bench [--samples N]
//
// 1. The compiler: a 50-action recording (clicks, typed words with a corrected typo, keys, human timing),
//    compiled N times; the median.
// 2. Input to the changed frame on the person's own screen, on the demo registry while `rote teach`'s human
//    planner watches (registry-lookup, the run cancelled at the end): a click into the search field and back
//    out (the first event of a gesture: held until the run has looked at the screen), and keys inside a
//    typed word (not held), each measured from the client's send to the first frame that shows the change.
//    The same through a relay with nobody watching, and straight to the sandbox's VNC server, for comparison.
//    And as a person has it: the view's page (teach.html, noVNC) in a real headless Chromium, the mouse and
//    keys dispatched by the browser, measured in the page from the canvas's own mousedown or keydown to the
//    first animation frame whose canvas pixels in the field's box changed.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <opencv2/core.hpp>

#include <rote/agent/agent.h>
#include <rote/agent/human.h>
#include <rote/agent/workflow.h>
#include <rote/base/log.h>
#include <rote/desktop/desktop.h>
#include <rote/liveview/live_view.h>
#include <rote/liveview/rfb_relay.h>
#include <rote/recorder/demonstration.h>
#include <rote/store/store.h>

#include "runtime/browser.h"
#include "runtime/support.h"

namespace {

using namespace rote;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

double percentile(std::vector<double> v, double p)
{
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

[[noreturn]] void die(const std::string& why)
{
    std::fprintf(stderr, "teach_bench: %s\n", why.c_str());
    std::exit(1);
}

template <class T>
T must(Result<T> r, const char* what)
{
    if (!r.ok())
        die(std::string(what) + ": " + r.error().message());
    return std::move(*r);
}

// A person's recording of 50 actions: per round a click, a word typed with a typo corrected, and Return.
std::vector<InputEvent> recording()
{
    std::vector<InputEvent> events;
    std::int64_t t = 0;
    auto pointer = [&](int x, int y, std::uint8_t b) { events.push_back({InputEvent::Kind::pointer, t += 37, {x, y}, b}); };
    auto key = [&](std::uint32_t keysym) {
        events.push_back({InputEvent::Kind::key, t += 91, {}, 0, keysym, true});
        events.push_back({InputEvent::Kind::key, t += 53, {}, 0, keysym, false});
    };
    int actions = 0;
    for (int round = 0; actions < 50; ++round) {
        for (int m = 0; m < 6; ++m)
            pointer(100 + round * 7 + m * 20, 200 + m * 9, 0);
        pointer(220 + round * 7, 254, buttons::left);
        pointer(220 + round * 7, 254, 0);
        t += 400;
        for (char c : std::string("Northwind Trx"))
            key(static_cast<std::uint32_t>(c));
        key(0xff08); // BackSpace
        for (char c : std::string("aders Ltd"))
            key(static_cast<std::uint32_t>(c));
        key(0xff0d); // Return
        actions += 3;
        t += 900;
    }
    return events;
}

// The desktop's endpoint, once the run's is up.
struct DesktopUp {
    std::mutex mutex;
    std::condition_variable changed;
    std::optional<runtime::VncEndpoint> endpoint;
};

// Sends `act` and waits for the first frame update that changes `region` of the client's screen.
double to_changed_frame(runtime::Desktop& d, const cv::Rect& region, const std::function<void()>& act)
{
    const cv::Mat before = must(d.screenshot(), "screenshot")(region).clone();
    std::uint64_t seen = d.update_count();
    const auto t = Clock::now();
    act();
    while (ms_since(t) < 5000) {
        if (!d.wait_update(seen, 1s))
            continue;
        seen = d.update_count();
        cv::Mat diff;
        cv::absdiff(before, must(d.screenshot(), "screenshot")(region), diff);
        if (cv::countNonZero(diff.reshape(1)) > 0)
            return ms_since(t);
    }
    return -1; // no change within 5 s
}

struct Figures {
    std::vector<double> clicks, keys;
    int lost = 0; // inputs whose change never showed
    void add(std::vector<double>& to, double ms)
    {
        if (ms < 0)
            ++lost;
        else
            to.push_back(ms);
    }
};

// In the page: from the canvas's next mousedown or keydown to the first animation frame whose pixels in the
// box differ from now; kept in window.roteLatency (-1: no change within 5 s).
constexpr const char* kWatch = R"js((([x, y, w, h]) => {
    const canvas = document.querySelector('#screen canvas');
    if (!canvas) { window.roteLatency = 'the page shows no desktop: ' + document.getElementById('state').textContent; return; }
    const context = canvas.getContext('2d');
    const sum = () => {
        const d = context.getImageData(x, y, w, h).data;
        let s = 0;
        for (let i = 0; i < d.length; i += 4) s = (s * 31 + d[i] + d[i + 1] * 7 + d[i + 2] * 13) | 0;
        return s;
    };
    const base = sum(), armed = performance.now();
    let from = null;
    window.roteLatency = null;
    const start = () => { if (from === null) from = performance.now(); };
    canvas.addEventListener('mousedown', start, { capture: true, once: true });
    canvas.addEventListener('keydown', start, { capture: true, once: true });
    const frame = () => {
        if (from !== null && sum() !== base) window.roteLatency = performance.now() - from;
        else if (performance.now() - armed > 8000) window.roteLatency = -1;
        else requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
}))js";

double on_page(test::BrowserPerson& person, const cv::Rect& box, const std::function<void()>& act)
{
    must(person.evaluate(std::string(kWatch) + "([" + std::to_string(box.x) + "," + std::to_string(box.y) + ","
             + std::to_string(box.width) + "," + std::to_string(box.height) + "])"),
        "the page's watch");
    act();
    for (int i = 0; i < 200; ++i) {
        auto latency = must(person.evaluate("window.roteLatency"), "the page's figure");
        if (latency.is_number())
            return latency.get<double>();
        if (latency.is_string())
            die(latency.get<std::string>());
        std::this_thread::sleep_for(50ms);
    }
    return -1;
}

// What measure() acts and looks with: a VNC client's, or a person's at the view page in a browser.
struct Hands {
    std::function<Result<cv::Mat>()> look;
    // The time from the act to the first frame that changes the box (ms; -1: none within 5 s).
    std::function<double(const cv::Rect&, const std::function<void()>&)> timed;
    std::function<void(Point)> click;
    std::function<void(char)> type;
    std::function<void()> backspace;
};

Hands hands_of(runtime::Desktop& d)
{
    return {[&d] { return d.screenshot(); }, [&d](const cv::Rect& box, const std::function<void()>& act) { return to_changed_frame(d, box, act); },
        [&d](Point at) { (void)d.click(at); }, [&d](char c) { (void)d.key(std::string(1, c)); }, [&d] { (void)d.key("backspace"); }};
}

Hands hands_of(test::BrowserPerson& person)
{
    return {[&person] { return person.screenshot(); },
        [&person](const cv::Rect& box, const std::function<void()>& act) { return on_page(person, box, act); },
        [&person](Point at) { (void)person.click(at); }, [&person](char c) { (void)person.type(std::string(1, c)); },
        [&person] { (void)person.key("backspace"); }};
}

// Clicks into the search field and out again, and types a word and takes it back, `samples` times each.
Figures measure(const Hands& hands, int samples)
{
    auto label = test::wait_for_text(hands.look, "Company name", 30s);
    if (!label.where)
        die("no search field on the registry's page");
    const Point field {label.where->x + 40, label.where->y + label.where->h + 30};
    const Point blank {label.screen.cols - 150, label.screen.rows - 120};
    // The field's own box (its focus ring), and the text in it.
    const cv::Rect box(std::max(0, field.x - 60), std::max(0, field.y - 30), 420, 60);
    Figures f;
    for (int i = 0; i < samples; ++i) {
        f.add(f.clicks, hands.timed(box, [&] { hands.click(field); }));
        std::this_thread::sleep_for(300ms);
        for (char c : std::string("acme")) {
            f.add(f.keys, hands.timed(box, [&] { hands.type(c); }));
            std::this_thread::sleep_for(120ms);
        }
        for (int k = 0; k < 4; ++k) {
            hands.backspace();
            std::this_thread::sleep_for(60ms);
        }
        std::this_thread::sleep_for(200ms);
        f.add(f.clicks, hands.timed(box, [&] { hands.click(blank); }));
        std::this_thread::sleep_for(300ms);
    }
    return f;
}

void print(const char* how, const Figures& f)
{
    std::printf("%-50s clicks p50 %6.1f ms  p90 %6.1f ms   keys p50 %6.1f ms  p90 %6.1f ms   (%zu, %zu%s)\n", how,
        percentile(f.clicks, 0.5), percentile(f.clicks, 0.9), percentile(f.keys, 0.5), percentile(f.keys, 0.9),
        f.clicks.size(), f.keys.size(), f.lost ? (", " + std::to_string(f.lost) + " never showed").c_str() : "");
    std::fflush(stdout);
}

} // namespace

int main(int argc, char** argv)
{
    int samples = 10;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--samples") == 0 && i + 1 < argc)
            samples = std::max(1, std::atoi(argv[++i]));
        else {
            std::printf("usage: teach_bench [--samples N]   (N clicks in and out, and N typed words; default 10)\n");
            return std::strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    rote::logger("runtime.agent")->set_level(spdlog::level::warn);

    // 1. The compiler.
    const auto events = recording();
    std::vector<double> compile_us;
    std::size_t actions = 0;
    for (int i = 0; i < 200; ++i) {
        const auto t = Clock::now();
        auto compiled = must(recorder::compile_demonstration(events), "compile");
        compile_us.push_back(ms_since(t) * 1000);
        actions = compiled.size();
    }
    std::printf("teach_bench\n\ncompile: %zu events -> %zu actions, median %.1f us (200 compilations)\n\n", events.size(),
        actions, percentile(compile_us, 0.5));

    // 2. The person's input to their own screen, on the demo registry, while the human planner watches.
    auto site = must(test::DemoSite::start(), "the demo site");
    const fs::path dir = fs::temp_directory_path() / ("rote-teach-bench-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    auto store = must(store::Store::open(dir / "rote.db"), "the store");
    auto workflow = must(runtime::load_workflow(fs::path(ROTE_WORKFLOWS) / "registry-lookup.yaml"), "the workflow");
    workflow.policy.max_steps = 100000; // the person clicks and types far more than a lookup takes
    auto inputs = must(runtime::check_inputs(workflow, {{"company", "Acme Robotics Ltd"}}), "the inputs");
    runtime::HumanInput human;
    DesktopUp up;
    runtime::RunOptions options;
    options.planner = runtime::PlannerKind::human;
    options.human = &human;
    options.routes["registry.example.test"] = site.registry_route();
    options.desktop = [&up](const runtime::VncEndpoint* e) {
        std::lock_guard lock(up.mutex);
        if (e && !up.endpoint)
            up.endpoint = *e;
        up.changed.notify_all();
    };
    std::optional<Result<runtime::RunResult>> ended;
    std::thread run([&] {
        ended = runtime::run_workflow(*store, workflow, inputs, options);
        std::fprintf(stderr, "teach_bench: the watching run ended: %s\n",
            !ended->ok() ? ended->error().message().c_str()
                         : (std::string(store::to_string((*ended)->status)) + ": " + (*ended)->error).c_str());
    });
    runtime::VncEndpoint endpoint;
    {
        std::unique_lock lock(up.mutex);
        if (!up.changed.wait_for(lock, 60s, [&] { return up.endpoint.has_value(); }))
            die("the run's desktop never came up");
        endpoint = *up.endpoint;
    }
    {
        auto direct = must(runtime::Desktop::connect(endpoint), "a direct client");
        print("straight to the sandbox's VNC server", measure(hands_of(*direct), samples));
    }
    const fs::path plain_socket = dir / "plain.sock", watched_socket = dir / "watched.sock";
    {
        auto relay = must(runtime::RfbRelay::start(plain_socket, endpoint, runtime::ViewMode::control), "a relay");
        runtime::VncEndpoint through;
        through.unix_path = plain_socket.string();
        auto viewer = must(runtime::Desktop::connect(through), "a client through the relay");
        print("through the live view's relay, nobody watching", measure(hands_of(*viewer), samples));
    }
    {
        auto relay = must(runtime::RfbRelay::start(watched_socket, endpoint, runtime::ViewMode::control,
                              [&human](const InputEvent& e) { human.observe(e); }),
            "a watched relay");
        runtime::VncEndpoint through;
        through.unix_path = watched_socket.string();
        auto viewer = must(runtime::Desktop::connect(through), "a client through the watched relay");
        print("through the relay, the human planner watching", measure(hands_of(*viewer), samples));
    }
    {
        runtime::ViewBar bar;
        bar.task = workflow.goal;
        bar.inputs.push_back({"company", "Acme Robotics Ltd", false});
        auto view = must(runtime::LiveView::start({endpoint, runtime::ViewMode::control, 0, dir, "bench",
                             [&human](const InputEvent& e) { human.observe(e); }, std::move(bar)}),
            "the view's page");
        auto person = must(test::BrowserPerson::open(view->url(), dir / "browser"), "a headless Chromium");
        if (!person->wait_for("document.getElementById('state').textContent === 'recording'", 30s))
            die("the view's page never showed the desktop");
        print("the view page in Chromium, the planner watching", measure(hands_of(*person), samples));
    }
    human.finish(false);
    run.join();
    store.reset();
    fs::remove_all(dir);
    return 0;
}
