#pragma once

// What mining and the runner share about a captured or received message.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "html.h"

namespace rote::api::body {

using Fields = std::vector<std::pair<std::string, std::string>>;

// A header's value (case-insensitive name), the first; empty when absent.
std::string header(const Fields& fields, const std::string& name);
// "text/html" from "Text/HTML; charset=utf-8".
std::string media_type(const std::string& content_type);
// The body as the page or JSON it is: decompressed as Content-Encoding says (gzip, deflate); nullopt for an
// encoding it cannot undo.
std::optional<std::string> decoded(const Fields& headers, const std::string& raw);

// Percent-decoding (a form's "+" as a space when `form`), and encoding for a path segment or a query/form
// value.
std::string url_decode(const std::string& text, bool form);
std::string url_encode(const std::string& text, bool form);

// `link` (an href, a form's action, a Location) as the absolute URL a browser makes of it on the page at
// `base` (an absolute http(s) URL). Mining compares links with it; the runner follows them with it.
std::string resolve(const std::string& link, const std::string& base);

// A body read as what it is, once.
struct Parsed {
    std::string text; // decoded
    std::string media; // media type
    std::optional<html::Page> page; // for HTML
    std::optional<nlohmann::json> json; // for JSON
};
Parsed parse(const Fields& headers, const std::string& raw);

// The value a rule reads from an answer (plan.h, Rule), or nullopt with nothing there.
// A JSON pointer's value, where a token "[key=$name]" picks an array's first element whose `key` is the
// variable's value (a search result named by the input); nullptr where there is none.
const nlohmann::json* json_at(
    const nlohmann::json& root, const std::string& path, const std::map<std::string, std::string>& variables);

std::optional<std::string> read(const Parsed& answer, const Fields& headers, const std::string& from,
    const std::string& path, const std::string& pattern, const std::map<std::string, std::string>& variables);

} // namespace rote::api::body
