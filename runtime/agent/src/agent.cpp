#include <rote/agent/agent.h>
#include <rote/agent/api_plans.h>

#include <rote/agent/human.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <rote/agent/planner.h>
#include <rote/base/log.h>
#include <rote/base/text.h>
#include <rote/base/text_template.h>
#include <rote/desktop/desktop.h>
#include <rote/recorder/recorder.h>
#include <rote/replayer/replayer.h>
#include <rote/session/session.h>
#include <rote/vision/diff.h>
#include <rote/vision/image.h>
#include <rote/vision/target.h>

namespace rote::runtime {

namespace {

constexpr std::string_view kCancelled = "the run was cancelled";
// How much of each body the egress proxy keeps for API plans (pages and JSON answers are far smaller).
constexpr std::size_t kCaptureLimit = 512 * 1024;

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::int64_t ms_since(Clock::time_point start)
{
    return std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
}

std::int64_t us(Clock::time_point from, Clock::time_point to)
{
    return std::chrono::duration_cast<std::chrono::microseconds>(to - from).count();
}

// A plain white (or black) page: the browser has not painted the start page yet.
bool blank(const cv::Mat& screen)
{
    cv::Scalar mean;
    cv::Scalar stddev;
    cv::meanStdDev(screen, mean, stddev);
    return stddev[0] + stddev[1] + stddev[2] < 6;
}

// The text of each line (by Tesseract's line numbers), in reading order.
std::vector<std::string> lines_of(const std::vector<vision::Word>& words)
{
    std::vector<std::string> lines;
    int current = -1;
    for (const auto& w : words) {
        if (lines.empty() || w.line != current) {
            lines.emplace_back();
            current = w.line;
        }
        lines.back() += (lines.back().empty() ? "" : " ") + w.text;
    }
    return lines;
}

// The first match of `pattern` in `text` (all of `text` when there is no pattern); nothing when none.
std::optional<std::string> match(const std::string& text, const std::string& pattern)
{
    if (pattern.empty())
        return text.empty() ? std::nullopt : std::optional(text);
    // The match stands alone: no letter or digit runs on into it at either end. (Not \\b: a pattern that
    // begins with "#" or "$" would then need a letter before it, and "Support #14" never matched "#[0-9]+".)
    std::smatch m;
    const std::regex re("(?:^|[^A-Za-z0-9_])(" + pattern + ")(?![A-Za-z0-9_])");
    if (std::regex_search(text, m, re))
        return m.str(1);
    return std::nullopt;
}

class AgentRun {
public:
    AgentRun(store::Store& store, const Workflow& workflow, const RunInputs& inputs, const RunOptions& options)
        : m_store(store)
        , m_workflow(workflow)
        , m_inputs(inputs)
        , m_options(options)
        , m_log(logger("runtime.agent"))
    {
    }

    Result<RunResult> run()
    {
        const auto started = Clock::now();
        ROTE_TRY(m_store.put_workflow({m_workflow.name, m_workflow.goal, definition()}));
        std::optional<store::Trace> trace;
        std::optional<store::Trace> fallback; // the default, when the trace chosen is a candidate
        if (!m_options.teach) {
            const auto choice = ROTE_TRY(m_store.choose_trace(m_workflow.name, conditions()));
            if (choice.trace_id)
                trace = ROTE_TRY(m_store.load_trace(*choice.trace_id));
            if (choice.fallback_id)
                fallback = ROTE_TRY(m_store.load_trace(*choice.fallback_id));
            if (trace)
                progress("replaying " + choice.why);
        }
        if (trace)
            m_result.trace_id = trace->id;
        m_has_fallback = fallback.has_value();
        store::NewRun run;
        run.workflow = m_workflow.name;
        run.trace_id = m_result.trace_id;
        run.inputs = m_inputs.values;
        run.provider = provider();
        run.planner = std::string(to_string(m_options.planner));
        run.fire_id = m_options.fire_id;
        m_result.run_id = ROTE_TRY(m_store.begin_run(run));
        m_log->info("run {} of {}: {}", m_result.run_id, m_workflow.name,
            trace ? "replaying trace v" + std::to_string(trace->version) : std::string("teaching"));

        auto outcome = execute(trace);
        if (!outcome.ok() && m_fall_back && fallback && !m_store_error && !m_options.stop.stop_requested()) {
            // The candidate diverged before the run wrote anything: its parent's line, the default, gets the
            // run instead, in a fresh sandbox, before any planner is asked.
            ROTE_TRY(stored(m_store.record_trace_run(trace->id, m_result.run_id, false)));
            progress("the candidate v" + std::to_string(trace->version) + " diverged (" + outcome.error().message()
                + "): the run starts again on the default v" + std::to_string(fallback->version));
            new_attempt();
            trace = fallback;
            m_result.trace_id = trace->id;
            outcome = execute(trace);
        }
        if (!outcome.ok() && !m_store_error && m_desktop) {
            // What the screen showed when the run failed, kept with the run for whoever looks into it.
            if (auto last = m_desktop->screenshot(); last.ok())
                (void)report_failure(outcome.error().message(), *last);
        }
        const std::int64_t sandbox_ms = m_session_started ? ms_since(*m_session_started) : 0;
        drop_desktop();
        keep_traffic();
        if (m_session)
            (void)m_session->stop();
        store::RunEnd end;
        if (!outcome.ok()) {
            // A stop request ends whatever the run was waiting on; that wait's error is how, not why.
            const bool cancelled = outcome.error().code() == Error::Code::cancelled || m_options.stop.stop_requested();
            end.status = cancelled ? store::RunStatus::cancelled : store::RunStatus::failed;
            end.error = m_options.stop.stop_requested() ? std::string(kCancelled) : outcome.error().message();
            m_result.error = end.error;
            if (m_store_error) {
                // The store failed mid-run: the run is ended if the store still lets it be; the caller sees
                // the store's error.
                end.wall_ms = ms_since(started);
                end.sandbox_ms = sandbox_ms;
                end.trace_id = m_result.trace_id;
                (void)m_store.finish_run(m_result.run_id, end);
                return *m_store_error;
            }
        } else {
            end.status = store::RunStatus::succeeded;
            end.outputs = m_result.outputs;
        }
        m_result.status = end.status;
        m_result.wall_ms = ms_since(started);
        end.wall_ms = m_result.wall_ms;
        end.sandbox_ms = sandbox_ms;
        end.trace_id = m_result.trace_id;
        end.requests = std::move(m_traffic);
        // The trace the run made, its end and the standing of the one it replayed commit together.
        const store::NewTrace* made = outcome.ok() && m_made ? &*m_made : nullptr;
        const auto replayed = trace && m_replay_started ? std::optional<std::int64_t>(trace->id) : std::nullopt;
        auto closed = m_store.close_run(m_result.run_id, end, made, replayed);
        if (!closed.ok()) {
            if (!made)
                return closed.error();
            // The trace could not be stored (nothing of it was): the run still ends, failed, and says why.
            end.status = m_result.status = store::RunStatus::failed;
            end.error = m_result.error = "the trace the run made could not be stored: " + closed.error().message();
            end.outputs.clear();
            m_result.outputs.clear();
            ROTE_TRY(m_store.close_run(m_result.run_id, end, nullptr, replayed));
            return closed.error();
        }
        if (closed->new_trace_id) {
            m_result.new_trace_id = closed->new_trace_id;
            progress("saved a new trace (" + std::to_string(made->steps.size()) + " steps): " + made->note);
        }
        if (closed->standing)
            m_log->info("run {}: trace v{} is {} ({})", m_result.run_id, closed->standing->version,
                store::to_string(closed->standing->role), closed->standing->why);
        return m_result;
    }

private:
    // The screen a run has (TraceStanding::conditions): a repair made under other ones serves only their runs.
    std::string conditions() const
    {
        char scale[16];
        std::snprintf(scale, sizeof scale, "%g", m_workflow.scale);
        return provider() + " " + std::to_string(m_workflow.width) + "x" + std::to_string(m_workflow.height) + " @" + scale;
    }

    // Back to the start for a second attempt on another trace: the first one's sandbox goes, its steps stay
    // in the store (numbered on), its divergences stay in the result.
    void new_attempt()
    {
        m_witness.reset();
        drop_desktop();
        keep_traffic();
        if (m_session)
            (void)m_session->stop();
        m_session.reset();
        m_observed.clear();
        m_observed_step.clear();
        m_made.reset();
        m_words.clear();
        m_last_url.clear();
        m_resume = 0;
        m_fall_back = false;
        m_has_fallback = false;
        m_result.outputs.clear();
        m_result.output_sources.clear();
        m_result.timings.clear();
        m_result.steps = m_result.replayed = m_result.relocated = m_result.planned = 0;
    }

    std::string provider() const { return m_options.provider.empty() ? m_workflow.provider : m_options.provider; }

    // The desktop goes, and with it the stop request's hold on it (the callback is gone before the desktop is).
    void drop_desktop()
    {
        if (m_desktop && m_options.desktop)
            m_options.desktop(nullptr);
        m_on_stop.reset();
        m_desktop.reset();
    }

    Result<void> check_stop() const
    {
        if (m_options.stop.stop_requested())
            return Error(Error::Code::cancelled, std::string(kCancelled));
        return {};
    }

