#pragma once

#include <algorithm>
#include <string>
#include <vector>

namespace rote {

// Screen coordinates in pixels, origin top left.
struct Point {
    int x = 0;
    int y = 0;
    friend bool operator==(const Point&, const Point&) = default;
};

struct Rect {
    int x = 0;
    int y = 0;
    int w = 0;
    int h = 0;
    bool contains(Point p) const { return p.x >= x && p.y >= y && p.x < x + w && p.y < y + h; }
    bool empty() const { return w <= 0 || h <= 0; }
    Point center() const { return {x + w / 2, y + h / 2}; }
    bool intersects(const Rect& o) const { return x < o.x + o.w && o.x < x + w && y < o.y + o.h && o.y < y + h; }
    friend bool operator==(const Rect&, const Rect&) = default;
};

// The smallest rectangle around all of `rects` (an empty one for none).
inline Rect bounding(const std::vector<Rect>& rects)
{
    if (rects.empty())
        return {};
    Rect all = rects.front();
    for (const auto& r : rects) {
        const int x0 = std::min(all.x, r.x), y0 = std::min(all.y, r.y);
        const int x1 = std::max(all.x + all.w, r.x + r.w), y1 = std::max(all.y + all.h, r.y + r.h);
        all = {x0, y0, x1 - x0, y1 - y0};
    }
    return all;
}

// A piece of text near a target, and where the target lies from the text's centre. The replayer finds
// the text again and predicts the target from it.
struct Landmark {
    std::string text;
    int dx = 0;
    int dy = 0;
    friend bool operator==(const Landmark&, const Landmark&) = default;
};

} // namespace rote
