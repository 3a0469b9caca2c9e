// The agent loop with the LLM planner: the model is the stand-in server on loopback (the one thing this
// machine cannot reach), speaking Anthropic's wire format and grounding its answers on the screenshots it
// receives. Everything else is real: sandboxes, Chromium, the demo sites, the store file.

#include <doctest/doctest.h>

#include <sstream>


#include <rote/base/log.h>
#include <rote/llm/provider.h>

#include "e2e/support.h"
#include "llm/standin.h"

using namespace rote;
using namespace rote::runtime;
using namespace rote::e2e;
using namespace std::chrono_literals;
using Kind = test::StandInStep::Kind;

namespace {

const std::string kKey = "sk-rote-e2e-3c1d77a0";

test::StandInStep say(Kind kind, std::string text = {}, int occurrence = 0)
{
    test::StandInStep s;
    s.kind = kind;
    s.text = std::move(text);
    s.occurrence = occurrence;
    return s;
}

std::unique_ptr<llm::LlmProvider> model(const test::StandIn& server)
{
    llm::LlmConfig c;
    c.provider = llm::ProviderKind::anthropic;
    c.base_url = server.base_url();
    c.api_key = llm::Secret(kKey);
    c.request_timeout = 30s;
    c.deadline = 60s;
    auto provider = llm::make_provider(c);
    REQUIRE_MESSAGE(provider.ok(), (provider.ok() ? "" : provider.error().message()));
    return std::move(*provider);
}

RunOptions llm_options(llm::LlmProvider& provider, const test::DemoSite& site)
{
    RunOptions options = routed_to(site);
    options.planner = PlannerKind::llm;
    options.llm = &provider;
    return options;
}

} // namespace

TEST_CASE("crm-add-lead taught by the model, replayed with no model call; the password is nowhere but the page")
{
    CapturedLogs logs;
    std::vector<std::string> progress;
    Fixture f;
    auto site = test::DemoSite::start("baseline");
    REQUIRE(site.ok());
    const Workflow w = load("crm-add-lead");
    auto server = test::StandIn::start(kKey,
        {say(Kind::click, "User name"), say(Kind::type, "demo"), say(Kind::click, "Password"),
            say(Kind::type, "{{secret:crm_password}}"), say(Kind::key, "Return"), say(Kind::click, "Full name"),
            say(Kind::type, "Ada Lovelace"), say(Kind::click, "Email"), say(Kind::type, "ada@example.com"),
            say(Kind::click, "Company"), say(Kind::type, "Analytical Engines Ltd"), say(Kind::click, "Save lead"),
            say(Kind::done, "L-1001")});
    auto provider = model(*server);
    RunOptions options = llm_options(*provider, *site);
    options.progress = [&](const std::string& line) { progress.push_back(line); };

    auto taught = run(*f.store, w, kAda, options);
    CHECK_MESSAGE(taught.status == store::RunStatus::succeeded, taught.error);
    CHECK(server->violation().empty());
    CHECK(taught.outputs["lead_id"] == "L-1001");
    CHECK(taught.planner_calls == 13); // teaching: the model says when it is done
    CHECK(taught.cost_microusd > 0);
    REQUIRE(taught.new_trace_id.has_value());
    auto trace = f.store->load_trace(*taught.new_trace_id);
    REQUIRE(trace.ok());
    bool secret_step = false;
    for (const auto& step : trace->steps)
        secret_step = secret_step || (step.action.kind == ActionKind::type && step.action.text == "{{secret:crm_password}}");
    CHECK(secret_step);
    auto report = f.store->report({});
    REQUIRE(report.ok());
    CHECK(report->total.llm_calls == taught.planner_calls);
    CHECK(report->total.cost_microusd == taught.cost_microusd);

    auto replayed = run(*f.store, w, kGrace, options);
    CHECK_MESSAGE(replayed.status == store::RunStatus::succeeded, replayed.error);
    CHECK(replayed.planner_calls == 0);
    CHECK(replayed.cost_microusd == 0);
    CHECK(replayed.outputs["lead_id"] == "L-1002");

    const auto leads = crm_leads(*site);
    REQUIRE(leads.size() == 2);
    CHECK(leads[0]["name"] == "Ada Lovelace");
    CHECK(leads[0]["email"] == "ada@example.com");
    CHECK(leads[0]["company"] == "Analytical Engines Ltd");
    CHECK(leads[1]["name"] == "Grace Hopper");
    CHECK(leads[1]["email"] == "grace@example.com");
    CHECK(leads[1]["company"] == "Compilers Inc");

    // The password was typed (the CRM let both runs in) and is nowhere else: not in the store, not in a log
    // line or a progress line, not in any request sent to the model. Each check has its positive control.
    check_nowhere("demo-pass", "Grace Hopper", f, logs, progress);
    REQUIRE(server->requests().size() == 13);
    for (const auto& request : server->requests()) {
        CHECK(request.body.find("Ada Lovelace") != std::string::npos);
        CHECK(request.body.find("demo-pass") == std::string::npos);
    }
}

