#include <rote/base/input.h>

#include <array>
#include <cstdio>
#include <cstdlib>

#include <rote/base/text.h>

namespace rote {

namespace {

// X keysyms (X11/keysymdef.h) rote names.
struct Name {
    const char* name;
    std::uint32_t keysym;
};
// The first name of a keysym is the one key_name gives.
constexpr std::array kNames {
    Name {"ctrl", 0xffe3}, // Control_L
    Name {"control", 0xffe3},
    Name {"shift", 0xffe1}, // Shift_L
    Name {"alt", 0xffe9}, // Alt_L
    Name {"meta", 0xffe7}, // Meta_L
    Name {"super", 0xffeb}, // Super_L
    Name {"win", 0xffeb},
    Name {"cmd", 0xffeb},
    Name {"return", 0xff0d},
    Name {"enter", 0xff0d},
    Name {"tab", 0xff09},
    Name {"escape", 0xff1b},
    Name {"esc", 0xff1b},
    Name {"backspace", 0xff08},
    Name {"delete", 0xffff},
    Name {"del", 0xffff},
    Name {"insert", 0xff63},
    Name {"home", 0xff50},
    Name {"end", 0xff57},
    Name {"page_up", 0xff55},
    Name {"pageup", 0xff55},
    Name {"page_down", 0xff56},
    Name {"pagedown", 0xff56},
    Name {"left", 0xff51},
    Name {"right", 0xff53},
    Name {"up", 0xff52},
    Name {"down", 0xff54},
    Name {"space", 0x20},
    Name {"plus", 0x2b},
    Name {"minus", 0x2d},
    Name {"f1", 0xffbe},
    Name {"f2", 0xffbf},
    Name {"f3", 0xffc0},
    Name {"f4", 0xffc1},
    Name {"f5", 0xffc2},
    Name {"f6", 0xffc3},
    Name {"f7", 0xffc4},
    Name {"f8", 0xffc5},
    Name {"f9", 0xffc6},
    Name {"f10", 0xffc7},
    Name {"f11", 0xffc8},
    Name {"f12", 0xffc9},
};

// Keysyms that are another key's twin: the right-hand modifiers, the keypad's Enter, and ISO_Left_Tab (what
// X makes of shift+Tab).
std::uint32_t canonical(std::uint32_t keysym)
{
    switch (keysym) {
    case 0xffe4: return 0xffe3; // Control_R
    case 0xffe2: return 0xffe1; // Shift_R
    case 0xffea: return 0xffe9; // Alt_R
    case 0xffe8: return 0xffe7; // Meta_R
    case 0xffec: return 0xffeb; // Super_R
    case 0xff8d: return 0xff0d; // KP_Enter
    case 0xfe20: return 0xff09; // ISO_Left_Tab
    default: return keysym;
    }
}

} // namespace

std::uint32_t keysym_for(char32_t code_point)
{
    if ((code_point >= 0x20 && code_point <= 0x7e) || (code_point >= 0xa0 && code_point <= 0xff))
        return code_point;
    return 0x01000000u | static_cast<std::uint32_t>(code_point);
}

std::optional<char32_t> printable_code_point(std::uint32_t keysym)
{
    if ((keysym >= 0x20 && keysym <= 0x7e) || (keysym >= 0xa0 && keysym <= 0xff))
        return static_cast<char32_t>(keysym);
    if ((keysym & 0xff000000u) == 0x01000000u) {
        const char32_t cp = keysym & 0x00ffffffu;
        if (cp >= 0x20 && cp != 0x7f && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff))
            return cp;
    }
    if (keysym >= 0xffb0 && keysym <= 0xffb9) // KP_0..KP_9
        return static_cast<char32_t>('0' + (keysym - 0xffb0));
    return std::nullopt;
}

std::optional<Modifier> modifier_of(std::uint32_t keysym)
{
    switch (canonical(keysym)) {
    case 0xffe3: return Modifier::ctrl;
    case 0xffe9: return Modifier::alt;
    case 0xffe7: return Modifier::alt; // Meta: what X servers give the Alt key on many layouts
    case 0xffe1: return Modifier::shift;
    case 0xffeb: return Modifier::super;
    default: return std::nullopt;
    }
}

std::string key_name(std::uint32_t keysym)
{
    keysym = canonical(keysym);
    for (const Name& n : kNames) {
        if (n.keysym == keysym)
            return n.name;
    }
    if (keysym > 0x20 && keysym < 0x7f) {
        const char c = static_cast<char>(keysym);
        return std::string(1, c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
    }
    char hex[16];
    std::snprintf(hex, sizeof hex, "0x%x", keysym);
    return hex;
}

Result<std::vector<std::uint32_t>> parse_key_combo(std::string_view combo)
{
    std::vector<std::uint32_t> keys;
    std::string_view rest = combo;
    if (rest.empty())
        return Error(Error::Code::invalid_argument, "empty key combination");
    while (true) {
        // "ctrl++" is ctrl and plus: a '+' right after a separator is the key itself.
        size_t plus = rest.size() > 1 ? rest.find('+', 1) : std::string_view::npos;
        std::string_view part = rest.substr(0, plus);
        std::string lowered = ascii_lower(part);
        std::uint32_t keysym = 0;
        for (const Name& n : kNames) {
            if (keysym == 0 && lowered == n.name)
                keysym = n.keysym;
        }
        if (keysym == 0 && lowered.starts_with("0x") && lowered.size() > 2) {
            char* end = nullptr;
            unsigned long value = std::strtoul(lowered.c_str() + 2, &end, 16);
            if (*end == '\0' && value > 0 && value <= 0x1ffffff)
                keysym = static_cast<std::uint32_t>(value);
        }
        if (keysym == 0 && part.size() == 1 && static_cast<unsigned char>(part[0]) >= 0x20
            && static_cast<unsigned char>(part[0]) < 0x7f)
            keysym = keysym_for(static_cast<char32_t>(part[0]));
        if (keysym == 0)
            return Error(Error::Code::invalid_argument,
                "'" + std::string(part) + "' in key combination '" + std::string(combo) + "' is not a key");
        keys.push_back(keysym);
        if (plus == std::string_view::npos)
            break;
        rest = rest.substr(plus + 1);
        if (rest.empty())
            return Error(Error::Code::invalid_argument, "key combination '" + std::string(combo) + "' ends with '+'");
    }
    return keys;
}

} // namespace rote
