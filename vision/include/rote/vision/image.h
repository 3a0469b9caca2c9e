#pragma once

// Screenshots as bytes: the PNG form in which the store keeps them and the LLM client sends them.

#include <cstdint>
#include <span>
#include <vector>

#include <opencv2/core.hpp>

#include <rote/base/result.h>

namespace rote::vision {

// Encodes an 8-bit 1-, 3- or 4-channel image (BGR order, as OpenCV holds it) as PNG.
// compression is zlib's level 0-9; 1 is the fast default for screenshots, which compress well anyway.
Result<std::vector<std::uint8_t>> encode_png(const cv::Mat& image, int compression = 1);

// A small picture of a screen, for people: scaled to `width` pixels wide (never up), as JPEG. What the run
// report shows for every step; never what replay compares (that is the PNG, whole).
Result<std::vector<std::uint8_t>> encode_thumbnail(const cv::Mat& image, int width = 480);

// Decodes PNG bytes to an 8-bit BGR image. Anything that is not a valid PNG is an error, never a crash.
Result<cv::Mat> decode_png(std::span<const std::uint8_t> png);

} // namespace rote::vision
