#include <rote/report/html.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include <rote/base/action.h>
#include <rote/base/base64.h>
#include <rote/base/text.h>
#include <rote/vision/diff.h>
#include <rote/vision/image.h>

namespace rote::report {

namespace {

using store::RunReport;
using store::RunStep;
using store::StepOutcome;

std::string esc(std::string_view s)
{
    std::string out;
    out.reserve(s.size());
    for (const char c : s) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&#39;"; break;
        default: out += c;
        }
    }
    return out;
}

std::string dollars(double microusd)
{
    char buf[48];
    std::snprintf(buf, sizeof buf, "$%.4f", microusd / 1e6);
    return buf;
}

std::string fixed(double v, int decimals)
{
    char buf[48];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

std::string plural(std::int64_t n, const char* one) { return std::to_string(n) + " " + one + (n == 1 ? "" : "s"); }

std::string percent(std::optional<double> share) { return share ? fixed(*share * 100, 0) + "%" : "–"; }

// A run's steps and model calls, as the page needs them.
struct RunDetail {
    const RunReport* run = nullptr;
    std::vector<RunStep> steps;
};

// What a replayed step of a workflow is valued at (docs/report.md, "saved by the cache"): the model's dollars per
// step it planned over every run of that workflow that called it (the run that taught it, those that
// repaired it; any time, not only this report's); for a workflow no model ever planned (taught by hints),
// the same over every workflow of the store; none when the store holds no model call at all.
struct StepPrice {
    std::optional<double> microusd; // per replayed step
    std::string how; // said beside the figure
};

StepPrice step_price(const std::string& workflow, const std::map<std::string, store::ModelSteps>& steps)
{
    const auto per_step = [](std::int64_t cost, std::int64_t planned) -> std::optional<double> {
        if (planned == 0 || cost == 0)
            return std::nullopt;
        return static_cast<double>(cost) / static_cast<double>(planned);
    };
    if (const auto it = steps.find(workflow); it != steps.end()) {
        if (const auto p = per_step(it->second.cost_microusd, it->second.planned_steps))
            return {p, "a model-planned step of this workflow cost " + dollars(*p) + " (its " + std::to_string(it->second.planned_steps)
                    + " model-planned steps, taught or repaired)"};
    }
    std::int64_t cost = 0, planned = 0;
    for (const auto& [name, s] : steps) {
        cost += s.cost_microusd;
        planned += s.planned_steps;
    }
    if (const auto p = per_step(cost, planned))
        return {p, "no model ever planned this workflow (taught by hints), so a step is valued at what a model-planned "
                   "step of the other workflows of this store cost, " + dollars(*p) + " (over " + std::to_string(planned) + " steps)"};
    return {std::nullopt, "no run in this store called a model, so what the cache saved is not valued"};
}

class Page {
public:
    Page(store::Store& store, const HtmlOptions& options) : m_store(store), m_options(options) {}

    Result<std::string> render(const store::ReportQuery& query)
    {
        const store::Report report = ROTE_TRY(m_store.report(query));
        std::vector<RunDetail> runs;
        for (const RunReport& r : report.runs) {
            RunDetail d;
            d.run = &r;
            d.steps = ROTE_TRY(m_store.run_steps(r.id));
            runs.push_back(std::move(d));
        }
        const auto model_steps = ROTE_TRY(m_store.model_steps());
        std::map<std::string, StepPrice> prices;
        for (const auto& w : report.workflows)
            prices[w.workflow] = step_price(w.workflow, model_steps);

        head(report);
        std::int64_t saved = 0;
        bool priced = false;
        for (const auto& w : report.workflows) {
            if (const auto price = prices[w.workflow].microusd) {
                saved += static_cast<std::int64_t>(*price * static_cast<double>(w.figures.steps_replayed));
                priced = true;
            }
        }
        totals(report.total, priced ? std::optional<std::int64_t>(saved) : std::nullopt);
        for (const auto& w : report.workflows)
            workflow(w, runs, prices[w.workflow]);
        for (const auto& sr : report.schedules)
            schedule(sr);

        const int shown = std::clamp<int>(m_options.detailed_runs, 0, static_cast<int>(runs.size()));
        m_out << "<h2 id=\"runs\">Runs, step by step</h2>\n";
        if (shown < static_cast<int>(runs.size()))
            m_out << "<p class=\"note\">The newest " << shown << " of " << runs.size()
                  << " runs; every run is in the figures and charts above.</p>\n";
        for (int i = static_cast<int>(runs.size()) - 1; i >= static_cast<int>(runs.size()) - shown; --i)
            ROTE_TRY(run(runs[static_cast<std::size_t>(i)])); // its model calls read here: only shown runs need them
        tail();
        return m_out.str();
    }

private:
    void head(const store::Report& report)
    {
        m_out << R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content=")" << kPagePolicy << R"(">
<title>rote run report</title>
<style>
  body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1200px; color: #1d232a; padding: 0 16px; }
  h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #d5dbe1; }
  h3 { font-size: 15px; margin: 20px 0 6px; }
  table { border-collapse: collapse; margin: 6px 0 12px; }
  th, td { border: 1px solid #d5dbe1; padding: 3px 8px; text-align: left; vertical-align: top; }
  th { background: #f1f4f7; font-weight: 600; }
  td.n { text-align: right; font-variant-numeric: tabular-nums; }
  .note { color: #56606b; }
  .succeeded { color: #1a7f37; } .failed, .interrupted { color: #b42318; } .cancelled, .running { color: #8a5a00; }
  img.shot { width: 160px; border: 1px solid #c3cad1; cursor: zoom-in; display: block; }
  .divergence { display: flex; gap: 16px; flex-wrap: wrap; margin: 8px 0 16px; }
  .divergence figure { margin: 0; } .divergence svg { width: 540px; border: 1px solid #c3cad1; }
  rect.changed { fill: none; stroke: #e5484d; stroke-width: 4; }
  svg.chart { background: #fafbfc; border: 1px solid #d5dbe1; margin-right: 12px; }
  svg.chart circle { fill: #2f6fdd; } svg.chart polyline { fill: none; stroke: #9db8ec; stroke-width: 1.5; }
  svg.chart text { font: 11px system-ui, sans-serif; fill: #56606b; }
  #zoom { position: fixed; inset: 0; background: rgba(0,0,0,.8); display: flex; align-items: center; justify-content: center; cursor: zoom-out; }
  #zoom[hidden] { display: none; } #zoom img { max-width: 95vw; max-height: 95vh; background: #fff; }
</style></head>
<body>
<h1>rote run report</h1>
)";
        m_out << "<p class=\"note\">" << plural(static_cast<std::int64_t>(report.runs.size()), "run");
        if (report.query.workflow)
            m_out << " of " << esc(*report.query.workflow);
        if (report.query.since)
            m_out << " since " << esc(*report.query.since);
        m_out << "; made " << esc(now_timestamp()) << ". Every figure is summed from the store's rows.</p>\n";
    }

    void totals(const store::CostFigures& t, std::optional<std::int64_t> saved)
    {
        m_out << "<table class=\"totals\"><tr><th>runs</th><th>succeeded</th><th>steps</th><th>replayed</th>"
                 "<th>model calls</th><th>tokens in / out</th><th>dollars</th><th>saved by the cache</th></tr>\n<tr>"
              << "<td class=\"n\">" << t.runs << "</td><td class=\"n\">" << t.succeeded << "</td><td class=\"n\">" << t.steps
              << "</td><td class=\"n\">" << percent(t.replay_share()) << "</td><td class=\"n\">" << t.llm_calls
              << "</td><td class=\"n\">" << t.input_tokens << " / " << t.output_tokens << "</td><td class=\"n\">"
              << dollars(static_cast<double>(t.cost_microusd)) << "</td><td class=\"n\">"
              << (saved ? dollars(static_cast<double>(*saved)) : std::string("not estimated")) << "</td></tr></table>\n"
              << "<p class=\"note\">Saved by the cache: each replayed step valued at what the model cost per step it "
                 "planned in the same workflow's runs that called it, whenever they ran (the run that taught it, "
                 "those that repaired it: model dollars ÷ steps planned). A workflow no model ever planned (taught "
                 "by hints) is valued at the same figure over the store's other workflows; with no model call in "
                 "the store at all, nothing is valued. Each workflow below says which.</p>\n";
    }

    void workflow(const store::WorkflowReport& w, const std::vector<RunDetail>& runs, const StepPrice& price)
    {
        std::vector<const RunDetail*> mine;
        for (const RunDetail& d : runs) {
            if (d.run->workflow == w.workflow)
                mine.push_back(&d);
        }
        const auto& f = w.figures;
        m_out << "<section class=\"workflow\" data-workflow=\"" << esc(w.workflow) << "\">\n<h2>" << esc(w.workflow)
              << "</h2>\n<p>" << plural(f.runs, "run") << ", " << f.succeeded << " succeeded; " << percent(f.replay_share())
              << " of " << plural(f.steps, "step") << " replayed; " << plural(f.llm_calls, "model call") << ", "
              << dollars(static_cast<double>(f.cost_microusd)) << " (" << dollars(static_cast<double>(f.cost_microusd) / static_cast<double>(std::max<std::int64_t>(f.runs, 1)))
              << " per run)";
        m_out << "; " << esc(price.how);
        if (const auto p = price.microusd)
            m_out << ", so the " << f.steps_replayed << " replayed steps saved " << dollars(*p * static_cast<double>(f.steps_replayed));
        m_out << ".</p>\n<div>";
        std::vector<double> cost, share;
        for (const RunDetail* d : mine) {
            cost.push_back(static_cast<double>(d->run->figures.cost_microusd) / 1e6);
            share.push_back(d->run->figures.replay_share().value_or(0) * 100);
        }
        chart("cost", "dollars per run", mine, cost, [](double v) { return "$" + fixed(v, 4); });
        chart("replayed", "share of steps replayed", mine, share, [](double v) { return fixed(v, 0) + "%"; });
        m_out << "</div>\n</section>\n";
    }

    // A line chart, one point per run in the order they started.
    template <typename Format>
    void chart(const char* name, const char* title, const std::vector<const RunDetail*>& runs,
        const std::vector<double>& values, Format format)
    {
        std::vector<Point> points;
        for (std::size_t i = 0; i < runs.size() && i < values.size(); ++i) {
            const std::string id = std::to_string(runs[i]->run->id);
            points.push_back({id, "run " + id, values[i]});
        }
        line_chart(name, title, "run", points, format);
    }

    // A point of a chart: what it is (its data-* value), its label, its value.
    struct Point {
        std::string key;
        std::string label;
        double value = 0;
    };

    // A line chart of points in order; each point says what it is in a data-`key_attr` attribute.
    template <typename Format>
    void line_chart(const char* name, const char* title, const char* key_attr, const std::vector<Point>& points, Format format)
    {
        constexpr double width = 520, height = 180, left = 56, right = 12, top = 24, bottom = 22;
        double most = 1e-9;
        for (const auto& p : points)
            most = std::max(most, p.value);
        const auto x = [&](std::size_t i) {
            return points.size() < 2 ? left + (width - left - right) / 2
                                     : left + (width - left - right) * static_cast<double>(i) / static_cast<double>(points.size() - 1);
        };
        const auto y = [&](double v) { return top + (height - top - bottom) * (1 - v / most); };
        m_out << "<svg class=\"chart\" data-chart=\"" << name << "\" width=\"" << width << "\" height=\"" << height
              << "\" viewBox=\"0 0 " << width << ' ' << height << "\" role=\"img\" aria-label=\"" << title << "\">"
              << "<text x=\"" << left << "\" y=\"14\">" << title << "</text>"
              << "<text x=\"4\" y=\"" << y(most) + 4 << "\">" << esc(format(most)) << "</text>"
              << "<text x=\"4\" y=\"" << y(0) + 4 << "\">" << esc(format(0)) << "</text>"
              << "<line x1=\"" << left << "\" x2=\"" << width - right << "\" y1=\"" << y(0) << "\" y2=\"" << y(0)
              << "\" stroke=\"#c3cad1\"/>";
        if (!points.empty()) {
            m_out << "<text x=\"" << left << "\" y=\"" << height - 6 << "\">" << esc(points.front().label) << "</text>";
            m_out << "<text x=\"" << width - right << "\" y=\"" << height - 6 << "\" text-anchor=\"end\">"
                  << esc(points.back().label) << "</text>";
        }
        m_out << "<polyline points=\"";
        for (std::size_t i = 0; i < points.size(); ++i)
            m_out << fixed(x(i), 1) << ',' << fixed(y(points[i].value), 1) << ' ';
        m_out << "\"/>";
        for (std::size_t i = 0; i < points.size(); ++i)
            m_out << "<circle class=\"point\" data-" << key_attr << "=\"" << esc(points[i].key) << "\" cx=\"" << fixed(x(i), 1)
                  << "\" cy=\"" << fixed(y(points[i].value), 1) << "\" r=\"4\"><title>" << esc(points[i].label) << ": "
                  << esc(format(points[i].value)) << "</title></circle>";
        m_out << "</svg>";
    }

    // A schedule: its fires by how they ended, its runs' success, and per day (UTC) what the model cost and how
    // many of its runs succeeded.
    void schedule(const store::ScheduleReport& sr)
    {
        std::int64_t fired = 0;
        std::string by_status;
        for (const auto& [status, n] : sr.fires) {
            fired += n;
            by_status += (by_status.empty() ? "" : ", ") + std::to_string(n) + " " + esc(status);
        }
        const auto& f = sr.figures;
        m_out << "<section class=\"schedule\" data-schedule=\"" << esc(sr.schedule) << "\">\n<h2>Schedule " << esc(sr.schedule)
              << "</h2>\n<p>" << esc(sr.workflow) << "; " << plural(fired, "fire") << (by_status.empty() ? "" : " (" + by_status + ")")
              << "; " << plural(f.runs, "run") << ", " << f.succeeded << " succeeded";
        if (f.runs > 0)
            m_out << " (" << percent(static_cast<double>(f.succeeded) / static_cast<double>(f.runs)) << ")";
        m_out << "; " << percent(f.replay_share()) << " of " << plural(f.steps, "step") << " replayed; "
              << plural(f.llm_calls, "model call") << ", " << dollars(static_cast<double>(f.cost_microusd)) << ".</p>\n<div>";
        std::vector<Point> cost, success;
        for (const auto& [day, d] : sr.days) {
            cost.push_back({day, day, static_cast<double>(d.cost_microusd) / 1e6});
            success.push_back({day, day, d.runs == 0 ? 0 : 100.0 * static_cast<double>(d.succeeded) / static_cast<double>(d.runs)});
        }
        line_chart("schedule-cost", "model dollars per day", "day", cost, [](double v) { return "$" + fixed(v, 4); });
        line_chart("schedule-success", "runs succeeded per day", "day", success, [](double v) { return fixed(v, 0) + "%"; });
        m_out << "</div>\n</section>\n";
    }

    Result<void> run(const RunDetail& d)
    {
        const RunReport& r = *d.run;
        const std::string status(store::to_string(r.status));
        const store::Trace* trace = r.trace_id ? ROTE_TRY(trace_of(*r.trace_id)) : nullptr;
        m_out << "<section class=\"run\" id=\"run-" << r.id << "\" data-run=\"" << r.id << "\" data-status=\"" << status
              << "\">\n<h3>Run " << r.id << " · " << esc(r.workflow) << " · <span class=\"" << status << "\">" << status
              << "</span></h3>\n<p class=\"note\">Started " << esc(r.started_at) << "; "
              << (trace ? "replayed trace version " + std::to_string(trace->version) : std::string("taught (no trace yet)"))
              << "; planner " << esc(r.planner) << "; " << fixed(static_cast<double>(r.figures.wall_ms) / 1000, 1)
              << " s; " << plural(r.figures.llm_calls, "model call") << ", " << dollars(static_cast<double>(r.figures.cost_microusd))
              << ".</p>\n";
        if (!r.error.empty())
            m_out << "<p class=\"failed\">" << esc(r.error) << "</p>\n";
        m_out << "<table class=\"steps\"><tr><th>#</th><th>trace step</th><th>how</th><th>action</th><th>confidence</th>"
                 "<th>ms</th><th>before</th><th>after</th><th>what it showed</th></tr>\n";
        for (const RunStep& s : d.steps) {
            const std::string label = trace && s.trace_step && *s.trace_step >= 0
                    && *s.trace_step < static_cast<int>(trace->steps.size())
                ? trace->steps[static_cast<std::size_t>(*s.trace_step)].anchor.label
                : std::string();
            m_out << "<tr class=\"step\" data-step=\"" << s.index << "\" data-outcome=\"" << store::to_string(s.outcome)
                  << "\"><td class=\"n\">" << s.index << "</td><td class=\"n\">"
                  << (s.trace_step ? std::to_string(*s.trace_step) : std::string()) << "</td><td>" << how(s)
                  << "</td><td>" << (s.outcome == StepOutcome::failed ? std::string() : esc(describe(s.action, label)))
                  << "</td><td class=\"n\">" << (s.confidence ? fixed(*s.confidence, 2) : std::string())
                  << "</td><td class=\"n\">" << s.duration_ms << "</td><td>" << ROTE_TRY(shot(s.before_image, "before"))
                  << "</td><td>" << ROTE_TRY(shot(s.after_image, "after")) << "</td><td>" << esc(s.detail) << "</td></tr>\n";
        }
        m_out << "</table>\n";
        const auto calls = ROTE_TRY(m_store.run_calls(r.id));
        if (!calls.empty()) {
            m_out << "<table class=\"calls\"><tr><th>model call</th><th>at step</th><th>model</th><th>tokens in</th>"
                     "<th>out</th><th>cache read</th><th>cache write</th><th>dollars</th><th>ms</th></tr>\n";
            for (std::size_t i = 0; i < calls.size(); ++i) {
                const auto& c = calls[i];
                m_out << "<tr class=\"call\"><td class=\"n\">" << i + 1 << "</td><td class=\"n\">"
                      << (c.run_step ? std::to_string(*c.run_step) : std::string()) << "</td><td>" << esc(c.provider) << ' '
                      << esc(c.model) << "</td><td class=\"n\">" << c.input_tokens << "</td><td class=\"n\">" << c.output_tokens
                      << "</td><td class=\"n\">" << c.cache_read_tokens << "</td><td class=\"n\">" << c.cache_write_tokens
                      << "</td><td class=\"n\">" << dollars(static_cast<double>(c.cost_microusd)) << "</td><td class=\"n\">"
                      << c.latency_ms << "</td></tr>\n";
            }
            m_out << "</table>\n";
        }
        for (const RunStep& s : d.steps) {
            if (s.outcome == StepOutcome::failed && s.artifact)
                ROTE_TRY(divergence(s, trace));
        }
        m_out << "</section>\n";
        return {};
    }

    static std::string how(const RunStep& s)
    {
        switch (s.outcome) {
        case StepOutcome::replayed: return "replayed: " + esc(s.method);
        case StepOutcome::relocated: return "relocated: " + esc(s.method);
        case StepOutcome::planned: return "planned: " + esc(s.method);
        case StepOutcome::failed: return s.method == "diverged" ? "diverged" : "failed";
        }
        return esc(s.method);
    }

    Result<const store::Trace*> trace_of(std::int64_t id)
    {
        auto found = m_traces.find(id);
        if (found == m_traces.end())
            found = m_traces.emplace(id, ROTE_TRY(m_store.load_trace(id))).first;
        return &found->second;
    }

    // An <img> of a stored picture; its bytes go once into the page's table of pictures, whatever uses them.
    Result<std::string> shot(const std::optional<store::Hash>& hash, const char* what)
    {
        if (!hash)
            return std::string();
        if (!m_shots.contains(*hash)) {
            const auto artifact = ROTE_TRY(m_store.get_artifact(*hash));
            m_shots[*hash] = "data:" + artifact.media_type + ";base64," + base64_encode(artifact.data);
        }
        return "<img class=\"shot\" data-shot=\"" + *hash + "\" alt=\"the screen " + what + "\">";
    }

    // The screen the trace expected beside the one the run saw, the regions that differ marked on both.
    Result<void> divergence(const RunStep& s, const store::Trace* trace)
    {
        const bool diverged = s.method == "diverged";
        m_out << "<div class=\"divergence\" data-step=\"" << s.index << "\">";
        const store::Step* expected = diverged && trace && s.trace_step && *s.trace_step >= 0
                && *s.trace_step < static_cast<int>(trace->steps.size()) && trace->steps[static_cast<std::size_t>(*s.trace_step)].pre_artifact
            ? &trace->steps[static_cast<std::size_t>(*s.trace_step)]
            : nullptr;
        auto actual = screen(*s.artifact);
        std::optional<cv::Mat> before = expected ? screen(*expected->pre_artifact) : std::nullopt;
        std::vector<Rect> changed;
        if (actual && before)
            changed = vision::changed_regions(*before, *actual, expected->mask);
        if (before)
            figure(*before, changed, "expected", "the screen the trace expected before step " + std::to_string(*s.trace_step));
        if (actual)
            figure(*actual, changed, "actual", diverged ? "the screen the run saw" : "the screen when the run failed");
        else
            m_out << "<p class=\"note\">The screenshot of this " << (diverged ? "divergence" : "failure") << " cannot be read.</p>";
        m_out << "</div>\n";
        return {};
    }

    std::optional<cv::Mat> screen(const store::Hash& hash)
    {
        auto artifact = m_store.get_artifact(hash);
        if (!artifact.ok())
            return std::nullopt;
        auto image = vision::decode_png(artifact->data);
        return image.ok() ? std::optional<cv::Mat>(*image) : std::nullopt;
    }

    void figure(const cv::Mat& image, const std::vector<Rect>& changed, const char* which, const std::string& caption)
    {
        auto jpeg = vision::encode_thumbnail(image, 1080);
        if (!jpeg.ok())
            return;
        m_out << "<figure class=\"" << which << "\"><figcaption>" << esc(caption) << "</figcaption><svg viewBox=\"0 0 "
              << image.cols << ' ' << image.rows << "\"><image width=\"" << image.cols << "\" height=\"" << image.rows
              << "\" href=\"data:image/jpeg;base64," << base64_encode(*jpeg) << "\"/>";
        for (const Rect& r : changed)
            m_out << "<rect class=\"changed\" x=\"" << r.x << "\" y=\"" << r.y << "\" width=\"" << r.w << "\" height=\"" << r.h
                  << "\"/>";
        m_out << "</svg></figure>";
    }

    void tail()
    {
        nlohmann::json shots = nlohmann::json::object();
        for (const auto& [hash, uri] : m_shots)
            shots[hash] = uri;
        std::string table = shots.dump();
        // The table sits in a script: no "</" may end it early.
        for (std::size_t at = 0; (at = table.find("</", at)) != std::string::npos; at += 3)
            table.replace(at, 2, "<\\/");
        m_out << "<div id=\"zoom\" hidden><img alt=\"the screen, enlarged\"></div>\n<script>\n"
              << "const shots = " << table << ";\n"
              << R"(for (const img of document.querySelectorAll('img.shot')) img.src = shots[img.dataset.shot];
const zoom = document.getElementById('zoom');
document.addEventListener('click', (e) => {
  const shot = e.target.closest('img.shot');
  if (shot) { zoom.querySelector('img').src = shot.src; zoom.hidden = false; }
  else if (e.target.closest('#zoom')) zoom.hidden = true;
});
</script>
</body></html>
)";
    }

    store::Store& m_store;
    HtmlOptions m_options;
    std::ostringstream m_out;
    std::map<store::Hash, std::string> m_shots;
    std::map<std::int64_t, store::Trace> m_traces;
};

} // namespace

Result<std::string> html(store::Store& store, const store::ReportQuery& query, const HtmlOptions& options)
{
    return Page(store, options).render(query);
}

} // namespace rote::report
