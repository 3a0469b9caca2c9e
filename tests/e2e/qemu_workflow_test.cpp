// registry-lookup inside a VM: a trace taught in the local sandbox replays in a qemu sandbox with no planner
// call (the desktop is reached over VNC either way), and a VM teaches and replays on its own too.

#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "e2e/support.h"

using namespace rote;
using namespace rote::e2e;
using runtime::RunOptions;

namespace {

RunOptions in_vm(const test::DemoSite& site)
{
    const char* image = std::getenv("ROTE_TEST_IMAGE");
    REQUIRE_MESSAGE(image, "ROTE_TEST_IMAGE names the image the qemu_image fixture built");
    RunOptions options = routed_to(site);
    options.provider = "qemu";
    options.image = image;
    return options;
}

} // namespace

TEST_CASE("qemu: registry-lookup taught in the local sandbox replays in a VM with no planner call")
{
    Fixture f;
    const runtime::Workflow w = load("registry-lookup");
    teach_with_hints(*f.store, w, {{"company", "Acme Robotics Ltd"}});

    auto site = test::DemoSite::start("baseline");
    REQUIRE(site.ok());
    auto replayed = run(*f.store, w, {{"company", "Northwind Traders Ltd"}}, in_vm(*site));
    CHECK_MESSAGE(replayed.status == store::RunStatus::succeeded, replayed.error);
    CHECK(replayed.planner_calls == 0);
    CHECK(replayed.outputs["registration_number"] == "05583120");
    CHECK(replayed.outputs["status"] == "Active");
    MESSAGE("replayed in the VM in ", replayed.wall_ms, " ms");
    const auto served = registry_log(*site);
    CHECK(served["searches"] == nlohmann::json::array({"Northwind Traders Ltd"}));
}

TEST_CASE("qemu: registry-lookup taught with step hints in a VM replays there for another company")
{
    Fixture f;
    const runtime::Workflow w = load("registry-lookup");
    auto site = test::DemoSite::start("baseline");
    REQUIRE(site.ok());
    auto taught = run(*f.store, w, {{"company", "Acme Robotics Ltd"}}, in_vm(*site));
    REQUIRE_MESSAGE(taught.status == store::RunStatus::succeeded, taught.error);
    CHECK(taught.outputs["registration_number"] == "08431277");
    auto replayed = run(*f.store, w, {{"company", "Globex Corporation Ltd"}}, in_vm(*site));
    CHECK_MESSAGE(replayed.status == store::RunStatus::succeeded, replayed.error);
    CHECK(replayed.planner_calls == 0);
    CHECK(replayed.outputs["registration_number"] == "09917744");
}

TEST_CASE("qemu: a warm pool's VM, restored and held on its waiting page, replays a run sent to its start page")
{
    Fixture f;
    const runtime::Workflow w = load("registry-lookup");
    teach_with_hints(*f.store, w, {{"company", "Acme Robotics Ltd"}});
    auto site = test::DemoSite::start("baseline");
    REQUIRE(site.ok());
    RunOptions options = in_vm(*site);
    runtime::SessionPool pool(1);
    pool.warm(runtime::session_spec(w, options));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(3);
    while (pool.ready() < 1 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    REQUIRE(pool.ready() == 1);
    // Held: the registry has seen nothing from it.
    CHECK(registry_log(*site)["searches"].empty());
    options.pool = &pool;
    auto replayed = run(*f.store, w, {{"company", "Initech Software Ltd"}}, options);
    CHECK_MESSAGE(replayed.status == store::RunStatus::succeeded, replayed.error);
    CHECK(replayed.warm);
    CHECK(replayed.planner_calls == 0);
    CHECK(replayed.outputs["registration_number"] == "07266019");
    CHECK(replayed.outputs["status"] == "Dissolved");
    MESSAGE("replayed in a warm VM in ", replayed.wall_ms, " ms");
    pool.drain();
    CHECK(pool.ready() == 0);
}
