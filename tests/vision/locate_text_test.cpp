// locate_text: a target named by an input's value is only ever that value, read exactly; never a
// near-duplicate that reads alike, nor the value as the start of a longer name (the real-app matrix's wrong
// clicks, docs/benchmarks.md).

#include <doctest/doctest.h>

#include <sstream>

#include <rote/vision/target.h>

using namespace rote;
using namespace rote::vision;

namespace {

// One line of words at y, 8 px a character with a space between words.
void line(std::vector<Word>& words, const std::string& text, int x, int y, int number)
{
    std::istringstream in(text);
    std::string w;
    while (in >> w) {
        words.push_back({w, Rect {x, y, 8 * static_cast<int>(w.size()), 14}, 95.0F, number});
        x += 8 * static_cast<int>(w.size()) + 6;
    }
}

// A directory of names that begin alike, and a tracker row whose name follows decoration on its line.
std::vector<Word> directory(bool with_acme = true)
{
    std::vector<Word> words;
    if (with_acme)
        line(words, "Acme Robotics", 200, 100, 0);
    line(words, "Acme Robotics Holdings", 200, 120, 1);
    line(words, "Umbrella Analytics", 200, 140, 2);
    line(words, "Umbrella Analytica", 200, 160, 3);
    line(words, "Support #7 (New): Badge reader fault", 200, 180, 4);
    return words;
}

Location at_recorded_row2(const std::vector<Word>& words, const char* phrase)
{
    // Recorded on the second row (a repair moved the click there); no landmarks.
    return locate_text(words, phrase, {260, 127}, Rect {200, 120, 180, 14}, {});
}

} // namespace

TEST_CASE("an input's value is found where it is read whole and exactly, wherever the trace clicked")
{
    const auto words = directory();
    auto acme = at_recorded_row2(words, "Acme Robotics");
    REQUIRE_MESSAGE(acme.status == LocateStatus::found, acme.detail);
    CHECK(acme.point.y >= 100);
    CHECK(acme.point.y < 114); // the first row, not "Acme Robotics Holdings"
    auto analytica = at_recorded_row2(words, "Umbrella Analytica");
    REQUIRE(analytica.status == LocateStatus::found);
    CHECK(analytica.point.y >= 160); // not "Umbrella Analytics", which reads alike
    auto decorated = at_recorded_row2(words, "Badge reader fault");
    REQUIRE(decorated.status == LocateStatus::found); // text before it on its line is decoration
    CHECK(decorated.point.y >= 180);
}

TEST_CASE("an input's value seen only inside a longer name, or only as a near-duplicate, is not there")
{
    const auto words = directory(false);
    auto prefix = at_recorded_row2(words, "Acme Robotics");
    CHECK(prefix.status == LocateStatus::not_found);
    CHECK_MESSAGE(prefix.detail.find("only as the start of longer text (\"Acme Robotics Holdings\")") != std::string::npos,
        prefix.detail);
    auto alike = at_recorded_row2(words, "Umbrella Analytico");
    CHECK(alike.status == LocateStatus::not_found);
    CHECK_MESSAGE(alike.detail.find("the nearest text is") != std::string::npos, alike.detail);
}
