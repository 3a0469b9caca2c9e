#include <rote/vision/fingerprint.h>

#include <cstring>

#include <opencv2/imgproc.hpp>

namespace rote::vision {

namespace {

constexpr int kCell = kFingerprintCell;
constexpr int kThumbPerCell = 2;
constexpr int kNearlyEqual = 10; // grey levels a thumbnail pixel may move and the cell still count as the same
constexpr std::uint8_t kMagic[4] = {'R', 'F', 'P', '1'};
constexpr int kMaxSide = 16384;

// A fast 32-bit hash of bytes, folded 8 at a time (a multiply-xorshift mix; not cryptographic, it only has
// to tell screen cells apart).
inline std::uint64_t mix(std::uint64_t h, std::uint64_t v)
{
    h ^= v * 0x9e3779b97f4a7c15ULL;
    h = (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9ULL;
    return h;
}

} // namespace

Fingerprint fingerprint(const cv::Mat& screen)
{
    Fingerprint f;
    if (screen.empty())
        return f;
    f.width = screen.cols;
    f.height = screen.rows;
    f.cols = (screen.cols + kCell - 1) / kCell;
    f.rows = (screen.rows + kCell - 1) / kCell;

    // One pass over the frame computes both the exact hash of every cell and, for its 2x2 thumbnail, the
    // sum of every byte in each 16x16 block (the mean of the channels is the thumbnail's grey: no colour
    // conversion, no second pass; an INTER_AREA resize alone cost more than the whole of this).
    const int thumb_cols = f.cols * kThumbPerCell;
    const int thumb_rows = f.rows * kThumbPerCell;
    constexpr int kThumbBlock = kCell / kThumbPerCell;
    std::vector<std::uint64_t> h(static_cast<std::size_t>(f.cols) * f.rows, 0x243f6a8885a308d3ULL);
    std::vector<std::uint64_t> sums(static_cast<std::size_t>(thumb_cols) * thumb_rows, 0);
    const std::size_t pixel = screen.elemSize();
    const std::size_t row_bytes = static_cast<std::size_t>(screen.cols) * pixel;
    const std::size_t cell_bytes = static_cast<std::size_t>(kCell) * pixel;
    const std::size_t half_bytes = cell_bytes / 2; // 16, 48 or 64 bytes: whole 8-byte words
    constexpr std::uint64_t kLow = 0x00ff00ff00ff00ffULL;
    auto byte_sum = [](std::uint64_t v) {
        const std::uint64_t pairs = (v & kLow) + ((v >> 8) & kLow);
        return (pairs * 0x0001000100010001ULL) >> 48;
    };
    for (int y = 0; y < screen.rows; ++y) {
        const auto* p = screen.ptr<std::uint8_t>(y);
        std::uint64_t* cell_row = &h[static_cast<std::size_t>(y / kCell) * f.cols];
        std::uint64_t* sum_row = &sums[static_cast<std::size_t>(y / kThumbBlock) * thumb_cols];
        for (int cx = 0; cx < f.cols; ++cx) {
            const std::size_t begin = cx * cell_bytes;
            const std::size_t end = std::min(begin + cell_bytes, row_bytes);
            std::uint64_t acc = cell_row[cx];
            std::uint64_t sum[2] = {0, 0};
            std::size_t i = begin;
            for (; i + 8 <= end; i += 8) {
                std::uint64_t v;
                std::memcpy(&v, p + i, 8);
                acc = mix(acc, v);
                sum[i - begin >= half_bytes] += byte_sum(v);
            }
            for (; i < end; ++i) {
                acc = mix(acc, p[i]);
                sum[i - begin >= half_bytes] += p[i];
            }
            cell_row[cx] = acc;
            sum_row[cx * 2] += sum[0];
            sum_row[cx * 2 + 1] += sum[1];
        }
    }
    f.hashes.resize(h.size());
    for (std::size_t i = 0; i < h.size(); ++i)
        f.hashes[i] = static_cast<std::uint32_t>(h[i] ^ (h[i] >> 32));
    f.thumb.resize(sums.size());
    const int channels = screen.channels();
    for (int ty = 0; ty < thumb_rows; ++ty) {
        const int block_h = std::max(0, std::min(kThumbBlock, screen.rows - ty * kThumbBlock));
        for (int tx = 0; tx < thumb_cols; ++tx) {
            const int block_w = std::max(0, std::min(kThumbBlock, screen.cols - tx * kThumbBlock));
            const std::size_t n = static_cast<std::size_t>(block_w) * block_h * channels;
            const std::size_t t = static_cast<std::size_t>(ty) * thumb_cols + tx;
            f.thumb[t] = n == 0 ? 0 : static_cast<std::uint8_t>(sums[t] / n);
        }
    }
    return f;
}

Comparison compare(const Fingerprint& a, const Fingerprint& b, std::span<const Rect> mask)
{
    Comparison c;
    if (a.width != b.width || a.height != b.height || a.cols != b.cols || a.rows != b.rows || a.cols == 0) {
        if (a.width > 0 || b.width > 0)
            c.differs.push_back({0, 0, std::max(a.width, b.width), std::max(a.height, b.height)});
        return c;
    }
    cv::Mat different = cv::Mat::zeros(a.rows, a.cols, CV_8U);
    const int thumb_cols = a.cols * kThumbPerCell;
    int counted = 0, same = 0, identical = 0;
    for (int cy = 0; cy < a.rows; ++cy) {
        for (int cx = 0; cx < a.cols; ++cx) {
            const Point centre {cx * kCell + kCell / 2, cy * kCell + kCell / 2};
            if (std::any_of(mask.begin(), mask.end(), [&](const Rect& r) { return r.contains(centre); }))
                continue;
            ++counted;
            const std::size_t i = static_cast<std::size_t>(cy) * a.cols + cx;
            if (a.hashes[i] == b.hashes[i]) {
                ++same;
                ++identical;
                continue;
            }
            bool near = true;
            for (int ty = 0; ty < kThumbPerCell && near; ++ty) {
                for (int tx = 0; tx < kThumbPerCell; ++tx) {
                    const std::size_t t
                        = static_cast<std::size_t>(cy * kThumbPerCell + ty) * thumb_cols + cx * kThumbPerCell + tx;
                    if (std::abs(int(a.thumb[t]) - int(b.thumb[t])) > kNearlyEqual) {
                        near = false;
                        break;
                    }
                }
            }
            if (near)
                ++same;
            else
                different.at<std::uint8_t>(cy, cx) = 255;
        }
    }
    c.similarity = counted == 0 ? 1.0 : static_cast<double>(same) / counted;
    c.identical = counted == 0 ? 1.0 : static_cast<double>(identical) / counted;
    cv::Mat labels, stats, centroids;
    const int n = cv::connectedComponentsWithStats(different, labels, stats, centroids, 8, CV_32S);
    for (int i = 1; i < n; ++i) {
        const int x = stats.at<int>(i, cv::CC_STAT_LEFT) * kCell;
        const int y = stats.at<int>(i, cv::CC_STAT_TOP) * kCell;
        c.differs.push_back({x, y, std::min(stats.at<int>(i, cv::CC_STAT_WIDTH) * kCell, a.width - x),
            std::min(stats.at<int>(i, cv::CC_STAT_HEIGHT) * kCell, a.height - y)});
    }
    return c;
}

std::vector<std::uint8_t> serialize(const Fingerprint& f)
{
    std::vector<std::uint8_t> out(kMagic, kMagic + 4);
    auto put16 = [&](int v) {
        out.push_back(static_cast<std::uint8_t>(v & 0xff));
        out.push_back(static_cast<std::uint8_t>((v >> 8) & 0xff));
    };
    put16(f.width);
    put16(f.height);
    put16(f.cols);
    put16(f.rows);
    out.insert(out.end(), f.thumb.begin(), f.thumb.end());
    for (std::uint32_t h : f.hashes) {
        for (int s = 0; s < 32; s += 8)
            out.push_back(static_cast<std::uint8_t>((h >> s) & 0xff));
    }
    return out;
}

Result<Fingerprint> parse_fingerprint(std::span<const std::uint8_t> bytes)
{
    auto bad = [](const std::string& why) { return Error(Error::Code::corrupt, "fingerprint: " + why); };
    if (bytes.size() < 12 || std::memcmp(bytes.data(), kMagic, 4) != 0)
        return bad("not a rote fingerprint (bad header)");
    auto get16 = [&](std::size_t at) { return int(bytes[at]) | (int(bytes[at + 1]) << 8); };
    Fingerprint f;
    f.width = get16(4);
    f.height = get16(6);
    f.cols = get16(8);
    f.rows = get16(10);
    if (f.width <= 0 || f.height <= 0 || f.width > kMaxSide || f.height > kMaxSide)
        return bad("screen size out of range");
    if (f.cols != (f.width + kCell - 1) / kCell || f.rows != (f.height + kCell - 1) / kCell)
        return bad("cell grid does not match the screen size");
    const std::size_t cells = static_cast<std::size_t>(f.cols) * f.rows;
    const std::size_t thumb = cells * kThumbPerCell * kThumbPerCell;
    if (bytes.size() != 12 + thumb + 4 * cells)
        return bad("length " + std::to_string(bytes.size()) + " does not match its grid");
    f.thumb.assign(bytes.begin() + 12, bytes.begin() + 12 + static_cast<std::ptrdiff_t>(thumb));
    f.hashes.resize(cells);
    const std::size_t base = 12 + thumb;
    for (std::size_t i = 0; i < cells; ++i) {
        const std::size_t o = base + 4 * i;
        f.hashes[i] = std::uint32_t(bytes[o]) | (std::uint32_t(bytes[o + 1]) << 8) | (std::uint32_t(bytes[o + 2]) << 16)
            | (std::uint32_t(bytes[o + 3]) << 24);
    }
    return f;
}

} // namespace rote::vision
