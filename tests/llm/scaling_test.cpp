#include <doctest/doctest.h>

#include <cstdlib>

#include <rote/llm/scaling.h>

using namespace rote;
using namespace rote::llm;

namespace {

struct Case {
    Size screen;
    Size model;
};

} // namespace

TEST_CASE("screens are fitted into 1280x800 with their aspect ratio")
{
    const Case cases[] = {
        {{1024, 768}, {1024, 768}},
        {{1280, 800}, {1280, 800}},
        {{1366, 768}, {1280, 720}},
        {{1920, 1080}, {1280, 720}},
        {{2560, 1440}, {1280, 720}},
        {{1920, 1200}, {1280, 800}},
        {{800, 1600}, {400, 800}},
    };
    for (const auto& c : cases) {
        CAPTURE(c.screen.width);
        CAPTURE(c.screen.height);
        CHECK(ScreenScale::fit(c.screen, {1280, 800}).model() == c.model);
    }
}

TEST_CASE("every model pixel round-trips exactly and every screen pixel lands within one model pixel")
{
    for (Size screen : {Size {1024, 768}, Size {1280, 800}, Size {1366, 768}, Size {1920, 1080}, Size {2560, 1440}}) {
        const auto scale = ScreenScale::fit(screen, {1280, 800});
        CAPTURE(screen.width);
        const Size model = scale.model();
        // Exhaustive over the whole model image: a point the model names comes back as the same point.
        int mismatches = 0;
        for (int y = 0; y < model.height; ++y) {
            for (int x = 0; x < model.width; ++x) {
                const Point on_screen = scale.to_screen({x, y});
                if (on_screen.x < 0 || on_screen.y < 0 || on_screen.x >= screen.width || on_screen.y >= screen.height
                    || scale.to_model(on_screen) != Point {x, y})
                    ++mismatches;
            }
        }
        CHECK(mismatches == 0);
        // And from the screen: the model pixel covering a screen point maps back close to it.
        const int step_x = (screen.width + model.width - 1) / model.width;
        const int step_y = (screen.height + model.height - 1) / model.height;
        int far = 0;
        for (int y = 0; y < screen.height; ++y) {
            for (int x = 0; x < screen.width; ++x) {
                const Point back = scale.to_screen(scale.to_model({x, y}));
                if (std::abs(back.x - x) > step_x || std::abs(back.y - y) > step_y)
                    ++far;
            }
        }
        CHECK(far == 0);
        if (scale.identity()) {
            CHECK(scale.to_screen({17, 33}) == Point {17, 33});
            CHECK(scale.to_model({1023, 767}) == Point {1023, 767});
        }
    }
}

TEST_CASE("known points map as a person would compute them")
{
    const auto half = ScreenScale::fit({2560, 1440}, {1280, 800});
    CHECK(half.to_screen({640, 360}) == Point {1281, 721}); // the centre of model pixel 640 is real 1281
    CHECK(half.to_model({1281, 721}) == Point {640, 360});
    CHECK(half.to_model({2559, 1439}) == Point {1279, 719});
    const auto two_thirds = ScreenScale::fit({1920, 1080}, {1280, 800});
    CHECK(two_thirds.to_screen({0, 0}) == Point {0, 0});
    CHECK(two_thirds.to_screen({1279, 719}) == Point {1919, 1079});
    CHECK(two_thirds.on_model({1279, 719}));
    CHECK_FALSE(two_thirds.on_model({1280, 10}));
    CHECK_FALSE(two_thirds.on_model({-1, 10}));
}
