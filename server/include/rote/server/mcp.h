#pragma once

// rote as a Model Context Protocol server (`rote mcp`): an agent calls a cached workflow as a tool. One tool
// per workflow: its input schema from the workflow's inputs (a secret input is never an argument: it comes
// from the server's environment, ROTE_SECRET_<NAME>), its output schema from the outputs, its annotations
// from the policy (read-only, destructive, idempotent, open-world). A call runs the workflow as `rote run`
// does (replay, the planner only where the screen diverged), sends a progress notification per step when the
// client gave a progress token, stops when the client cancels (the sandbox stopped, the run stored as
// cancelled), and returns the outputs as structured content with a short text; a failure returns the
// divergence and its screenshot. Two more tools read the store: the workflows with their figures, and the
// cost report.
//
// The wire: JSON-RPC 2.0 messages, one per line (stdio). Both eras of the protocol: the stateless revision
// 2026-07-28 (server/discover; every request names its revision in _meta; every result says resultType) and,
// for older clients, the initialize handshake of 2025-11-25, 2025-06-18 and 2025-03-26.

#include <functional>
#include <istream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <rote/agent/agent.h>
#include <rote/agent/workflow.h>
#include <rote/base/result.h>
#include <rote/store/store.h>

namespace rote::server {

inline constexpr std::string_view kMcpVersion = "2026-07-28"; // the stateless revision
inline constexpr std::string_view kMcpVersionKey = "io.modelcontextprotocol/protocolVersion"; // in _meta
inline constexpr std::string_view kMcpLegacyVersions[] = {"2025-11-25", "2025-06-18", "2025-03-26"}; // by initialize

struct McpOptions {
    std::vector<runtime::Workflow> workflows; // one tool each; their names are the tools' names
    // How a call runs its workflow (planner, model, provider, routes); progress and stop are set per call.
    runtime::RunOptions run;
    // The store for the thread that runs workflows (opened once, written by every run), and for a call that
    // only reads it (the report), opened per call so that it never waits for a run.
    std::function<Result<std::unique_ptr<store::Store>>()> open_store;
    std::function<Result<std::unique_ptr<store::Store>>()> open_store_to_read;
    std::string version; // rote's, in serverInfo
    // Who runs a workflow's call. Unset: the server's own thread, on the store open_store gives (rote mcp).
    // Set: this (rote serve passes its run queue, so that a call waits for a free runner and shows among its
    // runs); it blocks until the run has ended, and the divergence's screenshot is read from
    // open_store_to_read.
    std::function<Result<runtime::RunResult>(const runtime::Workflow&, const runtime::RunInputs&, runtime::RunOptions)>
        execute;
};

class McpServer {
public:
    // `send` writes one message (JSON text, without the newline) to the client. It is called from the
    // server's two threads (the caller of receive() and the one that runs workflows), never from both at once.
    McpServer(McpOptions options, std::function<void(const std::string&)> send);
    // Cancels the queued and running calls and waits for the running one to end (its run stored as cancelled).
    ~McpServer();
    McpServer(const McpServer&) = delete;
    McpServer& operator=(const McpServer&) = delete;

    // One message from the client: a request, a notification or a response, as JSON text. Answered at once
    // when it can be (server/discover, initialize, ping, tools/list, the report tools, every error); a call
    // of a workflow's tool is queued and answered when its run ends, one run at a time, in order.
    void receive(std::string_view message);

    // Serves `in` a line at a time until it ends; then cancels what is queued and running, and returns once
    // the running call has ended.
    void serve(std::istream& in);

    // Cancels what is queued and running, and returns once the running call has ended (as the destructor).
    void close();

    // The tools as tools/list gives them.
    nlohmann::json tools() const;

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

} // namespace rote::server
