// The trace exchange format: a self-contained JSON document for `rote export` / `rote import` (and, after
// it, a run as such a document: export_run, `rote export --run`, read-only).
//
// {
//   "format": "rote-trace", "format_version": 1,
//   "workflow": {"name": "registry-lookup", "goal": "..."},
//   "trace": {"version": 3, "created_at": "...", "note": "..."},        (informational on import)
//   "steps": [{"index": 0, "action": {...}, "provenance": "llm", "settle_ms": 120,
//              "pre": {"artifact": "<sha256>"|null, "fingerprint": "<base64>", "mask": [[x,y,w,h]]},
//              "anchor": {"patch": "<sha256>"|null, "label": "Search", "box": [x,y,w,h], "landmarks": [...]},
//              "effect": {"region": [x,y,w,h]|null, "artifact": "<sha256>"|null, "fingerprint": "<base64>"}}],
//   "artifacts": {"<sha256>": {"media_type": "image/png", "data": "<base64>"}}
// }
//
// Import is the store's one parser of outside input, so it trusts nothing: every field is type- and
// range-checked, every artifact's bytes must hash to its name, and nothing is written unless the whole
// document is valid (then it is written in one transaction by save_trace).

#include <rote/store/store.h>

#include <rote/base/png.h>

#include <set>

#include <rote/store/json.h>

#include "codec.h"

