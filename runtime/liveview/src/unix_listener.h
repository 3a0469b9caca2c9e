#pragma once

// A unix socket only rote's own user connects to: made anew at `path`, 0600 from the start (the umask is
// tightened around bind, so no other user connects in between), listening. The caller owns the descriptor.

#include <filesystem>

#include <rote/base/result.h>

namespace rote::runtime::detail {

Result<int> listen_private_unix(const std::filesystem::path& path);

} // namespace rote::runtime::detail
