// The egress proxy against real web servers from Debian packages (nginx, Apache, lighttpd, PHP's built-in
// server, Python's http.server), each serving the same pages on loopback: what comes through the proxy is
// what the server sent, byte for byte, however the server framed it, and the log says how it was framed.

#include <doctest/doctest.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <thread>

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include <rote/desktop/desktop.h>
#include <rote/egress/egress_proxy.h>
#include <rote/sandbox/process.h>
#include <rote/sandbox/sandbox.h>
#include <rote/session/session.h>

#include "runtime/support.h"

using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using local = asio::local::stream_protocol;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kBigBytes = 6 << 20;

void write_file(const fs::path& p, const std::string& text, fs::perms perms = fs::perms::owner_read
        | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read)
{
    std::ofstream(p, std::ios::binary) << text;
    fs::permissions(p, perms);
}

template<typename Socket> void set_receive_timeout(Socket& s, int seconds)
{
    timeval tv {seconds, 0};
    ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

// One web server of a Debian package, on a loopback port of its own, serving `docroot`.
struct Server {
    std::string name;
    int port = 0;
    pid_t pid = -1;
};

// The pages every server serves, the servers, and the proxy in front of them: made once for all cases.
struct World {
    fs::path dir;
    fs::path docroot;
    std::vector<Server> servers;
    rote::runtime::EgressProxyOptions options;
    std::unique_ptr<rote::runtime::EgressProxy> proxy;

    static World& get()
    {
        static World world;
        return world;
    }

    World()
    {
        char name[] = "/tmp/rote-conformance-XXXXXX";
        REQUIRE(::mkdtemp(name) != nullptr);
        dir = name;
        docroot = dir / "doc";
        fs::create_directories(docroot / "cgi-bin");
        // Servers that drop to nobody must walk to the pages.
        for (const fs::path& d : {dir, docroot, docroot / "cgi-bin"})
            fs::permissions(d, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec
                    | fs::perms::others_read | fs::perms::others_exec);
        write_file(docroot / "page.html",
            "<!doctype html><html><head><link rel=\"stylesheet\" href=\"style.css\"></head>"
            "<body><h1>Conformance page</h1></body></html>\n");
        write_file(docroot / "style.css", "body { background: rgb(255, 236, 150); color: black; }\n");
        std::string text;
        for (int i = 0; text.size() < 300000; ++i)
            text += "line " + std::to_string(i) + ": the quick brown fox jumps over the lazy dog\n";
        write_file(docroot / "text.txt", text);
        std::string big(kBigBytes, '\0');
        std::mt19937 random(7);
        for (char& c : big)
            c = static_cast<char>(random());
        write_file(docroot / "big.bin", big);
        // PHP scripts answer close-delimited (Connection: close, no length): the framing that broke the proxy.
        rote::test::ClosedPages::write(docroot);
        write_file(docroot / "echo.php",
            "<?php header('Content-Type: text/plain'); echo $_SERVER['REQUEST_METHOD'], ' ', "
            "$_SERVER['HTTP_HOST'], ' ', file_get_contents('php://input');");
        write_file(docroot / "nocontent.php", "<?php http_response_code(204);");
        // Python's CGI answers HTTP/1.0 with a body that ends when the connection does, written as the script
        // writes it (PHP's built-in server holds a script's output until it ends).
        write_file(docroot / "cgi-bin" / "stream.sh",
            "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\necho 'first piece'\nsleep 1.5\necho 'last piece'\n",
            fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec | fs::perms::others_read
                | fs::perms::others_exec);
        write_file(docroot / "cgi-bin" / "close.sh",
            "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\ncat " + (docroot / "text.txt").string() + "\n",
            fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec | fs::perms::others_read
                | fs::perms::others_exec);

        start("nginx", [&](int port) {
            write_file(dir / "nginx.conf",
                "daemon off; master_process off; pid " + (dir / "nginx.pid").string() + "; error_log "
                    + (dir / "nginx-error.log").string()
                    + "; events {} http { access_log off; types { text/html html; text/css css; text/plain txt; "
                      "application/octet-stream bin; } client_body_temp_path "
                    + dir.string() + "; proxy_temp_path " + dir.string() + "; fastcgi_temp_path " + dir.string()
                    + "; uwsgi_temp_path " + dir.string() + "; scgi_temp_path " + dir.string()
                    + "; gzip on; gzip_types text/plain; gzip_min_length 1; server { listen 127.0.0.1:"
                    + std::to_string(port) + "; root " + docroot.string() + "; } }\n");
            return std::vector<std::string> {"nginx", "-p", dir.string(), "-c", (dir / "nginx.conf").string()};
        });
        start("apache", [&](int port) {
            std::string modules;
            for (const char* m : {"mpm_prefork", "authz_core", "mime", "dir", "filter", "deflate"})
                modules += std::string("LoadModule ") + m + "_module /usr/lib/apache2/modules/mod_" + m + ".so\n";
            write_file(dir / "apache.conf",
                modules + "ServerName localhost\nListen 127.0.0.1:" + std::to_string(port) + "\nPidFile "
                    + (dir / "apache.pid").string() + "\nErrorLog " + (dir / "apache-error.log").string()
                    + "\nUser nobody\nGroup nogroup\nTypesConfig /etc/mime.types\nDocumentRoot " + docroot.string()
                    + "\n<Directory " + docroot.string()
                    + ">\nRequire all granted\n</Directory>\nAddOutputFilterByType DEFLATE text/plain\n");
            return std::vector<std::string> {"apache2", "-X", "-f", (dir / "apache.conf").string()};
        });
        start("lighttpd", [&](int port) {
            write_file(dir / "lighttpd.conf",
                "server.document-root = \"" + docroot.string() + "\"\nserver.bind = \"127.0.0.1\"\nserver.port = "
                    + std::to_string(port) + "\nserver.username = \"nobody\"\nserver.groupname = \"nogroup\"\n"
                    + "server.errorlog = \"" + (dir / "lighttpd-error.log").string()
                    + "\"\nmimetype.assign = (\".html\" => \"text/html\", \".css\" => \"text/css\", \".txt\" => "
                      "\"text/plain\", \".bin\" => \"application/octet-stream\")\n");
            return std::vector<std::string> {"lighttpd", "-D", "-f", (dir / "lighttpd.conf").string()};
        });
        start("php", [&](int port) {
            return std::vector<std::string> {"php", "-S", "127.0.0.1:" + std::to_string(port), "-t", docroot.string()};
        });
        start("python", [&](int port) {
            return std::vector<std::string> {"sh", "-c",
                "cd " + docroot.string() + " && exec /usr/bin/python3 -m http.server --cgi --bind 127.0.0.1 "
                    + std::to_string(port)};
        });
        // A WebSocket server from Debian (websockify, as the live view uses) in front of a TCP service that
        // greets every connection as a VNC server does.
        start("greeter", [&](int port) {
            return std::vector<std::string> {"socat", "TCP-LISTEN:" + std::to_string(port) + ",bind=127.0.0.1,reuseaddr,fork",
                "SYSTEM:echo RFB 003.008"};
        });
        start("websocket", [&](int port) {
            return std::vector<std::string> {"websockify", "127.0.0.1:" + std::to_string(port),
                "127.0.0.1:" + std::to_string(server("greeter").port)};
        });

        auto root = rote::runtime::runtime_root();
        REQUIRE(root);
        options.socket_path = *root / ("conformance-" + std::to_string(::getpid()) + ".sock");
        options.log_path = dir / "proxy.log";
        for (const Server& s : servers) {
            options.allowlist.push_back(host(s.name));
            options.routes[host(s.name)] = "127.0.0.1:" + std::to_string(s.port);
        }
        options.allowlist.push_back("broken.conformance.test");
        auto started = rote::runtime::EgressProxy::start(options);
        REQUIRE_MESSAGE(started, (started ? "" : started.error().message()));
        proxy = std::move(*started);
    }

    ~World()
    {
        proxy.reset();
        for (const Server& s : servers) {
            ::kill(s.pid, SIGTERM);
            ::waitpid(s.pid, nullptr, 0);
        }
        std::error_code ec;
        fs::remove_all(dir, ec);
    }

    static std::string host(const std::string& server) { return server + ".conformance.test"; }

    const Server& server(const std::string& name) const
    {
        for (const Server& s : servers) {
            if (s.name == name)
                return s;
        }
        FAIL("no server " << name);
        return servers.front();
    }

    template<typename MakeArgv> void start(const std::string& name, MakeArgv make_argv)
    {
        Server s {name, rote::test::free_loopback_port()};
        auto pid = rote::runtime::spawn(make_argv(s.port), dir / (name + ".out"));
        REQUIRE_MESSAGE(pid, name << ": " << (pid ? "" : pid.error().message()));
        s.pid = *pid;
        const auto deadline = Clock::now() + 15s;
        while (!rote::test::accepts(s.port)) {
            REQUIRE_MESSAGE(Clock::now() < deadline, name << " did not listen: " << rote::test::read_file(dir / (name + ".out")));
            std::this_thread::sleep_for(20ms);
        }
        servers.push_back(s);
    }

    // The proxy's log, one JSON object a request.
    std::vector<nlohmann::json> log() const
    {
        std::vector<nlohmann::json> lines;
        std::ifstream in(options.log_path);
        std::string line;
        while (std::getline(in, line))
            lines.push_back(nlohmann::json::parse(line));
        return lines;
    }
};

using Response = http::response<http::string_body>;

// A connection a browser would hold: to the proxy (absolute-form requests) or straight to a server.
template<typename Socket> struct Connection {
    asio::io_context io;
    Socket socket {io};
    boost::beast::flat_buffer buffer;

    void send(const std::string& bytes) { asio::write(socket, asio::buffer(bytes)); }

    // The next answer, complete, without waiting for the connection to close (a browser keeping it alive
    // must know where the body ends); nullopt after 10 s or on a broken message.
    std::optional<Response> receive(bool head = false)
    {
        http::response_parser<http::string_body> parser;
        parser.body_limit(std::numeric_limits<std::uint64_t>::max());
        parser.skip(head);
        boost::system::error_code ec;
        http::read(socket, buffer, parser, ec);
        if (ec) {
            MESSAGE("reading an answer failed: " << ec.message());
            return std::nullopt;
        }
        return parser.release();
    }

    bool closed_by_peer()
    {
        char byte;
        boost::system::error_code ec;
        socket.read_some(asio::buffer(&byte, 1), ec);
        return ec == asio::error::eof || ec == asio::error::connection_reset;
    }
};

std::unique_ptr<Connection<local::socket>> to_proxy()
{
    auto c = std::make_unique<Connection<local::socket>>();
    c->socket.connect(local::endpoint(World::get().options.socket_path.string()));
    set_receive_timeout(c->socket, 10);
    return c;
}

std::unique_ptr<Connection<tcp::socket>> to_server(int port)
{
    auto c = std::make_unique<Connection<tcp::socket>>();
    c->socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
    set_receive_timeout(c->socket, 10);
    return c;
}

std::string request(const std::string& method, const std::string& target, const std::string& host,
    const std::string& extra = "", const std::string& version = "1.1")
{
    return method + " " + target + " HTTP/" + version + "\r\nHost: " + host + "\r\n" + extra + "\r\n";
}

// GET `path` from `server` directly and through the proxy; both answers.
std::pair<Response, Response> both_ways(const Server& s, const std::string& path, const std::string& extra = "")
{
    const std::string host = World::host(s.name);
    auto direct = to_server(s.port);
    direct->send(request("GET", path, host, extra + "Connection: close\r\n"));
    auto d = direct->receive();
    REQUIRE_MESSAGE(d, s.name << " " << path << " directly");
    auto proxied = to_proxy();
    proxied->send(request("GET", "http://" + host + path, host, extra));
    auto p = proxied->receive();
    REQUIRE_MESSAGE(p, s.name << " " << path << " through the proxy (an HTTP/1.1 browser keeping the connection)");
    return {*d, *p};
}

nlohmann::json last_log_line_for(const std::string& host, const std::string& path)
{
    for (int i = 0; i < 100; ++i) {
        auto lines = World::get().log();
        for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
            if ((*it)["host"] == host && (*it)["path"] == path)
                return *it;
        }
        std::this_thread::sleep_for(20ms);
    }
    FAIL("no log line for " << host << path);
    return {};
}

} // namespace

