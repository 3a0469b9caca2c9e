// vision_bench: the cost of each vision check at 1280x800 on one core, and locate()'s accuracy over the
// corpus (tests/vision/data). Prints medians.
//
//   vision_bench [--reps N]

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <rote/vision/diff.h>
#include <rote/vision/fingerprint.h>
#include <rote/vision/image.h>
#include <rote/vision/ocr.h>
#include <rote/vision/target.h>

#include "vision/corpus.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace rote;
using namespace rote::vision;

double median_ms(int reps, const std::function<void()>& f)
{
    std::vector<double> t;
    for (int i = 0; i < reps; ++i) {
        const auto start = Clock::now();
        f();
        t.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

void row(const char* what, double ms, const char* target) { std::printf("  %-62s %9.2f ms   %s\n", what, ms, target); }

corpus::Shot find(const std::vector<corpus::Shot>& shots, const std::string& page, const std::string& variant)
{
    for (const auto& s : shots) {
        if (s.page == page && s.variant == variant)
            return s;
    }
    std::fprintf(stderr, "vision_bench: no %s.%s in the corpus\n", page.c_str(), variant.c_str());
    std::exit(1);
}

} // namespace

int main(int argc, char** argv)
{
    int reps = 50;
    for (int i = 1; i + 1 < argc; ++i) {
        if (std::string(argv[i]) == "--reps")
            reps = std::max(3, std::atoi(argv[i + 1]));
    }
    // One core: OpenCV's own threads off (Ocr keeps Tesseract to its calling thread).
    cv::setNumThreads(1);
    auto ocr = Ocr::for_this_thread();
    if (!ocr.ok()) {
        std::fprintf(stderr, "vision_bench: %s\n", ocr.error().message().c_str());
        return 1;
    }
    const auto shots = corpus::load();
    const auto base_shot = find(shots, "registry-search", "baseline");
    const cv::Mat base = corpus::image(base_shot);
    const cv::Mat shifted = corpus::image(find(shots, "registry-search", "shift-45"));
    const cv::Mat zoomed = corpus::image(find(shots, "registry-search", "zoom-110"));
    cv::Mat caret = base.clone();
    cv::line(caret, {280, 230}, {280, 247}, cv::Scalar(0, 0, 0), 1);

    std::printf("vision_bench: 1280x800, one core, median of %d (label OCR: of %d, full-screen OCR and anchors: of %d)\n", reps,
        std::max(5, reps / 2), std::max(3, reps / 10));
    StabilityTracker tracker;
    tracker.update(base, Clock::now());
    row("stability check, frame unchanged", median_ms(reps, [&] { tracker.update(base, Clock::now()); }),
        "target <= 2 ms");
    bool flip = false;
    row("stability check, a caret blinking",
        median_ms(reps, [&] { tracker.update((flip = !flip) ? caret : base, Clock::now()); }), "target <= 2 ms");
    Fingerprint fp;
    row("fingerprint", median_ms(reps, [&] { fp = fingerprint(base); }), "target <= 2 ms");
    row("a step's picture for the run report (JPEG, 480 px wide)",
        median_ms(reps, [&] { (void)encode_thumbnail(base); }), "report");
    const Fingerprint other = fingerprint(shifted);
    row("fingerprint comparison (masked)",
        median_ms(reps,
            [&] {
                (void)compare(fp, other, std::vector<Rect> {{1100, 0, 180, 60}});
            }),
        "");

    const auto anchor = build_anchor(base, {static_cast<int>(base_shot.x), static_cast<int>(base_shot.y)}, **ocr);
    if (!anchor.ok()) {
        std::fprintf(stderr, "vision_bench: %s\n", anchor.error().message().c_str());
        return 1;
    }
    LocateOptions no_ocr;
    no_ocr.use_ocr = false;
    row("locate at the recorded point (unchanged screen)",
        median_ms(reps, [&] { (void)locate(*anchor, base, no_ocr); }), "target <= 3 ms");
    row("locate after a 45 px shift (template, whole screen, scale 1)",
        median_ms(reps, [&] { (void)locate(*anchor, shifted, no_ocr); }), "target <= 10 ms (neighbourhood)");
    row("locate at 110% zoom (+ 7 scales, whole screen)",
        median_ms(std::max(3, reps / 5), [&] { (void)locate(*anchor, zoomed, no_ocr); }), "report");
    const int ocr_reps = std::max(3, reps / 10);
    row("OCR of a 200x40 label",
        median_ms(std::max(5, reps / 2),
            [&] {
                (void)(*ocr)->read(base, Rect {161, 302, 200, 40});
            }),
        "target <= 30 ms");
    row("OCR of the full screen", median_ms(ocr_reps, [&] { (void)(*ocr)->read(base); }), "report");
    row("build an anchor (OCR of 640x240 around the point)",
        median_ms(ocr_reps,
            [&] {
                (void)build_anchor(base, {static_cast<int>(base_shot.x), static_cast<int>(base_shot.y)}, **ocr);
            }),
        "at record time");

    // Accuracy over the corpus: anchors from each page's baseline, located in every variant.
    struct Tally {
        int found = 0, relocated = 0, not_found = 0, ambiguous = 0, wrong = 0, missed = 0;
        std::vector<double> confidence;
    };
    std::map<std::string, Tally> by_variant;
    std::map<std::string, std::vector<double>> confidence_by_method;
    std::map<std::string, TargetAnchor> anchors;
    LocateOptions with_ocr;
    with_ocr.ocr = *ocr;
    for (const auto& shot : shots) {
        if (!anchors.count(shot.page)) {
            const auto b = find(shots, shot.page, "baseline");
            anchors.emplace(
                shot.page, *build_anchor(corpus::image(b), {int(std::lround(b.x)), int(std::lround(b.y))}, **ocr));
        }
        const Location loc = locate(anchors.at(shot.page), corpus::image(shot), with_ocr);
        Tally& t = by_variant[shot.variant.substr(0, shot.variant.find('-'))];
        const bool right_place = std::hypot(loc.point.x - shot.x, loc.point.y - shot.y) <= 3.0;
        if (loc.status == LocateStatus::found) {
            confidence_by_method[std::string(to_string(loc.method))].push_back(loc.confidence);
            if (shot.expect != "found" || !right_place)
                ++t.wrong;
            else if (loc.method == LocateMethod::recorded)
                ++t.found;
            else
                ++t.relocated;
        } else if (loc.status == LocateStatus::ambiguous) {
            ++t.ambiguous;
            t.missed += shot.expect != "ambiguous";
        } else {
            ++t.not_found;
            t.missed += shot.expect != "not_found";
        }
    }
    std::printf(
        "\n  accuracy over %zu screenshots (%zu pages; anchors from each baseline)\n", shots.size(), anchors.size());
    std::printf("  %-10s %6s %10s %10s %10s %6s %12s\n", "variant", "found", "relocated", "not found", "ambiguous",
        "wrong", "other miss");
    Tally total;
    for (const auto& [variant, t] : by_variant) {
        std::printf("  %-10s %6d %10d %10d %10d %6d %12d\n", variant.c_str(), t.found, t.relocated, t.not_found,
            t.ambiguous, t.wrong, t.missed);
        total.found += t.found;
        total.relocated += t.relocated;
        total.not_found += t.not_found;
        total.ambiguous += t.ambiguous;
        total.wrong += t.wrong;
        total.missed += t.missed;
    }
    std::printf("  %-10s %6d %10d %10d %10d %6d %12d\n", "total", total.found, total.relocated, total.not_found,
        total.ambiguous, total.wrong, total.missed);
    std::printf("\n  confidence of found answers, by method (all of them right: see 'wrong')\n");
    for (auto& [method, c] : confidence_by_method) {
        std::sort(c.begin(), c.end());
        std::printf("  %-16s n=%3zu  min %.2f  median %.2f  max %.2f\n", method.c_str(), c.size(), c.front(),
            c[c.size() / 2], c.back());
    }
    return 0;
}
