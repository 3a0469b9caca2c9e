#include <rote/session/pool.h>

#include <rote/base/log.h>

namespace rote::runtime {

SessionPool::SessionPool(int size, std::function<void(const std::string&)> log)
    : m_size(std::max(0, size))
    , m_log(std::move(log))
    , m_thread([this](std::stop_token stop) { refill(stop); })
{
}

SessionPool::~SessionPool()
{
    drain();
    m_thread.request_stop();
    m_changed.notify_all();
    m_thread.join();
}

bool SessionPool::poolable(const SessionSpec& spec)
{
    return (spec.provider == "local" || spec.provider == "qemu") && spec.keep.empty();
}

std::string SessionPool::key(const SessionSpec& spec)
{
    // Everything that makes one session unlike another, but the page it will be sent to.
    std::string k = spec.provider + "\n" + std::to_string(spec.width) + "x" + std::to_string(spec.height) + "@"
        + std::to_string(spec.scale) + "\n" + std::to_string(static_cast<int>(spec.window)) + "\n" + spec.image.string() + "\n";
    for (const auto& host : spec.allowlist)
        k += "allow " + host + "\n";
    for (const auto& [host, to] : spec.routes)
        k += "route " + host + "=" + to + "\n";
    k += "capture " + std::to_string(spec.capture_limit) + " " + spec.upstream_ca_file.string() + "\n";
    if (spec.allowlist.empty()) // then the start URL's host is the allowlist
        k += "start " + url_host(spec.start_url) + "\n";
    return k;
}

void SessionPool::warm(const SessionSpec& spec)
{
    if (m_size == 0 || !poolable(spec))
        return;
    {
        std::lock_guard lock(m_mutex);
        if (m_draining)
            return;
        m_wanted.emplace(key(spec), spec);
    }
    m_changed.notify_all();
}

std::unique_ptr<Session> SessionPool::take(const SessionSpec& spec)
{
    if (m_size == 0 || !poolable(spec))
        return nullptr;
    std::unique_ptr<Session> taken;
    {
        std::lock_guard lock(m_mutex);
        const std::string k = key(spec);
        m_wanted.emplace(k, spec);
        auto& ready = m_ready[k];
        // A sandbox that died while it waited is no use; it is stopped here and another started.
        while (!ready.empty() && !taken) {
            auto candidate = std::move(ready.back());
            ready.pop_back();
            if (candidate->sandbox().alive())
                taken = std::move(candidate);
        }
        if (taken && spec.provider == "qemu") {
            {
                std::lock_guard count_lock(m_taken->mutex);
                ++m_taken->count[k];
            }
            taken->on_stop([taken_vms = m_taken, k] {
                std::lock_guard count_lock(taken_vms->mutex);
                --taken_vms->count[k];
            });
        }
    }
    m_changed.notify_all();
    return taken;
}

void SessionPool::drain()
{
    std::map<std::string, std::vector<std::unique_ptr<Session>>> stopping;
    {
        std::lock_guard lock(m_mutex);
        m_draining = true;
        m_wanted.clear();
        stopping.swap(m_ready);
    }
    m_changed.notify_all();
    stopping.clear(); // each Session's destructor stops its sandbox and proxy
}

bool SessionPool::vm_out(const std::string& key) const
{
    std::lock_guard lock(m_taken->mutex);
    const auto it = m_taken->count.find(key);
    return it != m_taken->count.end() && it->second > 0;
}

int SessionPool::ready() const
{
    std::lock_guard lock(m_mutex);
    int n = 0;
    for (const auto& [k, sessions] : m_ready)
        n += static_cast<int>(sessions.size());
    return n;
}

void SessionPool::refill(std::stop_token stop)
{
    while (!stop.stop_requested()) {
        std::optional<SessionSpec> missing;
        std::string missing_key;
        {
            std::unique_lock lock(m_mutex);
            m_changed.wait_for(lock, stop, std::chrono::seconds(1), [&] {
                if (m_draining)
                    return false;
                for (const auto& [k, spec] : m_wanted) {
                    if (static_cast<int>(m_ready[k].size()) < m_size && !vm_out(k))
                        return true;
                }
                return false;
            });
            if (stop.stop_requested())
                return;
            for (const auto& [k, spec] : m_wanted) {
                if (static_cast<int>(m_ready[k].size()) < m_size && !vm_out(k)) {
                    missing = spec;
                    missing_key = k;
                    break;
                }
            }
        }
        if (!missing)
            continue;
        SessionSpec blank = *missing;
        if (blank.allowlist.empty())
            blank.allowlist = {url_host(missing->start_url)};
        blank.progress = {};
        if (blank.provider == "qemu")
            blank.hold_start = true; // it waits on its waiting page; the start URL decides nothing yet
        else
            blank.start_url = "about:blank";
        auto session = Session::start(blank);
        if (!session.ok()) {
            if (m_log)
                m_log("warm pool: cannot start a sandbox: " + session.error().message() + " (runs start their own)");
            logger("runtime.session")->warn("warm pool: {}", session.error().message());
            std::unique_lock lock(m_mutex);
            m_changed.wait_for(lock, stop, std::chrono::seconds(10), [] { return false; });
            continue;
        }
        std::lock_guard lock(m_mutex);
        if (m_draining || !m_wanted.contains(missing_key))
            continue; // drained meanwhile: the session stops as it goes out of scope
        m_ready[missing_key].push_back(std::move(*session));
    }
}

} // namespace rote::runtime
