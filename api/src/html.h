#pragma once

// Pages as libxml2 parses HTML (the parser browsers' quirks were written against is not ours to write):
// XPath 1.0 over them, and the paths mining writes to find an element again in another answer.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace rote::api::html {

class Page {
public:
    // A page from its bytes (any HTML, however broken: libxml2 recovers as browsers do).
    static std::optional<Page> parse(const std::string& body);
    ~Page();
    Page(Page&&) noexcept;
    Page& operator=(Page&&) noexcept;

    // The string value of an XPath expression (of its first node, for a node-set), whitespace normalized;
    // nullopt for an expression that does not compile or selects nothing. `variables` are its $names.
    std::optional<std::string> value(const std::string& xpath, const std::map<std::string, std::string>& variables = {}) const;

    // Where `needle` is, as expressions whose value holds it: attributes whose value contains it (the
    // attribute's own path, "…/@href"), then the innermost elements whose text does. Each path is as short as
    // the page allows (an id, an input's name, else positions from the nearest element with an id).
    struct Found {
        std::string path; // XPath; value(path) is `text`
        std::string text; // the value there, whitespace normalized
        std::string element_text; // for an attribute: its element's text (a link's words)
        bool attribute = false;
    };
    std::vector<Found> find(const std::string& needle) const;

private:
    struct Doc;
    explicit Page(std::unique_ptr<Doc> doc);
    std::unique_ptr<Doc> m_doc;
};

// Whitespace runs as one space, none at either end (XPath's normalize-space).
std::string normalize_space(const std::string& text);

// An XPath string literal of `text` (concat() when it holds both quotes).
std::string literal(const std::string& text);

} // namespace rote::api::html
