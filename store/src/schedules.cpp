// Schedules and their fires (docs/schedules.md). The store decides nothing about time: the scheduler says
// which fires are due; the store makes each (schedule, scheduled time) claimable once.
#include <rote/store/store.h>

#include <sqlite3.h>

#include <nlohmann/json.hpp>

#include <rote/base/text.h>

#include "codec.h"
#include "sqlite.h"
#include "store_internal.h"

namespace rote::store {

namespace {

Error invalid(std::string message) { return Error(Error::Code::invalid_argument, std::move(message)); }

constexpr const char* kScheduleColumns
    = "SELECT s.id, s.name, w.name, s.cron, s.zone, s.rows, s.planner, s.overlap, s.catchup_s, s.pause_after,"
      " s.paused, s.paused_why, s.from_time, s.created_at, s.budget_microusd, s.budget_calls, s.alert_webhook,"
      " s.alert_command FROM schedules s JOIN workflows w ON w.id = s.workflow_id";

Result<Schedule> read_schedule(const sql::Stmt& stmt)
{
    Schedule s;
    s.id = stmt.i64(0);
    s.name = stmt.text(1);
    s.workflow = stmt.text(2);
    s.cron = stmt.text(3);
    s.zone = stmt.text(4);
    const std::string where = "schedule " + s.name + "'s rows";
    const auto rows = ROTE_TRY(codec::parse_stored(stmt.text(5), where));
    if (!rows.is_array())
        return Error(Error::Code::corrupt, where + " are not a JSON array");
    s.rows.clear();
    for (const auto& row : rows)
        s.rows.push_back(ROTE_TRY(codec::map_from_json(row, where)));
    s.planner = stmt.text(6);
    const auto overlap = parse_overlap(stmt.text(7));
    if (!overlap)
        return Error(Error::Code::corrupt, "schedule " + s.name + " has an unknown overlap policy");
    s.overlap = *overlap;
    s.catchup_seconds = stmt.i64(8);
    s.pause_after = static_cast<int>(stmt.i64(9));
    s.paused = stmt.i64(10) != 0;
    s.paused_why = stmt.text(11);
    s.from = stmt.text(12);
    s.created_at = stmt.text(13);
    s.budget_microusd = stmt.opt_i64(14);
    if (auto calls = stmt.opt_i64(15))
        s.budget_calls = static_cast<int>(*calls);
    s.alert_webhook = stmt.text(16);
    s.alert_command = stmt.text(17);
    return s;
}

Result<Schedule> schedule_by_name(sqlite3* db, const std::string& name)
{
    auto stmt = ROTE_TRY(sql::Stmt::prepare(db, std::string(kScheduleColumns) + " WHERE s.name = ?1"));
    stmt.bind(1, name);
    if (!ROTE_TRY(stmt.step()))
        return Error(Error::Code::not_found, "no schedule named " + name + " (see rote schedule list)");
    return read_schedule(stmt);
}

} // namespace

Result<std::int64_t> Store::add_schedule(const Schedule& s)
{
    const bool named = !s.name.empty() && s.name.size() <= 100
        && s.name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == std::string::npos;
    if (!named)
        return invalid("a schedule's name has 1 to 100 letters, digits, '.', '_' or '-', not \"" + s.name + "\"");
    if (s.cron.empty() || s.zone.empty())
        return invalid("a schedule needs a cron expression and a time zone");
    if (s.planner != "hints" && s.planner != "llm")
        return invalid("a schedule's planner is hints or llm, not " + s.planner);
    if (s.rows.empty())
        return invalid("a schedule needs at least one row of inputs");
    if (s.catchup_seconds < 0 || s.pause_after < 0 || s.budget_microusd.value_or(0) < 0 || s.budget_calls.value_or(0) < 0)
        return invalid("a schedule's catch-up window, pause rule and budgets cannot be negative");
    if (!s.alert_webhook.empty() && s.alert_webhook.rfind("http://", 0) != 0 && s.alert_webhook.rfind("https://", 0) != 0)
        return invalid("a schedule's alert webhook is an http:// or https:// URL, not \"" + s.alert_webhook + "\"");
    const std::string from = s.from.empty() ? now_timestamp() : ROTE_TRY(parse_timestamp(s.from));
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& row : s.rows)
        rows.push_back(codec::to_json(row));
    auto tx = ROTE_TRY(sql::Transaction::begin(m_db));
    const auto workflow_id = ROTE_TRY(internal::workflow_id(m_db, s.workflow));
    auto taken = ROTE_TRY(sql::Stmt::prepare(m_db, "SELECT 1 FROM schedules WHERE name = ?1"));
    taken.bind(1, s.name);
    if (ROTE_TRY(taken.step()))
        return Error(Error::Code::conflict, "a schedule named " + s.name + " exists (rote schedule rm it first)");
    auto stmt = ROTE_TRY(sql::Stmt::prepare(m_db,
        "INSERT INTO schedules (name, workflow_id, cron, zone, rows, planner, overlap, catchup_s, pause_after, paused,"
        " paused_why, from_time, created_at, budget_microusd, budget_calls, alert_webhook, alert_command)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"));
    stmt.bind(1, s.name)
        .bind(2, workflow_id)
        .bind(3, s.cron)
        .bind(4, s.zone)
        .bind(5, rows.dump())
        .bind(6, s.planner)
        .bind(7, to_string(s.overlap))
        .bind(8, s.catchup_seconds)
        .bind(9, s.pause_after)
        .bind(10, s.paused ? 1 : 0)
        .bind(11, s.paused_why)
        .bind(12, from)
        .bind(13, now_timestamp())
        .bind(14, s.budget_microusd)
        .bind(15, s.budget_calls)
        .bind(16, s.alert_webhook)
        .bind(17, s.alert_command);
    ROTE_TRY(stmt.run());
    const std::int64_t id = sqlite3_last_insert_rowid(m_db);
    ROTE_TRY(tx.commit());
    return id;
}

