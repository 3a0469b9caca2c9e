#pragma once

// A model that decides what to do on a screen, behind one interface for every provider (style.md 5).
//
// A Conversation is one exchange about one goal: the caller shows the screen, the model answers with
// actions in rote's vocabulary (real-screen coordinates), the caller performs them and shows the screen
// again, until the model says done or gives up. Provider wire formats stay inside llm-client.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include <rote/base/action.h>
#include <rote/base/result.h>
#include <rote/llm/config.h>
#include <rote/llm/cost.h>

namespace rote::llm {

// What a recorded trace expected to happen next, shown to the model when replay diverged.
struct ExpectedStep {
    std::string description; // "click the 'Search' button"
    std::string label; // the target's recorded label, may be empty
    cv::Mat patch; // the recorded image around the target (BGR, real-screen pixels), may be empty
};

struct Task {
    std::string goal; // in plain words; never a secret value (secrets are typed by the runtime, not the model)
    std::optional<ExpectedStep> expected;
};

struct Observation {
    cv::Mat screen; // the whole screen now, 8-bit BGR, real pixels
    std::string failure; // non-empty when the previous turn's actions could not be performed: told to the model
};

// OpenAI's pending safety checks. The actions of a turn that carries any must not be performed unless the
// caller (a policy or a person) acknowledges them with Conversation::acknowledge.
struct SafetyCheck {
    std::string id;
    std::string code;
    std::string message;
};

// One HTTP call to the provider that got an answer, for the store's llm_calls.
struct CallRecord {
    std::string provider;
    std::string model;
    Usage usage;
    std::int64_t cost_microusd = 0;
    std::int64_t latency_ms = 0; // all attempts and backoff included
    int attempts = 1;
};

struct Turn {
    // What to do, in order, in real-screen coordinates. Empty when the model only asked to look again (a
    // screenshot request): show it the screen. A done or give_up action is always last.
    std::vector<Action> actions;
    std::string text; // the model's own words this turn, for logs and reports
    std::vector<SafetyCheck> safety_checks;
    CallRecord call;

    bool finished() const
    {
        return !actions.empty()
            && (actions.back().kind == ActionKind::done || actions.back().kind == ActionKind::give_up);
    }
};

// Not thread-safe: one conversation belongs to one agent loop. Cancellation may come from any thread
// through the stop_token.
class Conversation {
public:
    virtual ~Conversation() = default;
    Conversation(const Conversation&) = delete;
    Conversation& operator=(const Conversation&) = delete;

    // Shows the model the screen (and the outcome of its previous actions) and returns its next turn.
    // Errors: the provider refused or failed after retries (its message, never the key), the deadline passed
    // (timeout), the stop_token fired (cancelled), the answer was malformed, named an unknown action or put a
    // point off the screen (corrupt: nothing in it is acted on), unacknowledged safety checks (conflict), or
    // the conversation already finished (invalid_argument).
    virtual Result<Turn> next(const Observation& observation, std::stop_token stop = {}) = 0;

    // Acknowledges the safety checks of the last turn (by id), to be sent with the next observation.
    virtual void acknowledge(const std::vector<std::string>& check_ids) = 0;

    // Every call that reached the provider and was answered, including those whose answer was rejected:
    // the tokens were spent and are costed.
    const std::vector<CallRecord>& calls() const { return m_calls; }

protected:
    Conversation() = default;
    std::vector<CallRecord> m_calls;
};

// One provider, configured. Thread-safe: conversations may be started from several threads.
class LlmProvider {
public:
    virtual ~LlmProvider() = default;
    LlmProvider(const LlmProvider&) = delete;
    LlmProvider& operator=(const LlmProvider&) = delete;

    virtual std::unique_ptr<Conversation> start(Task task) = 0;
    virtual ProviderKind kind() const = 0;
    virtual const std::string& model() const = 0;
    virtual const Price& price() const = 0;

protected:
    LlmProvider() = default;
};

// The provider the config names. Fails if the model has no known price (for the paid providers; a local
// OpenAI-compatible model costs nothing unless the config prices it), or a paid provider has no API key.
Result<std::unique_ptr<LlmProvider>> make_provider(const LlmConfig& config);

} // namespace rote::llm
