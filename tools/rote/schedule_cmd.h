#pragma once

#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "common.h"

namespace rote::cli {

// `rote schedule add|list|show|next|pause|resume|rm|runs` (the store's schedules) and `rote scheduler` (the
// process that fires them). docs/schedules.md.
class ScheduleCommands {
public:
    ScheduleCommands(CLI::App& app, bool& as_json);
    bool parsed() const;
    int run(const Globals& g);

private:
    int add(const Globals& g);
    int list(const Globals& g);
    int show(const Globals& g);
    int next(const Globals& g);
    int pause_or_resume(const Globals& g, bool pause);
    int remove(const Globals& g);
    int runs(const Globals& g);
    int scheduler(const Globals& g);

    bool& m_as_json;
    CLI::App* m_root = nullptr;
    CLI::App* m_add = nullptr;
    CLI::App* m_list = nullptr;
    CLI::App* m_show = nullptr;
    CLI::App* m_next = nullptr;
    CLI::App* m_pause = nullptr;
    CLI::App* m_resume = nullptr;
    CLI::App* m_rm = nullptr;
    CLI::App* m_runs = nullptr;
    CLI::App* m_scheduler = nullptr;

    std::string m_name;
    std::string m_workflow;
    std::string m_cron;
    std::string m_zone = "UTC";
    std::vector<std::string> m_inputs;
    std::string m_inputs_csv;
    std::string m_planner = "hints";
    std::string m_overlap = "skip";
    std::string m_catchup = "1h";
    int m_pause_after = 3;
    int m_count = 5;
    std::string m_why;
    std::optional<double> m_budget_usd;
    std::optional<int> m_budget_calls;
    std::string m_alert_webhook;
    std::string m_alert_command;
    std::string m_alert_key_file;
    // rote scheduler
    bool m_once = false;
    int m_concurrency = 1;
    int m_per_site = 0;
    int m_pool = 0;
    std::string m_provider;
    std::string m_image;
    std::vector<std::string> m_routes;
    int m_drain_seconds = 600;
};

} // namespace rote::cli
