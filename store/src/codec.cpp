#include "codec.h"

#include <array>

#include <openssl/evp.h>

namespace rote::store::codec {

using nlohmann::json;

namespace {

Error invalid(std::string_view where, std::string_view what)
{
    return Error(Error::Code::invalid_argument, std::string(where) + ": " + std::string(what));
}

Result<int> int_field(const json& j, const char* key, std::string_view where, int lo, int hi)
{
    auto it = j.find(key);
    if (it == j.end())
        return invalid(where, std::string("missing \"") + key + "\"");
    if (!it->is_number_integer())
        return invalid(where, std::string("\"") + key + "\" must be an integer");
    const auto v = it->get<std::int64_t>();
    if (v < lo || v > hi)
        return invalid(where, std::string("\"") + key + "\" out of range (" + std::to_string(v) + ")");
    return static_cast<int>(v);
}

Result<std::string> string_field(const json& j, const char* key, std::string_view where)
{
    auto it = j.find(key);
    if (it == j.end())
        return invalid(where, std::string("missing \"") + key + "\"");
    if (!it->is_string())
        return invalid(where, std::string("\"") + key + "\" must be a string");
    return it->get<std::string>();
}

} // namespace

std::string sha256_hex(std::span<const std::uint8_t> data)
{
    std::array<unsigned char, EVP_MAX_MD_SIZE> md {};
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), md.data(), &len, EVP_sha256(), nullptr);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(len * 2);
    for (unsigned int i = 0; i < len; ++i) {
        out.push_back(kHex[md[i] >> 4]);
        out.push_back(kHex[md[i] & 0xf]);
    }
    return out;
}

