#include <rote/egress/egress_proxy.h>

#include <idn2.h>

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <limits>
#include <mutex>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/asio/ssl.hpp>
#include <nlohmann/json.hpp>

#include <rote/base/files.h>
#include <rote/base/log.h>

#include <rote/base/text.h>

namespace rote::runtime {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using local = asio::local::stream_protocol;
namespace ssl = asio::ssl;
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

// The most header bytes a request or an answer may have (Beast's default is 8 KiB; real sites' cookies
// and CSP headers pass it).
constexpr std::uint32_t kHeaderLimit = 64 * 1024;
// No limit on a body that streams through. (Not boost::none: Boost 1.74's parser compares its length with an
// empty optional and reports every body over the limit.)
constexpr std::uint64_t kNoBodyLimit = std::numeric_limits<std::uint64_t>::max();

// Whether the request asks to switch protocols (a WebSocket over plain HTTP): Upgrade named in Connection.
bool wants_upgrade(const http::request<http::buffer_body>& req)
{
    if (req[http::field::upgrade].empty())
        return false;
    for (auto token : http::token_list {req[http::field::connection]}) {
        if (boost::beast::iequals(token, "upgrade"))
            return true;
    }
    return false;
}

// The Host header for a request to `a`: its name (an IPv6 address in brackets) and its port unless 80.
std::string host_header(const Authority& a)
{
    std::string host = a.host.find(':') != std::string::npos ? "[" + a.host + "]" : a.host;
    return a.port == 80 ? host : host + ":" + std::to_string(a.port);
}

// Drops the headers that belong to one connection, not to the message (RFC 9110 section 7.6.1): those the
// Connection header names, and the hop-by-hop ones by name. Transfer-Encoding stays: the serializer frames
// the body by it.
template<bool isRequest, typename Fields> void remove_hop_by_hop(http::header<isRequest, Fields>& h)
{
    std::vector<std::string> named;
    for (auto token : http::token_list {h[http::field::connection]})
        named.emplace_back(token);
    for (const std::string& name : named)
        h.erase(name);
    for (auto field : {http::field::connection, http::field::keep_alive, http::field::proxy_connection,
             http::field::proxy_authorization, http::field::te, http::field::trailer, http::field::upgrade})
        h.erase(field);
}

// The addresses of this machine's own interfaces.
std::vector<asio::ip::address> own_addresses()
{
    std::vector<asio::ip::address> out;
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0)
        return out;
    for (ifaddrs* i = list; i; i = i->ifa_next) {
        if (!i->ifa_addr)
            continue;
        if (i->ifa_addr->sa_family == AF_INET) {
            const auto* in = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
            out.emplace_back(asio::ip::address_v4(ntohl(in->sin_addr.s_addr)));
        } else if (i->ifa_addr->sa_family == AF_INET6) {
            const auto* in6 = reinterpret_cast<const sockaddr_in6*>(i->ifa_addr);
            asio::ip::address_v6::bytes_type bytes;
            std::memcpy(bytes.data(), in6->sin6_addr.s6_addr, bytes.size());
            out.emplace_back(asio::ip::address_v6(bytes));
        }
    }
    ::freeifaddrs(list);
    return out;
}

// forbidden_address() for a parsed address.
std::string forbidden_ip(const asio::ip::address& address)
{
    asio::ip::address a = address;
    if (a.is_v6() && a.to_v6().is_v4_mapped())
        a = asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()); // ::ffff:127.0.0.1 is 127.0.0.1
    if (a.is_v6()) {
        const auto b = a.to_v6().to_bytes();
        // NAT64 (64:ff9b::/96) and IPv4-compatible (::a.b.c.d) addresses carry an IPv4 address: judge that.
        const bool nat64 = b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b
            && std::all_of(b.begin() + 4, b.begin() + 12, [](unsigned char x) { return x == 0; });
        const bool compatible = std::all_of(b.begin(), b.begin() + 12, [](unsigned char x) { return x == 0; })
            && !a.is_loopback() && !a.is_unspecified();
        if (nat64 || compatible)
            a = asio::ip::address_v4({b[12], b[13], b[14], b[15]});
    }
    if (a.is_unspecified())
        return "an unspecified address (it means this machine)";
    if (a.is_loopback())
        return "a loopback address (this machine)";
    if (a.is_multicast())
        return "a multicast address";
    if (a.is_v4()) {
        const auto b = a.to_v4().to_bytes();
        if (b[0] == 10 || (b[0] == 172 && (b[1] & 0xf0) == 16) || (b[0] == 192 && b[1] == 168))
            return "a private address";
        if (b[0] == 169 && b[1] == 254)
            return "a link-local address (where cloud metadata services answer)";
        if (b[0] == 100 && (b[1] & 0xc0) == 64)
            return "a shared (carrier-grade NAT) address";
        if (b[0] == 0)
            return "an address of this network";
        if (b[0] == 127)
            return "a loopback address (this machine)";
        if (b[0] >= 240)
            return "a reserved or broadcast address";
    } else {
        const auto v6 = a.to_v6();
        const auto b = v6.to_bytes();
        if (v6.is_link_local())
            return "a link-local address";
        if (v6.is_site_local())
            return "a site-local address";
        if ((b[0] & 0xfe) == 0xfc)
            return "a unique local (private) address";
    }
    for (const auto& own : own_addresses()) {
        if (own == a)
            return "an address of this machine";
    }
    return {};
}

} // namespace

