#include "http.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>

#include <curl/curl.h>
#include <nlohmann/json.hpp>
#include <rote/base/text.h>

namespace rote::llm {

namespace {

std::once_flag g_curl_init;

size_t on_body(char* data, size_t size, size_t count, void* user)
{
    static_cast<std::string*>(user)->append(data, size * count);
    return size * count;
}

struct HeaderSink {
    std::optional<std::chrono::milliseconds> retry_after;
};

// retry-after is seconds (or an HTTP date, which we do not honour and back off instead); OpenAI also sends
// retry-after-ms. The larger wins when both are present.
size_t on_header(char* data, size_t size, size_t count, void* user)
{
    const std::string_view line(data, size * count);
    auto* sink = static_cast<HeaderSink*>(user);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos)
        return size * count;
    std::string name = ascii_lower(line.substr(0, colon));
    std::string value(line.substr(colon + 1));
    value.erase(0, value.find_first_not_of(" \t"));
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
        value.pop_back();
    if (value.empty() || value.find_first_not_of("0123456789.") != std::string::npos)
        return size * count;
    double number = 0;
    try {
        number = std::stod(value);
    } catch (...) {
        return size * count;
    }
    std::optional<std::chrono::milliseconds> parsed;
    if (name == "retry-after")
        parsed = std::chrono::milliseconds(static_cast<std::int64_t>(number * 1000));
    else if (name == "retry-after-ms")
        parsed = std::chrono::milliseconds(static_cast<std::int64_t>(number));
    if (parsed && (!sink->retry_after || *parsed > *sink->retry_after))
        sink->retry_after = parsed;
    return size * count;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t)
{
    return static_cast<std::stop_token*>(user)->stop_requested() ? 1 : 0;
}

bool retryable(long status) { return status == 408 || status == 429 || status >= 500; }

// Waits, returning early (false) if stop is requested.
bool sleep_for(std::chrono::milliseconds delay, std::stop_token stop)
{
    std::mutex mutex;
    std::condition_variable_any cv;
    std::unique_lock lock(mutex);
    return !cv.wait_for(lock, stop, delay, [] { return false; }) && !stop.stop_requested();
}

} // namespace

std::string provider_error_message(const std::string& body)
{
    auto json = nlohmann::json::parse(body, nullptr, false);
    if (json.is_object() && json.contains("error")) {
        const auto& error = json["error"];
        if (error.is_object() && error.contains("message") && error["message"].is_string())
            return error["message"].get<std::string>();
        if (error.is_string())
            return error.get<std::string>();
    }
    std::string start = body.substr(0, 200);
    std::replace_if(start.begin(), start.end(), [](unsigned char c) { return c < 0x20; }, ' ');
    return start.empty() ? "(empty body)" : start;
}

HttpClient::HttpClient(const LlmConfig& config, std::shared_ptr<spdlog::logger> log)
    : m_config(config)
    , m_log(std::move(log))
    , m_random(std::random_device {}())
{
    std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    m_curl = curl_easy_init();
}

HttpClient::~HttpClient()
{
    if (m_curl != nullptr)
        curl_easy_cleanup(static_cast<CURL*>(m_curl));
}

