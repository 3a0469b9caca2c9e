#include <rote/llm/prices.h>

#include <algorithm>

namespace rote::llm {

namespace {

constexpr std::int64_t usd(double dollars_per_mtok) { return static_cast<std::int64_t>(dollars_per_mtok * 1e6 + 0.5); }

// "20250929", "2025-03-11" or "latest": what providers append to a model name for a snapshot of the same
// model. Anything else ("claude-opus-4-7") is another model, never priced as its prefix.
bool is_snapshot_suffix(std::string_view s)
{
    if (s == "latest")
        return true;
    const auto digits = std::count_if(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
    return digits == 8 && s.find_first_not_of("0123456789-") == std::string_view::npos && s.front() != '-';
}

} // namespace

PriceTable PriceTable::builtin()
{
    // Anthropic: cache writes (5-minute) cost 1.25x input, cache reads 0.1x. OpenAI's computer-use-preview
    // lists no cached-input discount, so cached tokens are charged as input.
    PriceTable t;
    t.set("claude-opus-4-5", {usd(5), usd(25), usd(6.25), usd(0.50)});
    t.set("claude-opus-4-1", {usd(15), usd(75), usd(18.75), usd(1.50)});
    t.set("claude-opus-4", {usd(15), usd(75), usd(18.75), usd(1.50)});
    t.set("claude-sonnet-4-5", {usd(3), usd(15), usd(3.75), usd(0.30)});
    t.set("claude-sonnet-4", {usd(3), usd(15), usd(3.75), usd(0.30)});
    t.set("claude-3-7-sonnet", {usd(3), usd(15), usd(3.75), usd(0.30)});
    t.set("claude-haiku-4-5", {usd(1), usd(5), usd(1.25), usd(0.10)});
    t.set("computer-use-preview", {usd(3), usd(12), usd(3), usd(3)});
    return t;
}

void PriceTable::set(std::string model, const Price& price) { m_prices[std::move(model)] = price; }

std::optional<Price> PriceTable::find(std::string_view model) const
{
    if (auto it = m_prices.find(model); it != m_prices.end())
        return it->second;
    std::optional<Price> best;
    size_t best_length = 0;
    for (const auto& [name, price] : m_prices) {
        if (model.size() > name.size() + 1 && model.starts_with(name) && model[name.size()] == '-'
            && is_snapshot_suffix(model.substr(name.size() + 1)) && name.size() > best_length) {
            best = price;
            best_length = name.size();
        }
    }
    return best;
}

} // namespace rote::llm
