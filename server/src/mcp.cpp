#include <rote/server/mcp.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>

#include <rote/base/base64.h>
#include <rote/base/log.h>
#include <rote/server/json.h>

namespace rote::server {

namespace {

using nlohmann::json;

constexpr std::string_view kServerInfoKey = "io.modelcontextprotocol/serverInfo";
constexpr std::string_view kRunKey = "dev.rote/run"; // a result's run, as `rote run --json` prints it
constexpr std::string_view kWorkflowsTool = "rote_workflows";
constexpr std::string_view kReportTool = "rote_cost_report";

// JSON-RPC's and MCP's error codes.
constexpr int kParseError = -32700;
constexpr int kInvalidRequest = -32600;
constexpr int kMethodNotFound = -32601;
constexpr int kInvalidParams = -32602;
constexpr int kInternalError = -32603;
constexpr int kUnsupportedVersion = -32022;

std::shared_ptr<spdlog::logger> log() { return logger("server.mcp"); }

// A request's answer is an error: a message that could not be taken (malformed, an unknown method or tool).
struct RpcError {
    int code = kInternalError;
    std::string message;
    json data;
};

json error_message(const json& id, const RpcError& e)
{
    json error {{"code", e.code}, {"message", e.message}};
    if (!e.data.is_null())
        error["data"] = e.data;
    return {{"jsonrpc", "2.0"}, {"id", id}, {"error", error}};
}

// The input schema of a workflow's tool: every input but the secrets, required unless it has a default (a
// run needs every input), nothing else allowed.
json input_schema(const runtime::Workflow& w)
{
    json properties = json::object();
    json required = json::array();
    for (const auto& in : w.inputs) {
        if (in.type == runtime::InputType::secret)
            continue;
        json p {{"type", in.type == runtime::InputType::number ? "number" : "string"}};
        if (!in.description.empty())
            p["description"] = in.description;
        if (in.example)
            p["examples"] = json::array({*in.example});
        if (in.default_value)
            p["default"] = in.type == runtime::InputType::number ? json(std::stod(*in.default_value)) : json(*in.default_value);
        properties[in.name] = p;
        if (!in.default_value)
            required.push_back(in.name);
    }
    return {{"type", "object"}, {"properties", properties}, {"required", required}, {"additionalProperties", false}};
}

// A successful run reads every output (a run that cannot prove one fails), so all are required.
json output_schema(const runtime::Workflow& w)
{
    json properties = json::object();
    json required = json::array();
    for (const auto& out : w.outputs) {
        json p {{"type", "string"}};
        std::string where = out.anchor.empty() ? "" : "read beside \"" + out.anchor + "\"";
        if (!out.pattern.empty())
            where += std::string(where.empty() ? "" : ", ") + "matching " + out.pattern;
        p["description"] = where;
        properties[out.name] = p;
        required.push_back(out.name);
    }
    return {{"type", "object"}, {"properties", properties}, {"required", required}};
}

// Open-world unless every site the sandbox may reach is served from this machine (a route to loopback).
bool open_world(const runtime::Workflow& w, const runtime::RunOptions& run)
{
    return std::any_of(w.policy.allow.begin(), w.policy.allow.end(), [&](const std::string& host) {
        return !w.policy.routes.contains(host) && !run.routes.contains(host);
    });
}

json tool_for(const runtime::Workflow& w, const runtime::RunOptions& run)
{
    using Effect = runtime::Policy::Effect;
    const Effect effect = w.policy.effect;
    std::string secrets;
    for (const auto& in : w.inputs) {
        if (in.type == runtime::InputType::secret)
            secrets += std::string(secrets.empty() ? "" : ", ") + in.name;
    }
    std::string description = w.goal;
    while (!description.empty() && std::isspace(static_cast<unsigned char>(description.back())))
        description.pop_back();
    description += "\n\nRuns in a fresh sandboxed browser: the cached trace is replayed, a model is asked only where "
                   "the page changed. Fails, with the evidence, when the run cannot prove it ended where it should.";
    if (!secrets.empty())
        description += " Secrets (" + secrets + ") come from the server, never from the call.";
    return {{"name", w.name}, {"title", w.name}, {"description", description}, {"inputSchema", input_schema(w)},
        {"outputSchema", output_schema(w)},
        {"annotations",
            {{"title", w.name}, {"readOnlyHint", effect == Effect::read},
                {"destructiveHint", effect == Effect::change},
                {"idempotentHint", effect == Effect::read || w.policy.idempotent},
                {"openWorldHint", open_world(w, run)}}}};
}

json text_content(const std::string& text) { return {{"type", "text"}, {"text", text}}; }

struct Call {
    json id;
    std::string tool;
    json arguments;
    json progress_token; // null: the client did not ask for progress
    bool modern = false;
    std::stop_source stop;
};

} // namespace

struct McpServer::Impl {
    McpOptions options;
    std::function<void(const std::string&)> send_raw;
    std::mutex send_mutex;