    // The sandbox's traffic so far, for the store, before its sandbox (and proxy) goes: secret values
    // hidden, as everything the store keeps.
    void keep_traffic()
    {
        if (!m_session)
            return;
        for (const auto& r : m_session->proxy().requests()) {
            store::RunRequest kept;
            kept.at = r.time;
            kept.method = r.method;
            kept.host = r.host;
            kept.port = r.port;
            kept.path = hide_secrets(r.path, m_inputs.secrets);
            kept.status = r.status;
            kept.bytes_in = static_cast<std::int64_t>(r.bytes_in);
            kept.bytes_out = static_cast<std::int64_t>(r.bytes_out);
            kept.ms = r.ms;
            kept.framing = r.framing;
            kept.error = hide_secrets(r.error, m_inputs.secrets);
            kept.refused = hide_secrets(r.refused, m_inputs.secrets);
            kept.step = r.step;
            kept.scheme = r.scheme;
            if (r.capture) {
                const auto& secrets = m_inputs.secrets;
                auto hidden = [&](const HeaderFields& fields) {
                    std::vector<std::pair<std::string, std::string>> out;
                    for (const auto& [name, value] : fields)
                        out.emplace_back(name, hide_secrets(value, secrets));
                    return out;
                };
                kept.capture = store::CapturedExchange {hidden(r.capture->request_headers),
                    hide_secrets(r.capture->request_body, secrets), hidden(r.capture->response_headers),
                    hide_secrets(r.capture->response_body, secrets), r.capture->truncated};
            }
            m_traffic.push_back(std::move(kept));
        }
    }

    std::string definition() const
    {
        std::ifstream in(m_workflow.file);
        std::stringstream text;
        text << in.rdbuf();
        return text.str();
    }

    void progress(const std::string& line)
    {
        m_log->info("run {}: {}", m_result.run_id, line);
        if (m_options.progress)
            m_options.progress(line);
    }

    // A store failure mid-run: remembered so that run() reports it instead of a run failure.
    template <typename T> Result<T> stored(Result<T> r)
    {
        if (!r.ok())
            m_store_error = r.error();
        return r;
    }

    Result<void> execute(const std::optional<store::Trace>& trace)
    {
        ROTE_TRY(start_desktop());
        auto ocr = vision::Ocr::for_this_thread();
        if (!ocr.ok())
            return ocr.error();
        m_ocr = *ocr;
        cv::Mat screen = ROTE_TRY(first_page());
        const auto first_shown = Clock::now();
        ROTE_TRY(start_page_served());
        if (trace) {
            screen = ROTE_TRY(replay(*trace, screen));
        } else {
            progress("no trace yet: the " + std::string(to_string(m_options.planner)) + " planner teaches");
            screen = ROTE_TRY(plan_or_ask(nullptr, 0, std::nullopt, 0, false, std::move(screen)));
        }
        screen = ROTE_TRY(check_success(screen));
        ROTE_TRY(read_outputs());
        m_result.work_ms = ms_since(first_shown);
        if (!trace || m_result.planned > 0)
            ROTE_TRY(record_trace(trace));
        return {};
    }

    Result<void> start_desktop()
    {
        ROTE_TRY(check_stop());
        SessionSpec spec = session_spec(m_workflow, m_options);
        spec.progress = [this](const std::string& line) { progress(line); };
        if (!spec.keep.empty() && spec.provider != "qemu")
            return Error(Error::Code::invalid_argument, "a kept sandbox (--keep) needs the qemu provider");
        m_session_started = Clock::now();
        auto warm = m_options.pool ? m_options.pool->take(spec) : nullptr;
        const bool from_pool = warm != nullptr;
        if (warm) {
            m_result.warm = true;
            progress("a warm " + spec.provider + " sandbox from the pool, sent to " + spec.start_url);
            m_session = std::move(warm);
        } else {
            progress("starting a " + spec.provider + " sandbox on " + spec.start_url);
            auto session = Session::start(spec);
            if (!session.ok())
                return session.error().with_context("starting the sandbox");
            m_session = std::move(*session);
        }
        m_time_scale = std::max(1.0, m_session->sandbox().time_scale());
        auto desktop = Desktop::connect(m_session->sandbox().vnc(), desktop_options_for(m_session->sandbox().provider()));
        if (!desktop.ok())
            return desktop.error().with_context("connecting to the sandbox's desktop");
        m_desktop = std::move(*desktop);
        m_on_stop.emplace(m_options.stop, [d = m_desktop.get()] { d->interrupt(std::string(kCancelled)); });
        if (m_options.desktop)
            m_options.desktop(&m_session->sandbox().vnc());
        if (const int fd = m_session->sandbox().take_devtools_socket(); fd >= 0)
            m_witness = connect_devtools_witness(fd);
        if (from_pool && m_session->spec().hold_start) {
            // A VM on its waiting page: the proxy now answers its poll with the start page.
            if (auto released = m_session->release_start(m_workflow.start_url); !released.ok())
                return released.error().with_context("sending a warm VM to its start page");
        } else if (from_pool) {
            // It shows about:blank: its start page is loaded as the address bar would. A browser slow to answer
            // (the page's server is) is waited on by first_page, as a cold start's is.
            if (!m_witness)
                return Error(Error::Code::unsupported, "a warm sandbox needs the browser's document to load its start page");
            if (auto sent = m_witness->navigate(m_workflow.start_url); !sent.ok() && sent.error().code() != Error::Code::timeout)
                return sent.error().with_context("loading the start page in a warm sandbox");
        }
        if (!m_workflow.success_url.empty() && !m_witness)
            return Error(Error::Code::unsupported,
                "success.url needs the browser's own document, which the " + std::string(m_session->sandbox().provider())
                    + " provider does not give yet: without it the URL cannot be proven");
        return {};
    }

    // The screen once it has settled: still for the quiet period, and the sandbox's traffic quiet as long. A
    // page still loading can look still (a slow server; a renderer starved of CPU between the answer and its
    // paint), and a step judged or located on it acts on the page before. Traffic that never stops (a page
    // that polls) leaves the screen alone to decide, at the settle timeout.
    //
    // With a document: the document first, then the screen. Once the document says it has loaded (and has
    // drawn a frame: Witness::state), the screen is waited on for a short quiet, and the document asked again:
    // the same document, still loaded, or the screen is looked at anew. The screen taken before the document's
    // word was the page before it, still held on the screen, when the browser answered only once the next
    // one had committed. Without a document, or when it does not answer in time (a page that never says it
    // is done, an event lost), the full quiet period decides.
    Result<cv::Mat> stable()
    {
        bool document = m_witness != nullptr;
        auto quiet = document ? document_quiet_period() : quiet_period();
        const auto started = Clock::now();
        const auto deadline = started + scaled(m_options.settle_timeout);
        const auto ask = [&] {
            return Clock::now() < started + scaled(milliseconds(5000))
                ? m_witness->state()
                : Result<DocumentState>(Error(Error::Code::timeout, "the document did not say it had loaded"));
        };
        while (true) {
            ROTE_TRY(check_stop()); // a page still loading is asked again and again: a cancel ends that at once
            std::optional<DocumentState> said;
            if (document) {
                auto state = ask();
                if (state.ok() && !state->loaded) {
                    std::this_thread::sleep_for(milliseconds(20)); // still loading: look again
                    continue;
                }
                if (!state.ok()) {
                    document = false;
                    quiet = quiet_period();
                    continue;
                }
                said = std::move(*state);
            }
            auto screen = m_desktop->wait_stable(quiet, scaled(m_options.settle_timeout));
            if (!screen.ok())
                return screen.error().with_context("waiting for the screen to settle");
            if (said) {
                auto again = ask();
                if (!again.ok()) {
                    document = false;
                    quiet = quiet_period();
                    continue;
                }
                if (!again->loaded || again->document != said->document)
                    continue; // a navigation began, or ended, while the screen settled
            }
            if (!m_session)
                return screen;
            auto traffic = m_session->proxy().activity();
            if (traffic.in_flight == 0 && Clock::now() - traffic.last >= quiet)
                return screen;
            while (traffic.in_flight > 0 && Clock::now() < deadline) {
                ROTE_TRY(check_stop());
                std::this_thread::sleep_for(milliseconds(20));
                traffic = m_session->proxy().activity();
            }
            if (Clock::now() >= deadline)
                return screen;
        }
    }

    Result<cv::Mat> first_page()
    {
        const auto deadline = Clock::now() + scaled(m_options.start_timeout);
        while (true) {
            cv::Mat screen = ROTE_TRY(stable());
            if (!blank(screen))
                return screen;
            if (Clock::now() > deadline)
                return Error(Error::Code::timeout,
                    "the start page " + m_workflow.start_url + " did not show within "
                        + std::to_string(scaled(m_options.start_timeout).count() / 1000) + " s");
            std::this_thread::sleep_for(milliseconds(200));
        }
    }

    // A start page the egress proxy answered itself (its host not allowed, the site unreachable or silent)
    // shows the proxy's error page, not the site: the run fails here with the proxy's reason, never later
    // with "text not on the screen". The first request for the start URL's host decides; a tunnel that broke
    // off carrying nothing (a connection the browser opened ahead and closed, or whose TLS it did not take)
    // does not.
    Result<void> start_page_served()
    {
        if (!m_session)
            return {};
        const std::string host = normalize_host(url_host(m_workflow.start_url));
        for (const auto& r : m_session->proxy().requests()) {
            if (normalize_host(r.host) != host)
                continue;
            if (r.method == "CONNECT" && r.refused.empty() && !r.error.empty())
                continue;
            if (r.refused.empty())
                return {};
            return Error(Error::Code::io, "the start page " + m_workflow.start_url
                    + " did not load: rote's egress proxy answered " + std::to_string(r.status) + ", " + r.refused);
        }
        return {};
    }

    Result<void> check_budget(bool planner_call)
    {
        const Policy& p = m_workflow.policy;
        if (m_result.steps >= p.max_steps)
            return Error(Error::Code::conflict,
                "budget spent: the policy allows " + std::to_string(p.max_steps) + " steps (max_steps)");
        if (planner_call && m_result.planner_calls >= p.max_planner_calls)
            return Error(Error::Code::conflict, "budget spent: the policy allows " + std::to_string(p.max_planner_calls)
                    + " planner calls (max_planner_calls)");
        // The cost budget is the models': over it, the run stops; at it, no further model call is made (so
        // max_cost_usd: 0 means "spend nothing on models", and the hints planner, which costs nothing, runs).
        const bool model_call = planner_call && m_options.planner == PlannerKind::llm;
        if (m_result.cost_microusd > p.max_cost_microusd || (model_call && m_result.cost_microusd >= p.max_cost_microusd))
            return Error(Error::Code::conflict, "budget spent: the model calls cost " + std::to_string(m_result.cost_microusd)
                    + " micro-USD, the policy allows " + std::to_string(p.max_cost_microusd) + " (max_cost_usd)");
        if (const auto& b = m_options.model_budget; model_call && b
            && (m_result.planner_calls >= b->calls || m_result.cost_microusd >= b->cost_microusd))
            return Error(Error::Code::conflict, "budget spent: " + b->what);
        return {};
    }

