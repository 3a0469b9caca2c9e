#pragma once

// The two web sites a go-to-market workflow touches, served for rote's tests and demo: a company
// registry (search → results → company page) and a small CRM (login → new lead → confirmation). Each
// page can be rendered in one of several variants, the ways real sites drift between two runs of a
// workflow; the replay engine is tested against them.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace httplib {
class Server;
}

namespace rote::demo {

enum class Variant {
    baseline,
    moved, // buttons and fields shift by tens of pixels
    restyled, // other colours, fonts and sizes
    renamed, // labels and button texts changed
    banner, // a cookie banner that must be dismissed first
    slow, // responses delayed, a spinner shown
    dynamic, // a clock and a rotating ad that change every second
    extra_step, // a confirmation dialog before submit
    removed, // the registry's search field is gone
    deferred, // a form goes on its way seconds after submit, nothing shown meanwhile (a slow guest's key)
    tall, // a long notice above the search results: the results are below the fold
};

std::string_view to_string(Variant variant);
std::optional<Variant> parse_variant(std::string_view name);
const std::vector<Variant>& all_variants();

struct SiteOptions {
    Variant variant = Variant::baseline; // the default; `?variant=NAME` on any URL overrides it (kept in a cookie)
    std::string crm_user = "demo";
    std::string crm_password = "demo-pass";
    int slow_ms = 1500; // the delay of the `slow` variant
    int deferred_ms = 2500; // how long the `deferred` variant holds a submitted form
};

// Registers the registry's routes on `server`. The searches made and company pages opened are listed, in
// order, as JSON at GET /api/searches.
void mount_registry(httplib::Server& server, const SiteOptions& options);

// Registers the CRM's routes on `server`. Leads live in memory for the server's lifetime and are listed
// as JSON at GET /api/leads.
void mount_crm(httplib::Server& server, const SiteOptions& options);

// Both sites served on 127.0.0.1, each on its own thread, until stop() or destruction: the one way
// `rote-demo-site` and `rote demo` serve them. A port of 0 lets the system choose; registry_port() and
// crm_port() say what was bound (-1 if that port could not be bound: in use, or not allowed). Bound means
// listening: a connection made before the serving thread accepts it waits in the backlog.
class SiteServers {
public:
    explicit SiteServers(const SiteOptions& options, int registry_port = 0, int crm_port = 0);
    ~SiteServers();
    SiteServers(const SiteServers&) = delete;
    SiteServers& operator=(const SiteServers&) = delete;

    bool ok() const { return m_registry_port > 0 && m_crm_port > 0; }
    int registry_port() const { return m_registry_port; }
    int crm_port() const { return m_crm_port; }
    // Stops both servers and waits for their threads; idempotent. Safe from any thread, not from a signal
    // handler.
    void stop();

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
    int m_registry_port = -1;
    int m_crm_port = -1;
};

} // namespace rote::demo
