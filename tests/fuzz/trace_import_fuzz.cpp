// Fuzz target for the store's one parser of outside input: the trace exchange document (rote import).
// Each input is imported into a fresh in-memory store. The property: no crash, no sanitizer report, and
// an input that is accepted exports and re-imports to the same steps.

#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <rote/store/store.h>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    auto store = rote::store::Store::open_in_memory();
    if (!store.ok())
        std::abort();
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto id = (*store)->import_trace(text);
    if (!id.ok())
        return 0;
    auto doc = (*store)->export_trace(*id);
    if (!doc.ok())
        std::abort();
    auto again = (*store)->import_trace(*doc);
    if (!again.ok())
        std::abort();
    auto a = (*store)->load_trace(*id);
    auto b = (*store)->load_trace(*again);
    if (!a.ok() || !b.ok() || a->steps != b->steps)
        std::abort();
    return 0;
}
