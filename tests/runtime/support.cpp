#include "support.h"

#include <stdexcept>

#include <algorithm>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include <cstring>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <rote/sandbox/process.h>
#include <rote/sandbox/sandbox.h>
#include <rote/vision/ocr.h>

namespace rote::test {

CountingListener::CountingListener()
{
    m_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address {};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(m_fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(m_fd, 8) != 0)
        throw std::runtime_error("cannot listen on a loopback port");
    socklen_t length = sizeof address;
    ::getsockname(m_fd, reinterpret_cast<sockaddr*>(&address), &length);
    port = ntohs(address.sin_port);
    m_thread = std::thread([this] {
        while (!m_stop) {
            pollfd p {m_fd, POLLIN, 0};
            if (::poll(&p, 1, 50) > 0) {
                int c = ::accept(m_fd, nullptr, nullptr);
                if (c >= 0) {
                    ++accepted;
                    ::close(c);
                }
            }
        }
    });
}

pid_t display_of(const std::vector<pid_t>& pids)
{
    for (pid_t p : pids) {
        const auto info = runtime::process_info(p);
        if (info.name == "Xvnc" && runtime::process_info(info.parent).name != "Xvnc")
            return p;
    }
    return 0;
}

ShellRun run_shell(const std::string& command)
{
    ShellRun run;
    FILE* pipe = ::popen(command.c_str(), "r");
    if (!pipe)
        return run;
    char buffer[4096];
    size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0)
        run.out.append(buffer, n);
    int status = ::pclose(pipe);
    run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return run;
}

CountingListener::~CountingListener()
{
    m_stop = true;
    m_thread.join();
    ::close(m_fd);
}

Result<DemoSite> DemoSite::start(std::string_view variant, std::vector<std::string> options)
{
    std::vector<std::string> argv {ROTE_DEMO_SITE, "--variant", std::string(variant)};
    argv.insert(argv.end(), options.begin(), options.end());
    auto spawned = ROTE_TRY(runtime::spawn_and_read_line(argv));
    DemoSite site;
    site.m_pid = spawned.pid;
    auto ready = nlohmann::json::parse(spawned.first_line, nullptr, false);
    if (ready.is_discarded())
        return Error(Error::Code::io, "rote-demo-site did not report its ports: '" + spawned.first_line + "'");
    auto port_of = [](const std::string& url) { return std::stoi(url.substr(url.rfind(':') + 1)); };
    site.registry_port = port_of(ready["registry"].get<std::string>());
    site.crm_port = port_of(ready["crm"].get<std::string>());
    return site;
}

DemoSite::DemoSite(DemoSite&& other) noexcept
    : registry_port(other.registry_port)
    , crm_port(other.crm_port)
    , m_pid(std::exchange(other.m_pid, -1))
{
}

DemoSite::~DemoSite()
{
    if (m_pid > 0) {
        ::kill(m_pid, SIGTERM);
        ::waitpid(m_pid, nullptr, 0);
    }
}

namespace {

// Lower case, without the punctuation OCR sprinkles on small or underlined text ("Acme." for "Acme") or reads
// from the page (“Acme” in a quoted summary): ASCII punctuation, and the typographic quotes, dashes and
// ellipsis of UTF-8 (U+2010-U+2027, « and »). Other non-ASCII letters stay.
std::string lower(std::string_view text)
{
    std::string out;
    for (size_t i = 0; i < text.size(); ++i) {
        const auto ch = static_cast<unsigned char>(text[i]);
        const auto next = [&](size_t k) { return i + k < text.size() ? static_cast<unsigned char>(text[i + k]) : 0; };
        if (ch == 0xE2 && next(1) == 0x80 && next(2) >= 0x90 && next(2) <= 0xA7) {
            i += 2;
        } else if (ch == 0xC2 && (next(1) == 0xAB || next(1) == 0xBB)) {
            i += 1;
        } else if (std::isalnum(ch) || ch == ' ' || ch >= 0x80) {
            out += static_cast<char>(std::tolower(ch));
        }
    }
    return out;
}

} // namespace

std::optional<Rect> find_text(const cv::Mat& screen, std::string_view phrase, float min_confidence, int occurrence)
{
    auto ocr = vision::Ocr::for_this_thread();
    if (!ocr)
        return std::nullopt;
    auto words = (*ocr)->read(screen, std::nullopt, min_confidence);
    if (!words)
        return std::nullopt;
    // Match the phrase against runs of consecutive words on one line that start with it: the box is the
    // phrase's own words, never a word before it on the same line (OCR reads a textarea's resize handle as
    // "4" beside a button, and a box from there puts the button's centre on its neighbour).
    const std::string want = lower(phrase);
    if (want.empty())
        return std::nullopt;
    for (size_t i = 0; i < words->size(); ++i) {
        std::string run;
        Rect box = (*words)[i].box;
        for (size_t j = i; j < words->size() && (*words)[j].line == (*words)[i].line; ++j) {
            const std::string word = lower((*words)[j].text);
            if (word.empty() && j == i)
                break; // a run starts with a word that has letters (lower() drops lone punctuation)
            run += (j > i ? " " : "") + word;
            const Rect& b = (*words)[j].box;
            int right = std::max(box.x + box.w, b.x + b.w);
            int bottom = std::max(box.y + box.h, b.y + b.h);
            box.y = std::min(box.y, b.y);
            box.w = right - box.x;
            box.h = bottom - box.y;
            if (run.starts_with(want)) {
                if (occurrence-- == 0)
                    return box;
                i = j; // this place is skipped: look again after its last word
                break;
            }
            if (!want.starts_with(run))
                break; // the phrase does not start at word i
        }
    }
    return std::nullopt;
}

