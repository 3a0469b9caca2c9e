#include <rote/base/element.h>

namespace rote {

bool same_element(const ElementIdentity& recorded, const ElementIdentity& now)
{
    if (recorded.tag != now.tag)
        return false;
    if (!recorded.id.empty())
        return recorded.id == now.id;
    if (!recorded.name.empty())
        return recorded.name == now.name;
    return recorded.role == now.role && recorded.label == now.label && recorded.placeholder == now.placeholder;
}

std::string describe(const ElementIdentity& e)
{
    if (e.empty())
        return "nothing";
    std::string out = e.tag;
    if (!e.id.empty())
        out += " #" + e.id;
    if (!e.name.empty())
        out += " [name=" + e.name + "]";
    const std::string& words = !e.label.empty() ? e.label : !e.text.empty() ? e.text : e.placeholder;
    if (!words.empty())
        out += " \"" + words.substr(0, 60) + "\"";
    return out;
}

} // namespace rote
