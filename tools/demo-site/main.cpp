// rote-demo-site: the company registry and the CRM that rote's tests and demo drive, on loopback only.

#include <csignal>
#include <iostream>

#include <pthread.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "sites.h"

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

    // SIGINT and SIGTERM are waited for, not handled: blocked here, before the servers' threads start, so
    // that every thread inherits the mask and sigwait below takes them.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    rote::demo::SiteServers sites(options, registry_port, crm_port);
    if (!sites.ok()) {
        std::cerr << "rote-demo-site: cannot listen on 127.0.0.1:"
                  << (sites.registry_port() < 0 ? registry_port : crm_port) << " (in use?)\n";
        return 1;
    }
    nlohmann::json ready {{"registry", "http://127.0.0.1:" + std::to_string(sites.registry_port())},
        {"crm", "http://127.0.0.1:" + std::to_string(sites.crm_port())}, {"variant", variant_name}};
    std::cout << ready.dump() << std::endl;
    int signal = 0;
    sigwait(&stop_signals, &signal);
    sites.stop();
    return 0;
}
