#include <doctest/doctest.h>

#include <filesystem>

#include <rote/agent/workflow.h>

using namespace rote;
using namespace rote::runtime;

namespace {

const std::string kValid = R"(name: lookup
goal: Find the company and read its number.
inputs:
  company: string
  count: {type: number}
  password: secret
outputs:
  number: {anchor: Registration number, pattern: "[0-9]{8}"}
start: {url: "http://registry.example.test/search", size: 1920x1080, scale: 1.25}
success: {text: Registered address}
hints:
  - click "Company name"
  - type "{{company}}" into "Company name"
  - type "{{secret:password}}"
  - key ctrl+l
  - wait 500ms
  - wait 2s
  - wait for "Search results"
  - scroll up 3
  - double_click "Acme \"Robotics\""
)";

Error parse_error(const std::string& text)
{
    auto w = parse_workflow(text, "bad.yaml");
    REQUIRE_FALSE(w.ok());
    return w.error();
}

} // namespace

TEST_CASE("every workflow in workflows/ and the real-app suite's loads")
{
    int count = 0;
    std::vector<std::filesystem::directory_entry> files;
    for (const char* dir : {ROTE_WORKFLOWS, ROTE_REALAPP_WORKFLOWS}) {
        for (const auto& entry : std::filesystem::directory_iterator(dir))
            files.push_back(entry);
    }
    for (const auto& entry : files) {
        CAPTURE(entry.path());
        auto w = load_workflow(entry.path());
        REQUIRE_MESSAGE(w.ok(), (w.ok() ? "" : w.error().message()));
        CHECK(w->name == entry.path().stem().string());
        CHECK_FALSE(w->hints.empty());
        ++count;
    }
    CHECK(count >= 8);
    auto crm = load_workflow(std::filesystem::path(ROTE_WORKFLOWS) / "crm-add-lead.yaml");
    REQUIRE(crm.ok());
    CHECK(crm->input("crm_password")->type == InputType::secret);
    CHECK_FALSE(crm->input("crm_password")->example);
}

TEST_CASE("a workflow file reads into its parts")
{
    auto w = parse_workflow(kValid, "lookup.yaml");
    REQUIRE_MESSAGE(w.ok(), (w.ok() ? "" : w.error().message()));
    CHECK(w->name == "lookup");
    REQUIRE(w->inputs.size() == 3);
    CHECK(w->inputs[1].type == InputType::number);
    CHECK(w->inputs[2].type == InputType::secret);
    CHECK(w->outputs[0].pattern == "[0-9]{8}");
    CHECK(w->width == 1920);
    CHECK(w->height == 1080);
    CHECK(w->scale == doctest::Approx(1.25));
    auto named = parse_workflow("name: t\ngoal: Find the company.\ninputs: {company: string}\nstart: {url: http://a.test/}\n"
                                "success: {text: \"{{company}} Ltd\"}\n",
        "t.yaml");
    REQUIRE_MESSAGE(named.ok(), (named.ok() ? "" : named.error().message()));
    CHECK(named->success_text == "{{company}} Ltd");
    auto with_url = parse_workflow("name: t\ngoal: Find the company.\nstart: {url: http://a.test/}\n"
                                   "success: {text: Done, url: \"/company/[0-9]+$\"}\n",
        "t.yaml");
    REQUIRE_MESSAGE(with_url.ok(), (with_url.ok() ? "" : with_url.error().message()));
    CHECK(with_url->success_url == "/company/[0-9]+$");
    CHECK(w->policy.allow == std::vector<std::string> {"registry.example.test"}); // from the start URL
    CHECK(w->policy.max_cost_microusd == 1'000'000);
    CHECK(w->policy.effect == Policy::Effect::change); // unless it says less, a run may change anything
    CHECK_FALSE(w->policy.idempotent);
    auto reads = parse_workflow("name: t\ngoal: Find the company.\nstart: {url: http://a.test/}\nsuccess: {text: Done}\n"
                                "policy: {effect: read, idempotent: true, capture: false, api_check_writes: true}\n",
        "t.yaml");
    REQUIRE_MESSAGE(reads.ok(), (reads.ok() ? "" : reads.error().message()));
    CHECK(reads->policy.effect == Policy::Effect::read);
    CHECK(reads->policy.idempotent);
    CHECK(w->policy.capture); // traffic is captured for API plans unless a workflow says not
    CHECK_FALSE(w->policy.api_check_writes);
    CHECK_FALSE(reads->policy.capture);
    CHECK(reads->policy.api_check_writes);
    REQUIRE(w->hints.size() == 9);
    CHECK(w->hints[1].kind == StepHint::Kind::type);
    CHECK(w->hints[1].text == "{{company}}");
    CHECK(w->hints[1].target == "Company name");
    CHECK(w->hints[3].text == "ctrl+l");
    CHECK(w->hints[4].amount == 500);
    CHECK(w->hints[5].amount == 2000);
    CHECK(w->hints[6].target == "Search results");
    CHECK(w->hints[7].amount == -3);
    CHECK(w->hints[8].target == "Acme \"Robotics\"");
    CHECK(w->hints[0].line == 12);
}

