#include <rote/recorder/recorder.h>

#include <algorithm>
#include <cctype>
#include <set>

#include <opencv2/imgproc.hpp>

#include <rote/base/text_template.h>
#include <rote/store/store.h>
#include <rote/vision/diff.h>
#include <rote/vision/fingerprint.h>
#include <rote/vision/image.h>
#include <rote/vision/target.h>

namespace rote::recorder {

namespace {

// Adds the image as a PNG artifact once (by content) and returns its hash.
Result<store::Hash> add_artifact(const cv::Mat& image, store::NewTrace& trace, std::set<store::Hash>& seen)
{
    auto png = ROTE_TRY(vision::encode_png(image));
    store::Hash hash = store::content_hash(png);
    if (seen.insert(hash).second)
        trace.artifacts.push_back({hash, "image/png", std::move(png)});
    return hash;
}

// True when `text` shows one of the inputs' values within it ("3 results for “Acme”").
bool shows_input(const std::string& text, const std::map<std::string, std::string>& inputs)
{
    for (const auto& [name, value] : inputs) {
        if (value.size() >= 3 && text.find(value) != std::string::npos)
            return true;
    }
    return false;
}

// True when an element's identity names an input's or a secret's value anywhere (its text, label, id, name,
// href...), as written or as a page would put it in an id or a URL ("Stark Components": stark_components,
// stark-components, Stark+Components, Stark%20Components). Such an identity belongs to this run's record, not
// to the step: found again for another input's run it would be the wrong element.
bool names_input(const ElementIdentity& e, const std::map<std::string, std::string>& inputs,
    const std::map<std::string, std::string>& secrets)
{
    const auto lower = [](std::string s) {
        std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        return s;
    };
    const std::string all = lower(e.id + "\n" + e.name + "\n" + e.label + "\n" + e.placeholder + "\n" + e.text + "\n"
        + e.href + "\n" + e.classes);
    for (const auto* values : {&inputs, &secrets}) {
        for (const auto& [name, value] : *values) {
            if (value.size() < 3)
                continue;
            const std::string v = lower(value);
            for (const char* space : {" ", "_", "-", "+", "%20", ""}) {
                std::string form;
                for (char c : v)
                    form += c == ' ' ? std::string(space) : std::string(1, c);
                if (all.find(form) != std::string::npos)
                    return true;
            }
        }
    }
    return false;
}

} // namespace

std::string label_template(const std::string& label, const std::map<std::string, std::string>& inputs)
{
    // OCR reads a value the way it is shown, not always letter for letter: "Acme Robotics Ltd" may come back
    // as "Acme Robotics Ltd." Close enough is the input.
    for (const auto& [name, value] : inputs) {
        if (value.size() >= 3 && vision::text_similarity(label, value) >= 0.8)
            return "{{" + name + "}}";
    }
    // A label that shows the value among other words ("Stark Components @partners", a search result with its
    // namespace) keeps the other words and takes the placeholder where the value stands: replay for another
    // partner looks for that partner's result, never for this run's. Whole words only ("Acme" is not in
    // "Acmes"), the longest value first.
    std::vector<std::pair<std::string, std::string>> by_length(inputs.begin(), inputs.end());
    std::sort(by_length.begin(), by_length.end(), [](const auto& a, const auto& b) { return a.second.size() > b.second.size(); });
    const auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
    for (const auto& [name, value] : by_length) {
        if (value.size() < 3)
            continue;
        for (std::size_t at = label.find(value); at != std::string::npos; at = label.find(value, at + 1)) {
            const std::size_t end = at + value.size();
            if ((at == 0 || !word(label[at - 1])) && (end == label.size() || !word(label[end])))
                return label.substr(0, at) + "{{" + name + "}}" + label.substr(end);
        }
    }
    return label;
}

Result<std::string> text_template(const std::string& typed, const std::map<std::string, std::string>& inputs,
    const std::map<std::string, std::string>& secrets)
{
    // Render what the planner wrote (its placeholders become values), then templatize the literal text: both
    // "{{company}}" and "Acme Ltd" typed for input company end as "{{company}}".
    std::string literal = typed;
    if (typed.find("{{") != std::string::npos)
        literal = ROTE_TRY(render_template(typed, inputs, secrets));
    return templatize(literal, inputs, secrets);
}

namespace {

// What a field is called, as a person reads it: its label, else its placeholder, name or id.
std::string field_called(const ElementIdentity& field)
{
    for (const std::string* s : {&field.label, &field.placeholder, &field.name, &field.id}) {
        if (!s->empty())
            return *s;
    }
    return {};
}

// Whether a field looks like one for a password, a PIN or a token, by its names (a password input's role is a
// text box's, like any other).
bool secret_field(const ElementIdentity& field)
{
    std::string names;
    for (const std::string* s : {&field.label, &field.placeholder, &field.name, &field.id})
        names += " " + *s;
    std::transform(names.begin(), names.end(), names.begin(), [](unsigned char c) { return std::tolower(c); });
    for (const char* word : {"pass", "pwd", "secret", "token", "otp", "pin code", "pin:", " pin"}) {
        if (names.find(word) != std::string::npos)
            return true;
    }
    return false;
}

// "Company name:" → "company_name"; "" when nothing of it is a letter or digit.
std::string as_input_name(const std::string& called)
{
    std::string name;
    for (const char c : called) {
        const auto u = static_cast<unsigned char>(c);
        if (std::isalnum(u) && u < 0x80)
            name += static_cast<char>(std::tolower(u));
        else if (!name.empty() && name.back() != '_')
            name += '_';
    }
    while (!name.empty() && name.back() == '_')
        name.pop_back();
    if (name.size() > 40)
        name.resize(40);
    if (!name.empty() && std::isdigit(static_cast<unsigned char>(name[0])))
        name = "input_" + name;
    return name;
}

} // namespace

std::vector<ProposedInput> proposed_inputs(const std::vector<Observed>& observed,
    const std::map<std::string, std::string>& inputs, const std::map<std::string, std::string>& secrets)
{
    std::vector<ProposedInput> proposed;
    std::set<std::string> taken;
    for (const auto& [name, _] : inputs)
        taken.insert(name);
    for (const auto& [name, _] : secrets)
        taken.insert(name);
    for (const Observed& o : observed) {
        if (o.action.kind != ActionKind::type)
            continue;
        auto templated = text_template(o.action.text, inputs, secrets);
        if (!templated || templated->find("{{") != std::string::npos
            || templated->find_first_not_of(" \t") == std::string::npos)
            continue;
        if (std::any_of(proposed.begin(), proposed.end(), [&](const ProposedInput& p) { return p.value == *templated; }))
            continue;
        if (secret_field(o.focus))
            continue; // a mistyped password is nearly the password: never written into a workflow
        ProposedInput p {*templated, field_called(o.focus), {}};
        const std::string base = as_input_name(p.field).empty() ? "input" : as_input_name(p.field);
        p.name = base;
        for (int n = 2; taken.contains(p.name); ++n)
            p.name = base + "_" + std::to_string(n);
        taken.insert(p.name);
        proposed.push_back(std::move(p));
    }
    return proposed;
}

Result<store::NewTrace> record(const std::vector<Observed>& observed, const RecordOptions& options, vision::Ocr& ocr)
{
    store::NewTrace trace;
    trace.workflow = options.workflow;
    trace.workflow_goal = options.goal;
    trace.note = options.note;
    std::set<store::Hash> seen;
    for (const auto& o : observed) {
        if (!is_replayable(o.action.kind))
            continue;
        const std::string where = "step " + std::to_string(trace.steps.size());
        if (o.before.empty() || o.after.empty() || o.before.size() != o.after.size() || o.before.type() != CV_8UC3
            || o.after.type() != CV_8UC3)
            return Error(Error::Code::invalid_argument,
                where + ": the screens before and after must be non-empty 8-bit BGR images of one size");
        store::Step step;
        step.index = static_cast<int>(trace.steps.size());
        step.action = o.action;
        step.settle_ms = o.settle_ms;
        step.provenance = o.provenance;
        step.mask = o.mask;
        if (step.action.kind == ActionKind::type) {
            auto tpl = text_template(o.action.text, options.inputs, options.secrets);
            if (!tpl.ok())
                return tpl.error().with_context(where);
            step.action.text = *tpl;
        }
        step.pre_artifact = ROTE_TRY(add_artifact(o.before, trace, seen));
        step.post_artifact = ROTE_TRY(add_artifact(o.after, trace, seen));
        step.pre_fingerprint = vision::serialize(vision::fingerprint(o.before));
        step.post_fingerprint = vision::serialize(vision::fingerprint(o.after));
        if (acts_at_point(step.action.kind)) {
            auto anchor = vision::build_anchor(o.before, step.action.at, ocr, o.mask);
            if (!anchor.ok())
                return anchor.error().with_context(where);
            step.anchor.patch = ROTE_TRY(add_artifact(anchor->element_patch().clone(), trace, seen));
            step.anchor.label = label_template(anchor->label, options.inputs);
            step.anchor.label_box = anchor->label_box;
            step.anchor.element = o.element;
            // A target whose label shows an input is found by this run's value (replayer::find_input_text).
            if (step.anchor.label.find("{{") == std::string::npos && !names_input(o.identity, options.inputs, options.secrets))
                step.anchor.identity = o.identity;
            for (const auto& l : anchor->landmarks) {
                // Text that shows an input's value changes with the inputs: no use as a landmark.
                if (label_template(l.text, options.inputs) == l.text && !shows_input(l.text, options.inputs))
                    step.anchor.landmarks.push_back(l);
            }
        }
        if (o.focus.is_field() && !names_input(o.focus, options.inputs, options.secrets))
            step.anchor.focus = o.focus;
        const auto changed = vision::changed_regions(o.before, o.after, o.mask);
        if (!changed.empty())
            step.effect_region = bounding(changed);
        trace.steps.push_back(std::move(step));
    }
    return trace;
}

} // namespace rote::recorder
