#pragma once

// Running an API plan: its requests, in order, through an egress proxy of its own with the workflow's
// allowlist and routes (the same policy a sandbox gets), values carried by its rules, outputs read.

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <rote/api/plan.h>
#include <rote/base/result.h>

namespace rote::api {

struct Policy {
    std::vector<std::string> allow;
    std::map<std::string, std::string> routes;
    std::chrono::milliseconds timeout {30000};
    // HTTPS goes through the proxy's tunnel, in TLS of the runner's own: sites' certificates are checked
    // against the system's CAs and this one (a company's own; tests), and their names.
    std::filesystem::path ca_file;
};

// How a plan's run ended.
enum class Outcome {
    done, // every request answered as recorded; the outputs were read
    unreachable, // a request never reached the site (refused connection, no address, not allowed): nothing
                 // was done there by it
    changed, // an answer was not what the plan expects (status class, media type, a rule read nothing)
    unknown, // a write was sent and its answer never came: what it did is not known
};
std::string_view to_string(Outcome outcome);

struct RequestDone {
    std::string method;
    std::string url; // secrets as placeholders
    int status = 0;
    double ms = 0;
};

struct PlanRun {
    Outcome outcome = Outcome::done;
    std::string why; // empty when done
    int failed_request = -1; // the request it stopped at
    bool wrote = false; // a write request was sent (whatever came back)
    std::map<std::string, std::string> outputs;
    std::vector<RequestDone> requests;
    double ms = 0;
};

// Runs `plan` for these inputs and secrets. Fails only when it cannot start (the proxy, a template naming
// an input the run lacks); everything the site does is in the PlanRun.
Result<PlanRun> run_plan(const Plan& plan, const Policy& policy, const std::map<std::string, std::string>& inputs,
    const std::map<std::string, std::string>& secrets);

} // namespace rote::api
