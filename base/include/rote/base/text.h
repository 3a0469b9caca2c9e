#pragma once

// Text helpers every component shares.

#include <string>
#include <string_view>

namespace rote {

// ASCII case folding (key names, host names, HTTP header names, hint words): locale-independent, unlike
// std::tolower, and bytes >= 0x80 are left untouched, so UTF-8 text passes through whole.
inline std::string ascii_lower(std::string_view text)
{
    std::string out(text);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

// The current time in UTC as ISO 8601 to the second ("2026-12-01T08:34:02Z"): the store's timestamps, the
// proxy's log lines, an image's build time.
std::string now_timestamp();

} // namespace rote
