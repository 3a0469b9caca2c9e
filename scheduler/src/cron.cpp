#include <rote/scheduler/cron.h>

#include <array>
#include <charconv>
#include <vector>

#include <date/date.h>
#include <date/tz.h>

#include <rote/base/text.h>

namespace rote::scheduler {

namespace {

using namespace std::chrono;

Error invalid(std::string message) { return Error(Error::Code::invalid_argument, std::move(message)); }

struct FieldSpec {
    const char* name;
    int low;
    int high; // inclusive; weekdays allow 7 for Sunday
    const std::array<const char*, 12>* names; // names[i] is low + i; nullptr when the field has none
};

constexpr std::array<const char*, 12> kMonthNames {
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::array<const char*, 12> kDayNames {"sun", "mon", "tue", "wed", "thu", "fri", "sat", "", "", "", "", ""};

constexpr std::array<FieldSpec, 6> kFields {{
    {"second", 0, 59, nullptr}, // only in six-field expressions
    {"minute", 0, 59, nullptr},
    {"hour", 0, 23, nullptr},
    {"day of month", 1, 31, nullptr},
    {"month", 1, 12, &kMonthNames},
    {"day of week", 0, 7, &kDayNames},
}};

// A value of the field: a number, or a name where the field has names.
Result<int> field_value(const FieldSpec& spec, std::string_view word)
{
    int value = 0;
    auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), value);
    if (ec == std::errc() && end == word.data() + word.size()) {
        if (value < spec.low || value > spec.high)
            return invalid(std::string(spec.name) + " " + std::string(word) + " is out of range "
                + std::to_string(spec.low) + "-" + std::to_string(spec.high));
        return value;
    }
    if (spec.names) {
        const std::string lower = ascii_lower(word);
        for (size_t i = 0; i < spec.names->size(); ++i) {
            if (lower == (*spec.names)[i] && *(*spec.names)[i] != '\0')
                return spec.low + static_cast<int>(i);
        }
    }
    return invalid("\"" + std::string(word) + "\" is not a " + spec.name);
}

// One field's values as a bit per value (bit v for value v), and whether it starts with `*`.
Result<std::pair<std::vector<bool>, bool>> parse_field(const FieldSpec& spec, std::string_view text)
{
    std::vector<bool> set(static_cast<size_t>(spec.high) + 1, false);
    const int top = spec.names == &kDayNames ? 6 : spec.high; // `*` in weekdays is 0-6
    size_t start = 0;
    while (start <= text.size()) {
        const size_t comma = text.find(',', start);
        const std::string_view item = text.substr(start, comma == std::string_view::npos ? text.npos : comma - start);
        if (item.empty())
            return invalid(std::string(spec.name) + " field \"" + std::string(text) + "\" has an empty list item");
        std::string_view range = item;
        int step = 1;
        if (const size_t slash = item.find('/'); slash != std::string_view::npos) {
            range = item.substr(0, slash);
            const std::string_view step_text = item.substr(slash + 1);
            auto [end, ec] = std::from_chars(step_text.data(), step_text.data() + step_text.size(), step);
            if (ec != std::errc() || end != step_text.data() + step_text.size() || step < 1 || step > 99)
                return invalid(std::string(spec.name) + " step \"" + std::string(step_text) + "\" is not a number from 1 to 99");
        }
        int low = spec.low;
        int high = top;
        if (range != "*") {
            const size_t dash = range.find('-');
            if (dash == std::string_view::npos) {
                low = ROTE_TRY(field_value(spec, range));
                // `A/N` runs from A to the field's end; a bare value is itself.
                high = item.find('/') != std::string_view::npos ? top : low;
            } else {
                low = ROTE_TRY(field_value(spec, range.substr(0, dash)));
                high = ROTE_TRY(field_value(spec, range.substr(dash + 1)));
                if (high < low)
                    return invalid(std::string(spec.name) + " range \"" + std::string(range) + "\" runs backwards");
            }
        }
        for (int v = low; v <= high; v += step)
            set[static_cast<size_t>(v)] = true;
        if (comma == std::string_view::npos)
            break;
        start = comma + 1;
    }
    return std::make_pair(std::move(set), !text.empty() && text.front() == '*');
}

std::string_view macro(std::string_view text)
{
    static const std::array<std::pair<const char*, const char*>, 7> macros {{
        {"@hourly", "0 * * * *"},
        {"@daily", "0 0 * * *"},
        {"@midnight", "0 0 * * *"},
        {"@weekly", "0 0 * * 0"},
        {"@monthly", "0 0 1 * *"},
        {"@yearly", "0 0 1 1 *"},
        {"@annually", "0 0 1 1 *"},
    }};
    for (const auto& [name, expansion] : macros) {
        if (text == name)
            return expansion;
    }
    return {};
}

// The instant a local time names in `zone`: a skipped time is the instant the clocks changed, a repeated
// one its first occurrence.
sys_seconds to_instant(const date::time_zone& zone, local_seconds local)
{
    const auto info = zone.get_info(date::local_seconds(local.time_since_epoch()));
    switch (info.result) {
    case date::local_info::nonexistent:
        return sys_seconds(info.second.begin.time_since_epoch());
    case date::local_info::ambiguous:
    case date::local_info::unique:
        break;
    }
    return sys_seconds(local.time_since_epoch() - info.first.offset);
}

bool day_matches(const Cron& cron, year_month_day ymd)
{
    if (!cron.months[static_cast<unsigned>(ymd.month())])
        return false;
    const bool by_day = cron.days[static_cast<unsigned>(ymd.day())];
    const bool by_weekday = cron.weekdays[weekday(sys_days(ymd)).c_encoding()];
    if (cron.days_star || cron.weekdays_star)
        return by_day && by_weekday;
    return by_day || by_weekday;
}

} // namespace

