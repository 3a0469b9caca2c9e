// The three providers' conversations: what each sends, and how each keeps its side of the exchange.

#include <chrono>

#include <nlohmann/json.hpp>

#include <rote/base/log.h>
#include <rote/llm/provider.h>
#include <rote/llm/wire.h>

#include "http.h"
#include "prompt.h"
#include "screen.h"

namespace rote::llm {

using json = nlohmann::json;

namespace {

std::string data_url(const std::string& base64_png) { return "data:image/png;base64," + base64_png; }

// What every provider's conversation shares: the HTTP client, costing and logging of each call, and the
// rule that a malformed answer ends the conversation (its state can no longer be trusted).
class BasicConversation : public Conversation {
public:
    BasicConversation(const LlmConfig& config, std::string model, Price price, Task task)
        : m_config(config)
        , m_model(std::move(model))
        , m_price(price)
        , m_task(std::move(task))
        , m_log(logger("llm"))
        , m_http(m_config, m_log)
    {
    }

protected:
    // Sends one request and turns its answer into a turn with `parse`. The call is recorded whenever the
    // provider answered, even if the answer is then rejected.
    template<typename Parse>
    Result<Turn> exchange(const HttpRequest& request, std::stop_token stop, Parse parse)
    {
        if (m_ended)
            return Error(Error::Code::invalid_argument, "this conversation has ended; start a new one");
        auto answer = m_http.post(request, stop);
        if (!answer.ok()) {
            m_log->warn("{} {}: {}", to_string(m_config.provider), m_model, answer.error().message());
            return answer.release_error();
        }
        CallRecord call;
        call.provider = std::string(to_string(m_config.provider));
        call.model = m_model;
        call.latency_ms = answer->elapsed.count();
        call.attempts = answer->attempts;
        auto reply = parse(answer->body);
        call.usage = reply.ok() ? reply->usage : usage_from_body(m_config.provider, answer->body);
        call.cost_microusd = cost_microusd(m_price, call.usage);
        m_calls.push_back(call);
        m_log->info("{} {}: answered in {} ms ({} attempt{}), tokens {} in, {} out, {} cache write, {} cache read, "
                    "cost ${:.6f}",
            call.provider, call.model, call.latency_ms, call.attempts, call.attempts == 1 ? "" : "s", call.usage.input,
            call.usage.output, call.usage.cache_write, call.usage.cache_read, call.cost_microusd / 1e6);
        if (!reply.ok()) {
            m_ended = true;
            m_log->warn("{} {}: answer rejected: {}", call.provider, call.model, reply.error().message());
            return reply.release_error();
        }
        Turn turn;
        turn.actions = std::move(reply->actions);
        turn.text = std::move(reply->text);
        turn.safety_checks = std::move(reply->safety_checks);
        turn.call = call;
        if (turn.finished())
            m_ended = true;
        return turn;
    }

    LlmConfig m_config;
    std::string m_model;
    Price m_price;
    Task m_task;
    std::shared_ptr<spdlog::logger> m_log;
    HttpClient m_http;
    bool m_ended = false;
};

// ---- Anthropic Messages API, computer-use tool -------------------------------------------------------

struct ToolVersion {
    const char* type;
    const char* beta;
};

// Claude Opus 4.5 has its own tool version; the other current models (Sonnet 4.5, Haiku 4.5, Opus 4.1, Sonnet
// 4, Opus 4, Sonnet 3.7) take computer_20250124.
ToolVersion anthropic_tool(const std::string& model)
{
    if (model.starts_with("claude-opus-4-5"))
        return {"computer_20251124", "computer-use-2025-11-24"};
    return {"computer_20250124", "computer-use-2025-01-24"};
}

class AnthropicConversation final : public BasicConversation {
public:
    using BasicConversation::BasicConversation;