TEST_CASE("every malformed workflow is an error naming the file, the line and the problem")
{
    struct Bad {
        std::string text;
        const char* expect;
    };
    const std::string head = "name: x\ngoal: Find the company.\nstart: {url: http://a.test/}\nsuccess: {text: Done}\n";
    const Bad bad[] = {
        {"name: [1\n", "bad.yaml:2: not valid YAML: end of sequence flow not found"},
        {"- a\n", "must be a mapping"},
        {"goal: Find the company.\nstart: {url: http://a.test/}\n", "has no name"},
        {"name: Lookup Thing\ngoal: Find the company.\nstart: {url: http://a.test/}\n", "bad.yaml:1: name must be lower-case"},
        {head + "colour: blue\n", "bad.yaml:5: unknown key 'colour'"},
        {head + "inputs:\n  company: text\n", "bad.yaml:6: input company has unknown type 'text'"},
        {head + "inputs:\n  pw: {type: secret, example: hunter2}\n", "must not have an example"},
        {head + "outputs:\n  n: {pattern: \"[0-9\"}\n", "bad.yaml:6: output n: pattern is not a valid regex"},
        {head + "outputs:\n  n: {}\n", "needs anchor: and/or pattern:"},
        {"name: x\ngoal: Find the company.\nstart: {url: ftp://a.test/}\nsuccess: {text: Done}\n", "bad.yaml:3: start.url must be"},
        {"name: x\ngoal: Find the company.\nstart: {url: http://a.test/, size: big}\nsuccess: {text: Done}\n", "start.size must be"},
        {"name: x\ngoal: Find the company.\nstart: {url: http://a.test/, scale: 4}\nsuccess: {text: Done}\n", "bad.yaml:3: start.scale must be a number from 0.5 to 3"},
        {"name: x\ngoal: Find the company.\nstart: {url: http://a.test/, scale: big}\nsuccess: {text: Done}\n", "start.scale must be"},
        {"name: x\ngoal: Find the company.\nstart: {url: http://a.test/}\n", "needs success: text: or outputs:"},
        {head + "policy: {max_steps: 0}\n", "bad.yaml:5: policy.max_steps must be a whole number from 1"},
        {"name: x\ngoal: Find the company.\nstart: {url: http://a.test/}\nsuccess: {text: \"{{company}}\"}\n",
            "bad.yaml:4: success.text: "},
        {"name: x\ngoal: Find the company.\ninputs: {pw: secret}\nstart: {url: http://a.test/}\nsuccess: {text: \"{{secret:pw}}\"}\n",
            "success.text: input pw is a secret, and a secret is never looked for on the screen"},
        {head + "policy: {max_cost_usd: lots}\n", "policy.max_cost_usd must be dollars"},
        {head + "policy: {effect: delete}\n", "bad.yaml:5: policy.effect must be read, add or change, not 'delete'"},
        {head + "policy: {idempotent: yes}\n", "policy.idempotent must be true or false"},
        {head + "policy: {capture: off}\n", "policy.capture must be true or false, not 'off'"},
        {head + "policy: {api_check_writes: 1}\n", "policy.api_check_writes must be true or false"},
        {"name: x\ngoal: Find the company.\nstart: {url: http://a.test/}\nsuccess: {text: Done, url: \"(unclosed\"}\n",
            "bad.yaml:4: success.url is not a regular expression"},
        {head + "hints:\n  - press \"Search\"\n", "bad.yaml:6: step hint: unknown step 'press'"},
        {head + "hints:\n  - click Search\n", "write click \"Label\""},
        {head + "hints:\n  - click \"Search\n", "is not closed"},
        {head + "hints:\n  - type \"{{company}}\"\n", "has no input company"},
        {head + "inputs: {pw: secret}\nhints:\n  - type \"{{pw}}\"\n", "input pw is a secret: write {{secret:pw}}"},
        {head + "hints:\n  - wait 90s\n", "at most 60 s"},
        {head + "hints:\n  - scroll sideways 2\n", "scroll down N"},
        {head + "hints:\n  - type \"x\" onto \"Field\"\n", "type \"text\" into \"Label\""},
    };
    for (const auto& b : bad) {
        CAPTURE(b.text);
        const Error e = parse_error(b.text);
        CHECK(e.code() == Error::Code::invalid_argument);
        CHECK(e.message().find(b.expect) != std::string::npos);
        CHECK(e.message().starts_with("bad.yaml"));
    }
    auto missing = load_workflow("/nonexistent/flow.yaml");
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().message().find("cannot be read") != std::string::npos);
}

