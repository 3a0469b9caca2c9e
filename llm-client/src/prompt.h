#pragma once

#include <string>

#include <rote/llm/config.h>
#include <rote/llm/provider.h>

namespace rote::llm {

// The system prompt: how to work and how to finish (DONE: / GIVE UP:), plus, for the chat provider, the JSON
// action format. Stable across calls, so it is the cached prefix where the provider caches.
std::string system_prompt(ProviderKind kind);

// The goal and, after a divergence, what the recorded trace expected next.
std::string task_text(const Task& task);

} // namespace rote::llm
