#include <rote/base/paths.h>

#include <cstdlib>
#include <pwd.h>
#include <unistd.h>

namespace rote {

Result<std::filesystem::path> rote_home()
{
    if (const char* home = std::getenv("ROTE_HOME"); home != nullptr && *home != '\0')
        return std::filesystem::path(home);
    const char* user_home = std::getenv("HOME");
    if (user_home == nullptr || *user_home == '\0') {
        const passwd* pw = getpwuid(getuid());
        user_home = pw != nullptr ? pw->pw_dir : nullptr;
    }
    if (user_home == nullptr || *user_home == '\0')
        return Error(
            Error::Code::not_found, "cannot tell where rote's data lives: set ROTE_HOME or HOME, or pass --db");
    return std::filesystem::path(user_home) / ".local" / "share" / "rote";
}

Result<std::filesystem::path> default_db_path() { return ROTE_TRY(rote_home()) / "rote.db"; }

Result<std::filesystem::path> default_config_path() { return ROTE_TRY(rote_home()) / "config.yaml"; }

} // namespace rote
