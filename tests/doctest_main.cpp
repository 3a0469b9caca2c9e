// Every test binary's main: rote's logs at warnings and up (the tests report their own progress, and a
// failure's message then stands near the top of CI's output; ROTE_TEST_LOG=info or debug shows the rest).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdlib>

#include <spdlog/spdlog.h>

int main(int argc, char** argv)
{
    const char* level = std::getenv("ROTE_TEST_LOG");
    spdlog::set_level(level ? spdlog::level::from_str(level) : spdlog::level::warn);
    return doctest::Context(argc, argv).run();
}
