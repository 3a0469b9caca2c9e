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
//   POST   /v1/runs/{id}/view     a live view of the running run's desktop (view-only, or {"control": true}):
//                                 noVNC on 127.0.0.1 with a token of its own, closed when the sandbox stops
//   GET    /v1/workflows          the workflows served, with their figures
//   GET    /v1/report             the cost report (?workflow=NAME&since=TIME)
//   GET    /v1/openapi.json       the OpenAPI 3.1 document of all of it
//   POST   /mcp                   MCP over streamable HTTP, stateless: the tools of `rote mcp`, whose workflow
//                                 calls run through the same queue
// The server is cpp-httplib's (over OpenSSL with TLS). Without TLS it listens on loopback only: the token
// would cross a network in clear text. Live views are on 127.0.0.1 whatever the API listens on.

#include <filesystem>
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
    std::string host = "127.0.0.1"; // a loopback address, or any with TLS
    // TLS: a PEM certificate (chain) and its key. Without them the server listens on loopback only.
    std::filesystem::path tls_cert, tls_key;
    int port = 0; // 0: any free port
    int concurrency = 2; // runs at once (sandboxes); the rest wait in order
    std::string version; // rote's, in the OpenAPI document
    // Where live views keep their token files and relay sockets (rote's own runtime directory); empty: no
    // live views (POST /v1/runs/{id}/view answers 501).
    std::filesystem::path view_dir;
};

class HttpServer {
public:
    // Binds and starts serving on threads of its own. An address that is not loopback is refused without TLS:
    // the token would cross a network in clear text.
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
