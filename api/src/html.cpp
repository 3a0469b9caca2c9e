#include "html.h"

#include <libxml/HTMLparser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

namespace rote::api::html {

struct Page::Doc {
    htmlDocPtr doc = nullptr;
    ~Doc()
    {
        if (doc)
            xmlFreeDoc(doc);
    }
};

Page::Page(std::unique_ptr<Doc> doc)
    : m_doc(std::move(doc))
{
}
Page::~Page() = default;
Page::Page(Page&&) noexcept = default;
Page& Page::operator=(Page&&) noexcept = default;

std::optional<Page> Page::parse(const std::string& body)
{
    auto doc = std::make_unique<Doc>();
    doc->doc = htmlReadMemory(body.data(), static_cast<int>(body.size()), nullptr, "UTF-8",
        HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_NONET | HTML_PARSE_NOBLANKS);
    if (!doc->doc || !xmlDocGetRootElement(doc->doc))
        return std::nullopt;
    return Page(std::move(doc));
}

std::string normalize_space(const std::string& text)
{
    std::string out;
    bool space = false;
    for (char c : text) {
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') {
            space = !out.empty();
            continue;
        }
        if (space)
            out += ' ';
        space = false;
        out += c;
    }
    return out;
}

std::string literal(const std::string& text)
{
    if (text.find('\'') == std::string::npos)
        return "'" + text + "'";
    if (text.find('"') == std::string::npos)
        return "\"" + text + "\"";
    std::string out = "concat(";
    std::size_t start = 0;
    while (true) {
        const std::size_t quote = text.find('\'', start);
        out += "'" + text.substr(start, quote - start) + "'";
        if (quote == std::string::npos)
            break;
        out += ", \"'\", ";
        start = quote + 1;
    }
    return out + ")";
}

namespace {

std::string node_text(xmlNodePtr node)
{
    xmlChar* content = xmlNodeGetContent(node);
    std::string out = content ? reinterpret_cast<const char*>(content) : "";
    xmlFree(content);
    return normalize_space(out);
}

std::string attribute(xmlNodePtr node, const char* name)
{
    xmlChar* v = xmlGetProp(node, reinterpret_cast<const xmlChar*>(name));
    std::string out = v ? reinterpret_cast<const char*>(v) : "";
    xmlFree(v);
    return out;
}

std::string name_of(xmlNodePtr node) { return reinterpret_cast<const char*>(node->name); }

int count(htmlDocPtr doc, const std::string& xpath)
{
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    xmlXPathObjectPtr result = xmlXPathEvalExpression(reinterpret_cast<const xmlChar*>(xpath.c_str()), ctx);
    int n = result && result->type == XPATH_NODESET && result->nodesetval ? result->nodesetval->nodeNr : 0;
    xmlXPathFreeObject(result);
    xmlXPathFreeContext(ctx);
    return n;
}

// The shortest expression that selects `node` alone: by its id, an input's name, else positional steps
// from the nearest ancestor with an id (or the root).
std::string path_of(htmlDocPtr doc, xmlNodePtr node)
{
    std::vector<std::string> steps;
    for (xmlNodePtr n = node; n && n->type == XML_ELEMENT_NODE; n = n->parent) {
        const std::string id = attribute(n, "id");
        if (!id.empty()) {
            const std::string by_id = "//" + name_of(n) + "[@id=" + literal(id) + "]";
            if (count(doc, by_id) == 1) {
                std::string path = by_id;
                for (auto it = steps.rbegin(); it != steps.rend(); ++it)
                    path += "/" + *it;
                return path;
            }
        }
        const std::string name = attribute(n, "name");
        if (!name.empty() && (name_of(n) == "input" || name_of(n) == "meta" || name_of(n) == "select" || name_of(n) == "textarea")) {
            const std::string by_name = "//" + name_of(n) + "[@name=" + literal(name) + "]";
            if (count(doc, by_name) == 1) {
                std::string path = by_name;
                for (auto it = steps.rbegin(); it != steps.rend(); ++it)
                    path += "/" + *it;
                return path;
            }
        }
        int position = 1;
        for (xmlNodePtr s = n->prev; s; s = s->prev) {
            if (s->type == XML_ELEMENT_NODE && name_of(s) == name_of(n))
                ++position;
        }
        steps.push_back(name_of(n) + "[" + std::to_string(position) + "]");
    }
    std::string path;
    for (auto it = steps.rbegin(); it != steps.rend(); ++it)
        path += "/" + *it;
    return path;
}

} // namespace

std::optional<std::string> Page::value(const std::string& xpath, const std::map<std::string, std::string>& variables) const
{
    xmlXPathContextPtr ctx = xmlXPathNewContext(m_doc->doc);
    if (!ctx)
        return std::nullopt;
    for (const auto& [name, v] : variables)
        xmlXPathRegisterVariable(ctx, reinterpret_cast<const xmlChar*>(name.c_str()),
            xmlXPathNewString(reinterpret_cast<const xmlChar*>(v.c_str())));
    xmlXPathObjectPtr result = xmlXPathEvalExpression(reinterpret_cast<const xmlChar*>(xpath.c_str()), ctx);
    std::optional<std::string> out;
    if (result) {
        if (result->type == XPATH_NODESET) {
            if (result->nodesetval && result->nodesetval->nodeNr > 0)
                out = node_text(result->nodesetval->nodeTab[0]);
        } else {
            xmlChar* s = xmlXPathCastToString(result);
            out = normalize_space(s ? reinterpret_cast<const char*>(s) : "");
            xmlFree(s);
        }
    }
    xmlXPathFreeObject(result);
    xmlXPathRegisteredVariablesCleanup(ctx);
    xmlXPathFreeContext(ctx);
    return out;
}

std::vector<Page::Found> Page::find(const std::string& needle) const
{
    std::vector<Found> attributes, texts;
    const std::string wanted = normalize_space(needle);
    if (wanted.empty())
        return {};
    auto walk = [&](auto& self, xmlNodePtr node) -> bool { // whether a descendant's text holds it
        bool inner = false;
        for (xmlNodePtr c = node->children; c; c = c->next) {
            if (c->type == XML_ELEMENT_NODE && self(self, c))
                inner = true;
        }
        for (xmlAttrPtr a = node->properties; a; a = a->next) {
            xmlChar* v = xmlNodeListGetString(m_doc->doc, a->children, 1);
            const std::string value = normalize_space(v ? reinterpret_cast<const char*>(v) : "");
            xmlFree(v);
            if (value.find(wanted) != std::string::npos) {
                attributes.push_back({path_of(m_doc->doc, node) + "/@" + reinterpret_cast<const char*>(a->name), value,
                    node_text(node), true});
            }
        }
        const std::string tag = name_of(node);
        if (tag == "script" || tag == "style")
            return inner;
        if (!inner && node_text(node).find(wanted) != std::string::npos) {
            texts.push_back({path_of(m_doc->doc, node), node_text(node), {}, false});
            return true;
        }
        return inner;
    };
    walk(walk, xmlDocGetRootElement(m_doc->doc));
    attributes.insert(attributes.end(), texts.begin(), texts.end());
    return attributes;
}

} // namespace rote::api::html
