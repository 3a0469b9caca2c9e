#pragma once

// ASCII case folding for the runtime's names (key names, host names): locale-independent, bytes >= 0x80
// untouched.

#include <string>
#include <string_view>

namespace rote::runtime {

inline std::string ascii_lower(std::string_view text)
{
    std::string out(text);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

} // namespace rote::runtime
