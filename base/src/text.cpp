#include <rote/base/text.h>

#include <chrono>
#include <ctime>

namespace rote {

std::string now_timestamp()
{
    // Not std::time: glibc reads the coarse clock there, up to a tick behind system_clock (a fire logged as
    // started a second before the minute it was due at).
    const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm {};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

} // namespace rote
