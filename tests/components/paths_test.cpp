#include <doctest/doctest.h>

#include <cstdlib>
#include <optional>
#include <string>

#include <rote/base/paths.h>

using namespace rote;

namespace {

// Sets an environment variable for one scope and restores it after.
class EnvGuard {
public:
    EnvGuard(const char* name, const char* value)
        : m_name(name)
    {
        if (const char* old = std::getenv(name))
            m_old = old;
        if (value)
            setenv(name, value, 1);
        else
            unsetenv(name);
    }
    ~EnvGuard()
    {
        if (m_old)
            setenv(m_name, m_old->c_str(), 1);
        else
            unsetenv(m_name);
    }

private:
    const char* m_name;
    std::optional<std::string> m_old;
};

} // namespace

TEST_CASE("ROTE_HOME decides where the store lives, defaulting to ~/.local/share/rote")
{
    {
        EnvGuard home("HOME", "/home/ada");
        EnvGuard rote("ROTE_HOME", nullptr);
        CHECK(default_db_path().value() == "/home/ada/.local/share/rote/rote.db");
    }
    {
        EnvGuard rote("ROTE_HOME", "/srv/rote");
        CHECK(rote_home().value() == "/srv/rote");
        CHECK(default_db_path().value() == "/srv/rote/rote.db");
    }
    {
        EnvGuard rote("ROTE_HOME", "");
        EnvGuard home("HOME", "/home/bob");
        CHECK(rote_home().value() == "/home/bob/.local/share/rote");
    }
}
