#include <rote/store/store.h>

#include <map>

#include "sqlite.h"
#include "store_internal.h"

namespace rote::store {

namespace {

void add(CostFigures& into, const CostFigures& f)
{
    into.runs += f.runs;
    into.succeeded += f.succeeded;
    into.api_runs += f.api_runs;
    into.llm_calls += f.llm_calls;
    into.input_tokens += f.input_tokens;
    into.output_tokens += f.output_tokens;
    into.cache_read_tokens += f.cache_read_tokens;
    into.cache_write_tokens += f.cache_write_tokens;
    into.cost_microusd += f.cost_microusd;
    into.steps += f.steps;
    into.steps_replayed += f.steps_replayed;
    into.wall_ms += f.wall_ms;
    into.sandbox_ms += f.sandbox_ms;
}

} // namespace

Result<std::map<std::string, ModelSteps>> Store::model_steps()
{
    auto stmt = ROTE_TRY(sql::Stmt::prepare(m_db, R"sql(
        SELECT w.name, sum(c.cost), sum(coalesce(p.planned, 0))
        FROM runs r
        JOIN workflows w ON w.id = r.workflow_id
        JOIN (SELECT run_id, sum(cost_microusd) AS cost FROM llm_calls WHERE run_id IS NOT NULL GROUP BY run_id) c
          ON c.run_id = r.id
        LEFT JOIN (SELECT run_id, count(*) AS planned FROM run_steps WHERE outcome = 'planned' GROUP BY run_id) p
          ON p.run_id = r.id
        GROUP BY w.name)sql"));
    std::map<std::string, ModelSteps> steps;
    while (ROTE_TRY(stmt.step()))
        steps[stmt.text(0)] = {stmt.i64(1), stmt.i64(2)};
    return steps;
}

Result<Report> Store::report(const ReportQuery& query)
{
    Report report;
    report.query = query;
    if (query.since)
        report.query.since = ROTE_TRY(parse_timestamp(*query.since));
    if (query.workflow)
        ROTE_TRY(internal::workflow_id(m_db, *query.workflow)); // an unknown name is an error, not an empty report

    // One row per run with its step and LLM figures; per-workflow and total figures are summed from these
    // rows below, so the three levels cannot disagree.
    auto stmt = ROTE_TRY(sql::Stmt::prepare(m_db, R"sql(
        SELECT r.id, w.name, r.status, r.started_at, r.wall_ms, r.sandbox_ms,
               coalesce(s.steps, 0), coalesce(s.replayed, 0),
               coalesce(c.calls, 0), coalesce(c.tokens_in, 0), coalesce(c.tokens_out, 0),
               coalesce(c.cache_read, 0), coalesce(c.cache_write, 0), coalesce(c.cost, 0),
               r.trace_id, r.planner, r.error,
               (SELECT sc.name FROM schedule_fires f JOIN schedules sc ON sc.id = f.schedule_id WHERE f.id = r.fire_id),
               r.provider = 'api'
        FROM runs r
        JOIN workflows w ON w.id = r.workflow_id
        LEFT JOIN (SELECT run_id, count(*) AS steps,
                          sum(outcome IN ('replayed', 'relocated')) AS replayed
                   FROM run_steps GROUP BY run_id) s ON s.run_id = r.id
        LEFT JOIN (SELECT run_id, count(*) AS calls, sum(input_tokens) AS tokens_in,
                          sum(output_tokens) AS tokens_out, sum(cache_read_tokens) AS cache_read,
                          sum(cache_write_tokens) AS cache_write, sum(cost_microusd) AS cost
                   FROM llm_calls WHERE run_id IS NOT NULL GROUP BY run_id) c ON c.run_id = r.id
        WHERE (?1 IS NULL OR w.name = ?1) AND (?2 IS NULL OR r.started_at >= ?2) AND (?3 IS NULL OR r.id = ?3)
        ORDER BY r.started_at, r.id)sql"));
    stmt.bind(1, report.query.workflow).bind(2, report.query.since).bind(3, report.query.run);

    std::map<std::string, CostFigures> by_workflow;
    std::map<std::string, ScheduleReport> by_schedule;
    while (ROTE_TRY(stmt.step())) {
        RunReport run;
        run.id = stmt.i64(0);
        run.workflow = stmt.text(1);
        const auto status = parse_run_status(stmt.text(2));
        if (!status)
            return Error(Error::Code::corrupt, "run " + std::to_string(run.id) + " has an unknown status");
        run.status = *status;
        run.started_at = stmt.text(3);
        run.trace_id = stmt.opt_i64(14);
        run.planner = stmt.text(15);
        run.error = stmt.text(16);
        CostFigures& f = run.figures;
        f.runs = 1;
        f.succeeded = run.status == RunStatus::succeeded ? 1 : 0;
        f.api_runs = stmt.i64(18);
        f.wall_ms = stmt.i64(4);
        f.sandbox_ms = stmt.i64(5);
        f.steps = stmt.i64(6);
        f.steps_replayed = stmt.i64(7);
        f.llm_calls = stmt.i64(8);
        f.input_tokens = stmt.i64(9);
        f.output_tokens = stmt.i64(10);
        f.cache_read_tokens = stmt.i64(11);
        f.cache_write_tokens = stmt.i64(12);
        f.cost_microusd = stmt.i64(13);
        add(by_workflow[run.workflow], f);
        run.schedule = stmt.opt_text(17);
        if (run.schedule) {
            auto& sr = by_schedule[*run.schedule];
            add(sr.figures, f);
            add(sr.days[run.started_at.substr(0, 10)], f);
        }
        add(report.total, f);
        report.runs.push_back(std::move(run));
    }
    if (query.run && report.runs.empty())
        return Error(Error::Code::not_found, "no run " + std::to_string(*query.run));
    for (auto& [name, figures] : by_workflow)
        report.workflows.push_back({name, figures});

    auto fires = ROTE_TRY(sql::Stmt::prepare(m_db, R"sql(
        SELECT sc.name, w.name, f.status, count(*)
        FROM schedule_fires f JOIN schedules sc ON sc.id = f.schedule_id JOIN workflows w ON w.id = sc.workflow_id
        WHERE (?1 IS NULL OR w.name = ?1) AND (?2 IS NULL OR f.scheduled_at >= ?2)
          AND (?3 IS NULL OR f.id = (SELECT fire_id FROM runs WHERE id = ?3))
        GROUP BY sc.name, w.name, f.status)sql"));
    fires.bind(1, report.query.workflow).bind(2, report.query.since).bind(3, report.query.run);
    while (ROTE_TRY(fires.step())) {
        auto& sr = by_schedule[fires.text(0)];
        sr.workflow = fires.text(1);
        sr.fires[fires.text(2)] = fires.i64(3);
    }
    for (auto& [name, sr] : by_schedule) {
        sr.schedule = name;
        if (sr.workflow.empty()) { // runs of a fire whose schedule's workflow we did not read above
            for (const auto& r : report.runs) {
                if (r.schedule == name)
                    sr.workflow = r.workflow;
            }
        }
        report.schedules.push_back(std::move(sr));
    }
    return report;
}

} // namespace rote::store