    Result<Turn> next(const Observation& observation, std::stop_token stop) override
    {
        auto image = ROTE_TRY(prepare_screen(observation.screen, m_config.max_model_screen));
        const json screenshot = {{"type", "image"},
            {"source", {{"type", "base64"}, {"media_type", "image/png"}, {"data", image.base64_png}}}};
        json content = json::array();
        if (m_messages.empty()) {
            if (m_task.expected && !m_task.expected->patch.empty()) {
                auto patch = ROTE_TRY(prepare_patch(m_task.expected->patch, image.scale));
                content.push_back({{"type", "image"},
                    {"source", {{"type", "base64"}, {"media_type", "image/png"}, {"data", patch}}}});
            }
            content.push_back(screenshot);
        } else {
            // Every tool_use of the last turn is answered; the screenshot goes with the last one.
            for (size_t i = 0; i < m_pending.size(); ++i) {
                json result = {{"type", "tool_result"}, {"tool_use_id", m_pending[i]}};
                json parts = json::array();
                if (!observation.failure.empty()) {
                    result["is_error"] = true;
                    parts.push_back({{"type", "text"}, {"text", "The action failed: " + observation.failure}});
                }
                if (i + 1 == m_pending.size())
                    parts.push_back(screenshot);
                else if (parts.empty())
                    parts.push_back({{"type", "text"}, {"text", "done"}});
                result["content"] = parts;
                content.push_back(result);
            }
        }
        // Two cache breakpoints: the system prompt with the task, and the newest turn, so each call reads the
        // whole conversation so far from the cache and writes only what is new.
        json messages = m_messages;
        for (auto& message : messages) {
            for (auto& block : message["content"])
                block.erase("cache_control");
        }
        content.back()["cache_control"] = {{"type", "ephemeral"}};
        messages.push_back({{"role", "user"}, {"content", content}});

        const ToolVersion tool = anthropic_tool(m_model);
        const json body = {
            {"model", m_model},
            {"max_tokens", m_config.max_output_tokens},
            {"system",
                json::array({{{"type", "text"}, {"text", system_prompt(ProviderKind::anthropic)}},
                    {{"type", "text"}, {"text", task_text(m_task)}, {"cache_control", {{"type", "ephemeral"}}}}})},
            {"tools",
                json::array({{{"type", tool.type}, {"name", "computer"},
                    {"display_width_px", image.scale.model().width},
                    {"display_height_px", image.scale.model().height}}})},
            {"messages", messages},
        };
        HttpRequest request;
        request.url = m_config.effective_base_url() + "/v1/messages";
        request.headers = {"anthropic-version: 2023-06-01", std::string("anthropic-beta: ") + tool.beta};
        request.auth_header = "x-api-key";
        request.body = body.dump();

        std::optional<Point> pointer = m_pointer;
        json assistant;
        auto turn = ROTE_TRY(exchange(request, stop, [&](const std::string& answer) -> Result<Reply> {
            auto reply = parse_anthropic_reply(answer, image.scale, pointer);
            if (reply.ok())
                assistant = json::parse(answer)["content"];
            return reply;
        }));
        // Only an accepted answer becomes part of the conversation.
        m_messages = std::move(messages);
        m_messages.push_back({{"role", "assistant"}, {"content", assistant}});
        m_pending.clear();
        const json& blocks = m_messages.back()["content"];
        for (const auto& block : blocks) {
            if (block.value("type", "") == "tool_use")
                m_pending.push_back(block.value("id", ""));
        }
        m_pointer = pointer;
        return turn;
    }

    void acknowledge(const std::vector<std::string>&) override { }

private:
    json m_messages = json::array();
    std::vector<std::string> m_pending; // tool_use ids awaiting their results
    std::optional<Point> m_pointer; // model coordinates
};

// ---- OpenAI Responses API, computer_use_preview tool -----------------------------------------------------

class OpenAiConversation final : public BasicConversation {
public:
    using BasicConversation::BasicConversation;

