#pragma once

// Turns a recorded text template back into the text to type for this run. The grammar is documented
// in rote/recorder/templatize.h.

#include <map>
#include <string>
#include <string_view>

#include <rote/base/result.h>

namespace rote::replayer {

// Fails, naming the placeholder, when the template uses an input or secret the run does not have, or
// is malformed (an unterminated or empty placeholder). Errors never contain a secret's value.
Result<std::string> render(std::string_view text_template, const std::map<std::string, std::string>& inputs,
    const std::map<std::string, std::string>& secrets);

} // namespace rote::replayer
