#pragma once

// What changed between two frames: the basis of stability (is the screen still moving?) and of the
// effect check (did the action change the screen where it should?).

#include <chrono>
#include <optional>
#include <span>
#include <vector>

#include <opencv2/core.hpp>

#include <rote/base/geometry.h>

namespace rote::vision {

// The regions where two frames of the same size and type differ, merged from 16x16 blocks, ignoring blocks
// whose centre lies in a masked rectangle. Exact (any changed byte counts). Frames of different sizes
// differ everywhere. Cost: about one memcmp pass over the frame.
std::vector<Rect> changed_regions(const cv::Mat& a, const cv::Mat& b, std::span<const Rect> mask = {});

// True for a change that is only a text cursor blinking: a thin vertical bar.
bool looks_like_cursor(const cv::Mat& a, const cv::Mat& b, const Rect& region);

// Decides when the screen has settled. Feed it every frame (each VNC update); a change counts unless it
// lies in the mask or is a blinking cursor. Not thread-safe.
class StabilityTracker {
public:
    using Clock = std::chrono::steady_clock;
    explicit StabilityTracker(std::vector<Rect> mask = {});

    // Returns true when this frame changed in a way that counts. The first frame counts as a change.
    bool update(const cv::Mat& frame, Clock::time_point now);
    // No counted change during the `quiet` before `now` (and at least one frame seen).
    bool stable(std::chrono::milliseconds quiet, Clock::time_point now) const;
    Clock::time_point last_change() const { return m_last_change; }

private:
    std::vector<Rect> m_mask;
    cv::Mat m_previous;
    Clock::time_point m_last_change {};
};

enum class Effect {
    none, // nothing changed (outside the mask)
    expected, // something changed inside the expected region (other changes may come with it)
    elsewhere, // changes, but none in the expected region
};

struct EffectCheck {
    Effect effect = Effect::none;
    std::vector<Rect> changed;
};

// Did the action change the screen, and where it was expected to? With no expected region, any change
// is `expected`.
EffectCheck check_effect(
    const cv::Mat& before, const cv::Mat& after, std::optional<Rect> expected, std::span<const Rect> mask = {});

} // namespace rote::vision