    Result<Turn> next(const Observation& observation, std::stop_token stop) override
    {
        for (const auto& check : m_checks) {
            if (std::find(m_acknowledged.begin(), m_acknowledged.end(), check.id) == m_acknowledged.end())
                return Error(Error::Code::conflict,
                    "OpenAI raised a safety check that was not acknowledged (" + check.code + ": " + check.message
                        + "); its actions must not be performed");
        }
        auto image = ROTE_TRY(prepare_screen(observation.screen, m_config.max_model_screen));
        json input = json::array();
        if (m_previous_id.empty()) {
            json content = json::array({{{"type", "input_text"}, {"text", task_text(m_task)}}});
            if (m_task.expected && !m_task.expected->patch.empty()) {
                auto patch = ROTE_TRY(prepare_patch(m_task.expected->patch, image.scale));
                content.push_back({{"type", "input_image"}, {"image_url", data_url(patch)}});
            }
            content.push_back({{"type", "input_image"}, {"image_url", data_url(image.base64_png)}});
            input.push_back({{"role", "user"}, {"content", content}});
        } else {
            for (const auto& call_id : m_pending) {
                json output = {{"type", "computer_call_output"}, {"call_id", call_id},
                    {"output", {{"type", "computer_screenshot"}, {"image_url", data_url(image.base64_png)}}}};
                if (!m_checks.empty()) {
                    json acknowledged = json::array();
                    for (const auto& c : m_checks)
                        acknowledged.push_back({{"id", c.id}, {"code", c.code}, {"message", c.message}});
                    output["acknowledged_safety_checks"] = acknowledged;
                }
                input.push_back(output);
            }
            if (!observation.failure.empty())
                input.push_back({{"role", "user"},
                    {"content", json::array({{{"type", "input_text"}, {"text", "The last action failed: " + observation.failure}}})}});
        }
        json body = {
            {"model", m_model},
            {"instructions", system_prompt(ProviderKind::openai)},
            {"tools",
                json::array({{{"type", "computer_use_preview"}, {"display_width", image.scale.model().width},
                    {"display_height", image.scale.model().height}, {"environment", "browser"}}})},
            {"input", input},
            {"truncation", "auto"},
            {"max_output_tokens", m_config.max_output_tokens},
        };
        if (!m_previous_id.empty())
            body["previous_response_id"] = m_previous_id;
        HttpRequest request;
        request.url = m_config.effective_base_url() + "/v1/responses";
        request.auth_header = "Authorization";
        request.body = body.dump();

        Reply accepted;
        auto turn = ROTE_TRY(exchange(request, stop, [&](const std::string& answer) -> Result<Reply> {
            auto reply = parse_openai_reply(answer, image.scale);
            if (reply.ok())
                accepted = *reply;
            return reply;
        }));
        m_previous_id = accepted.response_id;
        m_pending = accepted.call_ids;
        m_checks = accepted.safety_checks;
        m_acknowledged.clear();
        if (!m_checks.empty())
            m_log->warn("OpenAI raised {} safety check(s); the caller must acknowledge them before acting",
                m_checks.size());
        return turn;
    }

    void acknowledge(const std::vector<std::string>& ids) override
    {
        m_acknowledged.insert(m_acknowledged.end(), ids.begin(), ids.end());
    }

private:
    std::string m_previous_id;
    std::vector<std::string> m_pending; // call_ids awaiting output
    std::vector<SafetyCheck> m_checks; // raised by the last turn
    std::vector<std::string> m_acknowledged;
};

// ---- OpenAI-compatible chat completions, JSON actions --------------------------------------------------

// Local vision models have small contexts: the history is kept as text (what the model answered and what
// came of it) and only the newest screenshot is sent.
class ChatConversation final : public BasicConversation {
public:
    using BasicConversation::BasicConversation;

