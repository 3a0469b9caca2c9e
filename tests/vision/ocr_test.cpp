#include <doctest/doctest.h>

#include <thread>

#include <rote/vision/ocr.h>

#include "vision/corpus.h"

using namespace rote;
using namespace rote::vision;

namespace {

cv::Mat shot(const std::string& page, const std::string& variant = "baseline")
{
    return corpus::image({page, variant, page + "." + variant + ".png", "found", 0, 0});
}

std::string joined(const std::vector<Word>& words)
{
    std::string s;
    for (const auto& w : words)
        s += w.text + " ";
    return s;
}

} // namespace

TEST_CASE("OCR reads a page's labels with boxes in screen coordinates, in light and dark themes")
{
    auto ocr = Ocr::for_this_thread();
    REQUIRE(ocr.ok());
    for (const char* variant : {"baseline", "dark"}) {
        CAPTURE(std::string(variant));
        auto words = (*ocr)->read(shot("registry-search", variant));
        REQUIRE(words.ok());
        const std::string text = joined(*words);
        for (const char* expected : {"Company", "Registry", "Find", "Jurisdiction", "Search", "Clear", "Annual"})
            CHECK(text.find(expected) != std::string::npos);
        for (const auto& w : *words) {
            if (w.text == "Clear") {
                // The "Clear" button sits at x 315-390, y 304-340 on this page (Search is 215-307).
                CHECK(w.box.x >= 315);
                CHECK(w.box.x + w.box.w <= 390);
                CHECK(w.box.y >= 304);
                CHECK(w.box.y + w.box.h <= 340);
            }
        }
    }
}

TEST_CASE("OCR of a region reports screen coordinates and only that region's words")
{
    auto ocr = Ocr::for_this_thread();
    REQUIRE(ocr.ok());
    // The white-on-blue "Save lead" button of the lead form.
    auto words = (*ocr)->read(shot("crm-lead-form"), Rect {200, 340, 200, 50});
    REQUIRE(words.ok());
    CHECK(joined(*words).find("Save lead") != std::string::npos);
    for (const auto& w : *words) {
        CHECK(w.box.x >= 200);
        CHECK(w.box.y >= 340);
    }
    CHECK((*ocr)->read(shot("crm-lead-form"), Rect {5000, 5000, 10, 10})->empty());
    CHECK_FALSE((*ocr)->read(cv::Mat()).ok());
}

TEST_CASE("each thread has its own engine, reused across calls")
{
    auto mine = Ocr::for_this_thread();
    REQUIRE(mine.ok());
    CHECK(*Ocr::for_this_thread() == *mine);
    Ocr* theirs = nullptr;
    std::string their_text;
    std::thread t([&] {
        auto o = Ocr::for_this_thread();
        if (o.ok()) {
            theirs = *o;
            auto w = (*o)->read(shot("menu"), Rect {1040, 60, 240, 200});
            if (w.ok())
                their_text = joined(*w);
        }
    });
    t.join();
    CHECK(theirs != nullptr);
    CHECK(theirs != *mine);
    CHECK(their_text.find("settings") != std::string::npos);
}
