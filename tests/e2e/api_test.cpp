// API plans end to end (docs/api.md): GUI runs in a real sandbox whose traffic the egress proxy captures, a
// plan mined from it and proved against them, then runs by the plan checked against the demo sites' own state,
// and the faults that must send a read back to the GUI and halt a write.

#include <doctest/doctest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

#include <fstream>

#include <httplib.h>

#include <rote/agent/api_plans.h>
#include <rote/egress/tls_authority.h>

#include "sites.h"

#include "e2e/support.h"

namespace rote::e2e {

namespace {

using runtime::RunMode;
using runtime::RunOptions;
using runtime::Workflow;

RunOptions in_mode(RunOptions options, RunMode mode)
{
    options.mode = mode;
    return options;
}

// A site that serves a sign-in page to every GET (a form token and its cookie, as the CRM's) and takes every
// POST without ever answering it: the connection is closed once the request has come.
class BlackHole {
public:
    BlackHole()
    {
        m_fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a {};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(m_fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        socklen_t len = sizeof a;
        ::getsockname(m_fd, reinterpret_cast<sockaddr*>(&a), &len);
        port = ntohs(a.sin_port);
        REQUIRE(::listen(m_fd, 16) == 0);
        m_thread = std::thread([this] {
            while (true) {
                const int c = ::accept(m_fd, nullptr, nullptr);
                if (c < 0)
                    return;
                char buffer[4096];
                const auto n = ::read(c, buffer, sizeof buffer); // the request's head (and its small body) came
                if (n > 3 && std::string_view(buffer, 3) == "GET") {
                    const std::string token(32, 'b');
                    const std::string page = "<html><body><form method=post action=/login><input type=hidden "
                                             "name=csrf_token value="
                        + token + "></form></body></html>";
                    const std::string answer = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nSet-Cookie: login_csrf=" + token
                        + "; Path=/\r\nContent-Length: " + std::to_string(page.size()) + "\r\nConnection: close\r\n\r\n" + page;
                    (void)::write(c, answer.data(), answer.size());
                } else {
                    ++taken;
                }
                ::close(c);
            }
        });
    }
    ~BlackHole()
    {
        ::shutdown(m_fd, SHUT_RDWR);
        ::close(m_fd);
        m_thread.join();
    }
    int port = 0;
    std::atomic<int> taken = 0;

private:
    int m_fd = -1;
    std::thread m_thread;
};

// The demo registry served over HTTPS on loopback, its certificate for registry.example.test from `ca` (a
// test CA the host side trusts through RunOptions::ca_file; no sandbox's browser trusts it).
class TlsRegistry {
public:
    TlsRegistry(runtime::TlsAuthority& ca, const std::filesystem::path& dir)
    {
        auto leaf = ca.leaf("registry.example.test");
        REQUIRE(leaf.ok());
        const auto chain = dir / "registry.pem", key = dir / "registry.key";
        std::ofstream(chain) << leaf->chain_pem;
        std::ofstream(key) << leaf->key_pem;
        ca_file = dir / "test-ca.pem";
        std::ofstream(ca_file) << ca.certificate_pem();
        m_server = std::make_unique<httplib::SSLServer>(chain.c_str(), key.c_str());
        REQUIRE(m_server->is_valid());
        m_server->set_logger([this](const httplib::Request&, const httplib::Response&) { ++requests; });
        demo::mount_registry(*m_server, demo::SiteOptions {});
        port = m_server->bind_to_any_port("127.0.0.1");
        REQUIRE(port > 0);
        m_thread = std::thread([this] { m_server->listen_after_bind(); });
    }
    ~TlsRegistry()
    {
        m_server->stop();
        m_thread.join();
    }
    int port = 0;
    std::filesystem::path ca_file;
    std::atomic<int> requests = 0;

private:
    std::unique_ptr<httplib::SSLServer> m_server;
    std::thread m_thread;
};

} // namespace

TEST_CASE("registry-lookup over HTTPS: the sandbox's own CA opens its traffic to capture, a plan is mined and run "
          "in TLS of its own; a certificate no trusted CA signed is refused by the proxy and by another browser")
{
    Fixture f;
    auto test_ca = runtime::TlsAuthority::make("test");
    REQUIRE(test_ca.ok());
    TlsRegistry site(**test_ca, f.dir);
    Workflow w = load("registry-lookup");
    w.start_url = "https://registry.example.test/";
    RunOptions options;
    options.routes["registry.example.test"] = "127.0.0.1:" + std::to_string(site.port);
    options.ca_file = site.ca_file;

    auto taught = run(*f.store, w, {{"company", "Acme Robotics Ltd"}}, in_mode(options, RunMode::gui));
    REQUIRE_MESSAGE(taught.status == store::RunStatus::succeeded, taught.error);
    CHECK(taught.outputs["registration_number"] == "08431277");
    auto replayed = run(*f.store, w, {{"company", "Globex Corporation Ltd"}}, in_mode(options, RunMode::gui));
    REQUIRE_MESSAGE(replayed.status == store::RunStatus::succeeded, replayed.error);
    auto traffic = f.store->run_requests(replayed.run_id);
    REQUIRE(traffic.ok());
    CHECK(std::any_of(traffic->begin(), traffic->end(), [](const store::RunRequest& r) {
        return r.scheme == "https" && r.path.starts_with("/search?") && r.capture && !r.capture->response_body.empty();
    }));

    runtime::DeriveOptions derive;
    derive.routes = options.routes;
    derive.ca_file = options.ca_file;
    auto d = runtime::derive_plan(*f.store, w, derive);
    REQUIRE_MESSAGE(d.ok(), (d.ok() ? "" : d.error().message()));
    CHECK_MESSAGE(d->standing == store::PlanStanding::proved, d->proof);
    REQUIRE(d->plan.requests.size() == 2);
    CHECK(d->plan.requests[0].scheme == "https");
    auto by_api = run(*f.store, w, {{"company", "Initech Software Ltd"}}, options);
    CHECK_MESSAGE(by_api.status == store::RunStatus::succeeded, by_api.error);
    CHECK(by_api.mode == "api");
    CHECK(by_api.outputs["registration_number"] == "07266019");
    CHECK(by_api.outputs["status"] == "Dissolved");

    // Without the test CA the proxy refuses the site's certificate, as a browser would: nothing is served.
    RunOptions untrusted = in_mode(options, RunMode::gui);
    untrusted.ca_file.clear();
    const int before = site.requests;
    auto refused = run(*f.store, w, {{"company", "Initech Software Ltd"}}, untrusted);
    CHECK(refused.status == store::RunStatus::failed);
    CHECK_MESSAGE(refused.error.find("certificate") != std::string::npos, refused.error);
    CHECK(site.requests == before);
    // A browser trusts its own sandbox's CA only. Another sandbox's CA signs the site's certificate; this
    // run's TLS goes straight to the site (capture off: a tunnel): its browser refuses it, and the site serves
    // nothing. The same site is served to the sandbox whose CA it is.
    runtime::SessionSpec other_spec;
    other_spec.capture_limit = 1024;
    auto other = runtime::Session::start(other_spec);
    REQUIRE_MESSAGE(other.ok(), (other.ok() ? "" : other.error().message()));
    REQUIRE((*other)->authority());
    std::filesystem::create_directories(f.dir / "other");
    TlsRegistry others_site(*(*other)->authority(), f.dir / "other");
    Workflow tunnelled = w;
    tunnelled.policy.capture = false;
    RunOptions to_others = in_mode(options, RunMode::gui);
    to_others.routes["registry.example.test"] = "127.0.0.1:" + std::to_string(others_site.port);
    auto foreign = run(*f.store, tunnelled, {{"company", "Initech Software Ltd"}}, to_others);
    CHECK(foreign.status == store::RunStatus::failed);
    CHECK(others_site.requests == 0);
}

TEST_CASE("registry-lookup: a plan mined from GUI runs is proved, reads 10 other companies as the GUI does, and "
          "hands a changed or unreachable site back to the GUI")
{
    Fixture f;
    auto site = test::DemoSite::start("baseline");
    REQUIRE(site.ok());
    const Workflow w = load("registry-lookup");
    const RunOptions gui = in_mode(routed_to(*site), RunMode::gui);

    // No plan yet: --mode api says so, auto runs the GUI.
    auto none = runtime::run_workflow(*f.store, w, *runtime::check_inputs(w, {{"company", "Acme Robotics Ltd"}}),
        in_mode(routed_to(*site), RunMode::api));
    REQUIRE_FALSE(none.ok());
    CHECK(none.error().message().find("has no proved API plan") != std::string::npos);

    auto taught = run(*f.store, w, {{"company", "Acme Robotics Ltd"}}, routed_to(*site));
    REQUIRE_MESSAGE(taught.status == store::RunStatus::succeeded, taught.error);
    CHECK(taught.mode == "gui");
    auto replayed = run(*f.store, w, {{"company", "Northwind Traders Ltd"}}, gui);
    REQUIRE_MESSAGE(replayed.status == store::RunStatus::succeeded, replayed.error);

    runtime::DeriveOptions derive;
    derive.routes = gui.routes;
    auto d = runtime::derive_plan(*f.store, w, derive);
    REQUIRE_MESSAGE(d.ok(), (d.ok() ? "" : d.error().message()));
    CHECK_MESSAGE(d->standing == store::PlanStanding::proved, d->proof);
    CHECK(d->cases == 2);
    CHECK(d->run_id == replayed.run_id);
    CHECK_FALSE(d->plan.writes());
    // The search the input makes, then the result's link; the page's assets and the start page are not needed.
    REQUIRE(d->plan.requests.size() == 2);
    CHECK(d->plan.requests[0].query.size() == 1);
    CHECK(d->plan.requests[0].query[0].second == "{{company}}");
    CHECK(d->plan.requests[1].link_request == 0);

    // Ten other companies, each by the GUI and by the plan: the same outputs, and the registry's own.
    auto companies = nlohmann::json::parse(*test::http_get(site->registry_port, "/api/companies"));
    int compared = 0;
    for (const auto& c : companies) {
        const std::string name = c["name"];
        if (name == "Acme Robotics Ltd" || name == "Northwind Traders Ltd")
            continue;
        auto by_gui = run(*f.store, w, {{"company", name}}, gui);
        auto by_api = run(*f.store, w, {{"company", name}}, routed_to(*site));
        CHECK_MESSAGE(by_gui.status == store::RunStatus::succeeded, by_gui.error);
        CHECK_MESSAGE(by_api.status == store::RunStatus::succeeded, by_api.error);
        CHECK(by_gui.mode == "gui");
        CHECK(by_api.mode == "api");
        CHECK(by_api.plan_id == d->plan_id);
        CHECK(by_api.outputs == by_gui.outputs);
        CHECK(by_api.outputs["registration_number"] == c["number"]);
        CHECK(by_api.outputs["status"] == c["status"]);
        ++compared;
    }
    CHECK(compared == 10);
    // The registry saw the plan's searches and page views as it saw the GUI's.
    const auto log = registry_log(*site);
    CHECK(std::count(log["searches"].begin(), log["searches"].end(), "Tyrell Genetics plc") == 2);
    CHECK(std::count(log["opened"].begin(), log["opened"].end(), "03318845") == 2);

    // A changed site: the plan's rule finds no label there; the run is recorded, and the GUI does the work.
    auto renamed = test::DemoSite::start("renamed");
    REQUIRE(renamed.ok());
    auto changed = run(*f.store, w, {{"company", "Globex Corporation Ltd"}}, routed_to(*renamed));
    CHECK_MESSAGE(changed.status == store::RunStatus::succeeded, changed.error);
    CHECK(changed.mode == "gui");
    CHECK_MESSAGE(changed.mode_why.find("API plan " + std::to_string(d->plan_id) + " failed in run ") != std::string::npos,
        changed.mode_why);
    CHECK(changed.outputs["registration_number"] == "09917744");
    auto outcomes = f.store->run_outcomes(w.name, 3);
    REQUIRE(outcomes.ok());
    const auto api_failure = std::find_if(outcomes->begin(), outcomes->end(),
        [](const store::RunOutcome& o) { return o.provider == "api" && o.status == store::RunStatus::failed; });
    CHECK(api_failure != outcomes->end());

    // A site that cannot be reached: the plan did nothing there; the GUI is tried (and fails as well).
    RunOptions down = routed_to(*site);
    down.routes["registry.example.test"] = "127.0.0.1:" + std::to_string(test::free_loopback_port());
    auto unreachable = run(*f.store, w, {{"company", "Globex Corporation Ltd"}}, down);
    CHECK(unreachable.status == store::RunStatus::failed);
    CHECK(unreachable.mode == "gui");
    CHECK_MESSAGE(unreachable.mode_why.find("(unreachable: ") != std::string::npos, unreachable.mode_why);
    // --mode api does not fall back.
    auto only_api = run(*f.store, w, {{"company", "Globex Corporation Ltd"}}, in_mode(down, RunMode::api));
    CHECK(only_api.status == store::RunStatus::failed);
    CHECK(only_api.mode == "api");
    CHECK(only_api.error.find("never reached the site") != std::string::npos);
}

TEST_CASE("crm-add-lead: a plan that signs in, carries the form's CSRF token and the session cookie, and creates "
          "10 leads the CRM holds; proved only where writes may be re-run; a write whose answer never comes halts")
{
    Fixture f;
    auto site = test::DemoSite::start("baseline");
    REQUIRE(site.ok());
    Workflow w = load("crm-add-lead");
    const RunOptions gui = in_mode(routed_to(*site), RunMode::gui);
    CapturedLogs logs; // every component's log lines, at debug: the password must be in none
    auto ada = run(*f.store, w, kAda, gui);
    REQUIRE_MESSAGE(ada.status == store::RunStatus::succeeded, ada.error);
    auto grace = run(*f.store, w, kGrace, gui);
    REQUIRE_MESSAGE(grace.status == store::RunStatus::succeeded, grace.error);

    // The workflow as shipped does not let rote send its writes again to prove a plan: kept unproven, unused.
    runtime::DeriveOptions derive;
    derive.routes = gui.routes;
    auto unproven = runtime::derive_plan(*f.store, w, derive);
    REQUIRE_MESSAGE(unproven.ok(), (unproven.ok() ? "" : unproven.error().message()));
    CHECK(unproven->standing == store::PlanStanding::unproven);
    CHECK(unproven->proof.find("policy.api_check_writes") != std::string::npos);
    CHECK(crm_leads(*site).size() == 2); // proving sent nothing
    auto still_gui = run(*f.store, w, kAda, routed_to(*site));
    CHECK(still_gui.mode == "gui");

    // On a test system it may: proved by sending the leads again, then used. Proving reads the password
    // where every run without a typed one does: ROTE_SECRET_CRM_PASSWORD.
    w.policy.api_check_writes = true;
    ::setenv("ROTE_SECRET_CRM_PASSWORD", "demo-pass", 1);
    auto d = runtime::derive_plan(*f.store, w, derive);
    REQUIRE_MESSAGE(d.ok(), (d.ok() ? "" : d.error().message()));
    CHECK_MESSAGE(d->standing == store::PlanStanding::proved, d->proof);
    CHECK(d->plan.writes());
    // The sign-in page (its form's token and the cookie it must equal), sign in, the lead form (its CSRF
    // token), the lead, the page the redirect names.
    REQUIRE(d->plan.requests.size() == 5);
    const auto& sign_in = d->plan.requests[1];
    const auto login_token = std::find_if(sign_in.form.begin(), sign_in.form.end(), [](const auto& p) { return p.first == "csrf_token"; });
    REQUIRE(login_token != sign_in.form.end());
    CHECK(login_token->second == "{{got_0_0}}");
    CHECK(std::find(sign_in.cookies.begin(), sign_in.cookies.end(), "login_csrf") != sign_in.cookies.end());
    const auto& lead = d->plan.requests[3];
    CHECK(lead.method == "POST");
    const auto token = std::find_if(lead.form.begin(), lead.form.end(), [](const auto& p) { return p.first == "csrf_token"; });
    REQUIRE(token != lead.form.end());
    CHECK(token->second == "{{got_2_0}}");
    CHECK(std::find(lead.cookies.begin(), lead.cookies.end(), "session") != lead.cookies.end());
    const auto password = std::find_if(sign_in.form.begin(), sign_in.form.end(), [](const auto& p) { return p.first == "password"; });
    REQUIRE(password != sign_in.form.end());
    CHECK(password->second == "{{secret:crm_password}}");

    for (int i = 0; i < 10; ++i) {
        const std::string n = std::to_string(i);
        std::map<std::string, std::string> given {{"name", "Lead Number " + n}, {"email", "lead" + n + "@example.test"},
            {"company", "Firm & Sons " + n}, {"crm_user", "demo"}, {"crm_password", "demo-pass"}};
        auto by_api = run(*f.store, w, given, routed_to(*site));
        CHECK_MESSAGE(by_api.status == store::RunStatus::succeeded, by_api.error);
        CHECK(by_api.mode == "api");
        const auto leads = crm_leads(*site);
        const auto it = std::find_if(leads.begin(), leads.end(), [&](const auto& l) { return l["id"] == by_api.outputs["lead_id"]; });
        REQUIRE(it != leads.end());
        CHECK((*it)["name"] == given["name"]);
        CHECK((*it)["email"] == given["email"]);
        CHECK((*it)["company"] == given["company"]);
    }
    // The password is nowhere in the store, plain or encoded.
    const std::string logged = logs.text();
    CHECK(logged.find("POST crm.example.test:80/leads") != std::string::npos); // the plan's requests are logged
    for (const char* spelling : {"demo-pass", "demo%2Dpass", "ZGVtby1wYXNz"}) {
        CHECK_FALSE(store_contains(f.db(), spelling));
        CHECK(logged.find(spelling) == std::string::npos);
    }

    // A write sent whose answer never comes: what it did is unknown, so the run halts, and no GUI repeats it.
    BlackHole hole;
    RunOptions lost = routed_to(*site);
    lost.routes["crm.example.test"] = "127.0.0.1:" + std::to_string(hole.port);
    auto halted = run(*f.store, w, kGrace, lost);
    CHECK(halted.status == store::RunStatus::failed);
    CHECK(halted.mode == "api");
    CHECK_MESSAGE(halted.error.find("what it did is not known") != std::string::npos, halted.error);
    CHECK(halted.error.find("the run halts") != std::string::npos);
    CHECK(hole.taken == 1);
    ::unsetenv("ROTE_SECRET_CRM_PASSWORD");
    // The site down: a write plan halts too (the GUI does not take over a plan that writes).
    RunOptions down = routed_to(*site);
    down.routes["crm.example.test"] = "127.0.0.1:" + std::to_string(test::free_loopback_port());
    auto refused = run(*f.store, w, kGrace, down);
    CHECK(refused.status == store::RunStatus::failed);
    CHECK(refused.mode == "api");
    CHECK_MESSAGE(refused.error.find("never reached the site") != std::string::npos, refused.error);
}

} // namespace rote::e2e
