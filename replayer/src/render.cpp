#include <rote/replayer/render.h>

namespace rote::replayer {

Result<std::string> render(std::string_view tpl, const std::map<std::string, std::string>& inputs,
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

} // namespace rote::replayer