HttpClient::Attempt HttpClient::attempt(const HttpRequest& request, std::chrono::milliseconds timeout, std::stop_token stop)
{
    Attempt result;
    auto* curl = static_cast<CURL*>(m_curl);
    if (curl == nullptr) {
        result.transport_error = "libcurl could not start";
        return result;
    }
    curl_easy_reset(curl);
    curl_slist* headers = nullptr;
    for (const auto& h : request.headers)
        headers = curl_slist_append(headers, h.c_str());
    headers = curl_slist_append(headers, "content-type: application/json");
    headers = curl_slist_append(headers, "expect:"); // no 100-continue round trip for large bodies
    if (!request.auth_header.empty() && !m_config.api_key.empty()) {
        const std::string line = request.auth_header == "Authorization"
            ? "Authorization: Bearer " + m_config.api_key.reveal()
            : request.auth_header + ": " + m_config.api_key.reveal();
        headers = curl_slist_append(headers, line.c_str());
    }
    HeaderSink sink;
    curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &result.body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &sink);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &stop);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(std::max<std::int64_t>(timeout.count(), 1)));
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::min<std::int64_t>(timeout.count(), 15000)));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    // A proxy from the environment is honoured for the provider, never for a local endpoint.
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "localhost,127.0.0.1,::1");
    const CURLcode code = curl_easy_perform(curl);
    curl_slist_free_all(headers);
    if (code == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.status);
        result.retry_after = sink.retry_after;
    } else {
        result.status = 0;
        result.cancelled = code == CURLE_ABORTED_BY_CALLBACK;
        result.timed_out = code == CURLE_OPERATION_TIMEDOUT;
        result.transport_error = curl_easy_strerror(code);
    }
    return result;
}

std::chrono::milliseconds HttpClient::backoff(int retry)
{
    // Exponential with "equal jitter": half the step fixed, half random, so retries from many runs spread
    // out but none comes back immediately.
    const auto cap = m_config.retry.max_delay.count();
    const std::int64_t step = std::min<std::int64_t>(cap, m_config.retry.base_delay.count() << std::min(retry - 1, 20));
    std::uniform_int_distribution<std::int64_t> jitter(0, std::max<std::int64_t>(step / 2, 0));
    return std::chrono::milliseconds(step - step / 2 + jitter(m_random));
}

Result<HttpExchange> HttpClient::post(const HttpRequest& request, std::stop_token stop)
{
    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    const auto deadline = start + m_config.deadline;
    const auto& key = m_config.api_key;
    auto remaining = [&] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    };
    std::string last_problem;
    for (int n = 1; n <= m_config.retry.max_attempts; ++n) {
        if (stop.stop_requested())
            return Error(Error::Code::cancelled, "the model call was cancelled");
        const auto left = remaining();
        if (left.count() <= 0)
            break;
        Attempt a = attempt(request, std::min(m_config.request_timeout, left), stop);
        if (a.cancelled || stop.stop_requested())
            return Error(Error::Code::cancelled, "the model call was cancelled");
        if (a.status >= 200 && a.status < 300) {
            return HttpExchange {a.status, std::move(a.body), n,
                std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - start)};
        }
        if (a.status != 0 && !retryable(a.status)) {
            return Error(a.status == 401 || a.status == 403 ? Error::Code::invalid_argument : Error::Code::io,
                key.redact("the provider answered HTTP " + std::to_string(a.status) + ": "
                    + provider_error_message(a.body)));
        }
        last_problem = a.status != 0 ? "HTTP " + std::to_string(a.status) + " (" + provider_error_message(a.body) + ")"
                                     : a.transport_error;
        last_problem = key.redact(last_problem);
        if (n == m_config.retry.max_attempts)
            break;
        auto delay = a.retry_after ? *a.retry_after : backoff(n);
        if (delay >= remaining()) {
            return Error(Error::Code::timeout,
                "the provider asked to wait " + std::to_string(delay.count()) + " ms, past the call's deadline, after "
                    + last_problem);
        }
        m_log->warn("attempt {} of {} failed: {}; retrying in {} ms", n, m_config.retry.max_attempts, last_problem,
            delay.count());
        if (!sleep_for(delay, stop))
            return Error(Error::Code::cancelled, "the model call was cancelled");
    }
    if (remaining().count() <= 0)
        return Error(Error::Code::timeout,
            "no answer from the provider within the call's deadline of " + std::to_string(m_config.deadline.count())
                + " ms" + (last_problem.empty() ? "" : " (last: " + last_problem + ")"));
    return Error(Error::Code::io,
        "the provider failed " + std::to_string(m_config.retry.max_attempts) + " times; last: " + last_problem);
}

} // namespace rote::llm