TEST_CASE("run inputs are checked against the workflow, and secrets kept apart")
{
    auto w = parse_workflow(kValid, "lookup.yaml");
    REQUIRE(w.ok());
    auto ok = check_inputs(*w, {{"company", "Acme"}, {"count", "3"}, {"password", "hunter2"}});
    REQUIRE(ok.ok());
    CHECK(ok->values.at("company") == "Acme");
    CHECK(ok->secrets.at("password") == "hunter2");
    CHECK_FALSE(ok->values.contains("password"));
    auto missing = check_inputs(*w, {{"company", "Acme"}, {"count", "3"}});
    CHECK(missing.error().message().find("needs input 'password' (secret)") != std::string::npos);
    auto unknown = check_inputs(*w, {{"company", "Acme"}, {"count", "3"}, {"password", "x"}, {"colour", "red"}});
    CHECK(unknown.error().message().find("no input 'colour'") != std::string::npos);
    auto nan = check_inputs(*w, {{"company", "Acme"}, {"count", "three"}, {"password", "hunter2"}});
    CHECK(nan.error().message().find("must be a number") != std::string::npos);
    CHECK(nan.error().message().find("hunter2") == std::string::npos);
}

TEST_CASE("an input with a default may be left out; a secret has none, a number's is a number")
{
    auto w = parse_workflow("name: t\ngoal: Look a thing up.\ninputs:\n  company: string\n  note: {type: string, default: Met at the fair}\n"
                            "  seats: {type: number, default: 3}\nstart: {url: http://a.test/}\nsuccess: {text: Done}\n",
        "t.yaml");
    REQUIRE_MESSAGE(w.ok(), (w.ok() ? "" : w.error().message()));
    CHECK(w->input("note")->default_value == "Met at the fair");
    auto given = check_inputs(*w, {{"company", "Acme"}});
    REQUIRE(given.ok());
    CHECK(given->values.at("note") == "Met at the fair");
    CHECK(given->values.at("seats") == "3");
    CHECK(check_inputs(*w, {{"company", "Acme"}, {"note", "Other"}})->values.at("note") == "Other");
    CHECK_FALSE(check_inputs(*w, {{"note", "Other"}}).ok()); // company has no default
    const std::string head = "name: t\ngoal: Look a thing up.\nstart: {url: http://a.test/}\nsuccess: {text: Done}\n";
    CHECK(parse_error(head + "inputs:\n  pin: {type: secret, default: '1234'}\n").message().find("must not have a default")
        != std::string::npos);
    CHECK(parse_error(head + "inputs:\n  seats: {type: number, default: many}\n").message().find("the default must be a number")
        != std::string::npos);
}

