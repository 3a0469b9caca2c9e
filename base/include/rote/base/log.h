#pragma once

// One named logger per component (style.md 9): rote::logger("store"), rote::logger("runtime.sandbox").
// All write to stderr; the CLI sets the level. Never pass a secret, an API key or a typed secret value.

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace rote {

// Returns the logger of that name, creating it on first use. Thread-safe.
std::shared_ptr<spdlog::logger> logger(const std::string& name);

} // namespace rote
