#pragma once

// A warm pool of sessions (the scheduler's): sandboxes started ahead of the runs that will take them, each
// with the spec's own egress proxy (its allowlist and routes), window and provider, showing about:blank. A run
// that takes one pays a navigation instead of a sandbox's start. A session is used by one run only and never
// returned: what one run's page did is never seen by another. Local provider only (a qemu pool would hold
// restored snapshots; not yet).

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <rote/session/session.h>

namespace rote::runtime {

class SessionPool {
public:
    // Keeps `size` sessions ready per spec it is asked to warm; 0 keeps none (take() then always misses).
    explicit SessionPool(int size, std::function<void(const std::string&)> log = {});
    // Drains: stops the refilling and every ready session.
    ~SessionPool();
    SessionPool(const SessionPool&) = delete;
    SessionPool& operator=(const SessionPool&) = delete;

    // Whether a spec can be pooled: the local provider, no kept sandbox.
    static bool poolable(const SessionSpec& spec);
    // From now on keeps `size` sessions of this spec (its start URL aside) ready, started in the background.
    void warm(const SessionSpec& spec);
    // A ready session of this spec, or nullptr when none is ready (the caller starts one itself). It shows
    // about:blank: the caller loads the start URL. Taking one starts its replacement.
    std::unique_ptr<Session> take(const SessionSpec& spec);
    // Stops every ready session and refills no more.
    void drain();
    int ready() const;

private:
    static std::string key(const SessionSpec& spec);
    void refill(std::stop_token stop);

    int m_size;
    std::function<void(const std::string&)> m_log;
    mutable std::mutex m_mutex;
    std::condition_variable_any m_changed;
    std::map<std::string, SessionSpec> m_wanted;
    std::map<std::string, std::vector<std::unique_ptr<Session>>> m_ready;
    bool m_draining = false;
    std::jthread m_thread;
};

} // namespace rote::runtime
