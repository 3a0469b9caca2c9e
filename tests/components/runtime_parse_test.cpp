// The pure parsers of base and the runtime: key combinations (base/input.h), VNC endpoints, allowlists and URL hosts.

#include <doctest/doctest.h>

#include <rfb/keysym.h>

#include <rote/base/input.h>
#include <rote/desktop/desktop.h>
#include <rote/egress/egress_proxy.h>
#include <rote/session/session.h>

using namespace rote;
using namespace rote::runtime;

TEST_CASE("key combinations name X keysyms, modifiers first")
{
    CHECK(*parse_key_combo("Return") == std::vector<std::uint32_t> {XK_Return});
    CHECK(*parse_key_combo("ctrl+l") == std::vector<std::uint32_t> {XK_Control_L, 'l'});
    CHECK(*parse_key_combo("shift+Tab") == std::vector<std::uint32_t> {XK_Shift_L, XK_Tab});
    CHECK(*parse_key_combo("CTRL+ALT+Delete") == std::vector<std::uint32_t> {XK_Control_L, XK_Alt_L, XK_Delete});
    CHECK(*parse_key_combo("ctrl++") == std::vector<std::uint32_t> {XK_Control_L, '+'});
    CHECK(*parse_key_combo("F5") == std::vector<std::uint32_t> {XK_F5});
    CHECK(*parse_key_combo("0xff0d") == std::vector<std::uint32_t> {0xff0d});
    CHECK(*parse_key_combo("A") == std::vector<std::uint32_t> {'A'});

    for (const char* bad : {"", "ctrl+", "hyper+x", "ctrl+nothing", "0xzz", "ctrl+l+"}) {
        auto r = parse_key_combo(bad);
        CHECK_MESSAGE(!r, bad);
        if (!r)
            CHECK(r.error().code() == Error::Code::invalid_argument);
    }
    auto named = parse_key_combo("ctrl+bogus");
    REQUIRE(!named);
    CHECK(named.error().message().find("'bogus'") != std::string::npos);
}

TEST_CASE("printable text maps to keysyms: Latin-1 directly, the rest as Unicode keysyms")
{
    CHECK(keysym_for('a') == 'a');
    CHECK(keysym_for('~') == '~');
    CHECK(keysym_for(U'é') == 0xe9);
    CHECK(keysym_for(U'€') == 0x010020ac);
    CHECK(keysym_for(U'日') == 0x010065e5);
}

TEST_CASE("VNC endpoints round-trip as unix:PATH or HOST:PORT")
{
    auto u = VncEndpoint::parse("unix:/run/x/vnc.sock");
    REQUIRE(u);
    CHECK(u->unix_path == "/run/x/vnc.sock");
    CHECK(u->to_string() == "unix:/run/x/vnc.sock");
    auto t = VncEndpoint::parse("127.0.0.1:5901");
    REQUIRE(t);
    CHECK(t->host == "127.0.0.1");
    CHECK(t->port == 5901);
    CHECK(t->to_string() == "127.0.0.1:5901");
    for (const char* bad : {"unix:", "localhost", ":5900", "host:0", "host:70000", "host:59x"})
        CHECK_MESSAGE(!VncEndpoint::parse(bad), bad);
}

TEST_CASE("the allowlist takes exact names and *.domain wildcards, case-insensitively")
{
    std::vector<std::string> allow {"registry.example.test", "*.crm.test", "127.0.0.1"};
    CHECK(host_allowed(allow, "registry.example.test"));
    CHECK(host_allowed(allow, "Registry.Example.TEST."));
    CHECK(host_allowed(allow, "app.crm.test"));
    CHECK(host_allowed(allow, "a.b.crm.test"));
    CHECK(host_allowed(allow, "127.0.0.1"));
    CHECK_FALSE(host_allowed(allow, "crm.test")); // a wildcard covers names below it, not the name itself
    CHECK_FALSE(host_allowed(allow, "evilcrm.test"));
    CHECK_FALSE(host_allowed(allow, "registry.example.test.evil.org"));
    CHECK_FALSE(host_allowed(allow, "sub.registry.example.test"));
    CHECK_FALSE(host_allowed(allow, ""));
    CHECK_FALSE(host_allowed({}, "registry.example.test"));
}

TEST_CASE("host names are matched in one spelling: lower case, no trailing dot, IDNA's ASCII form")
{
    CHECK(normalize_host("Registry.Example.TEST.") == "registry.example.test");
    CHECK(normalize_host("BÜCHER.example.") == "xn--bcher-kva.example");
    CHECK(normalize_host("faß.example") == "xn--fa-hia.example"); // IDNA2008: ß is kept, not mapped to ss
    CHECK(normalize_host("a\xff.example").empty()); // not UTF-8: no name
    // An allowlist written in Unicode allows the name the browser sends, and nothing it could be confused with.
    const std::vector<std::string> allow {"bücher.example", "*.münchen.test"};
    CHECK(host_allowed(allow, "xn--bcher-kva.example"));
    CHECK(host_allowed(allow, "Bücher.example"));
    CHECK(host_allowed(allow, "www.xn--mnchen-3ya.test"));
    CHECK_FALSE(host_allowed(allow, "bucher.example"));
    CHECK_FALSE(host_allowed(allow, "xn--mnchen-3ya.test"));
    CHECK_FALSE(host_allowed({"*.", "\xff"}, "anything.example"));
}

TEST_CASE("the host of a start URL")
{
    CHECK(url_host("http://registry.example.test/") == "registry.example.test");
    CHECK(url_host("https://user:pw@crm.test:8443/x?y#z") == "crm.test");
    CHECK(url_host("http://[::1]:8080/") == "::1");
    CHECK(url_host("http://host") == "host");
    CHECK(url_host("file:///tmp/x") == "");
    CHECK(url_host("about:blank") == "");
}
