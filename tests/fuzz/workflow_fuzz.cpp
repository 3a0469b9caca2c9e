// Fuzz target for workflow files, which users write by hand. The property: no crash, and a workflow that
// loads satisfies the invariants the agent relies on (a name, a start URL, an allowlist, sane budgets,
// secrets without examples).

#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <rote/agent/workflow.h>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto w = rote::runtime::parse_workflow(text, "fuzz.yaml");
    if (!w.ok())
        return 0;
    if (w->name.empty() || w->start_url.empty() || w->policy.allow.empty() || w->policy.max_steps < 1
        || w->policy.max_cost_microusd < 0)
        std::abort();
    for (const auto& in : w->inputs) {
        if (in.type == rote::runtime::InputType::secret && in.example)
            std::abort();
    }
    return 0;
}
