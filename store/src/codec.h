#pragma once

// Encodings the store uses on disk and in exported traces. Internal to the store.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <rote/base/action.h>
#include <rote/base/base64.h>
#include <rote/base/result.h>
#include <rote/store/records.h>

namespace rote::store::codec {

std::string sha256_hex(std::span<const std::uint8_t> data);
bool is_hash(std::string_view s);

// Largest coordinate or size accepted anywhere (pixels); screens are far smaller.
inline constexpr int kMaxCoordinate = 1 << 15;

nlohmann::json to_json(const Action& action);
nlohmann::json to_json(const Rect& rect);
nlohmann::json to_json(const std::vector<Rect>& rects);
nlohmann::json anchor_to_json(const Anchor& anchor); // without the patch, which is a column
nlohmann::json to_json(const std::map<std::string, std::string>& map);

// Parsers validate fully and name the offending field in the error ("where" is a prefix for it).
Result<Action> action_from_json(const nlohmann::json& j, std::string_view where);
Result<Rect> rect_from_json(const nlohmann::json& j, std::string_view where);
Result<std::vector<Rect>> rects_from_json(const nlohmann::json& j, std::string_view where);
Result<Anchor> anchor_from_json(const nlohmann::json& j, std::string_view where);
Result<std::map<std::string, std::string>> map_from_json(const nlohmann::json& j, std::string_view where);

// Parses text that the store itself wrote; failure means the file is corrupt.
Result<nlohmann::json> parse_stored(const std::string& text, std::string_view where);

} // namespace rote::store::codec