    std::mutex mutex; // guards what follows
    std::condition_variable wake;
    std::deque<std::shared_ptr<Call>> queue;
    std::shared_ptr<Call> running;
    bool closing = false;
    std::thread worker;

    void send(const json& message)
    {
        const std::string text = message.dump(-1, ' ', false, json::error_handler_t::replace);
        std::lock_guard lock(send_mutex);
        send_raw(text);
    }

    // A result as the request's revision wants it: the stateless one says its kind and who answered.
    void reply(const json& id, json result, bool modern)
    {
        if (modern) {
            result["resultType"] = "complete";
            result["_meta"][std::string(kServerInfoKey)] = {{"name", "rote"}, {"version", options.version}};
        }
        send({{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}});
    }

    const runtime::Workflow* workflow(std::string_view name) const
    {
        for (const auto& w : options.workflows) {
            if (w.name == name)
                return &w;
        }
        return nullptr;
    }

    json tools() const
    {
        json list = json::array();
        for (const auto& w : options.workflows)
            list.push_back(tool_for(w, options.run));
        list.push_back({{"name", kWorkflowsTool}, {"title", "rote: workflows"},
            {"description",
                "The workflows this server runs as tools, with their inputs, outputs, trace versions and figures "
                "so far (runs, successes, model calls, dollars, share of steps replayed)."},
            {"inputSchema", {{"type", "object"}, {"properties", json::object()}, {"additionalProperties", false}}},
            {"annotations", {{"readOnlyHint", true}, {"idempotentHint", true}, {"openWorldHint", false}}}});
        list.push_back({{"name", kReportTool}, {"title", "rote: cost report"},
            {"description",
                "What runs cost: per run and per workflow, model calls, tokens, dollars, steps replayed from the "
                "cache and time. Optionally for one workflow, and for runs since a time."},
            {"inputSchema",
                {{"type", "object"},
                    {"properties",
                        {{"workflow", {{"type", "string"}, {"description", "only this workflow's runs"}}},
                            {"since",
                                {{"type", "string"},
                                    {"description", "only runs started at or after this time (2026-12-01 or "
                                                    "2026-12-01T09:00:00Z)"}}}}},
                    {"additionalProperties", false}}},
            {"annotations", {{"readOnlyHint", true}, {"idempotentHint", true}, {"openWorldHint", false}}}});
        return list;
    }

    // The tools that only read the store, answered at once.
    json read_tool(std::string_view tool, const json& arguments)
    {
        auto store = options.open_store_to_read();
        if (!store.ok())
            return {{"content", json::array({text_content("cannot open the store: " + store.error().message())})},
                {"isError", true}};
        if (tool == kReportTool) {
            store::ReportQuery query;
            if (arguments.is_object()) {
                if (arguments.contains("workflow") && arguments["workflow"].is_string())
                    query.workflow = arguments["workflow"].get<std::string>();
                if (arguments.contains("since") && arguments["since"].is_string())
                    query.since = arguments["since"].get<std::string>();
            }
            auto report = (*store)->report(query);
            if (!report.ok())
                return {{"content", json::array({text_content(report.error().message())})}, {"isError", true}};
            json doc = report_json(*report);
            const auto& t = report->total;
            std::string text = std::to_string(t.runs) + " runs, " + std::to_string(t.succeeded) + " succeeded, "
                + std::to_string(t.llm_calls) + " model calls, " + dollars(t.cost_microusd);
            return {{"content", json::array({text_content(text), text_content(doc.dump())})},
                {"structuredContent", doc}};
        }
        auto doc = workflows_json(options.workflows, **store);
        if (!doc.ok())
            return {{"content", json::array({text_content(doc.error().message())})}, {"isError", true}};
        return {{"content", json::array({text_content(doc->dump())})}, {"structuredContent", *doc}};
    }

