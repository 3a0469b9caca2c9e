#pragma once

// Finding an action's target again on a new screen, or saying honestly that it cannot be found.
//
// An anchor is built once, when a step is recorded: the element patch under the point, a wider context
// patch, the OCR'd label of the element, nearby text landmarks, and the fingerprint of the whole screen.
// locate() then tries, cheapest first:
//   1. recorded   the screen is the recorded one (fingerprint, outside masked regions) and the patch is
//                 still at the recorded point;
//   2. template   the element patch, matched on the whole screen at scale 1 (method template_near when
//                 it is within 200 px of the recorded point, template_screen otherwise);
//   3. scaled     the same at scales 0.9-1.25 (a page zoomed 90-125%);
//   4. ocr_text   the label read again by OCR (fuzzy, case-insensitive), confirmed by a landmark at its
//                 expected offset (or by the patch when the anchor has no landmarks).
// Two candidates within a small score margin of each other are `ambiguous`: never a guess. Nothing good
// enough is `not_found`. Landmarks confirm; they never locate on their own (when a target is removed, its
// neighbours' offsets point at whatever moved into its place).

#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include <rote/base/geometry.h>
#include <rote/base/result.h>
#include <rote/vision/fingerprint.h>
#include <rote/vision/ocr.h>

namespace rote::vision {

struct TargetAnchor {
    Point point; // where the action happened on the recorded screen
    cv::Mat context; // grey patch around the point, the element patch inside it
    Rect element; // the element patch, in context coordinates
    Point context_origin; // top-left of the context patch on the recorded screen
    std::string label; // OCR'd text of the element under the point, "" if none
    std::optional<Rect> label_box; // on the recorded screen
    std::vector<Landmark> landmarks; // nearby text and the target's offset from it
    Fingerprint screen; // the recorded screen
    std::vector<Rect> mask; // regions of the recorded screen known to be dynamic

    cv::Mat element_patch() const { return context(cv::Rect(element.x, element.y, element.w, element.h)); }
    // The point, relative to the element patch's top-left.
    Point element_offset() const
    {
        return {point.x - context_origin.x - element.x, point.y - context_origin.y - element.y};
    }
};

// Builds the anchor for an action at `point` on `screen` (8-bit BGR). OCR reads a region around the point.
Result<TargetAnchor> build_anchor(const cv::Mat& screen, Point point, Ocr& ocr, std::vector<Rect> mask = {});

// The same anchor again from what a trace stored (the recorded screen, the point, the label and its box, the
// landmarks), without OCR: the patches are cut exactly as build_anchor cut them.
Result<TargetAnchor> anchor_from_record(const cv::Mat& screen, Point point, std::string label,
    std::optional<Rect> label_box, std::vector<Landmark> landmarks, std::vector<Rect> mask = {});

enum class LocateStatus { found, ambiguous, not_found };
enum class LocateMethod { recorded, template_near, template_screen, template_scaled, ocr_text, none };

std::string_view to_string(LocateStatus s);
std::string_view to_string(LocateMethod m);

struct Location {
    LocateStatus status = LocateStatus::not_found;
    Point point; // valid when found
    LocateMethod method = LocateMethod::none;
    double confidence = 0; // 0-1; see docs/benchmarks.md for what it means on the corpus
    std::vector<Point> candidates; // when ambiguous: the equally good ones
    std::string detail; // why, for logs and divergence reports
};

struct LocateOptions {
    bool use_ocr = true; // stage 4 (the slow one: a full-screen OCR)
    Ocr* ocr = nullptr; // required when use_ocr
    std::vector<double> scales {0.9, 0.95, 1.05, 1.1, 1.15, 1.2, 1.25};
};

Location locate(const TargetAnchor& anchor, const cv::Mat& screen, const LocateOptions& options);

// Where a target whose label changes from run to run is (a search result named after the company searched
// for): the places where `phrase` (this run's value) is read exactly (case and punctuation aside) and not as
// the start of longer text on its line (a near-duplicate name), each confirmed by the landmarks at their
// recorded offsets from the target. The best-confirmed place wins; equally confirmed places are `ambiguous`;
// a place no landmark confirms is `not_found` when there are landmarks (the echo "3 results for “Acme”" is
// not the result). With no landmarks, a phrase read once is found.
Location locate_text(const std::vector<Word>& words, std::string_view phrase, Point recorded_point,
    std::optional<Rect> recorded_label_box, const std::vector<Landmark>& landmarks);

// Where a phrase is written on the screen, from words OCR read on it: the run of words that reads as the
// phrase (case and punctuation ignored, similarity >= 0.8). Two equally good places are `ambiguous` (never a
// guess); none is `not_found`.
struct TextMatch {
    LocateStatus status = LocateStatus::not_found;
    Rect box; // valid when found
    double similarity = 0;
    std::vector<Rect> candidates; // when ambiguous
};
TextMatch find_text(const std::vector<Word>& words, std::string_view phrase);

// The same for a run's value (a name typed into a search, a company to click): only an exact reading (case
// and punctuation ignored) that ends its run of text on its line is a place, so a near-duplicate that reads
// alike, or a longer name the value begins, never is. Two such places are `ambiguous`.
TextMatch find_value(const std::vector<Word>& words, std::string_view value);

// Normalised similarity of two strings, case- and punctuation-insensitive: 1 - edit distance / length.
double text_similarity(std::string_view a, std::string_view b);

// The words whose centres lie in `box` grown by `margin` pixels on every side, in reading order, one space
// between: what the screen shows where a document says a link or field is drawn.
std::string words_in(const std::vector<Word>& words, const Rect& box, int margin = 3);

} // namespace rote::vision
