// The egress proxy over its unix socket, with the demo sites as the world behind it.

#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <rote/base/text.h>
#include <rote/egress/egress_proxy.h>
#include <rote/sandbox/sandbox.h>

#include "support.h"

using namespace rote;
namespace fs = std::filesystem;

namespace {

struct ProxyFixture {
    ProxyFixture()
        : site(test::DemoSite::start().value())
    {
        auto root = runtime::runtime_root();
        REQUIRE(root);
        options.socket_path = *root / ("test-proxy-" + std::to_string(::getpid()) + ".sock");
        options.log_path = *root / ("test-proxy-" + std::to_string(::getpid()) + ".log");
        options.allowlist = {"registry.example.test", "*.crm.test", "localhost"};
        options.routes = {{"registry.example.test", site.registry_route()}, {"app.crm.test", site.crm_route()}};
        auto started = runtime::EgressProxy::start(options);
        REQUIRE_MESSAGE(started, (started ? "" : started.error().message()));
        proxy = std::move(*started);
    }
    ~ProxyFixture()
    {
        proxy.reset();
        fs::remove(options.log_path);
    }
    test::DemoSite site;
    runtime::EgressProxyOptions options;
    std::unique_ptr<runtime::EgressProxy> proxy;
};

} // namespace

TEST_CASE_FIXTURE(ProxyFixture, "absolute-URI requests to an allowed host are forwarded to its route")
{
    std::string answer = test::ask_proxy(options.socket_path,
        "GET http://registry.example.test/search?q=globex HTTP/1.1\r\nHost: registry.example.test\r\n"
        "Proxy-Connection: close\r\nConnection: close\r\n\r\n");
    CHECK(answer.starts_with("HTTP/1.1 200"));
    CHECK(answer.find("Globex Corporation Ltd") != std::string::npos);

    // A POST with a body, to a wildcard-allowed host: the CRM's login (its form's token, and the cookie it
    // must equal) answers with a session cookie.
    const std::string token(32, 'c');
    std::string body = "csrf_token=" + token + "&user=demo&password=demo-pass";
    answer = test::ask_proxy(options.socket_path,
        "POST http://app.crm.test/login HTTP/1.1\r\nHost: app.crm.test\r\nContent-Type: "
        "application/x-www-form-urlencoded\r\nCookie: login_csrf=" + token + "\r\n"
        "Content-Length: "
            + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
    CHECK(answer.starts_with("HTTP/1.1 303"));
    CHECK(answer.find("Set-Cookie: session=") != std::string::npos);

    // HEAD has no body to wait for.
    answer = test::ask_proxy(options.socket_path,
        "HEAD http://registry.example.test/ HTTP/1.1\r\nHost: registry.example.test\r\nConnection: close\r\n\r\n");
    CHECK(answer.starts_with("HTTP/1.1 200"));

    auto log = proxy->requests();
    REQUIRE(log.size() == 3);
    CHECK(log[0].method == "GET");
    CHECK(log[0].host == "registry.example.test");
    CHECK(log[0].path == "/search?q=globex");
    CHECK(log[0].status == 200);
    CHECK(log[0].bytes_out > 500);
    CHECK(log[1].method == "POST");
    CHECK(log[1].bytes_in == body.size());
    CHECK(log[1].status == 303);
}

TEST_CASE_FIXTURE(ProxyFixture, "CONNECT opens a tunnel to an allowed host and carries bytes both ways")
{
    std::string answer = test::ask_proxy(options.socket_path,
        "CONNECT registry.example.test:443 HTTP/1.1\r\nHost: registry.example.test:443\r\n\r\n"
        "GET /company/05583120 HTTP/1.1\r\nHost: registry.example.test\r\nConnection: close\r\n\r\n");
    CHECK(answer.starts_with("HTTP/1.1 200 Connection Established\r\n\r\nHTTP/1.1 200"));
    CHECK(answer.find("88 Harbour Road") != std::string::npos);
    // The tunnel is logged when both directions have ended, a moment after our side closed.
    auto log = proxy->requests();
    for (int i = 0; i < 200 && log.empty(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        log = proxy->requests();
    }
    REQUIRE(log.size() == 1);
    CHECK(log[0].method == "CONNECT");
    CHECK(log[0].port == 443);
    CHECK(log[0].status == 200);
    CHECK(log[0].bytes_out > 500);
}

TEST_CASE_FIXTURE(ProxyFixture, "hosts off the allowlist get a 403 page that says why, and the refusal is logged")
{
    std::string answer
        = test::ask_proxy(options.socket_path, "GET http://evil.example.org/x HTTP/1.1\r\nHost: evil.example.org\r\n\r\n");
    CHECK(answer.starts_with("HTTP/1.1 403"));
    CHECK(answer.find("evil.example.org is not on this sandbox&#39;s allowlist") == std::string::npos);
    CHECK(answer.find("evil.example.org is not on this sandbox's allowlist") != std::string::npos);
    answer = test::ask_proxy(options.socket_path, "CONNECT crm.test:443 HTTP/1.1\r\nHost: crm.test:443\r\n\r\n");
    CHECK(answer.starts_with("HTTP/1.1 403"));

    // Allowed by name but resolving to this machine, with no route: refused, so DNS cannot open the host.
    answer = test::ask_proxy(options.socket_path, "GET http://localhost:22/ HTTP/1.1\r\nHost: localhost\r\n\r\n");
    CHECK(answer.starts_with("HTTP/1.1 502"));
    CHECK(answer.find("loopback") != std::string::npos);

    // Not a proxy request at all.
    answer = test::ask_proxy(options.socket_path, "GET /relative HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(answer.starts_with("HTTP/1.1 400"));

    auto log = proxy->requests();
    REQUIRE(log.size() == 4);
    CHECK(log[0].host == "evil.example.org");
    CHECK(log[0].status == 403);
    CHECK(log[1].method == "CONNECT");
    CHECK(log[1].status == 403);
    CHECK(log[2].status == 502);

    // The JSON-lines log holds the same.
    std::ifstream in(options.log_path);
    std::string line;
    REQUIRE(std::getline(in, line));
    auto first = nlohmann::json::parse(line);
    CHECK(first["host"] == "evil.example.org");
    CHECK(first["status"] == 403);
    CHECK(first["path"] == "/x");
}

TEST_CASE("a route that is not HOST:PORT is refused at start")
{
    runtime::EgressProxyOptions options;
    options.socket_path = fs::temp_directory_path() / "rote-bad-route.sock";
    options.routes = {{"a.test", "nowhere"}};
    auto proxy = runtime::EgressProxy::start(options);
    REQUIRE_FALSE(proxy);
    CHECK(proxy.error().code() == Error::Code::invalid_argument);
}

TEST_CASE_FIXTURE(ProxyFixture, "activity: a request counts as in flight until it is answered, and marks the time")
{
    const auto before = std::chrono::steady_clock::now();
    CHECK(proxy->activity().in_flight == 0);
    std::string answer;
    std::thread slow([&] {
        // The slow variant answers after 1.5 s.
        answer = test::ask_proxy(options.socket_path,
            "GET http://registry.example.test/?variant=slow HTTP/1.1\r\nHost: registry.example.test\r\n"
            "Connection: close\r\n\r\n");
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const auto during = proxy->activity();
    slow.join();
    const auto answered = std::chrono::steady_clock::now();
    CHECK(answer.starts_with("HTTP/1.1 200"));
    CHECK(during.in_flight == 1);
    CHECK(during.last >= before);
    const auto after = proxy->activity();
    CHECK(after.in_flight == 0);
    CHECK(after.last >= before + std::chrono::milliseconds(1400)); // when the answer went out, not when asked
    CHECK(after.last <= answered);
}

TEST_CASE("a held start: the waiting page's poll gets 404 until release_start names the page, then a redirect once")
{
    auto root = runtime::runtime_root();
    REQUIRE(root);
    runtime::EgressProxyOptions options;
    options.socket_path = *root / ("test-held-" + std::to_string(::getpid()) + ".sock");
    options.allowlist = {"registry.example.test"};
    options.hold_start = true;
    auto proxy = runtime::EgressProxy::start(options);
    REQUIRE(proxy);
    const auto ask = [&](const std::string& path) {
        return test::ask_proxy(options.socket_path,
            "GET http://start.rote.invalid" + path + " HTTP/1.1\r\nHost: start.rote.invalid\r\nConnection: close\r\n\r\n");
    };
    CHECK(ask("/ping?1").starts_with("HTTP/1.1 404"));
    CHECK(ask("/").starts_with("HTTP/1.1 404"));
    CHECK((*proxy)->start_redirects() == 0);
    CHECK_FALSE((*proxy)->release_start("file:///etc/passwd").ok());
    REQUIRE((*proxy)->release_start("http://registry.example.test/").ok());
    CHECK((*proxy)->release_start("http://registry.example.test/").error().code() == Error::Code::conflict);
    CHECK(ask("/ping?2").starts_with("HTTP/1.1 200"));
    const std::string redirect = ask("/");
    CHECK(redirect.starts_with("HTTP/1.1 302"));
    CHECK(redirect.find("Location: http://registry.example.test/") != std::string::npos);
    CHECK((*proxy)->start_redirects() == 1);
    CHECK(ask("/ping?3").starts_with("HTTP/1.1 404")); // once only
    CHECK((*proxy)->requests().empty()); // the waiting page's requests never leave rote, and are not logged

    // Without a hold, there is nothing to release.
    runtime::EgressProxyOptions plain;
    plain.socket_path = *root / ("test-plain-" + std::to_string(::getpid()) + ".sock");
    plain.allowlist = {"registry.example.test"};
    auto other = runtime::EgressProxy::start(plain);
    REQUIRE(other);
    CHECK((*other)->release_start("http://registry.example.test/").error().code() == Error::Code::conflict);
}

TEST_CASE("with capture, the proxy keeps each exchange's headers and text bodies, never a cookie's or a credential's "
          "value, bodies cut at the bound, and the step each came in")
{
    auto site = test::DemoSite::start();
    REQUIRE(site);
    auto root = runtime::runtime_root();
    REQUIRE(root);
    runtime::EgressProxyOptions options;
    options.socket_path = *root / ("test-capture-" + std::to_string(::getpid()) + ".sock");
    options.allowlist = {"registry.example.test", "crm.example.test"};
    options.routes = {{"registry.example.test", site->registry_route()}, {"crm.example.test", site->crm_route()}};
    options.capture_limit = 600;
    auto proxy = runtime::EgressProxy::start(options);
    REQUIRE(proxy);

    (*proxy)->set_step(3);
    const std::string token(32, 'c');
    const std::string body = "csrf_token=" + token + "&user=demo&password=demo-pass";
    std::string answer = test::ask_proxy(options.socket_path,
        "POST http://crm.example.test/login HTTP/1.1\r\nHost: crm.example.test\r\nContent-Type: "
        "application/x-www-form-urlencoded\r\nCookie: consent=yes; login_csrf=" + token + "\r\nAuthorization: Basic "
        "ZGVtbzpkZW1vLXBhc3M=\r\nContent-Length: "
            + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
    REQUIRE(answer.starts_with("HTTP/1.1 303"));
    (*proxy)->set_step(4);
    answer = test::ask_proxy(options.socket_path,
        "GET http://registry.example.test/company/08431277 HTTP/1.1\r\nHost: registry.example.test\r\nConnection: close\r\n\r\n");
    REQUIRE(answer.starts_with("HTTP/1.1 200"));

    const auto log = (*proxy)->requests();
    REQUIRE(log.size() == 2);
    REQUIRE(log[0].capture);
    CHECK(log[0].step == 3);
    CHECK(log[1].step == 4);
    const auto& login = *log[0].capture;
    CHECK(login.request_body == body); // the agent replaces secrets before anything is stored
    auto field = [](const runtime::HeaderFields& fields, const std::string& name) {
        for (const auto& [n, v] : fields) {
            if (ascii_lower(n) == name)
                return v;
        }
        return std::string("(none)");
    };
    CHECK(field(login.request_headers, "cookie") == "consent; login_csrf");
    CHECK(field(login.request_headers, "authorization") == "Basic");
    const std::string set_cookie = field(login.response_headers, "set-cookie");
    CHECK(set_cookie.starts_with("session;"));
    CHECK(set_cookie.find("Path=/") != std::string::npos);
    CHECK(field(login.response_headers, "location") == "/leads/new");
    // The company page is longer than the bound: its first 600 bytes are kept, and it says so.
    const auto& page = *log[1].capture;
    CHECK(page.response_body.size() == 600);
    CHECK(page.truncated);
    CHECK(page.response_body.starts_with("<!doctype html>"));
    // Nothing captured without a bound (the default).
    CHECK_FALSE(runtime::EgressProxyOptions {}.capture_limit > 0);
}

TEST_CASE("capture_header keeps a cookie's name, a Set-Cookie's name and attributes, a credential's scheme")
{
    CHECK(runtime::capture_header("Cookie", "a=1; b = two;c") == "a; b; c");
    CHECK(runtime::capture_header("set-cookie", "session=abc123; Path=/; HttpOnly") == "session; Path=/; HttpOnly");
    CHECK(runtime::capture_header("Set-Cookie", "flag") == "flag");
    CHECK(runtime::capture_header("Authorization", "Bearer eyJhbGciOi") == "Bearer");
    CHECK(runtime::capture_header("Proxy-Authorization", "Basic dXNlcjpwdw==") == "Basic");
    CHECK(runtime::capture_header("Content-Type", "text/html") == "text/html");
}