TEST_CASE("every server's pages come through the proxy byte for byte, with the framing logged")
{
    World& world = World::get();
    struct Case {
        std::string server, path, extra, framing; // framing: what the log must say the site used
    };
    std::vector<Case> cases;
    for (const char* name : {"nginx", "apache", "lighttpd", "php", "python"}) {
        cases.push_back({name, "/page.html", "", "length"});
        cases.push_back({name, "/style.css", "", "length"});
        cases.push_back({name, "/big.bin", "", "length"});
    }
    // Compressed on the fly (nginx chunked, Apache with a length), passed through still compressed.
    cases.push_back({"nginx", "/text.txt", "Accept-Encoding: gzip\r\n", "chunked"});
    cases.push_back({"apache", "/text.txt", "Accept-Encoding: gzip\r\n", "length"});
    // Bodies that end when the server closes: PHP scripts (HTTP/1.1) and Python's CGI (HTTP/1.0).
    cases.push_back({"php", "/style.php", "", "close"});
    cases.push_back({"php", "/page.php", "", "close"});
    cases.push_back({"python", "/cgi-bin/close.sh", "", "close"});
    for (const Case& c : cases) {
        CAPTURE(c.server);
        CAPTURE(c.path);
        auto [direct, proxied] = both_ways(world.server(c.server), c.path, c.extra);
        CHECK(proxied.result_int() == direct.result_int());
        CHECK(proxied.body().size() == direct.body().size());
        CHECK(proxied.body() == direct.body());
        CHECK(proxied[http::field::content_encoding] == direct[http::field::content_encoding]);
        CHECK(proxied[http::field::content_type] == direct[http::field::content_type]);
        if (c.path == "/big.bin")
            CHECK(proxied.body() == rote::test::read_file(world.docroot / "big.bin"));
        if (!c.extra.empty())
            CHECK(proxied[http::field::content_encoding] == "gzip");
        auto line = last_log_line_for(World::host(c.server), c.path);
        CHECK(line["status"] == direct.result_int());
        CHECK(line["framing"] == c.framing);
        CHECK(line["complete"] == true);
        CHECK(line["bytes_out"] == direct.body().size());
    }
}