Sighting wait_for_text(runtime::Desktop& desktop, std::string_view phrase, std::chrono::milliseconds timeout)
{
    return wait_for_text(
        [&desktop]() -> Result<cv::Mat> {
            auto screen = desktop.wait_stable(std::chrono::milliseconds(150), std::chrono::milliseconds(3000));
            return screen ? screen : desktop.screenshot();
        },
        phrase, timeout);
}

Sighting wait_for_text(
    const std::function<Result<cv::Mat>()>& look, std::string_view phrase, std::chrono::milliseconds timeout)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    Sighting sighting;
    while (true) {
        auto shot = look();
        if (shot) {
            sighting.screen = *shot;
            sighting.where = find_text(sighting.screen, phrase);
            if (sighting.where)
                return sighting;
        }
        if (std::chrono::steady_clock::now() > deadline)
            return sighting;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

int free_loopback_port()
{
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a {};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0
        && ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
        port = ntohs(a.sin_port);
    ::close(fd);
    return port;
}

bool accepts(int port)
{
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a {};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
}

void ClosedPages::write(const std::filesystem::path& docroot)
{
    std::ofstream(docroot / "page.php")
        << "<?php ?><!doctype html><html><head><link rel=\"stylesheet\" href=\"style.php\"></head>"
           "<body><h1>Conformance page</h1></body></html>\n";
    std::ofstream(docroot / "style.php")
        << "<?php header('Content-Type: text/css'); echo \"body { background: rgb(255, 236, 150); color: black; }\\n\";";
}

std::string ClosedPages::problems(const cv::Mat& screen, const std::vector<runtime::ProxyRequest>& requests)
{
    std::string out;
    const cv::Vec3b pixel = screen.at<cv::Vec3b>(screen.rows - 20, screen.cols / 2); // BGR
    if (pixel[0] != 150 || pixel[1] != 236 || pixel[2] != 255)
        out += "the page's background is not the stylesheet's (" + std::to_string(pixel[2]) + ", "
            + std::to_string(pixel[1]) + ", " + std::to_string(pixel[0]) + "); ";
    int css = 0;
    for (const auto& r : requests) {
        if (r.path != "/style.php")
            continue;
        ++css;
        if (r.framing != "close" || !r.error.empty() || r.status != 200)
            out += "style.php logged as " + std::to_string(r.status) + " framing '" + r.framing + "' error '" + r.error + "'; ";
    }
    if (css == 0)
        out += "style.php is not in the proxy's log; ";
    return out;
}

ClosedPages::ClosedPages()
{
    char name[] = "/tmp/rote-closed-pages-XXXXXX";
    if (::mkdtemp(name) == nullptr)
        return;
    m_dir = name;
    write(m_dir);
    const int p = free_loopback_port();
    auto pid = runtime::spawn({"php", "-S", "127.0.0.1:" + std::to_string(p), "-t", m_dir.string()}, m_dir / "php.out");
    if (!pid.ok())
        return;
    m_pid = *pid;
    for (int i = 0; i < 500 && !accepts(p); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (accepts(p))
        port = p;
}

ClosedPages::~ClosedPages()
{
    if (m_pid > 0) {
        ::kill(m_pid, SIGTERM);
        ::waitpid(m_pid, nullptr, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(m_dir, ec);
}

Result<std::string> http_get(int port, const std::string& path)
{
    httplib::Client client("127.0.0.1", port);
    auto response = client.Get(path.c_str());
    if (!response)
        return Error(Error::Code::io, "GET " + path + " failed: " + httplib::to_string(response.error()));
    return response->body;
}

std::string websocket_greeting(int port, const std::string& path, const std::string& extra_headers)
{
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address {};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        ::close(fd);
        return {};
    }
    return websocket_greeting_on(fd, path, "127.0.0.1", "", extra_headers);
}

std::string websocket_greeting_on(
    int fd, const std::string& target, const std::string& host, const std::string& preamble, const std::string& extra_headers)
{
    timeval tv {5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string data;
    char buffer[1024];
    if (!preamble.empty()) {
        (void)!::write(fd, preamble.data(), preamble.size());
        // Byte by byte up to the blank line: whatever follows it is the tunnel's.
        while (data.find("\r\n\r\n") == std::string::npos && ::read(fd, buffer, 1) == 1)
            data += buffer[0];
        if (!data.starts_with("HTTP/1.1 200")) {
            ::close(fd);
            return {};
        }
        data.clear();
    }
    // The key is any 16 bytes in base64; the server's accept hash is not what this checks.
    std::string request = "GET " + target + " HTTP/1.1\r\nHost: " + host
        + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Key: cm90ZS10ZXN0LWtleS0wMQ==\r\nSec-WebSocket-Version: 13\r\n"
          "Sec-WebSocket-Protocol: binary\r\n"
        + extra_headers + "\r\n";
    (void)!::write(fd, request.data(), request.size());
    size_t header_end = std::string::npos;
    while (true) {
        ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n <= 0)
            break;
        data.append(buffer, static_cast<size_t>(n));
        header_end = data.find("\r\n\r\n");
        if (header_end != std::string::npos && data.size() >= header_end + 4 + 2) {
            size_t length = static_cast<unsigned char>(data[header_end + 5]) & 0x7f;
            if (data.size() >= header_end + 6 + length)
                break;
        }
    }
    ::close(fd);
    if (header_end == std::string::npos || !data.starts_with("HTTP/1.1 101") || data.size() < header_end + 6)
        return {};
    size_t length = static_cast<unsigned char>(data[header_end + 5]) & 0x7f;
    return data.substr(header_end + 6, length);
}

namespace {

const char* const kCanaries[][2] = {
    {"ANTHROPIC_API_KEY", "sk-ant-canary-5b1e0c"},
    {"OPENAI_API_KEY", "sk-canary-openai-77d2"},
    {"ROTE_SECRET_CRM_PASSWORD", "canary-password-9f3a"},
};

} // namespace

long uid_of(pid_t pid)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);) {
        if (line.starts_with("Uid:"))
            return std::stol(line.substr(4));
    }
    return -1;
}

