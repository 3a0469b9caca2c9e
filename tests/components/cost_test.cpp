#include <doctest/doctest.h>

#include <rote/llm/cost.h>

using namespace rote::llm;

TEST_CASE("cost is exact in micro-dollars, rounded once")
{
    // $3 / $15 / $3.75 / $0.30 per million tokens.
    const Price price {3'000'000, 15'000'000, 3'750'000, 300'000};
    // 1000*3 + 200*15 + 500*3.75 + 0 = 7875 micro-dollars.
    CHECK(cost_microusd(price, {1000, 200, 500, 0}) == 7875);
    // 1234 input at $3/MTok = 3702; 1 cache-read token at $0.30/MTok = 0.3 -> 3702.3 -> 3702.
    CHECK(cost_microusd(price, {1234, 0, 0, 1}) == 3702);
    // Half rounds up: 1 token at $1.50/MTok = 1.5 micro-dollars -> 2.
    CHECK(cost_microusd({1'500'000, 0, 0, 0}, {1, 0, 0, 0}) == 2);
    CHECK(cost_microusd(price, {}) == 0);
    // A million-token context at $75/MTok output does not overflow.
    CHECK(cost_microusd({0, 75'000'000, 0, 0}, {0, 1'000'000'000, 0, 0}) == 75'000'000'000);
}
