#include <doctest/doctest.h>

#include <opencv2/imgproc.hpp>

#include <rote/vision/diff.h>

#include "vision/corpus.h"

using namespace rote;
using namespace rote::vision;
using namespace std::chrono_literals;

namespace {

cv::Mat page() { return corpus::image({"registry-search", "baseline", "registry-search.baseline.png", "found", 0, 0}); }

} // namespace

TEST_CASE("changed regions are found, merged, and masked")
{
    const cv::Mat a = page();
    CHECK(changed_regions(a, a.clone()).empty());

    cv::Mat b = a.clone();
    cv::rectangle(b, {300, 400, 120, 30}, cv::Scalar(0, 0, 255), cv::FILLED);
    auto regions = changed_regions(a, b);
    REQUIRE(regions.size() == 1);
    CHECK(regions[0].contains({300, 400}));
    CHECK(regions[0].contains({419, 429}));
    CHECK(regions[0].w <= 120 + 32);

    cv::rectangle(b, {1000, 700, 40, 40}, cv::Scalar(0, 255, 0), cv::FILLED);
    CHECK(changed_regions(a, b).size() == 2);
    const std::vector<Rect> mask {{990, 690, 70, 70}};
    CHECK(changed_regions(a, b, mask).size() == 1);

    // Frames of different sizes differ everywhere.
    CHECK(changed_regions(a, cv::Mat(400, 640, CV_8UC3, cv::Scalar::all(0))).size() == 1);
}

TEST_CASE("a blinking text cursor is not a change; typing is")
{
    const cv::Mat a = page();
    cv::Mat caret = a.clone();
    cv::line(caret, {280, 230}, {280, 247}, cv::Scalar(0, 0, 0), 1);
    auto regions = changed_regions(a, caret);
    REQUIRE(regions.size() == 1);
    CHECK(looks_like_cursor(a, caret, regions[0]));

    cv::Mat typed = a.clone();
    cv::putText(typed, "ACME", {278, 245}, cv::FONT_HERSHEY_SIMPLEX, 0.6, cv::Scalar(0, 0, 0), 1);
    regions = changed_regions(a, typed);
    REQUIRE_FALSE(regions.empty());
    CHECK_FALSE(looks_like_cursor(a, typed, regions[0]));
}

TEST_CASE("stability: settled after a quiet period, cursor blinks and masked regions ignored")
{
    const cv::Mat a = page();
    StabilityTracker tracker({{1100, 0, 180, 60}}); // a clock in the header
    const auto t0 = StabilityTracker::Clock::now();
    CHECK(tracker.update(a, t0)); // the first frame counts
    CHECK_FALSE(tracker.stable(300ms, t0 + 100ms));

    cv::Mat caret = a.clone();
    cv::line(caret, {280, 230}, {280, 247}, cv::Scalar(0, 0, 0), 1);
    CHECK_FALSE(tracker.update(caret, t0 + 200ms));
    cv::Mat clock = caret.clone();
    cv::putText(clock, "14:05:09", {1120, 40}, cv::FONT_HERSHEY_SIMPLEX, 0.7, cv::Scalar(0, 0, 0), 2);
    CHECK_FALSE(tracker.update(clock, t0 + 250ms));
    CHECK(tracker.stable(300ms, t0 + 320ms));

    cv::Mat loaded = clock.clone();
    cv::rectangle(loaded, {40, 460, 1200, 200}, cv::Scalar(230, 230, 230), cv::FILLED);
    CHECK(tracker.update(loaded, t0 + 400ms));
    CHECK_FALSE(tracker.stable(300ms, t0 + 600ms));
    CHECK(tracker.stable(300ms, t0 + 700ms));
}

TEST_CASE("effect check: where the screen changed after an action")
{
    const cv::Mat before = page();
    cv::Mat after = before.clone();
    cv::putText(after, "ACME", {278, 245}, cv::FONT_HERSHEY_SIMPLEX, 0.6, cv::Scalar(0, 0, 0), 1);
    const Rect field {268, 219, 374, 38};
    CHECK(check_effect(before, after, field).effect == Effect::expected);
    CHECK(check_effect(before, after, Rect {40, 500, 400, 100}).effect == Effect::elsewhere);
    CHECK(check_effect(before, after, std::nullopt).effect == Effect::expected);
    CHECK(check_effect(before, before.clone(), field).effect == Effect::none);
    // A change only inside the mask is no effect at all.
    CHECK(check_effect(before, after, field, std::vector<Rect> {{260, 210, 400, 60}}).effect == Effect::none);
}