    // Performs one action and waits for the screen to settle; the screen after it.
    Result<cv::Mat> perform(const Action& a, int& settle_ms)
    {
        const auto start = Clock::now();
        const std::optional<InputCount> before = inputs_seen(a);
        std::uint64_t releases = 1; // the input events that end the action (inputs_seen counts them)
        switch (a.kind) {
        case ActionKind::click:
            ROTE_TRY(m_desktop->click(a.at));
            break;
        case ActionKind::double_click:
            ROTE_TRY(m_desktop->click(a.at, MouseButton::left, 2));
            break;
        case ActionKind::triple_click:
            ROTE_TRY(m_desktop->click(a.at, MouseButton::left, 3));
            break;
        case ActionKind::right_click:
            ROTE_TRY(m_desktop->click(a.at, MouseButton::right));
            break;
        case ActionKind::middle_click:
            ROTE_TRY(m_desktop->click(a.at, MouseButton::middle));
            break;
        case ActionKind::move:
            ROTE_TRY(m_desktop->move(a.at));
            break;
        case ActionKind::drag:
            ROTE_TRY(m_desktop->drag(a.at, a.to));
            break;
        case ActionKind::scroll:
            ROTE_TRY(m_desktop->scroll(a.at, a.scroll_dx, a.scroll_dy));
            break;
        case ActionKind::type: {
            auto text = render_template(a.text, m_inputs.values, m_inputs.secrets);
            if (!text.ok())
                return text.error().with_context("typing " + a.text);
            ROTE_TRY(m_desktop->type(*text));
            releases = static_cast<std::uint64_t>(std::count_if(text->begin(), text->end(),
                [](char c) { return (static_cast<unsigned char>(c) & 0xc0) != 0x80; })); // a key per character
            break;
        }
        case ActionKind::key:
            ROTE_TRY(m_desktop->key(a.text));
            break;
        case ActionKind::wait: {
            const auto until = Clock::now() + milliseconds(std::clamp(a.wait_ms, 0, 60000));
            while (Clock::now() < until) {
                ROTE_TRY(check_stop());
                std::this_thread::sleep_for(std::min<Clock::duration>(until - Clock::now(), milliseconds(50)));
            }
            break;
        }
        case ActionKind::done:
        case ActionKind::give_up:
            return Error(Error::Code::invalid_argument, "done and give_up are not performed");
        }
        ++m_result.steps;
        ROTE_TRY(m_desktop->sync());
        if (before)
            wait_for_input(*before, releases);
        cv::Mat after = ROTE_TRY(stable());
        settle_ms = settle_ms_since(start);
        return after;
    }

    // The page's count of input events before an action that sends it some; none without a document, or
    // when the document cannot say.
    std::optional<InputCount> inputs_seen(const Action& a)
    {
        if (m_witness == nullptr || a.kind == ActionKind::wait || a.kind == ActionKind::move)
            return std::nullopt;
        auto count = m_witness->inputs_seen();
        return count.ok() ? std::optional<InputCount>(*count) : std::nullopt;
    }

    // Waits until the page has received the end of the action's input (`releases` keys or buttons let go, or
    // a wheel's turn), or has been replaced, before the screen is judged settled. The desktop's sync proves
    // the display server has the input, not that the browser has handed it to the page: on a busy machine the
    // page can take longer than the quiet period to see a key, and the screen before it, still and "loaded",
    // was taken for the key's result (a planner was shown the login form again after the key that submits
    // it; the page before a link, after the click on it). By the release, what the input set off has begun: a
    // form sent or a link followed makes the document say it is not loaded (Witness::state). Input that never
    // reaches the page (the browser's own bar, a frame) waits out the bound, then the screen decides as before.
    void wait_for_input(const InputCount& before, std::uint64_t releases)
    {
        const auto deadline = Clock::now() + scaled(milliseconds(1500));
        while (Clock::now() < deadline) {
            auto now = m_witness->inputs_seen();
            if (!now.ok() || now->since(before, releases))
                return;
            std::this_thread::sleep_for(milliseconds(2));
        }
    }

    // The planner waited after its last action, and the screen changed meanwhile: that is the action's effect,
    // come late (a page still on its way when the screen first looked settled; a slow guest that had not yet
    // acted on the key). Recorded as it was, the trace would expect no change, and its replay would look for
    // the next step on the page before.
    void late_effect(const cv::Mat& screen, Clock::time_point started)
    {
        auto& last = m_observed.back();
        if (vision::check_effect(last.after, screen, std::nullopt, last.mask).effect == vision::Effect::none)
            return;
        last.after = screen;
        last.settle_ms = settle_ms_since(started);
        last.focus = focused_field(); // where the focus is once the late page is there
    }

    // The screen as the run report shows it beside a step (a small JPEG). Made once per screen: a step's
    // after is the next one's before. None when the picture cannot be made: the run does not fail for it.
    Result<std::optional<store::Hash>> picture(const cv::Mat& screen)
    {
        if (!m_picture.first.empty() && m_picture.first.data == screen.data && m_picture.first.size == screen.size)
            return std::optional<store::Hash>(m_picture.second);
        auto jpeg = vision::encode_thumbnail(screen);
        if (!jpeg.ok())
            return std::optional<store::Hash>();
        const store::Hash hash = ROTE_TRY(stored(m_store.put_artifact(*jpeg, "image/jpeg")));
        m_picture = {screen, hash};
        return std::optional<store::Hash>(hash);
    }

    Result<void> add_step(store::RunStep step)
    {
        step.index = m_run_step++;
        if (m_session)
            m_session->proxy().set_step(m_run_step); // what comes now is the next step's
        return stored(m_store.add_run_step(m_result.run_id, step));
    }

    // Stores the planner's model calls made since the last look, and adds up their cost.
    Result<void> take_calls(const Planner& planner)
    {
        const auto calls = planner.calls();
        for (std::size_t i = m_calls_seen; i < calls.size(); ++i) {
            const auto& c = calls[i];
            store::LlmCall call;
            call.run_id = m_result.run_id;
            call.run_step = m_run_step;
            call.provider = c.provider;
            call.model = c.model;
            call.input_tokens = c.usage.input;
            call.output_tokens = c.usage.output;
            call.cache_read_tokens = c.usage.cache_read;
            call.cache_write_tokens = c.usage.cache_write;
            call.cost_microusd = c.cost_microusd;
            call.latency_ms = c.latency_ms;
            ROTE_TRY(stored(m_store.add_llm_call(call)));
            m_result.cost_microusd += c.cost_microusd;
        }
        m_calls_seen = calls.size();
        return {};
    }

    // A planner for the whole task (teaching) or for a divergence at a trace step.
    Result<std::unique_ptr<Planner>> make_planner(std::optional<llm::ExpectedStep> expected, int first_hint, bool diverged)
    {
        return make_planner(m_options.planner, std::move(expected), first_hint, diverged);
    }

    Result<std::unique_ptr<Planner>> make_planner(
        PlannerKind kind, std::optional<llm::ExpectedStep> expected, int first_hint, bool diverged)
    {
        m_calls_seen = 0;
        if (kind == PlannerKind::human) {
            if (m_options.human == nullptr)
                return Error(Error::Code::invalid_argument, "the human planner needs a person at a live view (rote teach)");
            HumanPlannerHooks hooks;
            // The screen as the person sees it: still for a moment, or as it is after a few seconds (a page
            // that never stops moving), so their input is not held long.
            hooks.look = [this](std::optional<Point> pointer) -> Result<cv::Mat> {
                ROTE_TRY(check_stop());
                if (pointer) {
                    ROTE_TRY(m_desktop->move(*pointer));
                    // The server drew the person's pointer into this client's picture while it was elsewhere
                    // (Xvnc does, for a client whose own pointer is not there), and takes it out only with the
                    // next update of that area: a whole fresh picture has none.
                    ROTE_TRY(m_desktop->refresh());
                }
                auto still = m_desktop->wait_stable(document_quiet_period(), scaled(milliseconds(3000)));
                return still.ok() ? still : m_desktop->screenshot();
            };
            hooks.element_at = [this](Point at) {
                Action press;
                press.kind = ActionKind::click;
                press.at = at;
                return element_under(press);
            };
            hooks.focus = [this] { return focused_field(); };
            if (diverged)
                progress("the screen diverged from the trace: a person takes over in the live view");
            if (m_options.person)
                m_options.person(true);
            return make_human_planner(*m_options.human, std::move(hooks));
        }
        if (kind == PlannerKind::hints) {
            if (m_workflow.hints.empty())
                return Error(Error::Code::invalid_argument,
                    m_workflow.file.string() + " has no step hints; teach it with the llm planner (--planner llm)");
            if (first_hint < 0)
                return Error(Error::Code::not_found, "no step hint of " + m_workflow.file.string()
                        + " produced this step, so the hints cannot take over here");
            HintPlannerOptions hints;
            hints.wait_for_timeout = scaled(hints.wait_for_timeout);
            hints.witness = m_witness.get();
            return make_hint_planner(m_workflow, m_inputs, first_hint, hints, diverged);
        }
        if (m_options.llm == nullptr)
            return Error(Error::Code::invalid_argument, "the llm planner needs a model (see rote llm config)");
        return make_llm_planner(*m_options.llm, m_workflow, m_inputs, std::move(expected));
    }

