#include <rote/vision/image.h>

#include <opencv2/imgcodecs.hpp>

namespace rote::vision {

Result<std::vector<std::uint8_t>> encode_png(const cv::Mat& image, int compression)
{
    if (image.empty() || image.depth() != CV_8U
        || (image.channels() != 1 && image.channels() != 3 && image.channels() != 4))
        return Error(Error::Code::invalid_argument, "encode_png needs a non-empty 8-bit image with 1, 3 or 4 channels");
    if (compression < 0 || compression > 9)
        return Error(Error::Code::invalid_argument, "PNG compression level must be 0-9");
    std::vector<std::uint8_t> out;
    try {
        if (!cv::imencode(".png", image, out, {cv::IMWRITE_PNG_COMPRESSION, compression}))
            return Error(Error::Code::internal, "PNG encoding failed");
    } catch (const cv::Exception& e) {
        return Error(Error::Code::internal, std::string("PNG encoding failed: ") + e.what());
    }
    return out;
}

Result<cv::Mat> decode_png(std::span<const std::uint8_t> png)
{
    static constexpr std::uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (png.size() < sizeof kSignature || !std::equal(std::begin(kSignature), std::end(kSignature), png.begin()))
        return Error(Error::Code::invalid_argument, "not a PNG (bad signature)");
    cv::Mat image;
    try {
        // imdecode wants a Mat header; it does not write through it.
        const cv::Mat buffer(1, static_cast<int>(png.size()), CV_8U, const_cast<std::uint8_t*>(png.data()));
        image = cv::imdecode(buffer, cv::IMREAD_COLOR);
    } catch (const cv::Exception& e) {
        return Error(Error::Code::invalid_argument, std::string("PNG does not decode: ") + e.what());
    }
    if (image.empty())
        return Error(Error::Code::invalid_argument, "PNG does not decode");
    return image;
}

} // namespace rote::vision
