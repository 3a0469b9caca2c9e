// Fuzz target for vision's one parser of outside input: stored fingerprints (they arrive in imported
// traces). The property: no crash, and anything accepted serialises back to the same bytes and compares
// with itself as identical.

#include <cstdint>
#include <cstdlib>
#include <span>

#include <rote/vision/fingerprint.h>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::span<const std::uint8_t> bytes(data, size);
    auto f = rote::vision::parse_fingerprint(bytes);
    if (!f.ok())
        return 0;
    const auto again = rote::vision::serialize(*f);
    if (again.size() != size || !std::equal(again.begin(), again.end(), data))
        std::abort();
    if (rote::vision::compare(*f, *f).identical != 1.0)
        std::abort();
    return 0;
}
