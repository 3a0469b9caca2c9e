#include <rote/agent/workflow.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include <rote/base/text_template.h>

namespace rote::runtime {

std::string_view to_string(InputType type)
{
    switch (type) {
    case InputType::string:
        return "string";
    case InputType::number:
        return "number";
    case InputType::secret:
        return "secret";
    }
    return "?";
}

std::string_view to_string(StepHint::Kind kind)
{
    switch (kind) {
    case StepHint::Kind::click:
        return "click";
    case StepHint::Kind::double_click:
        return "double_click";
    case StepHint::Kind::type:
        return "type";
    case StepHint::Kind::key:
        return "key";
    case StepHint::Kind::wait:
        return "wait";
    case StepHint::Kind::scroll:
        return "scroll";
    }
    return "?";
}

std::string_view to_string(Policy::Effect effect)
{
    switch (effect) {
    case Policy::Effect::read:
        return "read";
    case Policy::Effect::add:
        return "add";
    case Policy::Effect::change:
        return "change";
    }
    return "?";
}

void secrets_from_environment(const Workflow& workflow, std::map<std::string, std::string>& given)
{
    for (const auto& in : workflow.inputs) {
        if (in.type != InputType::secret || given.contains(in.name))
            continue;
        if (const char* value = std::getenv(secret_variable(in.name).c_str()))
            given[in.name] = value;
    }
}

std::string secret_variable(std::string_view input)
{
    std::string var = "ROTE_SECRET_";
    for (char c : input)
        var += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return var;
}

const InputSpec* Workflow::input(std::string_view wanted) const
{
    for (const auto& i : inputs) {
        if (i.name == wanted)
            return &i;
    }
    return nullptr;
}

namespace {

class Reader {
public:
    explicit Reader(std::filesystem::path file)
        : m_file(std::move(file))
    {
    }

    Error error(const YAML::Node& node, const std::string& what) const
    {
        std::string where = m_file.string();
        if (node.IsDefined() && node.Mark().line >= 0)
            where += ":" + std::to_string(node.Mark().line + 1);
        return Error(Error::Code::invalid_argument, where + ": " + what);
    }

    Result<std::string> text(const YAML::Node& node, const std::string& key) const
    {
        if (!node.IsScalar())
            return error(node, key + " must be text");
        return node.Scalar();
    }

    Result<std::int64_t> whole(const YAML::Node& node, const std::string& key, std::int64_t low, std::int64_t high) const
    {
        auto s = ROTE_TRY(text(node, key));
        char* end = nullptr;
        const long long v = std::strtoll(s.c_str(), &end, 10);
        if (s.empty() || *end != '\0' || v < low || v > high)
            return error(node, key + " must be a whole number from " + std::to_string(low) + " to " + std::to_string(high)
                    + ", not '" + s + "'");
        return v;
    }

    // Keys of a mapping must all be known; the first unknown one is the error.
    Result<void> only(const YAML::Node& map, const std::string& what, std::initializer_list<const char*> keys) const
    {
        for (const auto& entry : map) {
            const std::string key = entry.first.Scalar();
            bool known = false;
            std::string list;
            for (const char* k : keys) {
                known |= key == k;
                list += (list.empty() ? "" : ", ") + std::string(k);
            }
            if (!known)
                return error(entry.first, "unknown key '" + key + "' in " + what + " (" + list + ")");
        }
        return {};
    }

