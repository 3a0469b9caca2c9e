#pragma once

// The screenshot as the model receives it: downscaled, PNG, base64.

#include <string>

#include <opencv2/core.hpp>

#include <rote/base/result.h>
#include <rote/llm/scaling.h>

namespace rote::llm {

struct ModelImage {
    ScreenScale scale;
    std::string base64_png;
};

// Scales `screen` (8-bit BGR) to fit `limit` and encodes it.
Result<ModelImage> prepare_screen(const cv::Mat& screen, Size limit);

// A patch cut from the real screen, scaled by the same factors as the screenshot so the model sees it at
// the size it appears in the screenshot.
Result<std::string> prepare_patch(const cv::Mat& patch, const ScreenScale& scale);

std::string base64(const std::vector<std::uint8_t>& bytes);

} // namespace rote::llm