    // A workflow's call, on the runs' thread.
    std::optional<json> run_call(store::Store* store, Call& call)
    {
        const runtime::Workflow& w = *workflow(call.tool);
        auto tool_error = [](const std::string& text) {
            return json {{"content", json::array({text_content(text)})}, {"isError", true}};
        };
        auto inputs = call_inputs(w, call.arguments);
        if (!inputs.ok())
            return tool_error(inputs.error().message());

        runtime::RunOptions run = options.run;
        run.stop = call.stop.get_token();
        int step = 0;
        if (!call.progress_token.is_null()) {
            run.progress = [this, &call, &step](const std::string& line) {
                send({{"jsonrpc", "2.0"}, {"method", "notifications/progress"},
                    {"params", {{"progressToken", call.progress_token}, {"progress", ++step}, {"message", line}}}});
            };
        }
        auto result = options.execute ? options.execute(w, *inputs, run) : runtime::run_workflow(*store, w, *inputs, run);
        if (call.stop.stop_requested())
            return std::nullopt; // cancelled: the client wants no answer
        if (!result.ok())
            return tool_error("the run could not be stored: " + result.error().message());
        const auto& r = *result;
        std::string text = "run " + std::to_string(r.run_id) + " " + std::string(store::to_string(r.status)) + ": "
            + std::to_string(r.replayed + r.relocated) + " steps replayed, " + std::to_string(r.planned)
            + " planned, " + std::to_string(r.planner_calls) + " planner calls, " + dollars(r.cost_microusd);
        json answer;
        answer["_meta"][std::string(kRunKey)] = run_json(w, *inputs, r);
        if (r.status == store::RunStatus::succeeded) {
            for (const auto& [name, value] : r.outputs)
                text += "\n" + name + " = " + value;
            answer["content"] = json::array({text_content(text)});
            answer["structuredContent"] = r.outputs;
            return answer;
        }
        text += "\nerror: " + r.error;
        json content = json::array();
        std::optional<store::Hash> shot;
        for (const auto& d : r.divergences) {
            text += "\ndiverged at " + (d.trace_step < 0 ? std::string("the end") : "step " + std::to_string(d.trace_step))
                + ": expected " + d.expected + "; " + d.why;
            if (d.screenshot)
                shot = d.screenshot;
        }
        content.push_back(text_content(text));
        std::unique_ptr<store::Store> reader;
        if (shot && !store) {
            if (auto opened = options.open_store_to_read(); opened.ok())
                reader = std::move(*opened);
            store = reader.get();
        }
        if (shot && store) {
            // The screen where it diverged (the last divergence's), as the store keeps it.
            if (auto image = store->get_artifact(*shot); image.ok())
                content.push_back({{"type", "image"}, {"data", base64_encode(image->data)},
                    {"mimeType", image->media_type}});
        }
        answer["content"] = content;
        answer["isError"] = true;
        return answer;
    }

    void work()
    {
        std::unique_ptr<store::Store> store;
        while (true) {
            std::shared_ptr<Call> call;
            {
                std::unique_lock lock(mutex);
                wake.wait(lock, [&] { return closing || !queue.empty(); });
                if (queue.empty())
                    return;
                call = queue.front();
                queue.pop_front();
                running = call;
            }
            std::optional<json> answer;
            if (!store && !options.execute) {
                auto opened = options.open_store();
                if (opened.ok())
                    store = std::move(*opened);
                else
                    answer = json {{"content", json::array({text_content("cannot open the store: "
                                                   + opened.error().message())})},
                        {"isError", true}};
            }
            if (!answer)
                answer = run_call(store.get(), *call);
            {
                std::lock_guard lock(mutex);
                running.reset();
            }
            if (answer)
                reply(call->id, std::move(*answer), call->modern);
        }
    }

    void cancel(const json& id)
    {
        std::lock_guard lock(mutex);
        if (running && running->id == id) {
            log()->info("call {} cancelled: stopping its run", id.dump());
            running->stop.request_stop();
            return;
        }
        auto queued = std::find_if(queue.begin(), queue.end(), [&](const auto& c) { return c->id == id; });
        if (queued != queue.end())
            queue.erase(queued);
    }

    void close()
    {
        {
            std::lock_guard lock(mutex);
            closing = true;
            queue.clear();
            if (running)
                running->stop.request_stop();
        }
        wake.notify_all();
        if (worker.joinable())
            worker.join();
    }

