#include <rote/base/text_template.h>

#include <algorithm>
#include <cctype>
#include <vector>

namespace rote {

std::string templatize(std::string_view typed, const std::map<std::string, std::string>& inputs,
    const std::map<std::string, std::string>& secrets)
{
    struct Candidate {
        std::string_view value;
        std::string placeholder;
        bool secret;
    };
    std::vector<Candidate> candidates;
    for (const auto& [name, value] : secrets) {
        if (!value.empty())
            candidates.push_back({value, "{{secret:" + name + "}}", true});
    }
    for (const auto& [name, value] : inputs) {
        if (!value.empty())
            candidates.push_back({value, "{{" + name + "}}", false});
    }
    // Secrets before inputs (a secret must never survive because an input matched part of it), then
    // longer values before shorter ones.
    std::stable_sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
        if (a.secret != b.secret)
            return a.secret;
        return a.value.size() > b.value.size();
    });

    std::string out;
    std::size_t i = 0;
    while (i < typed.size()) {
        const Candidate* match = nullptr;
        for (const auto& c : candidates) {
            if (typed.substr(i, c.value.size()) == c.value) {
                match = &c;
                break;
            }
        }
        if (match != nullptr) {
            out += match->placeholder;
            i += match->value.size();
        } else if (typed.substr(i, 2) == "{{") {
            out += "{{{{";
            i += 2;
        } else {
            out += typed[i++];
        }
    }
    return out;
}


Result<std::string> render_template(std::string_view tpl, const std::map<std::string, std::string>& inputs,
    const std::map<std::string, std::string>& secrets)
{
    static constexpr std::string_view kSecret = "secret:";
    std::string out;
    std::size_t i = 0;
    while (i < tpl.size()) {
        if (tpl.substr(i, 4) == "{{{{") {
            out += "{{";
            i += 4;
            continue;
        }
        if (tpl.substr(i, 2) != "{{") {
            out += tpl[i++];
            continue;
        }
        const auto end = tpl.find("}}", i + 2);
        if (end == std::string_view::npos)
            return Error(Error::Code::invalid_argument,
                "unterminated placeholder in \"" + std::string(tpl.substr(i, 40)) + "\"");
        const std::string_view name = tpl.substr(i + 2, end - i - 2);
        const bool secret = name.substr(0, kSecret.size()) == kSecret;
        const std::string key(secret ? name.substr(kSecret.size()) : name);
        if (key.empty())
            return Error(Error::Code::invalid_argument, "empty placeholder in a text template");
        const auto& source = secret ? secrets : inputs;
        const auto it = source.find(key);
        if (it == source.end())
            return Error(Error::Code::not_found,
                std::string("the trace types {{") + std::string(name) + "}} but the run has no "
                    + (secret ? "secret " : "input ") + key);
        out += it->second;
        i = end + 2;
    }
    return out;
}

std::string hide_secrets(std::string_view text, const std::map<std::string, std::string>& secrets)
{
    // Every spelling of every secret, longest first so that a longer secret's spelling is replaced whole.
    std::vector<std::pair<std::string, std::string>> spellings;
    for (const auto& [name, value] : secrets) {
        if (value.empty())
            continue;
        const std::string placeholder = "{{secret:" + name + "}}";
        for (const char* hex : {"0123456789ABCDEF", "0123456789abcdef"}) {
            std::string uri, form;
            for (unsigned char c : value) {
                const bool plain = std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
                const std::string escaped = std::string("%") + hex[c >> 4] + hex[c & 15];
                uri += plain ? std::string(1, static_cast<char>(c)) : escaped;
                form += plain ? std::string(1, static_cast<char>(c)) : c == ' ' ? std::string("+") : escaped;
            }
            spellings.emplace_back(uri, placeholder);
            spellings.emplace_back(form, placeholder);
        }
        spellings.emplace_back(value, placeholder);
        // As a JSON string and as HTML text or an attribute carry it (captured bodies, docs/api.md).
        std::string json, html;
        for (char c : value) {
            json += c == '"' ? "\\\"" : c == '\\' ? "\\\\" : std::string(1, c);
            html += c == '&' ? "&amp;" : c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '"' ? "&quot;"
                : c == '\'' ? "&#39;" : std::string(1, c);
        }
        spellings.emplace_back(json, placeholder);
        spellings.emplace_back(html, placeholder);
    }
    std::stable_sort(spellings.begin(), spellings.end(),
        [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
    // One pass, left to right: a placeholder put in is never searched again.
    std::string out;
    for (std::size_t at = 0; at < text.size();) {
        const auto match = std::find_if(spellings.begin(), spellings.end(),
            [&](const auto& s) { return text.substr(at, s.first.size()) == s.first; });
        if (match == spellings.end()) {
            out += text[at++];
        } else {
            out += match->second;
            at += match->first.size();
        }
    }
    return out;
}

} // namespace rote
