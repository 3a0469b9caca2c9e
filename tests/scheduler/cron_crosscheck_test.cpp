// Next-fire times cross-checked against an independent implementation: systemd's calendar
// (`systemd-analyze calendar --base-time`), over random expressions and instants in UTC, Europe/London and
// America/New_York, half of them within hours of a daylight-saving change. Each cron expression is written
// as the equivalent systemd calendar spec (explicit value lists; the two day fields' "either" rule as two
// specs and the earlier answer).
//
// Two documented differences (docs/schedules.md), each checked, not assumed:
// - skipped: systemd skips a local time that a spring-forward change skips; rote fires it once, at the
//   change. Explained only when rote's answer is a forward change's instant and systemd's is rote's next
//   fire after it.
// - repeated: asked from inside the second pass of a fall-back's repeated hour, systemd answers a local
//   time of that hour again (its second occurrence), though from before the hour it skips it; rote fires a
//   repeated time once, at its first occurrence, whenever it is asked. Explained only when systemd's answer
//   is such a second occurrence, its first occurrence was not after the base, and systemd's answer is
//   before rote's.
// Every other disagreement fails. Beside it, the systemd unit in the tree, checked by systemd.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <unistd.h>
#include <map>
#include <random>
#include <sstream>

#include <date/tz.h>

#include <rote/scheduler/cron.h>

using namespace rote;
using namespace rote::scheduler;
using namespace std::chrono;

namespace {

// A shell command's exit status and its output (stdout and stderr together).
std::pair<int, std::string> shell(const std::string& command)
{
    FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
    REQUIRE(pipe);
    std::string out;
    char buffer[4096];
    size_t n = 0;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0)
        out.append(buffer, n);
    return {::pclose(pipe), out};
}

std::string values(const auto& bits, int from, int to, const char* const* names = nullptr)
{
    std::string out;
    int count = 0;
    for (int v = from; v <= to; ++v) {
        if (!bits[static_cast<size_t>(v)])
            continue;
        ++count;
        if (!out.empty())
            out += ",";
        out += names ? names[v] : (v < 10 && !names ? "0" : "") + std::to_string(v);
    }
    return count == to - from + 1 ? "*" : out;
}

// The systemd calendar specs whose earliest next elapse is the cron expression's next fire.
std::vector<std::string> systemd_specs(const Cron& c, const std::string& zone)
{
    static const char* const kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    const std::string time = values(c.hours, 0, 23) + ":" + values(c.minutes, 0, 59) + ":00 " + zone;
    const std::string months = values(c.months, 1, 12);
    const std::string days = values(c.days, 1, 31);
    const std::string weekdays = values(c.weekdays, 0, 6, kDays);
    const auto spec = [&](const std::string& wd, const std::string& d) {
        return (wd == "*" ? "" : wd + " ") + "*-" + months + "-" + d + " " + time;
    };
    if (c.days_star || c.weekdays_star)
        return {spec(weekdays, days)};
    return {spec("*", days), spec(weekdays, "*")};
}

// Each spec's next elapse after `base` by systemd, in seconds since the epoch (-1: never).
std::vector<std::int64_t> systemd_next(const std::vector<std::string>& specs, sys_seconds base)
{
    std::string command = "TZ=UTC systemd-analyze calendar --iterations=1 --base-time=@"
        + std::to_string(base.time_since_epoch().count());
    for (const auto& s : specs)
        command += " '" + s + "'";
    const auto [status, out] = shell(command);
    REQUIRE_MESSAGE(status == 0, command << "\n" << out);
    std::vector<std::int64_t> next;
    std::istringstream lines(out);
    std::string line;
    while (std::getline(lines, line)) {
        const auto at = line.find("Next elapse: ");
        if (at == std::string::npos)
            continue;
        const std::string when = line.substr(at + 13);
        if (when == "never") {
            next.push_back(-1);
            continue;
        }
        // "Mon 2026-03-30 00:30:00 UTC"
        auto t = parse_iso_utc(when.substr(4, 10) + "T" + when.substr(15, 8) + "Z");
        REQUIRE_MESSAGE(t.ok(), line);
        next.push_back(t->time_since_epoch().count());
    }
    REQUIRE_MESSAGE(next.size() == specs.size(), command << "\n" << out);
    return next;
}

