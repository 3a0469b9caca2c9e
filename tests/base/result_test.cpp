#include <doctest/doctest.h>

#include <memory>

#include <rote/base/result.h>

using namespace rote;

namespace {

Result<int> parse_positive(int v)
{
    if (v <= 0)
        return Error(Error::Code::invalid_argument, "not positive");
    return v;
}

Result<int> doubled(int v)
{
    const int x = ROTE_TRY(parse_positive(v));
    return x * 2;
}

Result<void> check(int v)
{
    ROTE_TRY(parse_positive(v));
    return {};
}

Result<std::unique_ptr<int>> boxed(int v) { return std::make_unique<int>(ROTE_TRY(parse_positive(v))); }

} // namespace

TEST_CASE("ROTE_TRY passes values through and returns errors early")
{
    CHECK(doubled(4).value() == 8);
    auto bad = doubled(-1);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().code() == Error::Code::invalid_argument);
    CHECK(bad.error().message() == "not positive");
    CHECK(check(1).ok());
    CHECK_FALSE(check(0).ok());
    // Move-only values work.
    auto b = boxed(3);
    REQUIRE(b.ok());
    CHECK(**b == 3);
}

TEST_CASE("errors gain context")
{
    const Error e(Error::Code::io, "disk full");
    CHECK(e.with_context("writing trace 3").message() == "writing trace 3: disk full");
    CHECK(e.with_context("x").code() == Error::Code::io);
    CHECK(to_string(Error::Code::timeout) == "timeout");
}
