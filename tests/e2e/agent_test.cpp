// The agent loop end to end: real sandboxes, real Chromium, the demo sites over loopback, a real store file.

#include <doctest/doctest.h>

#include <filesystem>
#include <iostream>

#include <rote/runtime/agent.h>
#include <rote/store/store.h>

#include "runtime/support.h"

using namespace rote;
using namespace rote::runtime;

namespace {

struct Fixture {
    std::filesystem::path dir;
    std::unique_ptr<store::Store> store;

    Fixture()
    {
        dir = std::filesystem::temp_directory_path() / ("rote-e2e-" + std::to_string(::getpid()));
        std::filesystem::remove_all(dir);
        std::filesystem::create_directories(dir);
        auto s = store::Store::open(dir / "rote.db");
        REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().message()));
        store = std::move(*s);
    }
    ~Fixture() { std::filesystem::remove_all(dir); }
};

Workflow load(const char* name)
{
    auto w = load_workflow(std::string(ROTE_WORKFLOWS) + "/" + name + ".yaml");
    REQUIRE_MESSAGE(w.ok(), (w.ok() ? "" : w.error().message()));
    return *w;
}

RunResult run(store::Store& s, const Workflow& w, const std::map<std::string, std::string>& given, RunOptions options)
{
    auto inputs = check_inputs(w, given);
    REQUIRE_MESSAGE(inputs.ok(), (inputs.ok() ? "" : inputs.error().message()));
    options.progress = [](const std::string& line) { MESSAGE(line); };
    auto result = run_workflow(s, w, *inputs, options);
    REQUIRE_MESSAGE(result.ok(), (result.ok() ? "" : result.error().message()));
    return *result;
}

} // namespace

TEST_CASE("registry-lookup: taught with step hints, replayed for another company with no planner call")
{
    Fixture f;
    auto site = test::DemoSite::start("baseline");
    REQUIRE(site.ok());
    const Workflow w = load("registry-lookup");
    RunOptions options;
    options.routes["registry.example.test"] = site->registry_route();

    auto taught = run(*f.store, w, {{"company", "Acme Robotics Ltd"}}, options);
    CHECK_MESSAGE(taught.status == store::RunStatus::succeeded, taught.error);
    CHECK(taught.new_trace_id.has_value());
    CHECK(taught.outputs["registration_number"] == "08431277");
    CHECK(taught.outputs["status"] == "Active");

    auto replayed = run(*f.store, w, {{"company", "Northwind Traders Ltd"}}, options);
    CHECK_MESSAGE(replayed.status == store::RunStatus::succeeded, replayed.error);
    CHECK(replayed.planner_calls == 0);
    CHECK(replayed.outputs["registration_number"] == "05583120");
    CHECK(replayed.outputs["status"] == "Active");
    CHECK_FALSE(replayed.new_trace_id.has_value());
}
