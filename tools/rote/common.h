#pragma once

// What the rote subcommands share: global options, the store and config they open, error reporting, and
// how figures print.

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <rote/base/result.h>
#include <rote/llm/config.h>
#include <rote/store/store.h>

#include <rote/server/json.h>

namespace rote::cli {

inline constexpr int kExitFailed = 1; // the work failed
inline constexpr int kExitUsage = 2; // the command line or an input file was wrong

struct Globals {
    std::string db;
    std::string config;
    int verbosity = 0;
};

// Prints "rote: error: ..." and returns the exit status for it.
int fail(const Error& e);
Result<std::unique_ptr<store::Store>> open_store(const Globals& g);
// For commands that only read (list, show, report, export): the store opened read-only (a note on stderr
// when it is read as it lies on disk); an empty one when there is no file yet, which is left uncreated.
Result<std::unique_ptr<store::Store>> open_store_to_read(const Globals& g);
Result<std::filesystem::path> config_path(const Globals& g);
// `file`, or $ROTE_HOME/`default_name` when it is empty: where a token of rote's is kept (token_in_file).
Result<std::filesystem::path> token_path(const std::string& file, const char* default_name);
// The LLM settings in effect (config file, then environment), as if `provider_name` were chosen if not empty.
Result<llm::LlmConfig> load_llm(const Globals& g, const std::string& provider_name);
void print_json(const nlohmann::json& j);
using server::dollars;
std::string seconds(std::int64_t ms);
std::string percent(std::optional<double> share);

// --route HOST=ADDR:PORT options as a map.
Result<std::map<std::string, std::string>> parse_routes(const std::vector<std::string>& routes);

int cmd_report(
    const Globals& g, const std::optional<std::string>& workflow, const std::optional<std::string>& since, bool as_json);

} // namespace rote::cli
