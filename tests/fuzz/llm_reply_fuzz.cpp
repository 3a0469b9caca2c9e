// Fuzz target for llm-client's response parsers: what a provider (or anything posing as one) sends back.
// ROTE_FUZZ_PARSER picks the parser at compile time: 1 Anthropic, 2 OpenAI, 3 OpenAI-compatible chat.
// The properties: no crash, and every action of an accepted reply acts on the real screen, never off it.

#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <rote/llm/wire.h>

namespace {

bool on_screen(rote::Point p, const rote::llm::ScreenScale& scale)
{
    return p.x >= 0 && p.y >= 0 && p.x < scale.screen().width && p.y < scale.screen().height;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    using namespace rote::llm;
    static const ScreenScale scale = ScreenScale::fit({1920, 1080}, {1280, 800});
    const std::string_view body(reinterpret_cast<const char*>(data), size);
#if ROTE_FUZZ_PARSER == 1
    std::optional<rote::Point> pointer;
    auto reply = parse_anthropic_reply(body, scale, pointer);
#elif ROTE_FUZZ_PARSER == 2
    auto reply = parse_openai_reply(body, scale);
#else
    auto reply = parse_chat_reply(body, scale);
#endif
    (void)usage_from_body(ProviderKind::anthropic, body);
    if (!reply.ok())
        return 0;
    for (const auto& action : reply->actions) {
        if (rote::acts_at_point(action.kind) && !on_screen(action.at, scale))
            std::abort();
        if (action.kind == rote::ActionKind::drag && !on_screen(action.to, scale))
            std::abort();
    }
    return 0;
}
