#include "screen.h"

#include <algorithm>

#include <opencv2/imgproc.hpp>
#include <openssl/evp.h>

#include <rote/vision/image.h>

namespace rote::llm {

std::string base64(const std::vector<std::uint8_t>& bytes)
{
    std::string out(4 * ((bytes.size() + 2) / 3), '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes.data(), static_cast<int>(bytes.size()));
    out.resize(static_cast<size_t>(n));
    return out;
}

namespace {

Result<std::string> encode(const cv::Mat& image)
{
    auto png = ROTE_TRY(vision::encode_png(image));
    return base64(png);
}

cv::Mat to_bgr(const cv::Mat& image)
{
    if (image.channels() == 3)
        return image;
    cv::Mat bgr;
    cv::cvtColor(image, bgr, image.channels() == 4 ? cv::COLOR_BGRA2BGR : cv::COLOR_GRAY2BGR);
    return bgr;
}

} // namespace

Result<ModelImage> prepare_screen(const cv::Mat& screen, Size limit)
{
    if (screen.empty() || screen.depth() != CV_8U || (screen.channels() != 1 && screen.channels() != 3 && screen.channels() != 4))
        return Error(Error::Code::invalid_argument, "the screenshot must be a non-empty 8-bit image");
    ModelImage out {ScreenScale::fit({screen.cols, screen.rows}, limit), {}};
    cv::Mat image = to_bgr(screen);
    if (!out.scale.identity()) {
        cv::Mat scaled;
        // Area averaging: text stays legible when it shrinks, where bilinear sampling drops strokes.
        cv::resize(image, scaled, cv::Size(out.scale.model().width, out.scale.model().height), 0, 0, cv::INTER_AREA);
        image = scaled;
    }
    out.base64_png = ROTE_TRY(encode(image));
    return out;
}

Result<std::string> prepare_patch(const cv::Mat& patch, const ScreenScale& scale)
{
    if (patch.empty() || patch.depth() != CV_8U)
        return Error(Error::Code::invalid_argument, "the expected step's patch must be a non-empty 8-bit image");
    cv::Mat image = to_bgr(patch);
    if (!scale.identity()) {
        const double fx = static_cast<double>(scale.model().width) / scale.screen().width;
        const double fy = static_cast<double>(scale.model().height) / scale.screen().height;
        cv::Mat scaled;
        cv::resize(image, scaled,
            cv::Size(std::max(1, static_cast<int>(image.cols * fx + 0.5)), std::max(1, static_cast<int>(image.rows * fy + 0.5))),
            0, 0, cv::INTER_AREA);
        image = scaled;
    }
    return encode(image);
}

} // namespace rote::llm
