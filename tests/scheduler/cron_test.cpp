// Cron expressions and their fire times in real time zones (the system's tzdata), daylight saving included.
#include <doctest/doctest.h>

#include <rote/scheduler/cron.h>

using namespace rote;
using namespace rote::scheduler;
using std::chrono::sys_seconds;

namespace {

sys_seconds at(const char* iso)
{
    auto t = parse_iso_utc(iso);
    REQUIRE_MESSAGE(t.ok(), iso);
    return *t;
}

// The next fire after `after`, as ISO UTC ("never" when there is none).
std::string next(const char* expr, const char* zone, const char* after)
{
    auto cron = parse_cron(expr);
    REQUIRE_MESSAGE(cron.ok(), (cron.ok() ? "" : cron.error().message()));
    auto z = Zone::find(zone);
    REQUIRE(z.ok());
    auto t = next_fire(*cron, *z, at(after));
    return t ? iso_utc(*t) : "never";
}

} // namespace

TEST_CASE("fields: values, ranges, steps, lists, names and macros")
{
    auto c = parse_cron("*/15 9-17/4 1,15 JAN-mar,Dec MON-FRI");
    REQUIRE(c.ok());
    CHECK(c->minutes.count() == 4);
    CHECK(c->minutes[45]);
    CHECK(c->hours.count() == 3); // 9, 13, 17
    CHECK(c->hours[17]);
    CHECK(c->days.count() == 2);
    CHECK(c->months.count() == 4);
    CHECK(c->months[12]);
    CHECK(c->weekdays.count() == 5);
    CHECK_FALSE(c->weekdays[0]);
    CHECK_FALSE(c->days_star);
    CHECK_FALSE(c->weekdays_star);

    auto sunday = parse_cron("0 0 * * 7");
    REQUIRE(sunday.ok());
    CHECK(sunday->weekdays[0]);
    CHECK(sunday->weekdays.count() == 1);
    auto from = parse_cron("5/20 * * * *"); // 5, 25, 45
    REQUIRE(from.ok());
    CHECK(from->minutes.count() == 3);
    CHECK(from->minutes[45]);

    auto daily = parse_cron("@daily");
    REQUIRE(daily.ok());
    CHECK(daily->minutes.count() == 1);
    CHECK(daily->hours[0]);
    CHECK(parse_cron("@HOURLY").ok());

    for (const char* bad : {"", "* * * *", "* * * * * * *", "60 * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *",
             "* * * * 8", "5-1 * * * *", "*/0 * * * *", "*/100 * * * *", "1,,2 * * * *", "* * * FOO *", "a * * * *",
             "@sometimes", "* * * * MON-", "-5 * * * *"}) {
        auto r = parse_cron(bad);
        CHECK_MESSAGE(!r.ok(), bad);
        if (!r.ok())
            CHECK(r.error().code() == Error::Code::invalid_argument);
    }
    auto message = parse_cron("* 25 * * *");
    REQUIRE_FALSE(message.ok());
    CHECK(message.error().message().find("hour 25 is out of range 0-23") != std::string::npos);
}

TEST_CASE("next fire in UTC, and the two day fields as Vixie cron reads them")
{
    CHECK(next("0 9 * * MON-FRI", "UTC", "2026-12-04T09:00:00Z") == "2026-12-07T09:00:00Z"); // Friday → Monday
    CHECK(next("* * * * *", "UTC", "2026-12-04T09:00:30Z") == "2026-12-04T09:01:00Z");
    CHECK(next("@monthly", "UTC", "2026-12-31T23:59:59Z") == "2027-01-01T00:00:00Z");
    CHECK(next("0 0 29 2 *", "UTC", "2026-03-01T00:00:00Z") == "2028-02-29T00:00:00Z");
    CHECK(next("0 0 30 2 *", "UTC", "2026-03-01T00:00:00Z") == "never");
    // Both restricted: either matches (the 13th, or a Friday).
    CHECK(next("0 0 13 * FRI", "UTC", "2026-12-05T00:00:00Z") == "2026-12-11T00:00:00Z");
    CHECK(next("0 0 13 * FRI", "UTC", "2026-12-11T00:00:00Z") == "2026-12-13T00:00:00Z");
    // One starts with `*`: both must match (a Friday on an odd day).
    CHECK(next("0 0 */2 * FRI", "UTC", "2026-12-05T00:00:00Z") == "2026-12-11T00:00:00Z");
    CHECK(next("0 0 */2 * FRI", "UTC", "2026-12-11T00:00:00Z") == "2026-12-25T00:00:00Z");
    CHECK(next("0 0 */2 * FRI", "UTC", "2026-12-25T00:00:00Z") == "2027-01-01T00:00:00Z");
}