TEST_CASE("inputs added to a workflow's text: below the others, comments and layout kept, checked by parsing it again")
{
    InputSpec note;
    note.name = "note";
    note.description = "Typed into \"Notes\" when the task was shown";
    note.default_value = "Met at: the fair, \"booth 4\"";
    // Below the last input, at its indent, before the comment that belongs to the next key.
    const std::string text = "# The lookup.\nname: t\ngoal: Look a thing up.\ninputs:\n    company: string   # the name\n\n"
                             "    count: {type: number}\n# where it starts\nstart: {url: http://a.test/}\nsuccess: {text: Done}\n";
    auto added = with_inputs_added(text, {note}, "added by a test", "t.yaml");
    REQUIRE_MESSAGE(added.ok(), (added.ok() ? "" : added.error().message()));
    CHECK(added->starts_with("# The lookup.\nname: t\ngoal: Look a thing up.\ninputs:\n    company: string   # the name\n\n"
                             "    count: {type: number}\n    # added by a test\n    note: {"));
    CHECK(added->find("\n# where it starts\nstart:") != std::string::npos);
    auto w = parse_workflow(*added, "t.yaml");
    REQUIRE(w.ok());
    REQUIRE(w->inputs.size() == 3);
    CHECK(w->inputs[2].default_value == note.default_value);
    CHECK(w->inputs[2].description == note.description);
    // No inputs yet: a new mapping at the end; an empty flow one becomes a block.
    const std::string bare = "name: t\ngoal: Look a thing up.\nstart: {url: http://a.test/}\nsuccess: {text: Done}\n\n";
    for (const std::string& t : std::vector<std::string> {bare, "name: t\ngoal: Look a thing up.\ninputs: {}\nstart: {url: http://a.test/}\nsuccess: {text: Done}"}) {
        auto one = with_inputs_added(t, {note}, "", "t.yaml");
        REQUIRE_MESSAGE(one.ok(), (one.ok() ? "" : one.error().message()));
        auto parsed = parse_workflow(*one, "t.yaml");
        REQUIRE(parsed.ok());
        REQUIRE(parsed->inputs.size() == 1);
        CHECK(parsed->inputs[0].default_value == note.default_value);
    }
    // What rote cannot add safely, or must not: refused, naming why.
    auto flow = with_inputs_added("name: t\ngoal: Look a thing up.\ninputs: {company: string}\nstart: {url: http://a.test/}\n"
                                  "success: {text: Done}\n",
        {note}, "", "t.yaml");
    REQUIRE_FALSE(flow.ok());
    CHECK(flow.error().message().find("flow style") != std::string::npos);
    InputSpec again = note;
    again.name = "company";
    CHECK(with_inputs_added(text, {again}, "", "t.yaml").error().message().find("has an input named company") != std::string::npos);
    InputSpec secret = note;
    secret.type = InputType::secret;
    CHECK_FALSE(with_inputs_added(text, {secret}, "", "t.yaml").ok());
    InputSpec bad = note;
    bad.name = "Note";
    CHECK_FALSE(with_inputs_added(text, {bad}, "", "t.yaml").ok());
    CHECK_FALSE(with_inputs_added("name: [", {note}, "", "t.yaml").ok());
}

TEST_CASE("hint labels with alternatives and if present")
{
    auto ok = parse_workflow("name: t\ngoal: Look a thing up.\nstart: {url: http://a.test/}\nsuccess: {text: Done}\nhints:\n"
                             "  - click \"A\" or \"B\" or \"C\" if present\n  - type \"x\" into \"F\" or \"G\"\n"
                             "  - wait for \"R\" or \"S\"\n",
        "t.yaml");
    REQUIRE_MESSAGE(ok.ok(), (ok.ok() ? "" : ok.error().message()));
    CHECK(ok->hints[0].target == "A");
    CHECK(ok->hints[0].also == std::vector<std::string> {"B", "C"});
    CHECK(ok->hints[0].optional);
    CHECK(ok->hints[1].target == "F");
    CHECK(ok->hints[1].also == std::vector<std::string> {"G"});
    CHECK_FALSE(ok->hints[1].optional);
    CHECK(ok->hints[2].also == std::vector<std::string> {"S"});
    for (const char* bad : {"click \"A\" or", "click \"A\" if", "click \"A\" or B", "type \"x\" into \"F\" if present",
             "click \"A\" if present now"}) {
        CAPTURE(bad);
        auto w = parse_workflow(std::string("name: t\ngoal: Look a thing up.\nstart: {url: http://a.test/}\nsuccess: {text: Done}\nhints:\n  - ") + bad + "\n", "t.yaml");
        REQUIRE_FALSE(w.ok());
        CHECK_MESSAGE(w.error().message().find("t.yaml:6") != std::string::npos, w.error().message());
    }
}

