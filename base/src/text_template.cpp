#include <rote/base/text_template.h>

#include <algorithm>
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

} // namespace rote
