#include <rote/vision/image.h>

#include <rote/base/png.h>

#include <algorithm>
#include <csetjmp>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <png.h>

namespace rote::vision {

namespace {

// libpng reports errors by longjmp. Everything between setjmp and the jump is trivially destructible: the
// output vector lives in the caller, reached through the io pointer.
struct PngSink {
    std::vector<std::uint8_t>* out;
    std::jmp_buf jump;
};

void on_png_error(png_structp png, png_const_charp)
{
    auto* sink = static_cast<PngSink*>(png_get_error_ptr(png));
    std::longjmp(sink->jump, 1);
}

void on_png_warning(png_structp, png_const_charp) { }

void on_png_write(png_structp png, png_bytep data, png_size_t size)
{
    auto* sink = static_cast<PngSink*>(png_get_io_ptr(png));
    sink->out->insert(sink->out->end(), data, data + size);
}

void on_png_flush(png_structp) { }

bool write_png(const cv::Mat& image, int compression, PngSink& sink)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &sink, on_png_error, on_png_warning);
    if (png == nullptr)
        return false;
    png_infop info = png_create_info_struct(png);
    if (info == nullptr || setjmp(sink.jump) != 0) {
        png_destroy_write_struct(&png, &info);
        return false;
    }
    png_set_write_fn(png, &sink, on_png_write, on_png_flush);
    const int color_type = image.channels() == 1 ? PNG_COLOR_TYPE_GRAY
        : image.channels() == 3                  ? PNG_COLOR_TYPE_RGB
                                                 : PNG_COLOR_TYPE_RGB_ALPHA;
    png_set_IHDR(png, info, static_cast<png_uint_32>(image.cols), static_cast<png_uint_32>(image.rows), 8, color_type,
        PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, compression);
    // No row filters. libpng's default tries all five per row, which is what made OpenCV's encoder take
    // ~45 ms for a 1280x800 screenshot; unfiltered rows of flat UI compress nearly as well and take ~11 ms
    // (bench/llm_bench, docs/benchmarks.md).
    png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_NONE);
    png_set_compression_buffer_size(png, 1 << 18);
    if (image.channels() > 1)
        png_set_bgr(png);
    png_write_info(png, info);
    for (int y = 0; y < image.rows; ++y)
        png_write_row(png, image.ptr<png_byte>(y));
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    return true;
}

} // namespace

Result<std::vector<std::uint8_t>> encode_png(const cv::Mat& image, int compression)
{
    if (image.empty() || image.depth() != CV_8U
        || (image.channels() != 1 && image.channels() != 3 && image.channels() != 4))
        return Error(Error::Code::invalid_argument, "encode_png needs a non-empty 8-bit image with 1, 3 or 4 channels");
    if (compression < 0 || compression > 9)
        return Error(Error::Code::invalid_argument, "PNG compression level must be 0-9");
    std::vector<std::uint8_t> out;
    // Flat UI compresses ~30x; a first guess that avoids most regrowth.
    out.reserve(image.total() * image.elemSize() / 16);
    PngSink sink {&out, {}};
    if (!write_png(image, compression, sink))
        return Error(Error::Code::internal, "PNG encoding failed");
    return out;
}

Result<std::vector<std::uint8_t>> encode_thumbnail(const cv::Mat& image, int width)
{
    if (image.empty() || image.depth() != CV_8U || (image.channels() != 1 && image.channels() != 3))
        return Error(Error::Code::invalid_argument, "a thumbnail needs a non-empty 8-bit image with 1 or 3 channels");
    if (width < 16)
        return Error(Error::Code::invalid_argument, "a thumbnail is at least 16 pixels wide");
    cv::Mat small = image;
    if (image.cols > width) {
        const int height = std::max(1, static_cast<int>(static_cast<long long>(image.rows) * width / image.cols));
        cv::resize(image, small, cv::Size(width, height), 0, 0, cv::INTER_AREA);
    }
    std::vector<std::uint8_t> out;
    try {
        if (!cv::imencode(".jpg", small, out, {cv::IMWRITE_JPEG_QUALITY, 80}))
            return Error(Error::Code::internal, "JPEG encoding failed");
    } catch (const cv::Exception& e) {
        return Error(Error::Code::internal, std::string("JPEG encoding failed: ") + e.what());
    }
    return out;
}

Result<cv::Mat> decode_png(std::span<const std::uint8_t> png)
{
    ROTE_TRY(png_size(png)); // a PNG, of a screen's size at most, before a pixel is decoded
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