std::filesystem::path cgroup_of(pid_t pid, const std::string& controller)
{
    const std::filesystem::path root = "/sys/fs/cgroup";
    std::istringstream lines(read_file("/proc/" + std::to_string(pid) + "/cgroup"));
    std::filesystem::path unified;
    for (std::string line; std::getline(lines, line);) {
        const size_t a = line.find(':'), b = line.find(':', a + 1);
        if (b == std::string::npos)
            continue;
        const std::string names = "," + line.substr(a + 1, b - a - 1) + ",";
        const std::filesystem::path path = std::filesystem::path(line.substr(b + 1)).relative_path();
        if (names.find("," + controller + ",") != std::string::npos)
            return root / controller / path;
        if (names == ",," && std::filesystem::exists(root / path / "cgroup.controllers")
            && read_file(root / path / "cgroup.controllers").find(controller) != std::string::npos)
            unified = root / path;
    }
    return unified;
}

std::string read_file(const std::filesystem::path& path)
{
    std::ifstream in(path, std::ios::binary);
    try {
        return {std::istreambuf_iterator<char>(in), {}};
    } catch (const std::ios_base::failure&) {
        return {}; // a read error (a control group removed while read: ENODEV) reads as nothing
    }
}

std::string ask_proxy(const std::filesystem::path& socket_path, const std::string& request)
{
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address {};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, socket_path.c_str(), sizeof address.sun_path - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        ::close(fd);
        return {};
    }
    std::string answer;
    if (::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
        timeval tv {10, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        char buffer[4096];
        ssize_t n;
        while ((n = ::read(fd, buffer, sizeof buffer)) > 0)
            answer.append(buffer, static_cast<size_t>(n));
    }
    ::close(fd);
    return answer;
}

Result<std::unique_ptr<runtime::Session>> start_registry_session(const DemoSite& site, bool wait_for_page)
{
    runtime::SessionSpec spec;
    spec.start_url = "http://registry.example.test/";
    spec.routes = {{"registry.example.test", site.registry_route()}};
    auto session = ROTE_TRY(runtime::Session::start(spec));
    if (wait_for_page) {
        auto desktop = ROTE_TRY(runtime::Desktop::connect(session->sandbox().vnc()));
        if (!wait_for_text(*desktop, "Company Registry", std::chrono::seconds(30)).where)
            return Error(Error::Code::timeout, "the registry's page never showed in the sandbox");
    }
    return session;
}

void plant_canaries()
{
    for (const auto& [name, value] : kCanaries)
        ::setenv(name, value, 1);
}

std::vector<std::string> canaries_in(const std::string& text)
{
    std::vector<std::string> found;
    for (const auto& [name, value] : kCanaries) {
        if (text.find(value) != std::string::npos)
            found.emplace_back(name);
    }
    return found;
}

std::vector<std::string> processes_holding_canaries()
{
    std::vector<std::string> holders;
    for (pid_t pid : runtime::process_tree(::getpid())) {
        if (pid == ::getpid())
            continue;
        const std::string proc = "/proc/" + std::to_string(pid);
        const std::string comm = read_file(proc + "/comm");
        for (const std::string& name : canaries_in(read_file(proc + "/environ")))
            holders.push_back(std::to_string(pid) + " (" + comm.substr(0, comm.find('\n')) + "): " + name);
    }
    return holders;
}

} // namespace rote::test
