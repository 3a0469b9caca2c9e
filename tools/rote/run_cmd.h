#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "common.h"

namespace rote::cli {

// `rote run` (a workflow, once or once per CSV row), `rote demo` (the whole idea, offline, in minutes) and
// `rote mcp` (the workflows as an MCP server's tools).
class RunCommands {
public:
    RunCommands(CLI::App& app, bool& as_json);
    bool parsed() const;
    int run(const Globals& g);

private:
    int run_workflow_cmd(const Globals& g);
    int demo(const Globals& g);
    int mcp(const Globals& g);

    bool& m_as_json;
    CLI::App* m_run = nullptr;
    CLI::App* m_demo = nullptr;
    CLI::App* m_mcp = nullptr;
    std::vector<std::string> m_workflows; // rote mcp --workflow
    std::string m_workflow;
    std::vector<std::string> m_inputs;
    std::string m_inputs_csv;
    std::string m_planner = "hints";
    std::string m_provider;
    std::string m_image;
    std::string m_keep;
    std::vector<std::string> m_routes;
    bool m_teach = false;
};

} // namespace rote::cli