    // The run's planner acts from `screen` (plan); with RunOptions::ask, where it cannot be made or cannot go
    // on, a person takes over from the screen as it is then. After a person's turn (back on the trace, or
    // failed) the view closes and what they did is done with.
    Result<cv::Mat> plan_or_ask(const std::vector<replayer::PreparedStep>* steps, int at,
        std::optional<llm::ExpectedStep> hint, int first_hint, bool diverged, cv::Mat screen)
    {
        const bool can_ask = m_options.ask && m_options.human != nullptr && m_options.planner != PlannerKind::human;
        PlannerKind used = m_options.planner;
        Result<cv::Mat> after = Error(Error::Code::internal, "no planner ran");
        auto planner = make_planner(used, std::move(hint), first_hint, diverged);
        if (planner.ok())
            after = plan(**planner, steps, at, screen);
        else
            after = planner.error();
        if (!after.ok() && can_ask && !m_options.stop.stop_requested() && !m_store_error) {
            progress("the " + std::string(to_string(used)) + " planner cannot go on (" + after.error().message()
                + "): a person takes over in the live view");
            used = PlannerKind::human;
            auto now = m_desktop->screenshot();
            auto person = now.ok() ? make_planner(used, std::nullopt, -1, diverged)
                                   : Result<std::unique_ptr<Planner>>(now.error());
            after = person.ok() ? plan(**person, steps, at, *now) : Result<cv::Mat>(person.error());
        }
        // (A person teaching from the start keeps the view to the end of the run.)
        if (used == PlannerKind::human && (diverged || m_options.planner != PlannerKind::human)) {
            if (m_options.person)
                m_options.person(false);
            if (m_options.human)
                m_options.human->reset();
        }
        return after;
    }

    // Lets the planner act until it is done, or (with a trace) until the screen is one the trace knows again.
    // Returns the screen, and sets m_resume to the trace step to go on from (steps->size() when done).
    Result<cv::Mat> plan(Planner& planner, const std::vector<replayer::PreparedStep>* steps, int from, cv::Mat screen)
    {
        const std::size_t planned_from = m_observed.size();
        auto last_started = Clock::now(); // when the last action observed here began
        const cv::Mat diverged_on = screen;
        std::string failure;
        while (true) {
            ROTE_TRY(check_budget(planner.kind() != "human")); // a person is no planner call
            ROTE_TRY(check_stop());
            auto turn = planner.next(screen, failure, m_options.stop);
            ROTE_TRY(take_calls(planner));
            if (!turn.ok())
                return turn.error().with_context("the " + std::string(planner.kind()) + " planner");
            if (!turn->poll && planner.kind() != "human") // a person's turn is no planner call
                ++m_result.planner_calls;
            failure.clear();
            for (const PerformedAction& p : turn->performed)
                screen = ROTE_TRY(record_performed(p, steps != nullptr));
            bool done = false;
            for (const Action& a : turn->actions) {
                if (a.kind == ActionKind::done) {
                    done = true;
                    break;
                }
                if (a.kind == ActionKind::give_up)
                    return Error(Error::Code::not_found, "the planner gave up: " + a.text);
                ROTE_TRY(check_budget(false));
                const auto start = Clock::now();
                int settle_ms = 0;
                const DocumentElement element = element_under(a);
                auto after = perform(a, settle_ms);
                if (!after.ok()) {
                    if (after.error().code() == Error::Code::io || m_desktop == nullptr)
                        return after.error();
                    failure = after.error().message();
                    break;
                }
                ++m_result.planned;
                progress("planned: " + describe(a) + (turn->note.empty() ? "" : "  (" + turn->note + ")"));
                store::RunStep step;
                step.outcome = store::StepOutcome::planned;
                step.action = a;
                step.method = std::string(planner.kind());
                step.duration_ms = ms_since(start);
                step.detail = turn->note;
                step.before_image = ROTE_TRY(picture(screen));
                step.after_image = ROTE_TRY(picture(*after));
                ROTE_TRY(add_step(step));
                if (a.kind != ActionKind::wait) {
                    m_observed.push_back({screen, a, *after, settle_ms,
                        steps ? store::Provenance::repair
                              : (planner.kind() == "hints" ? store::Provenance::script : store::Provenance::llm),
                        {}, element.kind, element.identity, focused_field()});
                    m_observed_step.push_back(-1);
                    last_started = start;
                } else if (m_observed.size() > planned_from) {
                    late_effect(*after, last_started);
                }
                screen = *after;
            }
            if (done) {
                m_resume = steps ? static_cast<int>(steps->size()) : 0;
                return screen;
            }
            if (turn->actions.empty() && turn->performed.empty())
                screen = ROTE_TRY(stable());
            // Nothing done and nothing changed since the divergence (an optional hint whose target is absent):
            // going back to the trace now would replay into the same divergence, again and again.
            const bool unchanged = m_observed.size() == planned_from
                && vision::check_effect(diverged_on, screen, std::nullopt).effect == vision::Effect::none;
            if (steps && !unchanged) {
                replayer::Situation situation;
                situation.inputs = &m_inputs.values;
                situation.ocr = m_ocr;
                situation.wrote = wrote();
                std::vector<Action> planned_actions;
                for (std::size_t k = planned_from; k < m_observed.size(); ++k)
                    planned_actions.push_back(m_observed[k].action);
                if (auto at = replayer::resync(*steps, from, screen, situation, planned_actions)) {
                    progress("back on the trace at step " + std::to_string(*at));
                    m_resume = *at;
                    forget_replayed_from(*at, planned_from);
                    return screen;
                }
                // Not a screen the trace knows: perhaps the planner has finished the task (a cheap OCR
                // instead of another model call to hear it say so).
                if (ROTE_TRY(success_seen(screen, milliseconds(0)))) {
                    progress("the success check holds: the planner finished the task");
                    m_resume = static_cast<int>(steps->size());
                    return screen;
                }
            }
        }
    }

    // An action the person did (the human planner), recorded as a planned one is; the screen after it. Every
    // action is kept, a click that seems to change nothing too: what it did may not show (a toggle under the
    // pointer's own picture), and leaving out an action that did something would replay another task.
    Result<cv::Mat> record_performed(const PerformedAction& performed, bool repairing)
    {
        ROTE_TRY(check_budget(false));
        ++m_result.steps;
        // What the person typed is templated before anything says or keeps it: a secret's value, typed by
        // them, never reaches a progress line, a log or the store.
        PerformedAction p = performed;
        if (p.action.kind == ActionKind::type)
            p.action.text = ROTE_TRY(recorder::text_template(p.action.text, m_inputs.values, m_inputs.secrets));
        ++m_result.planned;
        progress("shown: " + describe(p.action));
        store::RunStep step;
        step.outcome = store::StepOutcome::planned;
        step.action = p.action;
        step.method = "human";
        step.before_image = ROTE_TRY(picture(p.before));
        step.after_image = ROTE_TRY(picture(p.after));
        ROTE_TRY(add_step(step));
        m_observed.push_back({p.before, p.action, p.after, p.settle_ms,
            repairing ? store::Provenance::repair : store::Provenance::human, {}, p.element.kind, p.element.identity, p.focus});
        m_observed_step.push_back(-1);
        return p.after;
    }

    // What the document has under a pointer action's point (store::Anchor::element and identity), asked
    // before the action; nothing without a witness, for other actions, or when the browser cannot say.
    DocumentElement element_under(const Action& a)
    {
        if (!m_witness || !acts_at_point(a.kind))
            return {};
        auto element = m_witness->element_at(a.at);
        if (!element.ok()) {
            m_log->warn("run {}: the document could not say what is under ({}, {}): {}", m_result.run_id, a.at.x, a.at.y,
                element.error().message());
            return {};
        }
        return *element;
    }

    // The document's URL and focus now; nothing without a witness or when the browser cannot say.
    std::optional<DocumentState> document_state()
    {
        if (!m_witness)
            return std::nullopt;
        auto state = m_witness->state();
        if (!state.ok()) {
            m_log->warn("run {}: the document could not say where its focus is: {}", m_result.run_id, state.error().message());
            return std::nullopt;
        }
        return *state;
    }

    // The field that has the focus now (store::Anchor::focus); empty when none has it or nothing says.
    ElementIdentity focused_field()
    {
        auto state = document_state();
        return state && state->focus_is_field ? state->focus : ElementIdentity {};
    }

    // What the document says an action did, from its state before and after it.
    static replayer::DocumentEffect document_effect(const DocumentState& before, const DocumentState& after)
    {
        replayer::DocumentEffect e;
        e.navigated = before.url != after.url;
        ElementIdentity was = before.focus, is = after.focus;
        was.box = is.box = {}; // a scrolled page moves its focused element, which is still the same one
        e.focus_moved = !(was == is);
        e.value_changed = before.value_digest != after.value_digest || before.value_length != after.value_length;
        e.caret_moved = before.selection_start != after.selection_start || before.selection_end != after.selection_end;
        if (after.focus_is_field)
            e.focus = after.focus;
        return e;
    }

    // For a pointer step with a recorded identity (not one named by an input: find_input_text finds those):
    // the live document's elements that have it (replayer::Situation::document_targets). Nothing without a
    // witness or when the browser cannot say: the pixels alone decide then.
    std::optional<std::vector<replayer::Situation::DocumentTarget>> targets_for(const replayer::PreparedStep& s)
    {
        const auto& anchor = s.step.anchor;
        if (!m_witness || anchor.identity.empty() || !s.label_template.empty()
            || (anchor.element != "link" && anchor.element != "button" && anchor.element != "field"))
            return std::nullopt;
        auto found = m_witness->find(anchor.identity);
        if (!found.ok()) {
            m_log->warn("run {}: the document could not look for {}: {}", m_result.run_id, describe(anchor.identity),
                found.error().message());
            return std::nullopt;
        }
        std::vector<replayer::Situation::DocumentTarget> targets;
        for (const auto& f : *found)
            targets.push_back({f.box, f.by, f.shown, f.label, f.label_box});
        return targets;
    }