TEST_CASE("one kept-alive connection carries HEAD, 304, 204 and pipelined requests in order")
{
    World& world = World::get();
    for (const std::string name : {"nginx", "apache", "lighttpd", "php", "python"}) {
        CAPTURE(name);
        const std::string host = World::host(name);
        const std::string url = "http://" + host;
        auto c = to_proxy();
        // HEAD: the length of a body that does not come; the connection goes on.
        c->send(request("HEAD", url + "/big.bin", host));
        auto head = c->receive(true);
        REQUIRE(head);
        CHECK(head->result_int() == 200);
        CHECK(head->body().empty());
        CHECK((*head)[http::field::content_length] == std::to_string(kBigBytes));
        // Two requests in one write (pipelined); the answers in order, bodies whole.
        c->send(request("GET", url + "/style.css", host) + request("GET", url + "/page.html", host));
        auto first = c->receive();
        auto second = c->receive();
        REQUIRE(first);
        REQUIRE(second);
        CHECK(first->body() == rote::test::read_file(world.docroot / "style.css"));
        CHECK(second->body() == rote::test::read_file(world.docroot / "page.html"));
        // Not modified (asked as a browser asks, with the Last-Modified it was given): no body, and still the
        // same connection. PHP's built-in server sends no Last-Modified.
        const std::string modified((*first)[http::field::last_modified]);
        if (std::string_view(name) != "php") {
            REQUIRE_FALSE(modified.empty());
            c->send(request("GET", url + "/style.css", host, "If-Modified-Since: " + modified + "\r\n"));
            auto not_modified = c->receive();
            REQUIRE(not_modified);
            CHECK(not_modified->result_int() == 304);
            CHECK(not_modified->body().empty());
        }
        c->send(request("GET", url + "/page.html", host));
        auto after = c->receive();
        REQUIRE(after);
        CHECK(after->body() == rote::test::read_file(world.docroot / "page.html"));
    }
    auto c = to_proxy();
    const std::string host = World::host("php");
    c->send(request("GET", "http://" + host + "/nocontent.php", host));
    auto empty = c->receive();
    REQUIRE(empty);
    CHECK(empty->result_int() == 204);
    CHECK(empty->body().empty());
    CHECK(last_log_line_for(host, "/nocontent.php")["framing"] == "none");
    c->send(request("GET", "http://" + host + "/style.css", host));
    CHECK(c->receive().has_value());
}

