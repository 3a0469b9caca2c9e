#pragma once

// What a browser's document says an element is, by the names a person and a program would use for it. The
// recorder keeps it for each pointer step's target and for the focus after each step; replay finds the target
// by it in the live document (exact id, then name, then role and accessible name, then text) and checks the
// focus went where it went when recorded. Values of fields are never part of it (they may be secrets or
// inputs).

#include <array>
#include <string>
#include <utility>

#include <rote/base/geometry.h>

namespace rote {

struct ElementIdentity {
    std::string tag; // lower case: "a", "button", "input", "textarea"; empty: no identity
    std::string id; // its id attribute, unless it looks generated (a run of digits, a leading colon)
    std::string name; // its name attribute (form fields), with the same rule
    std::string role; // its role, explicit or implied by the tag: "link", "button", "textbox", "checkbox", ...
    std::string label; // its accessible name: aria-label, a <label>'s text, title, alt; not its value
    std::string placeholder;
    std::string text; // its visible text (white space made one space, at most 200 characters); "" for fields
    std::string href; // a link's target, absolute, without its fragment
    std::string classes; // its class names that do not look generated, sorted, one space between
    Rect box; // where it was drawn on the screen when seen, in screen pixels; not part of who it is

    bool empty() const { return tag.empty(); }
    bool is_field() const { return tag == "input" || tag == "textarea" || tag == "select" || role == "textbox"; }
    friend bool operator==(const ElementIdentity&, const ElementIdentity&) = default;
};

// An identity's names with the keys they are stored and sent under ("id", "name", ...), in one place for
// every codec of it; the tag and the box are not among them. For a const or a mutable identity.
template <class Identity>
auto named_fields(Identity& e)
{
    return std::array {std::pair {"id", &e.id}, std::pair {"name", &e.name}, std::pair {"role", &e.role},
        std::pair {"label", &e.label}, std::pair {"placeholder", &e.placeholder}, std::pair {"text", &e.text},
        std::pair {"href", &e.href}, std::pair {"classes", &e.classes}};
}

// Whether `now` is the element `recorded` names: the same tag, and the same id when it had one, else the
// same name when it had one, else the same role and accessible name (or placeholder).
bool same_element(const ElementIdentity& recorded, const ElementIdentity& now);

// "input #search [name=q]", "a \"Log In\"": for messages.
std::string describe(const ElementIdentity& e);

} // namespace rote