    Result<Turn> next(const Observation& observation, std::stop_token stop) override
    {
        auto image = ROTE_TRY(prepare_screen(observation.screen, m_config.max_model_screen));
        json content = json::array();
        std::string text;
        if (m_history.empty()) {
            text = task_text(m_task);
        } else {
            text = observation.failure.empty() ? "Done. This is the screen now."
                                               : "That failed: " + observation.failure + ". This is the screen now.";
        }
        text += " The screenshot is " + std::to_string(image.scale.model().width) + "x"
            + std::to_string(image.scale.model().height) + " pixels.";
        content.push_back({{"type", "text"}, {"text", text}});
        if (m_history.empty() && m_task.expected && !m_task.expected->patch.empty()) {
            auto patch = ROTE_TRY(prepare_patch(m_task.expected->patch, image.scale));
            content.push_back({{"type", "image_url"}, {"image_url", {{"url", data_url(patch)}}}});
        }
        content.push_back({{"type", "image_url"}, {"image_url", {{"url", data_url(image.base64_png)}}}});

        json messages = json::array({{{"role", "system"}, {"content", system_prompt(ProviderKind::openai_compatible)}}});
        for (const auto& m : m_history)
            messages.push_back(m);
        messages.push_back({{"role", "user"}, {"content", content}});
        const json body = {
            {"model", m_model},
            {"messages", messages},
            {"max_tokens", m_config.max_output_tokens},
            {"temperature", 0},
            {"response_format", {{"type", "json_object"}}},
        };
        HttpRequest request;
        request.url = m_config.effective_base_url() + "/v1/chat/completions";
        request.auth_header = "Authorization";
        request.body = body.dump();

        std::string said;
        auto turn = ROTE_TRY(exchange(request, stop, [&](const std::string& answer) -> Result<Reply> {
            auto reply = parse_chat_reply(answer, image.scale);
            if (reply.ok())
                said = json::parse(answer)["choices"][0]["message"]["content"].get<std::string>();
            return reply;
        }));
        m_history.push_back({{"role", "user"}, {"content", text}});
        m_history.push_back({{"role", "assistant"}, {"content", said}});
        return turn;
    }

    void acknowledge(const std::vector<std::string>&) override { }

private:
    json m_history = json::array();
};

class Provider final : public LlmProvider {
public:
    Provider(LlmConfig config, std::string model, Price price)
        : m_config(std::move(config))
        , m_model(std::move(model))
        , m_price(price)
    {
    }

    std::unique_ptr<Conversation> start(Task task) override
    {
        switch (m_config.provider) {
        case ProviderKind::anthropic:
            return std::unique_ptr<Conversation>(new AnthropicConversation(m_config, m_model, m_price, std::move(task)));
        case ProviderKind::openai:
            return std::unique_ptr<Conversation>(new OpenAiConversation(m_config, m_model, m_price, std::move(task)));
        case ProviderKind::openai_compatible:
            return std::unique_ptr<Conversation>(new ChatConversation(m_config, m_model, m_price, std::move(task)));
        }
        return nullptr;
    }
    ProviderKind kind() const override { return m_config.provider; }
    const std::string& model() const override { return m_model; }
    const Price& price() const override { return m_price; }

private:
    LlmConfig m_config;
    std::string m_model;
    Price m_price;
};

} // namespace

Result<std::unique_ptr<LlmProvider>> make_provider(const LlmConfig& config)
{
    const std::string model = config.effective_model();
    auto price = config.prices.find(model);
    if (!price && config.provider != ProviderKind::openai_compatible)
        return Error(Error::Code::invalid_argument,
            "no price is known for model '" + model + "'; add it under llm.prices in the config file (docs/llm.md)");
    if (config.api_key.empty() && config.provider != ProviderKind::openai_compatible)
        return Error(Error::Code::invalid_argument,
            std::string("no API key for ") + std::string(to_string(config.provider)) + ": set "
                + (config.provider == ProviderKind::anthropic ? "ANTHROPIC_API_KEY" : "OPENAI_API_KEY")
                + " or llm.api_key in the config file");
    const std::string url = config.effective_base_url();
    if (!url.starts_with("http://") && !url.starts_with("https://"))
        return Error(Error::Code::invalid_argument, "the model's base URL must start with http:// or https://");
    return std::unique_ptr<LlmProvider>(new Provider(config, model, price.value_or(Price {})));
}

} // namespace rote::llm
