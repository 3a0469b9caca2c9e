#pragma once

// Base64 (RFC 4648, with padding): the store's trace documents, the qemu guest agent's file transfers, and
// anything else that moves bytes as text.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <rote/base/result.h>

namespace rote {

std::string base64_encode(std::span<const std::uint8_t> data);
// Error::Code::invalid_argument for text that is not base64.
Result<std::vector<std::uint8_t>> base64_decode(std::string_view text);

} // namespace rote
