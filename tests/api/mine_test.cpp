// Mining API plans from captured exchanges (api/plan.h): pure logic over recorded traffic.

#include <doctest/doctest.h>

#include <zlib.h>

#include <nlohmann/json.hpp>

#include <rote/api/plan.h>

using namespace rote;

namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

store::RunRequest exchange(const std::string& method, const std::string& path, int status, Fields response_headers,
    std::string response_body, Fields request_headers = {}, std::string request_body = {})
{
    store::RunRequest r;
    r.method = method;
    r.host = "records.example.test";
    r.port = 80;
    r.path = path;
    r.status = status;
    r.capture = store::CapturedExchange {std::move(request_headers), std::move(request_body), std::move(response_headers),
        std::move(response_body), false};
    return r;
}

const Fields kJson {{"Content-Type", "application/json"}};
const Fields kHtml {{"Content-Type", "text/html; charset=utf-8"}};

std::string gzipped(const std::string& text)
{
    z_stream z {};
    REQUIRE(deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    std::string out(text.size() + 128, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
    z.avail_in = static_cast<uInt>(text.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
    out.resize(z.total_out);
    deflateEnd(&z);
    return out;
}

} // namespace

TEST_CASE("a JSON API: the search carries the input, the record's id comes from the search's answer, the output "
          "from a pointer; assets and pages the output does not need are left out")
{
    std::vector<store::RunRequest> traffic {
        exchange("GET", "/", 200, kHtml, "<html><body><form action=/find><input name=q></form></body></html>"),
        exchange("GET", "/app.js", 200, {{"Content-Type", "text/javascript"}}, ""),
        exchange("GET", "/api/search?name=Acme%20Robotics&limit=5", 200, kJson,
            R"({"results":[{"id":47110,"name":"Acme Robotics"}],"total":1})"),
        exchange("GET", "/api/companies/47110", 200, kJson, R"({"number":"08431277","status":"Active","id":47110})"),
        exchange("GET", "/metrics?ts=1733600000", 204, {}, ""),
    };
    auto plan = api::derive("lookup", traffic, {{"company", "Acme Robotics"}}, {{"number", "08431277"}}, {});
    REQUIRE_MESSAGE(plan.ok(), (plan.ok() ? "" : plan.error().message()));
    REQUIRE(plan->requests.size() == 2);
    const auto& search = plan->requests[0];
    CHECK(search.path == std::vector<std::string> {"api", "search"});
    REQUIRE(search.query.size() == 2);
    CHECK(search.query[0] == api::Param {"name", "{{company}}"});
    CHECK(search.query[1] == api::Param {"limit", "5"});
    REQUIRE(search.reads.size() == 1);
    CHECK(search.reads[0].from == "json");
    CHECK(search.reads[0].path == "/results/[name=$company]/id"); // the result the input names, not the first
    CHECK(plan->requests[1].path == std::vector<std::string> {"api", "companies", "{{got_0_0}}"});
    REQUIRE(plan->outputs.contains("number"));
    CHECK(plan->outputs["number"].request == 1);
    CHECK(plan->outputs["number"].rule.from == "json");
    CHECK(plan->outputs["number"].rule.path == "/number");
    CHECK_FALSE(plan->writes());

    // The plan survives its JSON form.
    auto again = api::parse_plan(api::to_json(*plan).dump());
    REQUIRE(again.ok());
    CHECK(api::to_json(*again) == api::to_json(*plan));
}

TEST_CASE("a page compressed by the site is read; a hidden form token and a redirect's Location are carried; a cookie "
          "the page's script made is noted, not sent")
{
    const std::string form = "<html><body><form method=post action=/notes><input type=hidden name=token "
                             "value=f00dcafe1234abcd9876><textarea name=text></textarea></form></body></html>";
    Fields gz {{"Content-Type", "text/html"}, {"Content-Encoding", "gzip"}, {"Set-Cookie", "sid; Path=/; HttpOnly"}};
    std::vector<store::RunRequest> traffic {
        exchange("GET", "/notes/new", 200, gz, gzipped(form)),
        exchange("POST", "/notes", 303, {{"Location", "/notes/n-5521"}}, "",
            {{"Content-Type", "application/x-www-form-urlencoded"}, {"Cookie", "sid; tz"}},
            "token=f00dcafe1234abcd9876&text=Call+back+on+Monday"),
        exchange("GET", "/notes/n-5521", 200, kHtml,
            "<html><body><h1>Note saved</h1><table><tr><th>Reference</th><td>n-5521</td></tr></table></body></html>",
            {{"Cookie", "sid; tz"}}),
    };
    auto plan = api::derive("note", traffic, {{"text", "Call back on Monday"}}, {{"reference", "n-5521"}},
        {{"reference", {"Reference", "n-[0-9]+"}}});
    REQUIRE_MESSAGE(plan.ok(), (plan.ok() ? "" : plan.error().message()));
    REQUIRE(plan->requests.size() == 3);
    CHECK(plan->writes());
    const auto& post = plan->requests[1];
    CHECK(post.body_kind == "form");
    REQUIRE(post.form.size() == 2);
    CHECK(post.form[0] == api::Param {"token", "{{got_0_0}}"});
    CHECK(post.form[1] == api::Param {"text", "{{text}}"});
    CHECK(plan->requests[0].reads[0].path == "//input[@name='token']/@value");
    CHECK(post.cookies == std::vector<std::string> {"sid"});
    CHECK(plan->requests[2].link_request == 1);
    CHECK(plan->requests[2].link.from == "header");
    CHECK(plan->outputs["reference"].rule.path.find("'Reference'") != std::string::npos);
    REQUIRE(plan->notes.size() == 2); // tz, on both requests that sent it
    CHECK(plan->notes[0].find("cookie tz") != std::string::npos);
}

TEST_CASE("mining says why there can be no plan")
{
    // HTTPS only: tunnels, nothing captured.
    store::RunRequest tunnel;
    tunnel.method = "CONNECT";
    tunnel.host = "secure.example.test";
    tunnel.port = 443;
    tunnel.status = 200;
    auto none = api::derive("w", {tunnel}, {}, {{"x", "1"}}, {});
    REQUIRE_FALSE(none.ok());
    CHECK(none.error().message().find("HTTPS connections passed the proxy as tunnels") != std::string::npos);

    // Capture off.
    store::RunRequest plain = exchange("GET", "/", 200, kHtml, "<p>1</p>");
    plain.capture.reset();
    auto off = api::derive("w", {plain}, {}, {{"x", "1"}}, {});
    REQUIRE_FALSE(off.ok());
    CHECK(off.error().message().find("capture was off") != std::string::npos);

    // An output no answer holds (a page's script computed it).
    auto missing = api::derive("w", {exchange("GET", "/", 200, kHtml, "<p>total: <span id=t></span></p>")}, {},
        {{"total", "1,250.00"}}, {});
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().message().find("output total ('1,250.00') is in no captured answer") != std::string::npos);

    // A write whose body was longer than the capture keeps.
    auto cut = exchange("POST", "/upload", 200, kHtml, "<p>id 42</p>", {{"Content-Type", "application/octet-stream"}}, "xx");
    cut.capture->truncated = true;
    auto long_write = api::derive("w", {cut}, {}, {{"id", "42"}}, {});
    REQUIRE_FALSE(long_write.ok());
    CHECK(long_write.error().message().find("longer than the capture keeps") != std::string::npos);
}

TEST_CASE("a malformed plan is refused with what is wrong")
{
    CHECK_FALSE(api::parse_plan("not json").ok());
    auto other = api::parse_plan(R"({"format":"something/2"})");
    REQUIRE_FALSE(other.ok());
    CHECK(other.error().message().find("rote-api-plan/1") != std::string::npos);
    auto forward = api::parse_plan(R"({"format":"rote-api-plan/1","workflow":"w","outputs":{},"requests":[
        {"method":"GET","host":"a.test","port":80,"status":200,"link":{"request":1,"rule":{"from":"header","path":"location"}}},
        {"method":"GET","host":"a.test","port":80,"status":200,"path":[]}]})");
    REQUIRE_FALSE(forward.ok());
    CHECK(forward.error().message().find("follows a link of a later request") != std::string::npos);
    auto output = api::parse_plan(R"({"format":"rote-api-plan/1","workflow":"w","requests":[],
        "outputs":{"x":{"request":3,"rule":{"from":"text","path":""}}}})");
    REQUIRE_FALSE(output.ok());
    CHECK(output.error().message().find("output x") != std::string::npos);
}

