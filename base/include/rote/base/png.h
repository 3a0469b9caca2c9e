#pragma once

// The header of a PNG, read before anything decodes it: a stored or imported image is checked to be a PNG
// of a size a screen can have, so a crafted one (16000x16000, a few KB compressed) never becomes gigabytes
// of pixels.

#include <cstdint>
#include <span>

#include <rote/base/result.h>

namespace rote {

// The largest screen rote works with (8K UHD), which bounds every image it decodes.
inline constexpr int kMaxImageWidth = 7680;
inline constexpr int kMaxImageHeight = 4320;

struct ImageSize {
    int width = 0;
    int height = 0;
};

// The width and height a PNG's header (its signature, then its IHDR chunk) declares. Errors
// (invalid_argument) name what is wrong: not a PNG, a truncated or malformed header, an empty image, or one
// larger than kMaxImageWidth x kMaxImageHeight.
Result<ImageSize> png_size(std::span<const std::uint8_t> png);

} // namespace rote
