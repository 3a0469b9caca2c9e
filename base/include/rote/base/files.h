#pragma once

// Writing files that others may try to read or hijack.

#include <filesystem>
#include <string_view>
#include <sys/types.h>

#include <rote/base/result.h>

namespace rote {

// Writes `bytes` to `target` whole or not at all: into a new temporary file in the target's directory (made
// with O_EXCL, so a link planted at a predictable name is never followed, and never written through), synced,
// given `mode`, then renamed over the target. A crash leaves the old file or none, never half of the new one.
Result<void> write_file_atomically(const std::filesystem::path& target, std::string_view bytes, mode_t mode = 0600);

// Creates `path` for appending with `mode` if it does not exist, refusing to follow a link there; an existing
// file gets `mode` too. For logs that hold URLs and their query tokens: 0600.
Result<void> create_private_file(const std::filesystem::path& path, mode_t mode = 0600);

} // namespace rote