struct Generator {
    std::mt19937_64 random;
    int pick(int low, int high) { return std::uniform_int_distribution<int>(low, high)(random); }

    std::string item(int low, int high, const char* const* names)
    {
        const auto value = [&](int v) { return names && pick(0, 2) == 0 ? std::string(names[v - low]) : std::to_string(v); };
        const int a = pick(low, high);
        const int b = pick(a, high);
        switch (pick(0, 4)) {
        case 0: return value(a);
        case 1: return value(a) + "-" + value(b);
        case 2: return "*/" + std::to_string(pick(1, (high - low + 1) / 2 + 1));
        case 3: return value(a) + "-" + value(b) + "/" + std::to_string(pick(1, 6));
        default: return value(a) + "/" + std::to_string(pick(1, 12));
        }
    }
    std::string field(int low, int high, const char* const* names = nullptr)
    {
        if (pick(0, 3) == 0)
            return "*";
        std::string out = item(low, high, names);
        for (int extra = pick(0, 2); extra > 0; --extra)
            out += "," + item(low, high, names);
        return out;
    }
    // Hours near the small hours, where the clocks change, when `dst` asks.
    std::string expression(bool dst)
    {
        static const char* const kMonths[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
        static const char* const kDays[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};
        static const char* const kSmallHours[] = {"1", "2", "0-3", "1,2", "*/2", "*", "1-2/1", "2/3"};
        const std::string hours = dst ? kSmallHours[pick(0, 7)] : field(0, 23);
        return field(0, 59) + " " + hours + " " + (pick(0, 1) ? std::string("*") : field(1, 31)) + " "
            + (pick(0, 2) ? std::string("*") : field(1, 12, kMonths)) + " " + (pick(0, 1) ? std::string("*") : field(0, 6, kDays));
    }
};

// The instants in [year 2021, 2031) at which `zone` changes its clocks.
std::vector<sys_seconds> changes(const std::string& zone)
{
    std::vector<sys_seconds> out;
    const date::time_zone* tz = date::locate_zone(zone);
    date::sys_seconds t {sys_days(year(2021) / 1 / 1).time_since_epoch()};
    const date::sys_seconds end {sys_days(year(2031) / 1 / 1).time_since_epoch()};
    while (t < end) {
        const auto info = tz->get_info(t);
        t = info.end;
        if (t < end)
            out.push_back(sys_seconds(t.time_since_epoch()));
    }
    return out;
}

// `t` is the second occurrence of a repeated local time whose first occurrence is at or before `base`.
bool second_occurrence(const std::string& zone, sys_seconds t, sys_seconds base)
{
    const date::time_zone* tz = date::locate_zone(zone);
    const auto local = tz->to_local(date::sys_seconds(t.time_since_epoch()));
    const auto info = tz->get_info(local);
    if (info.result != date::local_info::ambiguous)
        return false;
    const auto first = local.time_since_epoch() - info.first.offset;
    const auto second = local.time_since_epoch() - info.second.offset;
    return second == t.time_since_epoch() && first <= base.time_since_epoch();
}

bool forward_change(const std::string& zone, sys_seconds t)
{
    const date::time_zone* tz = date::locate_zone(zone);
    const date::sys_seconds at {t.time_since_epoch()};
    const auto info = tz->get_info(at);
    return info.begin == at && info.offset > tz->get_info(at - seconds(1)).offset;
}

} // namespace

