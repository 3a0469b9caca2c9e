#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include <rote/llm/config.h>
#include <rote/llm/prices.h>

using namespace rote;
using namespace rote::llm;

namespace {

struct TempFile {
    std::filesystem::path path;
    explicit TempFile(const std::string& text)
    {
        path = std::filesystem::temp_directory_path() / ("rote-config-" + std::to_string(::getpid()) + ".yaml");
        std::ofstream(path) << text;
    }
    ~TempFile() { std::filesystem::remove(path); }
};

// Unsets the variables load_llm_config reads, for the test's duration.
struct CleanEnv {
    static void clear()
    {
        for (const char* name : {"ROTE_LLM_PROVIDER", "ROTE_LLM_MODEL", "ROTE_LLM_BASE_URL", "ROTE_LLM_API_KEY",
                 "ANTHROPIC_API_KEY", "OPENAI_API_KEY"})
            ::unsetenv(name);
    }
    CleanEnv() { clear(); }
    ~CleanEnv() { clear(); }
};

} // namespace

TEST_CASE("the price table knows the computer-use models and their dated snapshots")
{
    const auto table = PriceTable::builtin();
    auto sonnet = table.find("claude-sonnet-4-5-20250929");
    REQUIRE(sonnet);
    CHECK(sonnet->input == 3'000'000);
    CHECK(sonnet->output == 15'000'000);
    CHECK(sonnet->cache_write == 3'750'000);
    CHECK(sonnet->cache_read == 300'000);
    CHECK(table.find("claude-opus-4-5")->input == 5'000'000);
    CHECK(table.find("claude-opus-4-1-20250805")->output == 75'000'000);
    CHECK(table.find("computer-use-preview-2025-03-11")); // date with dashes: each part digits
    CHECK(table.find("claude-haiku-4-5-latest"));
    // Another model is not priced as its prefix.
    CHECK_FALSE(table.find("claude-opus-4-7"));
    CHECK_FALSE(table.find("claude-sonnet-4-5x"));
    CHECK_FALSE(table.find("gpt-4o"));
}

TEST_CASE("the config file sets the provider and overrides prices; the environment wins over it")
{
    CleanEnv clean;
    TempFile file("llm:\n"
                  "  provider: openai-compatible\n"
                  "  model: qwen2.5-vl-7b\n"
                  "  base_url: http://127.0.0.1:11434/\n"
                  "  max_attempts: 3\n"
                  "  timeout_s: 2.5\n"
                  "  max_screen: 1024x768\n"
                  "  prices:\n"
                  "    qwen2.5-vl-7b: {input: 0.10, output: 0.40}\n"
                  "    claude-sonnet-4-5: {output: 14.5}\n");
    auto config = load_llm_config(file.path);
    REQUIRE(config.ok());
    CHECK(config->provider == ProviderKind::openai_compatible);
    CHECK(config->effective_model() == "qwen2.5-vl-7b");
    CHECK(config->effective_base_url() == "http://127.0.0.1:11434");
    CHECK(config->retry.max_attempts == 3);
    CHECK(config->request_timeout == std::chrono::milliseconds(2500));
    CHECK(config->max_model_screen == Size {1024, 768});
    CHECK(config->prices.find("qwen2.5-vl-7b")->input == 100'000);
    CHECK(config->prices.find("qwen2.5-vl-7b")->output == 400'000);
    auto sonnet = config->prices.find("claude-sonnet-4-5");
    CHECK(sonnet->output == 14'500'000);
    CHECK(sonnet->input == 3'000'000); // the fields not given keep the built-in price

    ::setenv("ROTE_LLM_PROVIDER", "anthropic", 1);
    ::setenv("ANTHROPIC_API_KEY", "sk-ant-from-env", 1);
    auto from_env = load_llm_config(file.path);
    REQUIRE(from_env.ok());
    CHECK(from_env->provider == ProviderKind::anthropic);
    CHECK(from_env->api_key.reveal() == "sk-ant-from-env");
    auto flagged = load_llm_config(file.path, ProviderKind::openai);
    CHECK(flagged->provider == ProviderKind::openai);
    CHECK(flagged->api_key.empty()); // OPENAI_API_KEY is not set; the Anthropic key is not handed to OpenAI
}

TEST_CASE("a malformed config file is an error naming the file, the line and the key")
{
    CleanEnv clean;
    struct Bad {
        const char* text;
        const char* expect;
    };
    const Bad bad[] = {
        {"llm:\n  provider: gemini\n", ":2: llm.provider must be"},
        {"llm:\n  model: x\n  colour: blue\n", ":3: unknown key llm.colour"},
        {"llm:\n  max_attempts: 0\n", ":2: llm.max_attempts"},
        {"llm:\n  max_screen: wide\n", "llm.max_screen must be WIDTHxHEIGHT"},
        {"llm:\n  prices:\n    m: {input: -1}\n", "llm.prices.m.input must be a number >= 0"},
        {"llm:\n  prices:\n    m: {inptu: 1}\n", "unknown price 'inptu'"},
        {"llm:\n  base_url: ftp://x\n", "must start with http"},
        {"llm: [1, 2\n", "not valid YAML"},
        {"- just\n- a list\n", "must be a mapping"},
    };
    for (const auto& b : bad) {
        CAPTURE(b.text);
        TempFile file(b.text);
        auto config = load_llm_config(file.path);
        REQUIRE_FALSE(config.ok());
        CHECK(config.error().message().find(file.path.string()) != std::string::npos);
        CHECK(config.error().message().find(b.expect) != std::string::npos);
    }
    CHECK(load_llm_config(std::filesystem::path("/nonexistent/rote.yaml")).ok()); // no file: defaults
}

TEST_CASE("a secret is redacted wherever it appears")
{
    Secret key("sk-test-123");
    CHECK(key.redact("Incorrect API key provided: sk-test-123 (sk-test-123)") == "Incorrect API key provided: [redacted] ([redacted])");
    CHECK(Secret().redact("nothing") == "nothing");
}
