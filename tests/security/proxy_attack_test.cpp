// The egress proxy attacked as a compromised browser would attack it, through the same unix socket the
// sandbox's forwarder connects to: allowed names and literal addresses that lead to this machine, a private
// network or a metadata service; a route's port; a trailing dot; a forged Host header.

#include <doctest/doctest.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <rote/egress/egress_proxy.h>
#include <rote/sandbox/sandbox.h>
#include <rote/session/session.h>

#include "runtime/support.h"

using namespace rote;
namespace fs = std::filesystem;

namespace {

struct Proxy {
    explicit Proxy(std::vector<std::string> allowlist, std::map<std::string, std::string> routes = {})
    {
        auto root = runtime::runtime_root();
        REQUIRE(root);
        static int made = 0; // several proxies may be alive in one test
        options.socket_path = *root / ("attack-" + std::to_string(::getpid()) + "-" + std::to_string(++made) + ".sock");
        options.allowlist = std::move(allowlist);
        options.routes = std::move(routes);
        auto started = runtime::EgressProxy::start(options);
        REQUIRE_MESSAGE(started, (started ? "" : started.error().message()));
        proxy = std::move(*started);
    }
    runtime::EgressProxyOptions options;
    std::unique_ptr<runtime::EgressProxy> proxy;
};

} // namespace

TEST_CASE("addresses of this machine, private networks and metadata services are refused, by GET and CONNECT")
{
    // This machine's loopback listener: every spelling of it below must be refused before any connection.
    test::CountingListener host_service;
    const std::string port = std::to_string(host_service.port);
    const std::vector<std::string> attempts = {"0.0.0.0", "127.0.0.1", "127.0.0.2", "[::ffff:127.0.0.1]", "[::1]",
        "[::]", "[::ffff:0.0.0.0]", "[64:ff9b::7f00:1]", "169.254.169.254", "10.1.2.3", "172.16.0.9", "192.168.1.1",
        "100.64.0.1", "[fd00::1]", "[fe80::1]", "224.0.0.1", "255.255.255.255"};
    std::vector<std::string> allowlist;
    for (const std::string& a : attempts)
        allowlist.push_back(a.front() == '[' ? a.substr(1, a.size() - 2) : a);
    allowlist.push_back("localhost");
    Proxy p(allowlist);
    for (std::string target : attempts) {
        CAPTURE(target);
        const std::string get = test::ask_proxy(p.options.socket_path,
            "GET http://" + target + ":" + port + "/secret HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        CHECK(get.starts_with("HTTP/1.1 502"));
        CHECK(get.find("only a route may point the sandbox there") != std::string::npos);
        const std::string tunnel = test::ask_proxy(p.options.socket_path,
            "CONNECT " + target + ":" + port + " HTTP/1.1\r\nHost: " + target + ":" + port + "\r\n\r\n");
        CHECK(tunnel.starts_with("HTTP/1.1 502"));
    }
    // A name whose DNS answer is this machine: the same.
    CHECK(test::ask_proxy(p.options.socket_path, "GET http://localhost:" + port + "/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
              .starts_with("HTTP/1.1 502"));
    CHECK(host_service.accepted == 0);
    for (const char* address : {"8.8.8.8", "2001:4860:4860::8888", "93.184.216.34"})
        CHECK(runtime::forbidden_address(address).empty());
    CHECK(runtime::forbidden_address("::ffff:10.0.0.1") == "a private address");
}

TEST_CASE("a route names one port; a trailing dot or upper case does not skip it; Host is the target's")
{
    test::DemoSite site = test::DemoSite::start().value();
    // A route without a port would open every port of the address: refused at start.
    runtime::EgressProxyOptions bad;
    bad.socket_path = runtime::runtime_root().value() / ("attack-bad-" + std::to_string(::getpid()) + ".sock");
    bad.allowlist = {"registry.example.test"};
    bad.routes = {{"registry.example.test", "127.0.0.1"}};
    CHECK_FALSE(runtime::EgressProxy::start(bad).ok());

    Proxy p({"registry.example.test"}, {{"registry.example.test", site.registry_route()}});
    for (const std::string host : {"registry.example.test.", "REGISTRY.Example.Test", "Registry.Example.Test."}) {
        CAPTURE(host);
        const std::string answer = test::ask_proxy(p.options.socket_path,
            "GET http://" + host + "/ HTTP/1.1\r\nHost: evil.example.org\r\nConnection: close\r\n\r\n");
        CHECK(answer.starts_with("HTTP/1.1 200"));
        CHECK(answer.find("Company") != std::string::npos);
    }
    for (const auto& r : p.proxy->requests())
        CHECK(r.host == "registry.example.test");

    // Names in Unicode: the allowlist and the route in one spelling with what the browser sends (IDNA's
    // ASCII form), and a look-alike without the umlaut is another name.
    Proxy idn({"bücher.example"}, {{"BÜCHER.example", site.registry_route()}});
    for (const std::string host : {"xn--bcher-kva.example", "bücher.example", "XN--BCHER-KVA.example."}) {
        CAPTURE(host);
        const std::string answer = test::ask_proxy(idn.options.socket_path,
            "GET http://" + host + "/ HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n");
        CHECK(answer.starts_with("HTTP/1.1 200"));
    }
    const std::string lookalike = test::ask_proxy(idn.options.socket_path,
        "GET http://bucher.example/ HTTP/1.1\r\nHost: bucher.example\r\nConnection: close\r\n\r\n");
    CHECK(lookalike.starts_with("HTTP/1.1 403"));
    for (const auto& r : idn.proxy->requests())
        CHECK((r.host == "xn--bcher-kva.example" || r.host == "bucher.example"));
}

TEST_CASE("200 concurrent requests from inside a sandbox's network are all served")
{
    test::DemoSite site = test::DemoSite::start().value();
    auto started = test::start_registry_session(site, false);
    REQUIRE_MESSAGE(started, (started ? "" : started.error().message()));
    auto& session = *started;
    // The namespace's init is the second process of the tree (bwrap's child); curl runs in its network
    // namespace, where the sandbox's forwarder listens on 127.0.0.1:3128, as the browser's requests do.
    const auto pids = session->sandbox().pids();
    REQUIRE(pids.size() >= 2);
    // The forwarder may still be starting when the sandbox is handed out.
    test::run_shell("for i in $(seq 100); do nsenter -t " + std::to_string(pids[1])
        + " -n curl -s -o /dev/null -x http://127.0.0.1:3128 http://registry.example.test/ && break; sleep 0.05; done");
    auto run = test::run_shell("seq 200 | nsenter -t " + std::to_string(pids[1])
        + " -n xargs -P 200 -I{} curl -s -o /dev/null --connect-timeout 0.9 --max-time 20 -w '%{http_code}\\n' -x http://127.0.0.1:3128 "
          "'http://registry.example.test/search?q={}' | sort | uniq -c");
    INFO(run.out);
    CHECK(run.out.find("200 200") != std::string::npos);
}

namespace {

// A connection to the proxy's socket, as the sandbox's forwarder makes one; -1 when it cannot connect.
int connect_to(const fs::path& socket)
{
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr {};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket.c_str(), sizeof addr.sun_path - 1);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        if (fd >= 0)
            ::close(fd);
        return -1;
    }
    timeval tv {10, 0}; // a test never hangs on a proxy that does not answer
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

// Everything the proxy sends on `fd` until it closes it (or 10 s pass).
std::string read_all(int fd)
{
    std::string out;
    char buffer[4096];
    while (true) {
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0)
            return out;
        out.append(buffer, static_cast<std::size_t>(n));
    }
}

} // namespace