TEST_CASE("a result's link is followed by the input's words before its place in the list; an error page is never "
          "where an output is read")
{
    // The record's id column links to it first (as Redmine's issue list does): by place, every input would
    // open this row.
    const std::string list = "<html><body><table>"
                             "<tr id=issue-7><td><a href=/issues/7>7</a></td><td><a href=/issues/7>Printer offline</a></td></tr>"
                             "<tr id=issue-9><td><a href=/issues/9>9</a></td><td><a href=/issues/9>Printer offline annex</a></td></tr>"
                             "</table></body></html>";
    std::vector<store::RunRequest> traffic {
        exchange("GET", "/issues", 200, kHtml, list),
        exchange("GET", "/issues/7", 200, kHtml,
            "<html><body><h2>Bug #7</h2><div><div>Status:</div><div>New</div></div></body></html>"),
        exchange("GET", "/assets/app.js", 404, kHtml, "<html><head><title>New page</title></head><body>Not found: New</body></html>"),
    };
    auto plan = api::derive("lookup", traffic, {{"subject", "Printer offline"}}, {{"status", "New"}, {"issue_id", "#7"}},
        {{"status", {"Status:", "New|Closed"}}, {"issue_id", {"", "#[0-9]+"}}});
    REQUIRE_MESSAGE(plan.ok(), (plan.ok() ? "" : plan.error().message()));
    REQUIRE(plan->requests.size() == 2);
    CHECK(plan->requests[1].link.path == "(//a[normalize-space(.)=$subject])[1]/@href");
    CHECK(plan->outputs["status"].request == 1);
    CHECK(plan->outputs["status"].rule.path.find("'Status:'") != std::string::npos);
    CHECK(plan->outputs["issue_id"].request == 1);
    CHECK(plan->outputs["issue_id"].rule.path == "/html[1]/body[1]/h2[1]");
}

TEST_CASE("a record's link that shows none of the inputs is never followed by its place in the page")
{
    // "Open the first result": the link shows the record's own name, not the input. By its place, another
    // input's search would open whatever record came first; the plan keeps the recorded URL instead, which
    // proving refutes on a second input.
    std::vector<store::RunRequest> traffic {
        exchange("GET", "/search?q=acme", 200, kHtml,
            "<html><body><ol id=hits><li><a href=/company/08431277>Acme Robotics Ltd</a></li></ol></body></html>"),
        exchange("GET", "/company/08431277", 200, kHtml,
            "<html><body><dl><dt>Number</dt><dd>08431277</dd></dl></body></html>"),
    };
    auto plan = api::derive("first-hit", traffic, {{"q", "acme"}}, {{"number", "08431277"}}, {{"number", {"Number", ""}}});
    REQUIRE_MESSAGE(plan.ok(), (plan.ok() ? "" : plan.error().message()));
    REQUIRE(plan->requests.size() == 2);
    CHECK(plan->requests[1].link.from.empty());
    CHECK(plan->requests[1].path == std::vector<std::string> {"company", "08431277"});
}
