// rote run and rote demo as a user runs them: the real binary, real sandboxes, the demo sites on loopback.

#include <doctest/doctest.h>

#include <fstream>

#include "e2e/support.h"
#include "llm/standin.h"

using namespace rote;
using namespace rote::e2e;
using nlohmann::json;

TEST_CASE("rote run --inputs FILE.csv: one run per row in fresh sandboxes, taught once, then replayed")
{
    Fixture f;
    auto site = test::DemoSite::start("baseline");
    REQUIRE(site.ok());
    const std::string route = "--route registry.example.test=" + site->registry_route();
    const std::string db = "--db '" + f.db().string() + "'";
    {
        std::ofstream csv(f.dir / "bad.csv");
        csv << "company,colour\nAcme Robotics Ltd,blue\n";
    }
    auto bad = rote_cli(f.dir, db + " run registry-lookup --inputs '" + (f.dir / "bad.csv").string() + "' " + route);
    CHECK(bad.rc == 2);
    CHECK_MESSAGE(bad.err.find("bad.csv: row 2") != std::string::npos, bad.err);
    CHECK_MESSAGE(bad.err.find("colour") != std::string::npos, bad.err);
    auto none = f.store->report({});
    REQUIRE(none.ok());
    CHECK(none->total.runs == 0); // checked before any sandbox started

    {
        std::ofstream csv(f.dir / "companies.csv");
        csv << "company\nAcme Robotics Ltd\n\"Northwind Traders Ltd\"\nInitech Software Ltd\n";
    }
    auto ran = rote_cli(
        f.dir, db + " run registry-lookup --inputs '" + (f.dir / "companies.csv").string() + "' " + route + " --json");
    CHECK_MESSAGE(ran.rc == 0, ran.err);
    const auto out = json::parse(ran.out);
    REQUIRE(out["runs"].size() == 3);
    CHECK(out["failed"] == 0);
    CHECK(out["runs"][0]["new_trace_id"].is_number());
    CHECK(out["runs"][0]["outputs"]["registration_number"] == "08431277");
    for (int r : {1, 2}) {
        CHECK(out["runs"][r]["status"] == "succeeded");
        CHECK(out["runs"][r]["planner_calls"] == 0);
        CHECK(out["runs"][r]["trace_id"] == out["runs"][0]["new_trace_id"]);
    }
    CHECK(out["runs"][1]["outputs"]["registration_number"] == "05583120");
    CHECK(out["runs"][2]["outputs"]["status"] == "Dissolved");

    auto text = rote_cli(f.dir, db + " run registry-lookup -i 'company=Globex Corporation Ltd' " + route);
    CHECK_MESSAGE(text.rc == 0, text.err);
    CHECK(text.out.find("succeeded") != std::string::npos);
    CHECK(text.out.find("registration_number = 09917744") != std::string::npos);
    CHECK(text.err.find("replayed step 0") != std::string::npos); // progress, one line per step
}

TEST_CASE("rote demo: teach, replay, three site changes and the report, offline")
{
    Fixture f;
    auto demo = rote_cli(f.dir, "--db '" + f.db().string() + "' demo");
    CHECK_MESSAGE(demo.rc == 0, std::string(demo.out + demo.err));
    CHECK(demo.out.find("trace 1 recorded") != std::string::npos);
    CHECK(demo.out.find("failed") == std::string::npos);
    CHECK(demo.out.find("trace repaired") != std::string::npos);
    CHECK(demo.out.find("Total: 9 runs (9 succeeded)") != std::string::npos);
    // Every run but the teaching one and the two repairs needed no planner.
    size_t zero = 0;
    for (size_t at = demo.out.find(" 0 planner calls"); at != std::string::npos; at = demo.out.find(" 0 planner calls", at + 1))
        ++zero;
    CHECK(zero == 6);
}

TEST_CASE("rote demo --planner llm: the model teaches and repairs, and every call is costed in the report")
{
    Fixture f;
    using Kind = test::StandInStep::Kind;
    auto say = [](Kind kind, std::string text = {}, int occurrence = 0) {
        test::StandInStep s;
        s.kind = kind;
        s.text = std::move(text);
        s.occurrence = occurrence;
        return s;
    };
    const std::string key = "sk-ant-demo-e2e-51f0";
    // Teaching (the result link is the company's second place on the results page), the banner, then the
    // renamed label. The result whose headings were renamed needs no call: the document says which link
    // reads the company's name (it took a second call while only the pixels could tell).
    auto server = test::StandIn::start(key,
        {say(Kind::click, "Company name"), say(Kind::type, "Acme Robotics Ltd"), say(Kind::key, "Return"),
            say(Kind::click, "Acme Robotics Ltd", 1), say(Kind::done, "08431277 Active"),
            say(Kind::click, "Accept all cookies"), say(Kind::click, "Business name")});
    auto demo = rote_cli(f.dir,
        "--db '" + f.db().string() + "' demo --planner llm",
        {{"ANTHROPIC_API_KEY", key}, {"ROTE_LLM_BASE_URL", server->base_url()}});
    CHECK_MESSAGE(demo.rc == 0, std::string(demo.out + demo.err));
    CHECK(server->violation().empty());
    CHECK(server->steps_left() == 0);
    CHECK(demo.out.find("the model drives the browser") != std::string::npos);
    CHECK_MESSAGE(demo.out.find("Total: 9 runs (9 succeeded), 7 LLM calls") != std::string::npos, demo.out);
    CHECK(demo.out.find(key) == std::string::npos);
    CHECK(demo.err.find(key) == std::string::npos);
}
