#include "qemu_control.h"

#include <cerrno>
#include <cstring>
#include <thread>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace rote::runtime::detail {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

Result<LineSocket> LineSocket::connect(const std::string& path, milliseconds timeout)
{
    sockaddr_un address {};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof address.sun_path)
        return Error(Error::Code::invalid_argument, "socket path too long: " + path);
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    const auto deadline = Clock::now() + timeout;
    while (true) {
        int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return Error(Error::Code::io, std::string("socket: ") + std::strerror(errno));
        if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0)
            return LineSocket(fd);
        int error = errno;
        ::close(fd);
        if (Clock::now() > deadline)
            return Error(Error::Code::timeout, "cannot connect to " + path + ": " + std::strerror(error));
        std::this_thread::sleep_for(milliseconds(20));
    }
}

LineSocket::LineSocket(LineSocket&& other) noexcept
    : m_fd(std::exchange(other.m_fd, -1))
    , m_buffer(std::move(other.m_buffer))
{
}

LineSocket& LineSocket::operator=(LineSocket&& other) noexcept
{
    if (this != &other) {
        if (m_fd >= 0)
            ::close(m_fd);
        m_fd = std::exchange(other.m_fd, -1);
        m_buffer = std::move(other.m_buffer);
    }
    return *this;
}

LineSocket::~LineSocket()
{
    if (m_fd >= 0)
        ::close(m_fd);
}

Result<void> LineSocket::write(std::string_view text, int pass_fd)
{
    size_t sent = 0;
    while (sent < text.size()) {
        iovec io {const_cast<char*>(text.data() + sent), text.size() - sent};
        msghdr message {};
        message.msg_iov = &io;
        message.msg_iovlen = 1;
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
        if (pass_fd >= 0 && sent == 0) {
            message.msg_control = control;
            message.msg_controllen = sizeof control;
            cmsghdr* header = CMSG_FIRSTHDR(&message);
            header->cmsg_level = SOL_SOCKET;
            header->cmsg_type = SCM_RIGHTS;
            header->cmsg_len = CMSG_LEN(sizeof(int));
            std::memcpy(CMSG_DATA(header), &pass_fd, sizeof(int));
        }
        ssize_t n = ::sendmsg(m_fd, &message, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return Error(Error::Code::io, std::string("write: ") + std::strerror(errno));
        sent += static_cast<size_t>(n);
    }
    return {};
}

Result<std::string> LineSocket::read_line(milliseconds timeout)
{
    const auto deadline = Clock::now() + timeout;
    while (true) {
        if (size_t end = m_buffer.find('\n'); end != std::string::npos) {
            std::string line = m_buffer.substr(0, end);
            m_buffer.erase(0, end + 1);
            if (!line.empty() && line.back() == '\r')
                line.pop_back();
            return line;
        }
        auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
        if (left <= 0)
            return Error(Error::Code::timeout, "no answer within " + std::to_string(timeout.count()) + " ms");
        pollfd p {m_fd, POLLIN, 0};
        int ready = ::poll(&p, 1, static_cast<int>(left));
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            continue;
        char chunk[4096];
        ssize_t n = ::read(m_fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return Error(Error::Code::io, "the connection closed");
        m_buffer.append(chunk, static_cast<size_t>(n));
    }
}

Result<Qmp> Qmp::connect(const std::string& path, milliseconds timeout)
{
    Qmp qmp;
    qmp.m_socket = ROTE_TRY(LineSocket::connect(path, timeout));
    std::string greeting = ROTE_TRY(qmp.m_socket.read_line(timeout));
    if (!nlohmann::json::parse(greeting, nullptr, false).contains("QMP"))
        return Error(Error::Code::io, "not a QMP greeting: " + greeting.substr(0, 200));
    ROTE_TRY(qmp.execute("qmp_capabilities"));
    return qmp;
}

Result<nlohmann::json> Qmp::execute(std::string_view command, const nlohmann::json& arguments, milliseconds timeout, int pass_fd)
{
    nlohmann::json request {{"execute", command}};
    if (!arguments.is_null())
        request["arguments"] = arguments;
    ROTE_TRY(m_socket.write(request.dump() + "\n", pass_fd));
    const auto deadline = Clock::now() + timeout;
    while (true) {
        auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
        auto line = m_socket.read_line(std::max(left, milliseconds(1)));
        if (!line.ok())
            return line.error().with_context("QMP " + std::string(command));
        nlohmann::json reply = nlohmann::json::parse(*line, nullptr, false);
        if (reply.is_discarded())
            return Error(Error::Code::io, "QMP " + std::string(command) + ": not JSON: " + line->substr(0, 200));
        if (reply.contains("event"))
            continue;
        if (reply.contains("error")) {
            return Error(Error::Code::io,
                "QMP " + std::string(command) + ": " + reply["error"].value("desc", reply["error"].dump()));
        }
        return reply.value("return", nlohmann::json::object());
    }
}

Result<GuestAgent> GuestAgent::connect(const std::string& path, milliseconds timeout)
{
    GuestAgent agent;
    agent.m_socket = ROTE_TRY(LineSocket::connect(path, timeout));
    return agent;
}

Result<std::string> GuestAgent::command(std::string_view line, milliseconds timeout)
{
    std::string verb(line.substr(0, line.find(' ')));
    ROTE_TRY(m_socket.write(std::string(line) + "\n"));
    auto answer = m_socket.read_line(timeout);
    if (!answer.ok())
        return answer.error().with_context("the guest agent's answer to '" + verb + "'");
    if (*answer == "ok")
        return std::string();
    if (answer->starts_with("ok "))
        return answer->substr(3);
    return Error(Error::Code::io, "the guest agent refused '" + verb + "': " + answer->substr(0, 300));
}

} // namespace rote::runtime::detail
