#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "common.h"

namespace rote::cli {

// `rote api derive|prove|list|show`: API plans mined from runs' traffic (docs/api.md). Running one is
// `rote run --mode`.
class ApiCommands {
public:
    ApiCommands(CLI::App& app, bool& as_json);
    bool parsed() const;
    int run(const Globals& g);

private:
    int derive(const Globals& g);
    int prove(const Globals& g);
    int list(const Globals& g);
    int show(const Globals& g);

    bool& m_as_json;
    CLI::App* m_root = nullptr;
    CLI::App* m_derive = nullptr;
    CLI::App* m_prove = nullptr;
    CLI::App* m_list = nullptr;
    CLI::App* m_show = nullptr;
    std::string m_workflow;
    std::optional<std::int64_t> m_run;
    std::int64_t m_plan = 0;
    std::vector<std::string> m_routes;
    std::string m_ca_file;
};

} // namespace rote::cli
