#pragma once

#include <map>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <rote/session/session.h>

namespace rote::cli {

// The `rote sandbox` subcommands: registered on construction, run after parsing.
class SandboxCommands {
public:
    SandboxCommands(CLI::App& app, bool& as_json);
    bool parsed() const;
    int run(int verbosity);

private:
    bool& m_as_json;
    CLI::App* m_root = nullptr;
    CLI::App* m_start = nullptr;
    CLI::App* m_supervise = nullptr;
    CLI::App* m_list = nullptr;
    CLI::App* m_stop = nullptr;
    CLI::App* m_screenshot = nullptr;
    CLI::App* m_click = nullptr;
    CLI::App* m_type = nullptr;
    CLI::App* m_key = nullptr;
    CLI::App* m_view = nullptr;

    runtime::SessionSpec m_spec;
    std::vector<std::string> m_routes;
    std::string m_size = "1280x800";
    std::string m_spec_json;
    std::string m_id;
    std::string m_file;
    std::string m_text;
    std::string m_button = "left";
    int m_x = 0;
    int m_y = 0;
    int m_count = 1;
    int m_port = 6080;
    bool m_app = false;
    bool m_control = false;
};

} // namespace rote::cli