std::string forbidden_address(std::string_view address)
{
    boost::system::error_code ec;
    auto parsed = asio::ip::make_address(std::string(address), ec);
    return ec ? "not an IP address" : forbidden_ip(parsed);
}

std::string normalize_host(std::string_view host)
{
    std::string name = ascii_lower(host);
    if (!name.empty() && name.back() == '.')
        name.pop_back();
    if (std::all_of(name.begin(), name.end(), [](unsigned char c) { return c < 0x80; }))
        return name;
    // A name in Unicode (bücher.example, as a workflow's allowlist may write it) in the form DNS and the
    // browser use (xn--bcher-kva.example), by IDNA2008 with UTS 46 mapping; a name it rejects is no name.
    char* ascii = nullptr;
    if (idn2_to_ascii_8z(name.c_str(), &ascii, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL) != IDN2_OK) {
        idn2_free(ascii);
        return {};
    }
    std::string out = ascii_lower(ascii);
    idn2_free(ascii);
    return out;
}

namespace {

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
    const std::string name = normalize_host(host);
    if (name.empty())
        return false;
    for (const std::string& entry : allowlist) {
        const bool wildcard = entry.starts_with("*.");
        const std::string base = normalize_host(wildcard ? entry.substr(2) : entry);
        if (base.empty())
            continue;
        const std::string rule = wildcard ? "*." + base : base;
        if (wildcard) {
            std::string_view suffix = std::string_view(rule).substr(1); // ".example.test"
            if (name.size() > suffix.size() && name.ends_with(suffix))
                return true;
        } else if (rule == name) {
            return true;
        }
    }
    return false;
}

// The socket under a stream: itself, or what a TLS stream runs over.
template<typename S> auto& lowest(S& s)
{
    if constexpr (requires { s.next_layer(); })
        return lowest(s.next_layer());
    else
        return s;
}

struct EgressProxy::Impl {
    EgressProxyOptions options;
    asio::io_context io;
    std::unique_ptr<local::acceptor> acceptor;
    std::thread accept_thread;

    mutable std::mutex mutex; // guards everything below
    std::condition_variable idle;
    std::set<int> open_sockets; // the sandbox side of every live connection, shut down on stop
    // Connections waiting for a request's headers, and by when they must have them (header_timeout, or
    // idle_timeout before a kept-alive connection's next request): past it the watchdog shuts their reading
    // side, which ends the wait. `late` holds those it did so to, for the log line.
    std::map<int, Clock::time_point> header_deadlines;
    std::set<int> late;
    std::condition_variable watchdog_wake;
    std::thread watchdog_thread;
    int connections = 0;
    bool stopping = false;
    std::vector<ProxyRequest> log_entries;
    int start_redirects = 0;
    std::string start_url; // options.start_url, or what release_start() named (guarded by mutex)
    bool start_held = false; // options.hold_start, until release_start()
    int in_flight = 0; // requests between their headers and the end of their answer
    int step = 0; // set_step's
    Clock::time_point last_activity = Clock::now();
    std::ofstream log_file;
    std::map<std::string, std::shared_ptr<ssl::context>> tls_servers; // per host (intercept)
    std::shared_ptr<ssl::context> tls_client;

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

    // Ends the header waits that are past their deadline (header_deadlines), every 50 ms until stopping.
    void watchdog()
    {
        std::unique_lock lock(mutex);
        while (!stopping) {
            watchdog_wake.wait_for(lock, std::chrono::milliseconds(50));
            const auto now = Clock::now();
            for (auto it = header_deadlines.begin(); it != header_deadlines.end();) {
                if (it->second <= now) {
                    ::shutdown(it->first, SHUT_RD); // the read ends; the answer can still be written
                    late.insert(it->first);
                    it = header_deadlines.erase(it);
                } else {
                    ++it;
                }
            }
        }
    }

    void accept_loop()
    {
        while (true) {
            boost::system::error_code ec;
            local::socket client(io);
            acceptor->accept(client, ec);
            std::unique_lock lock(mutex);
            if (stopping)
                return;
            if (ec) {
                log().warn("accept failed: {}", ec.message());
                continue;
            }
            if (connections >= options.max_connections) {
                lock.unlock();
                over_limit(client);
                continue;
            }
            ++connections;
            open_sockets.insert(client.native_handle());
            std::thread([this, c = std::move(client)]() mutable { serve(std::move(c)); }).detach();
        }
    }

