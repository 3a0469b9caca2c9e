#pragma once

// Where rote keeps its state on this machine.

#include <filesystem>

#include <rote/base/result.h>

namespace rote {

// $ROTE_HOME if set and non-empty, else ~/.local/share/rote (HOME, or the passwd entry when HOME is
// unset). Not created here.
Result<std::filesystem::path> rote_home();

// rote_home()/rote.db: the store used when no --db is given.
Result<std::filesystem::path> default_db_path();

// rote_home()/config.yaml: the config file used when no --config is given (it need not exist).
Result<std::filesystem::path> default_config_path();

} // namespace rote
