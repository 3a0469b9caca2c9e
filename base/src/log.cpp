#include <rote/base/log.h>

#include <mutex>

#include <spdlog/sinks/stdout_color_sinks.h>

namespace rote {

std::shared_ptr<spdlog::logger> logger(const std::string& name)
{
    // spdlog's registry is thread-safe, but get-then-create is not atomic; the mutex closes that window.
    static std::mutex mutex;
    std::lock_guard lock(mutex);
    if (auto existing = spdlog::get(name))
        return existing;
    return spdlog::stderr_color_mt(name);
}

} // namespace rote
