// rote export / import: a trace survives the round trip, and a bad document changes nothing.

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <rote/base/base64.h>

#include "store/store_fixture.h"

using namespace rote;
using namespace rote::store;
using fixture::TempDir;
using nlohmann::json;

TEST_CASE("an exported trace imports into another store unchanged, and into the same one as a new version")
{
    TempDir dir;
    auto a = Store::open(dir / "a.db");
    REQUIRE(a.ok());
    NewTrace t = fixture::sample_trace("registry-lookup", 20);
    t.note = "taught by claude";
    auto id = (*a)->save_trace(t);
    REQUIRE(id.ok());
    auto doc = (*a)->export_trace(*id);
    REQUIRE(doc.ok());

    auto b = Store::open(dir / "b.db");
    REQUIRE(b.ok());
    auto imported = (*b)->import_trace(*doc);
    REQUIRE(imported.ok());
    auto original = (*a)->load_trace(*id);
    auto copy = (*b)->load_trace(*imported);
    REQUIRE(original.ok());
    REQUIRE(copy.ok());
    CHECK(copy->workflow == original->workflow);
    CHECK(copy->note == "taught by claude");
    CHECK(copy->steps == original->steps);
    auto workflows = (*b)->list_workflows();
    REQUIRE(workflows.ok());
    CHECK((*workflows)[0].goal == t.workflow_goal);
    for (const auto& step : copy->steps) {
        auto art = (*b)->get_artifact(*step.pre_artifact);
        REQUIRE(art.ok());
    }
    // Exporting the copy gives the same steps and artifacts (the document is stable).
    auto doc2 = (*b)->export_trace(*imported);
    REQUIRE(doc2.ok());
    CHECK(json::parse(*doc2)["steps"] == json::parse(*doc)["steps"]);
    CHECK(json::parse(*doc2)["artifacts"] == json::parse(*doc)["artifacts"]);

    auto again = (*a)->import_trace(*doc);
    REQUIRE(again.ok());
    CHECK((*a)->load_trace(*again)->version == 2);
}

TEST_CASE("a malformed or tampered document is refused with a message naming the problem, and nothing is written")
{
    TempDir dir;
    auto s = Store::open(dir / "rote.db");
    REQUIRE(s.ok());
    auto id = (*s)->save_trace(fixture::sample_trace("registry-lookup", 3));
    REQUIRE(id.ok());
    const json good = json::parse(*(*s)->export_trace(*id));
    // Every bad document goes to a second, empty store, which must stay empty.
    auto target = Store::open(dir / "target.db");
    REQUIRE(target.ok());

    struct Case {
        const char* name;
        std::function<std::string()> make;
        const char* message;
    };
    auto edit = [&](std::function<void(json&)> f) {
        return [&good, f] {
            json j = good;
            f(j);
            return j.dump();
        };
    };
    const std::string some_hash = good["artifacts"].begin().key();
    const std::vector<Case> cases {
        {"not JSON", [] { return std::string("{\"format\": \"rote-trace\", "); }, "not JSON"},
        {"not an object", [] { return std::string("[1, 2]"); }, "must be an object"},
        {"another format", edit([](json& j) { j["format"] = "har"; }), "\"format\" is not \"rote-trace\""},
        {"newer format", edit([](json& j) { j["format_version"] = 9; }), "upgrade rote"},
        {"no steps", edit([](json& j) { j.erase("steps"); }), "missing \"steps\""},
        {"step index", edit([](json& j) { j["steps"][1]["index"] = 7; }), "steps[1]: \"index\" must be 1"},
        {"unknown action", edit([](json& j) { j["steps"][0]["action"]["kind"] = "teleport"; }),
            "unknown action \"teleport\""},
        {"off-range point", edit([](json& j) { j["steps"][0]["action"]["x"] = -5; }), "\"x\" out of range"},
        {"give up in a trace", edit([](json& j) {
             j["steps"][0]["action"] = {{"kind", "give_up"}, {"text", "no"}};
         }),
            "cannot record"},
        {"bad provenance", edit([](json& j) { j["steps"][2]["provenance"] = "oracle"; }), "\"provenance\""},
        {"bad fingerprint", edit([](json& j) { j["steps"][0]["pre"]["fingerprint"] = "###"; }), "fingerprint"},
        {"bad hash key", edit([](json& j) {
             j["artifacts"]["xyz"] = {{"media_type", "image/png"}, {"data", ""}};
         }),
            "not a SHA-256"},
        {"tampered artifact", edit([&](json& j) { j["artifacts"][some_hash]["data"] = "AAAA"; }),
            "do not match the hash"},
        {"missing artifact", edit([&](json& j) { j["artifacts"].erase(some_hash); }),
            "neither in the trace nor in the store"},
        {"not a PNG", edit([&](json& j) {
             const std::string text = "GIF89a and then some";
             const std::vector<std::uint8_t> bytes(text.begin(), text.end());
             j["artifacts"][content_hash(bytes)] = {{"media_type", "image/png"}, {"data", base64_encode(bytes)}};
         }),
            "not a PNG (bad signature)"},
        {"a PNG no screen has", edit([&](json& j) {
             // 16000x16000 declared in its header: a few bytes that would decode to 768 MB.
             std::vector<std::uint8_t> bytes {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                 0, 0, 0x3e, 0x80, 0, 0, 0x3e, 0x80, 8, 2, 0, 0, 0, 0, 0, 0, 0};
             j["artifacts"][content_hash(bytes)] = {{"media_type", "image/png"}, {"data", base64_encode(bytes)}};
         }),
            "16000x16000 pixels, larger than any screen rote works with (7680x4320)"},
        {"another media type", edit([&](json& j) { j["artifacts"][some_hash]["media_type"] = "text/html"; }),
            "must be image/png, not \"text/html\""},
        {"bad rectangle", edit([](json& j) {
             j["steps"][0]["pre"]["mask"] = json::array({json::array({1, 2, 3})});
         }),
            "[x, y, w, h]"},
    };
    for (const auto& c : cases) {
        CAPTURE(std::string(c.name));
        auto r = (*target)->import_trace(c.make());
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().message().find(c.message) != std::string::npos);
    }
    auto workflows = (*target)->list_workflows();
    REQUIRE(workflows.ok());
    CHECK(workflows->empty());
    CHECK((*target)->artifact_stats()->artifacts == 0);
    // The good document itself imports.
    CHECK((*target)->import_trace(good.dump()).ok());
}
