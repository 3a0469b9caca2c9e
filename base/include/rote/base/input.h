#pragma once

// What a person's keyboard and pointer send, in RFB's terms (RFC 6143: KeyEvent, PointerEvent), and the names
// rote gives keys in `key` actions ("ctrl+shift+t", "return", "f5"). The desktop turns names into keysyms to
// send; teaching by showing turns the keysyms a person sent back into names.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rote/base/geometry.h>
#include <rote/base/result.h>

namespace rote {

// One event a person's viewer sent, as rote's RFB relay saw it pass.
struct InputEvent {
    enum class Kind { pointer, key };
    Kind kind = Kind::pointer;
    std::int64_t at_ms = 0; // when, since the recording began
    Point at; // pointer: where
    std::uint8_t buttons = 0; // pointer: RFB's button mask (see below)
    std::uint32_t keysym = 0; // key: the X keysym
    bool down = false; // key: pressed (true) or released

    friend bool operator==(const InputEvent&, const InputEvent&) = default;
};

// RFB's pointer button mask: bits 0-2 are the left, middle and right buttons; bits 3-6 are wheel clicks
// (up, down, left, right), each sent as a press and a release.
namespace buttons {
inline constexpr std::uint8_t left = 1, middle = 2, right = 4, wheel_up = 8, wheel_down = 16, wheel_left = 32,
                              wheel_right = 64;
}

// The X keysyms of a combination ("ctrl+shift+t" → Control_L, Shift_L, t); Error::Code::invalid_argument
// naming the part that is not a key.
Result<std::vector<std::uint32_t>> parse_key_combo(std::string_view combo);

// The keysym that types one Unicode code point (Latin-1 directly, others as 0x01000000 + code point).
std::uint32_t keysym_for(char32_t code_point);

// The code point a keysym types, for the printable ones (the inverse of keysym_for); nothing for control
// keys, modifiers and function keys.
std::optional<char32_t> printable_code_point(std::uint32_t keysym);

// The modifier a keysym is (either side's), or nothing.
enum class Modifier { ctrl, alt, shift, super };
std::optional<Modifier> modifier_of(std::uint32_t keysym);

// A key's name as parse_key_combo reads it back: "return", "f5", "a" (a letter lower-cased: the shift is a
// modifier of the combination), "plus", "0xfe08" for a keysym with no name.
std::string key_name(std::uint32_t keysym);

} // namespace rote