    // For a step recorded on a link whose label names an input: the visible links that read this run's label
    // (replayer::Situation::document_links), or, when none does and the label holds more than one input's
    // placeholder ("{{partner}} @partners"), the links that read that input's value. Nothing without a
    // witness or when the browser cannot say: the pixels alone decide then.
    struct DocumentLinks {
        std::string text;
        std::vector<replayer::Situation::DocumentLink> links;
    };
    std::optional<DocumentLinks> links_for(const replayer::PreparedStep& s)
    {
        if (!m_witness || s.step.anchor.element != "link" || s.label_template.empty())
            return std::nullopt;
        auto label = render_template(s.label_template, m_inputs.values, {});
        if (!label.ok())
            return std::nullopt;
        std::vector<std::string> texts {*label};
        const std::string& t = s.label_template;
        const auto open = t.find("{{"), close = t.find("}}");
        if (open != std::string::npos && close != std::string::npos && close > open && t.find("{{", close) == std::string::npos
            && (open > 0 || close + 2 < t.size())) {
            if (auto it = m_inputs.values.find(t.substr(open + 2, close - open - 2)); it != m_inputs.values.end())
                texts.push_back(it->second);
        }
        for (const std::string& text : texts) {
            auto links = m_witness->links_reading(text);
            if (!links.ok()) {
                m_log->warn("run {}: the document could not list the links reading \"{}\": {}", m_result.run_id, text,
                    links.error().message());
                return std::nullopt;
            }
            if (!links->empty() || &text == &texts.back()) {
                DocumentLinks found {text, {}};
                for (const auto& l : *links)
                    found.links.push_back({l.box, l.href});
                return found;
            }
        }
        return std::nullopt;
    }

    // The link a step needs, scrolled out of the view (a result below the fold), brought into it with the
    // mouse wheel as a person would, by as much as the document says it is away; scrolling sends the site
    // nothing. Stops when the link is in the view, or the page no longer moves (an inner scroller under
    // the pointer, the end of the page). True when the page moved; the step is then decided anew on the
    // screen as it is now, and the pixels still confirm the link before it is clicked.
    Result<bool> reveal_link(const std::string& text, const cv::Mat& screen)
    {
        const Point middle {screen.cols / 2, screen.rows / 2};
        bool moved = false;
        auto distance = m_witness->link_distance(text);
        for (int turn = 0; turn < 10 && distance.ok() && *distance != 0; ++turn) {
            // About 100 px a wheel click in Chromium; the next turn corrects what that guess missed.
            const int clicks = std::clamp(std::abs(*distance) / 100, 1, 15) * (*distance > 0 ? 1 : -1);
            ROTE_TRY(m_desktop->scroll(middle, 0, clicks));
            ROTE_TRY(m_desktop->sync());
            std::this_thread::sleep_for(milliseconds(50)); // the smooth scroll's frames
            auto now = m_witness->link_distance(text);
            if (!now.ok() || std::abs(*now - *distance) < 4)
                break; // nothing moved
            moved = true;
            distance = now;
        }
        if (moved)
            progress("scrolled the link reading \"" + text + "\" into view");
        return moved;
    }

    // Whether the sandbox has sent a request that may write: a method other than GET, HEAD and OPTIONS, or a
    // tunnel (HTTPS: the proxy cannot see the methods inside it, so it may have).
    bool wrote() const
    {
        if (!m_session)
            return false;
        for (const auto& r : m_session->proxy().requests()) {
            if (r.refused.empty() && r.method != "GET" && r.method != "HEAD" && r.method != "OPTIONS")
                return true;
        }
        return false;
    }

    // Replay goes back to trace step `step`: the replayed steps from there on, observed before the planner's
    // actions (which start at `planned_from`), had no lasting effect and are no part of a repaired trace.
    void forget_replayed_from(int step, std::size_t planned_from)
    {
        for (std::size_t k = planned_from; k-- > 0;) {
            if (m_observed_step[k] >= step) {
                m_observed.erase(m_observed.begin() + static_cast<std::ptrdiff_t>(k));
                m_observed_step.erase(m_observed_step.begin() + static_cast<std::ptrdiff_t>(k));
            }
        }
    }

    Result<std::vector<replayer::PreparedStep>> prepare(const store::Trace& trace)
    {
        std::vector<replayer::PreparedStep> steps;
        std::map<store::Hash, cv::Mat> screens;
        for (const auto& s : trace.steps) {
            if (!s.pre_artifact)
                return Error(Error::Code::corrupt, "trace step " + std::to_string(s.index) + " has no pre-state screenshot");
            auto& pre = screens[*s.pre_artifact];
            if (pre.empty()) {
                auto artifact = ROTE_TRY(m_store.get_artifact(*s.pre_artifact));
                pre = ROTE_TRY(vision::decode_png(artifact.data));
            }
            steps.push_back(ROTE_TRY(replayer::prepare(s, pre)));
        }
        return steps;
    }

    Result<llm::ExpectedStep> expected_for(const replayer::PreparedStep& s)
    {
        llm::ExpectedStep e;
        e.label = s.step.anchor.label;
        e.description = "the recorded workflow's next step: " + describe(s.step.action, s.step.anchor.label);
        if (s.step.anchor.patch) {
            auto artifact = ROTE_TRY(m_store.get_artifact(*s.step.anchor.patch));
            e.patch = ROTE_TRY(vision::decode_png(artifact.data));
        }
        return e;
    }

    // Stores what replay expected and saw where it diverged: the run step (failed) and a screenshot.
    Result<void> report_divergence(int trace_step, const std::string& expected, const std::string& why, const cv::Mat& screen)
    {
        Divergence d;
        d.trace_step = trace_step;
        d.expected = expected;
        d.why = why;
        auto png = vision::encode_png(screen);
        if (png.ok())
            d.screenshot = ROTE_TRY(stored(m_store.put_artifact(*png, "image/png")));
        store::RunStep step;
        if (trace_step >= 0)
            step.trace_step = trace_step;
        step.outcome = store::StepOutcome::failed;
        step.action.kind = ActionKind::wait;
        step.method = "diverged";
        step.artifact = d.screenshot;
        step.detail = "expected " + expected + "; " + why;
        ROTE_TRY(add_step(step));
        progress("diverged at step " + std::to_string(trace_step) + ": expected " + expected + "; " + why);
        m_result.divergences.push_back(std::move(d));
        return {};
    }

    Result<void> report_failure(const std::string& why, const cv::Mat& screen)
    {
        store::RunStep step;
        step.outcome = store::StepOutcome::failed;
        step.action.kind = ActionKind::wait;
        step.method = "failed";
        auto png = ROTE_TRY(vision::encode_png(screen));
        step.artifact = ROTE_TRY(stored(m_store.put_artifact(png, "image/png")));
        step.detail = "the screen when the run failed: " + why;
        if (const char* dir = std::getenv("ROTE_FAILURE_DIR")) {
            std::ofstream out(std::string(dir) + "/run-" + std::to_string(m_result.run_id) + ".png", std::ios::binary);
            out.write(reinterpret_cast<const char*>(png.data()), static_cast<std::streamsize>(png.size()));
        }
        return add_step(step);
    }

    // Hands a divergence at trace step `at` (steps.size(): after the last step) to a planner.
    Result<cv::Mat> diverge(const std::vector<replayer::PreparedStep>& steps, int at, const std::string& why, cv::Mat screen)
    {
        const bool at_end = at >= static_cast<int>(steps.size());
        const std::string expected = at_end ? "the success check (\"" + success_text() + "\" on the screen)"
                                            : describe(steps[static_cast<size_t>(at)].step.action,
                                                  steps[static_cast<size_t>(at)].step.anchor.label);
        ROTE_TRY(report_divergence(at_end ? -1 : at, expected, why, screen));
        if (m_has_fallback && !wrote()) {
            m_fall_back = true;
            return Error(Error::Code::conflict, "replay diverged at step " + std::to_string(at) + " (expected " + expected + "; " + why + ")");
        }
        std::optional<llm::ExpectedStep> hint;
        int first_hint = -1;
        if (at_end) {
            if (!steps.empty())
                first_hint = hint_for_step(m_workflow, steps.back().step, m_inputs);
            if (first_hint >= 0)
                ++first_hint;
        } else {
            hint = ROTE_TRY(expected_for(steps[static_cast<size_t>(at)]));
            first_hint = hint_for_step(m_workflow, steps[static_cast<size_t>(at)].step, m_inputs);
        }
        auto after = plan_or_ask(&steps, at, std::move(hint), first_hint, true, std::move(screen));
        if (!after.ok())
            return Error(after.error().code(), "replay diverged at step " + std::to_string(at) + " (expected " + expected
                    + "; " + why + ") and " + after.error().message());
        return after;
    }

