#include <rote/server/http.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <deque>
#include <map>
#include <optional>
#include <mutex>
#include <stop_token>
#include <thread>

#include <arpa/inet.h>
#include <httplib.h>

#include <rote/base/log.h>
#include <rote/base/token.h>
#include <rote/liveview/live_view.h>
#include <rote/report/html.h>
#include <rote/server/json.h>
#include <rote/server/mcp.h>

namespace rote::server {

namespace {

using nlohmann::json;
using Clock = std::chrono::system_clock;

std::shared_ptr<spdlog::logger> log() { return logger("server.http"); }

// Now in UTC to the millisecond: "2026-12-06T09:00:01.234Z" (runs are ordered and overlapped by it).
std::string now_ms()
{
    const auto now = Clock::now();
    const std::time_t t = Clock::to_time_t(now);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm {};
    ::gmtime_r(&t, &tm);
    char buf[96];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
        tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
    return buf;
}

bool loopback(const std::string& host)
{
    if (host == "localhost")
        return true;
    in_addr v4 {};
    if (::inet_pton(AF_INET, host.c_str(), &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    in6_addr v6 {};
    return ::inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

void send_json(httplib::Response& res, int status, const json& body)
{
    res.status = status;
    res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& message)
{
    send_json(res, status, {{"error", {{"status", status}, {"message", message}}}});
}

// How long an event stream waits for news before it sends a comment (a dead client shows itself by the write
// failing), and how often a waiter looks whether the server is stopping.
constexpr auto kStreamTick = std::chrono::seconds(1);
constexpr int kKeepAliveTicks = 15;
// The finished runs kept in memory for GET; older ones are in the store (rote show, the report).
constexpr std::size_t kRunsKept = 1000;

struct Run {
    std::string id;
    const runtime::Workflow* workflow = nullptr;
    runtime::RunInputs inputs;
    std::string status = "queued"; // queued, running, then a store status (succeeded, failed, cancelled, ...)
    std::string queued_at, started_at, finished_at;
    std::vector<json> events; // {"event": NAME, "data": {...}}, in order; their ids are their positions from 1
    json result; // the run as `rote run --json` prints it, once it ended
    std::vector<std::string> steps; // the progress lines, in order
    std::stop_source stop;
    // A run an MCP call made: its progress goes to the call too, and the call reads its outcome.
    std::function<void(const std::string&)> progress_too;
    std::optional<Result<runtime::RunResult>> outcome;
    // While its sandbox is up: its desktop, and the live views asked for (view-only, control), closed with it.
    std::optional<runtime::VncEndpoint> desktop;
    std::unique_ptr<runtime::LiveView> views[2];

    bool ended() const { return status != "queued" && status != "running"; }
};

} // namespace

struct HttpServer::Impl {
    HttpOptions options;
    McpOptions mcp_options; // what each /mcp request's server serves: the same workflows, runs through the queue
    std::unique_ptr<httplib::Server> http; // an SSLServer with TLS
    std::thread listener;
    std::vector<std::thread> runners;

    std::mutex mutex; // guards what follows
    std::condition_variable changed; // a run was queued, started, stepped or ended; or the server is stopping
    std::map<std::string, std::shared_ptr<Run>> runs;
    std::deque<std::shared_ptr<Run>> queue;
    std::deque<std::string> ended_order; // ids of ended runs, oldest first (for forgetting them)
    bool stopping = false;
    bool stopped = false;

    std::string url() const
    {
        const bool v6 = options.host.find(':') != std::string::npos;
        return std::string(options.tls_cert.empty() ? "http://" : "https://") + (v6 ? "[" + options.host + "]" : options.host)
            + ":" + std::to_string(options.port);
    }

    const runtime::Workflow* workflow(const std::string& name) const
    {
        for (const auto& w : options.workflows) {
            if (w.name == name)
                return &w;
        }
        return nullptr;
    }

    // Under the lock.
    void add_event(Run& run, std::string name, json data)
    {
        run.events.push_back({{"event", std::move(name)}, {"data", std::move(data)}});
        changed.notify_all();
    }

    // Under the lock.
    json run_document(const Run& run) const
    {
        json doc {{"id", run.id}, {"url", url() + "/v1/runs/" + run.id},
            {"events_url", url() + "/v1/runs/" + run.id + "/events"}, {"workflow", run.workflow->name},
            {"inputs", run.inputs.values}, {"status", run.status}, {"queued_at", run.queued_at},
            {"started_at", run.started_at.empty() ? json(nullptr) : json(run.started_at)},
            {"finished_at", run.finished_at.empty() ? json(nullptr) : json(run.finished_at)}, {"steps", run.steps},
            {"outputs", nullptr}, {"run", run.result.is_null() ? json(nullptr) : run.result}};
        if (run.result.is_object()) {
            doc["outputs"] = run.result["outputs"];
            doc["run_id"] = run.result["run_id"];
            doc["error"] = run.result["error"];
            doc["planner_calls"] = run.result["planner_calls"];
            doc["mode"] = run.result["mode"];
            doc["cost_microusd"] = run.result["cost_microusd"];
            doc["cost"] = dollars(run.result["cost_microusd"].get<std::int64_t>());
        }
        return doc;
    }

    // Under the lock: the run ended (its result set, or cancelled before it started).
    void end(Run& run, std::string status)
    {
        close_views(run);
        run.status = std::move(status);
        run.finished_at = now_ms();
        add_event(run, "end", run_document(run));
        ended_order.push_back(run.id);
        while (ended_order.size() > kRunsKept) {
            runs.erase(ended_order.front());
            ended_order.pop_front();
        }
    }

    // Under the lock: its sandbox stopped (or the run ended): no view of it stays open.
    static void close_views(Run& run)
    {
        run.desktop.reset();
        for (auto& view : run.views)
            view.reset();
    }

    // Under the lock: the run ended without a stored run to show for it.
    void fail(Run& run, const std::string& why)
    {
        run.result = {{"status", "failed"}, {"error", why}, {"outputs", json::object()}, {"run_id", nullptr},
            {"planner_calls", 0}, {"cost_microusd", 0}};
        end(run, "failed");
    }

    void run_one(store::Store& store, const std::shared_ptr<Run>& run)
    {
        runtime::RunOptions options_for_run = options.run;
        options_for_run.stop = run->stop.get_token();
        options_for_run.progress = [this, run](const std::string& line) {
            {
                std::lock_guard lock(mutex);
                run->steps.push_back(line);
                add_event(*run, "step", {{"step", run->steps.size()}, {"message", line}});
            }
            if (run->progress_too)
                run->progress_too(line);
        };
        options_for_run.desktop = [this, run](const runtime::VncEndpoint* desktop) {
            std::lock_guard lock(mutex);
            if (desktop)
                run->desktop = *desktop;
            else
                close_views(*run);
        };
        auto result = runtime::run_workflow(store, *run->workflow, run->inputs, options_for_run);
        std::lock_guard lock(mutex);
        run->outcome = result;
        if (!result.ok()) {
            fail(*run, "the run could not be stored: " + result.error().message());
            return;
        }
        run->result = run_json(*run->workflow, run->inputs, *result);
        end(*run, std::string(store::to_string(result->status)));
    }

    void runner()
    {
        std::unique_ptr<store::Store> store;
        while (true) {
            std::shared_ptr<Run> run;
            {
                std::unique_lock lock(mutex);
                changed.wait(lock, [&] { return stopping || !queue.empty(); });
                if (stopping)
                    return;
                run = queue.front();
                queue.pop_front();
                run->status = "running";
                run->started_at = now_ms();
                add_event(*run, "status", {{"status", "running"}, {"started_at", run->started_at}});
            }
            if (!store) {
                auto opened = options.open_store();
                if (!opened.ok()) {
                    std::lock_guard lock(mutex);
                    run->outcome = opened.error().with_context("cannot open the store");
                    fail(*run, "cannot open the store: " + opened.error().message());
                    continue;
                }
                store = std::move(*opened);
            }
            run_one(*store, run);
        }
    }

    // --- the endpoints ---

    void post_run(const httplib::Request& req, httplib::Response& res)
    {
        const json body = json::parse(req.body, nullptr, false);
        if (body.is_discarded() || !body.is_object())
            return send_error(res, 400, "the body must be a JSON object: {\"workflow\": NAME, \"inputs\": {...}}");
        if (!body.contains("workflow") || !body["workflow"].is_string())
            return send_error(res, 400, "\"workflow\" must name a workflow this server runs");
        const auto* w = workflow(body["workflow"].get<std::string>());
        if (!w)
            return send_error(res, 404, "no workflow '" + body["workflow"].get<std::string>() + "' here (GET /v1/workflows)");
        auto inputs = call_inputs(*w, body.contains("inputs") ? body["inputs"] : json());
        if (!inputs.ok())
            return send_error(res, 400, inputs.error().message());
        auto run = enqueue(*w, std::move(*inputs), nullptr);
        if (!run.ok())
            return send_error(res, run.error().code() == Error::Code::busy ? 503 : 500, run.error().message());
        json doc;
        {
            std::lock_guard lock(mutex);
            doc = run_document(**run);
        }
        res.set_header("Location", "/v1/runs/" + (*run)->id);
        send_json(res, 202, doc);
    }

    Result<std::shared_ptr<Run>> enqueue(const runtime::Workflow& w, runtime::RunInputs inputs,
        std::function<void(const std::string&)> progress_too)
    {
        auto id = ROTE_TRY(random_token());
        auto run = std::make_shared<Run>();
        run->id = id.substr(0, 16);
        run->workflow = &w;
        run->inputs = std::move(inputs);
        run->queued_at = now_ms();
        run->progress_too = std::move(progress_too);
        {
            std::lock_guard lock(mutex);
            if (stopping)
                return Error(Error::Code::busy, "the server is stopping");
            runs[run->id] = run;
            queue.push_back(run);
            add_event(*run, "status", {{"status", "queued"}, {"queued_at", run->queued_at}});
        }
        log()->info("run {} of {} queued", run->id, w.name);
        return run;
    }

    // Under the lock: a queued run never starts; a running one is stopped. False if it had ended.
    bool cancel(Run& run)
    {
        if (run.ended())
            return false;
        if (run.status == "queued") {
            queue.erase(std::remove_if(queue.begin(), queue.end(), [&](const auto& r) { return r.get() == &run; }),
                queue.end());
            end(run, "cancelled");
            log()->info("run {} cancelled before it started", run.id);
            return true;
        }
        log()->info("run {} cancelled: stopping its sandbox", run.id);
        run.stop.request_stop();
        return true;
    }

    // An MCP call's run: queued like any other (it waits for a free runner and is listed among the runs), its
    // progress passed on; blocks until it has ended. The call's stop cancels it.
    Result<runtime::RunResult> execute(const runtime::Workflow& w, const runtime::RunInputs& inputs,
        const runtime::RunOptions& call)
    {
        // The server's own copy of the workflow: the run outlives the call's McpServer (it stays listed).
        const runtime::Workflow* own = workflow(w.name);
        if (!own)
            return Error(Error::Code::not_found, "no workflow '" + w.name + "' here");
        auto run = ROTE_TRY(enqueue(*own, inputs, call.progress));
        std::stop_callback on_stop(call.stop, [this, run] {
            std::lock_guard lock(mutex);
            cancel(*run);
            changed.notify_all();
        });
        std::unique_lock lock(mutex);
        changed.wait(lock, [&] { return run->ended(); });
        if (!run->outcome)
            return Error(Error::Code::cancelled, "the run was cancelled before it started");
        return *run->outcome;
    }

    std::shared_ptr<Run> find(const std::string& id)
    {
        auto it = runs.find(id);
        return it == runs.end() ? nullptr : it->second;
    }

    void get_run(const httplib::Request& req, httplib::Response& res)
    {
        std::lock_guard lock(mutex);
        auto run = find(req.matches[1]);
        if (!run)
            return send_error(res, 404, "no run " + std::string(req.matches[1]) + " on this server");
        send_json(res, 200, run_document(*run));
    }

    // A live view of a running run's desktop: made on the first request (for each mode), the same one after,
    // closed when the sandbox stops. Its URL carries a token of its own: whoever holds the API token may hand
    // it to a person.
    void view(const httplib::Request& req, httplib::Response& res)
    {
        bool control = false;
        if (!req.body.empty()) {
            const json body = json::parse(req.body, nullptr, false);
            if (body.is_discarded() || !body.is_object() || (body.contains("control") && !body["control"].is_boolean()))
                return send_error(res, 400, "the body must be empty or {\"control\": true|false}");
            control = body.value("control", false);
        }
        if (options.view_dir.empty())
            return send_error(res, 501, "live views are off on this server");
        // Checked under the lock; websockify started outside it (it takes a moment to listen, and every other
        // request and stream waits on the lock); kept only if the run still shows that desktop.
        std::unique_lock lock(mutex);
        auto run = find(req.matches[1]);
        if (!run)
            return send_error(res, 404, "no run " + std::string(req.matches[1]) + " on this server");
        const auto unavailable = [&] {
            if (run->ended())
                return "run " + run->id + " has ended (" + run->status + "): its sandbox is gone";
            return run->desktop ? std::string() : "run " + run->id + "'s sandbox is not up yet (" + run->status + "); ask again";
        };
        if (const std::string why = unavailable(); !why.empty())
            return send_error(res, 409, why);
        auto& slot = run->views[control ? 1 : 0];
        bool made = false;
        if (!slot) {
            const runtime::VncEndpoint desktop = *run->desktop;
            lock.unlock();
            auto started = runtime::LiveView::start({desktop,
                control ? runtime::ViewMode::control : runtime::ViewMode::view_only, 0, options.view_dir, "run-" + run->id, {}, std::nullopt});
            lock.lock();
            if (!started.ok())
                return send_error(res, 500, "cannot start the live view: " + started.error().message());
            if (const std::string why = unavailable(); !why.empty())
                return send_error(res, 409, why); // the view made meanwhile closes here
            if (run->desktop->to_string() != desktop.to_string())
                return send_error(res, 409, "run " + run->id + " moved to another sandbox meanwhile; ask again");
            if (!slot) { // else another request made one meanwhile: that one is the view
                slot = std::move(*started);
                made = true;
                log()->info("run {}: a live view ({}) on port {}", run->id, control ? "control" : "view only", slot->port());
            }
        }
        send_json(res, made ? 201 : 200, {{"run", run->id}, {"url", slot->url()}, {"control", control},
            {"closes", "when the run's sandbox stops"}});
    }

    void list_runs(httplib::Response& res)
    {
        std::lock_guard lock(mutex);
        std::vector<std::shared_ptr<Run>> all;
        for (const auto& [id, run] : runs)
            all.push_back(run);
        std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a->queued_at > b->queued_at; });
        json list = json::array();
        for (const auto& run : all) {
            json doc = run_document(*run);
            doc.erase("steps");
            doc.erase("run");
            list.push_back(std::move(doc));
        }
        send_json(res, 200, {{"runs", list}});
    }

    void delete_run(const httplib::Request& req, httplib::Response& res)
    {
        std::lock_guard lock(mutex);
        auto run = find(req.matches[1]);
        if (!run)
            return send_error(res, 404, "no run " + std::string(req.matches[1]) + " on this server");
        const bool queued = run->status == "queued";
        if (!cancel(*run))
            return send_error(res, 409, "run " + run->id + " has ended (" + run->status + ")");
        if (queued)
            return send_json(res, 200, run_document(*run));
        json doc = run_document(*run);
        doc["status"] = "cancelling";
        send_json(res, 202, doc);
    }

    // Server-sent events: every event of the run from the one after Last-Event-ID, then each as it comes, until
    // the run's end event has been sent.
    void events(const httplib::Request& req, httplib::Response& res)
    {
        std::shared_ptr<Run> run;
        {
            std::lock_guard lock(mutex);
            run = find(req.matches[1]);
        }
        if (!run)
            return send_error(res, 404, "no run " + std::string(req.matches[1]) + " on this server");
        std::size_t next = 0;
        if (req.has_header("Last-Event-ID")) {
            try {
                next = std::stoul(req.get_header_value("Last-Event-ID"));
            } catch (const std::exception&) {
                return send_error(res, 400, "Last-Event-ID must be the id of an event of this run");
            }
        }
        res.set_header("Cache-Control", "no-store");
        res.set_header("X-Accel-Buffering", "no");
        res.set_chunked_content_provider("text/event-stream", [this, run, next](std::size_t, httplib::DataSink& sink) mutable {
            std::string out;
            bool done = false;
            {
                std::unique_lock lock(mutex);
                for (int tick = 0; next >= run->events.size() && !stopping && tick < kKeepAliveTicks; ++tick)
                    changed.wait_for(lock, kStreamTick, [&] { return next < run->events.size() || stopping; });
                while (next < run->events.size()) {
                    const json& e = run->events[next++];
                    out += "id: " + std::to_string(next) + "\nevent: " + e["event"].get<std::string>() + "\ndata: "
                        + e["data"].dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
                    done = done || e["event"] == "end";
                }
                // A run that ended has nothing more to say (a client that resumes after its end event, too).
                done = done || (stopping && out.empty()) || (run->ended() && next >= run->events.size());
            }
            if (out.empty())
                out = ": waiting\n\n"; // a comment: keeps the connection and finds a client gone
            if (!sink.write(out.data(), out.size()))
                return false;
            if (done)
                sink.done();
            return true;
        });
    }

    // The runs `?workflow=` and `?since=` select.
    static store::ReportQuery report_query(const httplib::Request& req)
    {
        store::ReportQuery query;
        if (req.has_param("workflow"))
            query.workflow = req.get_param_value("workflow");
        if (req.has_param("since"))
            query.since = req.get_param_value("since");
        return query;
    }

    void report(const httplib::Request& req, httplib::Response& res)
    {
        auto store = options.open_store_to_read();
        if (!store.ok())
            return send_error(res, 500, "cannot open the store: " + store.error().message());
        auto report = (*store)->report(report_query(req));
        if (!report.ok())
            return send_error(res, report.error().code() == Error::Code::invalid_argument ? 400 : 500,
                report.error().message());
        send_json(res, 200, report_json(*report));
    }

    // The report as a page (report::html): `workflow` and `since` as /v1/report, `detail` the runs shown step
    // by step. Served with a policy that lets it load nothing from anywhere: it has all it needs inline.
    void report_page(const httplib::Request& req, httplib::Response& res)
    {
        report::HtmlOptions page_options;
        if (req.has_param("detail")) {
            const std::string detail = req.get_param_value("detail");
            if (detail.empty() || detail.size() > 6 || detail.find_first_not_of("0123456789") != std::string::npos)
                return send_error(res, 400, "detail is a number of runs, 0 to 999999");
            page_options.detailed_runs = std::stoi(detail);
        }
        auto store = options.open_store_to_read();
        if (!store.ok())
            return send_error(res, 500, "cannot open the store: " + store.error().message());
        auto page = report::html(**store, report_query(req), page_options);
        if (!page.ok()) {
            const auto code = page.error().code();
            return send_error(res, code == Error::Code::invalid_argument ? 400 : code == Error::Code::not_found ? 404 : 500,
                page.error().message());
        }
        res.status = 200;
        res.set_header("Content-Security-Policy", report::kPagePolicy);
        res.set_content(*page, "text/html; charset=utf-8");
    }

    void list_workflows(httplib::Response& res)
    {
        auto store = options.open_store_to_read();
        if (!store.ok())
            return send_error(res, 500, "cannot open the store: " + store.error().message());
        auto doc = workflows_json(options.workflows, **store);
        if (!doc.ok())
            return send_error(res, 500, doc.error().message());
        send_json(res, 200, *doc);
    }

    // MCP over streamable HTTP: one JSON-RPC message per POST, answered by a McpServer of its own (the protocol
    // is stateless: no session). A notification gets 202; a request answered at once, its JSON; a workflow's
    // call, a stream of server-sent events (its progress, then its answer) while its run waits in the queue
    // and runs like any other. The client closing that stream cancels the call (the 2026-07-28 revision's way).
    void mcp_post(const httplib::Request& req, httplib::Response& res)
    {
        const json message = json::parse(req.body, nullptr, false);
        const bool is_request = message.is_object() && message.contains("method") && message.contains("id");
        if (is_request && message["method"].is_string()) {
            // The headers that mirror the body (the 2026-07-28 binding) must agree with it.
            const json& meta = message.contains("params") && message["params"].is_object()
                    && message["params"].contains("_meta") ? message["params"]["_meta"] : json();
            const std::string version = req.get_header_value("MCP-Protocol-Version");
            const std::string method = req.get_header_value("Mcp-Method");
            const bool modern = meta.is_object() && meta.contains(std::string(kMcpVersionKey));
            std::string disagreement;
            if (modern && !version.empty() && meta[std::string(kMcpVersionKey)] != version)
                disagreement = "the MCP-Protocol-Version header (" + version + ") is not the request's revision";
            if (!method.empty() && method != message["method"].get<std::string>())
                disagreement = "the Mcp-Method header (" + method + ") is not the request's method";
            if (!disagreement.empty())
                return send_json(res, 400,
                    {{"jsonrpc", "2.0"}, {"id", message["id"]},
                        {"error", {{"code", -32600}, {"message", disagreement}}}});
        }
        struct Channel {
            std::mutex mutex;
            std::condition_variable arrived;
            std::deque<std::string> messages;
        };
        auto channel = std::make_shared<Channel>();
        auto server = std::make_shared<McpServer>(mcp_options, [channel](const std::string& m) {
            std::lock_guard lock(channel->mutex);
            channel->messages.push_back(m);
            channel->arrived.notify_all();
        });
        server->receive(req.body);
        if (!is_request) {
            // A notification, or a response (this server asks nothing): nothing to answer, unless the message
            // could not be taken at all.
            std::lock_guard lock(channel->mutex);
            if (channel->messages.empty()) {
                res.status = 202;
                return;
            }
            return send_json(res, 400, json::parse(channel->messages.back()));
        }
        const json id = message.is_object() && message.contains("id") ? message["id"] : json();
        // The answer, when it is the message's: a result or an error for its id, or an error for no id.
        auto answers = [id](const std::string& text) {
            const json m = json::parse(text, nullptr, false);
            return m.is_object() && (m.contains("result") || m.contains("error"))
                && (m["id"] == id || m["id"].is_null());
        };
        {
            std::lock_guard lock(channel->mutex);
            if (!channel->messages.empty() && answers(channel->messages.back())) {
                // Answered at once.
                const json answer = json::parse(channel->messages.back());
                return send_json(res, 200, answer);
            }
        }
        res.set_header("Cache-Control", "no-store");
        res.set_chunked_content_provider(
            "text/event-stream",
            [this, channel, answers](std::size_t, httplib::DataSink& sink) {
                std::string out;
                bool done = false;
                {
                    std::unique_lock lock(channel->mutex);
                    channel->arrived.wait_for(lock, kStreamTick, [&] { return !channel->messages.empty(); });
                    while (!channel->messages.empty()) {
                        done = done || answers(channel->messages.front());
                        out += "event: message\ndata: " + channel->messages.front() + "\n\n";
                        channel->messages.pop_front();
                    }
                }
                {
                    std::lock_guard lock(mutex);
                    done = done || stopping;
                }
                if (out.empty())
                    out = ": waiting\n\n"; // finds a client that closed the stream: that cancels the call
                if (!sink.write(out.data(), out.size()))
                    return false;
                if (done)
                    sink.done();
                return true;
            },
            [server](bool) {
                // The stream ended: answered, or closed by the client (the call is cancelled, its run stopped).
                server->close();
            });
    }

    bool authorized(const httplib::Request& req) const
    {
        const std::string header = req.get_header_value("Authorization");
        constexpr std::string_view scheme = "Bearer ";
        return header.size() > scheme.size() && std::equal(scheme.begin(), scheme.end(), header.begin())
            && same_token(std::string_view(header).substr(scheme.size()), options.token);
    }

    void routes()
    {
        http->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
            if (authorized(req))
                return httplib::Server::HandlerResponse::Unhandled;
            log()->warn("{} {}: refused, no valid bearer token", req.method, req.path);
            res.set_header("WWW-Authenticate", "Bearer realm=\"rote\"");
            send_error(res, 401, "this API needs the server's bearer token (Authorization: Bearer TOKEN; rote serve "
                                 "says which file holds it)");
            return httplib::Server::HandlerResponse::Handled;
        });
        http->set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
            if (!res.body.empty())
                return httplib::Server::HandlerResponse::Unhandled;
            send_error(res, res.status,
                res.status == 404 ? "no such endpoint: " + req.method + " " + req.path + " (GET /v1/openapi.json)"
                                  : "HTTP status " + std::to_string(res.status));
            return httplib::Server::HandlerResponse::Handled;
        }));
        http->set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr e) {
            std::string what = "unknown";
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                what = x.what();
            } catch (...) {
            }
            log()->error("{} {}: {}", req.method, req.path, what);
            send_error(res, 500, "internal error: " + what);
        });
        http->Post("/v1/runs", [this](const httplib::Request& req, httplib::Response& res) { post_run(req, res); });
        http->Get("/v1/runs", [this](const httplib::Request&, httplib::Response& res) { list_runs(res); });
        http->Get(R"(/v1/runs/([0-9a-f]+))", [this](const httplib::Request& req, httplib::Response& res) { get_run(req, res); });
        http->Delete(R"(/v1/runs/([0-9a-f]+))", [this](const httplib::Request& req, httplib::Response& res) { delete_run(req, res); });
        http->Get(R"(/v1/runs/([0-9a-f]+)/events)", [this](const httplib::Request& req, httplib::Response& res) { events(req, res); });
        http->Post(R"(/v1/runs/([0-9a-f]+)/view)", [this](const httplib::Request& req, httplib::Response& res) { view(req, res); });
        http->Get("/v1/workflows", [this](const httplib::Request&, httplib::Response& res) { list_workflows(res); });
        http->Get("/v1/report", [this](const httplib::Request& req, httplib::Response& res) { report(req, res); });
        http->Get("/v1/report.html", [this](const httplib::Request& req, httplib::Response& res) { report_page(req, res); });
        http->Post("/mcp", [this](const httplib::Request& req, httplib::Response& res) { mcp_post(req, res); });
        auto post_only = [](const httplib::Request&, httplib::Response& res) {
            res.set_header("Allow", "POST");
            send_error(res, 405, "MCP here is stateless streamable HTTP: POST one message per request");
        };
        http->Get("/mcp", post_only);
        http->Delete("/mcp", post_only);
        http->Get("/v1/openapi.json", [this](const httplib::Request&, httplib::Response& res) {
            send_json(res, 200, openapi_document(url(), options.version));
        });
    }

    void stop()
    {
        {
            std::lock_guard lock(mutex);
            if (stopped)
                return;
            stopped = true;
            stopping = true;
            for (auto& run : queue)
                end(*run, "cancelled");
            queue.clear();
            for (auto& [id, run] : runs) {
                if (run->status == "running")
                    run->stop.request_stop();
            }
        }
        changed.notify_all();
        for (auto& t : runners)
            t.join();
        // The runs have ended and every stream has seen the end; now stop listening.
        http->stop();
        if (listener.joinable())
            listener.join();
    }
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl)
    : m_impl(std::move(impl))
{
}