TEST_CASE("max_cost_usd: 0 spends nothing on models: the step hints teach, and the model is never asked")
{
    Fixture f;
    Workflow w = load("registry-lookup");
    w.policy.max_cost_microusd = 0;
    auto site = test::DemoSite::start("baseline");
    REQUIRE(site.ok());
    auto taught = run(*f.store, w, {{"company", "Acme Robotics Ltd"}}, routed_to(*site));
    CHECK_MESSAGE(taught.status == store::RunStatus::succeeded, taught.error);
    CHECK(taught.planner_calls > 0);
    CHECK(taught.cost_microusd == 0);

    auto server = test::StandIn::start(kKey, {say(Kind::click, "Company name")});
    auto provider = model(*server);
    RunOptions options = llm_options(*provider, *site);
    options.teach = true;
    auto refused = run(*f.store, w, {{"company", "Globex Corporation Ltd"}}, options);
    CHECK(refused.status == store::RunStatus::failed);
    CHECK_MESSAGE(refused.error.find("(max_cost_usd)") != std::string::npos, refused.error);
    CHECK(server->requests().empty());
}

TEST_CASE("registry-lookup: taught by the model; a banner costs one model call, then the repaired trace none")
{
    Fixture f;
    const Workflow w = load("registry-lookup");
    {
        auto site = test::DemoSite::start("baseline");
        REQUIRE(site.ok());
        // The company's name is on the results page twice: in "1 result for “Acme Robotics Ltd”" and in the
        // table. The model clicks the second, the link.
        auto server = test::StandIn::start(kKey,
            {say(Kind::click, "Company name"), say(Kind::type, "Acme Robotics Ltd"), say(Kind::key, "Return"),
                say(Kind::click, "Acme Robotics Ltd", 1), say(Kind::done, "08431277 Active")});
        auto provider = model(*server);
        auto taught = run(*f.store, w, {{"company", "Acme Robotics Ltd"}}, llm_options(*provider, *site));
        CHECK_MESSAGE(taught.status == store::RunStatus::succeeded, taught.error);
        CHECK(server->violation().empty());
        CHECK(taught.planner_calls == 5); // teaching: the model says when it is done
        CHECK(taught.outputs["registration_number"] == "08431277");
        auto replayed = run(*f.store, w, {{"company", "Northwind Traders Ltd"}}, llm_options(*provider, *site));
        CHECK_MESSAGE(replayed.status == store::RunStatus::succeeded, replayed.error);
        CHECK(replayed.planner_calls == 0);
        CHECK(replayed.outputs["registration_number"] == "05583120");
    }
    auto site = test::DemoSite::start("banner");
    REQUIRE(site.ok());
    auto server = test::StandIn::start(kKey, {say(Kind::click, "Accept all cookies")});
    auto provider = model(*server);
    auto repaired = run(*f.store, w, {{"company", "Globex Corporation Ltd"}}, llm_options(*provider, *site));
    CHECK_MESSAGE(repaired.status == store::RunStatus::succeeded, repaired.error);
    CHECK(server->violation().empty());
    CHECK(repaired.planner_calls == 1);
    CHECK(repaired.planned == 1);
    CHECK(repaired.new_trace_id.has_value());
    CHECK(repaired.outputs["registration_number"] == "09917744");
    // What the model was told: the goal, the input, and what the trace expected where it diverged.
    REQUIRE(server->requests().size() == 1);
    CHECK(server->requests()[0].body.find("Globex Corporation Ltd") != std::string::npos);
    // The banner let the click on "Company name" land on the overlay: the document says no field has the
    // focus (it did when recorded), so the click diverged, before anything was typed into nothing.
    CHECK(server->requests()[0].body.find("the recorded workflow's next step: click") != std::string::npos);
    CHECK(repaired.divergences.size() == 1);
    CHECK(repaired.divergences[0].trace_step == 0);
    CHECK(repaired.divergences[0].why.find("the focus is on no field") != std::string::npos);

    auto again = run(*f.store, w, {{"company", "Initech Software Ltd"}}, llm_options(*provider, *site));
    CHECK_MESSAGE(again.status == store::RunStatus::succeeded, again.error);
    CHECK(again.planner_calls == 0);
    CHECK(again.outputs["status"] == "Dissolved");
    const auto served = registry_log(*site);
    CHECK(served["searches"] == nlohmann::json::array({"Globex Corporation Ltd", "Initech Software Ltd"}));
}

