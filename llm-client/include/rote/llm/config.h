#pragma once

// How rote reaches a model: provider, model, endpoint, key, limits and prices. Built from defaults, the
// config file's `llm:` section and the environment (docs/llm.md).

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include <rote/base/result.h>
#include <rote/llm/prices.h>
#include <rote/llm/scaling.h>

namespace rote::llm {

enum class ProviderKind {
    anthropic, // Messages API with the computer-use tool
    openai, // Responses API with the computer_use_preview tool
    openai_compatible, // chat completions with image input and a JSON action format (vLLM, Ollama, llama.cpp)
};

std::string_view to_string(ProviderKind kind);
std::optional<ProviderKind> parse_provider_kind(std::string_view name);

// An API key. It can be handed to the HTTP layer and nothing else: it has no stream operator, no formatter,
// and errors that might quote it pass through redact() first.
class Secret {
public:
    Secret() = default;
    explicit Secret(std::string value)
        : m_value(std::move(value))
    {
    }
    bool empty() const { return m_value.empty(); }
    const std::string& reveal() const { return m_value; }
    // `text` with every occurrence of the secret replaced by "[redacted]".
    std::string redact(std::string_view text) const;

private:
    std::string m_value;
};

struct RetryPolicy {
    int max_attempts = 5; // including the first
    std::chrono::milliseconds base_delay {1000}; // the first backoff; doubles per retry, with jitter
    std::chrono::milliseconds max_delay {30000};
};

struct LlmConfig {
    ProviderKind provider = ProviderKind::anthropic;
    std::string model; // empty: the provider's default
    std::string base_url; // empty: the provider's public endpoint
    Secret api_key;
    std::chrono::milliseconds request_timeout {90'000}; // one HTTP attempt
    std::chrono::milliseconds deadline {300'000}; // one call, all attempts and backoff included
    RetryPolicy retry;
    Size max_model_screen {1280, 800}; // screenshots are downscaled to fit (the providers advise XGA/WXGA)
    int max_output_tokens = 1024;
    PriceTable prices = PriceTable::builtin();

    // The model, or the provider's default.
    std::string effective_model() const;
    // The endpoint's base URL, or the provider's public one.
    std::string effective_base_url() const;
};

// Defaults, then the `llm:` section of a YAML config file (an absent file is no error), then the environment
// (ROTE_LLM_PROVIDER, ROTE_LLM_MODEL, ROTE_LLM_BASE_URL; the key from ROTE_LLM_API_KEY, else ANTHROPIC_API_KEY
// or OPENAI_API_KEY by provider), then `provider` (a CLI flag). Errors name the file, the line and the key.
Result<LlmConfig> load_llm_config(
    const std::optional<std::filesystem::path>& file, std::optional<ProviderKind> provider = std::nullopt);

} // namespace rote::llm