HttpServer::~HttpServer() { stop(); }

Result<std::unique_ptr<HttpServer>> HttpServer::start(HttpOptions options)
{
    const bool tls = !options.tls_cert.empty() || !options.tls_key.empty();
    if (tls && (options.tls_cert.empty() || options.tls_key.empty()))
        return Error(Error::Code::invalid_argument, "TLS needs both a certificate (--tls-cert) and its key (--tls-key)");
    if (!tls && !loopback(options.host))
        return Error(Error::Code::invalid_argument,
            "rote serve listens on " + options.host + " only with TLS (--tls-cert, --tls-key): without it the "
                "bearer token would cross the network in clear text. Loopback addresses need no TLS");
    if (options.token.size() < 32)
        return Error(Error::Code::invalid_argument, "rote serve needs a bearer token of 32 characters or more");
    if (options.concurrency < 1)
        return Error(Error::Code::invalid_argument, "the concurrency must be 1 or more");
    auto impl = std::make_unique<Impl>();
    impl->options = std::move(options);
    Impl& s = *impl;
    s.mcp_options.workflows = s.options.workflows;
    s.mcp_options.run = s.options.run;
    s.mcp_options.open_store = s.options.open_store;
    s.mcp_options.open_store_to_read = s.options.open_store_to_read;
    s.mcp_options.version = s.options.version;
    s.mcp_options.execute = [&s](const runtime::Workflow& w, const runtime::RunInputs& inputs, runtime::RunOptions run) {
        return s.execute(w, inputs, run);
    };
    if (tls) {
        auto server = std::make_unique<httplib::SSLServer>(s.options.tls_cert.c_str(), s.options.tls_key.c_str());
        if (!server->is_valid())
            return Error(Error::Code::invalid_argument, "cannot use the TLS certificate " + s.options.tls_cert.string()
                    + " with the key " + s.options.tls_key.string() + " (PEM files, the key matching the certificate)");
        s.http = std::move(server);
    } else {
        s.http = std::make_unique<httplib::Server>();
    }
    // Every connection holds a thread while it is served (an event stream for as long as its run lasts).
    s.http->new_task_queue = [] { return new httplib::ThreadPool(64); };
    s.http->set_payload_max_length(1 << 20);
    s.http->set_read_timeout(30, 0);
    s.routes();
    if (s.options.port == 0) {
        const int port = s.http->bind_to_any_port(s.options.host);
        if (port <= 0)
            return Error(Error::Code::io, "cannot listen on " + s.options.host);
        s.options.port = port;
    } else if (!s.http->bind_to_port(s.options.host, s.options.port)) {
        return Error(Error::Code::io,
            "cannot listen on " + s.options.host + ":" + std::to_string(s.options.port) + " (in use?)");
    }
    s.listener = std::thread([&s] { s.http->listen_after_bind(); });
    for (int i = 0; i < s.options.concurrency; ++i)
        s.runners.emplace_back([&s] { s.runner(); });
    log()->info("serving {} workflows on {} ({} runs at once)", s.options.workflows.size(), s.url(), s.options.concurrency);
    return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

int HttpServer::port() const { return m_impl->options.port; }

std::string HttpServer::url() const { return m_impl->url(); }

void HttpServer::stop() { m_impl->stop(); }

nlohmann::json HttpServer::openapi() const { return openapi_document(m_impl->url(), m_impl->options.version); }

} // namespace rote::server
