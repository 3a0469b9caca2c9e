#include <rote/api/plan.h>

#include <nlohmann/json.hpp>

namespace rote::api {

namespace {

constexpr const char* kFormat = "rote-api-plan/1";

nlohmann::json rule_json(const Rule& r)
{
    nlohmann::json j {{"from", r.from}, {"path", r.path}};
    if (!r.pattern.empty())
        j["pattern"] = r.pattern;
    return j;
}

Rule rule_of(const nlohmann::json& j)
{
    return {j.at("from").get<std::string>(), j.at("path").get<std::string>(), j.value("pattern", "")};
}

} // namespace

bool Plan::writes() const
{
    for (const auto& r : requests) {
        if (r.writes())
            return true;
    }
    return false;
}

nlohmann::json to_json(const Plan& plan)
{
    nlohmann::json requests = nlohmann::json::array();
    for (const auto& r : plan.requests) {
        nlohmann::json j {{"method", r.method}, {"scheme", r.scheme}, {"host", r.host}, {"port", r.port},
            {"status", r.status}, {"media_type", r.media_type}, {"step", r.step}};
        if (!r.link.from.empty())
            j["link"] = {{"request", r.link_request}, {"rule", rule_json(r.link)}};
        else {
            j["path"] = r.path;
            if (r.trailing_slash)
                j["trailing_slash"] = true;
            if (!r.query.empty())
                j["query"] = r.query;
        }
        if (!r.body_kind.empty()) {
            j["body"] = {{"kind", r.body_kind}, {"content_type", r.content_type}};
            if (r.body_kind == "form")
                j["body"]["form"] = r.form;
            else
                j["body"]["text"] = r.body;
        }
        if (!r.headers.empty())
            j["headers"] = r.headers;
        if (!r.cookies.empty())
            j["cookies"] = r.cookies;
        if (!r.reads.empty()) {
            j["reads"] = nlohmann::json::array();
            for (const auto& rule : r.reads)
                j["reads"].push_back(rule_json(rule));
        }
        requests.push_back(std::move(j));
    }
    nlohmann::json outputs = nlohmann::json::object();
    for (const auto& [name, o] : plan.outputs)
        outputs[name] = {{"request", o.request}, {"rule", rule_json(o.rule)}};
    return {{"format", kFormat}, {"workflow", plan.workflow}, {"requests", requests}, {"outputs", outputs},
        {"notes", plan.notes}};
}

Result<Plan> plan_from_json(const nlohmann::json& j)
{
    try {
        if (j.value("format", "") != kFormat)
            return Error(Error::Code::unsupported,
                "not an API plan of format " + std::string(kFormat) + " (it says '" + j.value("format", "") + "')");
        Plan plan;
        plan.workflow = j.at("workflow").get<std::string>();
        for (const auto& r : j.at("requests")) {
            PlanRequest p;
            p.method = r.at("method").get<std::string>();
            p.scheme = r.value("scheme", "http");
            p.host = r.at("host").get<std::string>();
            p.port = r.at("port").get<int>();
            p.status = r.at("status").get<int>();
            p.media_type = r.value("media_type", "");
            p.step = r.value("step", 0);
            if (r.contains("link")) {
                p.link_request = r["link"].at("request").get<int>();
                p.link = rule_of(r["link"].at("rule"));
            } else {
                p.path = r.at("path").get<std::vector<std::string>>();
                p.trailing_slash = r.value("trailing_slash", false);
                p.query = r.value("query", std::vector<Param> {});
            }
            if (r.contains("body")) {
                p.body_kind = r["body"].at("kind").get<std::string>();
                p.content_type = r["body"].value("content_type", "");
                if (p.body_kind == "form")
                    p.form = r["body"].at("form").get<std::vector<Param>>();
                else
                    p.body = r["body"].at("text").get<std::string>();
            }
            p.headers = r.value("headers", std::vector<Param> {});
            p.cookies = r.value("cookies", std::vector<std::string> {});
            for (const auto& rule : r.value("reads", nlohmann::json::array()))
                p.reads.push_back(rule_of(rule));
            plan.requests.push_back(std::move(p));
        }
        for (const auto& [name, o] : j.at("outputs").items())
            plan.outputs[name] = {o.at("request").get<int>(), rule_of(o.at("rule"))};
        plan.notes = j.value("notes", std::vector<std::string> {});
        const int n = static_cast<int>(plan.requests.size());
        for (const auto& [name, o] : plan.outputs) {
            if (o.request < 0 || o.request >= n)
                return Error(Error::Code::corrupt, "the plan reads output " + name + " from a request it does not have");
        }
        for (int i = 0; i < n; ++i) {
            const auto& r = plan.requests[static_cast<std::size_t>(i)];
            if (!r.link.from.empty() && (r.link_request < 0 || r.link_request >= i))
                return Error(Error::Code::corrupt, "request " + std::to_string(i) + " follows a link of a later request");
            if (r.scheme != "http" && r.scheme != "https")
                return Error(Error::Code::unsupported, "request " + std::to_string(i) + " is " + r.scheme + ", not http(s)");
        }
        return plan;
    } catch (const std::exception& e) {
        return Error(Error::Code::corrupt, std::string("a malformed API plan: ") + e.what());
    }
}

Result<Plan> parse_plan(const std::string& text)
{
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded())
        return Error(Error::Code::corrupt, "an API plan that is not JSON");
    return plan_from_json(j);
}

} // namespace rote::api
