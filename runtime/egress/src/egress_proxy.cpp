#include <rote/egress/egress_proxy.h>

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <sys/socket.h>
#include <sys/stat.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <rote/base/log.h>

#include <rote/base/text.h>

namespace rote::runtime {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using local = asio::local::stream_protocol;
using Clock = std::chrono::steady_clock;

namespace {

spdlog::logger& log()
{
    static auto logger = rote::logger("runtime.proxy");
    return *logger;
}

struct Authority {
    std::string host;
    int port = 0;
};

// "host:port", "[v6]:port" or "host" (with `default_port`); nullopt for anything else.
std::optional<Authority> split_authority(std::string_view text, int default_port)
{
    Authority a;
    std::string_view port;
    if (text.starts_with('[')) {
        size_t close = text.find(']');
        if (close == std::string_view::npos)
            return std::nullopt;
        a.host = std::string(text.substr(1, close - 1));
        std::string_view rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (rest[0] != ':')
                return std::nullopt;
            port = rest.substr(1);
        }
    } else {
        size_t colon = text.rfind(':');
        a.host = std::string(text.substr(0, colon));
        if (colon != std::string_view::npos)
            port = text.substr(colon + 1);
    }
    a.port = default_port;
    if (!port.empty()) {
        int value = 0;
        for (char c : port) {
            if (!std::isdigit(static_cast<unsigned char>(c)) || value > 65535)
                return std::nullopt;
            value = value * 10 + (c - '0');
        }
        a.port = value;
    }
    if (a.host.empty() || a.port <= 0 || a.port > 65535)
        return std::nullopt;
    return a;
}

std::string html_escape(std::string_view text)
{
    std::string out;
    for (char c : text) {
        if (c == '<')
            out += "&lt;";
        else if (c == '>')
            out += "&gt;";
        else if (c == '&')
            out += "&amp;";
        else
            out += c;
    }
    return out;
}

} // namespace

bool host_allowed(const std::vector<std::string>& allowlist, std::string_view host)
{
    std::string name = ascii_lower(host);
    if (!name.empty() && name.back() == '.')
        name.pop_back();
    if (name.empty())
        return false;
    for (const std::string& entry : allowlist) {
        std::string rule = ascii_lower(entry);
        if (rule.starts_with("*.")) {
            std::string_view suffix = std::string_view(rule).substr(1); // ".example.test"
            if (name.size() > suffix.size() && name.ends_with(suffix))
                return true;
        } else if (rule == name) {
            return true;
        }
    }
    return false;
}

struct EgressProxy::Impl {
    EgressProxyOptions options;
    asio::io_context io;
    std::unique_ptr<local::acceptor> acceptor;
    std::thread accept_thread;

    mutable std::mutex mutex; // guards everything below
    std::condition_variable idle;
    std::set<int> open_sockets; // the sandbox side of every live connection, shut down on stop
    int connections = 0;
    bool stopping = false;
    std::vector<ProxyRequest> log_entries;
    int start_redirects = 0;
    int in_flight = 0; // requests between their headers and the end of their answer
    Clock::time_point last_activity = Clock::now();
    std::ofstream log_file;

    // Marks traffic now; `delta` counts a request in (+1) or out (-1).
    void touch(int delta = 0)
    {
        std::lock_guard lock(mutex);
        in_flight += delta;
        last_activity = Clock::now();
    }

    // A request, from its headers to the end of its answer (however that ends).
    struct InFlight {
        Impl& impl;
        explicit InFlight(Impl& i)
            : impl(i)
        {
            impl.touch(+1);
        }
        ~InFlight() { impl.touch(-1); }
        InFlight(const InFlight&) = delete;
        InFlight& operator=(const InFlight&) = delete;
    };

    void accept_loop()
    {
        while (true) {
            boost::system::error_code ec;
            local::socket client(io);
            acceptor->accept(client, ec);
            std::lock_guard lock(mutex);
            if (stopping)
                return;
            if (ec) {
                log().warn("accept failed: {}", ec.message());
                continue;
            }
            ++connections;
            open_sockets.insert(client.native_handle());
            std::thread([this, c = std::move(client)]() mutable { serve(std::move(c)); }).detach();
        }
    }

    void serve(local::socket client)
    {
        int fd = client.native_handle();
        try {
            serve_requests(client);
        } catch (const std::exception& e) {
            log().debug("connection ended: {}", e.what());
        }
        boost::system::error_code ignored;
        client.shutdown(local::socket::shutdown_both, ignored);
        client.close(ignored);
        std::lock_guard lock(mutex);
        open_sockets.erase(fd);
        --connections;
        idle.notify_all();
    }

