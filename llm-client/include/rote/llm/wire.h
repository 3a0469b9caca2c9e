#pragma once

// The providers' response parsers, apart from the conversations that use them, so that fuzz targets and
// tests reach them directly. Each takes the raw response body and the scale of the screenshot the model was
// shown, and never crashes: anything malformed, an unknown action or a point off the image is an error.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rote/base/action.h>
#include <rote/base/result.h>
#include <rote/llm/config.h>
#include <rote/llm/cost.h>
#include <rote/llm/provider.h>
#include <rote/llm/scaling.h>

namespace rote::llm {

struct Reply {
    std::vector<Action> actions; // real-screen coordinates
    std::string text; // the model's words
    std::vector<std::string> call_ids; // Anthropic tool_use ids or OpenAI call_ids, one per tool call, in order
    std::vector<SafetyCheck> safety_checks;
    Usage usage; // input excludes cached tokens
    std::string response_id;
};

// Anthropic Messages API. `pointer` is where the model last put the mouse (model coordinates): a click
// without a coordinate happens there; it is updated by every pointer action.
Result<Reply> parse_anthropic_reply(std::string_view body, const ScreenScale& scale, std::optional<Point>& pointer);

// OpenAI Responses API with the computer_use_preview tool.
Result<Reply> parse_openai_reply(std::string_view body, const ScreenScale& scale);

// OpenAI-compatible chat completions whose message content is rote's JSON action format (docs/llm.md).
Result<Reply> parse_chat_reply(std::string_view body, const ScreenScale& scale);

// The token counts of a response body, or zeros if it has none: a response that fails to parse was still
// paid for, and what it says it cost is recorded.
Usage usage_from_body(ProviderKind kind, std::string_view body);

// A turn the model ended in words, without a tool call: "DONE: result" is done, "GIVE UP: reason" gives up,
// anything else gives up quoting the words (a model that stops to ask a question has not finished).
Action final_action(std::string_view text);

// OpenAI keypress names (["CTRL", "L"], ["ENTER"]) as a rote key combination ("ctrl+l", "return").
std::string key_combo_from_names(const std::vector<std::string>& keys);

} // namespace rote::llm
