#pragma once

// Typed text in traces is a template, so a trace replays with other inputs and never holds a secret: "ACME
// Ltd" typed for input company is kept as "{{company}}", a password as "{{secret:crm_password}}". The
// recorder makes templates, the replayer and the planners render them, the workflow parser checks them:
// one grammar, here.
//   {{name}}          the run's input "name"
//   {{secret:name}}   the secret "name", typed but never stored, logged or shown to a model
//   {{{{              a literal "{{"

#include <map>
#include <string>
#include <string_view>

#include <rote/base/result.h>

namespace rote {

// Replaces every occurrence of a secret's value, then of an input's value, by its placeholder, longest
// values first so that "ACME Ltd" wins over "ACME"; empty values are ignored. Any other "{{" is escaped.
std::string templatize(std::string_view typed, const std::map<std::string, std::string>& inputs,
    const std::map<std::string, std::string>& secrets);

// Text a site saw (a request's path and query, kept in the store) with every secret's value replaced by
// "{{secret:name}}": as written, and as a URL or a form encodes it (percent-encoding in upper or lower case,
// a space as "+"), longest values first. Nothing else changes.
std::string hide_secrets(std::string_view text, const std::map<std::string, std::string>& secrets);

// The text to type for this run. Fails, naming the placeholder, when the template uses an input or secret
// the run does not have, or is malformed (an unterminated or empty placeholder). Errors never contain a
// secret's value.
Result<std::string> render_template(std::string_view text_template, const std::map<std::string, std::string>& inputs,
    const std::map<std::string, std::string>& secrets);

} // namespace rote
