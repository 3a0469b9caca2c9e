#include <rote/scheduler/scheduler.h>

#include <climits>
#include <cstdio>

#include <nlohmann/json.hpp>

#include <rote/base/log.h>
#include <rote/base/text.h>

namespace rote::scheduler {

using namespace std::chrono;
using nlohmann::json;

namespace {

// The alert document's common part: which schedule, its workflow, when.
json alert_head(const std::string& event, const store::Schedule& schedule)
{
    return {{"event", event}, {"schedule", schedule.name}, {"workflow", schedule.workflow}, {"cron", schedule.cron},
        {"zone", schedule.zone}, {"sent_at", now_timestamp()}};
}

} // namespace

std::vector<FireDecision> decide_fires(const Cron& cron, const Zone& zone, const store::Schedule& schedule,
    sys_seconds last, sys_seconds now, int running_of_schedule, bool slot_free, std::size_t limit)
{
    std::vector<sys_seconds> due;
    for (auto t = next_fire(cron, zone, last); t && *t <= now && due.size() < limit; t = next_fire(cron, zone, *t))
        due.push_back(*t);
    std::vector<FireDecision> out;
    const sys_seconds window_start = now - seconds(schedule.catchup_seconds);
    std::optional<sys_seconds> newest;
    for (auto t : due) {
        if (t < window_start)
            out.push_back({FireDecision::Kind::missed, t,
                "not run by " + iso_utc(window_start + seconds(schedule.catchup_seconds))
                    + ": no scheduler was running within its catch-up window (" + std::to_string(schedule.catchup_seconds)
                    + " s)"});
        else
            newest = t;
    }
    if (!newest)
        return out;
    for (auto t : due) {
        if (t >= window_start && t < *newest)
            out.push_back({FireDecision::Kind::skipped, t, "superseded by the fire at " + iso_utc(*newest)
                    + ": fires missed within the catch-up window run once"});
    }
    FireDecision last_one {FireDecision::Kind::start, *newest, ""};
    if (running_of_schedule > 0 && schedule.overlap == store::Overlap::skip) {
        last_one.kind = FireDecision::Kind::skipped;
        last_one.why = "a fire of this schedule was still running (overlap: skip)";
    } else if (running_of_schedule > 0 && schedule.overlap == store::Overlap::buffer_one) {
        last_one.kind = FireDecision::Kind::wait;
        last_one.why = "waits for the running fire (overlap: buffer-one)";
    } else if (!slot_free) {
        last_one.kind = FireDecision::Kind::wait;
        last_one.why = "waits for a free slot (the scheduler's concurrency limit, or its limit per site)";
    }
    out.push_back(last_one);
    return out;
}

Scheduler::Scheduler(SchedulerOptions options)
    : m_options(std::move(options))
{
    if (m_options.concurrency < 1)
        m_options.concurrency = 1;
    if (m_options.pool_size > 0) {
        m_pool = std::make_unique<runtime::SessionPool>(m_options.pool_size, m_options.log);
        m_options.run.pool = m_pool.get();
    }
}

Scheduler::~Scheduler()
{
    drain(true);
    wait();
}

void Scheduler::log(const std::string& line) const
{
    if (m_options.log)
        m_options.log(line);
    logger("scheduler")->info("{}", line);
}

void Scheduler::reap()
{
    std::lock_guard lock(m_mutex);
    m_workers.remove_if([](const Worker& w) { return w.done.load(); });
}

int Scheduler::running() const
{
    std::lock_guard lock(m_mutex);
    int n = 0;
    for (const auto& w : m_workers)
        n += !w.done.load();
    return n;
}

int Scheduler::running_at(const std::string& site) const
{
    std::lock_guard lock(m_mutex);
    int n = 0;
    for (const auto& w : m_workers)
        n += !w.done.load() && w.site == site;
    return n;
}

void Scheduler::drain(bool cancel)
{
    m_draining = true;
    if (m_pool)
        m_pool->drain();
    if (cancel)
        m_cancel.request_stop();
}

void Scheduler::wait()
{
    std::list<Worker> workers;
    {
        std::lock_guard lock(m_mutex);
        workers.splice(workers.end(), m_workers);
    }
    workers.clear(); // joins
}

Result<TickOutcome> Scheduler::tick(sys_seconds now)
{
    reap();
    TickOutcome outcome;
    if (m_draining)
        return outcome;
    if (!m_store)
        m_store = ROTE_TRY(store::Store::open(m_options.store_path));
    auto& store = *m_store;
    for (const auto& schedule : ROTE_TRY(store.list_schedules())) {
        if (schedule.paused)
            continue;
        auto cron = parse_cron(schedule.cron);
        auto zone = cron.ok() ? Zone::find(schedule.zone) : Result<Zone>(cron.error());
        if (!zone.ok()) {
            const std::string why = "cannot be scheduled: " + zone.error().message();
            ROTE_TRY(store.set_schedule_paused(schedule.name, true, why));
            log("schedule " + schedule.name + " paused: " + why);
            continue;
        }
        auto from = ROTE_TRY(parse_iso_utc(schedule.from));
        if (auto last = ROTE_TRY(store.last_fire_time(schedule.id)); last) {
            if (auto t = parse_iso_utc(*last); t.ok() && *t > from)
                from = *t;
        }
        const int running_of_schedule = ROTE_TRY(store.running_fires(schedule.id));
        json missed = json::array();
        std::string site;
        if ((m_options.per_site > 0 || m_pool) && m_options.find_workflow) {
            if (auto w = m_options.find_workflow(schedule.workflow); w.ok()) {
                site = ascii_lower(runtime::url_host(w->start_url));
                if (m_pool)
                    m_pool->warm(runtime::session_spec(*w, m_options.run));
            }
        }
        const bool slot_free = running() < m_options.concurrency
            && (m_options.per_site == 0 || site.empty() || running_at(site) < m_options.per_site);
        for (const auto& d : decide_fires(*cron, *zone, schedule, from, now, running_of_schedule, slot_free)) {
            const std::string at = iso_utc(d.at);
            const std::string named = "schedule " + schedule.name + ", fire at " + at + " (" + zone->local_text(d.at) + ")";
            switch (d.kind) {
            case FireDecision::Kind::wait:
                ++outcome.waiting;
                break;
            case FireDecision::Kind::missed:
            case FireDecision::Kind::skipped: {
                const auto status = d.kind == FireDecision::Kind::missed ? store::FireStatus::missed : store::FireStatus::skipped;
                if (ROTE_TRY(store.claim_fire(schedule.id, at, status, d.why))) {
                    (status == store::FireStatus::missed ? outcome.missed : outcome.skipped) += 1;
                    if (status == store::FireStatus::missed)
                        missed.push_back({{"scheduled_at", at}, {"why", d.why}});
                    log(named + ": " + std::string(store::to_string(status)) + ", " + d.why);
                }
                break;
            }
            case FireDecision::Kind::start: {
                const auto fire = ROTE_TRY(store.claim_fire(schedule.id, at, store::FireStatus::running, ""));
                if (!fire) {
                    log(named + ": claimed by another scheduler");
                    break;
                }
                ++outcome.started;
                log(named + ": started, " + std::to_string(schedule.rows.size()) + " run(s) of " + schedule.workflow);
                std::lock_guard lock(m_mutex);
                auto& worker = m_workers.emplace_back();
                worker.site = site;
                worker.thread = std::jthread([this, &worker, id = *fire, schedule, at] {
                    run_fire(id, schedule, at);
                    worker.done = true;
                });
                break;
            }
            }
        }
        if (!missed.empty() && m_options.alerts && (!schedule.alert_webhook.empty() || !schedule.alert_command.empty())) {
            auto doc = alert_head("fire.missed", schedule);
            doc["fires"] = missed;
            m_options.alerts->send({"fire.missed", schedule.name, doc.dump(), schedule.alert_webhook, schedule.alert_command});
        }
        if (auto next = next_fire(*cron, *zone, now); next && (!outcome.next || *next < *outcome.next))
            outcome.next = next;
    }
    return outcome;
}

void Scheduler::run_fire(std::int64_t fire_id, store::Schedule schedule, std::string at)
{
    const std::string named = "schedule " + schedule.name + ", fire at " + at;
    auto opened = store::Store::open(m_options.store_path);
    if (!opened.ok()) {
        log(named + ": cannot open the store: " + opened.error().message());
        ++m_failed;
        return; // the fire stays running; the next open of the store ends it as interrupted once we exit
    }
    auto& store = **opened;
    json runs = json::array();
    bool needed_planner = false;
    bool budget_spent = false;
    std::int64_t cost = 0;
    int planner_calls = 0;
    const auto end = [&](store::FireStatus status, const std::string& detail) {
        if (status != store::FireStatus::succeeded)
            ++m_failed;
        std::vector<const char*> events;
        if (status == store::FireStatus::failed)
            events.push_back("fire.failed");
        if (needed_planner)
            events.push_back("fire.planner");
        if (budget_spent)
            events.push_back("budget.spent");
        if (m_options.alerts && (!schedule.alert_webhook.empty() || !schedule.alert_command.empty())) {
            for (const char* event : events) {
                auto doc = alert_head(event, schedule);
                doc["fire"] = {{"id", fire_id}, {"scheduled_at", at}, {"status", store::to_string(status)}, {"detail", detail}};
                doc["runs"] = runs;
                doc["planner_calls"] = planner_calls;
                doc["cost_usd"] = static_cast<double>(cost) / 1e6;
                m_options.alerts->send({event, schedule.name, doc.dump(), schedule.alert_webhook, schedule.alert_command});
            }
        }
        if (auto ended = store.finish_fire(fire_id, status, detail); !ended.ok())
            log(named + ": cannot record its end: " + ended.error().message());
        log(named + ": " + std::string(store::to_string(status)) + (detail.empty() ? "" : ", " + detail));
        if (status != store::FireStatus::failed || schedule.pause_after == 0)
            return;
        auto in_a_row = store.failed_fires_in_a_row(schedule.id);
        if (in_a_row.ok() && *in_a_row >= schedule.pause_after) {
            const std::string why = std::to_string(*in_a_row) + " fires in a row failed (the last at " + at + ": " + detail + ")";
            if (store.set_schedule_paused(schedule.name, true, why).ok())
                log("schedule " + schedule.name + " paused: " + why + "; rote schedule resume " + schedule.name + " when it is mended");
        }
    };
    auto workflow = m_options.find_workflow ? m_options.find_workflow(schedule.workflow)
                                            : Result<runtime::Workflow>(Error(Error::Code::not_found, "no workflow lookup"));
    if (!workflow.ok())
        return end(store::FireStatus::failed, "workflow " + schedule.workflow + ": " + workflow.error().message());
    runtime::RunOptions options = m_options.run;
    options.planner = schedule.planner == "llm" ? runtime::PlannerKind::llm : runtime::PlannerKind::hints;
    options.llm = m_options.llm;
    options.stop = m_cancel.get_token();
    options.fire_id = fire_id;
    if (options.planner == runtime::PlannerKind::llm && !options.llm)
        return end(store::FireStatus::failed, "its planner is llm and the scheduler has no model (see rote llm config)");

    std::optional<Zone> zone;
    if (auto z = Zone::find(schedule.zone); z.ok())
        zone = std::move(*z);
    const size_t n = schedule.rows.size();
    size_t done = 0, failed = 0;
    std::string first_error;
    for (auto row : schedule.rows) {
        if (m_draining || m_cancel.stop_requested())
            return end(store::FireStatus::interrupted,
                "the scheduler stopped after " + std::to_string(done) + " of " + std::to_string(n) + " runs ("
                    + std::to_string(failed) + " failed)");
        runtime::secrets_from_environment(*workflow, row);
        auto inputs = runtime::check_inputs(*workflow, row);
        ++done;
        if (!inputs.ok()) {
            ++failed;
            if (first_error.empty())
                first_error = "row " + std::to_string(done) + ": " + inputs.error().message();
            continue;
        }
        if ((schedule.budget_calls || schedule.budget_microusd) && zone) {
            const auto day = zone->start_of_day(floor<seconds>(system_clock::now()));
            auto spent = store.schedule_spend(schedule.id, iso_utc(day));
            if (!spent.ok())
                return end(store::FireStatus::failed, "cannot read what its runs spent today: " + spent.error().message());
            std::string limits;
            if (schedule.budget_calls)
                limits += std::to_string(*schedule.budget_calls) + " model calls";
            if (schedule.budget_microusd) {
                char dollars[32];
                std::snprintf(dollars, sizeof dollars, "$%.2f", static_cast<double>(*schedule.budget_microusd) / 1e6);
                limits += (limits.empty() ? "" : " and ") + std::string(dollars);
            }
            options.model_budget = runtime::RunOptions::ModelBudget {
                schedule.budget_calls ? std::max(0, *schedule.budget_calls - spent->model_calls) : INT_MAX,
                schedule.budget_microusd ? std::max<std::int64_t>(0, *schedule.budget_microusd - spent->cost_microusd) : INT64_MAX,
                "schedule " + schedule.name + "'s model budget for the day (" + limits + " a day in " + schedule.zone
                    + ") is spent; its runs replay only until the day ends"};
        }
        auto result = runtime::run_workflow(store, *workflow, *inputs, options);
        if (!result.ok()) {
            ++failed;
            if (first_error.empty())
                first_error = "row " + std::to_string(done) + ": " + result.error().message();
            continue;
        }
        json divergences = json::array();
        for (const auto& d : result->divergences)
            divergences.push_back({{"trace_step", d.trace_step}, {"expected", d.expected}, {"why", d.why}});
        runs.push_back({{"id", result->run_id}, {"status", store::to_string(result->status)}, {"error", result->error},
            {"replayed", result->replayed + result->relocated}, {"planned", result->planned},
            {"planner_calls", result->planner_calls}, {"cost_usd", static_cast<double>(result->cost_microusd) / 1e6},
            {"divergences", divergences}});
        needed_planner |= result->planned > 0 || result->planner_calls > 0;
        budget_spent |= result->error.find("budget spent: schedule ") != std::string::npos;
        cost += result->cost_microusd;
        planner_calls += result->planner_calls;
        log(named + ": run " + std::to_string(result->run_id) + " (" + std::to_string(done) + "/" + std::to_string(n)
            + ") " + std::string(store::to_string(result->status)) + ", " + std::to_string(result->planner_calls)
            + " planner calls" + (result->warm ? ", in a warm sandbox" : ""));
        if (result->status == store::RunStatus::cancelled)
            return end(store::FireStatus::interrupted,
                "cancelled in run " + std::to_string(result->run_id) + " (" + std::to_string(done) + " of " + std::to_string(n) + ")");
        if (result->status != store::RunStatus::succeeded) {
            ++failed;
            if (first_error.empty())
                first_error = "run " + std::to_string(result->run_id) + ": " + result->error;
        }
    }
    if (failed == 0)
        return end(store::FireStatus::succeeded, std::to_string(n) + " of " + std::to_string(n) + " runs succeeded");
    end(store::FireStatus::failed, std::to_string(failed) + " of " + std::to_string(n) + " runs failed; " + first_error);
}

} // namespace rote::scheduler