    Result<cv::Mat> replay(const store::Trace& trace, cv::Mat screen)
    {
        const auto steps = ROTE_TRY(prepare(trace));
        m_output_labels_recorded = trace.steps.empty() ? std::map<std::string, std::string> {} : trace.steps.back().anchor.output_labels;
        m_replay_started = true;
        progress("replaying trace v" + std::to_string(trace.version) + " (" + std::to_string(steps.size()) + " steps)");
        replayer::Situation situation;
        situation.inputs = &m_inputs.values;
        situation.ocr = m_ocr;
        auto last_action = Clock::now();
        int i = 0;
        int revealed = -1; // the step the wheel last brought a link into view for
        while (i < static_cast<int>(steps.size())) {
            ROTE_TRY(check_stop());
            const auto& s = steps[static_cast<size_t>(i)];
            const auto patience = patience_after(s.step.settle_ms);
            situation.may_wait = Clock::now() - last_action < patience;
            const auto start = Clock::now();
            std::optional<DocumentLinks> links = links_for(s);
            // Once per step that the wheel moved for (no ping-pong); a page still loading, whose link is not
            // there yet, is asked again when the step is.
            if (links && links->links.empty() && revealed != i && ROTE_TRY(reveal_link(links->text, screen))) {
                revealed = i;
                screen = ROTE_TRY(stable());
                continue;
            }
            situation.document_links = links ? &links->links : nullptr;
            situation.document_link_text = links ? links->text : std::string();
            const auto targets = targets_for(s);
            situation.document_targets = targets ? &*targets : nullptr;
            const auto d = replayer::decide(s, screen, situation);
            situation.document_links = nullptr;
            situation.document_targets = nullptr;
            const auto decided = Clock::now();
            if (d.verdict == replayer::Verdict::wait) {
                std::this_thread::sleep_for(milliseconds(200));
                screen = ROTE_TRY(stable());
                continue;
            }
            if (d.verdict == replayer::Verdict::diverged) {
                screen = ROTE_TRY(diverge(steps, i, d.why, std::move(screen)));
                i = m_resume;
                situation.follows_verified = false;
                last_action = Clock::now();
                continue;
            }
            ROTE_TRY(check_budget(false));
            int settle_ms = 0;
            const cv::Mat before = screen;
            DocumentElement element {s.step.anchor.element, s.step.anchor.identity};
            if (element.kind.empty())
                element = element_under(d.action);
            const std::optional<DocumentState> document_before = document_state();
            screen = ROTE_TRY(perform(d.action, settle_ms));
            last_action = Clock::now();
            // The pixels' judgement, with the document's word on the focus and on what they barely show.
            ElementIdentity focus;
            const auto judge = [&] {
                const std::optional<DocumentState> after = document_before ? document_state() : std::nullopt;
                focus = after && after->focus_is_field ? after->focus : ElementIdentity {};
                if (!after)
                    return replayer::judge_effect(s, before, screen, d.offset);
                const auto said = document_effect(*document_before, *after);
                return replayer::judge_effect(s, before, screen, d.offset, &said);
            };
            auto effect = judge();
            const auto judged = Clock::now();
            m_result.timings.push_back({i, us(start, decided) + us(last_action, judged), us(decided, last_action)});
            while (!effect.as_recorded && Clock::now() - last_action < patience) {
                // The page may answer late (a slow server): look again before calling it a divergence.
                std::this_thread::sleep_for(milliseconds(200));
                screen = ROTE_TRY(stable());
                effect = judge();
            }
            store::RunStep step;
            step.trace_step = i;
            step.outcome = d.relocated ? store::StepOutcome::relocated : store::StepOutcome::replayed;
            step.action = d.action;
            step.method = d.method;
            step.confidence = d.confidence;
            step.duration_ms = ms_since(start);
            step.detail = effect.as_recorded ? effect.proof : effect.why;
            step.before_image = ROTE_TRY(picture(before));
            step.after_image = ROTE_TRY(picture(screen));
            ROTE_TRY(add_step(step));
            ++(d.relocated ? m_result.relocated : m_result.replayed);
            if (!effect.proof.empty())
                progress("step " + std::to_string(i) + "'s effect, proven by the document: " + effect.proof);
            progress(std::string(d.relocated ? "relocated" : "replayed") + " step " + std::to_string(i) + ": "
                + describe(d.action, s.step.anchor.label) + " [" + d.method + " "
                + std::to_string(d.confidence).substr(0, 4) + "]");
            m_observed.push_back(
                {before, d.action, screen, settle_ms, s.step.provenance, s.step.mask, element.kind, element.identity, focus});
            m_observed_step.push_back(i);
            if (!effect.as_recorded) {
                // An action that did nothing is no step of a repaired trace.
                m_observed.pop_back();
                m_observed_step.pop_back();
                screen = ROTE_TRY(diverge(steps, i, effect.why, std::move(screen)));
                i = m_resume;
                situation.follows_verified = false;
                last_action = Clock::now();
                continue;
            }
            situation.follows_verified = true;
            if (ROTE_TRY(await_focus(s, steps, i, focus, last_action, patience))) {
                screen = ROTE_TRY(stable());
                m_observed.back().after = screen;
                m_observed.back().focus = focus;
            }
            ++i;
        }
        // Past the last step: the success check decides whether the planner must finish the job.
        if (auto ok = success_seen(screen, patience_after(steps.empty() ? 0 : steps.back().step.settle_ms)); !ok.ok())
            return ok.error();
        else if (!*ok)
            screen = ROTE_TRY(diverge(steps, static_cast<int>(steps.size()),
                "the trace's steps are done but the success check does not hold: " + success_failure(), std::move(screen)));
        return screen;
    }

    // After step `i`, which the trace says left the focus in a field, and before keys that go where the focus
    // is: the focus there. A page's script may place it a moment after the page has settled (DokuWiki's editor
    // on a busy machine: the next step's ctrl+End went to the page instead of the text), so replay waits for
    // it within the step's patience. True when it came late (`focus` is it now); false when it was there, or
    // never came (the next step's own judgement decides then).
    Result<bool> await_focus(const replayer::PreparedStep& s, const std::vector<replayer::PreparedStep>& steps, int i,
        ElementIdentity& focus, Clock::time_point last_action, milliseconds patience)
    {
        const ElementIdentity& recorded = s.step.anchor.focus;
        const auto next = static_cast<std::size_t>(i) + 1;
        if (!m_witness || recorded.empty() || next >= steps.size() || same_element(recorded, focus))
            return false;
        const ActionKind kind = steps[next].step.action.kind;
        if (kind != ActionKind::key && kind != ActionKind::type)
            return false;
        while (Clock::now() - last_action < patience) {
            ROTE_TRY(check_stop());
            std::this_thread::sleep_for(milliseconds(100));
            const auto state = document_state();
            if (!state)
                return false;
            if (state->focus_is_field && same_element(recorded, state->focus)) {
                focus = state->focus;
                progress("the focus came to " + describe(focus) + ", where step " + std::to_string(i) + " left it when recorded");
                return true;
            }
        }
        return false;
    }

    // How long a step's screen may take to show what replay expects after the previous action: the time the
    // page took when recorded, with a generous margin for a slower server.
    milliseconds patience_after(int settle_ms) const { return scaled(milliseconds(std::max(5000, 3 * settle_ms + 2000))); }

    // How long the screen and the traffic must stay still to count as settled.
    milliseconds quiet_period() const { return scaled(m_options.quiet, 4.0); }
    // ... and how long the screen must stay still once the document says the page has loaded.
    milliseconds document_quiet_period() const { return std::min(quiet_period(), scaled(m_options.document_quiet, 4.0)); }

    // How long an action begun at `start` took to settle: the time since, less the quiet period that proved it.
    int settle_ms_since(Clock::time_point start) const
    {
        return static_cast<int>(std::max<std::int64_t>(0, ms_since(start) - quiet_period().count()));
    }

    // A wait stretched by how slowly this sandbox answers (Sandbox::time_scale), at most by `cap`.
    milliseconds scaled(milliseconds wait, double cap = 1e9) const
    {
        return milliseconds(static_cast<std::int64_t>(static_cast<double>(wait.count()) * std::min(m_time_scale, cap)));
    }

    // The success text for this run: its input placeholders filled in (the parser allows no secret there).
    std::string success_text() const
    {
        auto rendered = render_template(m_workflow.success_text, m_inputs.values, {});
        return rendered.ok() ? *rendered : m_workflow.success_text;
    }

    // Whether the success text shows, looking again for up to `patience` while the page may still load.
    // `screen` is updated to the last screen looked at. A screen the document is ahead of (the next page
    // loaded, its pixels not yet drawn) is looked at again: the success text drawn in the view but not on the
    // screen, an output the document puts where the screen reads something else.
    Result<bool> success_seen(cv::Mat& screen, milliseconds patience)
    {
        const auto until = Clock::now() + patience;
        while (true) {
            if (ROTE_TRY(seen_where_document_says(screen)) && url_proven())
                return true;
            m_words = ROTE_TRY(m_ocr->read(screen));
            m_success_lookalike = false;
            bool seen = false, out_of_view = false, in_view_unread = false;
            if (m_workflow.success_text.empty()) {
                seen = ROTE_TRY(outputs_agree(true));
            } else {
                seen = vision::find_text(m_words, success_text()).status != vision::LocateStatus::not_found;
                if (m_witness) {
                    auto place = m_witness->text_place(success_text());
                    // Words that read as the success text where the page's document holds it nowhere (a list's
                    // "Status" column for "Status:", punctuation aside) are no proof: the page is another one.
                    if (seen && place.ok() && place->place == Witness::TextPlace::absent) {
                        seen = false;
                        m_success_lookalike = true;
                    }
                    // Rendered by the page but scrolled out of the screen (a footer below the fold): the document
                    // says it is there.
                    // Drawn in the view where OCR did not read it (a styled heading): the document's word, when
                    // the screen confirms every output the document places, which proves the screen shows this
                    // page (a screen still on the page before confirms none).
                    if (!seen && !m_success_lookalike) {
                        seen = out_of_view = place.ok() && place->place == Witness::TextPlace::out_of_view;
                        if (!seen && place.ok() && place->place == Witness::TextPlace::in_view)
                            seen = in_view_unread = ROTE_TRY(outputs_confirmed_by_document());
                    }
                }
            }
            // Past the patience, outputs that still disagree are read_outputs' to report.
            const bool late = Clock::now() >= until;
            if (seen && !late && !m_workflow.success_text.empty())
                seen = ROTE_TRY(outputs_agree(false));
            if (seen && url_proven()) {
                if (out_of_view)
                    progress("the success text is in the page, out of the screen's view");
                if (in_view_unread)
                    progress("the success text is drawn in the view where OCR did not read it; the screen confirms "
                             "every output the document places");
                return true;
            }
            if (late)
                return false;
            std::this_thread::sleep_for(milliseconds(300));
            screen = ROTE_TRY(stable());
        }
    }

