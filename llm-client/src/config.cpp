#include <rote/llm/config.h>

#include <cmath>
#include <cstdlib>
#include <fstream>

#include <yaml-cpp/yaml.h>

namespace rote::llm {

std::string_view to_string(ProviderKind kind)
{
    switch (kind) {
    case ProviderKind::anthropic:
        return "anthropic";
    case ProviderKind::openai:
        return "openai";
    case ProviderKind::openai_compatible:
        return "openai-compatible";
    }
    return "?";
}

std::optional<ProviderKind> parse_provider_kind(std::string_view name)
{
    for (auto kind : {ProviderKind::anthropic, ProviderKind::openai, ProviderKind::openai_compatible}) {
        if (name == to_string(kind))
            return kind;
    }
    return std::nullopt;
}

std::string Secret::redact(std::string_view text) const
{
    std::string out(text);
    if (m_value.empty())
        return out;
    static constexpr std::string_view kMark = "[redacted]";
    for (size_t at = out.find(m_value); at != std::string::npos; at = out.find(m_value, at + kMark.size()))
        out.replace(at, m_value.size(), kMark);
    return out;
}

std::string LlmConfig::effective_model() const
{
    if (!model.empty())
        return model;
    switch (provider) {
    case ProviderKind::anthropic:
        return "claude-sonnet-4-5";
    case ProviderKind::openai:
        return "computer-use-preview";
    case ProviderKind::openai_compatible:
        return "qwen2.5-vl-7b-instruct";
    }
    return {};
}

std::string LlmConfig::effective_base_url() const
{
    std::string url = base_url;
    if (url.empty()) {
        switch (provider) {
        case ProviderKind::anthropic:
            url = "https://api.anthropic.com";
            break;
        case ProviderKind::openai:
            url = "https://api.openai.com";
            break;
        case ProviderKind::openai_compatible:
            url = "http://127.0.0.1:8000"; // vLLM's default; Ollama is :11434, llama.cpp's server :8080
            break;
        }
    }
    while (!url.empty() && url.back() == '/')
        url.pop_back();
    return url;
}

namespace {

Error config_error(const std::filesystem::path& file, const YAML::Node& node, const std::string& what)
{
    const auto mark = node.Mark();
    std::string where = file.string();
    if (mark.line >= 0)
        where += ":" + std::to_string(mark.line + 1);
    return Error(Error::Code::invalid_argument, where + ": " + what);
}

Result<std::string> scalar(const std::filesystem::path& file, const YAML::Node& node, const std::string& key)
{
    if (!node.IsScalar())
        return config_error(file, node, "llm." + key + " must be a single value");
    return node.Scalar();
}

Result<std::int64_t> positive_number(const std::filesystem::path& file, const YAML::Node& node, const std::string& key)
{
    auto text = ROTE_TRY(scalar(file, node, key));
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !std::isfinite(value) || value < 0 || value > 1e12)
        return config_error(file, node, "llm." + key + " must be a number >= 0, not '" + text + "'");
    return static_cast<std::int64_t>(std::llround(value * 1000)); // thousandths, so 0.5 s and $0.30 both fit
}

Result<void> apply_file(const std::filesystem::path& file, LlmConfig& config)
{
    YAML::Node root;
    try {
        root = YAML::LoadFile(file.string());
    } catch (const YAML::BadFile&) {
        return Error(Error::Code::io, file.string() + ": cannot be read");
    } catch (const YAML::ParserException& e) {
        return Error(Error::Code::invalid_argument,
            file.string() + ":" + std::to_string(e.mark.line + 1) + ": not valid YAML: " + e.msg);
    }
    if (!root || root.IsNull())
        return {};
    if (!root.IsMap())
        return config_error(file, root, "the config file must be a mapping (key: value)");
    const YAML::Node llm = root["llm"];
    if (!llm)
        return {};
    if (!llm.IsMap())
        return config_error(file, llm, "llm must be a mapping");
    for (const auto& entry : llm) {
        const std::string key = entry.first.Scalar();
        const YAML::Node& value = entry.second;
        if (key == "provider") {
            auto name = ROTE_TRY(scalar(file, value, key));
            auto kind = parse_provider_kind(name);
            if (!kind)
                return config_error(
                    file, value, "llm.provider must be anthropic, openai or openai-compatible, not '" + name + "'");
            config.provider = *kind;
        } else if (key == "model") {
            config.model = ROTE_TRY(scalar(file, value, key));
        } else if (key == "base_url") {
            config.base_url = ROTE_TRY(scalar(file, value, key));
            if (!config.base_url.starts_with("http://") && !config.base_url.starts_with("https://"))
                return config_error(file, value, "llm.base_url must start with http:// or https://");
        } else if (key == "api_key") {
            config.api_key = Secret(ROTE_TRY(scalar(file, value, key)));
        } else if (key == "timeout_s") {
            config.request_timeout = std::chrono::milliseconds(ROTE_TRY(positive_number(file, value, key)));
        } else if (key == "deadline_s") {
            config.deadline = std::chrono::milliseconds(ROTE_TRY(positive_number(file, value, key)));
        } else if (key == "max_attempts") {
            const auto thousandths = ROTE_TRY(positive_number(file, value, key));
            if (thousandths < 1000 || thousandths % 1000 != 0 || thousandths > 20'000)
                return config_error(file, value, "llm.max_attempts must be a whole number from 1 to 20");
            config.retry.max_attempts = static_cast<int>(thousandths / 1000);
        } else if (key == "max_output_tokens") {
            const auto thousandths = ROTE_TRY(positive_number(file, value, key));
            if (thousandths < 1000 || thousandths % 1000 != 0)
                return config_error(file, value, "llm.max_output_tokens must be a whole number >= 1");
            config.max_output_tokens = static_cast<int>(thousandths / 1000);
        } else if (key == "max_screen") {
            auto text = ROTE_TRY(scalar(file, value, key));
            int w = 0;
            int h = 0;
            char tail = 0;
            if (std::sscanf(text.c_str(), "%dx%d%c", &w, &h, &tail) != 2 || w < 64 || h < 64 || w > 4096 || h > 4096)
                return config_error(file, value, "llm.max_screen must be WIDTHxHEIGHT (64-4096), not '" + text + "'");
            config.max_model_screen = {w, h};
        } else if (key == "prices") {
            if (!value.IsMap())
                return config_error(file, value, "llm.prices must map model names to prices");
            for (const auto& model : value) {
                const std::string name = model.first.Scalar();
                if (!model.second.IsMap())
                    return config_error(file, model.second,
                        "llm.prices." + name + " must give input, output, cache_write and cache_read in USD per "
                        "million tokens");
                Price price = config.prices.find(name).value_or(Price {});
                for (const auto& field : model.second) {
                    const std::string f = field.first.Scalar();
                    // thousandths of a dollar per MTok → micro-dollars per MTok
                    const auto value_k = ROTE_TRY(positive_number(file, field.second, "prices." + name + "." + f));
                    const std::int64_t micro = value_k * 1000;
                    if (f == "input")
                        price.input = micro;
                    else if (f == "output")
                        price.output = micro;
                    else if (f == "cache_write")
                        price.cache_write = micro;
                    else if (f == "cache_read")
                        price.cache_read = micro;
                    else
                        return config_error(file, field.first,
                            "unknown price '" + f + "' (input, output, cache_write, cache_read)");
                }
                config.prices.set(name, price);
            }
        } else {
            return config_error(file, entry.first,
                "unknown key llm." + key
                    + " (provider, model, base_url, api_key, timeout_s, deadline_s, max_attempts, max_output_tokens, "
                      "max_screen, prices)");
        }
    }
    return {};
}

std::string env(const char* name)
{
    const char* value = std::getenv(name);
    return value != nullptr ? value : "";
}

} // namespace

Result<LlmConfig> load_llm_config(const std::optional<std::filesystem::path>& file, std::optional<ProviderKind> provider)
{
    LlmConfig config;
    if (file && std::filesystem::exists(*file)) {
        try {
            ROTE_TRY(apply_file(*file, config));
        } catch (const YAML::Exception& e) {
            return Error(Error::Code::invalid_argument, file->string() + ": " + e.what());
        }
    }
    // The environment wins over the file, a flag over both.
    if (auto name = env("ROTE_LLM_PROVIDER"); !name.empty()) {
        auto kind = parse_provider_kind(name);
        if (!kind)
            return Error(Error::Code::invalid_argument,
                "ROTE_LLM_PROVIDER must be anthropic, openai or openai-compatible, not '" + name + "'");
        config.provider = *kind;
    }
    if (provider)
        config.provider = *provider;
    if (auto model = env("ROTE_LLM_MODEL"); !model.empty())
        config.model = model;
    if (auto url = env("ROTE_LLM_BASE_URL"); !url.empty())
        config.base_url = url;
    std::string key = env("ROTE_LLM_API_KEY");
    if (key.empty() && config.provider == ProviderKind::anthropic)
        key = env("ANTHROPIC_API_KEY");
    if (key.empty() && config.provider == ProviderKind::openai)
        key = env("OPENAI_API_KEY");
    if (!key.empty())
        config.api_key = Secret(key);
    return config;
}

} // namespace rote::llm
