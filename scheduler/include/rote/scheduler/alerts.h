#pragma once

// Alerts of the scheduler (docs/schedules.md, "Alerts"): a JSON document per event, POSTed to a schedule's
// webhook with an HMAC-SHA256 signature, and/or given on stdin to a schedule's command. Sent from a thread
// of their own with retries and backoff: a slow or dead receiver never holds up a fire.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace rote::scheduler {

struct Alert {
    std::string event; // fire.failed, fire.planner, fire.missed, budget.spent
    std::string schedule;
    std::string body; // the JSON document
    std::string webhook; // empty: none
    std::string command; // empty: none
};

struct AlertOptions {
    std::string key; // the HMAC key (the scheduler's alert.key)
    int attempts = 5; // per receiver
    std::chrono::milliseconds backoff {1000}; // before the second attempt; doubled after each
    std::chrono::seconds timeout {10}; // a webhook's answer, or a command's exit, within this
    std::function<void(const std::string&)> log;
};

// The value of the X-Rote-Signature header for `body` sent at unix time `timestamp`:
// "sha256=" + hex(HMAC-SHA256(key, timestamp + "." + body)). The receiver recomputes it from the
// X-Rote-Timestamp header and the raw body, and rejects an old timestamp (a replay).
std::string alert_signature(const std::string& key, const std::string& timestamp, const std::string& body);

class Alerter {
public:
    explicit Alerter(AlertOptions options);
    // Sends what is queued for at most `flush` more, then drops the rest (logged).
    ~Alerter();
    Alerter(const Alerter&) = delete;
    Alerter& operator=(const Alerter&) = delete;

    // Queues the alert; returns at once.
    void send(Alert alert);
    // Blocks until the queue is empty and nothing is being sent (tests, --once), or `limit` passes.
    void flush(std::chrono::milliseconds limit);
    int delivered() const;
    int dropped() const;

private:
    void loop(std::stop_token stop);
    bool post(const Alert& alert, std::string& why) const;
    bool run_command(const Alert& alert, std::string& why) const;
    void deliver(const Alert& alert, const std::stop_token& stop);

    AlertOptions m_options;
    mutable std::mutex m_mutex;
    std::condition_variable_any m_changed;
    std::deque<Alert> m_queue;
    bool m_busy = false;
    int m_delivered = 0;
    int m_dropped = 0;
    std::jthread m_thread;
};

} // namespace rote::scheduler
