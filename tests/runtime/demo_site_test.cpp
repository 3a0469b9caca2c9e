// The demo sites over real HTTP: each variant changes the page the way its name says, and the CRM keeps
// the leads it is given.

#include <doctest/doctest.h>

#include <chrono>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "support.h"

using namespace rote;

namespace {

std::string page(int port, const std::string& path)
{
    auto body = test::http_get(port, path);
    REQUIRE_MESSAGE(body, path);
    return *body;
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

} // namespace

TEST_CASE("each registry variant changes the page as its name says")
{
    auto site = test::DemoSite::start();
    REQUIRE(site);
    const int port = site->registry_port;
    std::string baseline = page(port, "/");
    CHECK(has(baseline, "Company name"));
    CHECK(has(baseline, ">Search</button>"));
    CHECK(has(baseline, "name=\"q\""));

    CHECK(has(page(port, "/?variant=moved"), "padding: 70px 24px 24px 96px"));
    CHECK(has(page(port, "/?variant=restyled"), "DejaVu Serif"));
    std::string renamed = page(port, "/?variant=renamed");
    CHECK(has(renamed, "Business name"));
    CHECK(has(renamed, ">Find</button>"));
    CHECK_FALSE(has(renamed, "Company name"));
    CHECK(has(page(port, "/?variant=banner"), "id=\"cookie-banner\""));
    CHECK(has(page(port, "/?variant=dynamic"), "setInterval(update, 1000)"));
    std::string extra = page(port, "/?variant=extra-step");
    CHECK(has(extra, "id=\"confirm\""));
    CHECK(has(extra, "type=\"button\""));
    std::string removed = page(port, "/?variant=removed");
    CHECK_FALSE(has(removed, "name=\"q\""));
    CHECK(has(removed, "/browse?letter=A"));
    CHECK(has(page(port, "/browse?letter=N"), "Northwind Traders Ltd"));

    const auto start = std::chrono::steady_clock::now();
    std::string slow = page(port, "/?variant=slow");
    CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(1400));
    CHECK(has(slow, "id=\"spinner\""));

    // Search, results, company page; the registry's data as JSON.
    std::string results = page(port, "/search?q=acme");
    CHECK(has(results, "2 results"));
    CHECK(has(results, "/company/08431277"));
    std::string company = page(port, "/company/08431277");
    CHECK(has(company, "Acme Robotics Ltd"));
    CHECK(has(company, "12 Foundry Lane, Sheffield S1 4PQ"));
    CHECK(has(company, "Active"));
    auto all = nlohmann::json::parse(page(port, "/api/companies"));
    CHECK(all.size() == 12);
}

TEST_CASE("the CRM signs in, stores a lead, confirms it with an id and lists it as JSON")
{
    auto site = test::DemoSite::start();
    REQUIRE(site);
    httplib::Client crm("127.0.0.1", site->crm_port);
    // The sign-in form's token comes with a cookie it must equal: without both, nothing is checked.
    auto sign_in = crm.Get("/");
    REQUIRE(sign_in);
    std::string login_cookie = sign_in->get_header_value("Set-Cookie");
    REQUIRE(login_cookie.starts_with("login_csrf="));
    login_cookie = login_cookie.substr(0, login_cookie.find(';'));
    const std::string login_token = login_cookie.substr(std::string("login_csrf=").size());
    CHECK(has(sign_in->body, "name=\"csrf_token\" value=\"" + login_token + "\""));
    const httplib::Headers with_cookie {{"Cookie", login_cookie}};
    for (const auto& [headers, form] : std::vector<std::pair<httplib::Headers, std::string>> {
             {{}, "csrf_token=" + login_token + "&user=demo&password=demo-pass"},
             {with_cookie, "user=demo&password=demo-pass"},
             {with_cookie, "csrf_token=" + std::string(32, 'a') + "&user=demo&password=demo-pass"}}) {
        auto forged = crm.Post("/login", headers, form, "application/x-www-form-urlencoded");
        REQUIRE(forged);
        CHECK(forged->status == 403);
    }
    auto wrong = crm.Post("/login", with_cookie, "csrf_token=" + login_token + "&user=demo&password=nope",
        "application/x-www-form-urlencoded");
    REQUIRE(wrong);
    CHECK(wrong->status == 401);
    CHECK(has(wrong->body, "Wrong user name or password"));

    auto login = crm.Post("/login", with_cookie, "csrf_token=" + login_token + "&user=demo&password=demo-pass",
        "application/x-www-form-urlencoded");
    REQUIRE(login);
    CHECK(login->status == 303);
    std::string cookie = login->get_header_value("Set-Cookie");
    cookie = cookie.substr(0, cookie.find(';'));
    httplib::Headers headers {{"Cookie", cookie}};

    auto form = crm.Get("/leads/new", headers);
    REQUIRE(form);
    CHECK(has(form->body, "Full name"));
    // The form's CSRF token, which a lead must carry: without it, or with another, nothing is saved.
    const std::string marker = "name=\"csrf_token\" value=\"";
    const std::size_t at = form->body.find(marker);
    REQUIRE(at != std::string::npos);
    const std::string token = form->body.substr(at + marker.size(), 32);
    for (const std::string& wrong_token : {std::string(), std::string(32, 'a')}) {
        auto forged = crm.Post("/leads", headers, "csrf_token=" + wrong_token + "&name=Eve&email=eve%40example.test",
            "application/x-www-form-urlencoded");
        REQUIRE(forged);
        CHECK(forged->status == 403);
    }
    auto invalid = crm.Post(
        "/leads", headers, "csrf_token=" + token + "&name=Ada&email=not-an-email", "application/x-www-form-urlencoded");
    REQUIRE(invalid);
    CHECK(invalid->status == 422);
    auto saved = crm.Post("/leads", headers,
        "csrf_token=" + token + "&name=Ada+Lovelace&email=ada%40example.test&company=Analytical+Engines&notes=met+at+expo",
        "application/x-www-form-urlencoded");
    REQUIRE(saved);
    CHECK(saved->status == 303);
    CHECK(saved->get_header_value("Location") == "/leads/L-1001");
    auto confirmation = crm.Get("/leads/L-1001", headers);
    REQUIRE(confirmation);
    CHECK(has(confirmation->body, "L-1001"));
    CHECK(has(confirmation->body, "Ada Lovelace"));

    auto leads = nlohmann::json::parse(page(site->crm_port, "/api/leads"));
    REQUIRE(leads.size() == 1);
    CHECK(leads[0]["id"] == "L-1001");
    CHECK(leads[0]["email"] == "ada@example.test");
    CHECK(leads[0]["company"] == "Analytical Engines");
    CHECK(leads[0]["notes"] == "met at expo");

    // Without a session the form is out of reach.
    auto anonymous = crm.Get("/leads/new");
    REQUIRE(anonymous);
    CHECK(anonymous->status == 303);
}