Result<std::vector<Schedule>> Store::list_schedules()
{
    auto stmt = ROTE_TRY(sql::Stmt::prepare(m_db, std::string(kScheduleColumns) + " ORDER BY s.name"));
    std::vector<Schedule> out;
    while (ROTE_TRY(stmt.step()))
        out.push_back(ROTE_TRY(read_schedule(stmt)));
    return out;
}

Result<Schedule> Store::get_schedule(const std::string& name) { return schedule_by_name(m_db, name); }

Result<Schedule> Store::set_schedule_paused(const std::string& name, bool paused, const std::string& why)
{
    auto tx = ROTE_TRY(sql::Transaction::begin(m_db));
    const auto before = ROTE_TRY(schedule_by_name(m_db, name));
    auto stmt = ROTE_TRY(sql::Stmt::prepare(m_db,
        paused ? "UPDATE schedules SET paused = 1, paused_why = ?2 WHERE id = ?1"
               : "UPDATE schedules SET paused = 0, paused_why = '', from_time = ?3 WHERE id = ?1"));
    stmt.bind(1, before.id);
    if (paused)
        stmt.bind(2, why);
    else
        stmt.bind(3, now_timestamp());
    ROTE_TRY(stmt.run());
    auto after = ROTE_TRY(schedule_by_name(m_db, name));
    ROTE_TRY(tx.commit());
    return after;
}

Result<void> Store::remove_schedule(const std::string& name)
{
    auto tx = ROTE_TRY(sql::Transaction::begin(m_db));
    const auto s = ROTE_TRY(schedule_by_name(m_db, name));
    auto stmt = ROTE_TRY(sql::Stmt::prepare(m_db, "DELETE FROM schedules WHERE id = ?1"));
    stmt.bind(1, s.id);
    ROTE_TRY(stmt.run());
    return tx.commit();
}

Result<std::optional<std::int64_t>> Store::claim_fire(
    std::int64_t schedule_id, const std::string& scheduled_at, FireStatus status, const std::string& detail)
{
    if (status != FireStatus::running && status != FireStatus::skipped && status != FireStatus::missed)
        return invalid("a fire is claimed running, or recorded skipped or missed");
    const std::string at = ROTE_TRY(parse_timestamp(scheduled_at));
    const internal::Owner me = internal::this_process();
    const bool running = status == FireStatus::running;
    auto tx = ROTE_TRY(sql::Transaction::begin(m_db));
    // The unique (schedule, scheduled time) decides: whoever inserts first has the fire.
    auto stmt = ROTE_TRY(sql::Stmt::prepare(m_db,
        "INSERT INTO schedule_fires (schedule_id, scheduled_at, status, detail, started_at, finished_at, pid, pid_ns,"
        " boot_id, start_ticks) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
        " ON CONFLICT (schedule_id, scheduled_at) DO NOTHING"));
    const std::string now = now_timestamp();
    stmt.bind(1, schedule_id)
        .bind(2, at)
        .bind(3, to_string(status))
        .bind(4, detail)
        .bind(5, now)
        .bind(6, running ? std::optional<std::string>() : now)
        .bind(7, me.pid)
        .bind(8, me.pid_ns)
        .bind(9, me.boot_id)
        .bind(10, me.start_ticks);
    ROTE_TRY(stmt.run());
    if (sqlite3_changes(m_db) == 0)
        return std::optional<std::int64_t>();
    const std::int64_t id = sqlite3_last_insert_rowid(m_db);
    ROTE_TRY(tx.commit());
    return std::optional<std::int64_t>(id);
}

