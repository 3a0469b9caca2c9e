// The DevTools witness against a peer that is not a well-behaved browser (style.md: bad input from outside
// gets a clear error, never a hang): garbage, silence, a closed pipe, an endless message, a refusal. And the
// arithmetic that puts the document's boxes on the screen, from a scripted answer. The real browser is in
// witness_test.cpp (sandbox_test).

#include <doctest/doctest.h>

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <sys/socket.h>
#include <unistd.h>

#include <rote/witness/witness.h>

using namespace rote;
using namespace rote::runtime;
using json = nlohmann::json;

namespace {

// A peer on the other end of a socket pair: reads each NUL-ended request and writes what `answer` returns
// for it (nothing: silence; a string without a NUL: sent raw).
class Peer {
public:
    explicit Peer(std::function<std::string(const json&)> answer)
    {
        int pair[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
        ours = pair[0];
        m_fd = pair[1];
        m_thread = std::thread([this, answer = std::move(answer)] {
            std::string buffer;
            char chunk[4096];
            while (true) {
                const ssize_t n = ::read(m_fd, chunk, sizeof chunk);
                if (n <= 0)
                    return;
                buffer.append(chunk, static_cast<size_t>(n));
                for (size_t end; (end = buffer.find('\0')) != std::string::npos;) {
                    const json request = json::parse(buffer.substr(0, end));
                    buffer.erase(0, end + 1);
                    const std::string reply = answer(request);
                    if (reply == "close") {
                        ::shutdown(m_fd, SHUT_RDWR);
                        return;
                    }
                    for (size_t sent = 0; sent < reply.size();) {
                        const ssize_t w = ::send(m_fd, reply.data() + sent, reply.size() - sent, MSG_NOSIGNAL);
                        if (w <= 0)
                            return;
                        sent += static_cast<size_t>(w);
                    }
                }
            }
        });
    }
    ~Peer()
    {
        ::shutdown(m_fd, SHUT_RDWR);
        m_thread.join();
        ::close(m_fd);
    }
    int ours = -1; // handed to the witness, which owns it

private:
    int m_fd = -1;
    std::thread m_thread;
};

std::string reply(const json& request, const json& result)
{
    return json {{"id", request["id"]}, {"result", result}}.dump() + std::string(1, '\0');
}

// A browser with one page whose document answers `value` to the function call.
std::string one_page(const json& request, const json& value)
{
    const std::string method = request["method"];
    if (method == "Target.getTargets")
        return reply(request, {{"targetInfos", json::array({{{"targetId", "T1"}, {"type", "page"}, {"url", "http://x.test/"}}})}});
    if (method == "Target.attachToTarget")
        return std::string("{\"method\":\"Target.attachedToTarget\",\"params\":{}}") + '\0' + reply(request, {{"sessionId", "S1"}});
    if (method == "Page.getFrameTree")
        return reply(request, {{"frameTree", {{"frame", {{"id", "F1"}}}}}});
    if (method == "Page.createIsolatedWorld")
        return reply(request, {{"executionContextId", 7}});
    return reply(request, {{"result", {{"type", "object"}, {"value", value}}}});
}

} // namespace

TEST_CASE("the witness asks the visible page's document and puts its boxes on the screen")
{
    // A normal window: 80 DIPs of tabs and address bar above the page, drawn at scale 1.25.
    const json value = {{"values", json::array({{{"text", "Wales"}, {"how", "next cell"}, {"exact", true},
                                                 {"box", {{"x", 100}, {"y", 40}, {"w", 50}, {"h", 20}}}}})},
        {"view", {{"sx", 0}, {"sy", 0}, {"ow", 1024}, {"oh", 640}, {"iw", 1024}, {"ih", 560}, {"dpr", 1.25}}}};
    json asked;
    Peer peer([&](const json& request) {
        if (request["method"] == "Runtime.callFunctionOn")
            asked = request;
        return one_page(request, value);
    });
    auto witness = connect_devtools_witness(peer.ours, std::chrono::seconds(2));
    auto values = witness->values_beside("Region");
    REQUIRE(values.ok());
    REQUIRE(values->size() == 1);
    CHECK((*values)[0].text == "Wales");
    CHECK((*values)[0].how == "next cell");
    CHECK((*values)[0].box.x == 125);
    CHECK((*values)[0].box.y == 150); // (80 + 40) * 1.25
    CHECK((*values)[0].box.w == 63);
    CHECK((*values)[0].box.h == 25);
    // Asked in the page's session, in the isolated world made for it, with the label as an argument (never
    // spliced into the code).
    CHECK(asked["sessionId"] == "S1");
    CHECK(asked["params"]["executionContextId"] == 7);
    CHECK(asked["params"]["arguments"][0]["value"] == "Region");
    CHECK(witness->url().value() == "http://x.test/");
}

TEST_CASE("a browser that answers garbage, nothing, an endless message or a refusal gets a clear error")
{
    SUBCASE("garbage")
    {
        Peer peer([](const json&) { return std::string("this is not json") + '\0'; });
        auto witness = connect_devtools_witness(peer.ours, std::chrono::seconds(2));
        auto values = witness->values_beside("Region");
        REQUIRE_FALSE(values.ok());
        CHECK(values.error().message().find("not a JSON object") != std::string::npos);
    }
    SUBCASE("an answer of the wrong shape")
    {
        Peer peer([](const json& request) {
            return one_page(request, {{"values", "many"}, {"view", json::object()}});
        });
        auto witness = connect_devtools_witness(peer.ours, std::chrono::seconds(2));
        auto values = witness->values_beside("Region");
        REQUIRE_FALSE(values.ok());
        CHECK(values.error().message().find("makes no sense") != std::string::npos);
    }
    SUBCASE("silence: the timeout, not a hang")
    {
        Peer peer([](const json&) { return std::string(); });
        auto witness = connect_devtools_witness(peer.ours, std::chrono::milliseconds(300));
        const auto start = std::chrono::steady_clock::now();
        auto values = witness->values_beside("Region");
        REQUIRE_FALSE(values.ok());
        CHECK(values.error().code() == Error::Code::timeout);
        CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
    }
    SUBCASE("a closed pipe")
    {
        Peer peer([](const json&) { return std::string("close"); });
        auto witness = connect_devtools_witness(peer.ours, std::chrono::seconds(2));
        auto values = witness->values_beside("Region");
        REQUIRE_FALSE(values.ok());
        CHECK(values.error().message().find("closed") != std::string::npos);
    }
    SUBCASE("a message without end")
    {
        Peer peer([](const json&) { return std::string(17u << 20, 'x'); });
        auto witness = connect_devtools_witness(peer.ours, std::chrono::seconds(5));
        auto values = witness->values_beside("Region");
        REQUIRE_FALSE(values.ok());
        CHECK(values.error().message().find("longer than 16 MiB") != std::string::npos);
    }
    SUBCASE("a refusal")
    {
        Peer peer([](const json& request) {
            return json {{"id", request["id"]}, {"error", {{"code", -32000}, {"message", "Not allowed"}}}}.dump()
                + std::string(1, '\0');
        });
        auto witness = connect_devtools_witness(peer.ours, std::chrono::seconds(2));
        auto values = witness->values_beside("Region");
        REQUIRE_FALSE(values.ok());
        CHECK(values.error().message().find("refused Target.getTargets: Not allowed") != std::string::npos);
    }
    SUBCASE("two pages, neither visible: which is on the screen is not certain")
    {
        Peer peer([](const json& request) {
            if (request["method"] == "Target.getTargets")
                return reply(request, {{"targetInfos", json::array({{{"targetId", "T1"}, {"type", "page"}},
                                                          {{"targetId", "T2"}, {"type", "page"}}})}});
            return one_page(request, "hidden");
        });
        auto witness = connect_devtools_witness(peer.ours, std::chrono::seconds(2));
        auto values = witness->values_beside("Region");
        REQUIRE_FALSE(values.ok());
        CHECK(values.error().message().find("2 pages and 0 of them visible") != std::string::npos);
    }
}

TEST_CASE("a navigation the page asked for counts as loading until the browser starts it, or it stays in the document")
{
    const json state = {{"values", json::array()},
        {"view", {{"sx", 0}, {"sy", 0}, {"ow", 1024}, {"oh", 640}, {"iw", 1024}, {"ih", 640}, {"dpr", 1}}},
        {"url", "http://x.test/"}, {"loaded", true}, {"field", false}, {"digest", 0}, {"length", 0}, {"start", -1},
        {"end", -1}};
    std::atomic<int> phase {0};
    auto event = [](const std::string& method, json params) {
        params["frameId"] = "T1";
        return json {{"method", method}, {"sessionId", "S1"}, {"params", params}}.dump() + std::string(1, '\0');
    };
    Peer peer([&](const json& request) {
        std::string before;
        if (request["method"] == "Runtime.callFunctionOn") {
            switch (phase.load()) {
            case 1: before = event("Page.frameRequestedNavigation", {{"reason", "formSubmissionPost"}, {"disposition", "currentTab"}}); break;
            case 2: before = event("Page.navigatedWithinDocument", {{"url", "http://x.test/#b"}}); break;
            case 3: before = event("Page.frameRequestedNavigation", {{"reason", "anchorClick"}, {"disposition", "currentTab"}})
                        + event("Page.frameStartedLoading", json::object()); break;
            case 4: before = event("Page.frameStoppedLoading", json::object()); break;
            case 5: before = event("Page.frameRequestedNavigation", {{"reason", "anchorClick"}, {"disposition", "newTab"}}); break;
            default: break;
            }
        }
        return before + one_page(request, state);
    });
    auto witness = connect_devtools_witness(peer.ours, std::chrono::seconds(2));
    const std::vector<bool> loaded {true, false, true, false, true, true}; // phases 0-5
    for (int p = 0; p < static_cast<int>(loaded.size()); ++p) {
        CAPTURE(p);
        phase = p;
        auto s = witness->state();
        REQUIRE(s.ok());
        CHECK(s->loaded == loaded[static_cast<size_t>(p)]);
    }
}