    const std::filesystem::path& file() const { return m_file; }

private:
    std::filesystem::path m_file;
};

// "click", "\"Company name\"", "into", ...: words and double-quoted strings (with \" and \\ escapes).
Result<std::vector<std::string>> tokens(const std::string& line, const std::function<Error(std::string)>& fail)
{
    std::vector<std::string> out;
    size_t i = 0;
    while (i < line.size()) {
        if (line[i] == ' ' || line[i] == '\t') {
            ++i;
            continue;
        }
        std::string token;
        if (line[i] == '"') {
            ++i;
            bool closed = false;
            while (i < line.size()) {
                if (line[i] == '\\' && i + 1 < line.size()) {
                    token += line[i + 1];
                    i += 2;
                } else if (line[i] == '"') {
                    closed = true;
                    ++i;
                    break;
                } else {
                    token += line[i++];
                }
            }
            if (!closed)
                return fail("a quoted text is not closed");
            out.push_back("\"" + token);
        } else {
            while (i < line.size() && line[i] != ' ' && line[i] != '\t')
                token += line[i++];
            out.push_back(token);
        }
    }
    return out;
}

bool quoted(const std::string& token) { return !token.empty() && token[0] == '"'; }
std::string unquote(const std::string& token) { return token.substr(1); }

Result<StepHint> parse_hint(const std::string& line, int line_number, const std::function<Error(std::string)>& fail)
{
    const auto t = ROTE_TRY(tokens(line, fail));
    if (t.empty())
        return fail("an empty step hint");
    StepHint h;
    h.line = line_number;
    const std::string& verb = t[0];
    // A label list from token i: "A" [or "B"]...; the index after it, or 0 when there is none.
    auto labels = [&](size_t i) -> size_t {
        if (i >= t.size() || !quoted(t[i]) || unquote(t[i]).empty())
            return 0;
        h.target = unquote(t[i++]);
        while (i + 1 < t.size() && t[i] == "or" && quoted(t[i + 1]) && !unquote(t[i + 1]).empty()) {
            h.also.push_back(unquote(t[i + 1]));
            i += 2;
        }
        return i;
    };
    static const std::vector<std::string> ordinals {"first", "second", "third", "fourth", "fifth", "sixth", "seventh",
        "eighth", "ninth", "tenth"};
    // [first|second|...] [link|field] "Label" [or "Other"]... [below "Heading"]: the index after it, 0 when
    // there is no label.
    auto qualified_labels = [&](size_t i) -> size_t {
        if (i < t.size()) {
            if (auto o = std::find(ordinals.begin(), ordinals.end(), t[i]); o != ordinals.end()) {
                h.ordinal = static_cast<int>(o - ordinals.begin()) + 1;
                ++i;
            }
        }
        if (i < t.size() && (t[i] == "link" || t[i] == "field"))
            h.element = t[i++];
        const size_t end = labels(i);
        if (end == 0)
            return 0;
        if (end + 1 < t.size() && t[end] == "below" && quoted(t[end + 1]) && !unquote(t[end + 1]).empty()) {
            h.below = unquote(t[end + 1]);
            return end + 2;
        }
        return end;
    };
    auto one_label = [&](StepHint::Kind kind) -> Result<StepHint> {
        h.kind = kind;
        size_t end = qualified_labels(1);
        if (end != 0 && end + 2 == t.size() && t[end] == "if" && t[end + 1] == "present") {
            h.optional = true;
            end = t.size();
        }
        if (end == 0 || end != t.size())
            return fail("write " + verb + " \"Label\" (or \"Other label\"), optionally first/second/... before it, link "
                "or field before it, below \"Heading\" after it, and if present at the end");
        return h;
    };
    if (verb == "click")
        return one_label(StepHint::Kind::click);
    if (verb == "double_click")
        return one_label(StepHint::Kind::double_click);
    if (verb == "type") {
        const bool plain = t.size() == 2 && quoted(t[1]);
        const bool into = t.size() >= 4 && quoted(t[1]) && t[2] == "into" && qualified_labels(3) == t.size();
        if (!plain && !into)
            return fail("write type \"text\" or type \"text\" into \"Label\" (or \"Other label\"; field \"Label\" for "
                        "the field it names, first/second/... or below \"Heading\" to say which)");
        if (h.element == "link")
            return fail("type into a link: write type \"text\" into field \"Label\"");
        h.kind = StepHint::Kind::type;
        h.text = unquote(t[1]);
        if (h.text.empty())
            return fail("type needs text to type");
        return h;
    }
    if (verb == "key") {
        if (t.size() != 2 || quoted(t[1]))
            return fail("write key COMBINATION, e.g. key return or key ctrl+l");
        h.kind = StepHint::Kind::key;
        h.text = t[1];
        return h;
    }
    if (verb == "wait") {
        h.kind = StepHint::Kind::wait;
        if (t.size() >= 3 && t[1] == "for" && labels(2) == t.size())
            return h;
        std::smatch m;
        static const std::regex duration("([0-9]{1,6})(ms|s)");
        if (t.size() == 2 && std::regex_match(t[1], m, duration)) {
            h.amount = std::stoi(m[1]) * (m[2] == "s" ? 1000 : 1);
            if (h.amount <= 60'000)
                return h;
        }
        return fail("write wait 500ms, wait 2s (at most 60 s) or wait for \"text\"");
    }
    if (verb == "scroll") {
        if (t.size() == 3 && (t[1] == "down" || t[1] == "up") && t[2].size() <= 3
            && t[2].find_first_not_of("0123456789") == std::string::npos && std::stoi(t[2]) > 0) {
            h.kind = StepHint::Kind::scroll;
            h.amount = std::stoi(t[2]) * (t[1] == "up" ? -1 : 1);
            return h;
        }
        return fail("write scroll down N or scroll up N (wheel clicks)");
    }
    return fail("unknown step '" + verb + "' (click, double_click, type, key, wait, scroll)");
}

bool valid_name(const std::string& s)
{
    static const std::regex name("[a-z0-9][a-z0-9-]{0,62}");
    return std::regex_match(s, name);
}


bool is_number(const std::string& value)
{
    char* end = nullptr;
    std::strtod(value.c_str(), &end);
    return !value.empty() && *end == '\0';
}

Result<Workflow> read(const YAML::Node& root, const Reader& r)
{
    if (!root.IsMap())
        return r.error(root, "a workflow file must be a mapping (name:, goal:, ...)");
    ROTE_TRY(r.only(root, "the workflow", {"name", "goal", "inputs", "outputs", "start", "success", "policy", "hints"}));
    Workflow w;
    w.file = r.file();
    for (const char* required : {"name", "goal", "start"}) {
        if (!root[required])
            return r.error(root, std::string("the workflow has no ") + required);
    }
    w.name = ROTE_TRY(r.text(root["name"], "name"));
    if (!valid_name(w.name))
        return r.error(root["name"], "name must be lower-case letters, digits and dashes, not '" + w.name + "'");
    w.goal = ROTE_TRY(r.text(root["goal"], "goal"));
    if (w.goal.size() < 10)
        return r.error(root["goal"], "goal must say in plain words what the task is");

    if (const auto inputs = root["inputs"]) {
        if (!inputs.IsMap())
            return r.error(inputs, "inputs must map names to types (company: string)");
        for (const auto& entry : inputs) {
            InputSpec in;
            in.name = entry.first.Scalar();
            if (!valid_input_name(in.name))
                return r.error(entry.first, "input name '" + in.name + "' must be lower-case letters, digits and _");
            std::string type;
            if (entry.second.IsScalar()) {
                type = entry.second.Scalar();
            } else if (entry.second.IsMap()) {
                ROTE_TRY(r.only(entry.second, "input " + in.name, {"type", "description", "example", "default"}));
                if (!entry.second["type"])
                    return r.error(entry.second, "input " + in.name + " has no type");
                type = ROTE_TRY(r.text(entry.second["type"], "inputs." + in.name + ".type"));
                if (entry.second["description"])
                    in.description = ROTE_TRY(r.text(entry.second["description"], "description"));
                if (entry.second["example"])
                    in.example = ROTE_TRY(r.text(entry.second["example"], "example"));
                if (entry.second["default"])
                    in.default_value = ROTE_TRY(r.text(entry.second["default"], "default"));
            } else {
                return r.error(entry.second, "input " + in.name + " must be a type or a mapping with type:");
            }
            if (type == "string")
                in.type = InputType::string;
            else if (type == "number")
                in.type = InputType::number;
            else if (type == "secret")
                in.type = InputType::secret;
            else
                return r.error(entry.second, "input " + in.name + " has unknown type '" + type + "' (string, number, secret)");
            if (in.type == InputType::secret && in.example)
                return r.error(entry.second, "secret input " + in.name + " must not have an example (it would be stored)");
            if (in.type == InputType::secret && in.default_value)
                return r.error(entry.second, "secret input " + in.name + " must not have a default (it would be stored)");
            if (in.type == InputType::number && in.default_value && !is_number(*in.default_value))
                return r.error(entry.second["default"], "input " + in.name + ": the default must be a number");
            w.inputs.push_back(std::move(in));
        }
    }

    if (const auto outputs = root["outputs"]) {
        if (!outputs.IsMap())
            return r.error(outputs, "outputs must map names to where they are read (anchor:, pattern:)");
        for (const auto& entry : outputs) {
            OutputSpec out;
            out.name = entry.first.Scalar();
            if (!valid_input_name(out.name))
                return r.error(entry.first, "output name '" + out.name + "' must be lower-case letters, digits and _");
            if (!entry.second.IsMap())
                return r.error(entry.second, "output " + out.name + " needs anchor: and/or pattern:");
            ROTE_TRY(r.only(entry.second, "output " + out.name, {"anchor", "pattern"}));
            if (entry.second["anchor"])
                out.anchor = ROTE_TRY(r.text(entry.second["anchor"], "anchor"));
            if (entry.second["pattern"]) {
                out.pattern = ROTE_TRY(r.text(entry.second["pattern"], "pattern"));
                try {
                    std::regex check(out.pattern);
                } catch (const std::regex_error& e) {
                    return r.error(entry.second["pattern"], "output " + out.name + ": pattern is not a valid regex: " + e.what());
                }
            }
            if (out.anchor.empty() && out.pattern.empty())
                return r.error(entry.second, "output " + out.name + " needs anchor: and/or pattern:");
            w.outputs.push_back(std::move(out));
        }
    }

    const auto start = root["start"];
    if (!start.IsMap())
        return r.error(start, "start must be a mapping (url:, provider:, size:, scale:)");
    ROTE_TRY(r.only(start, "start", {"url", "provider", "size", "scale"}));
    if (!start["url"])
        return r.error(start, "start has no url");
    w.start_url = ROTE_TRY(r.text(start["url"], "start.url"));
    if (!w.start_url.starts_with("http://") && !w.start_url.starts_with("https://"))
        return r.error(start["url"], "start.url must be an http:// or https:// URL");
    if (start["provider"]) {
        w.provider = ROTE_TRY(r.text(start["provider"], "start.provider"));
        if (w.provider != "local" && w.provider != "qemu")
            return r.error(start["provider"], "start.provider must be local or qemu");
    }
    if (start["size"]) {
        auto size = ROTE_TRY(r.text(start["size"], "start.size"));
        std::smatch m;
        static const std::regex wxh("([0-9]{3,4})x([0-9]{3,4})");
        if (!std::regex_match(size, m, wxh))
            return r.error(start["size"], "start.size must be WIDTHxHEIGHT, not '" + size + "'");
        w.width = std::stoi(m[1]);
        w.height = std::stoi(m[2]);
        if (w.width < 640 || w.height < 480 || w.width > 3840 || w.height > 2160)
            return r.error(start["size"], "start.size must be from 640x480 to 3840x2160");
    }
    if (start["scale"]) {
        auto scale = ROTE_TRY(r.text(start["scale"], "start.scale"));
        static const std::regex number("[0-9](\\.[0-9]{1,2})?");
        if (!std::regex_match(scale, number) || std::stod(scale) < 0.5 || std::stod(scale) > 3)
            return r.error(start["scale"], "start.scale must be a number from 0.5 to 3 (1.25, 2), not '" + scale + "'");
        w.scale = std::stod(scale);
    }

    if (const auto success = root["success"]) {
        if (!success.IsMap())
            return r.error(success, "success must be a mapping (text:)");
        ROTE_TRY(r.only(success, "success", {"text", "url"}));
        if (success["url"]) {
            w.success_url = ROTE_TRY(r.text(success["url"], "success.url"));
            try {
                (void)std::regex(w.success_url);
            } catch (const std::regex_error& e) {
                return r.error(success["url"], "success.url is not a regular expression: " + std::string(e.what()));
            }
        }
        if (success["text"]) {
            w.success_text = ROTE_TRY(r.text(success["text"], "success.text"));
            // It may name the run's inputs ("{{company}}": the run ended on the requested record), never a
            // secret: a password is not something to look for on a screen.
            std::map<std::string, std::string> values;
            for (const auto& in : w.inputs) {
                if (in.type == InputType::secret) {
                    if (w.success_text.find("{{" + in.name + "}}") != std::string::npos
                        || w.success_text.find("{{secret:" + in.name + "}}") != std::string::npos)
                        return r.error(success["text"], "success.text: input " + in.name
                                + " is a secret, and a secret is never looked for on the screen");
                } else {
                    values[in.name] = "x";
                }
            }
            if (auto rendered = render_template(w.success_text, values, {}); !rendered.ok())
                return r.error(success["text"], "success.text: " + rendered.error().message());
        }
    }
    if (w.success_text.empty() && w.outputs.empty())
        return r.error(root, "the workflow needs success: text: or outputs: to tell a finished run");

    if (const auto policy = root["policy"]) {
        if (!policy.IsMap())
            return r.error(policy, "policy must be a mapping");
        ROTE_TRY(r.only(policy, "policy",
            {"allow", "routes", "max_steps", "max_planner_calls", "max_cost_usd", "effect", "idempotent", "capture",
                "api_check_writes"}));
        if (const auto allow = policy["allow"]) {
            if (!allow.IsSequence())
                return r.error(allow, "policy.allow must be a list of domains");
            for (const auto& d : allow)
                w.policy.allow.push_back(ROTE_TRY(r.text(d, "policy.allow")));
        }
        if (const auto routes = policy["routes"]) {
            if (!routes.IsMap())
                return r.error(routes, "policy.routes must map host names to 127.0.0.1:PORT");
            for (const auto& route : routes)
                w.policy.routes[route.first.Scalar()] = ROTE_TRY(r.text(route.second, "policy.routes"));
        }
        if (policy["max_steps"])
            w.policy.max_steps = static_cast<int>(ROTE_TRY(r.whole(policy["max_steps"], "policy.max_steps", 1, 1000)));
        if (policy["max_planner_calls"])
            w.policy.max_planner_calls
                = static_cast<int>(ROTE_TRY(r.whole(policy["max_planner_calls"], "policy.max_planner_calls", 0, 1000)));
        if (policy["max_cost_usd"]) {
            auto s = ROTE_TRY(r.text(policy["max_cost_usd"], "policy.max_cost_usd"));
            char* end = nullptr;
            const double usd = std::strtod(s.c_str(), &end);
            if (s.empty() || *end != '\0' || !std::isfinite(usd) || usd < 0 || usd > 1000)
                return r.error(policy["max_cost_usd"], "policy.max_cost_usd must be dollars from 0 to 1000");
            w.policy.max_cost_microusd = std::llround(usd * 1e6);
        }
        if (const auto effect = policy["effect"]) {
            const auto e = ROTE_TRY(r.text(effect, "policy.effect"));
            if (e == "read")
                w.policy.effect = Policy::Effect::read;
            else if (e == "add")
                w.policy.effect = Policy::Effect::add;
            else if (e == "change")
                w.policy.effect = Policy::Effect::change;
            else
                return r.error(effect, "policy.effect must be read, add or change, not '" + e + "'");
        }
        if (const auto idempotent = policy["idempotent"]) {
            const auto v = ROTE_TRY(r.text(idempotent, "policy.idempotent"));
            if (v != "true" && v != "false")
                return r.error(idempotent, "policy.idempotent must be true or false, not '" + v + "'");
            w.policy.idempotent = v == "true";
        }
        for (auto [key, flag] : {std::pair {"capture", &w.policy.capture}, {"api_check_writes", &w.policy.api_check_writes}}) {
            if (const auto node = policy[key]) {
                const std::string where = std::string("policy.") + key;
                const auto v = ROTE_TRY(r.text(node, where));
                if (v != "true" && v != "false")
                    return r.error(node, where + " must be true or false, not '" + v + "'");
                *flag = v == "true";
            }
        }
    }
    if (w.policy.allow.empty()) {
        // The start URL's host is always allowed; nothing else unless listed.
        std::string host = w.start_url.substr(w.start_url.find("//") + 2);
        host = host.substr(0, host.find_first_of("/:?#"));
        w.policy.allow.push_back(host);
    }

    if (const auto hints = root["hints"]) {
        if (!hints.IsSequence())
            return r.error(hints, "hints must be a list of steps (- click \"Search\")");
        // Placeholders must name declared inputs, and secrets must be written {{secret:name}}.
        std::map<std::string, std::string> values;
        std::map<std::string, std::string> secrets;
        for (const auto& in : w.inputs)
            (in.type == InputType::secret ? secrets : values)[in.name] = "x";
        for (const auto& node : hints) {
            const int line = node.Mark().line + 1;
            auto fail = [&](std::string what) { return r.error(node, "step hint: " + what); };
            auto line_text = ROTE_TRY(r.text(node, "a step hint"));
            auto hint = ROTE_TRY(parse_hint(line_text, line, fail));
            std::vector<const std::string*> texts {&hint.text, &hint.target, &hint.below};
            for (const auto& other : hint.also)
                texts.push_back(&other);
            for (const std::string* t : texts) {
                if (hint.kind == StepHint::Kind::key)
                    break;
                auto rendered = render_template(*t, values, secrets);
                if (!rendered.ok()) {
                    for (const auto& [name, _] : secrets) {
                        if (t->find("{{" + name + "}}") != std::string::npos)
                            return fail("input " + name + " is a secret: write {{secret:" + name + "}}");
                    }
                    return fail(rendered.error().message());
                }
            }
            w.hints.push_back(std::move(hint));
        }
    }
    return w;
}

} // namespace

bool valid_input_name(std::string_view name)
{
    static const std::regex pattern("[a-z_][a-z0-9_]{0,62}");
    return std::regex_match(name.begin(), name.end(), pattern);
}

Result<Workflow> parse_workflow(std::string_view text, const std::filesystem::path& file)
{
    Reader r(file);
    try {
        const YAML::Node root = YAML::Load(std::string(text));
        return read(root, r);
    } catch (const YAML::ParserException& e) {
        return Error(Error::Code::invalid_argument,
            file.string() + ":" + std::to_string(e.mark.line + 1) + ": not valid YAML: " + e.msg);
    } catch (const YAML::Exception& e) {
        return Error(Error::Code::invalid_argument, file.string() + ": " + e.what());
    }
}

Result<Workflow> load_workflow(const std::filesystem::path& file)
{
    std::ifstream in(file, std::ios::binary);
    if (!in)
        return Error(Error::Code::not_found, file.string() + ": cannot be read");
    std::stringstream text;
    text << in.rdbuf();
    return parse_workflow(text.str(), file);
}

namespace {

// One new input as the line the inputs: mapping holds it in: `NAME: {type: string, default: VALUE}`, the
// values quoted where YAML needs it.
std::string input_line(const InputSpec& in)
{
    YAML::Emitter line;
    line << YAML::Flow << YAML::BeginMap << YAML::Key << "type" << YAML::Value << std::string(to_string(in.type));
    if (!in.description.empty())
        line << YAML::Key << "description" << YAML::Value << in.description;
    line << YAML::Key << "default" << YAML::Value << *in.default_value << YAML::EndMap;
    return in.name + ": " + line.c_str();
}

std::size_t indent_of(const std::string& line)
{
    return line.find_first_not_of(' ') == std::string::npos ? line.size() : line.find_first_not_of(' ');
}

bool blank_or_comment(const std::string& line)
{
    const std::size_t at = line.find_first_not_of(" \t\r");
    return at == std::string::npos || line[at] == '#';
}

} // namespace

Result<std::string> with_inputs_added(
    std::string_view text, const std::vector<InputSpec>& added, const std::string& why, const std::filesystem::path& file)
{
    const Workflow before = ROTE_TRY(parse_workflow(text, file));
    for (const auto& in : added) {
        if (!valid_input_name(in.name))
            return Error(Error::Code::invalid_argument, "input name '" + in.name + "' must be lower-case letters, digits and _");
        if (before.input(in.name) != nullptr)
            return Error(Error::Code::invalid_argument, file.string() + " has an input named " + in.name + " already");
        if (in.type == InputType::secret || !in.default_value)
            return Error(Error::Code::invalid_argument, "input " + in.name + ": only a string or number input with a default is added");
    }
    std::vector<std::string> lines;
    {
        std::string all(text);
        std::istringstream in(all);
        for (std::string line; std::getline(in, line);)
            lines.push_back(line);
    }
    // Where the new lines go, and how far in: below the inputs: mapping's last entry (block style), or a new
    // inputs: at the end of the file.
    std::size_t at = lines.size();
    std::string indent = "  ";
    std::vector<std::string> block;
    const auto key = std::find_if(lines.begin(), lines.end(), [](const std::string& l) { return l.starts_with("inputs:"); });
    if (key == lines.end()) {
        while (at > 0 && blank_or_comment(lines[at - 1]) && lines[at - 1].find_first_not_of(" \t\r") == std::string::npos)
            --at;
        block.push_back("inputs:");
    } else {
        const std::size_t first = static_cast<std::size_t>(key - lines.begin());
        std::string rest = key->substr(7);
        if (const std::size_t comment = rest.find(" #"); comment != std::string::npos)
            rest.erase(comment);
        rest.erase(0, rest.find_first_not_of(" \t\r"));
        rest.erase(rest.find_last_not_of(" \t\r") + 1);
        if (rest == "{}")
            lines[first] = "inputs:";
        else if (!rest.empty())
            return Error(Error::Code::invalid_argument,
                file.string() + ": inputs: is written in flow style ({...}); add the new inputs to it by hand");
        at = first + 1;
        for (std::size_t j = first + 1; j < lines.size(); ++j) {
            if (blank_or_comment(lines[j]))
                continue;
            if (indent_of(lines[j]) == 0)
                break;
            if (at == first + 1)
                indent = std::string(indent_of(lines[j]), ' ');
            at = j + 1;
        }
    }
    if (!why.empty())
        block.push_back(indent + "# " + why);
    for (const auto& in : added)
        block.push_back(indent + input_line(in));
    lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(at), block.begin(), block.end());
    std::string out;
    for (const auto& line : lines)
        out += line + "\n";