Result<void> Store::finish_fire(std::int64_t fire_id, FireStatus status, const std::string& detail)
{
    if (status != FireStatus::succeeded && status != FireStatus::failed && status != FireStatus::interrupted)
        return invalid("a fire ends succeeded, failed or interrupted");
    auto tx = ROTE_TRY(sql::Transaction::begin(m_db));
    auto stmt = ROTE_TRY(sql::Stmt::prepare(m_db,
        "UPDATE schedule_fires SET status = ?2, detail = ?3, finished_at = ?4 WHERE id = ?1 AND status = 'running'"));
    stmt.bind(1, fire_id).bind(2, to_string(status)).bind(3, detail).bind(4, now_timestamp());
    ROTE_TRY(stmt.run());
    if (sqlite3_changes(m_db) == 0)
        return Error(Error::Code::conflict, "fire " + std::to_string(fire_id) + " is not running");
    return tx.commit();
}

Result<std::vector<Fire>> Store::fires(const std::string& schedule, int limit)
{
    const auto s = ROTE_TRY(schedule_by_name(m_db, schedule));
    auto stmt = ROTE_TRY(sql::Stmt::prepare(m_db,
        "SELECT id, scheduled_at, status, started_at, finished_at, detail FROM schedule_fires WHERE schedule_id = ?1"
        " ORDER BY scheduled_at DESC LIMIT ?2"));
    stmt.bind(1, s.id).bind(2, limit);
    auto runs = ROTE_TRY(sql::Stmt::prepare(m_db, "SELECT id, status FROM runs WHERE fire_id = ?1 ORDER BY id"));
    std::vector<Fire> out;
    while (ROTE_TRY(stmt.step())) {
        Fire f;
        f.id = stmt.i64(0);
        f.schedule_id = s.id;
        f.schedule = s.name;
        f.scheduled_at = stmt.text(1);
        const auto status = internal::parse_fire_status(stmt.text(2));
        if (!status)
            return Error(Error::Code::corrupt, "fire " + std::to_string(f.id) + " has an unknown status");
        f.status = *status;
        f.started_at = stmt.text(3);
        f.finished_at = stmt.opt_text(4);
        f.detail = stmt.text(5);
        runs.reset();
        runs.bind(1, f.id);
        while (ROTE_TRY(runs.step())) {
            f.runs.push_back(runs.i64(0));
            const std::string run_status = runs.text(1);
            f.failed_runs += run_status != "succeeded" && run_status != "running";
        }
        out.push_back(std::move(f));
    }
    return out;
}

Result<std::optional<std::string>> Store::last_fire_time(std::int64_t schedule_id)
{
    auto stmt = ROTE_TRY(sql::Stmt::prepare(m_db, "SELECT max(scheduled_at) FROM schedule_fires WHERE schedule_id = ?1"));
    stmt.bind(1, schedule_id);
    ROTE_TRY(stmt.step());
    return stmt.opt_text(0);
}

Result<int> Store::running_fires(std::int64_t schedule_id)
{
    return static_cast<int>(ROTE_TRY(internal::single_int_bound(
        m_db, "SELECT count(*) FROM schedule_fires WHERE schedule_id = ?1 AND status = 'running'", schedule_id)));
}

Result<Spend> Store::schedule_spend(std::int64_t schedule_id, const std::string& since)
{
    const std::string from = ROTE_TRY(parse_timestamp(since));
    auto stmt = ROTE_TRY(sql::Stmt::prepare(m_db,
        "SELECT count(c.id), coalesce(sum(c.cost_microusd), 0) FROM llm_calls c JOIN runs r ON r.id = c.run_id"
        " JOIN schedule_fires f ON f.id = r.fire_id WHERE f.schedule_id = ?1 AND c.created_at >= ?2"));
    stmt.bind(1, schedule_id).bind(2, from);
    ROTE_TRY(stmt.step());
    return Spend {static_cast<int>(stmt.i64(0)), stmt.i64(1)};
}

Result<int> Store::failed_fires_in_a_row(std::int64_t schedule_id)
{
    return static_cast<int>(ROTE_TRY(internal::single_int_bound(m_db,
        "SELECT count(*) FROM schedule_fires WHERE schedule_id = ?1 AND status = 'failed' AND scheduled_at >"
        " coalesce((SELECT max(scheduled_at) FROM schedule_fires WHERE schedule_id = ?1 AND status = 'succeeded'), '')",
        schedule_id)));
}

Result<int> internal::end_abandoned_fires(sqlite3* db)
{
    auto owned = ROTE_TRY(sql::Stmt::prepare(db,
        "SELECT id, pid, pid_ns, boot_id, start_ticks FROM schedule_fires WHERE status = 'running'"));
    std::vector<std::pair<std::int64_t, std::string>> gone;
    while (ROTE_TRY(owned.step())) {
        const Owner owner {owned.i64(1), owned.text(2), owned.text(3), owned.i64(4)};
        if (const std::string why = owner_gone(owner); !why.empty())
            gone.emplace_back(owned.i64(0),
                "the scheduler running it (pid " + std::to_string(owner.pid) + ") went away without finishing it; " + why);
    }
    owned.reset();
    return end_rows(db,
        "UPDATE schedule_fires SET status = 'interrupted', detail = ?2, finished_at = ?3 WHERE id = ?1 AND status = 'running'",
        gone);
}

} // namespace rote::store
