#pragma once

// QEMU's two control channels, both unix sockets: QMP (JSON, one message a line; commands, events) and rote's
// guest agent on a virtio-serial port (runtime/guest/rote-agent: one command a line, one answer a line).

#include <chrono>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include <rote/base/result.h>

namespace rote::runtime::detail {

// A connected stream socket that reads and writes lines with deadlines. Move-only; closes on destruction.
class LineSocket {
public:
    // Connects to the unix socket at `path`, retrying until `timeout` (the server may still be starting).
    static Result<LineSocket> connect(const std::string& path, std::chrono::milliseconds timeout);
    LineSocket() = default;
    LineSocket(LineSocket&& other) noexcept;
    LineSocket& operator=(LineSocket&& other) noexcept;
    LineSocket(const LineSocket&) = delete;
    LineSocket& operator=(const LineSocket&) = delete;
    ~LineSocket();

    // Writes `text`; with `pass_fd` >= 0 the descriptor travels with it (SCM_RIGHTS).
    Result<void> write(std::string_view text, int pass_fd = -1);
    // The next line, without its line ending; Error::Code::timeout at the deadline, io when the peer closes.
    Result<std::string> read_line(std::chrono::milliseconds timeout);

private:
    explicit LineSocket(int fd)
        : m_fd(fd)
    {
    }
    int m_fd = -1;
    std::string m_buffer;
};

// QEMU's machine protocol. Events that arrive between commands are skipped.
class Qmp {
public:
    // Connects, reads the greeting and negotiates capabilities.
    static Result<Qmp> connect(const std::string& path, std::chrono::milliseconds timeout);
    // Runs a command and returns its "return" value; QEMU's error ("desc") as Error::Code::io. With
    // `pass_fd` the descriptor is sent with the command (for getfd).
    Result<nlohmann::json> execute(std::string_view command, const nlohmann::json& arguments = nullptr,
        std::chrono::milliseconds timeout = std::chrono::milliseconds(10000), int pass_fd = -1);

private:
    LineSocket m_socket;
};

// The guest agent: `command` sends one line and returns the answer after "ok" ("ok" alone: empty), or the
// agent's "error ..." as Error::Code::io.
class GuestAgent {
public:
    static Result<GuestAgent> connect(const std::string& path, std::chrono::milliseconds timeout);
    Result<std::string> command(std::string_view line, std::chrono::milliseconds timeout);

private:
    LineSocket m_socket;
};

} // namespace rote::runtime::detail