    // Nothing but the new inputs may have changed.
    auto after = parse_workflow(out, file);
    if (!after.ok())
        return after.error().with_context("adding inputs to " + file.string());
    bool same = after->inputs.size() == before.inputs.size() + added.size() && after->name == before.name
        && after->goal == before.goal && after->hints.size() == before.hints.size()
        && after->outputs.size() == before.outputs.size() && after->start_url == before.start_url
        && after->success_text == before.success_text;
    for (std::size_t i = 0; same && i < before.inputs.size(); ++i)
        same = after->inputs[i].name == before.inputs[i].name && after->inputs[i].default_value == before.inputs[i].default_value;
    for (std::size_t i = 0; same && i < added.size(); ++i) {
        const InputSpec& got = after->inputs[before.inputs.size() + i];
        same = got.name == added[i].name && got.type == added[i].type && got.default_value == added[i].default_value;
    }
    if (!same)
        return Error(Error::Code::invalid_argument,
            file.string() + ": its layout is one rote cannot add inputs to safely; add them by hand");
    return out;
}

Result<RunInputs> check_inputs(const Workflow& workflow, const std::map<std::string, std::string>& given)
{
    RunInputs out;
    for (const auto& [name, value] : given) {
        const InputSpec* spec = workflow.input(name);
        if (spec == nullptr)
            return Error(Error::Code::invalid_argument, "workflow " + workflow.name + " has no input '" + name + "'");
        if (spec->type == InputType::number && !is_number(value))
            return Error(Error::Code::invalid_argument, "input " + name + " must be a number, not '" + value + "'");
        (spec->type == InputType::secret ? out.secrets : out.values)[name] = value;
    }
    for (const auto& spec : workflow.inputs) {
        if (given.contains(spec.name))
            continue;
        if (!spec.default_value)
            return Error(Error::Code::invalid_argument,
                "workflow " + workflow.name + " needs input '" + spec.name + "' (" + std::string(to_string(spec.type)) + ")");
        out.values[spec.name] = *spec.default_value;
    }
    return out;
}

} // namespace rote::runtime
