#include <rote/api/runner.h>

#include <filesystem>
#include <algorithm>
#include <cstdlib>
#include <optional>
#include <thread>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http.hpp>

#include <rote/base/text.h>
#include <rote/base/text_template.h>
#include <rote/egress/egress_proxy.h>

#include "body.h"

namespace rote::api {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace fs = std::filesystem;
namespace ssl = asio::ssl;

std::string_view to_string(Outcome outcome)
{
    switch (outcome) {
    case Outcome::done: return "done";
    case Outcome::unreachable: return "unreachable";
    case Outcome::changed: return "changed";
    case Outcome::unknown: return "unknown";
    }
    return "unknown";
}

namespace {

constexpr std::uint64_t kAnswerLimit = 16 * 1024 * 1024;

struct Answer {
    int status = 0;
    body::Fields headers;
    body::Parsed parsed;
    std::string url;
};

std::string origin_of(const PlanRequest& p)
{
    const bool standard = p.port == (p.scheme == "https" ? 443 : 80);
    return p.scheme + "://" + p.host + (standard ? "" : ":" + std::to_string(p.port));
}

// One request on a fresh connection to the plan's proxy: absolute-form for http; for https a CONNECT, then
// TLS of our own through the tunnel (the site's certificate and name checked), then origin-form.
struct Sent {
    boost::system::error_code ec;
    std::string stage; // where it failed: "tunnel", "tls", "" (the exchange)
    int tunnel_status = 0;
    http::response<http::string_body> res;
};

Sent send(const fs::path& socket_path, const std::string& url, http::request<http::string_body>& req, ssl::context* tls)
{
    Sent out;
    asio::io_context io;
    asio::local::stream_protocol::socket socket(io);
    socket.connect(socket_path.string(), out.ec);
    if (out.ec) {
        out.stage = "proxy";
        return out;
    }
    boost::beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(kAnswerLimit);
    if (url.starts_with("http://")) {
        req.target(url);
        http::write(socket, req, out.ec);
        if (!out.ec)
            http::read(socket, buffer, parser, out.ec);
        out.res = parser.release();
        return out;
    }
    const std::string rest = url.substr(8);
    std::string authority = rest.substr(0, rest.find_first_of("/?"));
    std::string target = rest.substr(authority.size());
    if (target.empty() || target[0] != '/')
        target.insert(0, "/");
    const std::string host = authority.substr(0, authority.rfind(':') == std::string::npos || authority.back() == ']'
            ? authority.size() : authority.rfind(':'));
    if (authority.find(':') == std::string::npos)
        authority += ":443";
    const std::string connect = "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n\r\n";
    asio::write(socket, asio::buffer(connect), out.ec);
    http::response_parser<http::empty_body> opened;
    opened.skip(true); // a CONNECT's answer has no body
    if (!out.ec)
        http::read_header(socket, buffer, opened, out.ec);
    if (out.ec || opened.get().result_int() != 200) {
        out.stage = "tunnel";
        out.tunnel_status = out.ec ? 0 : static_cast<int>(opened.get().result_int());
        return out;
    }
    ssl::stream<asio::local::stream_protocol::socket&> stream(socket, *tls);
    SSL_set_tlsext_host_name(stream.native_handle(), host.c_str());
    stream.set_verify_callback(ssl::host_name_verification(host));
    stream.handshake(ssl::stream_base::client, buffer.data(), out.ec);
    buffer.consume(buffer.size());
    if (out.ec) {
        out.stage = "tls";
        return out;
    }
    req.target(target);
    http::write(stream, req, out.ec);
    if (!out.ec)
        http::read(stream, buffer, parser, out.ec);
    out.res = parser.release();
    return out;
}


} // namespace

Result<PlanRun> run_plan(const Plan& plan, const Policy& policy, const std::map<std::string, std::string>& inputs,
    const std::map<std::string, std::string>& secrets)
{
    const auto began = std::chrono::steady_clock::now();
    // A proxy of the run's own, with the workflow's policy: the plan reaches only what its sandbox could.
    // Its socket in a directory of our own (0700): nothing else on this machine can use the plan's proxy.
    std::string dir_template = (fs::temp_directory_path() / "rote-api-XXXXXX").string();
    if (!::mkdtemp(dir_template.data()))
        return Error(Error::Code::io, "cannot make a directory for the plan's egress proxy in " + fs::temp_directory_path().string());
    struct Remove {
        fs::path dir;
        ~Remove()
        {
            std::error_code ignored;
            fs::remove_all(dir, ignored);
        }
    } remove_dir {dir_template};
    runtime::EgressProxyOptions options;
    options.socket_path = fs::path(dir_template) / "proxy.sock";
    options.allowlist = policy.allow;
    options.routes = policy.routes;
    options.upstream_timeout = policy.timeout;
    auto proxy = ROTE_TRY(runtime::EgressProxy::start(options));
    // TLS for the plan's HTTPS, made at its first HTTPS request (loading the system's CAs takes 20 ms).
    std::optional<ssl::context> tls;
    auto make_tls = [&]() -> Result<void> {
        if (tls)
            return {};
        tls.emplace(ssl::context::tls_client);
        tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3
            | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
        tls->set_verify_mode(ssl::verify_peer);
        tls->set_default_verify_paths();
        if (!policy.ca_file.empty()) {
            boost::system::error_code ec;
            tls->load_verify_file(policy.ca_file.string(), ec);
            if (ec)
                return Error(Error::Code::invalid_argument, "the CA file " + policy.ca_file.string() + ": " + ec.message());
        }
        return {};
    };

    PlanRun run;
    std::map<std::string, std::string> vars = inputs; // inputs, then each {{got_R_N}} as it is read
    std::map<std::string, std::map<std::string, std::string>> jar; // host -> cookie name -> value
    std::vector<Answer> answers;
    auto stop = [&](Outcome outcome, int at, std::string why) {
        run.outcome = outcome;
        run.failed_request = at;
        run.why = std::move(why);
        run.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - began).count();
        return run;
    };
    for (int i = 0; i < static_cast<int>(plan.requests.size()); ++i) {
        const PlanRequest& p = plan.requests[static_cast<std::size_t>(i)];
        std::string url;
        if (!p.link.from.empty()) {
            const Answer& from = answers[static_cast<std::size_t>(p.link_request)];
            auto link = body::read(from.parsed, from.headers, p.link.from, p.link.path, p.link.pattern, inputs);
            if (!link || link->empty())
                return stop(Outcome::changed, i,
                    "request " + std::to_string(i) + " follows a link that answer " + std::to_string(p.link_request)
                        + " no longer holds (" + p.link.path + ")");
            url = body::resolve(*link, from.url);
            if (!url.starts_with("http://") && !url.starts_with("https://"))
                return stop(Outcome::changed, i, "the link to follow is no http(s) URL: " + hide_secrets(url, secrets));
        } else {
            url = origin_of(p);
            for (const auto& seg : p.path)
                url += "/" + body::url_encode(ROTE_TRY(render_template(seg, vars, secrets)), false);
            if (p.path.empty() || p.trailing_slash)
                url += "/";
            for (std::size_t q = 0; q < p.query.size(); ++q) {
                url += (q == 0 ? "?" : "&") + body::url_encode(p.query[q].first, true) + "="
                    + body::url_encode(ROTE_TRY(render_template(p.query[q].second, vars, secrets)), true);
            }
        }
        http::request<http::string_body> req;
        req.method_string(p.method);
        req.version(11);
        const std::size_t host_at = url.find("//") + 2;
        const std::string host = url.substr(host_at, url.find_first_of("/?", host_at) - host_at);
        req.set(http::field::host, host);
        for (const auto& [name, value] : p.headers)
            req.set(name, ROTE_TRY(render_template(value, vars, secrets)));
        req.set(http::field::accept_encoding, "gzip, deflate");
        const std::string host_name = ascii_lower(host.substr(0, host.find(':')));
        std::string cookie;
        for (const auto& [name, value] : jar[host_name])
            cookie += (cookie.empty() ? "" : "; ") + name + "=" + value;
        if (!cookie.empty())
            req.set(http::field::cookie, cookie);
        if (p.body_kind == "form") {
            std::string text;
            for (const auto& [name, value] : p.form)
                text += (text.empty() ? "" : "&") + body::url_encode(name, true) + "="
                    + body::url_encode(ROTE_TRY(render_template(value, vars, secrets)), true);
            req.body() = text;
            req.set(http::field::content_type, "application/x-www-form-urlencoded");
        } else if (p.body_kind == "raw") {
            req.body() = ROTE_TRY(render_template(p.body, vars, secrets));
            if (!p.content_type.empty())
                req.set(http::field::content_type, p.content_type);
        }
        if (p.body_kind.empty() && p.writes())
            req.content_length(0);
        else if (!p.body_kind.empty())
            req.prepare_payload();
        req.keep_alive(false);

        const auto sent_at = std::chrono::steady_clock::now();
        const std::size_t logged_before = proxy->requests().size();
        if (url.starts_with("https://"))
            ROTE_TRY(make_tls());
        Sent sent = send(options.socket_path, url, req, tls ? &*tls : nullptr);
        boost::system::error_code ec = sent.ec;
        if (sent.stage == "proxy")
            return Error(Error::Code::io, "the plan's egress proxy: " + ec.message());
        run.requests.push_back({p.method, hide_secrets(url, secrets), ec || !sent.stage.empty() ? 0 : static_cast<int>(sent.res.result_int()),
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - sent_at).count()});
        // What the proxy says of it: whether it reached the site at all. The proxy logs an exchange once its
        // answer has gone out, a moment after we have read it: wait for that line (or 2 s).
        auto logged = proxy->requests();
        for (int waited = 0; logged.size() <= logged_before && waited < 2000; ++waited) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
            logged = proxy->requests();
        }
        const runtime::ProxyRequest* entry = logged.size() > logged_before ? &logged.back() : nullptr;
        const bool never_reached = entry && !entry->refused.empty()
            && (entry->error.empty() || entry->error.starts_with("connecting to"));
        if (never_reached)
            return stop(Outcome::unreachable, i, p.method + " " + hide_secrets(url, secrets) + " never reached the site: " + entry->refused);
        if (sent.stage == "tunnel")
            return stop(Outcome::unreachable, i, p.method + " " + hide_secrets(url, secrets) + ": the proxy opened no tunnel ("
                + (ec ? ec.message() : std::to_string(sent.tunnel_status)) + ")");
        if (sent.stage == "tls")
            return stop(Outcome::unreachable, i, p.method + " " + hide_secrets(url, secrets)
                + ": the site's TLS was refused before anything was sent (" + ec.message() + ")");
        if (p.writes())
            run.wrote = true;
        if (ec || (entry && !entry->error.empty())) {
            const std::string why = p.method + " " + hide_secrets(url, secrets) + ": "
                + (entry && !entry->error.empty() ? entry->error : ec.message());
            return stop(p.writes() ? Outcome::unknown : Outcome::unreachable, i,
                p.writes() ? why + " (it was sent; what it did is not known)" : why);
        }
        auto& res = sent.res;
        Answer answer;
        answer.status = static_cast<int>(res.result_int());
        for (const auto& f : res)
            answer.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
        answer.parsed = body::parse(answer.headers, res.body());
        answer.url = url;
        for (const auto& [name, value] : answer.headers) {
            if (ascii_lower(name) != "set-cookie")
                continue;
            const std::string pair = value.substr(0, value.find(';'));
            const std::size_t eq = pair.find('=');
            if (eq != std::string::npos)
                jar[host_name][html::normalize_space(pair.substr(0, eq))] = pair.substr(eq + 1);
        }
        if (answer.status / 100 != p.status / 100)
            return stop(Outcome::changed, i,
                p.method + " " + hide_secrets(url, secrets) + " was answered " + std::to_string(answer.status) + ", not "
                    + std::to_string(p.status) + " as when recorded");
        if (!p.media_type.empty() && answer.status / 100 == 2 && answer.parsed.media != p.media_type)
            return stop(Outcome::changed, i,
                p.method + " " + hide_secrets(url, secrets) + " answered " + answer.parsed.media + ", not " + p.media_type);
        for (std::size_t k = 0; k < p.reads.size(); ++k) {
            const Rule& rule = p.reads[k];
            auto v = body::read(answer.parsed, answer.headers, rule.from, rule.path, rule.pattern, inputs);
            if (!v)
                return stop(Outcome::changed, i,
                    "the answer to " + p.method + " " + hide_secrets(url, secrets) + " holds nothing at " + rule.path);
            vars["got_" + std::to_string(i) + "_" + std::to_string(k)] = *v;
        }
        answers.push_back(std::move(answer));
    }
    for (const auto& [name, o] : plan.outputs) {
        const Answer& a = answers[static_cast<std::size_t>(o.request)];
        auto v = body::read(a.parsed, a.headers, o.rule.from, o.rule.path, o.rule.pattern, inputs);
        if (!v || v->empty())
            return stop(Outcome::changed, o.request, "output " + name + " is not where the plan reads it (" + o.rule.path + ")");
        run.outputs[name] = hide_secrets(*v, secrets);
    }
    run.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - began).count();
    return run;
}

} // namespace rote::api
