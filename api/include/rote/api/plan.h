#pragma once

// API plans (docs/api.md): the few HTTP requests that do what a GUI trace does, mined from the traffic the
// egress proxy captured during a run, with the rules that carry each changing value from an answer to the
// request after it and read the outputs from the last answers. Mining is pure: captured exchanges, the run's
// inputs and outputs, the workflow's output labels in; a plan, or why there can be none, out.

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include <rote/base/result.h>
#include <rote/store/records.h>

namespace rote::api {

// A value read from an answer. `from`: "html" (an XPath 1.0 expression over the parsed page, whose string
// value is taken; the run's inputs are its $variables), "json" (a JSON pointer), "header" (a header's value,
// `path` is its name), "text" (the body as it is). Then `pattern`, when set, is searched (ECMAScript) in
// that value and its first group (or the whole match) taken.
struct Rule {
    std::string from;
    std::string path;
    std::string pattern;
};

// A parameter of a request: its name (empty for a path segment) and its value as a template: {{input}},
// {{secret:name}}, and {{got_R_N}} for the value an earlier request's rule N read.
using Param = std::pair<std::string, std::string>;

struct PlanRequest {
    std::string method;
    std::string scheme = "http"; // or "https"
    std::string host;
    int port = 80;
    // The URL: a link an earlier answer gave (`link` read from request `link_request`'s answer, resolved
    // against that request's URL), or else host, port, path and query as below.
    Rule link;
    int link_request = -1;
    std::vector<std::string> path; // segments as templates ("company", "{{got_1_0}}"); "/" is no segments
    bool trailing_slash = false;
    std::vector<Param> query; // in order
    // The body: "form" (`form` params, urlencoded), "raw" (`body` as a template, of `content_type`), or "".
    std::string body_kind;
    std::vector<Param> form;
    std::string body;
    std::string content_type;
    std::vector<Param> headers; // sent as recorded (templates), beside those the runner sets
    std::vector<std::string> cookies; // the names it sends (the values come from earlier answers' Set-Cookie)
    int status = 200; // what the site answered when recorded: an answer in another class is a changed site
    std::string media_type; // of the recorded answer ("text/html"); another one is a changed site
    std::vector<Rule> reads; // values read from its answer, {{got_R_N}} to the requests after it
    int step = 0; // the trace step it was made in
    bool writes() const { return method != "GET" && method != "HEAD"; }
};

struct OutputRule {
    int request = 0; // whose answer it is read from
    Rule rule;
};

struct Plan {
    std::string workflow;
    std::vector<PlanRequest> requests;
    std::map<std::string, OutputRule> outputs;
    std::vector<std::string> notes; // what mining left out and why ("cookie consent is made by the page's script")
    bool writes() const;
};

nlohmann::json to_json(const Plan& plan);
Result<Plan> plan_from_json(const nlohmann::json& j);
Result<Plan> parse_plan(const std::string& text);

// What mining knows of the workflow's outputs: the label each is read beside, and its pattern.
struct OutputHint {
    std::string label;
    std::string pattern;
};

// Mines a plan from one run's captured traffic: the requests that carry its inputs, the answers that hold
// its outputs, and for every value a later request sends that an earlier answer gave (a link followed, a
// form's hidden token, a redirect's Location, a cookie) the rule that reads it; everything else (assets,
// pages the outputs do not depend on) is left out. Fails, saying exactly why, when an output is in no
// captured answer, the traffic was not captured, or an answer was cut at the capture's bound.
Result<Plan> derive(const std::string& workflow, const std::vector<store::RunRequest>& traffic,
    const std::map<std::string, std::string>& inputs, const std::map<std::string, std::string>& outputs,
    const std::map<std::string, OutputHint>& hints);

} // namespace rote::api