    // The quick proof, with a document: OCR only where it draws the success text and each output's value
    // (a few small regions, not the whole screen). True when the screen shows the success text there and
    // every output is read from the document and confirmed by those pixels; then m_words are those regions'
    // words. Anything less (no such boxes, an output the document does not place, regions that would cover
    // much of the screen, words that do not confirm) is no answer: the whole screen is read, as before.
    Result<bool> seen_where_document_says(const cv::Mat& screen)
    {
        if (!m_witness || m_workflow.success_text.empty())
            return false;
        auto placement = m_witness->text_place(success_text());
        if (!placement.ok() || placement->place != Witness::TextPlace::in_view || placement->boxes.empty())
            return false;
        std::vector<Rect> regions = placement->boxes;
        for (const auto& out : m_workflow.outputs) {
            auto beside = out.anchor.empty() ? Result<std::vector<LabelledValue>>(std::vector<LabelledValue> {})
                                             : m_witness->values_beside(out.anchor);
            if (!beside.ok() || beside->empty())
                return false;
            for (const auto& v : *beside) {
                if (v.box.empty())
                    return false;
                regions.push_back(v.box);
            }
        }
        // A margin for the glyphs' edges, clipped to the screen; overlapping regions made one, so that no word
        // is read twice.
        const int margin = 6;
        for (Rect& r : regions) {
            const int x = std::max(0, r.x - margin), y = std::max(0, r.y - margin);
            r = Rect {x, y, std::min(screen.cols, r.x + r.w + margin) - x, std::min(screen.rows, r.y + r.h + margin) - y};
        }
        for (bool merged = true; merged;) {
            merged = false;
            for (std::size_t i = 0; i < regions.size() && !merged; ++i) {
                for (std::size_t j = i + 1; j < regions.size() && !merged; ++j) {
                    if (!regions[i].intersects(regions[j]))
                        continue;
                    const Rect a = regions[i], b = regions[j];
                    const int x = std::min(a.x, b.x), y = std::min(a.y, b.y);
                    regions[i] = Rect {x, y, std::max(a.x + a.w, b.x + b.w) - x, std::max(a.y + a.h, b.y + b.h) - y};
                    regions.erase(regions.begin() + static_cast<std::ptrdiff_t>(j));
                    merged = true;
                }
            }
        }
        std::int64_t area = 0;
        for (const Rect& r : regions) {
            if (r.empty())
                return false;
            area += std::int64_t(r.w) * r.h;
        }
        if (area * 4 > std::int64_t(screen.cols) * screen.rows)
            return false; // most of the screen: reading it whole is as quick, and what the rest expects
        std::vector<vision::Word> words;
        int lines = 0; // each region's lines numbered apart from the others'
        for (const Rect& r : regions) {
            auto read = m_ocr->read(screen, r);
            if (!read.ok())
                return false;
            int last = 0;
            for (vision::Word w : *read) {
                last = std::max(last, w.line);
                w.line += lines;
                words.push_back(std::move(w));
            }
            lines += last + 1;
        }
        if (vision::find_text(words, success_text()).status == vision::LocateStatus::not_found)
            return false;
        std::swap(m_words, words);
        if (m_workflow.outputs.empty() || ROTE_TRY(outputs_confirmed_by_document()))
            return true;
        std::swap(m_words, words);
        return false;
    }

    // Whether the workflow has outputs and the screen (m_words) confirms each where the document places it.
    Result<bool> outputs_confirmed_by_document()
    {
        if (m_workflow.outputs.empty())
            return false;
        for (const auto& out : m_workflow.outputs) {
            auto read = ROTE_TRY(output_value(out));
            if (!read.value || !read.problem.empty() || !read.source.starts_with("document"))
                return false;
        }
        return true;
    }

    // Whether the outputs read from this screen (m_words) agree with its document: none the document puts
    // where the screen reads something else; with `all`, every one read.
    Result<bool> outputs_agree(bool all)
    {
        for (const auto& out : m_workflow.outputs) {
            auto read = ROTE_TRY(output_value(out));
            if (!read.problem.empty() || (all && !read.value))
                return false;
        }
        return true;
    }

    // Whether the page's URL matches success.url (true when there is none). m_last_url keeps what was seen.
    bool url_proven()
    {
        if (m_workflow.success_url.empty())
            return true;
        auto url = m_witness ? m_witness->url() : Result<std::string>(Error(Error::Code::unsupported, "no document"));
        m_last_url = url.ok() ? *url : "(unknown: " + url.error().message() + ")";
        return url.ok() && std::regex_search(*url, std::regex(m_workflow.success_url));
    }

    // Why the success check does not hold, after success_seen said so.
    std::string success_failure()
    {
        if (!m_last_url.empty() && !url_proven())
            return "the page's URL " + m_last_url + " does not match " + m_workflow.success_url;
        if (m_success_lookalike)
            return "\"" + success_text() + "\" is not on the final screen: words there read alike, but the page's "
                   "document holds it nowhere";
        if (m_workflow.success_text.empty())
            return "not every output could be read on the final screen";
        std::string why = "\"" + success_text() + "\" is not on the final screen";
        if (!m_witness)
            return why;
        // What the document says of it, for whoever reads why the run failed.
        auto place = m_witness->text_place(success_text());
        if (!place.ok())
            return why + " (the page's document could not say where it is: " + place.error().message() + ")";
        if (place->place == Witness::TextPlace::absent)
            return why + " (nor in the page's document)";
        if (place->place == Witness::TextPlace::out_of_view)
            return why + " (the page's document has it out of the screen's view)";
        const Rect at = place->boxes.empty() ? Rect {} : place->boxes.front();
        return why + " (the page's document draws it at (" + std::to_string(at.x) + ", " + std::to_string(at.y) + ") "
            + std::to_string(at.w) + "x" + std::to_string(at.h) + ", where OCR did not read it)";
    }

    Result<cv::Mat> check_success(cv::Mat screen)
    {
        if (!ROTE_TRY(success_seen(screen, scaled(milliseconds(5000)))))
            return Error(Error::Code::not_found, "the success check failed: " + success_failure());
        progress("success check passed");
        return screen;
    }

    // An output as the final screen shows it. From the document, when the sandbox's browser has a witness and
    // the anchor is in its document: the value its structure puts beside the label, confirmed by the words
    // the success check read where the document draws it (m_words). From those words alone (OCR) when there is
    // no document or the label is not in it. A document that shows the label but no one value the screen
    // confirms is a problem, never a guess.
    struct OutputValue {
        std::optional<std::string> value;
        std::string source; // "document (next cell)", "ocr"
        std::string problem;
    };
    Result<OutputValue> output_value(const OutputSpec& out)
    {
        if (m_witness && !out.anchor.empty()) {
            auto beside = m_witness->values_beside(out.anchor);
            if (!beside.ok())
                return OutputValue {std::nullopt, {}, "the browser's document could not be read: " + beside.error().message()};
            DocumentOutput read = read_output_from_document(*beside, m_words, out);
            if (beside->size() == 1 && !beside->front().label_at.empty())
                m_output_labels_seen[out.name] = beside->front().label_at;
            if (read.value || !read.problem.empty())
                return OutputValue {read.value, "document (" + read.how + ")", read.problem};
            // The label's words are nowhere, but the trace knows where the label was (a translated page): the
            // value beside the element there, whatever it says now, confirmed by the pixels as any other.
            if (auto recorded = m_output_labels_recorded.find(out.name);
                beside->empty() && recorded != m_output_labels_recorded.end()) {
                auto at = m_witness->values_at(recorded->second);
                if (!at.ok())
                    return OutputValue {std::nullopt, {}, "the browser's document could not be read: " + at.error().message()};
                read = read_output_from_document(*at, m_words, out);
                if (read.value || !read.problem.empty()) {
                    m_output_labels_seen[out.name] = recorded->second;
                    return OutputValue {read.value, "document (" + read.how + ", \"" + out.anchor
                            + "\" not in the page: the label where the trace saw it)", read.problem};
                }
            }
            // The page's document has no such label where a person could see it: OCR would only find a
            // look-alike (a translated page's "Assignee:" read off another word). What remains is the
            // workflow's own fallback, its pattern anywhere on the screen.
            if (out.pattern.empty())
                return OutputValue {std::nullopt, {}, "\"" + out.anchor + "\" is nowhere visible in the page's document"};
            OutputSpec anywhere = out;
            anywhere.anchor.clear();
            return OutputValue {read_output(m_words, anywhere), "ocr (the pattern; \"" + out.anchor + "\" is not in the page)", {}};
        }
        return OutputValue {read_output(m_words, out), "ocr", {}};
    }

    // From the final screen the success check looked at (m_words) and its document.
    Result<void> read_outputs()
    {
        for (const auto& out : m_workflow.outputs) {
            auto read = ROTE_TRY(output_value(out));
            if (!read.value)
                return Error(Error::Code::not_found,
                    "output '" + out.name + "' " + (read.problem.empty() ? "was not found on the final screen" : "was not read: " + read.problem));
            m_result.outputs[out.name] = *read.value;
            m_result.output_sources[out.name] = read.source;
            progress("output " + out.name + " = " + *read.value + " (" + read.source + ")");
        }
        return {};
    }

    // The typed values no input names, offered to RunOptions::name_inputs; those it names join `inputs`, so
    // that the trace types them as their placeholders.
    Result<void> name_new_inputs(std::map<std::string, std::string>& inputs)
    {
        if (!m_options.name_inputs)
            return {};
        const auto proposed = recorder::proposed_inputs(m_observed, inputs, m_inputs.secrets);
        if (proposed.empty())
            return {};
        auto named = m_options.name_inputs(proposed);
        if (!named.ok())
            return named.error().with_context("naming the typed values as inputs");
        for (const auto& [name, value] : *named) {
            const bool offered = std::any_of(proposed.begin(), proposed.end(), [&](const auto& p) { return p.value == value; });
            if (!offered || inputs.contains(name) || m_inputs.secrets.contains(name))
                return Error(Error::Code::invalid_argument, "'" + name + "' is no new input for a typed value");
            inputs[name] = value;
            progress("input " + name + " = " + value + " (typed; now an input)");
        }
        m_result.new_inputs = *named;
        return {};
    }

