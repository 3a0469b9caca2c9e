#pragma once

// A stand-in for the model providers, for tests only: a real HTTP server on loopback that speaks the
// Anthropic Messages API (/v1/messages), the OpenAI Responses API (/v1/responses) and OpenAI-compatible
// chat completions (/v1/chat/completions) as the providers document them. It checks every request the way
// the provider would (headers, tool definition, turn structure, tool ids, image size against the declared
// display) and answers 400 on a violation. Its answers come from a script, grounded on the screenshot it
// actually received: "click the text 'Search'" is found by OCR in that image and answered in its pixels.

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <opencv2/core.hpp>

#include <rote/base/geometry.h>
#include <rote/base/result.h>

namespace httplib {
class Server;
}

namespace rote::test {

struct StandInStep {
    enum class Kind {
        click, // the centre of the text `text`, found by OCR in the screenshot received
        double_click,
        type,
        key, // `text` is a rote combination ("ctrl+l"); sent in each provider's own key syntax
        screenshot, // ask to look again
        done, // finish with `text` as the result
        give_up,
        status, // answer HTTP `status` (with retry-after `retry_after_s` if >= 0) in the provider's error shape;
                // a 401 quotes the key it received, as OpenAI's does
        garbage, // 200 with a body that is not JSON
        offscreen, // a click just past the right edge of the screenshot
        unknown_action, // a tool call naming an action no provider has
    };
    Kind kind = Kind::done;
    std::string text;
    int status = 0;
    int retry_after_s = -1;
    int delay_ms = 0; // answer this slowly
    int occurrence = 0; // click: the text's n-th place on the screen in reading order (0: the first)
    bool safety_check = false; // OpenAI: attach a pending safety check to this computer_call
};

// Token counts every answer reports (Anthropic's shape; the OpenAI answers fold cached into input).
struct StandInUsage {
    long input = 1000;
    long output = 50;
    long cache_write = 0;
    long cache_read = 0;
};

struct SeenRequest {
    std::string path;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
    int status = 0; // what the stand-in answered
    cv::Size image; // the newest screenshot in the request
    std::optional<Point> grounded; // where a click step found its text, in the screenshot's pixels
    std::optional<Rect> grounded_box;
};

class StandIn {
public:
    static std::unique_ptr<StandIn> start(std::string api_key, std::vector<StandInStep> script, StandInUsage usage = {});
    ~StandIn();

    std::string base_url() const { return "http://127.0.0.1:" + std::to_string(m_port); }
    std::vector<SeenRequest> requests() const;
    // The first thing a request did that the provider would have refused; empty if none.
    std::string violation() const;
    size_t steps_left() const;

private:
    StandIn() = default;
    struct Answer {
        int status = 200;
        std::string body;
        int retry_after_s = -1;
    };
    Answer handle(const std::string& path, const std::string& body, const std::vector<std::pair<std::string, std::string>>& headers);

    std::unique_ptr<httplib::Server> m_server;
    std::thread m_thread;
    int m_port = 0;
    std::string m_key;
    std::vector<StandInStep> m_script;
    StandInUsage m_usage;
    mutable std::mutex m_mutex;
    size_t m_next = 0;
    int m_counter = 0;
    std::vector<SeenRequest> m_seen;
    std::string m_violation;
    // OpenAI's server-side state: response id → its pending call id and safety check ids.
    struct Pending {
        std::string response_id;
        std::string call_id;
        std::vector<std::string> checks;
    };
    std::vector<Pending> m_responses;
};

} // namespace rote::test
