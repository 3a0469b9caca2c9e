#include <doctest/doctest.h>

#include <opencv2/imgproc.hpp>

#include <rote/vision/image.h>

using namespace rote::vision;

TEST_CASE("a screenshot survives PNG encoding exactly")
{
    cv::Mat img(800, 1280, CV_8UC3, cv::Scalar(245, 245, 245));
    cv::rectangle(img, {100, 100, 300, 40}, cv::Scalar(200, 80, 20), cv::FILLED);
    cv::putText(img, "Search", {120, 128}, cv::FONT_HERSHEY_SIMPLEX, 0.8, cv::Scalar(255, 255, 255), 2);
    auto png = encode_png(img);
    REQUIRE(png.ok());
    CHECK(png->size() < img.total() * 3 / 20); // a flat page compresses well
    auto back = decode_png(*png);
    REQUIRE(back.ok());
    REQUIRE(back->size() == img.size());
    CHECK(cv::norm(*back, img, cv::NORM_INF) == 0);
}

TEST_CASE("garbage is an error, not a crash")
{
    const std::vector<std::uint8_t> junk {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    CHECK_FALSE(decode_png(junk).ok());
    std::vector<std::uint8_t> truncated {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13};
    CHECK_FALSE(decode_png(truncated).ok());
    CHECK_FALSE(encode_png(cv::Mat()).ok());
    CHECK_FALSE(encode_png(cv::Mat(10, 10, CV_32FC1)).ok());
}

TEST_CASE("a PNG larger than any screen is refused from its header, before a pixel is decoded")
{
    // A real 8000x10 image (a few hundred bytes compressed): within OpenCV's limits, beyond rote's.
    auto wide = encode_png(cv::Mat(10, 8000, CV_8UC3, cv::Scalar(255, 255, 255)));
    REQUIRE(wide.ok());
    auto refused = decode_png(*wide);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message().find("8000x10 pixels, larger than any screen rote works with") != std::string::npos);
    auto largest = encode_png(cv::Mat(4320, 7680, CV_8UC3, cv::Scalar(0, 0, 0)));
    REQUIRE(largest.ok());
    CHECK(decode_png(*largest).ok());
}
