#include "standin.h"

#include <algorithm>
#include <chrono>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <openssl/evp.h>

#include <rote/base/text.h>
#include <rote/vision/image.h>

#include "runtime/support.h"

namespace rote::test {

using json = nlohmann::json;

namespace {

enum class Wire { anthropic, openai, chat };

std::string header(const std::vector<std::pair<std::string, std::string>>& headers, std::string_view name)
{
    const std::string want = ascii_lower(name);
    for (const auto& [k, v] : headers) {
        if (ascii_lower(k) == want)
            return v;
    }
    return {};
}

// The image in a data URL or a base64 source, decoded.
std::optional<cv::Mat> decode_base64_png(const std::string& b64)
{
    std::vector<std::uint8_t> bytes(b64.size() / 4 * 3 + 3);
    const int n = EVP_DecodeBlock(bytes.data(), reinterpret_cast<const unsigned char*>(b64.data()), static_cast<int>(b64.size()));
    if (n < 0)
        return std::nullopt;
    size_t size = static_cast<size_t>(n);
    // EVP_DecodeBlock counts padding as zero bytes.
    if (b64.size() >= 1 && b64[b64.size() - 1] == '=')
        --size;
    if (b64.size() >= 2 && b64[b64.size() - 2] == '=')
        --size;
    bytes.resize(size);
    auto image = vision::decode_png(bytes);
    if (!image)
        return std::nullopt;
    return *image;
}

std::optional<cv::Mat> from_data_url(const std::string& url)
{
    const std::string prefix = "data:image/png;base64,";
    if (!url.starts_with(prefix))
        return std::nullopt;
    return decode_base64_png(url.substr(prefix.size()));
}

struct Checked {
    std::string violation;
    std::optional<cv::Mat> image; // the newest screenshot
    cv::Size declared; // the display size the tool definition declared
    std::string model;
};

Checked check_anthropic(const json& body, const std::vector<std::pair<std::string, std::string>>& headers, const std::string& key)
{
    Checked c;
    if (header(headers, "x-api-key") != key)
        return {"authentication_error: invalid x-api-key", {}, {}, {}};
    if (header(headers, "anthropic-version") != "2023-06-01")
        return {"anthropic-version header must be 2023-06-01", {}, {}, {}};
    const std::string beta = header(headers, "anthropic-beta");
    if (!body.is_object() || !body.contains("model") || !body["model"].is_string())
        return {"model: Field required", {}, {}, {}};
    c.model = body["model"];
    if (!body.contains("max_tokens") || !body["max_tokens"].is_number_integer() || body["max_tokens"].get<int>() < 1)
        return {"max_tokens: Field required", {}, {}, c.model};
    if (!body.contains("tools") || !body["tools"].is_array() || body["tools"].size() != 1)
        return {"tools: one computer tool expected", {}, {}, c.model};
    const json& tool = body["tools"][0];
    const std::string type = tool.value("type", "");
    const std::string wanted_beta = type == "computer_20250124" ? "computer-use-2025-01-24"
        : type == "computer_20251124"                           ? "computer-use-2025-11-24"
                                                                : "";
    if (wanted_beta.empty() || tool.value("name", "") != "computer")
        return {"tools.0: unknown tool type '" + type + "'", {}, {}, c.model};
    if (beta.find(wanted_beta) == std::string::npos)
        return {"tool " + type + " needs the anthropic-beta header " + wanted_beta, {}, {}, c.model};
    if (!tool.contains("display_width_px") || !tool.contains("display_height_px"))
        return {"tools.0.display_width_px: Field required", {}, {}, c.model};
    c.declared = cv::Size(tool["display_width_px"].get<int>(), tool["display_height_px"].get<int>());
    int breakpoints = 0;
    if (body.contains("system")) {
        for (const auto& block : body["system"])
            breakpoints += block.contains("cache_control") ? 1 : 0;
    }
    const json& messages = body.value("messages", json::array());
    if (!messages.is_array() || messages.empty())
        return {"messages: at least one message is required", {}, {}, c.model};
    std::vector<std::string> open_tool_uses;
    for (size_t i = 0; i < messages.size(); ++i) {
        const json& m = messages[i];
        const std::string role = m.value("role", "");
        if (role != (i % 2 == 0 ? "user" : "assistant"))
            return {"messages: roles must alternate, starting with user", {}, {}, c.model};
        if (!m.contains("content") || !m["content"].is_array())
            return {"messages." + std::to_string(i) + ".content must be a list", {}, {}, c.model};
        std::vector<std::string> answered;
        for (const auto& block : m["content"]) {
            breakpoints += block.contains("cache_control") ? 1 : 0;
            const std::string t = block.value("type", "");
            if (role == "assistant" && t == "tool_use")
                answered.push_back(block.value("id", ""));
            if (role == "user" && t == "tool_result")
                open_tool_uses.erase(
                    std::remove(open_tool_uses.begin(), open_tool_uses.end(), block.value("tool_use_id", "")), open_tool_uses.end());
            if (role == "user" && i + 1 == messages.size()) {
                auto take = [&](const json& img) {
                    if (img.value("type", "") == "image" && img.contains("source")
                        && img["source"].value("media_type", "") == "image/png")
                        c.image = decode_base64_png(img["source"].value("data", ""));
                };
                take(block);
                if (t == "tool_result" && block.contains("content") && block["content"].is_array()) {
                    for (const auto& part : block["content"])
                        take(part);
                }
            }
        }
        if (role == "user" && !open_tool_uses.empty())
            return {"messages." + std::to_string(i) + ": tool_use ids were found without tool_result blocks immediately after: "
                    + open_tool_uses.front(), {}, {}, c.model};
        if (role == "assistant")
            open_tool_uses = answered;
    }
    if (breakpoints > 4)
        return {"A maximum of 4 blocks with cache_control may be provided", {}, {}, c.model};
    if (!c.image)
        return {"the last user message carries no PNG screenshot", {}, {}, c.model};
    return c;
}

Checked check_openai(const json& body, const std::vector<std::pair<std::string, std::string>>& headers, const std::string& key,
    const std::string& pending_call, const std::vector<std::string>& pending_checks, bool known_previous)
{
    Checked c;
    if (header(headers, "authorization") != "Bearer " + key)
        return {"Incorrect API key provided: " + header(headers, "authorization").substr(std::min<size_t>(7, header(headers, "authorization").size())), {}, {}, {}};
    if (!body.is_object() || !body.contains("model") || !body["model"].is_string())
        return {"Missing required parameter: 'model'.", {}, {}, {}};
    c.model = body["model"];
    if (body.value("truncation", "") != "auto")
        return {"truncation must be 'auto' for the computer use tool", {}, {}, c.model};
    if (!body.contains("tools") || !body["tools"].is_array() || body["tools"].empty()
        || body["tools"][0].value("type", "") != "computer_use_preview" || !body["tools"][0].contains("display_width")
        || !body["tools"][0].contains("environment"))
        return {"tools[0]: a computer_use_preview tool with display_width, display_height and environment is required", {}, {}, c.model};
    c.declared = cv::Size(body["tools"][0]["display_width"].get<int>(), body["tools"][0]["display_height"].get<int>());
    if (!body.contains("input") || !body["input"].is_array() || body["input"].empty())
        return {"Missing required parameter: 'input'.", {}, {}, c.model};
    const bool follow_up = body.contains("previous_response_id");
    if (follow_up && !known_previous)
        return {"Previous response with id '" + body["previous_response_id"].dump() + "' not found.", {}, {}, c.model};
    bool answered = false;
    for (const auto& item : body["input"]) {
        if (item.value("type", "") == "computer_call_output") {
            if (item.value("call_id", "") != pending_call)
                return {"No tool call found for computer_call_output with call_id " + item.value("call_id", ""), {}, {}, c.model};
            answered = true;
            std::vector<std::string> acknowledged;
            if (item.contains("acknowledged_safety_checks"))
                for (const auto& a : item["acknowledged_safety_checks"])
                    acknowledged.push_back(a.value("id", ""));
            for (const auto& id : pending_checks) {
                if (std::find(acknowledged.begin(), acknowledged.end(), id) == acknowledged.end())
                    return {"pending safety check " + id + " was not acknowledged", {}, {}, c.model};
            }
            if (!item.contains("output") || item["output"].value("type", "") != "computer_screenshot")
                return {"computer_call_output.output must be a computer_screenshot", {}, {}, c.model};
            c.image = from_data_url(item["output"].value("image_url", ""));
        } else if (item.value("role", "") == "user" && item.contains("content") && item["content"].is_array()) {
            for (const auto& part : item["content"]) {
                if (part.value("type", "") == "input_image")
                    c.image = from_data_url(part.value("image_url", ""));
            }
        }
    }
    if (follow_up && !pending_call.empty() && !answered)
        return {"the previous response's computer_call " + pending_call + " has no computer_call_output", {}, {}, c.model};
    if (!c.image)
        return {"the input carries no PNG screenshot", {}, {}, c.model};
    return c;
}

Checked check_chat(const json& body, const std::vector<std::pair<std::string, std::string>>& headers, const std::string& key)
{
    Checked c;
    if (!key.empty() && header(headers, "authorization") != "Bearer " + key)
        return {"invalid api key", {}, {}, {}};
    if (!body.is_object() || !body.contains("model") || !body.contains("messages") || !body["messages"].is_array()
        || body["messages"].empty())
        return {"model and messages are required", {}, {}, {}};
    c.model = body["model"];
    const json& last = body["messages"].back();
    if (last.value("role", "") != "user" || !last.contains("content") || !last["content"].is_array())
        return {"the last message must be the user's, with content parts", {}, {}, c.model};
    for (const auto& part : last["content"]) {
        if (part.value("type", "") == "image_url" && part.contains("image_url"))
            c.image = from_data_url(part["image_url"].value("url", ""));
    }
    if (!c.image)
        return {"the last message carries no PNG image", {}, {}, c.model};
    c.declared = c.image->size();
    return c;
}

std::vector<std::string> key_names(const std::string& combo)
{
    std::vector<std::string> keys;
    size_t start = 0;
    while (start <= combo.size()) {
        const size_t plus = combo.find('+', start);
        std::string part = combo.substr(start, plus == std::string::npos ? std::string::npos : plus - start);
        std::transform(part.begin(), part.end(), part.begin(), ::toupper);
        if (part == "RETURN")
            part = "ENTER";
        keys.push_back(part);
        if (plus == std::string::npos)
            break;
        start = plus + 1;
    }
    return keys;
}

} // namespace

std::unique_ptr<StandIn> StandIn::start(std::string api_key, std::vector<StandInStep> script, StandInUsage usage)
{
    std::unique_ptr<StandIn> s(new StandIn());
    s->m_key = std::move(api_key);
    s->m_script = std::move(script);
    s->m_usage = usage;
    s->m_server = std::make_unique<httplib::Server>();
    s->m_server->new_task_queue = [] { return new httplib::ThreadPool(4); };
    StandIn* self = s.get();
    auto route = [self](const httplib::Request& req, httplib::Response& res) {
        std::vector<std::pair<std::string, std::string>> headers(req.headers.begin(), req.headers.end());
        Answer a = self->handle(req.path, req.body, headers);
        res.status = a.status;
        if (a.retry_after_s >= 0)
            res.set_header("retry-after", std::to_string(a.retry_after_s));
        res.set_content(a.body, "application/json");
    };
    s->m_server->Post("/v1/messages", route);
    s->m_server->Post("/v1/responses", route);
    s->m_server->Post("/v1/chat/completions", route);
    s->m_port = s->m_server->bind_to_any_port("127.0.0.1");
    if (s->m_port <= 0)
        return nullptr;
    s->m_thread = std::thread([self] { self->m_server->listen_after_bind(); });
    return s;
}

StandIn::~StandIn()
{
    if (m_server)
        m_server->stop();
    if (m_thread.joinable())
        m_thread.join();
}

std::vector<SeenRequest> StandIn::requests() const
{
    std::lock_guard lock(m_mutex);
    return m_seen;
}

std::string StandIn::violation() const
{
    std::lock_guard lock(m_mutex);
    return m_violation;
}

size_t StandIn::steps_left() const
{
    std::lock_guard lock(m_mutex);
    return m_script.size() - m_next;
}

StandIn::Answer StandIn::handle(
    const std::string& path, const std::string& body_text, const std::vector<std::pair<std::string, std::string>>& headers)
{
    std::unique_lock lock(m_mutex);
    const Wire wire = path == "/v1/messages" ? Wire::anthropic : path == "/v1/responses" ? Wire::openai : Wire::chat;
    SeenRequest seen;
    seen.path = path;
    seen.body = body_text;
    seen.headers = headers;

    auto error_body = [&](const std::string& type, const std::string& message) {
        if (wire == Wire::anthropic)
            return json {{"type", "error"}, {"error", {{"type", type}, {"message", message}}}}.dump();
        return json {{"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", nullptr}}}}.dump();
    };
    auto finish = [&](Answer a) {
        seen.status = a.status;
        m_seen.push_back(seen);
        return a;
    };

    const json body = json::parse(body_text, nullptr, false);
    std::string previous_id = body.is_object() && body.contains("previous_response_id") && body["previous_response_id"].is_string()
        ? body["previous_response_id"].get<std::string>()
        : "";
    const Pending* previous = nullptr;
    for (const auto& p : m_responses) {
        if (p.response_id == previous_id)
            previous = &p;
    }
    Checked checked = body.is_discarded() ? Checked {"the body is not JSON", {}, {}, {}}
        : wire == Wire::anthropic         ? check_anthropic(body, headers, m_key)
        : wire == Wire::openai            ? check_openai(body, headers, m_key, previous ? previous->call_id : "",
                                                previous ? previous->checks : std::vector<std::string> {}, previous != nullptr)
                                          : check_chat(body, headers, m_key);
    if (checked.image)
        seen.image = checked.image->size();
    if (checked.violation.empty() && checked.image && checked.image->size() != checked.declared)
        checked.violation = "the screenshot is " + std::to_string(checked.image->cols) + "x" + std::to_string(checked.image->rows)
            + " but the tool declares a " + std::to_string(checked.declared.width) + "x"
            + std::to_string(checked.declared.height) + " display";
    const bool auth = checked.violation.find("key") != std::string::npos;
    if (!checked.violation.empty()) {
        if (m_violation.empty() && !auth)
            m_violation = checked.violation;
        return finish({auth ? 401 : 400, error_body(auth ? "authentication_error" : "invalid_request_error", checked.violation)});
    }
    if (m_next >= m_script.size()) {
        m_violation = "the client called after the script ended";
        return finish({500, error_body("api_error", "stand-in script exhausted")});
    }
    const StandInStep step = m_script[m_next++];
    const int n = ++m_counter;
    const cv::Mat& image = *checked.image;

    if (step.kind == StandInStep::Kind::status) {
        const std::string message = step.status == 401 ? "Incorrect API key provided: " + m_key
            : step.status == 429                         ? "Rate limited; slow down"
                                                         : "Internal server error";
        Answer a {step.status, error_body(step.status == 429 ? "rate_limit_error" : "api_error", message), step.retry_after_s};
        lock.unlock();
        if (step.delay_ms > 0)
            std::this_thread::sleep_for(std::chrono::milliseconds(step.delay_ms));
        lock.lock();
        return finish(a);
    }
    if (step.kind == StandInStep::Kind::garbage) {
        lock.unlock();
        lock.lock();
        return finish({200, "<html><body>upstream proxy error</body></html>"});
    }

    // The action, in the screenshot's own pixels.
    json action; // rote-neutral description, rendered per wire below
    std::string kind;
    Point at;
    switch (step.kind) {
    case StandInStep::Kind::click:
    case StandInStep::Kind::double_click: {
        lock.unlock(); // OCR takes a while; the server may take other requests meanwhile
        auto box = find_text(image, step.text, 30, step.occurrence);
        // Text in a downscaled screenshot can be too small for Tesseract, though not for a model: read it again
        // larger and bring the box back to the screenshot's pixels.
        for (int factor = 2; factor <= 3 && !box; ++factor) {
            cv::Mat larger;
            cv::resize(image, larger, {}, factor, factor, cv::INTER_CUBIC);
            if (auto big = find_text(larger, step.text, 0, step.occurrence))
                box = Rect {big->x / factor, big->y / factor, (big->w + factor - 1) / factor, (big->h + factor - 1) / factor};
        }
        lock.lock();
        if (!box && std::getenv("ROTE_STANDIN_DUMP"))
            cv::imwrite(std::string(std::getenv("ROTE_STANDIN_DUMP")) + "/missed-" + std::to_string(m_counter) + ".png", image);
        if (!box) {
            kind = "give_up";
            action = "cannot see '" + step.text + "' on the screen";
            break;
        }
        at = box->center();
        seen.grounded = at;
        seen.grounded_box = box;
        kind = step.kind == StandInStep::Kind::click ? "click" : "double_click";
        break;
    }
    case StandInStep::Kind::offscreen:
        kind = "click";
        at = {image.cols + 25, 10};
        break;
    case StandInStep::Kind::unknown_action:
        kind = "teleport";
        break;
    case StandInStep::Kind::type:
        kind = "type";
        break;
    case StandInStep::Kind::key:
        kind = "key";
        break;
    case StandInStep::Kind::screenshot:
        kind = "screenshot";
        break;
    case StandInStep::Kind::done:
        kind = "done";
        break;
    case StandInStep::Kind::give_up:
        kind = "give_up";
        action = step.text;
        break;
    default:
        break;
    }
    const std::string words = kind == "done" ? "DONE: " + step.text
        : kind == "give_up"                  ? "GIVE UP: " + (action.is_string() ? action.get<std::string>() : step.text)
                                             : "";
    json out;
    if (wire == Wire::anthropic) {
        json content = json::array();
        std::string stop = "tool_use";
        if (!words.empty()) {
            content.push_back({{"type", "text"}, {"text", words}});
            stop = "end_turn";
        } else {
            json input;
            if (kind == "click" || kind == "double_click")
                input = {{"action", kind == "click" ? "left_click" : "double_click"}, {"coordinate", {at.x, at.y}}};
            else if (kind == "type")
                input = {{"action", "type"}, {"text", step.text}};
            else if (kind == "key")
                input = {{"action", "key"}, {"text", step.text}};
            else if (kind == "screenshot")
                input = {{"action", "screenshot"}};
            else
                input = {{"action", kind}};
            content.push_back({{"type", "text"}, {"text", "Next: " + kind}});
            content.push_back({{"type", "tool_use"}, {"id", "toolu_" + std::to_string(n)}, {"name", "computer"}, {"input", input}});
        }
        out = {{"id", "msg_" + std::to_string(n)}, {"type", "message"}, {"role", "assistant"}, {"model", checked.model},
            {"content", content}, {"stop_reason", stop}, {"stop_sequence", nullptr},
            {"usage",
                {{"input_tokens", m_usage.input}, {"output_tokens", m_usage.output},
                    {"cache_creation_input_tokens", m_usage.cache_write}, {"cache_read_input_tokens", m_usage.cache_read}}}};
    } else if (wire == Wire::openai) {
        const std::string id = "resp_" + std::to_string(n);
        json output = json::array({{{"type", "reasoning"}, {"id", "rs_" + std::to_string(n)}, {"summary", json::array()}}});
        Pending pending {id, "", {}};
        if (!words.empty()) {
            output.push_back({{"type", "message"}, {"id", "msg_" + std::to_string(n)}, {"role", "assistant"}, {"status", "completed"},
                {"content", json::array({{{"type", "output_text"}, {"text", words}, {"annotations", json::array()}}})}});
        } else {
            json a;
            if (kind == "click")
                a = {{"type", "click"}, {"button", "left"}, {"x", at.x}, {"y", at.y}};
            else if (kind == "double_click")
                a = {{"type", "double_click"}, {"x", at.x}, {"y", at.y}};
            else if (kind == "type")
                a = {{"type", "type"}, {"text", step.text}};
            else if (kind == "key")
                a = {{"type", "keypress"}, {"keys", key_names(step.text)}};
            else
                a = {{"type", kind}};
            json checks = json::array();
            if (step.safety_check) {
                checks.push_back({{"id", "cu_sc_" + std::to_string(n)}, {"code", "malicious_instructions"},
                    {"message", "The page may be trying to instruct the agent."}});
                pending.checks.push_back("cu_sc_" + std::to_string(n));
            }
            pending.call_id = "call_" + std::to_string(n);
            output.push_back({{"type", "computer_call"}, {"id", "cu_" + std::to_string(n)}, {"call_id", pending.call_id},
                {"action", a}, {"pending_safety_checks", checks}, {"status", "completed"}});
        }
        m_responses.push_back(pending);
        out = {{"id", id}, {"object", "response"}, {"status", "completed"}, {"model", checked.model}, {"output", output},
            {"usage",
                {{"input_tokens", m_usage.input + m_usage.cache_read},
                    {"input_tokens_details", {{"cached_tokens", m_usage.cache_read}}}, {"output_tokens", m_usage.output},
                    {"output_tokens_details", {{"reasoning_tokens", 0}}},
                    {"total_tokens", m_usage.input + m_usage.cache_read + m_usage.output}}}};
    } else {
        json a;
        if (kind == "click" || kind == "double_click")
            a = {{"type", kind}, {"x", at.x}, {"y", at.y}};
        else if (kind == "type")
            a = {{"type", "type"}, {"text", step.text}};
        else if (kind == "key")
            a = {{"type", "key"}, {"keys", step.text}};
        else if (kind == "done")
            a = {{"type", "done"}, {"result", step.text}};
        else if (kind == "give_up")
            a = {{"type", "give_up"}, {"reason", words.substr(9)}};
        else
            a = {{"type", kind}};
        const std::string said = json {{"thought", "next: " + kind}, {"action", a}}.dump();
        out = {{"id", "chatcmpl-" + std::to_string(n)}, {"object", "chat.completion"}, {"model", checked.model},
            {"choices", json::array({{{"index", 0}, {"message", {{"role", "assistant"}, {"content", said}}}, {"finish_reason", "stop"}}})},
            {"usage",
                {{"prompt_tokens", m_usage.input + m_usage.cache_read}, {"completion_tokens", m_usage.output},
                    {"total_tokens", m_usage.input + m_usage.cache_read + m_usage.output},
                    {"prompt_tokens_details", {{"cached_tokens", m_usage.cache_read}}}}}};
    }
    Answer a {200, out.dump()};
    if (step.delay_ms > 0) {
        lock.unlock();
        std::this_thread::sleep_for(std::chrono::milliseconds(step.delay_ms));
        lock.lock();
    }
    return finish(a);
}

} // namespace rote::test
