// Mining an API plan from a run's captured traffic (plan.h, derive).

#include <rote/api/plan.h>

#include <algorithm>
#include <cctype>
#include <regex>
#include <set>

#include <rote/base/text.h>
#include <rote/base/text_template.h>

#include "body.h"

namespace rote::api {

namespace {

// Headers the runner makes itself, or that describe the browser's cache and connection, not the request.
bool header_kept(const std::string& name)
{
    static const std::set<std::string> dropped {"host", "cookie", "content-length", "connection", "accept-encoding",
        "proxy-connection", "proxy-authorization", "te", "upgrade", "keep-alive", "transfer-encoding", "if-none-match",
        "if-modified-since", "cache-control", "pragma", "referer", "upgrade-insecure-requests", "authorization",
        "content-type", "expect"};
    const std::string n = ascii_lower(name);
    return !dropped.contains(n) && !n.starts_with("sec-");
}

// A value as a template: each input's value {{name}}, secret placeholders (already in the capture) kept.
std::string template_of(const std::string& value, const std::map<std::string, std::string>& inputs)
{
    static const std::regex secret(R"(\{\{secret:[A-Za-z0-9_]+\}\})");
    std::string out;
    std::size_t at = 0;
    for (std::sregex_iterator it(value.begin(), value.end(), secret), end; it != end; ++it) {
        out += templatize(value.substr(at, static_cast<std::size_t>(it->position()) - at), inputs, {});
        out += it->str();
        at = static_cast<std::size_t>(it->position() + it->length());
    }
    return out + templatize(value.substr(at), inputs, {});
}

// "a=1&b=x+y" as its decoded pairs, in order.
std::vector<Param> params(const std::string& text)
{
    std::vector<Param> out;
    for (std::size_t at = 0; !text.empty() && at <= text.size();) {
        const std::size_t amp = text.find('&', at);
        const std::string pair = text.substr(at, amp - at);
        const std::size_t eq = pair.find('=');
        if (!pair.empty())
            out.emplace_back(body::url_decode(pair.substr(0, eq), true),
                eq == std::string::npos ? "" : body::url_decode(pair.substr(eq + 1), true));
        if (amp == std::string::npos)
            break;
        at = amp + 1;
    }
    return out;
}

bool has_placeholder(const std::string& t) { return t.find("{{") != std::string::npos && t.find("{{{{") == std::string::npos; }

// A value that may be a server's (an id, a token): worth looking for in earlier answers. Words and short
// flags are the site's own constants.
bool variable_looking(const std::string& v)
{
    if (v.size() < 2)
        return false;
    const bool digit = std::any_of(v.begin(), v.end(), [](unsigned char c) { return std::isdigit(c); });
    return digit || v.size() >= 16;
}

// Whether an element's path names it by what it is (a form field's or meta tag's name, an id that is not a
// record's), not by its place: a value read by its place (the first row's link) would be another record's
// for another input.
bool named_place(const std::string& path)
{
    static const std::regex field(R"(^//(input|meta|select|textarea)\[@name='[^']*'\](/@[A-Za-z_:-]+)?$)");
    static const std::regex by_id(R"(^//[A-Za-z0-9]+\[@id='([^']*)'\](/@[A-Za-z_:-]+)?$)");
    std::smatch m;
    if (std::regex_match(path, field))
        return true;
    return std::regex_match(path, m, by_id) && !variable_looking(m[1].str());
}

// `pointer` with each array index replaced by "[key=$input]" (the element whose field is an input's value),
// or "" when an element on the way is named by no input: by its place, another input's list would give
// another record's value.
std::string by_words(const nlohmann::json& root, const std::string& pointer, const std::map<std::string, std::string>& inputs)
{
    std::string out;
    const nlohmann::json* at = &root;
    for (std::size_t i = 1; !pointer.empty() && i <= pointer.size();) {
        const std::size_t slash = pointer.find('/', i);
        const std::string token = pointer.substr(i, slash - i);
        i = slash == std::string::npos ? pointer.size() + 1 : slash + 1;
        if (at->is_array()) {
            const auto& element = (*at)[std::stoul(token)];
            std::string named;
            if (element.is_object()) {
                for (const auto& [key, v] : element.items()) {
                    const std::string text = v.is_string() ? v.get<std::string>() : v.dump();
                    for (const auto& [name, value] : inputs) {
                        if (named.empty() && !value.empty() && text == value)
                            named = "[" + key + "=$" + name + "]";
                    }
                }
            }
            if (named.empty())
                return {};
            out += "/" + named;
            at = &element;
        } else {
            out += "/" + token;
            at = &(*at)[token];
        }
    }
    return out;
}

std::string regex_escape(const std::string& text)
{
    static const std::string special = R"(\^$.|?*+()[]{}/)";
    std::string out;
    for (char c : text) {
        if (special.find(c) != std::string::npos)
            out += '\\';
        out += c;
    }
    return out;
}

struct Seen {
    const store::RunRequest* request;
    body::Fields response_headers;
    body::Parsed answer;
    std::string url; // http://host[:port]/path?query
};

std::string url_of(const store::RunRequest& r)
{
    const bool standard = r.port == (r.scheme == "https" ? 443 : 80);
    return r.scheme + "://" + r.host + (standard ? "" : ":" + std::to_string(r.port)) + r.path;
}


// A rule that reads `wanted` from an earlier answer, and the index of that answer: attributes first (a
// link, a hidden field), then texts, then headers; a rule that names an element by an input's words where
// the element shows them (a result's link), else by its position. Each rule is checked on the answer.
struct Source {
    int exchange = -1;
    Rule rule;
};

std::optional<Source> source_of(const std::string& wanted, const std::vector<Seen>& seen, int before,
    const std::map<std::string, std::string>& inputs, bool whole_url)
{
    for (int j = before - 1; j >= 0; --j) {
        const Seen& s = seen[static_cast<std::size_t>(j)];
        auto check = [&](const Rule& rule) {
            return body::read(s.answer, s.response_headers, rule.from, rule.path, rule.pattern, inputs) == wanted;
        };
        if (whole_url) {
            // A link followed: an attribute or a Location whose value, resolved on that page, is the URL.
            for (const std::string& h : {std::string("location"), std::string("content-location")}) {
                const std::string v = body::header(s.response_headers, h);
                if (!v.empty() && body::resolve(v, s.url) == wanted)
                    return Source {j, {"header", h, {}}};
            }
            if (!s.answer.page)
                continue;
            if (s.request->status / 100 != 2)
                continue;
            std::string target = wanted.substr(wanted.find('/', wanted.find("//") + 2));
            // Every attribute that links there; first one named by the words of an input its element shows (a
            // result's link, as a person picks it), and only then one by its place in the page, and that only
            // for a link that names no record (no id, no long token): a record's link by its place would open
            // whatever record is there for another input.
            std::vector<Rule> by_words, by_place;
            for (const auto& f : s.answer.page->find(target)) {
                if (!f.attribute || body::resolve(f.text, s.url) != wanted)
                    continue;
                const std::string tag_attr = f.path.substr(f.path.rfind("/@") + 2);
                std::string tag = f.path.substr(0, f.path.rfind("/@"));
                tag = tag.substr(tag.rfind('/') + 1);
                tag = tag.substr(0, tag.find('['));
                for (const auto& [name, value] : inputs) {
                    if (value.empty())
                        continue;
                    if (html::normalize_space(value) == f.element_text)
                        by_words.push_back({"html", "(//" + tag + "[normalize-space(.)=$" + name + "])[1]/@" + tag_attr, {}});
                    else if (f.element_text.find(html::normalize_space(value)) != std::string::npos)
                        by_words.push_back(
                            {"html", "(//" + tag + "[contains(normalize-space(.), $" + name + ")])[1]/@" + tag_attr, {}});
                }
                if (!variable_looking(target))
                    by_place.push_back({"html", f.path, {}});
            }
            by_words.insert(by_words.end(), by_place.begin(), by_place.end());
            for (const Rule& rule : by_words) {
                auto got = body::read(s.answer, s.response_headers, rule.from, rule.path, rule.pattern, inputs);
                if (got && body::resolve(*got, s.url) == wanted)
                    return Source {j, rule};
            }
            continue;
        }
        if (s.answer.page && s.request->status / 100 == 2) {
            for (const auto& f : s.answer.page->find(wanted)) {
                if (!named_place(f.path))
                    continue;
                Rule rule {"html", f.path, {}};
                if (f.text != wanted) {
                    const std::size_t at = f.text.find(wanted);
                    rule.pattern = "^" + regex_escape(f.text.substr(0, at)) + "(.*?)"
                        + regex_escape(f.text.substr(at + wanted.size())) + "$";
                }
                if (check(rule))
                    return Source {j, rule};
            }
        }
        if (s.answer.json) {
            std::optional<Rule> found;
            auto walk = [&](auto& self, const nlohmann::json& v, const std::string& pointer) -> void {
                if (found)
                    return;
                if (v.is_object() || v.is_array()) {
                    for (const auto& [k, child] : v.items())
                        self(self, child, pointer + "/" + k);
                    return;
                }
                const std::string text = v.is_string() ? v.get<std::string>() : v.dump();
                if (text == wanted)
                    found = Rule {"json", by_words(*s.answer.json, pointer, inputs), {}};
            };
            walk(walk, *s.answer.json, "");
            if (found && found->path.empty())
                found.reset(); // only by its place in a list: another input's list would give another record's
            if (found && check(*found))
                return Source {j, *found};
        }
        for (const auto& [name, value] : s.response_headers) {
            const std::string n = ascii_lower(name);
            if (n == "set-cookie" || value.find(wanted) == std::string::npos)
                continue;
            const std::size_t at = value.find(wanted);
            Rule rule {"header", n,
                "^" + regex_escape(value.substr(0, at)) + "(.*?)" + regex_escape(value.substr(at + wanted.size())) + "$"};
            if (value == wanted)
                rule.pattern.clear();
            if (check(rule))
                return Source {j, rule};
        }
    }
    return std::nullopt;
}

// The rule that reads an output from an answer, by the pass: 0 beside its label (th/td, dt/dd, label/value),
// 1 in a text of the page's body or a JSON value, 2 in an attribute. Mining tries each pass over every answer
// before the next: a label is the surest way to the value, and a short value ("New") is in many places.
std::optional<Rule> output_rule(const Seen& s, const std::string& value, const OutputHint& hint,
    const std::map<std::string, std::string>& inputs, int pass)
{
    auto gives = [&](const Rule& rule) {
        auto got = body::read(s.answer, s.response_headers, rule.from, rule.path, rule.pattern, inputs);
        return got && html::normalize_space(*got) == html::normalize_space(value);
    };
    std::vector<Rule> tries;
    if (s.answer.page && pass == 0 && !hint.label.empty()) {
        const std::string label = html::literal(hint.label);
        for (const std::string& path :
            {"(//*[normalize-space(text())=" + label + "])[1]/following-sibling::*[1]",
                "(//*[normalize-space(.)=" + label + "])[last()]/following-sibling::*[1]",
                "(//*[normalize-space(.)=" + label + "])[last()]/parent::*/following-sibling::*[1]",
                "(//*[starts-with(normalize-space(.), " + label + ")])[last()]"}) {
            tries.push_back({"html", path, hint.pattern});
        }
    }
    if (s.answer.page && pass > 0) {
        for (const auto& f : s.answer.page->find(html::normalize_space(value))) {
            if (f.attribute != (pass == 2) || f.path.starts_with("/html[1]/head[1]"))
                continue;
            tries.push_back({"html", f.path, hint.pattern});
            if (!hint.pattern.empty())
                continue;
            const std::size_t at = f.text.find(html::normalize_space(value));
            tries.push_back({"html", f.path,
                "^" + regex_escape(f.text.substr(0, at)) + "(.*?)" + regex_escape(f.text.substr(at + value.size())) + "$"});
        }
    }
    if (s.answer.json && pass == 1) {
        auto walk = [&](auto& self, const nlohmann::json& v, const std::string& pointer) -> void {
            if (v.is_object() || v.is_array()) {
                for (const auto& [k, child] : v.items())
                    self(self, child, pointer + "/" + k);
                return;
            }
            const std::string text = v.is_string() ? v.get<std::string>() : v.dump();
            const std::string named = by_words(*s.answer.json, pointer, inputs); // not by a list's place
            if (text.find(value) != std::string::npos && !named.empty())
                tries.push_back({"json", named, text == value ? hint.pattern : regex_escape(value)});
        };
        walk(walk, *s.answer.json, "");
    }
    for (const Rule& rule : tries) {
        if (gives(rule))
            return rule;
    }
    return std::nullopt;
}

std::vector<std::string> cookie_names(const body::Fields& headers)
{
    std::vector<std::string> names;
    for (const auto& [name, value] : headers) {
        if (ascii_lower(name) != "cookie")
            continue;
        for (std::size_t at = 0; at <= value.size();) {
            std::size_t semi = value.find(';', at);
            std::string n = html::normalize_space(value.substr(at, semi - at));
            if (!n.empty())
                names.push_back(n);
            if (semi == std::string::npos)
                break;
            at = semi + 1;
        }
    }
    return names;
}

bool sets_cookie(const body::Fields& headers, const std::string& name)
{
    for (const auto& [n, v] : headers) {
        if (ascii_lower(n) == "set-cookie" && html::normalize_space(v.substr(0, v.find(';'))) == name)
            return true;
    }
    return false;
}

} // namespace

Result<Plan> derive(const std::string& workflow, const std::vector<store::RunRequest>& traffic,
    const std::map<std::string, std::string>& inputs, const std::map<std::string, std::string>& outputs,
    const std::map<std::string, OutputHint>& hints)
{
    // The exchanges a plan can be made of: captured, completed, answered by the site.
    std::vector<Seen> seen;
    int tunnels = 0, uncaptured = 0;
    for (const auto& r : traffic) {
        if (r.method == "CONNECT") {
            tunnels += r.status == 200 ? 1 : 0;
            continue;
        }
        if (!r.error.empty() || !r.refused.empty())
            continue;
        if (!r.capture) {
            ++uncaptured;
            continue;
        }
        Seen s {&r, r.capture->response_headers, body::parse(r.capture->response_headers, r.capture->response_body), url_of(r)};
        seen.push_back(std::move(s));
    }
    if (seen.empty()) {
        std::string why = "the run's traffic holds no captured exchange";
        if (tunnels > 0)
            why += ": its " + std::to_string(tunnels)
                + " HTTPS connections passed the proxy as tunnels, unopened (a qemu sandbox's, or capture was off)";
        else if (uncaptured > 0)
            why += ": capture was off (policy.capture: false, or a run from before capture)";
        return Error(Error::Code::not_found, why);
    }
    if (outputs.empty())
        return Error(Error::Code::invalid_argument, "the run read no outputs: a plan would have nothing to prove");

    const int n = static_cast<int>(seen.size());
    std::set<int> needed;
    std::map<std::string, OutputRule> output_rules; // request index in `seen`, for now
    for (const auto& [name, value] : outputs) {
        const auto hint = hints.contains(name) ? hints.at(name) : OutputHint {};
        bool found = false;
        for (int pass = 0; pass < 3 && !found; ++pass) {
            for (int i = n - 1; i >= 0 && !found; --i) {
                const Seen& s = seen[static_cast<std::size_t>(i)];
                if (s.request->status / 100 != 2) // an error page says nothing of the work
                    continue;
                if (auto rule = output_rule(s, value, hint, inputs, pass)) {
                    output_rules[name] = {i, *rule};
                    needed.insert(i);
                    found = true;
                }
            }
        }
        if (!found)
            return Error(Error::Code::not_found,
                "output " + name + " ('" + value
                    + "') is in no captured answer: the page made it in script from something else, or it came over "
                      "HTTPS");
    }
    // Every request that sends an input or a secret, and every write, is part of the work.
    for (int i = 0; i < n; ++i) {
        const auto& r = *seen[static_cast<std::size_t>(i)].request;
        const std::string t = template_of(body::url_decode(r.path, true), inputs) + template_of(r.capture->request_body, inputs);
        if (has_placeholder(t) || (r.method != "GET" && r.method != "HEAD"))
            needed.insert(i);
    }
    if (needed.empty())
        return Error(Error::Code::not_found, "no request carries the outputs");

    // Back from the last: each needed request's values from earlier answers make those answers needed.
    std::vector<std::string> notes;
    std::map<int, std::vector<Rule>> reads; // per `seen` index
    auto read_name = [&](int j, const Rule& rule) {
        auto& list = reads[j];
        auto it = std::find_if(list.begin(), list.end(),
            [&](const Rule& r) { return r.from == rule.from && r.path == rule.path && r.pattern == rule.pattern; });
        if (it == list.end()) {
            list.push_back(rule);
            it = list.end() - 1;
        }
        return std::pair {j, static_cast<int>(it - list.begin())};
    };
    std::map<int, std::pair<int, int>> links; // request -> (answer, read), `seen` indices
    std::map<int, PlanRequest> made;
    for (int i = n - 1; i >= 0; --i) {
        if (!needed.contains(i))
            continue;
        const Seen& s = seen[static_cast<std::size_t>(i)];
        const auto& r = *s.request;
        PlanRequest& p = made[i];
        p.scheme = r.scheme;
        p.method = r.method;
        p.host = r.host;
        p.port = r.port;
        p.status = r.status;
        p.media_type = s.answer.media;
        p.step = r.step;

        const std::string path_part = r.path.substr(0, r.path.find('?'));
        const std::string query_part = r.path.find('?') == std::string::npos ? "" : r.path.substr(r.path.find('?') + 1);
        // A URL no input made, that an earlier answer linked to: that link.
        bool linked = false;
        if (!has_placeholder(template_of(body::url_decode(r.path, true), inputs))
            && (variable_looking(r.path) || !query_part.empty())) {
            if (auto src = source_of(s.url, seen, i, inputs, true)) {
                links[i] = read_name(src->exchange, src->rule);
                needed.insert(src->exchange);
                linked = true;
            }
        }
        if (!linked) {
            for (std::size_t at = 1; at <= path_part.size();) {
                const std::size_t slash = path_part.find('/', at);
                const std::string seg = path_part.substr(at, slash - at);
                if (slash == std::string::npos) {
                    if (!seg.empty())
                        p.path.push_back(body::url_decode(seg, false));
                    break;
                }
                p.path.push_back(body::url_decode(seg, false));
                at = slash + 1;
                if (at == path_part.size())
                    p.trailing_slash = true;
            }
            p.query = params(query_part);
        }
        const std::string content_type = body::header(r.capture->request_headers, "content-type");
        if (!r.capture->request_body.empty()) {
            if (r.capture->truncated && r.method != "GET")
                return Error(Error::Code::unsupported,
                    r.method + " " + r.path + ": its body or its answer was longer than the capture keeps");
            p.content_type = content_type;
            if (body::media_type(content_type) == "application/x-www-form-urlencoded") {
                p.body_kind = "form";
                p.form = params(r.capture->request_body);
            } else {
                p.body_kind = "raw";
                p.body = template_of(r.capture->request_body, inputs);
            }
        }
        for (const auto& [name, value] : r.capture->request_headers) {
            if (header_kept(name))
                p.headers.emplace_back(name, template_of(value, inputs));
        }
        // Templates, and the values earlier answers gave ({{got_J_K}} with `seen` indices until the end).
        auto templated = [&](std::string& value) {
            const std::string t = template_of(value, inputs);
            if (!has_placeholder(t) && variable_looking(value)) {
                if (auto src = source_of(value, seen, i, inputs, false)) {
                    const auto [j, k] = read_name(src->exchange, src->rule);
                    needed.insert(j);
                    value = "{{got_" + std::to_string(j) + "_" + std::to_string(k) + "}}";
                    return;
                }
            }
            value = t;
        };
        for (auto& seg : p.path)
            templated(seg);
        for (auto& [name, value] : p.query)
            templated(value);
        for (auto& [name, value] : p.form)
            templated(value);
        // Cookies: each from the answer that set it; one the page's script made is not sent.
        for (const std::string& name : cookie_names(r.capture->request_headers)) {
            bool from_answer = false;
            for (int j = i - 1; j >= 0 && !from_answer; --j) {
                if (sets_cookie(seen[static_cast<std::size_t>(j)].response_headers, name)) {
                    needed.insert(j);
                    from_answer = true;
                }
            }
            if (from_answer)
                p.cookies.push_back(name);
            else
                notes.push_back("cookie " + name + " (sent with " + r.method + " " + r.path
                    + ") was set by no answer: the page's script made it; the plan does not send it");
        }
        if (!body::header(r.capture->request_headers, "authorization").empty())
            notes.push_back(r.method + " " + r.path
                + " sent an Authorization header, whose value is never kept: the plan does not send it");
    }

    // Number the kept requests, and the values they carry, in the plan's order.
    Plan plan;
    plan.workflow = workflow;
    std::map<int, int> index; // `seen` -> plan
    for (auto& [i, p] : made) {
        index[i] = static_cast<int>(plan.requests.size());
        plan.requests.push_back(std::move(p));
    }
    static const std::regex got(R"(\{\{got_(\d+)_(\d+)\}\})");
    auto renumber = [&](std::string& t) {
        std::string out;
        std::size_t at = 0;
        for (std::sregex_iterator it(t.begin(), t.end(), got), end; it != end; ++it) {
            out += t.substr(at, static_cast<std::size_t>(it->position()) - at);
            out += "{{got_" + std::to_string(index.at(std::stoi((*it)[1]))) + "_" + (*it)[2].str() + "}}";
            at = static_cast<std::size_t>(it->position() + it->length());
        }
        t = out + t.substr(at);
    };
    for (auto& [i, plan_index] : index) {
        PlanRequest& p = plan.requests[static_cast<std::size_t>(plan_index)];
        if (reads.contains(i))
            p.reads = reads.at(i);
        if (links.contains(i)) {
            const auto [j, k] = links.at(i);
            p.link_request = index.at(j);
            p.link = reads.at(j)[static_cast<std::size_t>(k)];
        }
        for (auto& seg : p.path)
            renumber(seg);
        for (auto& [name, value] : p.query)
            renumber(value);
        for (auto& [name, value] : p.form)
            renumber(value);
    }
    for (auto& [name, rule] : output_rules)
        plan.outputs[name] = {index.at(rule.request), rule.rule};
    plan.notes = std::move(notes);
    return plan;
}

} // namespace rote::api
