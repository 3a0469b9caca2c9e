#include <rote/llm/scaling.h>

#include <algorithm>
#include <cassert>
#include <cstdint>

namespace rote::llm {

namespace {

// The pixel of a `to`-wide axis under the centre of pixel `p` of a `from`-wide axis:
// floor((p + 0.5) * to / from), in integers.
int map_centre(int p, int from, int to)
{
    const std::int64_t numerator = (2 * static_cast<std::int64_t>(p) + 1) * to;
    return static_cast<int>(numerator / (2 * static_cast<std::int64_t>(from)));
}

} // namespace

ScreenScale ScreenScale::fit(Size screen, Size limit)
{
    assert(screen.width > 0 && screen.height > 0 && limit.width > 0 && limit.height > 0);
    ScreenScale s;
    s.m_screen = screen;
    if (screen.width <= limit.width && screen.height <= limit.height) {
        s.m_model = screen;
        return s;
    }
    // Scale by the tighter of the two limits; round the other side to the nearest pixel.
    const bool width_binds = static_cast<std::int64_t>(screen.width) * limit.height
        >= static_cast<std::int64_t>(screen.height) * limit.width;
    if (width_binds) {
        s.m_model.width = limit.width;
        s.m_model.height = static_cast<int>(
            (2 * static_cast<std::int64_t>(screen.height) * limit.width + screen.width) / (2 * screen.width));
    } else {
        s.m_model.height = limit.height;
        s.m_model.width = static_cast<int>(
            (2 * static_cast<std::int64_t>(screen.width) * limit.height + screen.height) / (2 * screen.height));
    }
    s.m_model.width = std::clamp(s.m_model.width, 1, limit.width);
    s.m_model.height = std::clamp(s.m_model.height, 1, limit.height);
    return s;
}

Point ScreenScale::to_model(Point p) const
{
    return {map_centre(p.x, m_screen.width, m_model.width), map_centre(p.y, m_screen.height, m_model.height)};
}

Point ScreenScale::to_screen(Point p) const
{
    return {map_centre(p.x, m_model.width, m_screen.width), map_centre(p.y, m_model.height, m_screen.height)};
}

} // namespace rote::llm
