#pragma once

// A workflow file: what a task is, what it takes and gives, where it starts, how success looks, what it may
// do, and optionally how to do it (step hints). YAML, documented in docs/workflows.md; every malformed file
// is an error naming the file, the line and the key.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rote/base/result.h>

namespace rote::runtime {

enum class InputType {
    string,
    number,
    secret, // typed into the page by the runtime; never stored in a trace, logged, or shown to a model
};

struct InputSpec {
    std::string name;
    InputType type = InputType::string;
    std::string description;
    std::optional<std::string> example; // never set for a secret
    // The value a run types when it is not given (`default:`): such an input may be left out. Never set for a
    // secret. An input that teaching by showing added to a workflow has the value the person typed.
    std::optional<std::string> default_value;
};

// Where an output is read on the final screen: the text next to (right of, or below) an anchor text, and/or
// the first text that matches a pattern (ECMAScript regex, whole-word match).
struct OutputSpec {
    std::string name;
    std::string anchor; // may be empty when a pattern is given
    std::string pattern; // may be empty when an anchor is given
};

// A step hint: what a person would write as an RPA step. Grounded by OCR at run time.
struct StepHint {
    enum class Kind {
        click, // click [first|second|...] [link|field] "Label" [or "Other label"]... [below "Heading"] [if present]
        double_click, // double_click "Label", with the same qualifiers
        type, // type "text" [into [field] "Label"]
        key, // key ctrl+l
        wait, // wait 500ms | wait for "text"
        scroll, // scroll down 3 | scroll up 3
    };
    Kind kind = Kind::click;
    std::string target; // the label to find (click, double_click, type into, wait for)
    std::vector<std::string> also; // other labels that will do, tried in order after `target` ("A" or "B")
    bool optional = false; // click "Label" if present: nothing to do when no label is on the screen
    std::string text; // type: a template ({{company}}, {{secret:password}}); key: the combination
    int amount = 0; // wait: milliseconds; scroll: wheel clicks, positive down
    int line = 0; // in the workflow file, for errors at run time
    // What tells the label's places apart, as a person would say it:
    std::string element; // "link": a link that reads the label; "field": the field the label names; "": any text
    int ordinal = 0; // first = 1, second = 2, ...: that one in reading order; 0: the label must be there once
    std::string below; // the place nearest below this heading (itself there once)
};

struct Policy {
    std::vector<std::string> allow; // domains the browser may reach ("example.com", "*.example.com")
    std::map<std::string, std::string> routes; // host → 127.0.0.1:PORT, for local test sites
    int max_steps = 50;
    int max_planner_calls = 10;
    std::int64_t max_cost_microusd = 1'000'000; // $1.00
    // What a run does to the site, for those who call the workflow as a tool (MCP's annotations): `read`
    // changes nothing; `add` only adds (a new record), never overwrites; `change` may overwrite or delete.
    enum class Effect { read, add, change };
    Effect effect = Effect::change; // unless the workflow says less, assume the most
    bool idempotent = false; // running it twice with the same inputs does no more than once (implied by read)
    // The egress proxy keeps what the site was sent and answered, for API plans (docs/api.md); off for sites
    // whose traffic must not be kept at all.
    bool capture = true;
    // An API plan that writes may be run again to prove it (test systems only: proving sends its writes).
    bool api_check_writes = false;
};

struct Workflow {
    std::filesystem::path file;
    std::string name; // [a-z0-9-], what the store calls it
    std::string goal;
    std::vector<InputSpec> inputs;
    std::vector<OutputSpec> outputs;
    std::string provider = "local"; // the sandbox provider
    std::string start_url;
    int width = 1280;
    int height = 800;
    double scale = 1.0; // the browser's device scale factor (start.scale): CSS pixels are this many screen pixels
    std::string success_text; // text on the final screen that means success; empty: the outputs were read
    // A regular expression the final page's URL must match (searched, ECMAScript), as the browser's document
    // says it; empty: the URL is not checked. Needs a provider with a witness (local).
    std::string success_url;
    Policy policy;
    std::vector<StepHint> hints;

    const InputSpec* input(std::string_view name) const;
};

// Reads and validates a workflow file.
Result<Workflow> load_workflow(const std::filesystem::path& file);
// The same from text; `file` only names it in errors.
Result<Workflow> parse_workflow(std::string_view text, const std::filesystem::path& file);

// The values for one run, checked against the workflow's inputs: every input given or with a default, none
// unknown, numbers that parse. Secrets come apart from the other inputs. Errors name the input, never a secret's value.
struct RunInputs {
    std::map<std::string, std::string> values;
    std::map<std::string, std::string> secrets;
};
Result<RunInputs> check_inputs(const Workflow& workflow, const std::map<std::string, std::string>& given);
// An input's (or output's) name: lower-case letters, digits and _, not starting with a digit, at most 63.
bool valid_input_name(std::string_view name);

// The workflow file's text with `added` inputs (each a string or a number, with a default) in its inputs:
// mapping, one line each below a comment that says why, and nothing else changed, comments and layout kept.
// The text is checked by parsing it again. Errors: an input the workflow has already, a text whose inputs:
// is written in flow style (other than `{}`), a result that does not parse to the same workflow plus them.
Result<std::string> with_inputs_added(
    std::string_view text, const std::vector<InputSpec>& added, const std::string& why, const std::filesystem::path& file);

// Secret inputs not in `given` are read from ROTE_SECRET_<NAME> (the name upper-cased): a password on a
// command line or in a tool call would be in a shell's history, a process listing or a model's context.
void secrets_from_environment(const Workflow& workflow, std::map<std::string, std::string>& given);
// The environment variable a secret input is read from: ROTE_SECRET_<NAME>, the name upper-cased.
std::string secret_variable(std::string_view input);

// The rows of a CSV file (RFC 4180; the first row names the inputs) as one set of values per row, for one
// run each. Errors name the file and the row: a malformed quote, a row with more or fewer fields than the
// header, a header with an empty or repeated name, no rows at all.
Result<std::vector<std::map<std::string, std::string>>> read_inputs_csv(const std::filesystem::path& file);
Result<std::vector<std::map<std::string, std::string>>> parse_inputs_csv(
    std::string_view text, const std::filesystem::path& file);

std::string_view to_string(InputType type);
std::string_view to_string(StepHint::Kind kind);
std::string_view to_string(Policy::Effect effect);

} // namespace rote::runtime
