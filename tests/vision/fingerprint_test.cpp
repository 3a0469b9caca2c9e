#include <doctest/doctest.h>

#include <opencv2/imgproc.hpp>

#include <rote/vision/fingerprint.h>

#include "vision/corpus.h"

using namespace rote;
using namespace rote::vision;

namespace {

cv::Mat shot(const std::string& page, const std::string& variant = "baseline")
{
    return corpus::image({page, variant, page + "." + variant + ".png", "found", 0, 0});
}

// The page with a clock drawn in its header, as a dynamic page would show it.
cv::Mat with_clock(const cv::Mat& page, const std::string& time)
{
    cv::Mat m = page.clone();
    cv::rectangle(m, {1100, 12, 150, 32}, cv::Scalar(255, 255, 255), cv::FILLED);
    cv::putText(m, time, {1110, 36}, cv::FONT_HERSHEY_SIMPLEX, 0.7, cv::Scalar(30, 30, 30), 2);
    return m;
}

} // namespace

TEST_CASE("the same page with a changed clock is the same screen under the mask, and differs only there without it")
{
    const cv::Mat base = shot("registry-search");
    const Fingerprint a = fingerprint(with_clock(base, "14:05:09"));
    const Fingerprint b = fingerprint(with_clock(base, "14:05:10"));
    const std::vector<Rect> clock {{1090, 0, 190, 56}};
    const auto masked = compare(a, b, clock);
    CHECK(masked.same());
    CHECK(masked.similarity == 1.0);
    CHECK(masked.differs.empty());

    const auto unmasked = compare(a, b);
    CHECK(unmasked.identical < 1.0);
    REQUIRE_FALSE(unmasked.differs.empty());
    for (const auto& r : unmasked.differs)
        CHECK(r.intersects(clock[0]));
}

TEST_CASE("different pages compare different; identical pages identical")
{
    const auto search = fingerprint(shot("registry-search"));
    CHECK(compare(search, fingerprint(shot("registry-search"))).identical == 1.0);
    for (const char* other : {"registry-results", "crm-login", "crm-lead-form", "dialog", "dashboard"}) {
        CAPTURE(other);
        const auto c = compare(search, fingerprint(shot(other)));
        CHECK_FALSE(c.same());
        CHECK_FALSE(c.differs.empty());
    }
    // The same page shifted by 20 px is not the recorded screen either: replay must relocate.
    CHECK_FALSE(compare(search, fingerprint(shot("registry-search", "shift-20"))).same());
    // Nor is it with a cookie banner over it; the banner is where they differ.
    const auto banner = compare(search, fingerprint(shot("registry-search", "banner")));
    CHECK_FALSE(banner.same());
    REQUIRE_FALSE(banner.differs.empty());
    CHECK(banner.differs[0].y < 96);
}

TEST_CASE("fingerprints serialise, and the parser refuses anything malformed")
{
    const auto f = fingerprint(shot("dialog"));
    CHECK(f.cols == 40);
    CHECK(f.rows == 25);
    const auto bytes = serialize(f);
    CHECK(bytes.size() < 9000);
    auto back = parse_fingerprint(bytes);
    REQUIRE(back.ok());
    CHECK(*back == f);

    CHECK_FALSE(parse_fingerprint({}).ok());
    auto truncated = bytes;
    truncated.pop_back();
    CHECK(parse_fingerprint(truncated).error().message().find("does not match its grid") != std::string::npos);
    auto bad_magic = bytes;
    bad_magic[0] = 'X';
    CHECK_FALSE(parse_fingerprint(bad_magic).ok());
    auto bad_grid = bytes;
    bad_grid[8] = 41; // cols no longer fit the width
    CHECK_FALSE(parse_fingerprint(bad_grid).ok());
}