    // The trace this run made (taught, or repaired from `replayed`), stored with the run's end (m_made).
    Result<void> record_trace(const std::optional<store::Trace>& replayed)
    {
        recorder::RecordOptions options;
        options.workflow = m_workflow.name;
        options.goal = m_workflow.goal;
        options.inputs = m_inputs.values;
        options.secrets = m_inputs.secrets;
        ROTE_TRY(name_new_inputs(options.inputs));
        options.note = replayed ? "repaired by run " + std::to_string(m_result.run_id) + " from v"
                + std::to_string(replayed->version) + " (" + std::to_string(m_result.planned) + " planned actions)"
                                : "taught by run " + std::to_string(m_result.run_id) + " with the "
                + std::string(to_string(m_options.planner)) + " planner";
        auto trace = recorder::record(m_observed, options, *m_ocr);
        if (!trace.ok())
            return trace.error().with_context("recording the trace");
        if (replayed)
            trace->parent_id = replayed->id;
        if (!trace->steps.empty())
            trace->steps.back().anchor.output_labels = m_output_labels_seen;
        trace->conditions = conditions();
        trace->source_run_id = m_result.run_id;
        m_made = std::move(*trace);
        return {};
    }

    store::Store& m_store;
    const Workflow& m_workflow;
    const RunInputs& m_inputs;
    const RunOptions& m_options;
    double m_time_scale = 1.0; // the sandbox's (Sandbox::time_scale)
    std::shared_ptr<spdlog::logger> m_log;
    RunResult m_result;
    std::optional<Error> m_store_error;
    std::optional<store::NewTrace> m_made; // the trace this run made, stored with its end
    std::vector<store::RunRequest> m_traffic; // its sandboxes' requests, stored with its end
    std::optional<Clock::time_point> m_session_started;
    std::unique_ptr<Session> m_session;
    std::unique_ptr<Desktop> m_desktop;
    // Interrupts the desktop when the run's stop is requested; declared after it, so it goes first.
    std::optional<std::stop_callback<std::function<void()>>> m_on_stop;
    std::unique_ptr<Witness> m_witness; // the browser's document, when the sandbox has one (local)
    std::string m_last_url; // the page's URL the success check last saw (success.url)
    bool m_success_lookalike = false; // the last success check saw the text only as look-alike words
    vision::Ocr* m_ocr = nullptr;
    std::vector<vision::Word> m_words; // read on the last screen the success check looked at
    // Where each output's label is in the document (LabelledValue::label_at): as the replayed trace recorded
    // it, and as this run saw it (kept on the last step of a trace it makes).
    std::map<std::string, std::string> m_output_labels_recorded, m_output_labels_seen;
    std::vector<recorder::Observed> m_observed;
    std::pair<cv::Mat, store::Hash> m_picture; // the last screen picture() stored, and its artifact
    std::vector<int> m_observed_step; // per observed action: the trace step it replayed, -1 if planned
    int m_run_step = 0;
    std::size_t m_calls_seen = 0;
    bool m_has_fallback = false; // replaying a candidate whose default may take the run over
    bool m_fall_back = false; // the candidate diverged before any write: the default takes the run over
    bool m_replay_started = false; // a trace was replayed (its standing learns from the run's end)
    int m_resume = 0;
};

} // namespace

std::string_view to_string(PlannerKind kind)
{
    switch (kind) {
    case PlannerKind::llm: return "llm";
    case PlannerKind::human: return "human";
    case PlannerKind::hints: break;
    }
    return "hints";
}

std::optional<std::string> read_output(const std::vector<vision::Word>& words, const OutputSpec& spec)
{
    if (!spec.anchor.empty()) {
        const auto at = vision::find_text(words, spec.anchor);
        if (at.status == vision::LocateStatus::found) {
            // The words right of the anchor whose middle is level with it, left to right.
            const int top = at.box.y - at.box.h / 2;
            const int bottom = at.box.y + at.box.h + at.box.h / 2;
            std::vector<const vision::Word*> right;
            for (const auto& w : words) {
                const int middle = w.box.y + w.box.h / 2;
                if (w.box.x >= at.box.x + at.box.w && middle >= top && middle <= bottom)
                    right.push_back(&w);
            }
            std::sort(right.begin(), right.end(), [](auto* a, auto* b) { return a->box.x < b->box.x; });
            std::string text;
            for (const auto* w : right)
                text += (text.empty() ? "" : " ") + w->text;
            if (auto value = match(text, spec.pattern))
                return value;
        }
    }
    if (spec.pattern.empty())
        return std::nullopt;
    for (const auto& line : lines_of(words)) {
        if (auto value = match(line, spec.pattern))
            return value;
    }
    return std::nullopt;
}

DocumentOutput read_output_from_document(
    const std::vector<LabelledValue>& beside, const std::vector<vision::Word>& words, const OutputSpec& spec)
{
    DocumentOutput out;
    if (beside.empty())
        return out;
    const std::string label = "\"" + spec.anchor + "\"";
    std::vector<std::pair<std::string, const LabelledValue*>> matched;
    std::vector<std::string> shown;
    for (const LabelledValue& v : beside) {
        if (!v.text.empty())
            shown.push_back("\"" + v.text + "\"");
        if (auto m = match(v.text, spec.pattern))
            matched.emplace_back(*m, &v);
    }
    const auto listed = [](const std::vector<std::string>& items) {
        std::string text;
        for (std::size_t i = 0; i < items.size() && i < 4; ++i)
            text += (i ? ", " : "") + items[i];
        return text + (items.size() > 4 ? ", ..." : "");
    };
    if (matched.empty()) {
        out.problem = "beside " + label + " the document shows "
            + (shown.empty() ? std::string("no value") : listed(shown))
            + (spec.pattern.empty() ? "" : ", nothing matching " + spec.pattern);
        return out;
    }
    std::vector<std::string> distinct;
    for (const auto& [value, v] : matched) {
        if (std::find(distinct.begin(), distinct.end(), value) == distinct.end())
            distinct.push_back(value);
    }
    if (distinct.size() > 1) {
        std::vector<std::string> quoted;
        for (const auto& d : distinct)
            quoted.push_back("\"" + d + "\"");
        out.problem = label + " is beside " + std::to_string(distinct.size()) + " different values in the document ("
            + listed(quoted) + "): which one is meant is not certain";
        return out;
    }
    // The pixels' word: what the screen reads inside the box the document draws the value in (a few pixels
    // of slack for rounding and antialiasing), against the document's whole text there.
    std::string seen;
    for (const auto& [value, v] : matched) {
        if (v->box.empty())
            continue;
        const Rect box {v->box.x - 4, v->box.y - 4, v->box.w + 8, v->box.h + 8};
        std::string text;
        for (const auto& w : words) {
            if (box.contains({w.box.x + w.box.w / 2, w.box.y + w.box.h / 2}))
                text += (text.empty() ? "" : " ") + w.text;
        }
        if (vision::text_similarity(text, v->shown.empty() ? v->text : v->shown) >= 0.8) {
            out.value = value;
            out.how = v->how;
            return out;
        }
        seen = text;
    }
    const LabelledValue& first = *matched.front().second;
    out.problem = "the document shows \"" + (first.shown.empty() ? first.text : first.shown) + "\" beside " + label
        + " but the screen " + (seen.empty() ? std::string("shows no text where it is drawn") : "reads \"" + seen + "\" there");
    return out;
}

int hint_for_step(const Workflow& workflow, const store::Step& step, const RunInputs& inputs)
{
    const auto render = [&](const std::string& text) {
        auto r = render_template(text, inputs.values, {});
        return r.ok() ? *r : text;
    };
    const std::string label = render(step.anchor.label);
    for (std::size_t h = 0; h < workflow.hints.size(); ++h) {
        const StepHint& hint = workflow.hints[h];
        bool same = false;
        switch (step.action.kind) {
        case ActionKind::click:
        case ActionKind::double_click:
            if ((hint.kind == StepHint::Kind::click || hint.kind == StepHint::Kind::double_click
                    || (hint.kind == StepHint::Kind::type && !hint.target.empty()))
                && !label.empty()) {
                same = vision::text_similarity(render(hint.target), label) >= 0.8;
                for (const auto& other : hint.also)
                    same = same || vision::text_similarity(render(other), label) >= 0.8;
            }
            break;
        case ActionKind::type:
            same = hint.kind == StepHint::Kind::type && hint.text == step.action.text;
            break;
        case ActionKind::key:
            same = hint.kind == StepHint::Kind::key && ascii_lower(hint.text) == ascii_lower(step.action.text);
            break;
        case ActionKind::scroll:
            same = hint.kind == StepHint::Kind::scroll && hint.amount == step.action.scroll_dy;
            break;
        default:
            break;
        }
        if (same) {
            // Optional hints just before it ("click "Accept cookies" if present") are tried again too: what
            // they deal with may have appeared since the trace was recorded.
            while (h > 0 && workflow.hints[h - 1].optional)
                --h;
            return static_cast<int>(h);
        }
    }
    return -1;
}

SessionSpec session_spec(const Workflow& workflow, const RunOptions& options)
{
    SessionSpec spec;
    spec.provider = options.provider.empty() ? workflow.provider : options.provider;
    spec.start_url = workflow.start_url;
    spec.allowlist = workflow.policy.allow;
    spec.routes = workflow.policy.routes;
    spec.capture_limit = workflow.policy.capture ? kCaptureLimit : 0;
    spec.upstream_ca_file = options.ca_file;
    for (const auto& [host, to] : options.routes)
        spec.routes[host] = to;
    spec.width = workflow.width;
    spec.height = workflow.height;
    spec.scale = workflow.scale;
    spec.window = BrowserWindow::app;
    spec.image = options.image;
    spec.keep = options.keep;
    return spec;
}

Result<RunResult> run_workflow(
    store::Store& store, const Workflow& workflow, const RunInputs& inputs, const RunOptions& options)
{
    std::string plan_why;
    if (auto by_plan = ROTE_TRY(run_by_plan(store, workflow, inputs, options, plan_why)))
        return std::move(*by_plan);
    AgentRun run(store, workflow, inputs, options);
    auto result = run.run();
    if (result.ok() && !plan_why.empty())
        result->mode_why = plan_why;
    return result;
}

} // namespace rote::runtime
