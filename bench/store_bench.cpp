// store_bench: how fast the store writes and reads traces, and how much content addressing saves.
//
//   store_bench [--traces N] [--steps N] [--changed PERCENT] [--reads N] [--db PATH]
//
// Writes 5 workflows x N/5 versions of S-step traces (default 50 x 200 = 10,000 steps). Each step carries
// real 1280x800 PNG screenshots (pre and post state) and a 160x60 anchor patch. Screens repeat the way
// they do in recordings: step i's post state is step i+1's pre state, and each later version of a
// workflow (a repair, a re-teach) has new screens for `changed` percent of its steps and the same
// screens as version 1 everywhere else. Prints medians.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <unistd.h>

#include <opencv2/imgproc.hpp>

#include <rote/store/store.h>
#include <rote/vision/image.h>

namespace {

using Clock = std::chrono::steady_clock;
using namespace rote;
using namespace rote::store;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// A page-like screenshot: header bar, a table of rows, a button. The workflow decides the page, the
// screen id the content of its rows and where the button sits, so every (workflow, id) is distinct.
cv::Mat render_screen(int workflow, int id)
{
    cv::Mat m(800, 1280, CV_8UC3, cv::Scalar(250, 250, 250));
    cv::rectangle(m, {0, 0, 1280, 64}, cv::Scalar(90 + 30 * workflow, 60, 30), cv::FILLED);
    cv::putText(m, "Company Registry - workflow " + std::to_string(workflow), {24, 42}, cv::FONT_HERSHEY_SIMPLEX, 0.9,
        cv::Scalar(255, 255, 255), 2);
    for (int row = 0; row < 10; ++row) {
        const int y = 110 + row * 56;
        cv::rectangle(
            m, {40, y, 1200, 44}, row % 2 ? cv::Scalar(240, 240, 240) : cv::Scalar(255, 255, 255), cv::FILLED);
        cv::putText(m,
            "ACME " + std::to_string(id * 10 + row) + " Ltd   HRB " + std::to_string(10000 + id * 37 + row)
                + "   active",
            {56, y + 29}, cv::FONT_HERSHEY_SIMPLEX, 0.6, cv::Scalar(40, 40, 40), 1);
    }
    cv::rectangle(m, {40 + (id % 7) * 150, 700, 140, 44}, cv::Scalar(200, 120, 20), cv::FILLED);
    cv::putText(m, "Search", {60 + (id % 7) * 150, 730}, cv::FONT_HERSHEY_SIMPLEX, 0.7, cv::Scalar(255, 255, 255), 2);
    return m;
}

Artifact png_artifact(const cv::Mat& image)
{
    auto png = vision::encode_png(image);
    if (!png.ok()) {
        std::fprintf(stderr, "store_bench: %s\n", png.error().message().c_str());
        std::exit(1);
    }
    return {content_hash(*png), "image/png", std::move(png).value()};
}

struct Screen {
    Artifact shot;
    Artifact patch;
    Point button;
};

int arg_int(int argc, char** argv, const char* name, int fallback)
{
    for (int i = 1; i + 1 < argc; ++i) {
        if (std::string(argv[i]) == name)
            return std::atoi(argv[i + 1]);
    }
    return fallback;
}

} // namespace

