#pragma once

// Money for LLM calls, in integer micro-dollars so that sums over thousands of calls stay exact.

#include <cstdint>

namespace rote::llm {

// A model's prices in micro-dollars per million tokens ($3.00 / MTok is 3'000'000).
struct Price {
    std::int64_t input = 0;
    std::int64_t output = 0;
    std::int64_t cache_write = 0;
    std::int64_t cache_read = 0;
};

// Token counts of one call. input excludes cached tokens: providers that report cached tokens as a
// part of input (OpenAI) are normalised to this before costing.
struct Usage {
    std::int64_t input = 0;
    std::int64_t output = 0;
    std::int64_t cache_write = 0;
    std::int64_t cache_read = 0;
};

// The cost of one call in micro-dollars, rounded half up once over the whole sum (not per kind).
std::int64_t cost_microusd(const Price& price, const Usage& usage);

} // namespace rote::llm
