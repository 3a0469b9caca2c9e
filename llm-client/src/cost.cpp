#include <rote/llm/cost.h>

namespace rote::llm {

std::int64_t cost_microusd(const Price& price, const Usage& usage)
{
    // Sum in micro-dollar-tokens-per-million, divide once: no per-term rounding error. 128-bit because
    // a long-context call (10^6 tokens) at $75/MTok is 7.5e13, and sums of those overflow int64 faster
    // than one would guess.
    const __int128 numerator = static_cast<__int128>(usage.input) * price.input
        + static_cast<__int128>(usage.output) * price.output
        + static_cast<__int128>(usage.cache_write) * price.cache_write
        + static_cast<__int128>(usage.cache_read) * price.cache_read;
    return static_cast<std::int64_t>((numerator + 500'000) / 1'000'000);
}

} // namespace rote::llm