namespace rote::store {

using nlohmann::json;

namespace {

inline constexpr int kFormatVersion = 1;

Error invalid(const std::string& where, const std::string& what)
{
    return Error(Error::Code::invalid_argument, "trace document: " + where + ": " + what);
}

Result<const json*> member(const json& j, const char* key, const std::string& where)
{
    auto it = j.find(key);
    if (it == j.end())
        return invalid(where, std::string("missing \"") + key + "\"");
    return &*it;
}

Result<std::optional<Hash>> optional_hash(const json& j, const char* key, const std::string& where)
{
    auto it = j.find(key);
    if (it == j.end() || it->is_null())
        return std::optional<Hash>();
    if (!it->is_string() || !codec::is_hash(it->get<std::string>()))
        return invalid(where, std::string("\"") + key + "\" must be a SHA-256 hex string or null");
    return std::optional<Hash>(it->get<std::string>());
}

Result<std::vector<std::uint8_t>> base64_field(const json& j, const char* key, const std::string& where)
{
    auto it = j.find(key);
    if (it == j.end())
        return std::vector<std::uint8_t>();
    if (!it->is_string())
        return invalid(where, std::string("\"") + key + "\" must be a base64 string");
    auto bytes = base64_decode(it->get<std::string>());
    if (!bytes.ok())
        return invalid(where, std::string("\"") + key + "\": " + bytes.error().message());
    return std::move(bytes).value();
}

Result<Step> step_from_json(const json& j, std::size_t i)
{
    const std::string where = "steps[" + std::to_string(i) + "]";
    if (!j.is_object())
        return invalid(where, "must be an object");
    Step s;
    const json* index = ROTE_TRY(member(j, "index", where));
    if (!index->is_number_integer() || index->get<std::int64_t>() != static_cast<std::int64_t>(i))
        return invalid(where, "\"index\" must be " + std::to_string(i));
    s.index = static_cast<int>(i);

    auto action = codec::action_from_json(*ROTE_TRY(member(j, "action", where)), where + ".action");
    if (!action.ok())
        return invalid(where, action.error().message());
    s.action = std::move(action).value();
    if (!is_replayable(s.action.kind))
        return invalid(where, "a trace cannot record \"" + std::string(to_string(s.action.kind)) + "\"");

    const json* provenance = ROTE_TRY(member(j, "provenance", where));
    const auto p = provenance->is_string() ? parse_provenance(provenance->get<std::string>()) : std::nullopt;
    if (!p)
        return invalid(where, "\"provenance\" must be one of llm, human, script, repair");
    s.provenance = *p;

    const json* settle = ROTE_TRY(member(j, "settle_ms", where));
    if (!settle->is_number_integer() || settle->get<std::int64_t>() < 0 || settle->get<std::int64_t>() > 600'000)
        return invalid(where, "\"settle_ms\" must be an integer from 0 to 600000");
    s.settle_ms = static_cast<int>(settle->get<std::int64_t>());

    const json* pre = ROTE_TRY(member(j, "pre", where));
    if (!pre->is_object())
        return invalid(where, "\"pre\" must be an object");
    s.pre_artifact = ROTE_TRY(optional_hash(*pre, "artifact", where + ".pre"));
    s.pre_fingerprint = ROTE_TRY(base64_field(*pre, "fingerprint", where + ".pre"));
    if (auto it = pre->find("mask"); it != pre->end()) {
        auto mask = codec::rects_from_json(*it, where + ".pre.mask");
        if (!mask.ok())
            return invalid(where, mask.error().message());
        s.mask = std::move(mask).value();
    }

    const json* anchor = ROTE_TRY(member(j, "anchor", where));
    auto a = codec::anchor_from_json(*anchor, where + ".anchor");
    if (!a.ok())
        return invalid(where, a.error().message());
    s.anchor = std::move(a).value();
    s.anchor.patch = ROTE_TRY(optional_hash(*anchor, "patch", where + ".anchor"));

    const json* effect = ROTE_TRY(member(j, "effect", where));
    if (!effect->is_object())
        return invalid(where, "\"effect\" must be an object");
    if (auto it = effect->find("region"); it != effect->end() && !it->is_null()) {
        auto r = codec::rect_from_json(*it, where + ".effect.region");
        if (!r.ok())
            return invalid(where, r.error().message());
        s.effect_region = *r;
    }
    s.post_artifact = ROTE_TRY(optional_hash(*effect, "artifact", where + ".effect"));
    s.post_fingerprint = ROTE_TRY(base64_field(*effect, "fingerprint", where + ".effect"));
    return s;
}

} // namespace

json to_json(const Step& s)
{
    auto hash_or_null = [](const std::optional<Hash>& h) { return h ? json(*h) : json(nullptr); };
    json anchor = codec::anchor_to_json(s.anchor);
    anchor["patch"] = hash_or_null(s.anchor.patch);
    return {
        {"index", s.index},
        {"action", codec::to_json(s.action)},
        {"provenance", std::string(to_string(s.provenance))},
        {"settle_ms", s.settle_ms},
        {"pre",
            {{"artifact", hash_or_null(s.pre_artifact)}, {"fingerprint", base64_encode(s.pre_fingerprint)},
                {"mask", codec::to_json(s.mask)}}},
        {"anchor", std::move(anchor)},
        {"effect",
            {{"region", s.effect_region ? codec::to_json(*s.effect_region) : json(nullptr)},
                {"artifact", hash_or_null(s.post_artifact)},
                {"fingerprint", base64_encode(s.post_fingerprint)}}},
    };
}

Result<std::string> Store::export_trace(std::int64_t id)
{
    const Trace trace = ROTE_TRY(load_trace(id));
    std::string goal;
    for (const auto& w : ROTE_TRY(list_workflows())) {
        if (w.name == trace.workflow)
            goal = w.goal;
    }
    json steps = json::array();
    std::set<Hash> hashes;
    for (const auto& s : trace.steps) {
        steps.push_back(to_json(s));
        for (const auto* h : {&s.pre_artifact, &s.post_artifact, &s.anchor.patch}) {
            if (*h)
                hashes.insert(**h);
        }
    }
    json artifacts = json::object();
    for (const auto& h : hashes) {
        const Artifact a = ROTE_TRY(get_artifact(h));
        artifacts[h] = {{"media_type", a.media_type}, {"data", base64_encode(a.data)}};
    }
    const json doc {
        {"format", "rote-trace"},
        {"format_version", kFormatVersion},
        {"workflow", {{"name", trace.workflow}, {"goal", goal}}},
        {"trace", {{"version", trace.version}, {"created_at", trace.created_at}, {"note", trace.note}}},
        {"steps", std::move(steps)},
        {"artifacts", std::move(artifacts)},
    };
    return doc.dump(1);
}

Result<std::string> Store::export_run(std::int64_t run_id)
{
    ReportQuery query;
    query.run = run_id;
    const Report report = ROTE_TRY(this->report(query));
    const RunReport& run = report.runs.front();
    const CostFigures& f = run.figures;
    json steps = json::array();
    json artifacts = json::object();
    for (const RunStep& step : ROTE_TRY(run_steps(run_id))) {
        steps.push_back({{"index", step.index}, {"trace_step", step.trace_step ? json(*step.trace_step) : json(nullptr)},
            {"outcome", to_string(step.outcome)}, {"action", codec::to_json(step.action)}, {"method", step.method},
            {"confidence", step.confidence ? json(*step.confidence) : json(nullptr)}, {"duration_ms", step.duration_ms},
            {"detail", step.detail}, {"screenshot", step.artifact ? json(*step.artifact) : json(nullptr)}});
        if (step.artifact && !artifacts.contains(*step.artifact)) {
            const Artifact a = ROTE_TRY(get_artifact(*step.artifact));
            artifacts[*step.artifact] = {{"media_type", a.media_type}, {"data", base64_encode(a.data)}};
        }
    }
    json calls = json::array();
    for (const LlmCall& c : ROTE_TRY(run_calls(run_id))) {
        calls.push_back({{"step", c.run_step ? json(*c.run_step) : json(nullptr)}, {"provider", c.provider},
            {"model", c.model}, {"input_tokens", c.input_tokens}, {"output_tokens", c.output_tokens},
            {"cache_read_tokens", c.cache_read_tokens}, {"cache_write_tokens", c.cache_write_tokens},
            {"cost_microusd", c.cost_microusd}, {"latency_ms", c.latency_ms}});
    }
    const json doc {
        {"format", "rote-run"},
        {"format_version", 1},
        {"run",
            {{"id", run.id}, {"workflow", run.workflow}, {"status", to_string(run.status)}, {"started_at", run.started_at},
                {"trace_id", run.trace_id ? json(*run.trace_id) : json(nullptr)}, {"planner", run.planner},
                {"error", run.error}, {"schedule", run.schedule ? json(*run.schedule) : json(nullptr)},
                {"figures",
                    {{"steps", f.steps}, {"steps_replayed", f.steps_replayed}, {"llm_calls", f.llm_calls},
                        {"input_tokens", f.input_tokens}, {"output_tokens", f.output_tokens},
                        {"cost_microusd", f.cost_microusd}, {"wall_ms", f.wall_ms}, {"sandbox_ms", f.sandbox_ms}}}}},
        {"steps", std::move(steps)},
        {"llm_calls", std::move(calls)},
        {"artifacts", std::move(artifacts)}, // the divergences' screenshots, by the hash their steps name
    };
    return doc.dump(1);
}

Result<std::int64_t> Store::import_trace(std::string_view text, const Progress& progress)
{
    json doc;
    try {
        doc = json::parse(text);
    } catch (const json::parse_error& e) {
        return Error(Error::Code::invalid_argument, std::string("trace document is not JSON: ") + e.what());
    }
    if (!doc.is_object())
        return invalid("top level", "must be an object");
    const json* format = ROTE_TRY(member(doc, "format", "top level"));
    if (*format != "rote-trace")
        return invalid("top level", "\"format\" is not \"rote-trace\"");
    const json* version = ROTE_TRY(member(doc, "format_version", "top level"));
    if (!version->is_number_integer())
        return invalid("top level", "\"format_version\" must be an integer");
    if (version->get<std::int64_t>() > kFormatVersion)
        return Error(Error::Code::unsupported,
            "trace document has format version " + std::to_string(version->get<std::int64_t>())
                + ", this rote reads up to " + std::to_string(kFormatVersion) + "; upgrade rote");
    if (version->get<std::int64_t>() < 1)
        return invalid("top level", "\"format_version\" must be at least 1");

    const json* workflow = ROTE_TRY(member(doc, "workflow", "top level"));
    if (!workflow->is_object())
        return invalid("workflow", "must be an object");
    const json* name = ROTE_TRY(member(*workflow, "name", "workflow"));
    if (!name->is_string())
        return invalid("workflow", "\"name\" must be a string");

    NewTrace trace;
    trace.workflow = name->get<std::string>();
    if (auto t = doc.find("trace"); t != doc.end() && t->is_object()) {
        if (auto note = t->find("note"); note != t->end() && note->is_string())
            trace.note = note->get<std::string>();
    }

    const json* steps = ROTE_TRY(member(doc, "steps", "top level"));
    if (!steps->is_array())
        return invalid("steps", "must be a list");
    for (std::size_t i = 0; i < steps->size(); ++i)
        trace.steps.push_back(ROTE_TRY(step_from_json((*steps)[i], i)));

    const json* artifacts = ROTE_TRY(member(doc, "artifacts", "top level"));
    if (!artifacts->is_object())
        return invalid("artifacts", "must be an object keyed by SHA-256");
    for (const auto& [hash, entry] : artifacts->items()) {
        const std::string where = "artifacts[" + hash.substr(0, 16) + "]";
        if (!codec::is_hash(hash))
            return invalid(where, "the key is not a SHA-256 hex string");
        if (!entry.is_object())
            return invalid(where, "must be an object");
        const json* type = ROTE_TRY(member(entry, "media_type", where));
        if (!type->is_string() || type->get<std::string>().empty())
            return invalid(where, "\"media_type\" must be a non-empty string");
        const json* data = ROTE_TRY(member(entry, "data", where));
        if (!data->is_string())
            return invalid(where, "\"data\" must be a base64 string");
        auto bytes = base64_decode(data->get<std::string>());
        if (!bytes.ok())
            return invalid(where, bytes.error().message());
        if (codec::sha256_hex(*bytes) != hash)
            return invalid(where, "the bytes do not match the hash");
        // Every artifact of a trace is a screenshot or a patch of one.
        if (type->get<std::string>() != "image/png")
            return invalid(where, "\"media_type\" must be image/png, not \"" + type->get<std::string>().substr(0, 40) + "\"");
        if (auto size = png_size(*bytes); !size.ok())
            return invalid(where, size.error().message());
        trace.artifacts.push_back({hash, type->get<std::string>(), std::move(bytes).value()});
    }

    if (auto goal = workflow->find("goal"); goal != workflow->end()) {
        if (!goal->is_string())
            return invalid("workflow", "\"goal\" must be a string");
        trace.workflow_goal = goal->get<std::string>(); // used only if the store does not know the workflow
    }
    return save_trace(trace, progress);
}

} // namespace rote::store