Result<Cron> parse_cron(std::string_view text)
{
    Cron cron;
    cron.text = std::string(text);
    std::string_view body = text;
    while (!body.empty() && (body.front() == ' ' || body.front() == '\t'))
        body.remove_prefix(1);
    while (!body.empty() && (body.back() == ' ' || body.back() == '\t'))
        body.remove_suffix(1);
    if (!body.empty() && body.front() == '@') {
        body = macro(ascii_lower(body));
        if (body.empty())
            return invalid("\"" + std::string(text)
                + "\" is not a cron macro (@hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually)");
    }
    std::vector<std::string_view> words;
    size_t i = 0;
    while (i < body.size()) {
        while (i < body.size() && (body[i] == ' ' || body[i] == '\t'))
            ++i;
        const size_t begin = i;
        while (i < body.size() && body[i] != ' ' && body[i] != '\t')
            ++i;
        if (i > begin)
            words.push_back(body.substr(begin, i - begin));
    }
    if (words.size() != 5 && words.size() != 6)
        return invalid("a cron expression has five fields (minute hour day-of-month month day-of-week), or six with "
                       "seconds first; \"" + std::string(text) + "\" has " + std::to_string(words.size()));
    // Five fields fire at second 0; six name the seconds first.
    const size_t first = words.size() == 6 ? 0 : 1;
    if (first == 1)
        cron.seconds.set(0);
    for (size_t f = first; f < kFields.size(); ++f) {
        auto parsed = parse_field(kFields[f], words[f - first]);
        if (!parsed.ok())
            return parsed.error().with_context("cron \"" + std::string(text) + "\"");
        const auto& [set, star] = *parsed;
        for (size_t v = 0; v < set.size(); ++v) {
            if (!set[v])
                continue;
            switch (f) {
            case 0: cron.seconds.set(v); break;
            case 1: cron.minutes.set(v); break;
            case 2: cron.hours.set(v); break;
            case 3: cron.days.set(v); break;
            case 4: cron.months.set(v); break;
            default: cron.weekdays.set(v % 7); break;
            }
        }
        if (f == 3)
            cron.days_star = star;
        if (f == 5)
            cron.weekdays_star = star;
    }
    return cron;
}

