#pragma once

// A compact fingerprint of a screen, to tell "this is the screen the trace recorded" from "the page
// changed", cheaply and tolerating regions known to be dynamic (a clock, an ad, a spinner).
//
// The screen is cut into 32x32-pixel cells. Per cell the fingerprint keeps an exact content hash and a
// 2x2 thumbnail (mean of the channels): equal hashes mean an identical cell, close thumbnails a cell that changed only
// slightly (anti-aliasing, a caret), anything else a different cell. About 8 KiB at 1280x800.

#include <cstdint>
#include <span>
#include <vector>

#include <opencv2/core.hpp>

#include <rote/base/geometry.h>
#include <rote/base/result.h>

namespace rote::vision {

struct Fingerprint {
    int width = 0; // of the screen, pixels
    int height = 0;
    int cols = 0; // cells
    int rows = 0;
    std::vector<std::uint8_t> thumb; // (2*cols) x (2*rows) grey, row-major
    std::vector<std::uint32_t> hashes; // cols x rows, row-major
    friend bool operator==(const Fingerprint&, const Fingerprint&) = default;
};

inline constexpr int kFingerprintCell = 32;

// Fingerprints an 8-bit BGR (or BGRA, or grey) screen.
Fingerprint fingerprint(const cv::Mat& screen);

struct Comparison {
    double similarity = 0; // share of unmasked cells identical or nearly so, 0-1
    double identical = 0; // share of unmasked cells exactly identical
    std::vector<Rect> differs; // where they differ, merged from cells
    // The same screen as far as replay is concerned.
    bool same(double min_similarity = 0.99) const { return similarity >= min_similarity; }
};

// Compares two fingerprints; cells whose centre is in a masked rectangle are left out. Screens of
// different sizes have similarity 0.
Comparison compare(const Fingerprint& a, const Fingerprint& b, std::span<const Rect> mask = {});

// The stored form (the store's pre_fingerprint/post_fingerprint columns), and its parser, which rejects
// anything malformed: fingerprints can arrive from imported traces.
std::vector<std::uint8_t> serialize(const Fingerprint& f);
Result<Fingerprint> parse_fingerprint(std::span<const std::uint8_t> bytes);

} // namespace rote::vision
