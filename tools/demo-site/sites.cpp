#include "sites.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace rote::demo {

namespace {

constexpr std::array variant_names {
    std::pair {Variant::baseline, "baseline"},
    std::pair {Variant::moved, "moved"},
    std::pair {Variant::restyled, "restyled"},
    std::pair {Variant::renamed, "renamed"},
    std::pair {Variant::banner, "banner"},
    std::pair {Variant::slow, "slow"},
    std::pair {Variant::dynamic, "dynamic"},
    std::pair {Variant::extra_step, "extra-step"},
    std::pair {Variant::removed, "removed"},
    std::pair {Variant::deferred, "deferred"},
    std::pair {Variant::tall, "tall"},
};

std::string escape(std::string_view text)
{
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
        case '&':
            out += "&amp;";
            break;
        case '<':
            out += "&lt;";
            break;
        case '>':
            out += "&gt;";
            break;
        case '"':
            out += "&quot;";
            break;
        case '\'':
            out += "&#39;";
            break;
        default:
            out += c;
        }
    }
    return out;
}

std::string lower(std::string_view text)
{
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

// The value of one cookie from the request's Cookie header ("a=1; b=2").
std::string cookie(const httplib::Request& request, std::string_view name)
{
    std::string header = request.get_header_value("Cookie");
    std::string_view rest(header);
    while (!rest.empty()) {
        size_t end = rest.find(';');
        std::string_view pair = rest.substr(0, end);
        rest = end == std::string_view::npos ? std::string_view {} : rest.substr(end + 1);
        while (!pair.empty() && pair.front() == ' ')
            pair.remove_prefix(1);
        size_t eq = pair.find('=');
        if (eq != std::string_view::npos && pair.substr(0, eq) == name)
            return std::string(pair.substr(eq + 1));
    }
    return {};
}

// What one request renders with: its variant and the words that variant uses.
struct Context {
    Variant variant;
    bool consented = false;
    int deferred_ms = 0;

    bool is(Variant v) const { return variant == v; }
    // The label a page shows: `renamed` swaps the baseline words for others a redesign might pick.
    const char* word(const char* baseline, const char* renamed) const
    {
        return is(Variant::renamed) ? renamed : baseline;
    }
    // A form field's id and name: the redesign of `renamed` gives them new ones too, so nothing in the
    // document names them as before (a renamed control with no stable identity).
    std::string field(const char* baseline) const { return is(Variant::renamed) ? "v2-" + std::string(baseline) : baseline; }
};

// A form value, by its field's name in either design.
std::string param(const httplib::Request& request, const char* name)
{
    return request.has_param(name) ? request.get_param_value(name) : request.get_param_value("v2-" + std::string(name));
}

Context context_for(const httplib::Request& request, httplib::Response& response, const SiteOptions& options)
{
    Context context {options.variant};
    std::string chosen = request.has_param("variant") ? request.get_param_value("variant") : cookie(request, "variant");
    if (auto parsed = parse_variant(chosen)) {
        context.variant = *parsed;
        if (request.has_param("variant"))
            response.set_header("Set-Cookie", "variant=" + chosen + "; Path=/");
    }
    context.consented = cookie(request, "consent") == "yes";
    context.deferred_ms = options.deferred_ms;
    if (context.is(Variant::slow))
        std::this_thread::sleep_for(std::chrono::milliseconds(options.slow_ms));
    return context;
}

constexpr const char* base_css = R"html(
* { box-sizing: border-box; }
body { margin: 0; font-family: "DejaVu Sans", Arial, sans-serif; font-size: 15px; color: #1c2430; background: #f4f6f9; }
header { background: #1f3a5f; color: #fff; padding: 14px 24px; display: flex; align-items: center; gap: 24px; }
header .brand { font-size: 20px; font-weight: bold; }
header nav a { color: #cfe0f5; margin-right: 16px; text-decoration: none; }
main { padding: 24px; max-width: 980px; }
.card { background: #fff; border: 1px solid #d5dce5; border-radius: 6px; padding: 20px 24px; margin-bottom: 18px; }
h1 { font-size: 22px; margin: 0 0 14px 0; }
label { display: block; font-weight: bold; margin: 12px 0 6px 0; }
input[type=text], input[type=password], input[type=email], textarea { width: 360px; padding: 8px 10px; font-size: 15px; border: 1px solid #9aa8b8; border-radius: 4px; }
textarea { height: 70px; }
button, .button { background: #2b6cb0; color: #fff; border: 0; border-radius: 4px; padding: 9px 20px; font-size: 15px; cursor: pointer; margin-top: 14px; text-decoration: none; display: inline-block; }
button.secondary { background: #718096; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 9px 10px; border-bottom: 1px solid #e2e8f0; }
th { background: #edf2f7; }
dl { display: grid; grid-template-columns: 220px 1fr; row-gap: 10px; margin: 0; }
dt { font-weight: bold; color: #4a5568; }
.status-active { color: #276749; font-weight: bold; }
.status-dissolved { color: #9b2c2c; font-weight: bold; }
.error { color: #9b2c2c; font-weight: bold; }
.muted { color: #5a6778; }
.overlay { position: fixed; inset: 0; background: rgba(20, 26, 36, 0.55); display: flex; align-items: center; justify-content: center; }
.overlay .box { background: #fff; border-radius: 8px; padding: 24px 28px; width: 460px; box-shadow: 0 8px 30px rgba(0,0,0,.35); }
.hidden { display: none; }
#spinner .box { text-align: center; }
.spin { width: 42px; height: 42px; margin: 0 auto 12px auto; border: 5px solid #cbd5e0; border-top-color: #2b6cb0; border-radius: 50%; animation: spin 0.8s linear infinite; }
@keyframes spin { to { transform: rotate(360deg); } }
.ad { position: fixed; right: 24px; top: 90px; width: 220px; height: 140px; border-radius: 6px; padding: 16px; color: #fff; font-weight: bold; }
)html";

constexpr const char* moved_css = R"html(
main { padding: 70px 24px 24px 96px; }
label { margin-top: 22px; }
button, .button { margin-top: 30px; margin-left: 36px; }
)html";

constexpr const char* restyled_css = R"html(
body { font-family: "DejaVu Serif", Georgia, serif; font-size: 17px; background: #1d232d; color: #e6e9ee; }
header { background: #0f1318; }
header .brand { color: #f6ad55; font-size: 24px; }
.card { background: #272f3b; border-color: #3b4656; border-radius: 0; }
input[type=text], input[type=password], input[type=email], textarea { background: #11161d; color: #f0f0f0; border-color: #556275; font-size: 17px; }
button, .button { background: #dd6b20; border-radius: 18px; padding: 11px 26px; font-size: 17px; }
th { background: #323c4b; }
td, th { border-color: #3b4656; }
dt { color: #a0aec0; }
.overlay .box { background: #272f3b; }
)html";

std::string page(const Context& context, std::string_view brand, std::string_view title, std::string_view body)
{
    std::string html = "<!doctype html><html><head><meta charset=\"utf-8\"><title>";
    html += escape(title);
    html += "</title><style>";
    html += base_css;
    if (context.is(Variant::moved))
        html += moved_css;
    if (context.is(Variant::restyled))
        html += restyled_css;
    html += "</style></head><body><header><span class=\"brand\">";
    html += escape(brand);
    html += "</span>";
    if (context.is(Variant::dynamic))
        html += "<span id=\"clock\" class=\"muted\" style=\"color:#cfe0f5\"></span>";
    html += "</header><main>";
    html += body;
    html += "</main>";
    if (context.is(Variant::dynamic)) {
        html += R"html(<div class="ad" id="ad"></div><script>
const ads = [["Fast business loans", "#c05621"], ["Register your trademark", "#2f855a"], ["Cloud accounting, 30 days free", "#6b46c1"]];
let tick = 0;
function update() {
  document.getElementById("clock").textContent = new Date().toLocaleTimeString("en-GB");
  const ad = ads[tick++ % ads.length];
  const box = document.getElementById("ad");
  box.textContent = ad[0]; box.style.background = ad[1];
}
update(); setInterval(update, 1000);
</script>)html";
    }
    if (context.is(Variant::banner) && !context.consented) {
        html += R"html(<div class="overlay" id="cookie-banner"><div class="box"><h1>We value your privacy</h1>
<p>We use cookies to remember your preferences and to measure how this site is used.</p>
<button id="accept-cookies" onclick="document.cookie='consent=yes; path=/'; document.getElementById('cookie-banner').remove()">Accept all cookies</button>
</div></div>)html";
    }
    if (context.is(Variant::slow)) {
        html
            += R"html(<div class="overlay hidden" id="spinner"><div class="box"><div class="spin"></div>Loading&hellip;</div></div>
<script>for (const f of document.forms) f.addEventListener("submit", () => document.getElementById("spinner").classList.remove("hidden"));</script>)html";
    }
    if (context.is(Variant::deferred)) {
        // Submitted forms wait in script, with no traffic and no change on the screen: what a guest slow to
        // act on a key looks like from outside.
        html += "<script>for (const f of document.forms) f.addEventListener(\"submit\", (e) => { e.preventDefault(); "
                "setTimeout(() => f.submit(), "
            + std::to_string(context.deferred_ms) + "); });</script>";
    }
    html += "</body></html>";
    return html;
}

// A form whose submit button, in the `extra-step` variant, first opens a dialog that must be confirmed.
std::string form(const Context& context, std::string_view action, std::string_view method, std::string_view fields,
    std::string_view submit, std::string_view confirm_question)
{
    std::string html = "<form id=\"main-form\" action=\"" + std::string(action) + "\" method=\"" + std::string(method)
        + "\">" + std::string(fields);
    if (!context.is(Variant::extra_step)) {
        html += "<button type=\"submit\">" + escape(submit) + "</button></form>";
        return html;
    }
    html += "<button type=\"button\" onclick=\"document.getElementById('confirm').classList.remove('hidden')\">"
        + escape(submit) + "</button></form>";
    html += "<div class=\"overlay hidden\" id=\"confirm\"><div class=\"box\"><h1>Please confirm</h1><p>"
        + escape(confirm_question)
        + "</p><button type=\"button\" class=\"secondary\" "
          "onclick=\"document.getElementById('confirm').classList.add('hidden')\">Cancel</button> "
          "<button type=\"button\" onclick=\"document.getElementById('main-form').submit()\">Continue</button>"
          "</div></div>";
    return html;
}

void send_html(httplib::Response& response, std::string html, int status = 200)
{
    response.status = status;
    response.set_content(std::move(html), "text/html; charset=utf-8");
}

// ---- registry ----

struct Company {
    const char* number;
    const char* name;
    const char* address;
    const char* status;
    const char* incorporated;
};

constexpr std::array companies {
    Company {"08431277", "Acme Robotics Ltd", "12 Foundry Lane, Sheffield S1 4PQ", "Active", "14 March 2013"},
    Company {"11904532", "Acme Holdings plc", "1 Canal Street, Manchester M1 3HE", "Active", "2 April 2019"},
    Company {"05583120", "Northwind Traders Ltd", "88 Harbour Road, Bristol BS1 5TY", "Active", "27 Sept 2005"},
    Company {"09917744", "Globex Corporation Ltd", "4 Tower Place, London EC3R 5BU", "Active", "9 Dec 2015"},
    Company {"07266019", "Initech Software Ltd", "230 Station Road, Reading RG1 1LX", "Dissolved", "1 June 2010"},
    Company {"12650871", "Umbrella Analytics plc", "Unit 7, Science Park, Cambridge CB4 0WS", "Active", "17 June 2020"},
    Company {"06112398", "Stark Logistics Ltd", "Dock 3, Port of Tilbury, Essex RM18 7EH", "Active", "21 Feb 2007"},
    Company {"10045562", "Wayne Foods Ltd", "45 Market Square, Leeds LS1 6DT", "Active", "3 March 2016"},
    Company {"13378204", "Hooli Cloud Ltd", "9 Silicon Way, Edinburgh EH3 9QG", "Active", "30 April 2021"},
    Company {"04790012", "Soylent Nutrition Ltd", "16 Mill Street, Norwich NR3 1DE", "Dissolved", "11 June 2003"},
    Company {"14402218", "Cyberdyne Systems Ltd", "2 Skyline Drive, Milton Keynes MK9 2AB", "Active", "5 May 2022"},
    Company {"03318845", "Tyrell Genetics plc", "100 Offworld Row, Liverpool L3 4AF", "Liquidation", "8 Aug 1997"},
};

const Company* find_company(std::string_view number)
{
    for (const Company& c : companies) {
        if (number == c.number)
            return &c;
    }
    return nullptr;
}

constexpr const char* registry_brand = "Company Registry";

std::string status_span(const Company& company)
{
    std::string klass = std::string_view(company.status) == "Active" ? "status-active" : "status-dissolved";
    return "<span class=\"" + klass + "\">" + company.status + "</span>";
}

std::string results_table(const Context& context, const std::vector<const Company*>& found)
{
    std::string html = "<table><tr><th>" + std::string(context.word("Company", "Organisation")) + "</th><th>"
        + context.word("Registration number", "Company number") + "</th><th>Status</th></tr>";
    for (const Company* c : found) {
        html += "<tr><td><a href=\"/company/" + std::string(c->number) + "\">" + escape(c->name) + "</a></td><td>"
            + c->number + "</td><td>" + status_span(*c) + "</td></tr>";
    }
    return html + "</table>";
}

void registry_home(const httplib::Request& request, httplib::Response& response, const SiteOptions& options)
{
    Context context = context_for(request, response, options);
    std::string body
        = "<div class=\"card\"><h1>" + std::string(context.word("Find a company", "Look up a business")) + "</h1>";
    if (context.is(Variant::removed)) {
        body += "<p class=\"muted\">Search is unavailable while we upgrade the register. Browse companies by "
                "letter instead:</p><p>";
        for (char letter = 'A'; letter <= 'Z'; ++letter)
            body += std::string("<a href=\"/browse?letter=") + letter + "\">" + letter + "</a> ";
        body += "</p></div>";
    } else {
        const std::string q = context.field("q");
        std::string fields = "<label for=\"" + q + "\">" + std::string(context.word("Company name", "Business name"))
            + "</label><input type=\"text\" id=\"" + q + "\" name=\"" + q + "\" autocomplete=\"off\">";
        body += form(context, "/search", "get", fields, context.word("Search", "Find"),
            "Search the public register? Searches are logged.");
        body += "<p class=\"muted\">Search by the full or partial name of a registered company.</p></div>";
    }
    send_html(response, page(context, registry_brand, "Company Registry", body));
}

void registry_search(const httplib::Request& request, httplib::Response& response, const SiteOptions& options)
{
    Context context = context_for(request, response, options);
    std::string query = param(request, "q");
    std::string needle = lower(query);
    std::vector<const Company*> found;
    for (const Company& c : companies) {
        if (!needle.empty() && lower(c.name).find(needle) != std::string::npos)
            found.push_back(&c);
    }
    std::string body = "<div class=\"card\"><h1>" + std::string(context.word("Search results", "Matches")) + "</h1>";
    body += "<p class=\"muted\">" + std::to_string(found.size()) + " result" + (found.size() == 1 ? "" : "s")
        + " for &ldquo;" + escape(query) + "&rdquo; &middot; <a href=\"/\">New search</a></p>";
    if (context.is(Variant::tall)) {
        body += "<div style=\"height: 1400px\"><h2>Service notices</h2>";
        for (const char* notice : {"Filing deadlines move to the last working day of the month.",
                 "Scanned documents are available for companies registered after 1995.",
                 "The register is read-only on Sundays between 02:00 and 04:00 for maintenance."})
            body += "<p>" + std::string(notice) + "</p>";
        body += "</div>";
    }
    if (found.empty())
        body += "<p>No companies match that name.</p>";
    else
        body += results_table(context, found);
    body += "</div>";
    send_html(response, page(context, registry_brand, "Search results", body));
}

void registry_browse(const httplib::Request& request, httplib::Response& response, const SiteOptions& options)
{
    Context context = context_for(request, response, options);
    std::string letter = request.get_param_value("letter");
    std::vector<const Company*> found;
    for (const Company& c : companies) {
        if (letter.size() == 1 && std::toupper(static_cast<unsigned char>(letter[0])) == c.name[0])
            found.push_back(&c);
    }
    std::string body = "<div class=\"card\"><h1>Companies: " + escape(letter) + "</h1>" + results_table(context, found)
        + "<p><a href=\"/\">Back</a></p></div>";
    send_html(response, page(context, registry_brand, "Browse", body));
}

void registry_company(const httplib::Request& request, httplib::Response& response, const SiteOptions& options)
{
    Context context = context_for(request, response, options);
    const Company* c = find_company(request.matches[1].str());
    if (!c) {
        send_html(response,
            page(context, registry_brand, "Not found", "<div class=\"card\"><h1>No such company</h1></div>"), 404);
        return;
    }
    std::string body = "<div class=\"card\"><h1>" + escape(c->name) + "</h1><dl>";
    body += "<dt>" + std::string(context.word("Registration number", "Company number")) + "</dt><dd id=\"number\">"
        + c->number + "</dd>";
    body += "<dt>" + std::string(context.word("Registered address", "Office address")) + "</dt><dd>"
        + escape(c->address) + "</dd>";
    body += "<dt>" + std::string(context.word("Status", "Company status")) + "</dt><dd id=\"status\">" + status_span(*c)
        + "</dd>";
    body += "<dt>Incorporated</dt><dd>" + std::string(c->incorporated) + "</dd></dl>";
    body += "<p><a href=\"/\">New search</a></p></div>";
    send_html(response, page(context, registry_brand, c->name, body));
}

// ---- CRM ----

struct Lead {
    std::string id, name, email, company, notes, created_by;
};

struct CrmState {
    std::mutex mutex;
    std::vector<Lead> leads;
    std::map<std::string, std::string> sessions; // session cookie -> its CSRF token (the lead form's hidden field)
    int next_id = 1001;
};

constexpr const char* crm_brand = "Pipeline CRM";

std::string random_token()
{
    static thread_local std::mt19937_64 generator {std::random_device {}()};
    static constexpr char hex[] = "0123456789abcdef";
    std::string token;
    for (int i = 0; i < 32; ++i)
        token += hex[generator() % 16];
    return token;
}

// The sign-in form carries a token that must come back with the cookie it was set in (POST /login refuses a
// sign-in without both, equal: 403), as frameworks guard their login forms.
std::string login_page(const Context& context, std::string_view error, const std::string& csrf)
{
    const std::string user = context.field("user"), password = context.field("password");
    std::string fields = "<input type=\"hidden\" name=\"csrf_token\" value=\"" + csrf + "\"><label for=\"" + user + "\">" + std::string(context.word("User name", "Login"))
        + "</label><input type=\"text\" id=\"" + user + "\" name=\"" + user + "\" autocomplete=\"off\">"
        + "<label for=\"" + password + "\">Password</label><input type=\"password\" id=\"" + password + "\" name=\""
        + password + "\">";
    std::string body
        = "<div class=\"card\"><h1>" + std::string(context.word("Sign in to Pipeline", "Welcome back")) + "</h1>";
    if (!error.empty())
        body += "<p class=\"error\">" + escape(error) + "</p>";
    body += form(context, "/login", "post", fields, context.word("Sign in", "Log in"), "Sign in on this device?");
    return page(context, crm_brand, "Sign in", body + "</div>");
}

// The form carries the session's CSRF token; POST /leads refuses a lead without it (403).
std::string lead_form(const Context& context, std::string_view error, const std::string& csrf)
{
    std::string fields = "<input type=\"hidden\" name=\"csrf_token\" value=\"" + csrf + "\">";
    auto field = [&](const char* baseline_id, const char* baseline, const char* renamed, const char* type) {
        const std::string id = context.field(baseline_id);
        fields += "<label for=\"" + id + "\">" + context.word(baseline, renamed) + "</label>";
        if (std::string_view(type) == "textarea")
            fields += "<textarea id=\"" + id + "\" name=\"" + id + "\"></textarea>";
        else
            fields += "<input type=\"" + std::string(type) + "\" id=\"" + id + "\" name=\"" + id
                + "\" autocomplete=\"off\">";
    };
    field("name", "Full name", "Contact name", "text");
    field("email", "Email", "Email address", "text");
    field("company", "Company", "Organisation", "text");
    field("notes", "Notes", "Comments", "textarea");
    std::string body = "<div class=\"card\"><h1>" + std::string(context.word("New lead", "Add a prospect")) + "</h1>";
    if (!error.empty())
        body += "<p class=\"error\">" + escape(error) + "</p>";
    body += form(context, "/leads", "post", fields, context.word("Save lead", "Create prospect"),
        "Save this lead to the shared pipeline?");
    return page(context, crm_brand, "New lead", body + "</div>");
}

void redirect(httplib::Response& response, const std::string& to)
{
    response.status = 303;
    response.set_header("Location", to);
}

} // namespace

std::string_view to_string(Variant variant)
{
    for (auto [v, name] : variant_names) {
        if (v == variant)
            return name;
    }
    return "baseline";
}

std::optional<Variant> parse_variant(std::string_view name)
{
    for (auto [v, n] : variant_names) {
        if (name == n)
            return v;
    }
    return std::nullopt;
}

const std::vector<Variant>& all_variants()
{
    static const std::vector<Variant> variants = [] {
        std::vector<Variant> out;
        for (auto [v, name] : variant_names)
            out.push_back(v);
        return out;
    }();
    return variants;
}

void mount_registry(httplib::Server& server, const SiteOptions& options)
{
    server.Get("/", [options](const auto& rq, auto& rs) { registry_home(rq, rs, options); });
    // Every search and company page served, in order: the server-side record that tests check a run against
    // (a replay that searched for the wrong thing, or opened the wrong company, shows here).
    struct Log {
        std::mutex mutex;
        std::vector<std::string> searches;
        std::vector<std::string> opened;
    };
    auto log = std::make_shared<Log>();
    server.Get("/search", [options, log](const auto& rq, auto& rs) {
        {
            std::lock_guard lock(log->mutex);
            log->searches.push_back(param(rq, "q"));
        }
        registry_search(rq, rs, options);
    });
    server.Get("/api/searches", [log](const httplib::Request&, httplib::Response& response) {
        std::lock_guard lock(log->mutex);
        response.set_content(
            nlohmann::json {{"searches", log->searches}, {"opened", log->opened}}.dump(2), "application/json");
    });
    server.Get("/browse", [options](const auto& rq, auto& rs) { registry_browse(rq, rs, options); });
    server.Get(R"(/company/(\d+))", [options, log](const auto& rq, auto& rs) {
        {
            std::lock_guard lock(log->mutex);
            log->opened.push_back(rq.matches[1].str());
        }
        registry_company(rq, rs, options);
    });
    server.Get("/api/companies", [](const httplib::Request&, httplib::Response& response) {
        nlohmann::json list = nlohmann::json::array();
        for (const Company& c : companies) {
            list.push_back({{"number", c.number}, {"name", c.name}, {"address", c.address}, {"status", c.status},
                {"incorporated", c.incorporated}});
        }
        response.set_content(list.dump(2), "application/json");
    });
}

void mount_crm(httplib::Server& server, const SiteOptions& options)
{
    auto state = std::make_shared<CrmState>(); // shared by the handlers, which live as long as the server
    auto signed_in = [state](const httplib::Request& request) {
        std::lock_guard lock(state->mutex);
        return state->sessions.contains(cookie(request, "session"));
    };
    auto csrf_of = [state](const httplib::Request& request) {
        std::lock_guard lock(state->mutex);
        const auto it = state->sessions.find(cookie(request, "session"));
        return it == state->sessions.end() ? std::string() : it->second;
    };

    // A sign-in form's token, set in a cookie beside it (the cookie kept if the browser has one).
    auto login_token = [](const httplib::Request& request, httplib::Response& response) {
        std::string token = cookie(request, "login_csrf");
        if (token.size() != 32) {
            token = random_token();
            response.set_header("Set-Cookie", "login_csrf=" + token + "; Path=/; HttpOnly; SameSite=Strict");
        }
        return token;
    };
    server.Get("/", [options, signed_in, login_token](const httplib::Request& request, httplib::Response& response) {
        Context context = context_for(request, response, options);
        if (signed_in(request))
            return redirect(response, "/leads/new");
        send_html(response, login_page(context, "", login_token(request, response)));
    });
    server.Post("/login", [options, state, login_token](const httplib::Request& request, httplib::Response& response) {
        Context context = context_for(request, response, options);
        const std::string form_token = cookie(request, "login_csrf");
        if (form_token.size() != 32 || param(request, "csrf_token") != form_token)
            return send_html(response,
                page(context, crm_brand, "Forbidden",
                    "<div class=\"card\"><h1>This form has expired</h1><p>Open the sign-in page again.</p></div>"),
                403);
        if (param(request, "user") != options.crm_user || param(request, "password") != options.crm_password) {
            return send_html(response, login_page(context, "Wrong user name or password.", login_token(request, response)), 401);
        }
        std::string token = random_token();
        {
            std::lock_guard lock(state->mutex);
            state->sessions[token] = random_token();
        }
        response.set_header("Set-Cookie", "session=" + token + "; Path=/; HttpOnly");
        redirect(response, "/leads/new");
    });
    server.Get("/leads/new", [options, signed_in, csrf_of](const httplib::Request& request, httplib::Response& response) {
        Context context = context_for(request, response, options);
        if (!signed_in(request))
            return redirect(response, "/");
        send_html(response, lead_form(context, "", csrf_of(request)));
    });
    server.Post("/leads", [options, state, signed_in, csrf_of](const httplib::Request& request, httplib::Response& response) {
        Context context = context_for(request, response, options);
        if (!signed_in(request))
            return redirect(response, "/");
        if (param(request, "csrf_token") != csrf_of(request))
            return send_html(response,
                page(context, crm_brand, "Forbidden",
                    "<div class=\"card\"><h1>This form has expired</h1><p>Open the form again and resend it.</p></div>"),
                403);
        Lead lead {"", param(request, "name"), param(request, "email"), param(request, "company"), param(request, "notes"),
            options.crm_user};
        if (lead.name.empty() || lead.email.find('@') == std::string::npos)
            return send_html(
                response, lead_form(context, "A lead needs a name and a valid email address.", csrf_of(request)), 422);
        {
            std::lock_guard lock(state->mutex);
            lead.id = "L-" + std::to_string(state->next_id++);
            state->leads.push_back(lead);
        }
        redirect(response, "/leads/" + lead.id);
    });
    server.Get(
        R"(/leads/(L-\d+))", [options, state, signed_in](const httplib::Request& request, httplib::Response& response) {
            Context context = context_for(request, response, options);
            if (!signed_in(request))
                return redirect(response, "/");
            std::string id = request.matches[1].str();
            std::lock_guard lock(state->mutex);
            auto it = std::find_if(state->leads.begin(), state->leads.end(), [&](const Lead& l) { return l.id == id; });
            if (it == state->leads.end())
                return send_html(response,
                    page(context, crm_brand, "Not found", "<div class=\"card\"><h1>No such lead</h1></div>"), 404);
            std::string body = "<div class=\"card\"><h1>" + std::string(context.word("Lead saved", "Prospect created"))
                + "</h1><dl><dt>Lead ID</dt><dd id=\"lead-id\">" + it->id + "</dd><dt>Name</dt><dd>" + escape(it->name)
                + "</dd><dt>Email</dt><dd>" + escape(it->email) + "</dd><dt>Company</dt><dd>" + escape(it->company)
                + "</dd></dl><p><a class=\"button\" href=\"/leads/new\">" + context.word("New lead", "Add a prospect")
                + "</a></p></div>";
            send_html(response, page(context, crm_brand, "Lead saved", body));
        });
    server.Get("/api/leads", [state](const httplib::Request&, httplib::Response& response) {
        nlohmann::json list = nlohmann::json::array();
        std::lock_guard lock(state->mutex);
        for (const Lead& l : state->leads) {
            list.push_back({{"id", l.id}, {"name", l.name}, {"email", l.email}, {"company", l.company},
                {"notes", l.notes}, {"created_by", l.created_by}});
        }
        response.set_content(list.dump(2), "application/json");
    });
}

struct SiteServers::Impl {
    httplib::Server registry;
    httplib::Server crm;
    std::vector<std::thread> threads;
    std::once_flag stopped;
};

SiteServers::SiteServers(const SiteOptions& options, int registry_port, int crm_port)
    : m_impl(std::make_unique<Impl>())
{
    mount_registry(m_impl->registry, options);
    mount_crm(m_impl->crm, options);
    auto bind = [](httplib::Server& server, int port) {
        if (port == 0)
            return server.bind_to_any_port("127.0.0.1");
        return server.bind_to_port("127.0.0.1", port) ? port : -1;
    };
    m_registry_port = bind(m_impl->registry, registry_port);
    m_crm_port = bind(m_impl->crm, crm_port);
    if (m_registry_port > 0)
        m_impl->threads.emplace_back([this] { m_impl->registry.listen_after_bind(); });
    if (m_crm_port > 0)
        m_impl->threads.emplace_back([this] { m_impl->crm.listen_after_bind(); });
    // httplib's stop() does nothing until the serving thread has marked its server running; a stop before
    // that left the thread in accept() for good and stop() waiting for it. So return once both run.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (((m_registry_port > 0 && !m_impl->registry.is_running()) || (m_crm_port > 0 && !m_impl->crm.is_running()))
        && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

SiteServers::~SiteServers() { stop(); }

void SiteServers::stop()
{
    std::call_once(m_impl->stopped, [this] {
        m_impl->registry.stop();
        m_impl->crm.stop();
        for (auto& t : m_impl->threads)
            t.join();
    });
}

} // namespace rote::demo