TEST_CASE("registry-lookup on renamed labels: the model only for the diverged steps, then the repair replays")
{
    Fixture f;
    const Workflow w = load("registry-lookup");
    teach_with_hints(*f.store, w, {{"company", "Acme Robotics Ltd"}});
    auto site = test::DemoSite::start("renamed");
    REQUIRE(site.ok());
    // Step 0's label is gone ("Business name" now); later the results table's headings are renamed, so the
    // result link's landmarks no longer confirm it.
    auto server = test::StandIn::start(
        kKey, {say(Kind::click, "Business name"), say(Kind::click, "Hooli Cloud Ltd", 1), say(Kind::done, "ok")});
    auto provider = model(*server);
    auto repaired = run(*f.store, w, {{"company", "Hooli Cloud Ltd"}}, llm_options(*provider, *site));
    CHECK_MESSAGE(repaired.status == store::RunStatus::succeeded, repaired.error);
    CHECK(server->violation().empty());
    CHECK(repaired.planner_calls <= 2);
    CHECK(repaired.replayed + repaired.relocated >= 2);
    CHECK(repaired.outputs["registration_number"] == "13378204");
    REQUIRE(repaired.new_trace_id.has_value());

    auto again = run(*f.store, w, {{"company", "Wayne Foods Ltd"}}, llm_options(*provider, *site));
    CHECK_MESSAGE(again.status == store::RunStatus::succeeded, again.error);
    CHECK(again.planner_calls == 0);
    CHECK(again.outputs["registration_number"] == "10045562");
}

TEST_CASE("crm-add-lead with an extra confirmation step: the model confirms, the repaired trace replays it")
{
    Fixture f;
    const Workflow w = load("crm-add-lead");
    teach_with_hints(*f.store, w, kAda);
    auto site = test::DemoSite::start("extra-step");
    REQUIRE(site.ok());
    // Signing in now takes the button (Return no longer submits the form) and a confirmation; saving the lead
    // a confirmation too. The sign-in page says "Sign in" twice: in its heading first, then on the button.
    auto server = test::StandIn::start(kKey,
        {say(Kind::click, "Sign in", 1), say(Kind::click, "Continue"), say(Kind::click, "Continue"),
            say(Kind::done, "saved")});
    auto provider = model(*server);
    auto repaired = run(*f.store, w, kGrace, llm_options(*provider, *site));
    CHECK_MESSAGE(repaired.status == store::RunStatus::succeeded, repaired.error);
    CHECK(server->violation().empty());
    // Three calls act; a fourth, the model's "done", comes when the agent's instant look for the success text
    // (before asking the model again) finds the saved lead's page not yet painted (seen in 1 full run of 2).
    CHECK(repaired.planner_calls >= 3);
    CHECK(repaired.planner_calls <= 4);
    CHECK(repaired.planned == 3);
    REQUIRE(repaired.new_trace_id.has_value());
    auto again = run(*f.store, w, kAda, llm_options(*provider, *site));
    CHECK_MESSAGE(again.status == store::RunStatus::succeeded, again.error);
    CHECK(again.planner_calls == 0);
    const auto leads = crm_leads(*site);
    REQUIRE(leads.size() == 2);
    CHECK(leads[0]["name"] == "Grace Hopper");
    CHECK(leads[1]["name"] == "Ada Lovelace");
    CHECK(again.outputs["lead_id"] == "L-1002");
}
