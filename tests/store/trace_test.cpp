// Traces: round trip, versions, immutability, validation, content-addressed artifacts.

#include <doctest/doctest.h>

#include <sqlite3.h>

#include "store/store_fixture.h"

using namespace rote;
using namespace rote::store;
using fixture::TempDir;

TEST_CASE("a saved trace loads back exactly")
{
    TempDir dir;
    auto s = Store::open(dir / "rote.db");
    REQUIRE(s.ok());
    const NewTrace t = fixture::sample_trace("registry-lookup", 12);
    std::size_t last_progress = 0;
    auto id = (*s)->save_trace(t, [&](std::size_t done, std::size_t total) {
        CHECK(total == 12);
        last_progress = done;
    });
    REQUIRE(id.ok());
    CHECK(last_progress == 12);

    auto loaded = (*s)->load_trace(*id);
    REQUIRE(loaded.ok());
    CHECK(loaded->workflow == "registry-lookup");
    CHECK(loaded->version == 1);
    REQUIRE(loaded->steps.size() == t.steps.size());
    for (std::size_t i = 0; i < t.steps.size(); ++i) {
        CAPTURE(i);
        CHECK(loaded->steps[i] == t.steps[i]);
    }
    // The artifacts the steps name are retrievable and intact.
    auto pre = (*s)->get_artifact(*loaded->steps[0].pre_artifact);
    REQUIRE(pre.ok());
    CHECK(pre->data == fixture::screen(0));
    CHECK(pre->media_type == "image/png");
}

TEST_CASE("versions count up per workflow and a repair names its parent; old versions stay")
{
    TempDir dir;
    auto s = Store::open(dir / "rote.db");
    REQUIRE(s.ok());
    auto v1 = (*s)->save_trace(fixture::sample_trace("registry-lookup", 3));
    REQUIRE(v1.ok());
    auto other = (*s)->save_trace(fixture::sample_trace("crm-add-lead", 2));
    REQUIRE(other.ok());
    NewTrace repair = fixture::sample_trace("registry-lookup", 4);
    repair.parent_id = *v1;
    repair.note = "repaired step 2 after the site moved its search button";
    auto v2 = (*s)->save_trace(repair);
    REQUIRE(v2.ok());

    auto loaded = (*s)->load_trace(*v2);
    REQUIRE(loaded.ok());
    CHECK(loaded->version == 2);
    CHECK(loaded->parent_id == *v1);
    CHECK(loaded->note == repair.note);
    CHECK((*s)->load_trace(*other)->version == 1);

    auto versions = (*s)->list_traces("registry-lookup");
    REQUIRE(versions.ok());
    REQUIRE(versions->size() == 2);
    CHECK((*versions)[0].steps == 3);
    CHECK((*versions)[1].steps == 4);

    NewTrace wrong_parent = fixture::sample_trace("crm-add-lead", 1);
    wrong_parent.parent_id = *v1;
    auto r = (*s)->save_trace(wrong_parent);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message().find("another workflow") != std::string::npos);
}

TEST_CASE("a step keeps what the document had under its point; an unknown kind of element is refused")
{
    TempDir dir;
    auto s = Store::open(dir / "rote.db");
    REQUIRE(s.ok());
    NewTrace trace = fixture::sample_trace("registry-lookup", 2);
    trace.steps[0].anchor.element = "link";
    auto id = (*s)->save_trace(trace);
    REQUIRE(id.ok());
    auto loaded = (*s)->load_trace(*id);
    REQUIRE(loaded.ok());
    CHECK(loaded->steps[0].anchor.element == "link");
    CHECK(loaded->steps[1].anchor.element.empty());
    trace.steps[0].anchor.element = "spaceship";
    auto refused = (*s)->save_trace(trace);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message().find("must be link, button, field or text") != std::string::npos);

    // Who the target is and which field had the focus after the step, kept whole.
    trace.steps[0].anchor.element = "field";
    ElementIdentity& identity = trace.steps[0].anchor.identity;
    identity.tag = "input";
    identity.id = "qsearch__in";
    identity.name = "q";
    identity.role = "searchbox";
    identity.label = "[F]";
    identity.placeholder = "Search";
    identity.classes = "edit";
    identity.box = {793, 30, 221, 24};
    trace.steps[0].anchor.focus = identity;
    trace.steps[1].anchor.focus.tag = "textarea";
    trace.steps[1].anchor.focus.href = "http://wiki.example.test/x";
    id = (*s)->save_trace(trace);
    REQUIRE(id.ok());
    loaded = (*s)->load_trace(*id);
    REQUIRE(loaded.ok());
    CHECK(loaded->steps[0].anchor.identity == identity);
    CHECK(loaded->steps[0].anchor.focus == identity);
    CHECK(loaded->steps[1].anchor.identity.empty());
    CHECK(loaded->steps[1].anchor.focus == trace.steps[1].anchor.focus);
    identity.tag = "<script>";
    refused = (*s)->save_trace(trace);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message().find("must be a lower-case HTML tag name") != std::string::npos);
    identity.tag = "input";

    // Where each output's label was, on the last step: kept whole; an empty name refused.
    trace.steps.back().anchor.output_labels = {{"assignee", "div.assigned-to.attribute > div.label"}, {"status", "div.status.attribute > div.label"}};
    id = (*s)->save_trace(trace);
    REQUIRE(id.ok());
    loaded = (*s)->load_trace(*id);
    REQUIRE(loaded.ok());
    CHECK(loaded->steps.back().anchor.output_labels == trace.steps.back().anchor.output_labels);
    CHECK(loaded->steps.front().anchor.output_labels.empty());
    trace.steps.back().anchor.output_labels[""] = "div.label";
    refused = (*s)->save_trace(trace);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message().find("output label's name is empty") != std::string::npos);
}

