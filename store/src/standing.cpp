// Versions on probation: which trace version a workflow's runs replay, and how a repair earns that place
// (docs/replay.md). Traces are immutable; their standing is the trace_standing table's, changed only here,
// each change one transaction.

#include <rote/store/store.h>

#include <rote/base/text.h>

#include "sqlite.h"
#include "store_internal.h"

namespace rote::store {

namespace {

constexpr std::array<std::pair<TraceRole, std::string_view>, 4> kRoles {{{TraceRole::default_version, "default"},
    {TraceRole::candidate, "candidate"}, {TraceRole::demoted, "demoted"}, {TraceRole::retired, "retired"}}};

TraceRole parse_role(const std::string& text)
{
    for (const auto& [role, name] : kRoles) {
        if (name == text)
            return role;
    }
    return TraceRole::retired; // the CHECK constraint allows no other
}

constexpr const char* kSelect
    = "SELECT t.id, t.version, t.parent_id, s.role, s.pinned, s.conditions, s.successes, s.failures, s.why, "
      "s.changed_at FROM traces t JOIN trace_standing s ON s.trace_id = t.id";

TraceStanding standing_from(const sql::Stmt& row)
{
    TraceStanding s;
    s.trace_id = row.i64(0);
    s.version = static_cast<int>(row.i64(1));
    s.parent_id = row.opt_i64(2);
    s.role = parse_role(row.text(3));
    s.pinned = row.i64(4) != 0;
    s.conditions = row.text(5);
    s.successes = static_cast<int>(row.i64(6));
    s.failures = static_cast<int>(row.i64(7));
    s.why = row.text(8);
    s.changed_at = row.text(9);
    return s;
}

Result<TraceStanding> standing_of(sqlite3* db, std::int64_t trace_id)
{
    auto stmt = ROTE_TRY(sql::Stmt::prepare(db, std::string(kSelect) + " WHERE t.id = ?1"));
    stmt.bind(1, trace_id);
    if (!ROTE_TRY(stmt.step()))
        return Error(Error::Code::not_found, "trace " + std::to_string(trace_id) + " has no standing (no such trace)");
    return standing_from(stmt);
}

Result<std::optional<TraceStanding>> default_of(sqlite3* db, std::int64_t workflow_id)
{
    auto stmt = ROTE_TRY(sql::Stmt::prepare(db, std::string(kSelect) + " WHERE t.workflow_id = ?1 AND s.role = 'default'"));
    stmt.bind(1, workflow_id);
    if (!ROTE_TRY(stmt.step()))
        return std::optional<TraceStanding>();
    return std::optional<TraceStanding>(standing_from(stmt));
}

Result<void> set_role(sqlite3* db, std::int64_t trace_id, TraceRole role, const std::string& why, bool pinned = false)
{
    auto stmt = ROTE_TRY(sql::Stmt::prepare(db,
        "UPDATE trace_standing SET role = ?2, pinned = ?3, why = ?4, changed_at = ?5 WHERE trace_id = ?1"));
    stmt.bind(1, trace_id).bind(2, to_string(role)).bind(3, pinned ? 1 : 0).bind(4, why).bind(5, now_timestamp());
    return stmt.run();
}

// Makes `trace_id` the default: the default before it becomes `old_role` (retired, or demoted by a rollback).
Result<void> make_default(sqlite3* db, std::int64_t workflow_id, std::int64_t trace_id, int version,
    const std::string& why, bool pinned, TraceRole old_role)
{
    if (auto old = ROTE_TRY(default_of(db, workflow_id)); old && old->trace_id != trace_id) {
        ROTE_TRY(set_role(db, old->trace_id, old_role,
            (old_role == TraceRole::demoted ? "rolled back to v" : "superseded by v") + std::to_string(version)));
    }
    return set_role(db, trace_id, TraceRole::default_version, why, pinned);
}

Result<std::int64_t> workflow_of(sqlite3* db, std::int64_t trace_id)
{
    return internal::single_int_bound(db, "SELECT coalesce((SELECT workflow_id FROM traces WHERE id = ?1), -1)", trace_id);
}

} // namespace

std::string_view to_string(TraceRole role)
{
    for (const auto& [r, name] : kRoles) {
        if (r == role)
            return name;
    }
    return "unknown";
}

namespace internal {

Result<void> stand_new_trace(sqlite3* db, std::int64_t trace_id, std::int64_t workflow_id, bool repair,
    const std::string& conditions, const std::string& why)
{
    auto stmt = ROTE_TRY(sql::Stmt::prepare(db,
        "INSERT INTO trace_standing (trace_id, role, conditions, why, changed_at) VALUES (?1, 'candidate', ?2, ?3, ?4)"));
    stmt.bind(1, trace_id).bind(2, conditions).bind(3, why).bind(4, now_timestamp());
    ROTE_TRY(stmt.run());
    // A workflow with no default yet takes its first trace, repaired or not (an import of a repair).
    if (!repair || !ROTE_TRY(default_of(db, workflow_id))) {
        const auto version = ROTE_TRY(single_int_bound(db, "SELECT version FROM traces WHERE id = ?1", trace_id));
        ROTE_TRY(make_default(db, workflow_id, trace_id, static_cast<int>(version), why, false, TraceRole::retired));
    }
    return {};
}

} // namespace internal

Result<std::vector<TraceStanding>> Store::trace_standings(const std::string& workflow)
{
    const auto workflow_id = ROTE_TRY(internal::workflow_id(m_db, workflow));
    auto stmt = ROTE_TRY(sql::Stmt::prepare(m_db, std::string(kSelect) + " WHERE t.workflow_id = ?1 ORDER BY t.version"));
    stmt.bind(1, workflow_id);
    std::vector<TraceStanding> out;
    while (ROTE_TRY(stmt.step()))
        out.push_back(standing_from(stmt));
    return out;
}

Result<TraceChoice> Store::choose_trace(const std::string& workflow, const std::string& conditions)
{
    TraceChoice choice;
    auto id = internal::workflow_id(m_db, workflow);
    if (!id.ok())
        return id.error().code() == Error::Code::not_found ? Result<TraceChoice>(choice) : id.error();
    const auto fallback = ROTE_TRY(default_of(m_db, *id));
    auto stmt = ROTE_TRY(sql::Stmt::prepare(m_db,
        std::string(kSelect) + " WHERE t.workflow_id = ?1 AND s.role = 'candidate' AND s.conditions = ?2"
                               " ORDER BY t.version DESC LIMIT 1"));
    stmt.bind(1, *id).bind(2, conditions);
    if (ROTE_TRY(stmt.step()) && !(fallback && fallback->pinned)) {
        const TraceStanding candidate = standing_from(stmt);
        choice.trace_id = candidate.trace_id;
        if (fallback)
            choice.fallback_id = fallback->trace_id;
        choice.why = "v" + std::to_string(candidate.version) + ", a candidate on probation (" + std::to_string(candidate.successes)
            + " of " + std::to_string(kPromoteAfter) + " runs for other inputs)"
            + (fallback ? ", v" + std::to_string(fallback->version) + " the fallback" : std::string());
        return choice;
    }
    if (fallback) {
        choice.trace_id = fallback->trace_id;
        choice.why = "v" + std::to_string(fallback->version) + ", the default" + (fallback->pinned ? " (pinned)" : "");
    }
    return choice;
}

Result<TraceStanding> Store::record_trace_run(std::int64_t trace_id, std::int64_t run_id, bool succeeded)
{
    auto tx = ROTE_TRY(sql::Transaction::begin(m_db));
    TraceStanding s = ROTE_TRY(standing_of(m_db, trace_id));
    const auto workflow_id = ROTE_TRY(workflow_of(m_db, trace_id));
    if (succeeded) {
        // Inputs other than those of the run that made it: the repair generalises, not only replays itself.
        auto differs = ROTE_TRY(sql::Stmt::prepare(m_db,
            "SELECT r.inputs <> coalesce((SELECT o.inputs FROM runs o JOIN traces t ON o.id = t.source_run_id"
            " WHERE t.id = ?2), '') FROM runs r WHERE r.id = ?1"));
        differs.bind(1, run_id).bind(2, trace_id);
        if (!ROTE_TRY(differs.step()))
            return Error(Error::Code::not_found, "run " + std::to_string(run_id) + " does not exist");
        const bool new_inputs = differs.i64(0) != 0;
        auto update = ROTE_TRY(sql::Stmt::prepare(m_db,
            "UPDATE trace_standing SET failures = 0, successes = successes + ?2 WHERE trace_id = ?1"));
        update.bind(1, trace_id).bind(2, new_inputs && s.role == TraceRole::candidate ? 1 : 0);
        ROTE_TRY(update.run());
        s = ROTE_TRY(standing_of(m_db, trace_id));
        if (s.role == TraceRole::candidate && s.successes >= kPromoteAfter) {
            const auto fallback = ROTE_TRY(default_of(m_db, workflow_id));
            if (fallback && fallback->pinned) {
                ROTE_TRY(set_role(m_db, trace_id, TraceRole::candidate,
                    "earned the default, but v" + std::to_string(fallback->version) + " is pinned"));
            } else if (fallback && fallback->conditions != s.conditions && !fallback->conditions.empty()) {
                // Made under other conditions (another window size or scale): it serves runs under those,
                // and never replaces the default for the others.
                ROTE_TRY(set_role(m_db, trace_id, TraceRole::candidate,
                    "serves runs under " + s.conditions + "; the default is made under " + fallback->conditions));
            } else {
                ROTE_TRY(make_default(m_db, workflow_id, trace_id, s.version,
                    "promoted: " + std::to_string(s.successes) + " runs for other inputs succeeded", false,
                    TraceRole::retired));
            }
        }
    } else {
        auto update = ROTE_TRY(sql::Stmt::prepare(m_db, "UPDATE trace_standing SET failures = failures + 1 WHERE trace_id = ?1"));
        update.bind(1, trace_id);
        ROTE_TRY(update.run());
        s = ROTE_TRY(standing_of(m_db, trace_id));
        if (s.role == TraceRole::candidate && s.failures >= kDemoteAfter)
            ROTE_TRY(set_role(m_db, trace_id, TraceRole::demoted, "demoted: " + std::to_string(s.failures) + " runs in a row failed on it"));
    }
    s = ROTE_TRY(standing_of(m_db, trace_id));
    ROTE_TRY(tx.commit());
    return s;
}

Result<TraceStanding> Store::set_trace_standing(const std::string& workflow, int version, TraceCommand command)
{
    auto tx = ROTE_TRY(sql::Transaction::begin(m_db));
    const auto workflow_id = ROTE_TRY(internal::workflow_id(m_db, workflow));
    auto find = ROTE_TRY(sql::Stmt::prepare(m_db, "SELECT id FROM traces WHERE workflow_id = ?1 AND version = ?2"));
    find.bind(1, workflow_id).bind(2, version);
    if (!ROTE_TRY(find.step()))
        return Error(Error::Code::not_found, workflow + " has no trace version " + std::to_string(version));
    const std::int64_t trace_id = find.i64(0);
    const TraceStanding now = ROTE_TRY(standing_of(m_db, trace_id));
    switch (command) {
    case TraceCommand::promote:
        ROTE_TRY(make_default(m_db, workflow_id, trace_id, version, "promoted by hand", false, TraceRole::retired));
        break;
    case TraceCommand::pin:
        ROTE_TRY(make_default(m_db, workflow_id, trace_id, version, "pinned by hand: no run changes the default", true,
            TraceRole::retired));
        break;
    case TraceCommand::unpin:
        if (now.role != TraceRole::default_version || !now.pinned)
            return Error(Error::Code::conflict, workflow + " v" + std::to_string(version) + " is not the pinned default");
        ROTE_TRY(set_role(m_db, trace_id, TraceRole::default_version, "unpinned by hand", false));
        break;
    case TraceCommand::demote:
        if (now.role == TraceRole::default_version)
            return Error(Error::Code::conflict,
                workflow + " v" + std::to_string(version) + " is the default: roll back to another version instead");
        ROTE_TRY(set_role(m_db, trace_id, TraceRole::demoted, "demoted by hand"));
        break;
    case TraceCommand::rollback:
        ROTE_TRY(make_default(m_db, workflow_id, trace_id, version, "rolled back to by hand", false, TraceRole::demoted));
        break;
    }
    const TraceStanding after = ROTE_TRY(standing_of(m_db, trace_id));
    ROTE_TRY(tx.commit());
    return after;
}

} // namespace rote::store
