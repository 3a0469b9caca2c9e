// The MCP server's protocol, message by message: both eras' handshakes, the tools' schemas and annotations,
// and every error a client can cause. No sandbox starts here (tests/clients drives whole calls with real clients).

#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <rote/server/mcp.h>

using namespace rote;
using nlohmann::json;

namespace {

constexpr const char* kWorkflow = R"(
name: crm-login
goal: Log in to the CRM and read the account's plan.
inputs:
  user:
    type: string
    description: the account
    example: demo
  password:
    type: secret
  seats:
    type: number
  region: {type: string, default: EMEA}
outputs:
  plan:
    anchor: Plan
start:
  url: http://crm.example.test/
policy:
  allow: [crm.example.test, "*.cdn.example.test"]
  routes: {crm.example.test: "127.0.0.1:9"}
  effect: add
)";

// A server whose answers are collected, in order.
struct Harness {
    std::mutex mutex;
    std::condition_variable arrived;
    std::vector<json> sent;
    server::McpServer server;

    static server::McpOptions options()
    {
        server::McpOptions o;
        auto w = runtime::parse_workflow(kWorkflow, "crm-login.yaml");
        REQUIRE_MESSAGE(w.ok(), w.error().message());
        o.workflows.push_back(*w);
        o.open_store = [] { return store::Store::open_in_memory(); };
        o.open_store_to_read = [] { return store::Store::open_in_memory(); };
        o.version = "test";
        return o;
    }

    Harness()
        : server(options(), [this](const std::string& text) {
            std::lock_guard lock(mutex);
            sent.push_back(json::parse(text));
            arrived.notify_all();
        })
    {
    }

    // The answer to request `id`, waiting for it a while (a workflow's call is answered by another thread).
    json answer(const json& id)
    {
        std::unique_lock lock(mutex);
        json found;
        arrived.wait_for(lock, std::chrono::seconds(10), [&] {
            for (const auto& m : sent) {
                if (m.contains("id") && m["id"] == id)
                    return found = m, true;
            }
            return false;
        });
        return found;
    }

    json ask(const json& id, const std::string& method, json params = json::object())
    {
        server.receive(json {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}}.dump());
        return answer(id);
    }
};

json modern(json params = json::object())
{
    params["_meta"] = {{"io.modelcontextprotocol/protocolVersion", "2026-07-28"},
        {"io.modelcontextprotocol/clientCapabilities", json::object()}};
    return params;
}

} // namespace

