#include "body.h"

#include <algorithm>
#include <cctype>
#include <regex>

#include <zlib.h>

#include <rote/base/text.h>

namespace rote::api::body {

std::string header(const Fields& fields, const std::string& name)
{
    const std::string wanted = ascii_lower(name);
    for (const auto& [n, v] : fields) {
        if (ascii_lower(n) == wanted)
            return v;
    }
    return {};
}

std::string media_type(const std::string& content_type)
{
    std::string type = ascii_lower(content_type.substr(0, content_type.find(';')));
    while (!type.empty() && type.back() == ' ')
        type.pop_back();
    return type;
}

std::optional<std::string> decoded(const Fields& headers, const std::string& raw)
{
    const std::string encoding = ascii_lower(header(headers, "content-encoding"));
    if (encoding.empty() || encoding == "identity")
        return raw;
    if (encoding != "gzip" && encoding != "deflate" && encoding != "x-gzip")
        return std::nullopt;
    z_stream z {};
    if (inflateInit2(&z, 15 + 32) != Z_OK) // 32: a gzip or a zlib header, whichever it is
        return std::nullopt;
    std::string out;
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
    z.avail_in = static_cast<uInt>(raw.size());
    char chunk[16384];
    int rc = Z_OK;
    while (rc == Z_OK) {
        z.next_out = reinterpret_cast<Bytef*>(chunk);
        z.avail_out = sizeof chunk;
        rc = inflate(&z, Z_NO_FLUSH);
        out.append(chunk, sizeof chunk - z.avail_out);
        if (rc == Z_BUF_ERROR && z.avail_in == 0)
            break;
    }
    inflateEnd(&z);
    if (rc != Z_STREAM_END && rc != Z_OK && rc != Z_BUF_ERROR)
        return std::nullopt;
    return out;
}

std::string url_decode(const std::string& text, bool form)
{
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '+' && form) {
            out += ' ';
        } else if (c == '%' && i + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + 1]))
            && std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
            out += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
            i += 2;
        } else {
            out += c;
        }
    }
    return out;
}

std::string url_encode(const std::string& text, bool form)
{
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : text) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
            out += static_cast<char>(c);
        else if (c == ' ' && form)
            out += '+';
        else
            out += std::string("%") + hex[c >> 4] + hex[c & 15];
    }
    return out;
}

std::string resolve(const std::string& link, const std::string& base)
{
    if (link.starts_with("http://") || link.starts_with("https://"))
        return link;
    if (link.starts_with("//"))
        return base.substr(0, base.find(':') + 1) + link;
    const std::size_t path_start = base.find('/', base.find("//") + 2);
    const std::string origin = base.substr(0, path_start);
    if (link.starts_with('/'))
        return origin + link;
    const std::string base_path
        = path_start == std::string::npos ? "/" : base.substr(path_start, base.find('?', path_start) - path_start);
    if (link.starts_with('?'))
        return origin + base_path + link;
    return origin + base_path.substr(0, base_path.rfind('/') + 1) + link;
}

Parsed parse(const Fields& headers, const std::string& raw)
{
    Parsed p;
    p.media = media_type(header(headers, "content-type"));
    p.text = decoded(headers, raw).value_or(std::string());
    if (p.media == "text/html" || p.media == "application/xhtml+xml")
        p.page = html::Page::parse(p.text);
    else if (p.media.ends_with("json")) {
        auto j = nlohmann::json::parse(p.text, nullptr, false);
        if (!j.is_discarded())
            p.json = std::move(j);
    }
    return p;
}

const nlohmann::json* json_at(
    const nlohmann::json& root, const std::string& path, const std::map<std::string, std::string>& variables)
{
    const nlohmann::json* at = &root;
    for (std::size_t i = 1; !path.empty() && i <= path.size();) {
        const std::size_t slash = path.find('/', i);
        std::string token = path.substr(i, slash - i);
        i = slash == std::string::npos ? path.size() + 1 : slash + 1;
        if (token.size() > 2 && token.front() == '[' && token.back() == ']') {
            // [key=$input]: the first element of an array whose `key` is the input's value.
            const std::size_t eq = token.find("=$");
            if (!at->is_array() || eq == std::string::npos)
                return nullptr;
            const std::string key = token.substr(1, eq - 1);
            const auto wanted = variables.find(token.substr(eq + 2, token.size() - eq - 3));
            if (wanted == variables.end())
                return nullptr;
            const nlohmann::json* found = nullptr;
            for (const auto& element : *at) {
                if (element.is_object() && element.contains(key)) {
                    const auto& v = element[key];
                    if ((v.is_string() ? v.get<std::string>() : v.dump()) == wanted->second) {
                        found = &element;
                        break;
                    }
                }
            }
            if (!found)
                return nullptr;
            at = found;
            continue;
        }
        std::string unescaped; // "~1" is "/", "~0" is "~"
        for (std::size_t k = 0; k < token.size(); ++k) {
            if (token[k] == '~' && k + 1 < token.size()) {
                unescaped += token[k + 1] == '1' ? '/' : '~';
                ++k;
            } else {
                unescaped += token[k];
            }
        }
        token = unescaped;
        if (at->is_object() && at->contains(token)) {
            at = &(*at)[token];
        } else if (at->is_array() && !token.empty() && std::all_of(token.begin(), token.end(), ::isdigit)
            && std::stoul(token) < at->size()) {
            at = &(*at)[std::stoul(token)];
        } else {
            return nullptr;
        }
    }
    return at;
}

std::optional<std::string> read(const Parsed& answer, const Fields& headers, const std::string& from,
    const std::string& path, const std::string& pattern, const std::map<std::string, std::string>& variables)
{
    std::optional<std::string> value;
    if (from == "html") {
        if (answer.page)
            value = answer.page->value(path, variables);
    } else if (from == "json") {
        if (answer.json) {
            if (const auto* v = json_at(*answer.json, path, variables))
                value = v->is_string() ? v->get<std::string>() : v->dump();
        }
    } else if (from == "header") {
        const std::string v = header(headers, path);
        if (!v.empty())
            value = v;
    } else if (from == "text") {
        value = answer.text;
    }
    if (!value || pattern.empty())
        return value;
    try {
        std::smatch m;
        if (!std::regex_search(*value, m, std::regex(pattern)))
            return std::nullopt;
        return m.size() > 1 && m[1].matched ? m[1].str() : m[0].str();
    } catch (const std::regex_error&) {
        return std::nullopt;
    }
}

} // namespace rote::api::body
