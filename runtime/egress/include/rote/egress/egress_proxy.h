#pragma once

// A sandbox's only route out (design.md, "Network"): an HTTP proxy on a unix socket that forwards
// absolute-URI requests and CONNECT tunnels to the hosts of an allowlist, refuses everything else with a
// 403 page that says why, and logs every request.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <string>
#include <string_view>
#include <vector>

#include <rote/base/result.h>
#include <rote/egress/tls_authority.h>

namespace rote::runtime {

// True when `host` is on the allowlist: an exact name ("registry.example.test", "127.0.0.1") or a wildcard
// ("*.example.test" matches any name below example.test, not example.test itself). Case-insensitive; a
// trailing dot on the host is ignored.
bool host_allowed(const std::vector<std::string>& allowlist, std::string_view host);

// Why the proxy will not connect to `address` unless a route names it: empty for an address on the public
// internet; else what it is ("a private address", "a loopback address (this machine)", ...). Unspecified,
// loopback, private, link-local, carrier-grade NAT, unique local, site-local, multicast, reserved and
// broadcast addresses, this machine's own interfaces' addresses, and the IPv4 inside a mapped, compatible
// or NAT64 IPv6 address are all refused.
std::string forbidden_address(std::string_view address);

// The one spelling of a host name the proxy matches and resolves: lower case, without a trailing dot.
std::string normalize_host(std::string_view host);

// One captured message's header fields, in order. The values of Cookie, Set-Cookie, Authorization and
// Proxy-Authorization are never kept (capture_header): a cookie is its name ("session"), a Set-Cookie its name
// and attributes ("session; Path=/; HttpOnly"), credentials their scheme ("Basic").
using HeaderFields = std::vector<std::pair<std::string, std::string>>;

// What the proxy keeps of a request and its answer when EgressProxyOptions::capture_limit is set: plain
// http://, and https:// where the proxy opens the TLS (EgressProxyOptions::intercept); a tunnel's bytes are
// never read.
struct Capture {
    HeaderFields request_headers; // as sent to the site (origin form, Host from the target)
    std::string request_body; // at most capture_limit bytes
    HeaderFields response_headers; // the final answer's
    // As the site sent it (still compressed if it was), at most capture_limit bytes; kept only for pages, JSON,
    // XML, plain text and forms (not images, scripts, styles or fonts).
    std::string response_body;
    bool truncated = false; // a body was longer than capture_limit
};

// A captured header field's value as it may be kept (see HeaderFields): the name's value itself for every
// other field.
std::string capture_header(std::string_view name, std::string_view value);

struct ProxyRequest {
    std::string time; // ISO 8601, UTC
    std::string method; // GET, POST, CONNECT, ...
    std::string scheme = "http"; // "https" for a request the proxy read inside TLS it opened (intercept)
    std::string host;
    int port = 0;
    std::string path; // origin-form path and query; empty for CONNECT
    int status = 0; // what the client got: the upstream's status, 200 for an opened tunnel, 403, 502, ...
    std::uint64_t bytes_in = 0; // body bytes (or tunnel bytes) from the sandbox
    std::uint64_t bytes_out = 0; // body bytes (or tunnel bytes) to the sandbox
    double ms = 0; // from the request's headers to the end of the exchange
    // How the answer's body was framed: "length", "chunked", "close" (the site's body ended with its
    // connection: re-framed as chunked for the browser, or ended by closing for an HTTP/1.0 one), "none"
    // (HEAD, 1xx, 204, 304), "tunnel" (CONNECT), "upgrade" (101).
    std::string framing;
    // Empty when the exchange completed; else what stopped it (the site's answer broke off, the browser went
    // away, the site could not be reached): such a request is never logged as if it had been served.
    std::string error;
    // Set when the proxy answered itself instead of the site (a host not allowed, one it cannot reach, a
    // request it cannot read): why, as its error page says.
    std::string refused;
    int step = 0; // EgressProxy::set_step's value when its headers came: the step of the run being carried out
    std::optional<Capture> capture; // with capture_limit, for every exchange with a site over plain http
};

struct EgressProxyOptions {
    std::filesystem::path socket_path; // created with mode 0666 (the sandbox's user must connect to it)
    std::vector<std::string> allowlist;
    // Where an allowed name is really served: "registry.example.test" -> "127.0.0.1:8081" (an address and a
    // port, both required). Names without a route are resolved by DNS, and only to an address that
    // forbidden_address() passes: this machine, private networks and metadata services are reachable only
    // when a route names them.
    std::map<std::string, std::string> routes;
    std::filesystem::path log_path; // JSON lines, one per request; empty: in memory only
    std::chrono::milliseconds upstream_timeout {30000};
    // A connection that has begun a request must send all its headers within header_timeout, and one that
    // waits for its next request is closed after idle_timeout: a page (or a process in the sandbox) holding
    // connections open with half a request line cannot tie up the proxy. A late request is answered 408 and
    // logged; an idle kept-alive connection is just closed.
    std::chrono::milliseconds header_timeout {15000};
    std::chrono::milliseconds idle_timeout {60000};
    // At most this many connections at once (a browser opens about six per host): a connection past it is
    // answered 503 and closed at once, and logged.
    int max_connections = 256;
    // Where a restored VM's waiting page is sent (qemu.h): the proxy itself answers http://start.rote.invalid/
    // with a redirect here, and /ping there with a tiny image, until the first redirect; then 404. Empty:
    // that name is refused like any other.
    std::string start_url;
    // A VM kept ready in a warm pool: its waiting page is answered 404 (it polls on) until release_start()
    // names the run's start URL; start_url is not used.
    bool hold_start = false;
    // Above 0: every plain-http exchange with a site is kept in ProxyRequest::capture, bodies up to this many
    // bytes each (traffic for API plans, docs/api.md). Bodies still stream through; only the kept copy is cut.
    std::size_t capture_limit = 0;
    // With capture_limit: HTTPS is captured too. A CONNECT to an allowed host is answered by the proxy itself
    // in TLS, with a certificate for the host from this authority (the sandbox's own, trusted by its browser
    // alone); each request inside goes on to the site in TLS of the proxy's own, the site's certificate checked
    // against the system's CAs and upstream_ca_file, and its name, as strictly as a browser does. A site that
    // fails the check is refused with a 502 page that says why. Null: CONNECT opens a tunnel, never read.
    std::shared_ptr<TlsAuthority> intercept;
    std::filesystem::path upstream_ca_file; // a CA sites may chain to beside the system's (a company's own; tests)
};

// The name the proxy answers itself for a VM's waiting page (.invalid never resolves anywhere).
inline constexpr std::string_view kStartHost = "start.rote.invalid";

// Non-copyable. Serves on its own threads from start() until destruction; requests() may be called from
// any thread.
class EgressProxy {
public:
    static Result<std::unique_ptr<EgressProxy>> start(EgressProxyOptions options);
    ~EgressProxy();
    EgressProxy(const EgressProxy&) = delete;
    EgressProxy& operator=(const EgressProxy&) = delete;

    const std::filesystem::path& socket_path() const;
    std::vector<ProxyRequest> requests() const;
    // How many times the start redirect was served (a restored VM's browser has left its waiting page).
    int start_redirects() const;
    // A held start (EgressProxyOptions::hold_start) goes to `url`: the waiting page's next poll is answered and
    // redirected there. Once only; afterwards, or without a hold, it fails.
    Result<void> release_start(const std::string& url);

    // The sandbox's traffic at a glance, for telling a page that looks still from one that has loaded:
    // requests being answered now (a tunnel's requests cannot be seen, so tunnels count only through `last`),
    // and when a request last began or ended or a tunnel last moved bytes (the proxy's start, before any).
    struct Activity {
        int in_flight = 0;
        std::chrono::steady_clock::time_point last;
    };
    Activity activity() const;

    // Tags the requests whose headers come from now on (ProxyRequest::step): the agent sets the index of the
    // step it is carrying out.
    void set_step(int step);

    struct Impl;

private:
    explicit EgressProxy(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

} // namespace rote::runtime