int main(int argc, char** argv)
{
    const int traces = arg_int(argc, argv, "--traces", 50);
    const int steps = arg_int(argc, argv, "--steps", 200);
    const int changed = arg_int(argc, argv, "--changed", 10);
    const int reads = arg_int(argc, argv, "--reads", 200);
    constexpr int kWorkflows = 5;
    std::string db_arg;
    for (int i = 1; i + 1 < argc; ++i) {
        if (std::string(argv[i]) == "--db")
            db_arg = argv[i + 1];
    }
    const auto dir = std::filesystem::temp_directory_path() / ("rote-store-bench-" + std::to_string(getpid()));
    const std::filesystem::path db = db_arg.empty() ? dir / "bench.db" : std::filesystem::path(db_arg);
    std::filesystem::remove(db);

    std::printf(
        "store_bench: %d traces x %d steps (%d workflows, %d versions each), %d%% of screens new per later version\n",
        traces, steps, kWorkflows, traces / kWorkflows, changed);

    std::map<std::pair<int, int>, Screen> screens;
    double render_ms = 0;
    auto screen = [&](int workflow, int id) -> const Screen& {
        auto it = screens.find({workflow, id});
        if (it != screens.end())
            return it->second;
        const auto t1 = Clock::now();
        const cv::Mat m = render_screen(workflow, id);
        const Point button {40 + (id % 7) * 150 + 70, 722};
        Screen s {png_artifact(m), png_artifact(m(cv::Rect(button.x - 80, button.y - 30, 160, 60)).clone()), button};
        render_ms += ms_since(t1);
        return screens.emplace(std::make_pair(workflow, id), std::move(s)).first->second;
    };
    // Version 1 of a workflow shows screen ids 0..steps; a later version v shows its own new screen at
    // position j for about `changed` percent of positions, and version 1's screen everywhere else.
    auto screen_id = [&](int version, int j) {
        if (version > 1 && (j * 37 + version * 11) % 100 < changed)
            return version * 100'000 + j;
        return j;
    };

    auto store = Store::open(db);
    if (!store.ok()) {
        std::fprintf(stderr, "store_bench: %s\n", store.error().message().c_str());
        return 1;
    }

    std::vector<double> save_ms;
    std::vector<std::int64_t> ids;
    double write_total = 0;
    for (int t = 0; t < traces; ++t) {
        const int w = t % kWorkflows;
        const int version = t / kWorkflows + 1;
        NewTrace trace;
        trace.workflow = "workflow-" + std::to_string(w);
        std::set<Hash> included;
        auto include = [&](const Artifact& a) {
            if (included.insert(a.hash).second)
                trace.artifacts.push_back(a);
            return a.hash;
        };
        for (int i = 0; i < steps; ++i) {
            const Screen& pre = screen(w, screen_id(version, i));
            const Screen& post = screen(w, screen_id(version, i + 1));
            Step s;
            s.index = i;
            s.action.kind = ActionKind::click;
            s.action.at = pre.button;
            s.pre_artifact = include(pre.shot);
            s.post_artifact = include(post.shot);
            s.anchor.patch = include(pre.patch);
            s.anchor.label = "Search";
            s.anchor.label_box = Rect {pre.button.x - 30, 712, 70, 20};
            s.pre_fingerprint.assign(64, static_cast<std::uint8_t>(i));
            s.post_fingerprint.assign(64, static_cast<std::uint8_t>(i + 1));
            s.effect_region = Rect {40, 110, 1200, 580};
            s.settle_ms = 150;
            trace.steps.push_back(std::move(s));
        }
        const auto t1 = Clock::now();
        auto id = (*store)->save_trace(trace);
        const double ms = ms_since(t1);
        save_ms.push_back(ms);
        write_total += ms;
        if (!id.ok()) {
            std::fprintf(stderr, "store_bench: %s\n", id.error().message().c_str());
            return 1;
        }
        ids.push_back(*id);
    }
    std::printf("  rendered and PNG-encoded %zu distinct screenshots in %.0f ms (not counted below)\n", screens.size(),
        render_ms);
    const int total_steps = traces * steps;
    std::printf("  write: %d steps with their artifacts in %.0f ms = %.0f steps/s; save_trace of %d steps: median %.1f "
                "ms, max %.1f ms\n",
        total_steps, write_total, total_steps / (write_total / 1000.0), steps, median(save_ms),
        *std::max_element(save_ms.begin(), save_ms.end()));

    std::vector<double> load_ms;
    std::vector<double> artifact_ms;
    for (int r = 0; r < reads; ++r) {
        const auto id = ids[static_cast<std::size_t>(r) % ids.size()];
        auto t1 = Clock::now();
        auto trace = (*store)->load_trace(id);
        load_ms.push_back(ms_since(t1));
        if (!trace.ok() || trace->steps.size() != static_cast<std::size_t>(steps)) {
            std::fprintf(stderr, "store_bench: read back failed\n");
            return 1;
        }
        t1 = Clock::now();
        auto art
            = (*store)->get_artifact(*trace->steps[static_cast<std::size_t>(r) % trace->steps.size()].pre_artifact);
        artifact_ms.push_back(ms_since(t1));
        if (!art.ok())
            return 1;
    }
    std::printf("  read: load_trace of %d steps: median %.2f ms (target < 5 ms); one screenshot (get_artifact, "
                "hash-verified): median %.2f ms\n",
        steps, median(load_ms), median(artifact_ms));

    auto stats = (*store)->artifact_stats();
    if (!stats.ok())
        return 1;
    std::error_code ec;
    const auto file_bytes = std::filesystem::file_size(db, ec) + std::filesystem::file_size(db.string() + "-wal", ec);
    std::printf("  dedup: %lld artifact uses, %lld stored blobs; %.1f MiB referenced, %.1f MiB stored: ratio %.1fx; "
                "database file %.1f MiB\n",
        static_cast<long long>(stats->references), static_cast<long long>(stats->artifacts),
        stats->referenced_bytes / 1048576.0, stats->stored_bytes / 1048576.0,
        static_cast<double>(stats->referenced_bytes) / static_cast<double>(stats->stored_bytes),
        static_cast<double>(file_bytes) / 1048576.0);
    store->reset();
    if (db_arg.empty())
        std::filesystem::remove_all(dir);
    return 0;
}
