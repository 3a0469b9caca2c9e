// The agent loop's pure parts: reading outputs from OCR'd words, and finding the hint behind a trace step.

#include <doctest/doctest.h>

#include <rote/agent/agent.h>

using namespace rote;
using namespace rote::runtime;

namespace {

vision::Word word(const char* text, int x, int y, int line)
{
    return {text, Rect {x, y, 8 * static_cast<int>(std::string(text).size()), 16}, 95.0F, line};
}

} // namespace

TEST_CASE("outputs: the text right of the anchor, matched by the pattern; else the pattern anywhere")
{
    const std::vector<vision::Word> words {word("Acme", 50, 100, 0), word("Robotics", 90, 100, 0),
        word("Registration", 50, 140, 1), word("number", 150, 140, 1), word("08431277", 310, 141, 2),
        word("Status", 50, 170, 3), word("Active", 310, 169, 4), word("Filed", 50, 200, 5), word("12345678", 310, 200, 6)};
    CHECK(read_output(words, {"n", "Registration number", "[0-9]{8}"}) == "08431277");
    CHECK(read_output(words, {"s", "Status", "Active|Dissolved"}) == "Active");
    CHECK(read_output(words, {"s", "Status", ""}) == "Active");
    // No such anchor: the first text anywhere that matches.
    CHECK(read_output(words, {"n", "Company number", "[0-9]{8}"}) == "08431277");
    CHECK(read_output(words, {"n", "", "[0-9]{8}"}) == "08431277");
    CHECK_FALSE(read_output(words, {"x", "Lead ID", "L-[0-9]+"}).has_value());
    CHECK_FALSE(read_output(words, {"x", "Incorporated", ""}).has_value());
}

TEST_CASE("outputs: a pattern that begins or ends with a sign matches a value standing alone, never inside a word")
{
    const std::vector<vision::Word> words {word("Support", 17, 124, 0), word("#14", 115, 124, 0),
        word("Total", 50, 170, 1), word("$12.50", 110, 170, 1), word("ref", 50, 200, 2), word("AB#77x", 90, 200, 2)};
    CHECK(read_output(words, {"n", "", "#[0-9]+"}) == "#14");
    CHECK(read_output(words, {"n", "Support", "#[0-9]+"}) == "#14");
    CHECK(read_output(words, {"t", "Total", "\\$[0-9.]+"}) == "$12.50");
    CHECK_FALSE(read_output(words, {"r", "ref", "#77"}).has_value()); // inside "AB#77x"
    CHECK(read_output(words, {"d", "", "[0-9]{2}\\.[0-9]{2}"}) == "12.50");
}

