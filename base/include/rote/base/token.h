#pragma once

// Tokens that guard what rote serves (the live view, the HTTP API): made from the kernel's generator, kept in
// files only their owner reads, compared in constant time.

#include <filesystem>
#include <string>
#include <string_view>

#include <rote/base/result.h>

namespace rote {

// 32 bytes from the kernel's generator, in hex.
Result<std::string> random_token();

// The token kept in `path`: read if the file exists (refused unless it is a regular file of this user's that
// no one else may read or write: a token others can read guards nothing), made and written 0600 if it does not.
Result<std::string> token_in_file(const std::filesystem::path& path);

// a == b without telling, by the time it takes, how much of a matched.
bool same_token(std::string_view a, std::string_view b);

} // namespace rote
