#include <rote/vision/diff.h>

#include <cstring>

#include <opencv2/imgproc.hpp>

namespace rote::vision {

namespace {

constexpr int kBlock = 16;

bool masked(std::span<const Rect> mask, Point p)
{
    return std::any_of(mask.begin(), mask.end(), [&](const Rect& r) { return r.contains(p); });
}

} // namespace

std::vector<Rect> changed_regions(const cv::Mat& a, const cv::Mat& b, std::span<const Rect> mask)
{
    if (a.size() != b.size() || a.type() != b.type())
        return {Rect {0, 0, std::max(a.cols, b.cols), std::max(a.rows, b.rows)}};
    const int cols = (a.cols + kBlock - 1) / kBlock;
    const int rows = (a.rows + kBlock - 1) / kBlock;
    cv::Mat blocks = cv::Mat::zeros(rows, cols, CV_8U);
    const std::size_t pixel = a.elemSize();
    const std::size_t row_bytes = static_cast<std::size_t>(a.cols) * pixel;
    bool any = false;
    for (int y = 0; y < a.rows; ++y) {
        const auto* pa = a.ptr<std::uint8_t>(y);
        const auto* pb = b.ptr<std::uint8_t>(y);
        // Most rows of most frames are identical: one memcmp decides them.
        if (std::memcmp(pa, pb, row_bytes) == 0)
            continue;
        auto* block_row = blocks.ptr<std::uint8_t>(y / kBlock);
        for (int bx = 0; bx < cols; ++bx) {
            if (block_row[bx])
                continue;
            const std::size_t offset = static_cast<std::size_t>(bx) * kBlock * pixel;
            const std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(kBlock) * pixel, row_bytes - offset);
            if (std::memcmp(pa + offset, pb + offset, n) != 0) {
                block_row[bx] = 255;
                any = true;
            }
        }
    }
    if (!any)
        return {};
    if (!mask.empty()) {
        for (int by = 0; by < rows; ++by) {
            for (int bx = 0; bx < cols; ++bx) {
                if (blocks.at<std::uint8_t>(by, bx)
                    && masked(mask, {bx * kBlock + kBlock / 2, by * kBlock + kBlock / 2}))
                    blocks.at<std::uint8_t>(by, bx) = 0;
            }
        }
    }
    cv::Mat labels, stats, centroids;
    const int n = cv::connectedComponentsWithStats(blocks, labels, stats, centroids, 8, CV_32S);
    std::vector<Rect> out;
    for (int i = 1; i < n; ++i) {
        const int x = stats.at<int>(i, cv::CC_STAT_LEFT) * kBlock;
        const int y = stats.at<int>(i, cv::CC_STAT_TOP) * kBlock;
        const int w = std::min(stats.at<int>(i, cv::CC_STAT_WIDTH) * kBlock, a.cols - x);
        const int h = std::min(stats.at<int>(i, cv::CC_STAT_HEIGHT) * kBlock, a.rows - y);
        out.push_back({x, y, w, h});
    }
    return out;
}

bool looks_like_cursor(const cv::Mat& a, const cv::Mat& b, const Rect& region)
{
    // Only small regions can be a cursor; the exact changed pixels decide.
    if (region.w > 3 * kBlock || region.h > 4 * kBlock)
        return false;
    const cv::Rect r(region.x, region.y, region.w, region.h);
    cv::Mat diff;
    cv::absdiff(a(r), b(r), diff);
    if (diff.channels() > 1)
        cv::cvtColor(diff, diff, diff.channels() == 4 ? cv::COLOR_BGRA2GRAY : cv::COLOR_BGR2GRAY);
    std::vector<cv::Point> changed;
    cv::findNonZero(diff, changed);
    if (changed.empty())
        return true;
    const cv::Rect box = cv::boundingRect(changed);
    return box.width <= 4 && box.height >= 8 && box.height <= 48;
}

StabilityTracker::StabilityTracker(std::vector<Rect> mask)
    : m_mask(std::move(mask))
{
}

bool StabilityTracker::update(const cv::Mat& frame, Clock::time_point now)
{
    bool counted = m_previous.empty();
    if (!counted) {
        for (const Rect& r : changed_regions(m_previous, frame, m_mask)) {
            if (!looks_like_cursor(m_previous, frame, r)) {
                counted = true;
                break;
            }
        }
    }
    frame.copyTo(m_previous);
    if (counted)
        m_last_change = now;
    return counted;
}

bool StabilityTracker::stable(std::chrono::milliseconds quiet, Clock::time_point now) const
{
    return !m_previous.empty() && now - m_last_change >= quiet;
}

EffectCheck check_effect(
    const cv::Mat& before, const cv::Mat& after, std::optional<Rect> expected, std::span<const Rect> mask)
{
    EffectCheck check;
    for (const Rect& r : changed_regions(before, after, mask)) {
        if (!looks_like_cursor(before, after, r))
            check.changed.push_back(r);
    }
    if (check.changed.empty())
        check.effect = Effect::none;
    else if (!expected || std::any_of(check.changed.begin(), check.changed.end(), [&](const Rect& r) {
                 return r.intersects(*expected);
             }))
        check.effect = Effect::expected;
    else
        check.effect = Effect::elsewhere;
    return check;
}

} // namespace rote::vision