TEST_CASE("hints say which place they mean: first, second, ..., link, field, below \"Heading\"")
{
    auto ok = parse_workflow("name: t\ngoal: Look a thing up.\nstart: {url: http://a.test/}\nsuccess: {text: Done}\nhints:\n"
                             "  - click link \"{{company}}\"\n  - click second \"Edit\" below \"Contacts\" if present\n"
                             "  - type \"x\" into field \"Name\"\n  - double_click third link \"A\" or \"B\"\n"
                             "  - click \"Save\" below \"{{company}}\"\n"
                             "inputs: {company: string}\n",
        "t.yaml");
    REQUIRE_MESSAGE(ok.ok(), (ok.ok() ? "" : ok.error().message()));
    CHECK(ok->hints[0].element == "link");
    CHECK(ok->hints[0].target == "{{company}}");
    CHECK(ok->hints[0].ordinal == 0);
    CHECK(ok->hints[1].ordinal == 2);
    CHECK(ok->hints[1].below == "Contacts");
    CHECK(ok->hints[1].optional);
    CHECK(ok->hints[2].element == "field");
    CHECK(ok->hints[2].target == "Name");
    CHECK(ok->hints[3].ordinal == 3);
    CHECK(ok->hints[3].element == "link");
    CHECK(ok->hints[3].also == std::vector<std::string> {"B"});
    CHECK(ok->hints[4].below == "{{company}}");
    for (const char* bad : {"click first", "click link", "click \"A\" below", "click \"A\" below Heading",
             "type \"x\" into link \"A\"", "click eleventh \"A\"", "click \"A\" below \"{{nobody}}\""}) {
        CAPTURE(bad);
        auto w = parse_workflow(std::string("name: t\ngoal: Look a thing up.\nstart: {url: http://a.test/}\nsuccess: {text: Done}\nhints:\n  - ") + bad + "\n", "t.yaml");
        REQUIRE_FALSE(w.ok());
        CHECK_MESSAGE(w.error().message().find("t.yaml:6") != std::string::npos, w.error().message());
    }
}

TEST_CASE("input rows from CSV: quoted fields, and errors that name the row")
{
    auto rows = parse_inputs_csv("company,note\n\"Acme, Robotics Ltd\",\"says \"\"hi\"\"\"\nGlobex,\r\n", "in.csv");
    REQUIRE_MESSAGE(rows.ok(), (rows.ok() ? "" : rows.error().message()));
    REQUIRE(rows->size() == 2);
    CHECK((*rows)[0].at("company") == "Acme, Robotics Ltd");
    CHECK((*rows)[0].at("note") == "says \"hi\"");
    CHECK((*rows)[1].at("company") == "Globex");
    CHECK((*rows)[1].at("note") == "");

    const std::pair<const char*, const char*> bad[] = {
        {"company\nA,B\n", "in.csv: row 2 has 2 fields, the header 1"},
        {"company,company\nA,B\n", "names input company twice"},
        {"company,\nA,B\n", "empty input name"},
        {"", "in.csv is empty"},
        {"company\n", "no rows"},
        {"company\n\"Acme\n", "in.csv: row 2 is not valid CSV"},
        {"company\nA\"b\"\n", "is not valid CSV"},
    };
    for (const auto& [text, expected] : bad) {
        CAPTURE(std::string(text));
        auto r = parse_inputs_csv(text, "in.csv");
        REQUIRE_FALSE(r.ok());
        CHECK_MESSAGE(r.error().message().find(expected) != std::string::npos, r.error().message());
    }
}
