#pragma once

// HTTP for the providers: libcurl, one connection kept per conversation, retries with backoff.

#include <chrono>
#include <memory>
#include <optional>
#include <random>
#include <stop_token>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include <rote/base/result.h>
#include <rote/llm/config.h>

namespace rote::llm {

struct HttpRequest {
    std::string url;
    std::vector<std::string> headers; // "name: value", never the key
    std::string auth_header; // "x-api-key" or "Authorization" (as Bearer), sent with the key if it is set
    std::string body;
};

struct HttpExchange {
    long status = 0;
    std::string body;
    int attempts = 0;
    std::chrono::milliseconds elapsed {0};
};

class HttpClient {
public:
    HttpClient(const LlmConfig& config, std::shared_ptr<spdlog::logger> log);
    ~HttpClient();
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    // POSTs, retrying connection errors, 408, 429 and 5xx with exponential backoff and jitter (or what the
    // server's retry-after says) until an answer, config.retry.max_attempts or config.deadline. A 2xx is the
    // exchange; any other final status is an error quoting the provider's message, with the key redacted.
    Result<HttpExchange> post(const HttpRequest& request, std::stop_token stop);

private:
    struct Attempt {
        long status = 0; // 0: no HTTP answer
        std::string body;
        std::optional<std::chrono::milliseconds> retry_after;
        std::string transport_error; // when status is 0
        bool cancelled = false;
        bool timed_out = false;
    };
    Attempt attempt(const HttpRequest& request, std::chrono::milliseconds timeout, std::stop_token stop);
    std::chrono::milliseconds backoff(int retry);

    const LlmConfig& m_config;
    std::shared_ptr<spdlog::logger> m_log;
    void* m_curl = nullptr; // CURL*, kept so the connection is reused between turns
    std::mt19937 m_random;
};

// The provider's own error message from an error body (Anthropic and OpenAI both use {"error": {"message"}}),
// or the start of the body.
std::string provider_error_message(const std::string& body);

} // namespace rote::llm