TEST_CASE("mcp: 2026-07-28 discovery, and every result says it is complete and who answered")
{
    Harness h;
    auto discover = h.ask(1, "server/discover", modern());
    REQUIRE(discover.contains("result"));
    CHECK(discover["result"]["supportedVersions"] == json::array({"2026-07-28"}));
    CHECK(discover["result"]["capabilities"].contains("tools"));
    CHECK(discover["result"]["resultType"] == "complete");
    CHECK(discover["result"]["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "rote");

    auto list = h.ask("two", "tools/list", modern());
    CHECK(list["result"]["resultType"] == "complete");
    CHECK(list["result"]["cacheScope"] == "private");
    CHECK(list["result"]["ttlMs"].is_number_integer());

    // A revision this server does not have: the protocol's own error, with what it has.
    json other = modern();
    other["_meta"]["io.modelcontextprotocol/protocolVersion"] = "2027-01-01";
    auto refused = h.ask(3, "tools/list", other);
    CHECK(refused["error"]["code"] == -32022);
    CHECK(refused["error"]["data"]["supported"] == json::array({"2026-07-28"}));
    CHECK(refused["error"]["data"]["requested"] == "2027-01-01");
}

TEST_CASE("mcp: the 2025 handshake takes the client's revision when it is one of them, else the newest")
{
    Harness h;
    auto same = h.ask(1, "initialize", {{"protocolVersion", "2025-06-18"}, {"capabilities", json::object()},
                                          {"clientInfo", {{"name", "t"}, {"version", "1"}}}});
    CHECK(same["result"]["protocolVersion"] == "2025-06-18");
    CHECK(same["result"]["serverInfo"]["name"] == "rote");
    CHECK_FALSE(same["result"].contains("resultType"));
    auto newer = h.ask(2, "initialize", {{"protocolVersion", "2024-11-05"}, {"capabilities", json::object()}});
    CHECK(newer["result"]["protocolVersion"] == "2025-11-25");
    h.server.receive(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
    CHECK(h.ask(3, "ping")["result"] == json::object());
}

TEST_CASE("mcp: a workflow's tool: inputs but the secret, outputs, annotations from the policy")
{
    Harness h;
    const json tools = h.server.tools();
    REQUIRE(tools.size() == 3);
    const json& t = tools[0];
    CHECK(t["name"] == "crm-login");
    CHECK(t["inputSchema"]["required"] == json::array({"user", "seats"}));
    CHECK_FALSE(t["inputSchema"]["properties"].contains("password"));
    CHECK(t["inputSchema"]["properties"]["seats"]["type"] == "number");
    CHECK(t["inputSchema"]["properties"]["user"]["examples"] == json::array({"demo"}));
    CHECK(t["inputSchema"]["properties"]["region"]["default"] == "EMEA"); // not required: it has a default
    CHECK(t["inputSchema"]["additionalProperties"] == false);
    CHECK(t["outputSchema"]["required"] == json::array({"plan"}));
    CHECK(t["description"].get<std::string>().find("Secrets (password) come from the server") != std::string::npos);
    // effect: add: it writes but overwrites nothing; twice adds twice; a CDN not routed here is the open web.
    CHECK(t["annotations"]["readOnlyHint"] == false);
    CHECK(t["annotations"]["destructiveHint"] == false);
    CHECK(t["annotations"]["idempotentHint"] == false);
    CHECK(t["annotations"]["openWorldHint"] == true);
    CHECK(tools[1]["name"] == "rote_workflows");
    CHECK(tools[2]["name"] == "rote_cost_report");
}

TEST_CASE("mcp: what a client gets wrong is answered with an error that names it, and nothing runs")
{
    Harness h;
    h.server.receive("{not json");
    h.server.receive(R"([{"jsonrpc":"2.0","id":1,"method":"ping"}])");
    h.server.receive(R"({"jsonrpc":"1.0","id":2,"method":"ping"})");
    {
        std::lock_guard lock(h.mutex);
        REQUIRE(h.sent.size() == 3);
        CHECK(h.sent[0]["error"]["code"] == -32700);
        CHECK(h.sent[1]["error"]["code"] == -32600);
        CHECK(h.sent[2]["error"]["code"] == -32600);
    }
    CHECK(h.ask(4, "resources/list", modern())["error"]["code"] == -32601);
    CHECK(h.ask(5, "tools/call", modern({{"name", "nope"}}))["error"]["code"] == -32602);
    CHECK(h.ask(6, "tools/call", modern())["error"]["code"] == -32602);

    // A secret as an argument is refused: it would sit in the caller's context.
    auto secret = h.ask(7, "tools/call",
        modern({{"name", "crm-login"}, {"arguments", {{"user", "a"}, {"seats", 3}, {"password", "hunter2"}}}}));
    CHECK(secret["result"]["isError"] == true);
    const std::string text = secret["result"]["content"][0]["text"];
    CHECK(text.find("'password' is a secret") != std::string::npos);
    CHECK(text.find("hunter2") == std::string::npos);
    CHECK(secret["result"]["resultType"] == "complete");

    // An input missing, or of the wrong kind: the tool's error, for the model to correct.
    auto missing = h.ask(8, "tools/call", modern({{"name", "crm-login"}, {"arguments", {{"user", "a"}}}}));
    CHECK(missing["result"]["isError"] == true);
    auto wrong = h.ask(9, "tools/call",
        modern({{"name", "crm-login"}, {"arguments", {{"user", json::array()}, {"seats", 1}}}}));
    CHECK(wrong["result"]["isError"] == true);
    CHECK(wrong["result"]["content"][0]["text"].get<std::string>().find("'user'") != std::string::npos);
}

TEST_CASE("mcp: the cost report tool reads the store, answered at once")
{
    Harness h;
    auto report = h.ask(1, "tools/call", modern({{"name", "rote_cost_report"}, {"arguments", json::object()}}));
    CHECK(report["result"]["structuredContent"]["total"]["runs"] == 0);
    auto listed = h.ask(2, "tools/call", modern({{"name", "rote_workflows"}}));
    CHECK(listed["result"]["structuredContent"]["workflows"][0]["name"] == "crm-login");
    CHECK(listed["result"]["structuredContent"]["workflows"][0]["effect"] == "add");
}
