#pragma once

// Typed text becomes a template when it is recorded, so a trace replays with other inputs and never
// holds a secret: "ACME Ltd" typed for input company is stored as "{{company}}", a password as
// "{{secret:crm_password}}". The grammar (shared with rote::replayer::render):
//   {{name}}          the run's input "name"
//   {{secret:name}}   the secret "name", typed but never stored, logged or shown to a model
//   {{{{              a literal "{{"

#include <map>
#include <string>
#include <string_view>

namespace rote::recorder {

// Replaces every occurrence of a secret's value, then of an input's value, by its placeholder, longest
// values first so that "ACME Ltd" wins over "ACME"; empty values are ignored. Any other "{{" is escaped.
std::string templatize(std::string_view typed, const std::map<std::string, std::string>& inputs,
    const std::map<std::string, std::string>& secrets);

} // namespace rote::recorder
