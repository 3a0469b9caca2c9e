#pragma once

// One screenshot of the vision corpus by file name ("registry-search.baseline.png"), for the tests that
// work on real Chromium-rendered pages. Needs ROTE_VISION_DATA and doctest.

#include <string>

#include <doctest/doctest.h>
#include <opencv2/imgcodecs.hpp>

namespace rote::test {

inline cv::Mat corpus_page(const std::string& name)
{
    cv::Mat image = cv::imread(std::string(ROTE_VISION_DATA) + "/" + name);
    REQUIRE_MESSAGE(!image.empty(), name);
    return image;
}

} // namespace rote::test
