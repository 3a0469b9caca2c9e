// rote-demo-site: the company registry and the CRM that rote's tests and demo drive, on loopback only.

#include <csignal>
#include <cstdio>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "sites.h"

namespace {

httplib::Server* g_servers[2] = {};

void stop_servers(int)
{
    for (httplib::Server* server : g_servers) {
        if (server)
            server->stop();
    }
}

} // namespace

int main(int argc, char** argv)
{
    CLI::App app {"Serves rote's demo sites on 127.0.0.1: a company registry (search, results, company page) and a "
                  "small CRM (login, new lead, confirmation; leads listed as JSON at /api/leads). Prints one JSON "
                  "line with both base URLs once they listen, and runs until SIGINT or SIGTERM."};
    std::string variant_name = "baseline";
    int registry_port = 0;
    int crm_port = 0;
    rote::demo::SiteOptions options;
    std::vector<std::string> names;
    for (auto v : rote::demo::all_variants())
        names.emplace_back(rote::demo::to_string(v));
    app.add_option("--variant", variant_name, "Default variant; any URL can pick another with ?variant=NAME")
        ->check(CLI::IsMember(names))
        ->capture_default_str();
    app.add_option("--registry-port", registry_port, "Port of the registry (0: any free port)")->capture_default_str();
    app.add_option("--crm-port", crm_port, "Port of the CRM (0: any free port)")->capture_default_str();
    app.add_option("--crm-user", options.crm_user, "The CRM's user name")->capture_default_str();
    app.add_option("--crm-password", options.crm_password, "The CRM's password")->capture_default_str();
    app.add_option("--slow-ms", options.slow_ms, "Delay of each response in the 'slow' variant")
        ->check(CLI::Range(0, 600000))
        ->capture_default_str();
    app.add_option("--deferred-ms", options.deferred_ms, "How long the 'deferred' variant holds a submitted form")
        ->check(CLI::Range(0, 600000))
        ->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    options.variant = *rote::demo::parse_variant(variant_name);

    httplib::Server registry;
    httplib::Server crm;
    rote::demo::mount_registry(registry, options);
    rote::demo::mount_crm(crm, options);

    auto bind = [](httplib::Server& server, int port) {
        if (port == 0)
            return server.bind_to_any_port("127.0.0.1");
        return server.bind_to_port("127.0.0.1", port) ? port : -1;
    };
    int registry_bound = bind(registry, registry_port);
    int crm_bound = bind(crm, crm_port);
    if (registry_bound < 0 || crm_bound < 0) {
        std::cerr << "rote-demo-site: cannot listen on 127.0.0.1:" << (registry_bound < 0 ? registry_port : crm_port)
                  << " (in use?)\n";
        return 1;
    }
    g_servers[0] = &registry;
    g_servers[1] = &crm;
    std::signal(SIGINT, stop_servers);
    std::signal(SIGTERM, stop_servers);

    std::thread crm_thread([&] { crm.listen_after_bind(); });
    nlohmann::json ready {{"registry", "http://127.0.0.1:" + std::to_string(registry_bound)},
        {"crm", "http://127.0.0.1:" + std::to_string(crm_bound)}, {"variant", variant_name}};
    std::cout << ready.dump() << std::endl;
    registry.listen_after_bind();
    crm.stop();
    crm_thread.join();
    return 0;
}
