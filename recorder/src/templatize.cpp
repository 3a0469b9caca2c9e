#include <rote/recorder/templatize.h>

#include <algorithm>
#include <vector>

namespace rote::recorder {

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

} // namespace rote::recorder