    void record(ProxyRequest entry, Clock::time_point began)
    {
        entry.ms = std::chrono::duration<double, std::milli>(Clock::now() - began).count();
        entry.time = now_timestamp();
        log().info("{} {}:{}{} -> {} (in {} B, out {} B, {:.1f} ms)", entry.method, entry.host, entry.port, entry.path,
            entry.status, entry.bytes_in, entry.bytes_out, entry.ms);
        std::lock_guard lock(mutex);
        if (log_file.is_open()) {
            nlohmann::json line {{"time", entry.time}, {"method", entry.method}, {"host", entry.host},
                {"port", entry.port}, {"path", entry.path}, {"status", entry.status}, {"bytes_in", entry.bytes_in},
                {"bytes_out", entry.bytes_out}, {"ms", entry.ms}};
            log_file << line.dump() << '\n' << std::flush;
        }
        log_entries.push_back(std::move(entry));
    }

    // Where an allowed host is really reached, or an error message for the 502 page.
    std::variant<tcp::endpoint, std::string> destination(const Authority& a)
    {
        std::string target;
        if (auto route = options.routes.find(ascii_lower(a.host)); route != options.routes.end()) {
            auto routed = split_authority(route->second, a.port);
            if (!routed)
                return "the route for " + a.host + " ('" + route->second + "') is not HOST:PORT";
            boost::system::error_code ec;
            auto address = asio::ip::make_address(routed->host, ec);
            if (ec)
                return "the route for " + a.host + " does not name an IP address";
            return tcp::endpoint(address, static_cast<unsigned short>(routed->port));
        }
        boost::system::error_code ec;
        tcp::resolver resolver(io);
        auto results = resolver.resolve(a.host, std::to_string(a.port), ec);
        if (ec || results.empty())
            return "cannot resolve " + a.host + ": " + ec.message();
        tcp::endpoint endpoint = *results.begin();
        asio::ip::make_address(a.host, ec);
        bool literal = !ec; // the allowlist named an address itself
        if (endpoint.address().is_loopback() && !literal)
            return a.host + " resolves to a loopback address; only a route may point the sandbox at this machine";
        return endpoint;
    }

    void send_page(
        local::socket& client, unsigned version, http::status status, std::string_view title, std::string_view why)
    {
        http::response<http::string_body> res {status, version};
        res.set(http::field::content_type, "text/html; charset=utf-8");
        res.set(http::field::connection, "close");
        res.set("X-Rote-Proxy", "refused");
        res.body() = "<!doctype html><html><head><title>" + html_escape(title)
            + "</title></head><body style=\"font-family:sans-serif;margin:40px\"><h1>" + html_escape(title) + "</h1><p>"
            + html_escape(why)
            + "</p><p>This sandbox can only reach the sites its workflow allows.</p>"
              "</body></html>";
        res.keep_alive(false);
        res.prepare_payload();
        http::write(client, res);
    }

    // Answers with an error page that says why, and logs the request with that status.
    void refuse(local::socket& client, unsigned version, http::status status, std::string_view title,
        std::string_view why, ProxyRequest entry, Clock::time_point began)
    {
        entry.status = static_cast<int>(status);
        try {
            send_page(client, version, status, title, why);
        } catch (const std::exception&) {
            // the browser went away; the refusal is still logged
        }
        record(std::move(entry), began);
    }

    // The waiting page's two requests (EgressProxyOptions::start_url): not logged, they never leave rote.
    void answer_start(local::socket& client, const http::request<http::string_body>& req, const std::string& path)
    {
        // The smallest GIF: one transparent pixel.
        static constexpr unsigned char pixel[] = {0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80,
            0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00,
            0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b};
        http::response<http::string_body> res {http::status::ok, req.version()};
        res.set(http::field::cache_control, "no-store");
        bool served;
        {
            std::lock_guard lock(mutex);
            served = start_redirects > 0;
        }
        if (served) {
            // Once only: a kept VM put back on its waiting page before it is saved must wait there for the
            // next run's proxy.
            res.result(http::status::not_found);
        } else if (path.starts_with("/ping")) {
            res.set(http::field::content_type, "image/gif");
            res.body().assign(reinterpret_cast<const char*>(pixel), sizeof pixel);
        } else if (!options.start_url.starts_with("http://") && !options.start_url.starts_with("https://")) {
            // about:blank and the like cannot be redirected to: an empty page is the same thing.
            res.set(http::field::content_type, "text/html");
            res.body() = "<!doctype html><title></title>";
            std::lock_guard lock(mutex);
            ++start_redirects;
        } else {
            res.result(http::status::found);
            res.set(http::field::location, options.start_url);
            std::lock_guard lock(mutex);
            ++start_redirects;
        }
        // Never kept alive: a kept VM is saved while its waiting page polls, and a pooled connection would
        // come back dead after the restore (the new QEMU knows nothing of it) and stall the next poll.
        res.keep_alive(false);
        res.prepare_payload();
        boost::system::error_code ec;
        http::write(client, res, ec);
    }