TEST_CASE("half a request line is answered 408 at the header deadline; slow connections never stop others; a flood gets 503")
{
    test::DemoSite site = test::DemoSite::start().value();
    runtime::EgressProxyOptions options;
    options.socket_path = runtime::runtime_root().value() / ("attack-slow-" + std::to_string(::getpid()) + ".sock");
    options.allowlist = {"registry.example.test"};
    options.routes = {{"registry.example.test", site.registry_route()}};
    options.header_timeout = std::chrono::milliseconds(1500);
    options.idle_timeout = std::chrono::milliseconds(1500);
    options.max_connections = 40;
    auto proxy = runtime::EgressProxy::start(options);
    REQUIRE(proxy.ok());

    // 20 connections that begin a request and never finish its line (slowloris).
    std::vector<int> slow;
    for (int i = 0; i < 20; ++i) {
        const int fd = connect_to(options.socket_path);
        REQUIRE(fd >= 0);
        const std::string half = "GET http://registry.example.test/ HT";
        REQUIRE(::send(fd, half.data(), half.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(half.size()));
        slow.push_back(fd);
    }
    // Meanwhile the sandbox's other requests are served at once.
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 5; ++i) {
        const std::string answer = test::ask_proxy(options.socket_path,
            "GET http://registry.example.test/ HTTP/1.1\r\nHost: registry.example.test\r\nConnection: close\r\n\r\n");
        CHECK(answer.starts_with("HTTP/1.1 200"));
    }
    CHECK(std::chrono::steady_clock::now() - start < options.header_timeout); // before any slow one timed out
    // At the deadline each slow one is answered 408 and closed, and the log says so.
    for (int fd : slow) {
        CHECK(read_all(fd).starts_with("HTTP/1.1 408"));
        ::close(fd);
    }
    int timed_out = 0;
    for (const auto& r : (*proxy)->requests())
        timed_out += r.status == 408 ? 1 : 0;
    CHECK(timed_out == 20);

    // A flood of connections that send nothing: past the limit each is answered 503 at once; when the idle
    // ones are closed at their deadline, requests are served again.
    std::vector<int> idle;
    for (int i = 0; i < options.max_connections; ++i) {
        const int fd = connect_to(options.socket_path);
        REQUIRE(fd >= 0);
        idle.push_back(fd);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200)); // the proxy has accepted them all
    const int over = connect_to(options.socket_path);
    REQUIRE(over >= 0);
    CHECK(read_all(over).starts_with("HTTP/1.1 503"));
    ::close(over);
    for (int fd : idle) {
        CHECK(read_all(fd).empty()); // closed without a word: they never began a request
        ::close(fd);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    CHECK(test::ask_proxy(options.socket_path,
        "GET http://registry.example.test/ HTTP/1.1\r\nHost: registry.example.test\r\nConnection: close\r\n\r\n")
              .starts_with("HTTP/1.1 200"));
    int refused = 0;
    for (const auto& r : (*proxy)->requests())
        refused += r.status == 503 && r.refused.find("over the limit of 40 connections") != std::string::npos ? 1 : 0;
    CHECK(refused == 1);
}
