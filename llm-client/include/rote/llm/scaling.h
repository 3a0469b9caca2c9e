#pragma once

// What the model sees: the screen, downscaled to the size the providers advise (at most 1280x800, aspect
// ratio kept), and the exact mapping of the model's points back to the real screen.

#include <rote/base/geometry.h>

namespace rote::llm {

struct Size {
    int width = 0;
    int height = 0;
    friend bool operator==(const Size&, const Size&) = default;
};

// The mapping between a real screen and the image the model is shown. Each axis is scaled on its own
// (rounding the model size makes the two factors differ by a hair), and a point maps through pixel centres:
// model pixel m stands for the real pixels whose centres fall in it, and goes back to the real pixel under
// its own centre. So to_model(to_screen(m)) == m for every model pixel (the round trip is exact), and
// to_screen(to_model(p)) is within one model pixel of p.
class ScreenScale {
public:
    // The largest size within `limit` with the screen's aspect ratio; the screen itself if it fits.
    static ScreenScale fit(Size screen, Size limit);

    Size screen() const { return m_screen; }
    Size model() const { return m_model; }
    bool identity() const { return m_screen == m_model; }

    Point to_model(Point on_screen) const;
    Point to_screen(Point on_model) const;
    // True when a point the model gave lies on the image it was shown.
    bool on_model(Point p) const { return p.x >= 0 && p.y >= 0 && p.x < m_model.width && p.y < m_model.height; }

private:
    Size m_screen;
    Size m_model;
};

} // namespace rote::llm