TEST_CASE("six fields: the second first")
{
    auto c = parse_cron("*/20 5 * * * *");
    REQUIRE(c.ok());
    CHECK(c->seconds.count() == 3);
    CHECK(c->minutes.count() == 1);
    CHECK(c->minutes[5]);
    auto five = parse_cron("5 * * * *");
    REQUIRE(five.ok());
    CHECK(five->seconds.count() == 1); // five fields: second 0
    CHECK(five->seconds[0]);
    CHECK(next("*/30 * * * * *", "UTC", "2026-12-04T09:00:00Z") == "2026-12-04T09:00:30Z");
    CHECK(next("*/30 * * * * *", "UTC", "2026-12-04T09:00:29Z") == "2026-12-04T09:00:30Z");
    CHECK(next("*/30 * * * * *", "UTC", "2026-12-04T09:00:30Z") == "2026-12-04T09:01:00Z");
    CHECK(next("15 0 9 * * *", "UTC", "2026-12-04T09:00:15Z") == "2026-12-05T09:00:15Z");
    CHECK(next("* * * * * *", "UTC", "2026-12-31T23:59:59Z") == "2027-01-01T00:00:00Z");
    // Every second through London's spring-forward gap: the whole skipped hour is one fire, at the change.
    CHECK(next("* * * * * *", "Europe/London", "2026-03-29T00:59:59Z") == "2026-03-29T01:00:00Z");
    CHECK(next("* * * * * *", "Europe/London", "2026-03-29T01:00:00Z") == "2026-03-29T01:00:01Z");
    auto london = Zone::find("Europe/London");
    REQUIRE(london.ok());
    CHECK(london->local_text(at("2026-12-04T09:00:30Z")) == "2026-12-04 09:00:30 GMT");
    CHECK(london->local_text(at("2026-12-04T09:00:00Z")) == "2026-12-04 09:00 GMT");
    auto message = parse_cron("61 * * * * *");
    REQUIRE_FALSE(message.ok());
    CHECK(message.error().message().find("second 61 is out of range 0-59") != std::string::npos);
}

TEST_CASE("daylight saving: a skipped time fires once when the clocks change, a repeated one once")
{
    // London springs forward at 01:00 UTC on 2026-03-29 (01:00 GMT → 02:00 BST): 01:30 does not exist.
    CHECK(next("30 1 * * *", "Europe/London", "2026-03-28T12:00:00Z") == "2026-03-29T01:00:00Z");
    CHECK(next("30 1 * * *", "Europe/London", "2026-03-29T01:00:00Z") == "2026-03-30T00:30:00Z");
    // Every quarter hour through the gap: 01:00, 01:15, 01:30, 01:45 all map to the change, one fire.
    CHECK(next("*/15 * * * *", "Europe/London", "2026-03-29T00:45:00Z") == "2026-03-29T01:00:00Z");
    CHECK(next("*/15 * * * *", "Europe/London", "2026-03-29T01:00:00Z") == "2026-03-29T01:15:00Z");
    // New York springs forward at 07:00 UTC on 2026-03-08 (02:00 EST → 03:00 EDT): 02:30 fires at 03:00 EDT.
    CHECK(next("30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z") == "2026-03-08T07:00:00Z");
    CHECK(next("30 2 * * *", "America/New_York", "2026-03-08T07:00:00Z") == "2026-03-09T06:30:00Z");
    // London falls back at 01:00 UTC on 2026-10-25 (02:00 BST → 01:00 GMT): 01:30 comes twice, fires once.
    CHECK(next("30 1 * * *", "Europe/London", "2026-10-24T12:00:00Z") == "2026-10-25T00:30:00Z");
    CHECK(next("30 1 * * *", "Europe/London", "2026-10-25T00:30:00Z") == "2026-10-26T01:30:00Z");
    // Hourly through the repeated hour: 01:00 BST (00:00 UTC) fires, 01:00 GMT does not fire again.
    CHECK(next("0 * * * *", "Europe/London", "2026-10-25T00:00:00Z") == "2026-10-25T02:00:00Z");
    // New York falls back at 06:00 UTC on 2026-11-01 (02:00 EDT → 01:00 EST).
    CHECK(next("30 1 * * *", "America/New_York", "2026-11-01T05:30:00Z") == "2026-11-02T06:30:00Z");
    // 09:00 London on weekdays: GMT in winter, BST in summer.
    CHECK(next("0 9 * * MON-FRI", "Europe/London", "2026-12-07T00:00:00Z") == "2026-12-07T09:00:00Z");
    CHECK(next("0 9 * * MON-FRI", "Europe/London", "2026-06-01T00:00:00Z") == "2026-06-01T08:00:00Z");
}

TEST_CASE("zones and times: unknown zones and malformed instants are errors")
{
    CHECK_FALSE(Zone::find("Europe/Atlantis").ok());
    CHECK_FALSE(Zone::find("").ok());
    auto london = Zone::find("Europe/London");
    REQUIRE(london.ok());
    CHECK(london->local_text(at("2026-06-01T08:00:00Z")) == "2026-06-01 09:00 BST");
    CHECK_FALSE(parse_iso_utc("2026-06-01 08:00").ok());
    CHECK_FALSE(parse_iso_utc("2026-06-01T08:00:00Zjunk").ok());
    CHECK(iso_utc(at("2026-06-01T08:00:00Z")) == "2026-06-01T08:00:00Z");
}