TEST_CASE("request bodies: Expect 100-continue is answered, chunked bodies arrive whole, Host is the target's")
{
    const std::string host = World::host("php");
    const std::string body(200000, 'x');
    auto c = to_proxy();
    c->send(request("POST", "http://" + host + "/echo.php", "fronted.example.com",
        "Expect: 100-continue\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) + "\r\n"));
    // A browser (curl, here) waits for the go-ahead before it sends the body.
    auto go_ahead = c->receive();
    REQUIRE(go_ahead);
    CHECK(go_ahead->result_int() == 100);
    c->send(body);
    auto echoed = c->receive();
    REQUIRE(echoed);
    CHECK(echoed->result_int() == 200);
    // The site saw the Host of the request's target, not the one the client wrote.
    CHECK(echoed->body() == "POST " + host + " " + body);
    CHECK(last_log_line_for(host, "/echo.php")["bytes_in"] == body.size());

    auto chunked = to_proxy();
    chunked->send(request("POST", "http://" + host + "/echo.php", host, "Transfer-Encoding: chunked\r\n")
        + "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n");
    auto answer = chunked->receive();
    REQUIRE(answer);
    CHECK(answer->body() == "POST " + host + " hello, world");
}

TEST_CASE("a streamed body reaches the client as it is made, and an HTTP/1.0 client gets a closed connection")
{
    const std::string host = World::host("python");
    auto c = to_proxy();
    const auto sent = Clock::now();
    c->send(request("GET", "http://" + host + "/cgi-bin/stream.sh", host));
    // The first piece arrives while the script still sleeps: nothing holds the body back until its end.
    http::response_parser<http::buffer_body> parser;
    boost::system::error_code ec;
    http::read_header(c->socket, c->buffer, parser, ec);
    REQUIRE_FALSE(ec);
    char piece[64];
    parser.get().body().data = piece;
    parser.get().body().size = sizeof piece;
    while (parser.get().body().size == sizeof piece && !ec)
        http::read_some(c->socket, c->buffer, parser, ec); // the header's read may end before any body byte
    if (ec == http::error::need_buffer)
        ec = {};
    REQUIRE_FALSE(ec);
    const double first_s = std::chrono::duration<double>(Clock::now() - sent).count();
    CHECK(std::string(piece, sizeof piece - parser.get().body().size).starts_with("first piece"));
    CHECK(first_s < 1.2);

    auto old = to_proxy();
    old->send(request("GET", "http://" + World::host("python") + "/cgi-bin/close.sh", World::host("python"), "", "1.0"));
    auto answer = old->receive();
    REQUIRE(answer);
    CHECK(answer->version() == 10);
    CHECK(answer->body() == rote::test::read_file(World::get().docroot / "text.txt"));
    CHECK(old->closed_by_peer());
}

TEST_CASE("an answer the site breaks off is logged as incomplete, never as served")
{
    // A server that promises 1000 bytes and sends 10.
    asio::io_context io;
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    const int port = acceptor.local_endpoint().port();
    std::thread liar([&] {
        tcp::socket s(io);
        acceptor.accept(s);
        boost::beast::flat_buffer b;
        http::request<http::string_body> req;
        http::read(s, b, req);
        asio::write(s, asio::buffer(std::string("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789")));
        s.close();
    });
    rote::runtime::EgressProxyOptions options = World::get().options;
    options.socket_path += ".broken";
    options.log_path = World::get().dir / "broken.log";
    options.routes["broken.conformance.test"] = "127.0.0.1:" + std::to_string(port);
    auto proxy = rote::runtime::EgressProxy::start(options);
    REQUIRE(proxy);
    Connection<local::socket> c;
    c.socket.connect(local::endpoint(options.socket_path.string()));
    set_receive_timeout(c.socket, 10);
    c.send(request("GET", "http://broken.conformance.test/cut", "broken.conformance.test"));
    CHECK_FALSE(c.receive().has_value()); // a cut-off body on a closed connection, as the site left it
    liar.join();
    (*proxy).reset();
    std::ifstream in(options.log_path);
    std::string line;
    REQUIRE(std::getline(in, line));
    auto entry = nlohmann::json::parse(line);
    CHECK(entry["complete"] == false);
    CHECK(entry["bytes_out"] == 10);
    CHECK(entry["error"].get<std::string>().find("broke off") != std::string::npos);
}

TEST_CASE("WebSocket upgrades go through, in plain HTTP and inside CONNECT, and are logged as upgrades")
{
    World& world = World::get();
    const std::string host = World::host("websocket");
    auto connect_proxy = [&] {
        int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un address {};
        address.sun_family = AF_UNIX;
        std::strncpy(address.sun_path, world.options.socket_path.c_str(), sizeof address.sun_path - 1);
        REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
        return fd;
    };
    // Plain HTTP: the absolute-form upgrade, answered 101 and spliced.
    CHECK(rote::test::websocket_greeting_on(connect_proxy(), "http://" + host + "/websockify", host)
              .starts_with("RFB 003.008"));
    // Inside a CONNECT tunnel (what a browser does for wss://, and for ws:// through some proxies).
    CHECK(rote::test::websocket_greeting_on(connect_proxy(), "/websockify", host,
        "CONNECT " + host + ":80 HTTP/1.1\r\nHost: " + host + ":80\r\n\r\n")
              .starts_with("RFB 003.008"));
    // A host the proxy does not allow gets no tunnel.
    CHECK(rote::test::websocket_greeting_on(connect_proxy(), "/websockify", "elsewhere.test",
        "CONNECT elsewhere.test:80 HTTP/1.1\r\nHost: elsewhere.test:80\r\n\r\n")
              .empty());
    // A tunnel is logged when it closes, a moment after the client hung up.
    int upgrades = 0, tunnels = 0;
    std::string lines;
    for (const auto deadline = Clock::now() + 5s; tunnels == 0 && Clock::now() < deadline;) {
        std::this_thread::sleep_for(50ms);
        upgrades = tunnels = 0;
        lines.clear();
        for (const auto& line : world.log()) {
            if (line.value("host", "") != host)
                continue;
            lines += line.dump() + "\n";
            if (line.value("status", 0) == 101 && line.value("framing", "") == "upgrade")
                ++upgrades;
            if (line.value("method", "") == "CONNECT" && line.value("framing", "") == "tunnel")
                ++tunnels;
        }
    }
    CHECK_MESSAGE(upgrades >= 1, lines);
    CHECK_MESSAGE(tunnels >= 1, lines);
}

TEST_CASE("Chromium in a sandbox shows a page whose HTML and render-blocking CSS end with the connection")
{
    // PHP's built-in server frames both close-delimited; before the proxy re-framed them, the stylesheet never
    // finished, the page never painted, and every run failed with "the start page did not show within 30 s".
    World& world = World::get();
    const std::string host = World::host("php");
    for (auto window : {rote::runtime::BrowserWindow::normal, rote::runtime::BrowserWindow::app}) {
        CAPTURE(window == rote::runtime::BrowserWindow::app ? "app" : "normal");
        rote::runtime::SessionSpec spec;
        spec.start_url = "http://" + host + "/page.php";
        spec.routes = {{host, "127.0.0.1:" + std::to_string(world.server("php").port)}};
        spec.window = window;
        auto session = rote::runtime::Session::start(spec);
        REQUIRE_MESSAGE(session, (session ? "" : session.error().message()));
        auto desktop = rote::runtime::Desktop::connect((*session)->sandbox().vnc());
        REQUIRE(desktop);
        auto seen = rote::test::wait_for_text(**desktop, "Conformance page", 30s);
        if (!seen.where && !seen.screen.empty())
            cv::imwrite((world.dir.parent_path() / "conformance-page.png").string(), seen.screen);
        REQUIRE_MESSAGE(seen.where, "the page never showed (its last screen: /tmp/conformance-page.png)");
        // The stylesheet applied (the page's background is its colour), and was logged served whole.
        const std::string problems = rote::test::ClosedPages::problems(seen.screen, (*session)->proxy().requests());
        CHECK_MESSAGE(problems.empty(), problems);
    }
}
