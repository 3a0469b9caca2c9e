#pragma once

// rote's HTTP API (`rote serve`): a program or a person posts runs of cached workflows and follows them. Every
// request carries the server's bearer token (401 without it). Runs are queued and run at most `concurrency` at
// a time, each in a fresh sandbox, as `rote run` runs them. The API (docs/http.md; GET /v1/openapi.json
// describes it):
//   POST   /v1/runs               {"workflow", "inputs"}: queued; 202 with the run's id and URL
//   GET    /v1/runs               the runs this server knows, newest first
//   GET    /v1/runs/{id}          status, steps, outputs, cost (the run as `rote run --json` prints it, once ended)
//   GET    /v1/runs/{id}/events   server-sent events: the status, one per step, in order, and the end
//   DELETE /v1/runs/{id}          cancel: a queued run never starts, a running one's sandbox is stopped
//   GET    /v1/workflows          the workflows served, with their figures
//   GET    /v1/report             the cost report (?workflow=NAME&since=TIME)
//   GET    /v1/openapi.json       the OpenAPI 3.1 document of all of it
//   POST   /mcp                   MCP over streamable HTTP, stateless: the tools of `rote mcp`, whose workflow
//                                 calls run through the same queue
// The server is cpp-httplib's; it listens on loopback only (it has no TLS of its own).

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <rote/agent/agent.h>
#include <rote/agent/workflow.h>
#include <rote/base/result.h>
#include <rote/store/store.h>

namespace rote::server {

struct HttpOptions {
    std::vector<runtime::Workflow> workflows; // the ones a run may name
    runtime::RunOptions run; // how runs run (planner, model, provider, routes); progress and stop are per run
    // A store for each runner (opened once per runner thread, written by its runs), and one opened per request
    // that only reads (the report, the workflows), so that a reader never waits for a run.
    std::function<Result<std::unique_ptr<store::Store>>()> open_store;
    std::function<Result<std::unique_ptr<store::Store>>()> open_store_to_read;
    std::string token; // the bearer token every request must carry
    std::string host = "127.0.0.1"; // a loopback address
    int port = 0; // 0: any free port
    int concurrency = 2; // runs at once (sandboxes); the rest wait in order
    std::string version; // rote's, in the OpenAPI document
};

class HttpServer {
public:
    // Binds and starts serving on threads of its own. An address that is not loopback is refused: the token
    // would cross a network in clear text.
    static Result<std::unique_ptr<HttpServer>> start(HttpOptions options);
    // stop(), then waits.
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    int port() const;
    std::string url() const; // http://HOST:PORT

    // Cancels the queued runs, stops the running ones (their sandboxes stopped, the runs stored cancelled),
    // ends every event stream and stops listening; returns once all has ended. Idempotent.
    void stop();

    // The OpenAPI document served at /v1/openapi.json.
    nlohmann::json openapi() const;

    struct Impl;

private:
    explicit HttpServer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

// The OpenAPI 3.1 document of the HTTP API, for a server at `url`.
nlohmann::json openapi_document(const std::string& url, const std::string& version);

} // namespace rote::server
