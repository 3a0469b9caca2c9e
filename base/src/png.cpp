#include <rote/base/png.h>

#include <algorithm>
#include <string>

namespace rote {

Result<ImageSize> png_size(std::span<const std::uint8_t> png)
{
    static constexpr std::uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (png.size() < sizeof kSignature || !std::equal(std::begin(kSignature), std::end(kSignature), png.begin()))
        return Error(Error::Code::invalid_argument, "not a PNG (bad signature)");
    // The first chunk: length 13, type IHDR, width and height big-endian.
    if (png.size() < 33)
        return Error(Error::Code::invalid_argument, "a truncated PNG (no complete IHDR header)");
    const auto be32 = [&](std::size_t at) {
        return (std::uint32_t(png[at]) << 24) | (std::uint32_t(png[at + 1]) << 16) | (std::uint32_t(png[at + 2]) << 8)
            | std::uint32_t(png[at + 3]);
    };
    if (be32(8) != 13 || !std::equal(png.begin() + 12, png.begin() + 16, "IHDR"))
        return Error(Error::Code::invalid_argument, "a malformed PNG (its first chunk is not IHDR)");
    const std::uint32_t width = be32(16), height = be32(20);
    if (width == 0 || height == 0)
        return Error(Error::Code::invalid_argument, "an empty PNG (0 pixels wide or high)");
    if (width > std::uint32_t(kMaxImageWidth) || height > std::uint32_t(kMaxImageHeight))
        return Error(Error::Code::invalid_argument, "a PNG of " + std::to_string(width) + "x" + std::to_string(height)
                + " pixels, larger than any screen rote works with (" + std::to_string(kMaxImageWidth) + "x"
                + std::to_string(kMaxImageHeight) + ")");
    return ImageSize {int(width), int(height)};
}

} // namespace rote
