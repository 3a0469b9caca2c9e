#pragma once

// JSON forms of store records, shared by the trace exchange format and the CLI's --json output so that
// a step reads the same everywhere.

#include <nlohmann/json.hpp>

#include <rote/store/records.h>

namespace rote::store {

// A step in the exchange format (see exchange.cpp): fingerprints as base64, artifacts by hash.
nlohmann::json to_json(const Step& step);

} // namespace rote::store