bool is_hash(std::string_view s)
{
    if (s.size() != 64)
        return false;
    for (char c : s) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

json to_json(const Action& a)
{
    json j {{"kind", std::string(to_string(a.kind))}};
    if (acts_at_point(a.kind)) {
        j["x"] = a.at.x;
        j["y"] = a.at.y;
    }
    switch (a.kind) {
    case ActionKind::drag:
        j["to_x"] = a.to.x;
        j["to_y"] = a.to.y;
        break;
    case ActionKind::scroll:
        j["dx"] = a.scroll_dx;
        j["dy"] = a.scroll_dy;
        break;
    case ActionKind::type:
    case ActionKind::key:
    case ActionKind::done:
    case ActionKind::give_up:
        j["text"] = a.text;
        break;
    case ActionKind::wait:
        j["ms"] = a.wait_ms;
        break;
    default:
        break;
    }
    return j;
}

Result<Action> action_from_json(const json& j, std::string_view where)
{
    if (!j.is_object())
        return invalid(where, "an action must be an object");
    const auto kind_name = ROTE_TRY(string_field(j, "kind", where));
    const auto kind = parse_action_kind(kind_name);
    if (!kind)
        return invalid(where, "unknown action \"" + kind_name + "\"");
    Action a;
    a.kind = *kind;
    if (acts_at_point(a.kind)) {
        a.at.x = ROTE_TRY(int_field(j, "x", where, 0, kMaxCoordinate));
        a.at.y = ROTE_TRY(int_field(j, "y", where, 0, kMaxCoordinate));
    }
    switch (a.kind) {
    case ActionKind::drag:
        a.to.x = ROTE_TRY(int_field(j, "to_x", where, 0, kMaxCoordinate));
        a.to.y = ROTE_TRY(int_field(j, "to_y", where, 0, kMaxCoordinate));
        break;
    case ActionKind::scroll:
        a.scroll_dx = ROTE_TRY(int_field(j, "dx", where, -1000, 1000));
        a.scroll_dy = ROTE_TRY(int_field(j, "dy", where, -1000, 1000));
        break;
    case ActionKind::type:
    case ActionKind::key:
    case ActionKind::done:
    case ActionKind::give_up:
        a.text = ROTE_TRY(string_field(j, "text", where));
        break;
    case ActionKind::wait:
        a.wait_ms = ROTE_TRY(int_field(j, "ms", where, 0, 600'000));
        break;
    default:
        break;
    }
    if ((a.kind == ActionKind::key || a.kind == ActionKind::type) && a.text.empty())
        return invalid(where, std::string(to_string(a.kind)) + " needs a non-empty \"text\"");
    return a;
}

json to_json(const Rect& r) { return json::array({r.x, r.y, r.w, r.h}); }

json to_json(const std::vector<Rect>& rects)
{
    json j = json::array();
    for (const auto& r : rects)
        j.push_back(to_json(r));
    return j;
}

Result<Rect> rect_from_json(const json& j, std::string_view where)
{
    if (!j.is_array() || j.size() != 4)
        return invalid(where, "a rectangle must be [x, y, w, h]");
    std::array<int, 4> v {};
    for (std::size_t i = 0; i < 4; ++i) {
        if (!j[i].is_number_integer())
            return invalid(where, "rectangle values must be integers");
        const auto n = j[i].get<std::int64_t>();
        if (n < 0 || n > kMaxCoordinate)
            return invalid(where, "rectangle value out of range");
        v[i] = static_cast<int>(n);
    }
    return Rect {v[0], v[1], v[2], v[3]};
}

Result<std::vector<Rect>> rects_from_json(const json& j, std::string_view where)
{
    if (!j.is_array())
        return invalid(where, "expected a list of rectangles");
    std::vector<Rect> out;
    for (const auto& r : j)
        out.push_back(ROTE_TRY(rect_from_json(r, where)));
    return out;
}

// An element's identity as stored: its names, empty ones left out, and its box.
json identity_to_json(const ElementIdentity& e)
{
    json j {{"tag", e.tag}, {"box", to_json(e.box)}};
    for (const auto& [key, value] : named_fields(e)) {
        if (!value->empty())
            j[key] = *value;
    }
    return j;
}

Result<ElementIdentity> identity_from_json(const json& j, std::string_view where)
{
    if (!j.is_object())
        return invalid(where, "an element's identity must be an object");
    ElementIdentity e;
    e.tag = ROTE_TRY(string_field(j, "tag", where));
    if (e.tag.empty() || e.tag.size() > 32
        || e.tag.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos)
        return invalid(where, "an element's \"tag\" must be a lower-case HTML tag name, not \"" + e.tag.substr(0, 40) + "\"");
    if (auto it = j.find("box"); it != j.end())
        e.box = ROTE_TRY(rect_from_json(*it, where));
    for (const auto& [key, value] : named_fields(e)) {
        if (j.contains(key)) {
            *value = ROTE_TRY(string_field(j, key, where));
            if (value->size() > 1000)
                return invalid(where, std::string("an element's \"") + key + "\" is longer than 1000 bytes");
        }
    }
    return e;
}

json anchor_to_json(const Anchor& a)
{
    json j {{"label", a.label}};
    if (a.label_box)
        j["box"] = to_json(*a.label_box);
    json landmarks = json::array();
    for (const auto& l : a.landmarks)
        landmarks.push_back({{"text", l.text}, {"dx", l.dx}, {"dy", l.dy}});
    j["landmarks"] = std::move(landmarks);
    if (!a.element.empty())
        j["element"] = a.element;
    if (!a.identity.empty())
        j["identity"] = identity_to_json(a.identity);
    if (!a.focus.empty())
        j["focus"] = identity_to_json(a.focus);
    if (!a.output_labels.empty())
        j["output_labels"] = to_json(a.output_labels);
    return j;
}

Result<Anchor> anchor_from_json(const json& j, std::string_view where)
{
    if (!j.is_object())
        return invalid(where, "an anchor must be an object");
    Anchor a;
    a.label = ROTE_TRY(string_field(j, "label", where));
    if (auto it = j.find("box"); it != j.end() && !it->is_null())
        a.label_box = ROTE_TRY(rect_from_json(*it, where));
    if (auto it = j.find("landmarks"); it != j.end()) {
        if (!it->is_array())
            return invalid(where, "\"landmarks\" must be a list");
        for (const auto& l : *it) {
            if (!l.is_object())
                return invalid(where, "a landmark must be an object");
            Landmark m;
            m.text = ROTE_TRY(string_field(l, "text", where));
            m.dx = ROTE_TRY(int_field(l, "dx", where, -kMaxCoordinate, kMaxCoordinate));
            m.dy = ROTE_TRY(int_field(l, "dy", where, -kMaxCoordinate, kMaxCoordinate));
            a.landmarks.push_back(std::move(m));
        }
    }
    if (auto it = j.find("element"); it != j.end() && !it->is_null()) {
        a.element = ROTE_TRY(string_field(j, "element", where));
        if (a.element != "link" && a.element != "button" && a.element != "field" && a.element != "text")
            return invalid(where, "\"element\" must be link, button, field or text, not \"" + a.element + "\"");
    }
    if (auto it = j.find("identity"); it != j.end() && !it->is_null())
        a.identity = ROTE_TRY(identity_from_json(*it, where));
    if (auto it = j.find("focus"); it != j.end() && !it->is_null())
        a.focus = ROTE_TRY(identity_from_json(*it, where));
    if (auto it = j.find("output_labels"); it != j.end() && !it->is_null()) {
        a.output_labels = ROTE_TRY(map_from_json(*it, std::string(where) + ".output_labels"));
        if (a.output_labels.size() > 64)
            return invalid(where, "\"output_labels\" names more than 64 outputs");
        for (const auto& [name, selector] : a.output_labels) {
            if (name.empty() || name.size() > 200 || selector.size() > 1000)
                return invalid(where, "an output label's name is empty or over 200 bytes, or its place over 1000");
        }
    }
    return a;
}

json to_json(const std::map<std::string, std::string>& map)
{
    json j = json::object();
    for (const auto& [k, v] : map)
        j[k] = v;
    return j;
}

Result<std::map<std::string, std::string>> map_from_json(const json& j, std::string_view where)
{
    if (!j.is_object())
        return invalid(where, "expected an object of strings");
    std::map<std::string, std::string> out;
    for (const auto& [k, v] : j.items()) {
        if (!v.is_string())
            return invalid(where, "\"" + k + "\" must be a string");
        out[k] = v.get<std::string>();
    }
    return out;
}

Result<json> parse_stored(const std::string& text, std::string_view where)
{
    json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded())
        return Error(Error::Code::corrupt, std::string(where) + ": stored JSON does not parse");
    return j;
}

} // namespace rote::store::codec
