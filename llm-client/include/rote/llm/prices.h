#pragma once

// What each model costs: a built-in table of the models the providers offer for computer use, which the
// config file can extend or override (llm.prices), looked up by model name.

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <rote/llm/cost.h>

namespace rote::llm {

class PriceTable {
public:
    // Published list prices (USD per million tokens) as of November 2026; docs/llm.md lists them.
    static PriceTable builtin();

    // Adds or replaces a model's price.
    void set(std::string model, const Price& price);

    // The price of `model`: an exact entry, else the entry of which it is a snapshot ("claude-sonnet-4-5-20250929"
    // and "claude-sonnet-4-5-latest" are priced as "claude-sonnet-4-5"), else nothing.
    std::optional<Price> find(std::string_view model) const;

    const std::map<std::string, Price, std::less<>>& entries() const { return m_prices; }

private:
    std::map<std::string, Price, std::less<>> m_prices;
};

} // namespace rote::llm