Result<Zone> Zone::find(const std::string& name)
{
    Zone zone;
    try {
        zone.m_zone = date::locate_zone(name);
    } catch (const std::exception&) {
        return invalid("\"" + name + "\" is not a time zone in the system's tzdata (an IANA name such as Europe/London)");
    }
    zone.m_name = name;
    return zone;
}

std::string Zone::local_text(sys_seconds t) const
{
    const auto zoned = date::make_zoned(m_zone, date::sys_seconds(t.time_since_epoch()));
    // Seconds only where there are some: a six-field schedule's times.
    return date::format(t.time_since_epoch() % minutes(1) == seconds(0) ? "%Y-%m-%d %H:%M %Z" : "%Y-%m-%d %H:%M:%S %Z", zoned);
}

sys_seconds Zone::start_of_day(sys_seconds t) const
{
    const auto local = m_zone->to_local(date::sys_seconds(t.time_since_epoch()));
    const local_seconds midnight {floor<days>(local).time_since_epoch()};
    return to_instant(*m_zone, midnight);
}

std::optional<sys_seconds> next_fire(const Cron& cron, const Zone& zone, sys_seconds after)
{
    if (!zone.m_zone)
        return std::nullopt;
    const date::time_zone& tz = *zone.m_zone;
    // Local times map to instants in order (a skipped time to the change, a repeated one to its first
    // occurrence), so the first matching local time from `after`'s own whose instant is later is the answer.
    const auto start = local_seconds(tz.to_local(date::sys_seconds(after.time_since_epoch())).time_since_epoch());
    const auto first_day = floor<days>(start);
    const auto start_in_day = start - first_day;
    for (int d = 0; d < 366 * 9; ++d) {
        const local_days day = first_day + days(d);
        if (!day_matches(cron, year_month_day(sys_days(day.time_since_epoch()))))
            continue;
        for (int h = 0; h < 24; ++h) {
            if (!cron.hours[static_cast<size_t>(h)])
                continue;
            for (int m = 0; m < 60; ++m) {
                if (!cron.minutes[static_cast<size_t>(m)])
                    continue;
                if (d == 0 && hours(h) + minutes(m) + seconds(59) < start_in_day)
                    continue;
                for (int s = 0; s < 60; ++s) {
                    if (!cron.seconds[static_cast<size_t>(s)])
                        continue;
                    const auto in_day = hours(h) + minutes(m) + seconds(s);
                    if (d == 0 && in_day < start_in_day)
                        continue;
                    const sys_seconds at = to_instant(tz, day + in_day);
                    if (at > after)
                        return at;
                }
            }
        }
    }
    return std::nullopt;
}

std::string iso_utc(sys_seconds t) { return date::format("%Y-%m-%dT%H:%M:%SZ", date::sys_seconds(t.time_since_epoch())); }

Result<sys_seconds> parse_iso_utc(std::string_view text)
{
    // Exactly the store's form, YYYY-MM-DDTHH:MM:SSZ; the calendar checks the date (no 31 April).
    const auto number = [&](size_t at, size_t width, int& out) {
        auto [end, ec] = std::from_chars(text.data() + at, text.data() + at + width, out);
        return ec == std::errc() && end == text.data() + at + width;
    };
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0;
    const bool shaped = text.size() == 20 && text[4] == '-' && text[7] == '-' && text[10] == 'T' && text[13] == ':'
        && text[16] == ':' && text[19] == 'Z' && number(0, 4, y) && number(5, 2, mo) && number(8, 2, d)
        && number(11, 2, h) && number(14, 2, mi) && number(17, 2, se);
    const year_month_day ymd {year(y), month(static_cast<unsigned>(mo)), day(static_cast<unsigned>(d))};
    if (!shaped || !ymd.ok() || h > 23 || mi > 59 || se > 59)
        return invalid("\"" + std::string(text) + "\" is not an ISO 8601 UTC time (YYYY-MM-DDTHH:MM:SSZ)");
    return sys_seconds(sys_days(ymd)) + hours(h) + minutes(mi) + seconds(se);
}

} // namespace rote::scheduler
