#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <rote/agent/agent.h>
#include <rote/agent/workflow.h>
#include <rote/llm/provider.h>

#include "common.h"

namespace rote::cli {

// A workflow file by path; or by name: workflows/NAME.yaml here, then in $ROTE_HOME/workflows, then the
// examples built into rote.
Result<runtime::Workflow> find_workflow(const std::string& arg);
// NAME=VALUE options (--input) as a map.
Result<std::map<std::string, std::string>> parse_assignments(const std::vector<std::string>& items);
// The rows of inputs --input and --inputs give: the CSV's rows with the NAME=VALUE ones added to each, or
// those alone when there is no CSV.
Result<std::vector<std::map<std::string, std::string>>> input_rows(
    const std::vector<std::string>& assignments, const std::string& csv_path);

// `rote run` (a workflow, once or once per CSV row), `rote teach` (a person shows the task in a live view),
// `rote demo` (the whole idea, offline, in minutes) and
// `rote mcp` (the workflows as an MCP server's tools) and `rote serve` (the HTTP API).
class RunCommands {
public:
    RunCommands(CLI::App& app, bool& as_json);
    bool parsed() const;
    int run(const Globals& g);

private:
    int run_workflow_cmd(const Globals& g);
    int teach(const Globals& g);
    int demo(const Globals& g);
    int mcp(const Globals& g);
    int serve(const Globals& g);
    void add_serving_options(CLI::App* cmd);
    // --route's routes, once the host is known to run the workflow's sandbox (the local provider's check).
    Result<std::map<std::string, std::string>> routes_for(const runtime::Workflow& workflow) const;
    // What rote mcp and rote serve share: the workflows they serve and how their runs run.
    Result<void> serving(const Globals& g, std::vector<runtime::Workflow>& workflows, runtime::RunOptions& run,
        std::unique_ptr<llm::LlmProvider>& model);

    bool& m_as_json;
    CLI::App* m_run = nullptr;
    CLI::App* m_teach_cmd = nullptr;
    CLI::App* m_demo = nullptr;
    CLI::App* m_mcp = nullptr;
    CLI::App* m_serve = nullptr;
    std::vector<std::string> m_workflows; // rote mcp and serve --workflow
    std::string m_listen = "127.0.0.1:8420";
    int m_concurrency = 2;
    std::string m_token_file;
    std::string m_tls_cert, m_tls_key;
    std::string m_workflow;
    std::vector<std::string> m_inputs;
    std::string m_inputs_csv;
    std::string m_mode = "auto";
    std::string m_ca_file;
    std::string m_planner = "hints";
    std::string m_provider;
    std::string m_image;
    std::string m_keep;
    std::vector<std::string> m_routes;
    bool m_teach = false;
    bool m_ask = false; // rote run --ask
    int m_view_port = 0; // rote teach: the live view's port (0: a free one)
    bool m_verify = false; // rote teach: replay the new trace at once
    bool m_yes = false; // rote teach: every typed value no input names becomes one, unasked
};

} // namespace rote::cli
