#pragma once

// A warm pool of sessions (the scheduler's): sandboxes started ahead of the runs that will take them, each
// with the spec's own egress proxy (its allowlist and routes), window and provider. A local sandbox waits on
// about:blank; a qemu one is a VM restored from its image's ready state, its browser on the waiting page with
// the start held (SessionSpec::hold_start). A run that takes one pays a navigation instead of a sandbox's
// start: local, through the browser's document; qemu, by releasing the proxy's start. A session is used by
// one run only and never returned: what one run's page did is never seen by another.

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

    // Whether a spec can be pooled: either provider, not a kept sandbox (that one is its own warm state).
    static bool poolable(const SessionSpec& spec);
    // From now on keeps `size` sessions of this spec (its start URL aside) ready, started in the background.
    void warm(const SessionSpec& spec);
    // A ready session of this spec, or nullptr when none is ready (the caller starts one itself). It is not on
    // the start page yet: the caller sends it there (local: Witness::navigate; qemu: the proxy's
    // release_start). Taking a local one starts its replacement at once (a sandbox's start is light, and the
    // next row finds it ready); a VM's replacement waits until the VM taken has stopped (a restore under
    // TCG takes the machine's CPU from the run that took it).
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
    // VMs handed out and not yet stopped, per spec: counted down by the VM's session when it stops, which
    // may be after the pool is gone (so this outlives it). The refill looks at it at least once a second.
    struct TakenVms {
        std::mutex mutex;
        std::map<std::string, int> count;
    };
    std::shared_ptr<TakenVms> m_taken = std::make_shared<TakenVms>();
    bool vm_out(const std::string& key) const;
    bool m_draining = false;
    std::jthread m_thread;
};

} // namespace rote::runtime