    // A connection past max_connections: a 503 written without waiting (a client that reads nothing cannot
    // stall the accepting thread), closed, logged.
    void over_limit(local::socket& client)
    {
        const std::string body = "rote's egress proxy has " + std::to_string(options.max_connections)
            + " connections open for this sandbox, its limit; try again when some have closed.\n";
        const std::string answer = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: "
            + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
        (void)::send(client.native_handle(), answer.data(), answer.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        boost::system::error_code ignored;
        client.close(ignored);
        ProxyRequest entry;
        entry.status = 503;
        entry.error = entry.refused = "over the limit of " + std::to_string(options.max_connections) + " connections";
        record(std::move(entry), Clock::now());
    }

    // The connection `fd` waits for a request's headers until `within` from now (or no longer waits).
    void expect_headers(int fd, std::optional<std::chrono::milliseconds> within)
    {
        std::lock_guard lock(mutex);
        if (within)
            header_deadlines[fd] = Clock::now() + *within;
        else
            header_deadlines.erase(fd);
    }

    // Whether the watchdog ended a header wait on `fd` (and forgets it).
    bool was_late(int fd)
    {
        std::lock_guard lock(mutex);
        return late.erase(fd) > 0;
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
        header_deadlines.erase(fd);
        late.erase(fd);
        --connections;
        idle.notify_all();
    }

    void record(ProxyRequest entry, Clock::time_point began)
    {
        entry.ms = std::chrono::duration<double, std::milli>(Clock::now() - began).count();
        entry.time = now_timestamp();
        log().info("{} {}:{}{} -> {} (in {} B, out {} B, {:.1f} ms{}{})", entry.method, entry.host, entry.port,
            entry.path, entry.status, entry.bytes_in, entry.bytes_out, entry.ms, entry.error.empty() ? "" : ", ",
            entry.error);
        std::lock_guard lock(mutex);
        if (log_file.is_open()) {
            nlohmann::json line {{"time", entry.time}, {"method", entry.method}, {"host", entry.host},
                {"port", entry.port}, {"path", entry.path}, {"status", entry.status}, {"bytes_in", entry.bytes_in},
                {"bytes_out", entry.bytes_out}, {"ms", entry.ms}, {"framing", entry.framing},
                {"complete", entry.error.empty()}};
            if (!entry.error.empty())
                line["error"] = entry.error;
            if (!entry.refused.empty())
                line["refused"] = entry.refused;
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
        // Every answer is vetted and only a vetted one is connected to (the very endpoint, not the name again:
        // a second lookup could answer otherwise, as DNS rebinding does). A name an attacker's DNS points at
        // this machine, a private network or a metadata service is refused, and so is such an address written
        // in the URL: only a route may send the sandbox there.
        boost::system::error_code ec;
        tcp::resolver resolver(io);
        auto results = resolver.resolve(a.host, std::to_string(a.port), ec);
        if (ec || results.empty())
            return "cannot resolve " + a.host + ": " + ec.message();
        std::string first_refusal;
        for (const auto& result : results) {
            const std::string why = forbidden_ip(result.endpoint().address());
            if (why.empty())
                return result.endpoint();
            if (first_refusal.empty())
                first_refusal = result.endpoint().address().to_string() + ", " + why;
        }
        return a.host + " is " + first_refusal + "; only a route may point the sandbox there";
    }

    template<typename Client>
    void send_page(Client& client, unsigned version, http::status status, std::string_view title, std::string_view why)
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
    template<typename Client>
    void refuse(Client& client, unsigned version, http::status status, std::string_view title,
        std::string_view why, ProxyRequest entry, Clock::time_point began)
    {
        entry.status = static_cast<int>(status);
        entry.framing = "length";
        entry.refused = std::string(why);
        if (entry.error.empty() && status != http::status::forbidden)
            entry.error = std::string(why);
        try {
            send_page(client, version, status, title, why);
        } catch (const std::exception&) {
            // the browser went away; the refusal is still logged
        }
        record(std::move(entry), began);
    }

    // The waiting page's two requests (EgressProxyOptions::start_url): not logged, they never leave rote.
    void answer_start(local::socket& client, unsigned version, const std::string& path)
    {
        // The smallest GIF: one transparent pixel.
        static constexpr unsigned char pixel[] = {0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80,
            0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00,
            0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b};
        http::response<http::string_body> res {http::status::ok, version};
        res.set(http::field::cache_control, "no-store");
        bool served;
        bool held;
        std::string start;
        {
            std::lock_guard lock(mutex);
            served = start_redirects > 0;
            held = start_held;
            start = start_url;
        }
        if (served || held) {
            // Held (a VM in a warm pool, its run not come yet): not yet, and the page polls on.
            // Once only: a kept VM put back on its waiting page before it is saved must wait there for the
            // next run's proxy.
            res.result(http::status::not_found);
        } else if (path.starts_with("/ping")) {
            res.set(http::field::content_type, "image/gif");
            res.body().assign(reinterpret_cast<const char*>(pixel), sizeof pixel);
        } else if (!start.starts_with("http://") && !start.starts_with("https://")) {
            // about:blank and the like cannot be redirected to: an empty page is the same thing.
            res.set(http::field::content_type, "text/html");
            res.body() = "<!doctype html><title></title>";
            std::lock_guard lock(mutex);
            ++start_redirects;
        } else {
            res.result(http::status::found);
            res.set(http::field::location, start);
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

    // A request that could not be read as HTTP: answered (400, or 431 for headers over the limit) and logged,
    // unless the browser just closed a connection it kept alive.
    void answer_unreadable(local::socket& client, const boost::beast::flat_buffer& buffer,
        const boost::system::error_code& ec, bool anything_read)
    {
        if (!anything_read && buffer.size() == 0)
            return;
        ProxyRequest entry;
        entry.error = ec.message();
        const bool too_large = ec == http::error::header_limit;
        if (ec == http::error::partial_message || ec == asio::error::eof || ec == asio::error::connection_reset) {
            entry.status = 400;
            entry.error = "the connection closed in the middle of a request's headers";
            record(std::move(entry), Clock::now());
            return;
        }
        refuse(client, 11, too_large ? http::status::request_header_fields_too_large : http::status::bad_request,
            too_large ? "Request headers too large" : "Bad request",
            too_large ? "The request's headers are over rote's limit of 64 KiB." : "The request is not HTTP: " + ec.message(),
            std::move(entry), Clock::now());
    }

    void serve_requests(local::socket& client)
    {
        boost::beast::flat_buffer buffer;
        bool served_one = false;
        while (true) {
            http::request_parser<http::buffer_body> parser;
            parser.header_limit(kHeaderLimit);
            parser.body_limit(kNoBodyLimit); // bodies are streamed, never held whole
            boost::system::error_code ec;
            const int fd = client.native_handle();
            expect_headers(fd, served_one && buffer.size() == 0 ? options.idle_timeout : options.header_timeout);
            http::read_header(client, buffer, parser, ec);
            expect_headers(fd, std::nullopt);
            if (ec && was_late(fd)) {
                if (!parser.got_some() && buffer.size() == 0)
                    return; // an idle kept-alive connection, closed
                ProxyRequest entry;
                return refuse(client, 11, http::status::request_timeout, "Request timeout",
                    "The request's headers did not arrive within " + std::to_string(options.header_timeout.count())
                        + " ms.",
                    std::move(entry), Clock::now());
            }
            if (ec)
                return answer_unreadable(client, buffer, ec, !served_one && parser.got_some());
            served_one = true;
            const auto began = Clock::now();
            std::optional<InFlight> answering(std::in_place, *this);
            auto& req = parser.get();
            ProxyRequest entry;
            entry.method = std::string(req.method_string());
            {
                std::lock_guard lock(mutex);
                entry.step = step;
            }

            // CONNECT host:port, or the absolute form http://host[:port]/path; anything else is not for a proxy.
            const bool connect = req.method() == http::verb::connect;
            std::string_view target(req.target().data(), req.target().size());
            std::optional<Authority> a;
            std::string path;
            if (connect) {
                a = split_authority(target, 443);
            } else if (target.starts_with("http://")) {
                target.remove_prefix(7);
                size_t slash = target.find_first_of("/?");
                a = split_authority(target.substr(0, slash), 80);
                path = slash == std::string_view::npos ? "/" : std::string(target.substr(slash));
                if (path.starts_with('?'))
                    path.insert(0, "/");
            }
            entry.path = path;
            if (!a) {
                return refuse(client, req.version(), http::status::bad_request, "Bad request",
                    "rote's egress proxy takes CONNECT HOST:PORT and absolute http:// URLs only", std::move(entry),
                    began);
            }
            // One spelling of the name for the allowlist, the routes and DNS alike (Registry.Example.Test.
            // is registry.example.test: a trailing dot must not skip its route and fall through to DNS).
            a->host = normalize_host(a->host);
            entry.host = a->host;
            entry.port = a->port;
            if (!connect && (options.hold_start || !options.start_url.empty()) && ascii_lower(a->host) == kStartHost)
                return answer_start(client, req.version(), path);
            if (!host_allowed(options.allowlist, a->host)) {
                return refuse(client, req.version(), http::status::forbidden, "Blocked by rote",
                    a->host + " is not on this sandbox's allowlist.", std::move(entry), began);
            }
            if (connect) {
                answering.reset(); // a tunnel may stay open and idle: it shows through its bytes instead
                return tunnel(client, buffer, *a, std::move(entry), began);
            }
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
            const bool keep_alive = exchange(client, buffer, parser, upstream, *a, entry);
            record(std::move(entry), began);
            if (!keep_alive)
                return;
        }
    }

    // Relays one request whose headers `parser` has read, and the site's answer to it; whether the browser's
    // connection may carry another request. The request goes out in origin form with Host from its target
    // (not the Host the browser sent: no fronting another site behind an allowed address) and without the
    // hop-by-hop headers; one upstream connection per request. The answer comes back framed for the browser:
    // a Content-Length or chunked body as it came, a body that ends when the site closes (HTTP/1.0 servers,
    // Connection: close without a length) re-framed as chunked, or for an HTTP/1.0 browser ended by closing.
    // Bodies stream through in pieces (compressed ones untouched); interim answers (1xx) are passed on;
    // a 101 (WebSocket upgrade) becomes a tunnel.
    template<typename Client, typename Upstream>
    bool exchange(Client& client, boost::beast::flat_buffer& buffer, http::request_parser<http::buffer_body>& parser,
        Upstream& upstream, const Authority& a, ProxyRequest& entry)
    {
        auto& req = parser.get();
        const unsigned version = req.version();
        const bool client_keep_alive = req.keep_alive();
        const bool head = req.method() == http::verb::head;
        const bool upgrade = wants_upgrade(req);
        const bool expects_continue = boost::beast::iequals(req[http::field::expect], "100-continue");
        const std::string upgrade_to(req[http::field::upgrade]);
        req.target(entry.path);
        req.set(http::field::host, host_header(a));
        remove_hop_by_hop(req);
        if (upgrade) {
            req.set(http::field::connection, "Upgrade");
            req.set(http::field::upgrade, upgrade_to);
        } else {
            req.keep_alive(false);
        }
        if (options.capture_limit > 0) {
            // Answers come compressed only as a plan's miner can read them back (gzip, deflate): not brotli or
            // zstd, which a browser offers over HTTPS.
            if (!req[http::field::accept_encoding].empty())
                req.set(http::field::accept_encoding, "gzip, deflate");
            entry.capture.emplace();
            entry.capture->request_headers = captured_fields(req);
        }
        boost::system::error_code ec;
        if (expects_continue) {
            // The browser waits for a go-ahead before it sends the body; the proxy gives it, and sends the site
            // a plain request with the whole body.
            asio::write(client, asio::buffer(std::string_view("HTTP/1.1 100 Continue\r\n\r\n")), ec);
            if (ec) {
                entry.error = "the browser went away: " + ec.message();
                return false;
            }
        }
        Relayed sent = relay(parser, client, buffer, upstream, kept_body(entry, true));
        entry.bytes_in = sent.bytes;
        if (!sent.error.empty()) {
            entry.status = 502;
            entry.error = "sending the request: " + sent.error;
            entry.refused = "the request did not reach the site: " + sent.error;
            if (!sent.header_sent || sent.read_failed)
                send_page_quietly(client, version, http::status::bad_gateway, "The request did not reach the site",
                    a.host + ": " + sent.error);
            return false;
        }

        boost::beast::flat_buffer upstream_buffer;
        while (true) {
            http::response_parser<http::buffer_body> answer;
            answer.header_limit(kHeaderLimit);
            answer.body_limit(kNoBodyLimit);
            answer.skip(head); // a HEAD answer's Content-Length describes a body that does not come
            http::read_header(upstream, upstream_buffer, answer, ec);
            if (ec) {
                entry.status = 502;
                entry.error = "the site did not answer: " + ec.message();
                entry.refused = entry.error;
                send_page_quietly(client, version, http::status::bad_gateway, "The site did not answer",
                    a.host + ": " + ec.message());
                return false;
            }
            auto& res = answer.get();
            const int status = res.result_int();
            if (status / 100 == 1 && status != 101) {
                // An interim answer (100 Continue, 103 Early Hints): passed on; the final one follows.
                if (status != 100 || !expects_continue) {
                    remove_hop_by_hop(res);
                    res.version(version);
                    http::response_serializer<http::buffer_body> interim {res};
                    http::write_header(client, interim, ec);
                    if (ec) {
                        entry.error = "the browser went away: " + ec.message();
                        return false;
                    }
                }
                continue;
            }
            entry.status = status;
            if (entry.capture)
                entry.capture->response_headers = captured_fields(res);
            const bool bodyless = head || status == 204 || status == 304 || status == 101;
            const bool until_close = !bodyless && answer.need_eof();
            entry.framing = bodyless ? "none" : answer.chunked() ? "chunked" : until_close ? "close" : "length";
            const std::string upgraded_to(res[http::field::upgrade]);
            remove_hop_by_hop(res);
            res.version(version);
            bool keep_alive = client_keep_alive && status != 101;
            if (until_close) {
                if (version >= 11)
                    res.chunked(true); // re-framed: the browser learns where the body ends
                else
                    keep_alive = false; // an HTTP/1.0 browser learns it from the close
            }
            if (status == 101) {
                res.set(http::field::connection, "Upgrade");
                res.set(http::field::upgrade, upgraded_to);
            } else {
                res.keep_alive(keep_alive);
            }
            const bool keep_body = entry.capture && textual(std::string(res[http::field::content_type]));
            Relayed got = relay(answer, upstream, upstream_buffer, client, keep_body ? kept_body(entry, false) : Keep {});
            entry.bytes_out = got.bytes;
            if (!got.error.empty()) {
                // Headers already sent cannot be taken back: the browser sees a cut-off body on a closed
                // connection, and the log says the exchange did not complete.
                entry.error = (got.read_failed ? "the site's answer broke off: " : "the browser went away: ") + got.error;
                if (!got.header_sent && got.read_failed)
                    send_page_quietly(client, version, http::status::bad_gateway, "The site did not answer",
                        a.host + ": " + got.error);
                return false;
            }
            if (status == 101) {
                entry.framing = "upgrade";
                std::uint64_t in = 0, out = 0;
                splice(client, buffer, upstream, upstream_buffer, in, out);
                entry.bytes_in += in;
                entry.bytes_out += out;
                return false;
            }
            return keep_alive;
        }
    }

    template<bool isRequest, typename Fields> static HeaderFields captured_fields(const http::header<isRequest, Fields>& h)
    {
        HeaderFields out;
        for (const auto& field : h) {
            std::string_view name(field.name_string().data(), field.name_string().size());
            out.emplace_back(std::string(name), capture_header(name, {field.value().data(), field.value().size()}));
        }
        return out;
    }

    // A body worth keeping for API plans: a page, JSON, XML, text, a form; not images, scripts, styles, fonts.
    static bool textual(std::string_view content_type)
    {
        const std::string type = ascii_lower(content_type.substr(0, content_type.find(';')));
        return type.starts_with("text/html") || type == "text/plain" || type.ends_with("json") || type.ends_with("xml")
            || type == "application/x-www-form-urlencoded";
    }

    // Where relay() keeps a copy of the body it relays (nullptr: nowhere).
    struct Keep {
        std::string* body = nullptr;
        bool* truncated = nullptr;
    };
    static Keep kept_body(ProxyRequest& entry, bool request)
    {
        if (!entry.capture)
            return {};
        return {request ? &entry.capture->request_body : &entry.capture->response_body, &entry.capture->truncated};
    }

    struct Relayed {
        std::uint64_t bytes = 0; // body bytes relayed
        bool header_sent = false;
        bool read_failed = false; // the error was the source's (else the destination's)
        std::string error; // empty: the whole message was relayed
    };

    // Writes the message whose header `p` has read from `from` to `to`, then its body as it arrives, in
    // pieces of at most 64 KiB: a body is never held whole, however large or slow.
    template<bool isRequest, typename From, typename To>
    Relayed relay(http::parser<isRequest, http::buffer_body>& p, From& from, boost::beast::flat_buffer& buffer, To& to,
        Keep keep = {})
    {
        Relayed out;
        boost::system::error_code ec;
        http::serializer<isRequest, http::buffer_body> serializer {p.get()};
        // One piece out: the header alone, or `size` body bytes at `data` (nullptr: none; `more`: others follow).
        auto send = [&](char* data, std::size_t size, bool header_only) {
            p.get().body().data = data;
            p.get().body().size = size;
            p.get().body().more = !p.is_done();
            if (header_only)
                http::write_header(to, serializer, ec);
            else
                http::write(to, serializer, ec);
            if (ec == http::error::need_buffer)
                ec = {};
            if (ec)
                out.error = ec.message();
            return !ec;
        };
        if (!send(nullptr, 0, true))
            return out;
        out.header_sent = true;
        std::vector<char> chunk(64 * 1024);
        while (!p.is_done()) {
            p.get().body().data = chunk.data();
            p.get().body().size = chunk.size();
            // read_some: whatever has arrived goes on at once (a streamed page, a slow download), not when
            // the piece is full.
            http::read_some(from, buffer, p, ec);
            if (ec == http::error::need_buffer)
                ec = {};
            const boost::system::error_code read_error = ec;
            const std::size_t n = chunk.size() - p.get().body().size;
            if (keep.body && n > 0) {
                const std::size_t room = options.capture_limit - std::min(options.capture_limit, keep.body->size());
                keep.body->append(chunk.data(), std::min(room, n));
                if (n > room)
                    *keep.truncated = true;
            }
            // What arrived before a read error still goes on: the browser gets all the site sent.
            if (n > 0 && !send(chunk.data(), n, false))
                return out;
            out.bytes += n;
            if (n > 0)
                touch();
            if (read_error) {
                out.read_failed = true;
                out.error = read_error.message();
                return out;
            }
        }
        if (!serializer.is_done())
            send(nullptr, 0, false); // the end: a chunked body's last chunk (nothing for the other framings)
        return out;
    }

    // Both directions of an upgraded connection until either side ends, the bytes each side had already
    // buffered first.
    template<typename Client, typename Upstream>
    void splice(Client& client, boost::beast::flat_buffer& client_buffer, Upstream& upstream,
        boost::beast::flat_buffer& upstream_buffer, std::uint64_t& in, std::uint64_t& out)
    {
        boost::system::error_code ec;
        int upstream_fd = lowest(upstream).native_handle();
        {
            std::lock_guard lock(mutex);
            open_sockets.insert(upstream_fd); // so that stopping the proxy ends it
        }
        if (client_buffer.size() > 0) {
            in += asio::write(upstream, client_buffer.data(), ec);
            client_buffer.consume(client_buffer.size());
        }
        if (upstream_buffer.size() > 0) {
            out += asio::write(client, upstream_buffer.data(), ec);
            upstream_buffer.consume(upstream_buffer.size());
        }
        std::uint64_t down = 0;
        std::thread back([&] { down = pump(upstream, client); });
        in += pump(client, upstream);
        back.join();
        out += down;
        std::lock_guard lock(mutex);
        open_sockets.erase(upstream_fd);
    }

    // An error page where the browser may still be waiting for an answer; nothing if it has gone.
    template<typename Client>
    void send_page_quietly(Client& client, unsigned version, http::status status, std::string_view title,
        std::string_view why)
    {
        try {
            send_page(client, version, status, title, why);
        } catch (const std::exception&) {
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
        if (options.intercept && options.capture_limit > 0)
            return intercept(client, buffer, a, std::move(entry), began);
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
        entry.status = 200;
        entry.framing = "tunnel";
        // Bytes the browser sent after the CONNECT headers (a TLS hello) are already in our buffer: splice sends
        // them first.
        boost::beast::flat_buffer nothing_yet;
        splice(client, buffer, upstream, nothing_yet, entry.bytes_in, entry.bytes_out);
        record(std::move(entry), began);
    }

    // The TLS a server of `host` speaks to the sandbox: a certificate from the sandbox's authority, made once.
    std::shared_ptr<ssl::context> server_context(const std::string& host)
    {
        {
            std::lock_guard lock(mutex);
            if (auto it = tls_servers.find(host); it != tls_servers.end())
                return it->second;
        }
        auto leaf = options.intercept->leaf(host);
        if (!leaf.ok())
            return nullptr;
        auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
        ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3
            | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
        boost::system::error_code ec;
        ctx->use_certificate_chain(asio::buffer(leaf->chain_pem), ec);
        if (!ec)
            ctx->use_private_key(asio::buffer(leaf->key_pem), ssl::context::pem, ec);
        if (ec)
            return nullptr;
        std::lock_guard lock(mutex);
        tls_servers[host] = ctx;
        return ctx;
    }

    // The TLS the proxy speaks to sites: their certificates checked against the system's CAs and
    // upstream_ca_file, TLS 1.2 at least.
    std::shared_ptr<ssl::context> client_context()
    {
        std::lock_guard lock(mutex);
        if (tls_client)
            return tls_client;
        auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
        ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3
            | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
        ctx->set_verify_mode(ssl::verify_peer);
        boost::system::error_code ec;
        ctx->set_default_verify_paths(ec);
        if (!options.upstream_ca_file.empty())
            ctx->load_verify_file(options.upstream_ca_file.string(), ec);
        tls_client = ctx;
        return ctx;
    }

    // A CONNECT opened (EgressProxyOptions::intercept): the sandbox's TLS ends here, each request in it is read
    // and captured, and goes on to the site in TLS of the proxy's own, checked as a browser checks it.
    void intercept(local::socket& client, boost::beast::flat_buffer& buffer, const Authority& a, ProxyRequest entry,
        Clock::time_point began)
    {
        auto server = server_context(a.host);
        if (!server)
            return refuse(client, 11, http::status::bad_gateway, "Cannot open the connection",
                "no certificate could be made for " + a.host, std::move(entry), began);
        boost::system::error_code ec;
        asio::write(client, asio::buffer(std::string_view("HTTP/1.1 200 Connection Established\r\n\r\n")), ec);
        if (ec)
            return;
        ssl::stream<local::socket&> tls(client, *server);
        // A ClientHello that came with the CONNECT is in `buffer` already: the handshake reads it first.
        tls.handshake(ssl::stream_base::server, buffer.data(), ec);
        buffer.consume(buffer.size());
        if (ec) {
            // The browser refused the certificate (not this sandbox's browser?) or went away.
            entry.status = 200;
            entry.framing = "tunnel";
            entry.error = "the browser's TLS handshake failed: " + ec.message();
            return record(std::move(entry), began);
        }
        boost::beast::flat_buffer inner;
        const int fd = client.native_handle();
        bool served_one = false;
        while (true) {
            http::request_parser<http::buffer_body> parser;
            parser.header_limit(kHeaderLimit);
            parser.body_limit(kNoBodyLimit);
            expect_headers(fd, served_one ? options.idle_timeout : options.header_timeout);
            http::read_header(tls, inner, parser, ec);
            expect_headers(fd, std::nullopt);
            if (ec)
                return; // the browser closed, idled out or sent what is not HTTP
            served_one = true;
            const auto at = Clock::now();
            InFlight answering(*this);
            auto& req = parser.get();
            ProxyRequest e;
            e.method = std::string(req.method_string());
            e.scheme = "https";
            e.host = a.host;
            e.port = a.port;
            e.path = std::string(req.target());
            {
                std::lock_guard lock(mutex);
                e.step = step;
            }
            if (!e.path.starts_with('/'))
                return refuse(tls, req.version(), http::status::bad_request, "Bad request",
                    "inside TLS a request names a path, not '" + e.path + "'", std::move(e), at);
            auto where = destination(a);
            if (auto* why = std::get_if<std::string>(&where))
                return refuse(tls, req.version(), http::status::bad_gateway, "Cannot reach the site", *why, std::move(e), at);
            tcp::socket socket(io);
            socket.connect(std::get<tcp::endpoint>(where), ec);
            if (ec)
                return refuse(tls, req.version(), http::status::bad_gateway, "Cannot reach the site",
                    "connecting to " + a.host + " failed: " + ec.message(), std::move(e), at);
            set_timeouts(socket.native_handle());
            ssl::stream<tcp::socket> upstream(std::move(socket), *client_context());
            // The site's name as the browser would check it: SNI, and the certificate's names.
            SSL_set_tlsext_host_name(upstream.native_handle(), a.host.c_str());
            upstream.set_verify_callback(ssl::host_name_verification(a.host));
            upstream.handshake(ssl::stream_base::client, ec);
            if (ec)
                return refuse(tls, req.version(), http::status::bad_gateway, "The site's certificate was refused",
                    a.host + ": " + ec.message(), std::move(e), at);
            const bool keep_alive = exchange(tls, inner, parser, upstream, a, e);
            record(std::move(e), at);
            if (!keep_alive)
                return;
        }
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
        lowest(to).shutdown(asio::socket_base::shutdown_send, ec);
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
    impl->start_held = impl->options.hold_start;
    if (!impl->start_held)
        impl->start_url = impl->options.start_url;
    for (const auto& entry : impl->options.allowlist) {
        if (normalize_host(entry.starts_with("*.") ? entry.substr(2) : entry).empty())
            return Error(Error::Code::invalid_argument, "allowlist entry '" + entry + "' is not a host name (IDNA refuses it)");
    }
    for (auto& [host, target] : std::map(impl->options.routes)) {
        if (normalize_host(host).empty())
            return Error(Error::Code::invalid_argument, "route for '" + host + "': not a host name (IDNA refuses it)");
        auto routed = split_authority(target, 0); // a port is required: a route opens one port, never all
        boost::system::error_code ec;
        if (routed)
            asio::ip::make_address(routed->host, ec);
        if (!routed || ec)
            return Error(Error::Code::invalid_argument, "route for " + host + ": '" + target + "' is not ADDRESS:PORT");
        impl->options.routes.erase(host);
        impl->options.routes[normalize_host(host)] = target;
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
        impl->acceptor->listen(1024, ec);
    if (ec)
        return Error(Error::Code::io, "egress proxy cannot listen on " + path.string() + ": " + ec.message());
    ::chmod(path.c_str(), 0666);
    if (!impl->options.log_path.empty()) {
        // 0600, and never through a link: the log holds every URL, query tokens and all.
        ROTE_TRY(create_private_file(impl->options.log_path));
        impl->log_file.open(impl->options.log_path, std::ios::app);
        if (!impl->log_file)
            return Error(Error::Code::io, "cannot write the proxy log " + impl->options.log_path.string());
    }
    Impl* raw = impl.get();
    impl->accept_thread = std::thread([raw] { raw->accept_loop(); });
    impl->watchdog_thread = std::thread([raw] { raw->watchdog(); });
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
    m_impl->watchdog_wake.notify_all();
    m_impl->accept_thread.join();
    m_impl->watchdog_thread.join();
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

Result<void> EgressProxy::release_start(const std::string& url)
{
    if (!url.starts_with("http://") && !url.starts_with("https://") && url != "about:blank")
        return Error(Error::Code::invalid_argument, "a start URL is http(s):// or about:blank, not '" + url + "'");
    std::lock_guard lock(m_impl->mutex);
    if (!m_impl->start_held)
        return Error(Error::Code::conflict, "this proxy holds no start to release");
    m_impl->start_held = false;
    m_impl->start_url = url;
    return {};
}

void EgressProxy::set_step(int step)
{
    std::lock_guard lock(m_impl->mutex);
    m_impl->step = step;
}

std::string capture_header(std::string_view name, std::string_view value)
{
    const std::string field = ascii_lower(name);
    auto trimmed = [](std::string_view v) {
        while (!v.empty() && v.front() == ' ')
            v.remove_prefix(1);
        while (!v.empty() && v.back() == ' ')
            v.remove_suffix(1);
        return std::string(v);
    };
    if (field == "cookie") {
        // "a=1; b=2" -> "a; b"
        std::string names;
        for (std::string_view rest = value; !rest.empty();) {
            const std::size_t semi = rest.find(';');
            std::string_view pair = rest.substr(0, semi);
            rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
            std::string name_only = trimmed(pair.substr(0, pair.find('=')));
            if (name_only.empty())
                continue;
            names += (names.empty() ? "" : "; ") + name_only;
        }
        return names;
    }
    if (field == "set-cookie") {
        // "session=abc; Path=/; HttpOnly" -> "session; Path=/; HttpOnly"
        const std::size_t semi = value.find(';');
        std::string out = trimmed(value.substr(0, value.find('=')).substr(0, semi));
        if (semi != std::string_view::npos)
            out += ";" + std::string(value.substr(semi + 1));
        return out;
    }
    if (field == "authorization" || field == "proxy-authorization")
        return trimmed(value.substr(0, value.find(' ')));
    return std::string(value);
}

EgressProxy::Activity EgressProxy::activity() const
{
    std::lock_guard lock(m_impl->mutex);
    return {m_impl->in_flight, m_impl->last_activity};
}

} // namespace rote::runtime
