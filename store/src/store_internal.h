#pragma once

// Helpers shared by the store's translation units (store.cpp, report.cpp, exchange.cpp).

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sqlite3.h>

#include <rote/base/result.h>
#include <rote/store/records.h>

namespace rote::store::internal {

// An enum's stored spelling, from a table of (value, spelling) pairs, and back.
template<typename E, std::size_t N>
std::optional<E> parse_enum(const std::array<std::pair<E, std::string_view>, N>& names, std::string_view s)
{
    for (const auto& [e, n] : names) {
        if (n == s)
            return e;
    }
    return std::nullopt;
}

template<typename E, std::size_t N>
std::string_view enum_name(const std::array<std::pair<E, std::string_view>, N>& names, E e)
{
    for (const auto& [v, n] : names) {
        if (v == e)
            return n;
    }
    return "unknown";
}

Result<void> insert_artifact(
    sqlite3* db, const Hash& hash, std::string_view media_type, std::span<const std::uint8_t> data);
Result<bool> artifact_exists(sqlite3* db, const Hash& hash);
Result<void> validate_workflow_name(const std::string& name);
// The id of the named workflow, creating it if absent. Call inside a transaction.
Result<std::int64_t> ensure_workflow(sqlite3* db, const std::string& name, const std::string& goal = {});
Result<std::int64_t> workflow_id(sqlite3* db, const std::string& name);
// The first column of the first row of a query with one integer parameter.
Result<std::int64_t> single_int_bound(sqlite3* db, const char* query, std::int64_t param);

// Gives a trace just inserted its standing (standing.cpp): a repair a candidate under `conditions`, any other
// trace the workflow's default (the default before it retired). Call inside the inserting transaction.
Result<void> stand_new_trace(sqlite3* db, std::int64_t trace_id, std::int64_t workflow_id, bool repair,
    const std::string& conditions, const std::string& why);

// The process that owns a running run or fire, beyond its pid (which the kernel reuses): the pid namespace
// its pid belongs to, the boot, its start time in clock ticks since boot.
struct Owner {
    std::int64_t pid = 0;
    std::string pid_ns;
    std::string boot_id;
    std::int64_t start_ticks = -1;
};
Owner this_process();
// Why `owner` runs no more ("it has exited", ...); empty while it may still run, or when that cannot be told
// from here (a pid of another namespace).
std::string owner_gone(const Owner& owner);

// Runs `update` (parameters: ?1 the row's id, ?2 why, ?3 now) for each (id, why) in one transaction; the rows
// it changed.
Result<int> end_rows(sqlite3* db, const char* update, const std::vector<std::pair<std::int64_t, std::string>>& rows);
// Running fires whose owner is gone become interrupted (schedules.cpp); called where runs are ended so.
Result<int> end_abandoned_fires(sqlite3* db);
std::optional<FireStatus> parse_fire_status(std::string_view text);

} // namespace rote::store::internal