TEST_CASE("trace steps cannot be edited in place")
{
    TempDir dir;
    const auto path = dir / "rote.db";
    {
        auto s = Store::open(path);
        REQUIRE(s.ok());
        REQUIRE((*s)->save_trace(fixture::sample_trace("registry-lookup", 2)).ok());
    }
    CHECK(fixture::raw_exec(path, "UPDATE steps SET settle_ms = 0") == SQLITE_CONSTRAINT);
}

TEST_CASE("an invalid trace is refused before anything is written")
{
    TempDir dir;
    const auto path = dir / "rote.db";
    auto s = Store::open(path);
    REQUIRE(s.ok());

    SUBCASE("a step refers to an artifact that exists nowhere")
    {
        NewTrace t = fixture::sample_trace("registry-lookup", 3);
        t.steps[2].post_artifact = content_hash(fixture::bytes("never stored"));
        auto r = (*s)->save_trace(t);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().message().find("step 2") != std::string::npos);
        CHECK(r.error().message().find("neither in the trace nor in the store") != std::string::npos);
    }
    SUBCASE("indices out of order")
    {
        NewTrace t = fixture::sample_trace("registry-lookup", 3);
        t.steps[1].index = 5;
        auto r = (*s)->save_trace(t);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().message().find("step 1: index is 5") != std::string::npos);
    }
    SUBCASE("an action a trace cannot hold")
    {
        NewTrace t = fixture::sample_trace("registry-lookup", 3);
        t.steps[0].action.kind = ActionKind::done;
        auto r = (*s)->save_trace(t);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().message().find("cannot record \"done\"") != std::string::npos);
    }
    SUBCASE("artifact bytes that do not match their hash")
    {
        NewTrace t = fixture::sample_trace("registry-lookup", 3);
        t.artifacts[0].data[0] ^= 0xff;
        auto r = (*s)->save_trace(t);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().message().find("does not match its bytes") != std::string::npos);
    }
    SUBCASE("a parent that does not exist")
    {
        NewTrace t = fixture::sample_trace("registry-lookup", 3);
        t.parent_id = 77;
        auto r = (*s)->save_trace(t);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code() == Error::Code::not_found);
    }
    CHECK(fixture::raw_int(path, "SELECT count(*) FROM traces") == 0);
    CHECK(fixture::raw_int(path, "SELECT count(*) FROM steps") == 0);
    CHECK(fixture::raw_int(path, "SELECT count(*) FROM artifacts") == 0);
    CHECK(fixture::raw_int(path, "SELECT count(*) FROM workflows") == 0);
}

TEST_CASE("artifacts are stored once however many steps use them")
{
    TempDir dir;
    auto s = Store::open(dir / "rote.db");
    REQUIRE(s.ok());

    auto h1 = (*s)->put_artifact(fixture::screen(1), "image/png");
    auto h2 = (*s)->put_artifact(fixture::screen(1), "image/png");
    REQUIRE(h1.ok());
    REQUIRE(h2.ok());
    CHECK(*h1 == *h2);
    CHECK(*h1 == content_hash(fixture::screen(1)));

    // 200 steps over 3 distinct screens and 5 distinct patches: 3 + 5 blobs (screen 1 already there).
    REQUIRE((*s)->save_trace(fixture::sample_trace("registry-lookup", 200, 3)).ok());
    // A second trace over the same screens adds no blob at all.
    REQUIRE((*s)->save_trace(fixture::sample_trace("registry-lookup", 200, 3)).ok());
    auto stats = (*s)->artifact_stats();
    REQUIRE(stats.ok());
    CHECK(stats->artifacts == 8);
    CHECK(stats->stored_bytes == 3 * 4096 + 5 * 512);
    CHECK(stats->references == 2 * 200 * 3);
    CHECK(stats->referenced_bytes == 2 * 200 * (4096 + 4096 + 512));
}

TEST_CASE("a trace whose stored JSON was damaged is reported as corrupt, not crashed on")
{
    TempDir dir;
    const auto path = dir / "rote.db";
    std::int64_t id = 0;
    {
        auto s = Store::open(path);
        REQUIRE(s.ok());
        id = *(*s)->save_trace(fixture::sample_trace("registry-lookup", 3));
    }
    REQUIRE(fixture::raw_exec(path,
                "DROP TRIGGER steps_are_immutable; UPDATE steps SET action = '{\"kind\": \"teleport\"}' WHERE idx = 1;")
        == SQLITE_OK);
    auto s = Store::open(path);
    REQUIRE(s.ok());
    auto t = (*s)->load_trace(id);
    REQUIRE_FALSE(t.ok());
    CHECK(t.error().code() == Error::Code::corrupt);
    CHECK(t.error().message().find("step 1") != std::string::npos);
    CHECK(t.error().message().find("teleport") != std::string::npos);
    CHECK((*s)->load_trace(999).error().code() == Error::Code::not_found);
}

TEST_CASE("a step that could not be read back is refused when written")
{
    TempDir dir;
    auto s = Store::open(dir / "rote.db");
    REQUIRE(s.ok());
    NewTrace t = fixture::sample_trace("registry-lookup", 2);
    t.steps[0].anchor.label_box = Rect {-20, 5, 60, 16};
    auto r = (*s)->save_trace(t);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message().find("step 0: anchor") != std::string::npos);
    t = fixture::sample_trace("registry-lookup", 2);
    t.steps[1].action.kind = ActionKind::key;
    t.steps[1].action.text.clear();
    CHECK_FALSE((*s)->save_trace(t).ok());
}