    // A request: answered now (the result or an error), or queued (a workflow's call).
    void request(const json& id, const std::string& method, const json& params)
    {
        const json meta = params.is_object() && params.contains("_meta") ? params["_meta"] : json();
        const bool modern = meta.is_object() && meta.contains(std::string(kMcpVersionKey));
        if (modern) {
            const json& version = meta[std::string(kMcpVersionKey)];
            if (!version.is_string() || version.get<std::string>() != kMcpVersion) {
                send(error_message(id,
                    {kUnsupportedVersion, "unsupported protocol version",
                        {{"supported", json::array({kMcpVersion})}, {"requested", version}}}));
                return;
            }
        }
        if (method == "server/discover") {
            reply(id,
                {{"supportedVersions", json::array({kMcpVersion})}, {"capabilities", {{"tools", json::object()}}},
                    {"instructions", instructions()}, {"ttlMs", 0}, {"cacheScope", "private"}},
                true);
            return;
        }
        if (method == "initialize") {
            std::string version(kMcpLegacyVersions[0]);
            if (params.is_object() && params.contains("protocolVersion") && params["protocolVersion"].is_string()) {
                const auto asked = params["protocolVersion"].get<std::string>();
                for (auto v : kMcpLegacyVersions) {
                    if (asked == v)
                        version = asked;
                }
            }
            reply(id,
                {{"protocolVersion", version}, {"capabilities", {{"tools", {{"listChanged", false}}}}},
                    {"serverInfo", {{"name", "rote"}, {"version", options.version}}}, {"instructions", instructions()}},
                false);
            return;
        }
        if (method == "ping") {
            reply(id, json::object(), modern);
            return;
        }
        if (method == "tools/list") {
            json result {{"tools", tools()}};
            if (modern) {
                // The list is fixed for the server's life (its workflows are read at start).
                result["ttlMs"] = 60000;
                result["cacheScope"] = "private";
            }
            reply(id, std::move(result), modern);
            return;
        }
        if (method == "tools/call") {
            if (!params.is_object() || !params.contains("name") || !params["name"].is_string()) {
                send(error_message(id, {kInvalidParams, "tools/call needs the tool's name", {}}));
                return;
            }
            const auto name = params["name"].get<std::string>();
            const json arguments = params.contains("arguments") ? params["arguments"] : json();
            if (name == kWorkflowsTool || name == kReportTool) {
                reply(id, read_tool(name, arguments), modern);
                return;
            }
            if (!workflow(name)) {
                send(error_message(id, {kInvalidParams, "Unknown tool: " + name, {}}));
                return;
            }
            auto call = std::make_shared<Call>();
            call->id = id;
            call->tool = name;
            call->arguments = arguments;
            call->modern = modern;
            if (meta.is_object() && meta.contains("progressToken"))
                call->progress_token = meta["progressToken"];
            {
                std::lock_guard lock(mutex);
                queue.push_back(std::move(call));
            }
            wake.notify_all();
            return;
        }
        send(error_message(id, {kMethodNotFound, "Method not found: " + method, {}}));
    }

    std::string instructions() const
    {
        return "rote runs cached browser workflows in isolated sandboxes. Each workflow is a tool: call it with its "
               "inputs; it replays what was taught and answers with the outputs it read, or fails with where and "
               "why the page differed. Calls run one at a time, in order.";
    }

    void receive(std::string_view text)
    {
        json message;
        try {
            message = json::parse(text);
        } catch (const json::exception& e) {
            send(error_message(nullptr, {kParseError, std::string("not JSON: ") + e.what(), {}}));
            return;
        }
        if (message.is_array()) {
            // JSON-RPC batches are not part of MCP since 2025-06-18.
            send(error_message(nullptr, {kInvalidRequest, "batches are not supported", {}}));
            return;
        }
        if (!message.is_object() || message.value("jsonrpc", "") != "2.0") {
            send(error_message(nullptr, {kInvalidRequest, "not a JSON-RPC 2.0 message", {}}));
            return;
        }
        const bool has_id = message.contains("id");
        const json id = has_id ? message["id"] : json();
        if (!message.contains("method")) {
            if (has_id)
                return; // a response: this server sends no requests of its own
            send(error_message(nullptr, {kInvalidRequest, "neither a request nor a response", {}}));
            return;
        }
        if (!message["method"].is_string() || (has_id && !id.is_string() && !id.is_number_integer())) {
            send(error_message(has_id && (id.is_string() || id.is_number_integer()) ? id : json(),
                {kInvalidRequest, "a request needs a method name and a string or integer id", {}}));
            return;
        }
        const auto method = message["method"].get<std::string>();
        const json params = message.contains("params") ? message["params"] : json();
        if (!has_id) {
            if (method == "notifications/cancelled" && params.is_object() && params.contains("requestId"))
                cancel(params["requestId"]);
            return; // every other notification (initialized, roots changed, ...) asks nothing of this server
        }
        try {
            request(id, method, params);
        } catch (const json::exception& e) {
            send(error_message(id, {kInvalidParams, std::string("malformed parameters: ") + e.what(), {}}));
        }
    }
};

McpServer::McpServer(McpOptions options, std::function<void(const std::string&)> send)
    : m_impl(std::make_unique<Impl>())
{
    m_impl->options = std::move(options);
    m_impl->send_raw = std::move(send);
    m_impl->worker = std::thread([this] { m_impl->work(); });
}

McpServer::~McpServer() { m_impl->close(); }

void McpServer::close() { m_impl->close(); }

void McpServer::receive(std::string_view message) { m_impl->receive(message); }

void McpServer::serve(std::istream& in)
{
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r')
            line.pop_back();
        if (line.find_first_not_of(" \t") == std::string::npos)
            continue;
        m_impl->receive(line);
    }
    log()->info("the client closed the connection: cancelling what runs");
    m_impl->close();
}

nlohmann::json McpServer::tools() const { return m_impl->tools(); }

} // namespace rote::server
