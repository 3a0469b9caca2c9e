#pragma once

#include <span>

namespace rote::store {

// migrations()[i] takes a file from schema version i to i+1. Append only: a released migration is
// never edited, since files in the field were made by it.
std::span<const char* const> migrations();

} // namespace rote::store
