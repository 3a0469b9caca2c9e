#pragma once

// Cron expressions and when they fire, in an IANA time zone (docs/schedules.md, "When a schedule fires").
// Pure: no clock is read here; the caller says "after when".
//
// Five fields, minute hour day-of-month month day-of-week, or six with the second first (as Spring's and
// node-cron's: `*/30 * * * * *` fires every 30 seconds; five fields fire at second 0). Each field is `*`, a
// value, a range `A-B`, a step `*/N`, `A-B/N` or `A/N` (A to the field's end), or a comma list of those;
// months and weekdays also by their English three-letter names (`JAN`, `MON-FRI`), Sunday as 0 or 7; or one
// of `@hourly`, `@daily` (`@midnight`), `@weekly`, `@monthly`, `@yearly` (`@annually`). As in Vixie cron,
// when both day fields are restricted a day matches either; when one of them starts with `*` it matches both.
//
// The fields are read in the schedule's zone. A local time that a clock change skips (02:30 on a
// spring-forward day) fires once, at the instant the clocks change (the next valid time); a local time
// that a clock change repeats (01:30 on a fall-back day) fires once, at its first occurrence.

#include <bitset>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <rote/base/result.h>

namespace date {
class time_zone;
}

namespace rote::scheduler {

struct Cron {
    std::string text; // as written
    std::bitset<60> seconds; // {0} for a five-field expression
    std::bitset<60> minutes;
    std::bitset<24> hours;
    std::bitset<32> days;     // 1..31
    std::bitset<13> months;   // 1..12
    std::bitset<7> weekdays;  // 0 Sunday .. 6 Saturday
    bool days_star = true;    // the day-of-month field starts with `*`
    bool weekdays_star = true;
};

// The expression, or an error naming the field and what is wrong with it.
Result<Cron> parse_cron(std::string_view text);

// A time zone from the system's tzdata, by its IANA name ("Europe/London", "UTC").
class Zone {
public:
    static Result<Zone> find(const std::string& name);
    const std::string& name() const { return m_name; }
    // The local wall-clock time at `t`, as "YYYY-MM-DD HH:MM TZ" (its abbreviation, e.g. BST); with ":SS"
    // after the minutes when `t` is not on a minute.
    std::string local_text(std::chrono::sys_seconds t) const;
    // The instant the local day holding `t` began (its midnight; the change, if the clocks skip midnight).
    std::chrono::sys_seconds start_of_day(std::chrono::sys_seconds t) const;

private:
    friend std::optional<std::chrono::sys_seconds> next_fire(
        const Cron&, const Zone&, std::chrono::sys_seconds);
    const date::time_zone* m_zone = nullptr;
    std::string m_name;
};

// The first instant strictly after `after` at which the expression fires in `zone`; nullopt if it never
// does (within nine years: `0 0 30 2 *`).
std::optional<std::chrono::sys_seconds> next_fire(const Cron& cron, const Zone& zone, std::chrono::sys_seconds after);

// An instant as ISO 8601 UTC ("2026-03-29T01:00:00Z"), the store's form, and back.
std::string iso_utc(std::chrono::sys_seconds t);
Result<std::chrono::sys_seconds> parse_iso_utc(std::string_view text);

} // namespace rote::scheduler
