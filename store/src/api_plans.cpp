// API plans and the runs they are proved against (docs/api.md): the store keeps them; api/ makes and runs them.

#include <rote/store/store.h>

#include <rote/base/text.h>

#include "codec.h"
#include "sqlite.h"
#include "store_internal.h"

namespace rote::store {

namespace {

constexpr std::array<std::pair<PlanStanding, std::string_view>, 3> kPlanStanding {
    {{PlanStanding::unproven, "unproven"}, {PlanStanding::proved, "proved"}, {PlanStanding::failed, "failed"}}};


constexpr const char* kPlanColumns
    = "SELECT p.id, w.name, p.trace_id, p.run_id, p.plan, p.writes, p.standing, p.proof, p.created_at"
      " FROM api_plans p JOIN workflows w ON w.id = p.workflow_id";

Result<ApiPlan> plan_row(const sql::Stmt& stmt)
{
    ApiPlan p;
    p.id = stmt.i64(0);
    p.workflow = stmt.text(1);
    p.trace_id = stmt.opt_i64(2);
    p.run_id = stmt.opt_i64(3);
    p.plan = stmt.text(4);
    p.writes = stmt.i64(5) != 0;
    auto standing = internal::parse_enum(kPlanStanding, stmt.text(6));
    if (!standing)
        return Error(Error::Code::corrupt, "API plan " + std::to_string(p.id) + " has the standing '" + stmt.text(6) + "'");
    p.standing = *standing;
    p.proof = stmt.text(7);
    p.created_at = stmt.text(8);
    return p;
}

} // namespace

std::string_view to_string(PlanStanding standing) { return internal::enum_name(kPlanStanding, standing); }

Result<std::vector<RunOutcome>> Store::run_outcomes(const std::string& workflow, int limit)
{
    const auto known = internal::workflow_id(m_db, workflow);
    if (!known.ok())
        return known.error().code() == Error::Code::not_found ? Result<std::vector<RunOutcome>>(std::vector<RunOutcome> {})
                                                                : known.error();
    const auto workflow_id = *known;
    auto stmt = ROTE_TRY(sql::Stmt::prepare(m_db,
        "SELECT id, coalesce(new_trace_id, trace_id), provider, status, inputs, outputs, started_at FROM runs"
        " WHERE workflow_id = ?1 AND status <> 'running' ORDER BY id DESC LIMIT ?2"));
    stmt.bind(1, workflow_id).bind(2, limit);
    std::vector<RunOutcome> out;
    while (ROTE_TRY(stmt.step())) {
        RunOutcome r;
        r.id = stmt.i64(0);
        r.trace_id = stmt.opt_i64(1);
        r.provider = stmt.text(2);
        r.status = parse_run_status(stmt.text(3)).value_or(RunStatus::failed);
        const std::string where = "run " + std::to_string(r.id);
        r.inputs = ROTE_TRY(codec::map_from_json(ROTE_TRY(codec::parse_stored(stmt.text(4), where + "'s inputs")), where + "'s inputs"));
        r.outputs = ROTE_TRY(
            codec::map_from_json(ROTE_TRY(codec::parse_stored(stmt.text(5), where + "'s outputs")), where + "'s outputs"));
        r.started_at = stmt.text(6);
        out.push_back(std::move(r));
    }
    return out;
}

Result<std::int64_t> Store::save_api_plan(const ApiPlan& plan)
{
    if (plan.plan.empty())
        return Error(Error::Code::invalid_argument, "an API plan needs its requests");
    auto tx = ROTE_TRY(sql::Transaction::begin(m_db));
    const auto workflow_id = ROTE_TRY(internal::workflow_id(m_db, plan.workflow));
    auto stmt = ROTE_TRY(sql::Stmt::prepare(m_db,
        "INSERT INTO api_plans (workflow_id, trace_id, run_id, plan, writes, standing, proof, created_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"));
    stmt.bind(1, workflow_id)
        .bind(2, plan.trace_id)
        .bind(3, plan.run_id)
        .bind(4, plan.plan)
        .bind(5, plan.writes ? 1 : 0)
        .bind(6, to_string(plan.standing))
        .bind(7, plan.proof)
        .bind(8, plan.created_at.empty() ? now_timestamp() : plan.created_at);
    ROTE_TRY(stmt.run());
    const std::int64_t id = sqlite3_last_insert_rowid(m_db);
    ROTE_TRY(tx.commit());
    return id;
}

Result<void> Store::set_api_plan_standing(std::int64_t id, PlanStanding standing, const std::string& proof)
{
    auto tx = ROTE_TRY(sql::Transaction::begin(m_db));
    auto stmt = ROTE_TRY(sql::Stmt::prepare(m_db, "UPDATE api_plans SET standing = ?2, proof = ?3 WHERE id = ?1"));
    stmt.bind(1, id).bind(2, to_string(standing)).bind(3, proof);
    ROTE_TRY(stmt.run());
    if (sqlite3_changes(m_db) == 0)
        return Error(Error::Code::not_found, "no API plan " + std::to_string(id));
    return tx.commit();
}

Result<ApiPlan> Store::api_plan(std::int64_t id)
{
    auto stmt = ROTE_TRY(sql::Stmt::prepare(m_db, std::string(kPlanColumns) + " WHERE p.id = ?1"));
    stmt.bind(1, id);
    if (!ROTE_TRY(stmt.step()))
        return Error(Error::Code::not_found, "no API plan " + std::to_string(id));
    return plan_row(stmt);
}

Result<std::vector<ApiPlan>> Store::api_plans(const std::string& workflow)
{
    const auto known = internal::workflow_id(m_db, workflow);
    if (!known.ok())
        return known.error().code() == Error::Code::not_found ? Result<std::vector<ApiPlan>>(std::vector<ApiPlan> {})
                                                                : known.error();
    const auto workflow_id = *known;
    auto stmt
        = ROTE_TRY(sql::Stmt::prepare(m_db, std::string(kPlanColumns) + " WHERE p.workflow_id = ?1 ORDER BY p.id DESC"));
    stmt.bind(1, workflow_id);
    std::vector<ApiPlan> out;
    while (ROTE_TRY(stmt.step()))
        out.push_back(ROTE_TRY(plan_row(stmt)));
    return out;
}

} // namespace rote::store