TEST_CASE("outputs from the document: one value beside the label, confirmed by the words where it is drawn")
{
    // A wrapped address: the document has it whole; OCR reads it as two lines inside its cell's box.
    const std::vector<vision::Word> words {word("Service", 180, 420, 0), word("address", 250, 420, 0),
        word("Plot", 330, 420, 1), word("22,", 370, 420, 1), word("Celtic", 400, 420, 1), word("Park,", 460, 420, 1),
        word("Newport", 330, 440, 2), word("NP19", 400, 440, 2), word("Region", 180, 370, 3), word("Wales", 330, 370, 4)};
    const LabelledValue address {"Plot 22, Celtic Park, Newport NP19", Rect {322, 414, 700, 44}, "next cell", true, {}, {}};
    const LabelledValue region {"Wales", Rect {322, 364, 700, 24}, "next cell", true, {}, {}};

    auto read = read_output_from_document({address}, words, {"a", "Service address", ""});
    CHECK(read.value == "Plot 22, Celtic Park, Newport NP19");
    CHECK(read.how == "next cell");
    CHECK(read.problem.empty());
    CHECK(read_output_from_document({region}, words, {"r", "Region", "North|South|Wales"}).value == "Wales");

    // Not in the document at all: no value and no problem (the caller says the anchor is not in the page).
    read = read_output_from_document({}, words, {"a", "Service address", ""});
    CHECK_FALSE(read.value.has_value());
    CHECK(read.problem.empty());

    // The same label beside two different values: never a guess. The same value twice is one value.
    LabelledValue other = region;
    other.text = "North";
    read = read_output_from_document({region, other}, words, {"r", "Region", ""});
    CHECK_FALSE(read.value.has_value());
    CHECK(read.problem.find("2 different values") != std::string::npos);
    CHECK(read_output_from_document({region, region}, words, {"r", "Region", ""}).value == "Wales");
    // A pattern tells them apart.
    CHECK(read_output_from_document({region, other}, words, {"r", "Region", "Wal[a-z]+"}).value == "Wales");

    // Nothing beside the label, or nothing matching the pattern.
    read = read_output_from_document({LabelledValue {"", {}, "none", true, {}, {}}}, words, {"r", "Region", ""});
    CHECK_FALSE(read.value.has_value());
    CHECK(read.problem.find("no value") != std::string::npos);
    read = read_output_from_document({region}, words, {"r", "Region", "[0-9]+"});
    CHECK_FALSE(read.value.has_value());
    CHECK(read.problem.find("nothing matching") != std::string::npos);

    // A value that is the rest of its label's own text: the box shows both, and is confirmed as such.
    const LabelledValue flash {"#14 created.", Rect {170, 96, 200, 24}, "after", false, "Issue #14 created.", {}};
    const std::vector<vision::Word> notice {word("Issue", 176, 100, 9), word("#14", 230, 100, 9), word("created.", 270, 100, 9)};
    CHECK(read_output_from_document({flash}, notice, {"i", "Issue", "#[0-9]+"}).value == "#14");

    // The screen disagrees (a value the document hides under something else, a box that is elsewhere).
    LabelledValue hidden = region;
    hidden.text = "Scotland";
    read = read_output_from_document({hidden}, words, {"r", "Region", ""});
    CHECK_FALSE(read.value.has_value());
    CHECK(read.problem.find("reads \"Wales\"") != std::string::npos);
    LabelledValue elsewhere = region;
    elsewhere.box = Rect {900, 700, 100, 20};
    read = read_output_from_document({elsewhere}, words, {"r", "Region", ""});
    CHECK_FALSE(read.value.has_value());
    CHECK(read.problem.find("no text") != std::string::npos);
    LabelledValue unplaced = region;
    unplaced.box = {};
    CHECK_FALSE(read_output_from_document({unplaced}, words, {"r", "Region", ""}).value.has_value());
}

TEST_CASE("the hint behind a trace step, moved back over the optional hints before it")
{
    auto w = parse_workflow("name: t\ngoal: Find the company.\ninputs: {company: string}\nstart: {url: http://a.test/}\n"
                            "success: {text: Done}\nhints:\n  - click \"Accept cookies\" if present\n"
                            "  - click \"Company name\" or \"Business name\"\n  - type \"{{company}}\"\n  - key return\n"
                            "  - click \"{{company}}\"\n",
        "t.yaml");
    REQUIRE_MESSAGE(w.ok(), (w.ok() ? "" : w.error().message()));
    RunInputs inputs {{{"company", "Acme Ltd"}}, {}};
    store::Step step;
    step.action.kind = ActionKind::click;
    step.anchor.label = "Business name";
    CHECK(hint_for_step(*w, step, inputs) == 0); // hint 1, and the optional hint 0 before it
    step.anchor.label = "{{company}}";
    CHECK(hint_for_step(*w, step, inputs) == 4);
    step.anchor.label = "Search";
    CHECK(hint_for_step(*w, step, inputs) == -1);
    step.action.kind = ActionKind::type;
    step.action.text = "{{company}}";
    CHECK(hint_for_step(*w, step, inputs) == 2);
    step.action.kind = ActionKind::key;
    step.action.text = "Return";
    CHECK(hint_for_step(*w, step, inputs) == 3);
}