TEST_CASE("next-fire times agree with systemd's calendar over 10,000 random expressions and instants")
{
    const char* seed_text = std::getenv("ROTE_CRON_SEED");
    const std::uint64_t seed = seed_text ? std::strtoull(seed_text, nullptr, 10) : std::random_device {}();
    MESSAGE("seed " << seed << " (ROTE_CRON_SEED=" << seed << " repeats this run)");
    Generator g {std::mt19937_64(seed)};
    const std::vector<std::string> zones {"UTC", "Europe/London", "America/New_York"};
    std::map<std::string, std::vector<sys_seconds>> zone_changes;
    for (const auto& z : zones)
        zone_changes[z] = changes(z);

    int compared = 0, agreed = 0, skipped = 0, repeated = 0, near_change = 0;
    for (int batch = 0; batch < 100; ++batch) {
        const std::string& zone_name = zones[static_cast<size_t>(g.pick(0, 2))];
        const bool dst = zone_name != "UTC" && batch % 2 == 0;
        sys_seconds base;
        if (dst) {
            const auto& list = zone_changes[zone_name];
            base = list[static_cast<size_t>(g.pick(0, static_cast<int>(list.size()) - 1))] + seconds(g.pick(-6 * 3600, 6 * 3600));
        } else {
            base = sys_seconds(sys_days(year(2021) / 1 / 1)) + seconds(std::uniform_int_distribution<std::int64_t>(0, 10LL * 365 * 86400)(g.random));
        }
        auto zone = Zone::find(zone_name);
        REQUIRE(zone.ok());
        std::vector<Cron> crons;
        std::vector<std::string> specs;
        std::vector<size_t> first_spec;
        for (int e = 0; e < 100; ++e) {
            const std::string text = g.expression(dst);
            auto cron = parse_cron(text);
            REQUIRE_MESSAGE(cron.ok(), text << ": " << (cron.ok() ? "" : cron.error().message()));
            first_spec.push_back(specs.size());
            for (auto& s : systemd_specs(*cron, zone_name))
                specs.push_back(std::move(s));
            crons.push_back(std::move(*cron));
        }
        first_spec.push_back(specs.size());
        const auto theirs_all = systemd_next(specs, base);
        for (size_t e = 0; e < crons.size(); ++e) {
            std::int64_t theirs = -1;
            for (size_t s = first_spec[e]; s < first_spec[e + 1]; ++s) {
                if (theirs_all[s] >= 0 && (theirs < 0 || theirs_all[s] < theirs))
                    theirs = theirs_all[s];
            }
            const auto ours_at = next_fire(crons[e], *zone, base);
            const std::int64_t ours = ours_at ? ours_at->time_since_epoch().count() : -1;
            ++compared;
            near_change += dst;
            if (ours == theirs) {
                ++agreed;
                continue;
            }
            // The one deliberate difference: a skipped local time fires at the change.
            const bool skipped_time = ours_at && (theirs < 0 || ours < theirs) && forward_change(zone_name, *ours_at)
                && [&] {
                       const auto after = next_fire(crons[e], *zone, *ours_at);
                       return (after ? after->time_since_epoch().count() : -1) == theirs;
                   }();
            if (skipped_time) {
                ++skipped;
                continue;
            }
            if (theirs >= 0 && (!ours_at || theirs < ours)
                && second_occurrence(zone_name, sys_seconds(seconds(theirs)), base)) {
                ++repeated;
                continue;
            }
            FAIL_CHECK("\"" << crons[e].text << "\" in " << zone_name << " after " << iso_utc(base) << ": rote says "
                            << (ours_at ? iso_utc(*ours_at) : "never") << ", systemd says "
                            << (theirs < 0 ? "never" : iso_utc(sys_seconds(seconds(theirs)))) << " (specs: "
                            << specs[first_spec[e]] << ")");
        }
    }
    MESSAGE(compared << " compared (" << near_change << " within 6 h of a clock change): " << agreed << " agreed, "
                     << skipped << " differ only by a skipped local time fired at the change, " << repeated
                     << " only by systemd's second occurrence of a repeated local time");
    CHECK(compared == 10000);
    CHECK(agreed + skipped + repeated == compared);
}

TEST_CASE("the systemd unit in the tree is one systemd accepts, running the rote built here")
{
    const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("rote-unit-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::ifstream in(ROTE_UNIT);
    REQUIRE(in);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::string installed = "ExecStart=/usr/local/bin/rote scheduler";
    const auto at = text.find(installed);
    REQUIRE(at != std::string::npos);
    text.replace(at, installed.size(), std::string("ExecStart=") + ROTE_BINARY + " scheduler");
    std::ofstream(dir / "rote-scheduler.service") << text;
    const auto [status, out] = shell("systemd-analyze verify '" + (dir / "rote-scheduler.service").string() + "'");
    CHECK(status == 0);
    CHECK_MESSAGE(out.empty(), out); // systemd names every line it cannot parse, even when it exits 0
    std::filesystem::remove_all(dir);
}