    void serve_requests(local::socket& client)
    {
        boost::beast::flat_buffer buffer;
        while (true) {
            http::request_parser<http::string_body> parser;
            parser.body_limit(64u << 20);
            boost::system::error_code ec;
            http::read_header(client, buffer, parser, ec);
            if (ec)
                return; // the browser closed an idle keep-alive connection, or sent garbage
            const auto began = Clock::now();
            std::optional<InFlight> answering(std::in_place, *this);
            auto& req = parser.get();
            ProxyRequest entry;
            entry.method = std::string(req.method_string());

            // CONNECT host:port, or the absolute form http://host[:port]/path; anything else is not for a proxy.
            const bool connect = req.method() == http::verb::connect;
            std::string_view target(req.target().data(), req.target().size());
            std::optional<Authority> a;
            std::string path;
            if (connect) {
                a = split_authority(target, 443);
            } else if (target.starts_with("http://")) {
                target.remove_prefix(7);
                size_t slash = target.find('/');
                a = split_authority(target.substr(0, slash), 80);
                path = slash == std::string_view::npos ? "/" : std::string(target.substr(slash));
            }
            entry.path = path;
            if (!a) {
                return refuse(client, req.version(), http::status::bad_request, "Bad request",
                    "rote's egress proxy takes CONNECT HOST:PORT and absolute http:// URLs only", std::move(entry),
                    began);
            }
            entry.host = a->host;
            entry.port = a->port;
            if (!connect && !options.start_url.empty() && ascii_lower(a->host) == kStartHost) {
                http::read(client, buffer, parser, ec);
                if (!ec)
                    answer_start(client, req, path);
                return;
            }
            if (!host_allowed(options.allowlist, a->host)) {
                return refuse(client, req.version(), http::status::forbidden, "Blocked by rote",
                    a->host + " is not on this sandbox's allowlist.", std::move(entry), began);
            }
            if (connect) {
                answering.reset(); // a tunnel may stay open and idle: it shows through its bytes instead
                return tunnel(client, buffer, *a, std::move(entry), began);
            }
            http::read(client, buffer, parser, ec);
            if (ec)
                return;
            entry.bytes_in = req.body().size();
            bool keep_alive = req.keep_alive();

            auto where = destination(*a);
            if (auto* why = std::get_if<std::string>(&where))
                return refuse(client, req.version(), http::status::bad_gateway, "Cannot reach the site", *why,
                    std::move(entry), began);
            tcp::socket upstream(io);
            upstream.connect(std::get<tcp::endpoint>(where), ec);
            if (ec) {
                return refuse(client, req.version(), http::status::bad_gateway, "Cannot reach the site",
                    "connecting to " + a->host + " failed: " + ec.message(), std::move(entry), began);
            }
            set_timeouts(upstream.native_handle());
            req.target(path);
            req.erase("Proxy-Connection");
            req.erase(http::field::proxy_authorization);
            req.keep_alive(false); // one upstream connection per request: simple, and loopback makes it cheap
            http::write(upstream, req, ec);
            http::response_parser<http::string_body> response_parser;
            response_parser.body_limit(256u << 20);
            response_parser.skip(req.method() == http::verb::head); // a HEAD response has no body to wait for
            boost::beast::flat_buffer upstream_buffer;
            if (!ec)
                http::read(upstream, upstream_buffer, response_parser, ec);
            if (ec) {
                return refuse(client, req.version(), http::status::bad_gateway, "The site did not answer",
                    a->host + ": " + ec.message(), std::move(entry), began);
            }
            auto& res = response_parser.get();
            entry.status = res.result_int();
            entry.bytes_out = res.body().size();
            res.keep_alive(keep_alive);
            http::write(client, res, ec);
            record(std::move(entry), began);
            if (ec || !keep_alive)
                return;
        }
    }

    void set_timeouts(int fd)
    {
        timeval tv {};
        tv.tv_sec = options.upstream_timeout.count() / 1000;
        tv.tv_usec = (options.upstream_timeout.count() % 1000) * 1000;
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }

    void tunnel(local::socket& client, boost::beast::flat_buffer& buffer, const Authority& a, ProxyRequest entry,
        Clock::time_point began)
    {
        boost::system::error_code ec;
        auto where = destination(a);
        tcp::socket upstream(io);
        if (auto* endpoint = std::get_if<tcp::endpoint>(&where))
            upstream.connect(*endpoint, ec);
        if (std::holds_alternative<std::string>(where) || ec) {
            std::string why = std::holds_alternative<std::string>(where) ? std::get<std::string>(where) : ec.message();
            return refuse(client, 11, http::status::bad_gateway, "Cannot reach the site", why, std::move(entry), began);
        }
        set_timeouts(upstream.native_handle());
        asio::write(client, asio::buffer(std::string_view("HTTP/1.1 200 Connection Established\r\n\r\n")), ec);
        if (ec)
            return;
        int upstream_fd = upstream.native_handle();
        {
            std::lock_guard lock(mutex);
            open_sockets.insert(upstream_fd); // so that stopping the proxy ends the tunnel
        }
        entry.status = 200;
        // Bytes the browser sent after the CONNECT headers (a TLS hello) are already in our buffer.
        if (buffer.size() > 0) {
            entry.bytes_in += buffer.size();
            asio::write(upstream, buffer.data(), ec);
            buffer.consume(buffer.size());
        }
        std::uint64_t down = 0;
        std::thread back([&] { down = pump(upstream, client); });
        entry.bytes_in += pump(client, upstream);
        back.join();
        {
            std::lock_guard lock(mutex);
            open_sockets.erase(upstream_fd);
        }
        entry.bytes_out = down;
        record(std::move(entry), began);
    }

    // Copies from `from` to `to` until `from` ends, then ends `to`'s writing side.
    template<typename From, typename To> std::uint64_t pump(From& from, To& to)
    {
        std::uint64_t total = 0;
        char chunk[16384];
        boost::system::error_code ec;
        while (true) {
            size_t n = from.read_some(asio::buffer(chunk), ec);
            if (ec || n == 0)
                break;
            asio::write(to, asio::buffer(chunk, n), ec);
            if (ec)
                break;
            total += n;
            touch();
        }
        to.shutdown(asio::socket_base::shutdown_send, ec);
        return total;
    }
};

EgressProxy::EgressProxy(std::unique_ptr<Impl> impl)
    : m_impl(std::move(impl))
{
}

Result<std::unique_ptr<EgressProxy>> EgressProxy::start(EgressProxyOptions options)
{
    auto impl = std::make_unique<Impl>();
    impl->options = std::move(options);
    for (auto& [host, target] : std::map(impl->options.routes)) {
        auto routed = split_authority(target, 80);
        boost::system::error_code ec;
        if (routed)
            asio::ip::make_address(routed->host, ec);
        if (!routed || ec)
            return Error(Error::Code::invalid_argument, "route for " + host + ": '" + target + "' is not ADDRESS:PORT");
        impl->options.routes.erase(host);
        impl->options.routes[ascii_lower(host)] = target;
    }
    const auto& path = impl->options.socket_path;
    std::error_code remove_error;
    std::filesystem::remove(path, remove_error); // a stale socket from a crashed run
    boost::system::error_code ec;
    impl->acceptor = std::make_unique<local::acceptor>(impl->io);
    impl->acceptor->open(local(), ec);
    if (!ec)
        impl->acceptor->bind(local::endpoint(path.string()), ec);
    if (!ec)
        impl->acceptor->listen(64, ec);
    if (ec)
        return Error(Error::Code::io, "egress proxy cannot listen on " + path.string() + ": " + ec.message());
    ::chmod(path.c_str(), 0666);
    if (!impl->options.log_path.empty()) {
        impl->log_file.open(impl->options.log_path, std::ios::app);
        if (!impl->log_file)
            return Error(Error::Code::io, "cannot write the proxy log " + impl->options.log_path.string());
    }
    Impl* raw = impl.get();
    impl->accept_thread = std::thread([raw] { raw->accept_loop(); });
    log().info("egress proxy on {} allowing {}", path.string(), impl->options.allowlist.size());
    return std::unique_ptr<EgressProxy>(new EgressProxy(std::move(impl)));
}

EgressProxy::~EgressProxy()
{
    {
        std::unique_lock lock(m_impl->mutex);
        m_impl->stopping = true;
        ::shutdown(m_impl->acceptor->native_handle(), SHUT_RDWR); // wakes accept()
        for (int fd : m_impl->open_sockets)
            ::shutdown(fd, SHUT_RDWR);
    }
    m_impl->accept_thread.join();
    std::unique_lock lock(m_impl->mutex);
    m_impl->idle.wait(lock, [&] { return m_impl->connections == 0; });
    lock.unlock();
    boost::system::error_code ignored;
    m_impl->acceptor->close(ignored);
    std::error_code remove_error;
    std::filesystem::remove(m_impl->options.socket_path, remove_error);
}

const std::filesystem::path& EgressProxy::socket_path() const { return m_impl->options.socket_path; }

std::vector<ProxyRequest> EgressProxy::requests() const
{
    std::lock_guard lock(m_impl->mutex);
    return m_impl->log_entries;
}

int EgressProxy::start_redirects() const
{
    std::lock_guard lock(m_impl->mutex);
    return m_impl->start_redirects;
}

EgressProxy::Activity EgressProxy::activity() const
{
    std::lock_guard lock(m_impl->mutex);
    return {m_impl->in_flight, m_impl->last_activity};
}

} // namespace rote::runtime
