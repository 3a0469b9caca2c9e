#include <rote/vision/target.h>

#include <algorithm>
#include <cctype>
#include <cmath>

#include <opencv2/imgproc.hpp>

#include <rote/base/log.h>

namespace rote::vision {

namespace {

// Thresholds, chosen on the corpus (tests/vision/data) and reported with it in docs/benchmarks.md.
constexpr double kSameScreen = 0.995; // fingerprint similarity for the recorded-point fast path
constexpr double kRecordedPatch = 0.90; // patch score at the recorded point on that path
constexpr double kTemplateFound = 0.90; // element patch score to accept a template match at scale 1
constexpr double kScaledFound = 0.86; // ... at other scales (resampling costs a little score)
constexpr double kCandidate = 0.70; // peaks below this are not candidates at all
constexpr double kTie = 0.05; // two candidates closer than this in score are equally good
constexpr double kTextFound = 0.80; // OCR text similarity to accept a label match
constexpr int kNear = 200; // px: a template match this close to the recorded point is "near"

cv::Mat to_grey(const cv::Mat& m)
{
    if (m.channels() == 1)
        return m;
    cv::Mat g;
    cv::cvtColor(m, g, m.channels() == 4 ? cv::COLOR_BGRA2GRAY : cv::COLOR_BGR2GRAY);
    return g;
}

cv::Rect to_cv(const Rect& r) { return {r.x, r.y, r.w, r.h}; }
Rect from_cv(const cv::Rect& r) { return {r.x, r.y, r.width, r.height}; }

double distance(Point a, Point b) { return std::hypot(double(a.x - b.x), double(a.y - b.y)); }

// A run of words on one line with small gaps: a label, a link text, a heading.
struct Phrase {
    std::string text;
    Rect box;
};

Rect unite(const Rect& a, const Rect& b)
{
    const int x0 = std::min(a.x, b.x), y0 = std::min(a.y, b.y);
    return {x0, y0, std::max(a.x + a.w, b.x + b.w) - x0, std::max(a.y + a.h, b.y + b.h) - y0};
}

// Whether `next` continues the run of text that ends with `previous` and spans `run`: same line, small gap.
bool continues(const Word& previous, const Rect& run, const Word& next)
{
    const int gap = next.box.x - (run.x + run.w);
    return previous.line == next.line && gap >= -2 && gap <= std::max(10, next.box.h);
}

std::vector<Phrase> phrases(const std::vector<Word>& words)
{
    std::vector<Phrase> out;
    for (std::size_t i = 0; i < words.size(); ++i) {
        if (!out.empty() && continues(words[i - 1], out.back().box, words[i])) {
            out.back().text += " " + words[i].text;
            out.back().box = unite(out.back().box, words[i].box);
        } else {
            out.push_back({words[i].text, words[i].box});
        }
    }
    return out;
}

std::size_t word_count(std::string_view s)
{
    std::size_t n = 0;
    bool in_word = false;
    for (char c : s) {
        const bool space = c == ' ';
        if (!space && !in_word)
            ++n;
        in_word = !space;
    }
    return n;
}

// Every run of 1..max_words consecutive words within a phrase: OCR often reads a label together with its
// neighbours ("Signin 3 Forgot password?"), and the label is then one of these runs.
std::vector<Phrase> spans(const std::vector<Word>& words, std::size_t max_words)
{
    std::vector<Phrase> out;
    for (std::size_t i = 0; i < words.size(); ++i) {
        Phrase run {words[i].text, words[i].box};
        out.push_back(run);
        for (std::size_t j = i + 1; j < words.size() && j - i < max_words; ++j) {
            if (!continues(words[j - 1], run.box, words[j]))
                break;
            run.text += " " + words[j].text;
            run.box = unite(run.box, words[j].box);
            out.push_back(run);
        }
    }
    return out;
}

Rect clamp_to(const Rect& r, int width, int height) { return from_cv(to_cv(r) & cv::Rect(0, 0, width, height)); }

Rect inflate(const Rect& r, int dx, int dy) { return {r.x - dx, r.y - dy, r.w + 2 * dx, r.h + 2 * dy}; }

struct Candidate {
    Point point;
    double score;
    double scale;
};

// The screen in grey at full resolution and at 1/2 and 1/4, for coarse-to-fine search.
struct Pyramid {
    cv::Mat full, half, quarter;
    explicit Pyramid(const cv::Mat& grey)
        : full(grey)
    {
        cv::resize(full, half, {}, 0.5, 0.5, cv::INTER_AREA);
        cv::resize(half, quarter, {}, 0.5, 0.5, cv::INTER_AREA);
    }
};

// Candidates for the patch at one scale, anywhere on the screen. Searching every position at full
// resolution costs ~120 ms a scale on one core; instead the screen is searched at 1/4 (or 1/2 for small
// patches) for rough peaks, each of which is then matched again at full resolution in a small window. A
// look-alike anywhere on the screen is still a coarse peak, so it is never missed.
std::vector<Candidate> match_at_scale(const Pyramid& screen, const cv::Mat& patch, Point offset, double scale)
{
    cv::Mat scaled = patch;
    if (scale != 1.0)
        cv::resize(patch, scaled, {}, scale, scale, scale < 1.0 ? cv::INTER_AREA : cv::INTER_LINEAR);
    const cv::Mat& full = screen.full;
    if (scaled.cols > full.cols || scaled.rows > full.rows || scaled.cols < 4 || scaled.rows < 4)
        return {};
    const int factor = std::min(scaled.cols, scaled.rows) >= 32 ? 4 : std::min(scaled.cols, scaled.rows) >= 16 ? 2 : 1;
    const cv::Mat& level = factor == 4 ? screen.quarter : factor == 2 ? screen.half : full;
    cv::Mat small = scaled;
    if (factor > 1)
        cv::resize(scaled, small, {}, 1.0 / factor, 1.0 / factor, cv::INTER_AREA);
    cv::Mat map;
    cv::matchTemplate(level, small, map, cv::TM_CCOEFF_NORMED);
    cv::patchNaNs(map, -1.0);

    const Point scaled_offset {
        static_cast<int>(std::lround(offset.x * scale)), static_cast<int>(std::lround(offset.y * scale))};
    std::vector<Candidate> out;
    constexpr double kCoarseCandidate = 0.5; // blurred coarse scores run lower than full-resolution ones
    for (int i = 0; i < 8; ++i) {
        double coarse = 0;
        cv::Point at;
        cv::minMaxLoc(map, nullptr, &coarse, nullptr, &at);
        if (coarse < kCoarseCandidate)
            break;
        map(cv::Rect(at.x - small.cols / 2, at.y - small.rows / 2, small.cols, small.rows)
            & cv::Rect(0, 0, map.cols, map.rows))
            .setTo(-1.0);
        const int slack = 2 * factor;
        const cv::Rect window
            = cv::Rect(at.x * factor - slack, at.y * factor - slack, scaled.cols + 2 * slack, scaled.rows + 2 * slack)
            & cv::Rect(0, 0, full.cols, full.rows);
        if (window.width < scaled.cols || window.height < scaled.rows)
            continue;
        cv::Mat fine;
        cv::matchTemplate(full(window), scaled, fine, cv::TM_CCOEFF_NORMED);
        cv::patchNaNs(fine, -1.0);
        double score = 0;
        cv::Point best;
        cv::minMaxLoc(fine, nullptr, &score, nullptr, &best);
        if (score >= kCandidate)
            out.push_back({{window.x + best.x + scaled_offset.x, window.y + best.y + scaled_offset.y}, score, scale});
    }
    return out;
}

// From candidates (any order), the verdict: found, ambiguous, or nothing good enough (nullopt).
std::optional<Location> decide(
    std::vector<Candidate> candidates, double threshold, int min_separation, Point recorded, bool scaled)
{
    std::sort(
        candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
    if (candidates.empty() || candidates[0].score < threshold)
        return std::nullopt;
    const Candidate& best = candidates[0];
    Location loc;
    double runner_up = kCandidate;
    for (std::size_t i = 1; i < candidates.size(); ++i) {
        if (distance(candidates[i].point, best.point) < min_separation)
            continue; // the same place, found again at a neighbouring scale
        runner_up = std::max(runner_up, candidates[i].score);
        if (candidates[i].score >= best.score - kTie && candidates[i].score >= threshold)
            loc.candidates.push_back(candidates[i].point);
    }
    if (!loc.candidates.empty()) {
        loc.candidates.insert(loc.candidates.begin(), best.point);
        loc.status = LocateStatus::ambiguous;
        loc.detail = std::to_string(loc.candidates.size()) + " equally good matches of the target's image (best "
            + std::to_string(best.score).substr(0, 5) + ")";
        return loc;
    }
    loc.status = LocateStatus::found;
    loc.point = best.point;
    loc.method = scaled                           ? LocateMethod::template_scaled
        : distance(best.point, recorded) <= kNear ? LocateMethod::template_near
                                                  : LocateMethod::template_screen;
    // Confidence grows with the match score and with the margin over the next candidate.
    const double score_part = std::clamp((best.score - threshold) / (1.0 - threshold), 0.0, 1.0);
    const double margin_part = std::clamp((best.score - runner_up) / 0.3, 0.0, 1.0);
    loc.confidence = 0.75 + 0.15 * score_part + 0.1 * margin_part;
    loc.detail = "image match " + std::to_string(best.score).substr(0, 5) + " at scale "
        + std::to_string(best.scale).substr(0, 4);
    return loc;
}

// Score of the patch placed with its top-left at `at` (or -1 if it does not fit).
double score_at(const cv::Mat& grey, const cv::Mat& patch, Point at)
{
    const cv::Rect r(at.x, at.y, patch.cols, patch.rows);
    if ((r & cv::Rect(0, 0, grey.cols, grey.rows)) != r)
        return -1;
    cv::Mat map;
    cv::matchTemplate(grey(r), patch, map, cv::TM_CCOEFF_NORMED);
    const float v = map.at<float>(0, 0);
    return std::isfinite(v) ? v : -1;
}

// A point predicted from text is only as precise as OCR's boxes; if the element's image (in either
// polarity, at the text's scale) agrees well within a few pixels, its position is the better answer.
Point refine(const cv::Mat& grey, const cv::Mat& patch, Point offset, Point predicted, double scale)
{
    cv::Mat scaled = patch;
    if (std::abs(scale - 1.0) > 0.02)
        cv::resize(patch, scaled, {}, scale, scale, cv::INTER_LINEAR);
    const Point scaled_offset {
        static_cast<int>(std::lround(offset.x * scale)), static_cast<int>(std::lround(offset.y * scale))};
    constexpr int kSlack = 20;
    const cv::Rect window = cv::Rect(predicted.x - scaled_offset.x - kSlack, predicted.y - scaled_offset.y - kSlack,
                                scaled.cols + 2 * kSlack, scaled.rows + 2 * kSlack)
        & cv::Rect(0, 0, grey.cols, grey.rows);
    if (window.width < scaled.cols || window.height < scaled.rows)
        return predicted;
    cv::Mat inverted;
    cv::bitwise_not(scaled, inverted);
    double best = 0;
    Point best_point = predicted;
    for (const cv::Mat* p : {&scaled, &inverted}) {
        cv::Mat map;
        cv::matchTemplate(grey(window), *p, map, cv::TM_CCOEFF_NORMED);
        cv::patchNaNs(map, -1.0);
        double score = 0;
        cv::Point at;
        cv::minMaxLoc(map, nullptr, &score, nullptr, &at);
        if (score > best) {
            best = score;
            best_point = {window.x + at.x + scaled_offset.x, window.y + at.y + scaled_offset.y};
        }
    }
    return best >= 0.6 ? best_point : predicted;
}

std::string normalise(std::string_view s)
{
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c))
            out.push_back(static_cast<char>(std::tolower(c)));
        else if (c >= 0x80)
            out.push_back(static_cast<char>(c));
    }
    return out;
}

// How many landmarks are where they were, relative to a target predicted at `predicted`: each one's text
// read (by another span than the target's own) within a tolerance of its recorded offset.
int confirmed_by(
    const std::vector<Phrase>& all, const Phrase& target, Point predicted, const std::vector<Landmark>& landmarks, double ratio)
{
    int confirmations = 0;
    for (const auto& l : landmarks) {
        const Point expected {predicted.x - static_cast<int>(std::lround(l.dx * ratio)),
            predicted.y - static_cast<int>(std::lround(l.dy * ratio))};
        const double tolerance = std::max(20.0, 0.2 * std::hypot(l.dx, l.dy) * ratio);
        for (const auto& q : all) {
            if (&q != &target && distance(q.box.center(), expected) <= tolerance
                && text_similarity(q.text, l.text) >= kTextFound) {
                ++confirmations;
                break;
            }
        }
    }
    return confirmations;
}

// A place where a label was read again, and how many landmarks agree with it.
struct TextCandidate {
    Point point;
    double similarity;
    int confirmations;
};

// More confirmations first, then the closer reading.
bool better_confirmed(const TextCandidate& a, const TextCandidate& b)
{
    return a.confirmations != b.confirmations ? a.confirmations > b.confirmations : a.similarity > b.similarity;
}

// The confidence of a label read again: its similarity, and up to two confirming landmarks.
double text_confidence(const TextCandidate& c)
{
    return 0.6 + 0.2 * (c.similarity - kTextFound) / (1 - kTextFound) + 0.1 * std::min(c.confirmations, 2) / 2.0;
}

// The answer for a label read again: `ambiguous` when `loc` holds other, equally good candidates, else
// found at the best one.
Location text_location(Location loc, const TextCandidate& best, const std::string& what)
{
    if (!loc.candidates.empty()) {
        loc.candidates.insert(loc.candidates.begin(), best.point);
        loc.status = LocateStatus::ambiguous;
        loc.detail = what + " read in " + std::to_string(loc.candidates.size()) + " places, equally confirmed";
        return loc;
    }
    loc.status = LocateStatus::found;
    loc.point = best.point;
    loc.method = LocateMethod::ocr_text;
    loc.confidence = text_confidence(best);
    loc.detail = what + " read again (similarity " + std::to_string(best.similarity).substr(0, 4) + "), "
        + std::to_string(best.confirmations) + " landmark(s) agree";
    return loc;
}

// An anchor is made on a non-empty 8-bit screen, at a point on it.
Result<void> check_anchor_input(const cv::Mat& screen, Point point)
{
    if (screen.empty() || screen.depth() != CV_8U)
        return Error(Error::Code::invalid_argument, "an anchor needs a non-empty 8-bit screenshot");
    if (point.x < 0 || point.y < 0 || point.x >= screen.cols || point.y >= screen.rows)
        return Error(Error::Code::invalid_argument,
            "the point (" + std::to_string(point.x) + ", " + std::to_string(point.y) + ") is off the screen");
    return {};
}

// The element patch (the label's box with a margin, else a fixed box around the point) and the context patch
// around it, both cut from the screen the anchor was made on.
void cut_patches(const cv::Mat& screen, TargetAnchor& a)
{
    const Point point = a.point;
    Rect element {point.x - 48, point.y - 20, 96, 40};
    if (a.label_box) {
        element = unite(inflate(*a.label_box, 14, 10), {point.x - 10, point.y - 10, 20, 20});
        element.w = std::min(element.w, 360);
        element.h = std::min(element.h, 100);
    }
    element = clamp_to(element, screen.cols, screen.rows);
    const Rect context = clamp_to(inflate(element, 120, 40), screen.cols, screen.rows);
    a.context_origin = {context.x, context.y};
    a.context = to_grey(screen)(to_cv(context)).clone();
    a.element = {element.x - context.x, element.y - context.y, element.w, element.h};
}

} // namespace

std::string words_in(const std::vector<Word>& words, const Rect& box, int margin)
{
    const Rect grown {box.x - margin, box.y - margin, box.w + 2 * margin, box.h + 2 * margin};
    std::string out;
    for (const auto& w : words) {
        if (grown.contains(w.box.center()))
            out += (out.empty() ? "" : " ") + w.text;
    }
    return out;
}

double text_similarity(std::string_view a, std::string_view b)
{
    const std::string x = normalise(a), y = normalise(b);
    if (x.empty() && y.empty())
        return 1.0;
    if (x.empty() || y.empty())
        return 0.0;
    std::vector<std::size_t> prev(y.size() + 1), cur(y.size() + 1);
    for (std::size_t j = 0; j <= y.size(); ++j)
        prev[j] = j;
    for (std::size_t i = 1; i <= x.size(); ++i) {
        cur[0] = i;
        for (std::size_t j = 1; j <= y.size(); ++j)
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1)});
        std::swap(prev, cur);
    }
    return 1.0 - static_cast<double>(prev[y.size()]) / static_cast<double>(std::max(x.size(), y.size()));
}

TextMatch find_text(const std::vector<Word>& words, std::string_view phrase)
{
    TextMatch match;
    const std::size_t n = std::max<std::size_t>(1, word_count(phrase));
    struct Hit {
        Rect box;
        double similarity;
    };
    std::vector<Hit> hits;
    for (const auto& span : spans(words, n + 1)) {
        const double s = text_similarity(span.text, phrase);
        if (s >= kTextFound)
            hits.push_back({span.box, s});
    }
    std::sort(hits.begin(), hits.end(), [](const Hit& a, const Hit& b) { return a.similarity > b.similarity; });
    // Runs over the same words are one place; keep the best run of each place.
    std::vector<Hit> places;
    for (const auto& h : hits) {
        if (std::none_of(places.begin(), places.end(), [&](const Hit& p) { return p.box.intersects(h.box); }))
            places.push_back(h);
    }
    if (places.empty())
        return match;
    if (places.size() > 1 && places[0].similarity - places[1].similarity < kTie) {
        match.status = LocateStatus::ambiguous;
        for (const auto& p : places) {
            if (places[0].similarity - p.similarity < kTie)
                match.candidates.push_back(p.box);
        }
        return match;
    }
    match.status = LocateStatus::found;
    match.box = places[0].box;
    match.similarity = places[0].similarity;
    return match;
}

// Whether `span` ends where its line's run of words ends (nothing continues it on the right).
static bool ends_its_run(const std::vector<Phrase>& runs, const Phrase& span)
{
    const auto run = std::find_if(runs.begin(), runs.end(), [&](const Phrase& q) { return q.box.intersects(span.box); });
    return run == runs.end() || run->box.x + run->box.w <= span.box.x + span.box.w + 2;
}

TextMatch find_value(const std::vector<Word>& words, std::string_view value)
{
    TextMatch match;
    const std::string wanted = normalise(value);
    const auto runs = phrases(words);
    std::vector<Rect> places;
    for (const auto& span : spans(words, std::max<std::size_t>(1, word_count(value)) + 1)) {
        if (normalise(span.text) != wanted || !ends_its_run(runs, span))
            continue;
        if (std::none_of(places.begin(), places.end(), [&](const Rect& p) { return p.intersects(span.box); }))
            places.push_back(span.box);
    }
    if (places.empty())
        return match;
    if (places.size() > 1) {
        match.status = LocateStatus::ambiguous;
        match.candidates = places;
        return match;
    }
    match.status = LocateStatus::found;
    match.box = places[0];
    match.similarity = 1.0;
    return match;
}

std::string_view to_string(LocateStatus s)
{
    switch (s) {
    case LocateStatus::found:
        return "found";
    case LocateStatus::ambiguous:
        return "ambiguous";
    case LocateStatus::not_found:
        return "not_found";
    }
    return "unknown";
}

std::string_view to_string(LocateMethod m)
{
    switch (m) {
    case LocateMethod::recorded:
        return "recorded";
    case LocateMethod::template_near:
        return "template_near";
    case LocateMethod::template_screen:
        return "template_screen";
    case LocateMethod::template_scaled:
        return "template_scaled";
    case LocateMethod::ocr_text:
        return "ocr_text";
    case LocateMethod::none:
        return "none";
    }
    return "unknown";
}

Result<TargetAnchor> build_anchor(const cv::Mat& screen, Point point, Ocr& ocr, std::vector<Rect> mask)
{
    ROTE_TRY(check_anchor_input(screen, point));

    TargetAnchor a;
    a.point = point;
    a.mask = std::move(mask);
    a.screen = fingerprint(screen);

    // Text around the point: the label under it, and landmarks nearby.
    const Rect around = clamp_to({point.x - 320, point.y - 120, 640, 240}, screen.cols, screen.rows);
    const auto words = ROTE_TRY(ocr.read(screen, around));
    const auto all = phrases(words);
    const Phrase* label = nullptr;
    double label_distance = 1e9;
    for (const auto& p : all) {
        const Rect hit = inflate(p.box, 8, 8);
        const double d = distance(p.box.center(), point);
        if (hit.contains(point) && d < label_distance) {
            label = &p;
            label_distance = d;
        }
    }
    if (label != nullptr) {
        a.label = label->text;
        a.label_box = label->box;
    }
    for (const auto& p : all) {
        if (&p == label || normalise(p.text).size() < 3)
            continue;
        const Point c = p.box.center();
        a.landmarks.push_back({p.text, point.x - c.x, point.y - c.y});
    }
    std::sort(a.landmarks.begin(), a.landmarks.end(),
        [](const Landmark& l, const Landmark& r) { return std::hypot(l.dx, l.dy) < std::hypot(r.dx, r.dy); });
    if (a.landmarks.size() > 6)
        a.landmarks.resize(6);

    cut_patches(screen, a);
    return a;
}

Result<TargetAnchor> anchor_from_record(const cv::Mat& screen, Point point, std::string label,
    std::optional<Rect> label_box, std::vector<Landmark> landmarks, std::vector<Rect> mask)
{
    ROTE_TRY(check_anchor_input(screen, point));
    TargetAnchor a;
    a.point = point;
    a.label = std::move(label);
    a.label_box = label_box;
    a.landmarks = std::move(landmarks);
    a.mask = std::move(mask);
    a.screen = fingerprint(screen);
    cut_patches(screen, a);
    return a;
}

Location locate(const TargetAnchor& anchor, const cv::Mat& screen, const LocateOptions& options)
{
    Location none;
    none.detail = "the target's image and label were not found";
    if (screen.empty() || anchor.context.empty())
        return none;
    const cv::Mat patch = anchor.element_patch();
    const Point offset = anchor.element_offset();
    const int separation = std::max(8, std::min(patch.cols, patch.rows) / 2);

    // 1. The recorded screen, unchanged outside its dynamic regions: the target is where it was. Only the
    // patch's own region is converted to grey on this path, which runs on every replayed step.
    if (anchor.screen.width == screen.cols && anchor.screen.height == screen.rows) {
        const Comparison same = compare(anchor.screen, fingerprint(screen), anchor.mask);
        const cv::Rect at(anchor.point.x - offset.x, anchor.point.y - offset.y, patch.cols, patch.rows);
        if (same.similarity >= kSameScreen && (at & cv::Rect(0, 0, screen.cols, screen.rows)) == at) {
            const double s = score_at(to_grey(screen(at)), patch, {0, 0});
            if (s >= kRecordedPatch) {
                Location loc;
                loc.status = LocateStatus::found;
                loc.point = anchor.point;
                loc.method = LocateMethod::recorded;
                loc.confidence = 0.99;
                loc.detail = "unchanged screen, patch score " + std::to_string(s).substr(0, 5);
                return loc;
            }
        }
    }

    // 2. The element's image anywhere on the screen, at its recorded size. The whole screen is searched
    // even when a match is near, so that a look-alike elsewhere is never missed.
    const cv::Mat grey = to_grey(screen);
    const Pyramid pyramid(grey);
    if (auto loc = decide(match_at_scale(pyramid, patch, offset, 1.0), kTemplateFound, separation, anchor.point, false))
        return *loc;

    // 3. The same at other scales: a page zoomed in or out.
    std::vector<Candidate> scaled;
    for (double s : options.scales) {
        auto found = match_at_scale(pyramid, patch, offset, s);
        scaled.insert(scaled.end(), found.begin(), found.end());
    }
    if (auto loc = decide(std::move(scaled), kScaledFound, separation, anchor.point, true))
        return *loc;

    // 4. The label, read again, confirmed by a landmark at its expected offset.
    if (!options.use_ocr || options.ocr == nullptr || anchor.label.empty() || !anchor.label_box)
        return none;
    auto words = options.ocr->read(screen);
    if (!words.ok()) {
        none.detail = "OCR failed: " + words.error().message();
        return none;
    }
    std::size_t landmark_words = 1;
    for (const auto& l : anchor.landmarks)
        landmark_words = std::max(landmark_words, word_count(l.text));
    const auto all = spans(*words, std::max(word_count(anchor.label), landmark_words) + 1);
    const Point label_centre = anchor.label_box->center();
    std::vector<TextCandidate> text_candidates;
    for (const auto& p : all) {
        const double similarity = text_similarity(p.text, anchor.label);
        if (similarity < kTextFound)
            continue;
        const double ratio = std::clamp(double(p.box.h) / std::max(1, anchor.label_box->h), 0.7, 1.5);
        const Point c = p.box.center();
        const Point predicted {c.x + static_cast<int>(std::lround((anchor.point.x - label_centre.x) * ratio)),
            c.y + static_cast<int>(std::lround((anchor.point.y - label_centre.y) * ratio))};
        int confirmations = confirmed_by(all, p, predicted, anchor.landmarks, ratio);
        if (anchor.landmarks.empty()) {
            // Nothing to confirm with: the element's image must agree at the predicted point (either polarity).
            cv::Mat inverted;
            cv::bitwise_not(patch, inverted);
            const Point at {predicted.x - offset.x, predicted.y - offset.y};
            if (std::max(score_at(grey, patch, at), score_at(grey, inverted, at)) >= 0.6)
                confirmations = 1;
        }
        if (confirmations > 0)
            text_candidates.push_back({refine(grey, patch, offset, predicted, ratio), similarity, confirmations});
    }
    if (text_candidates.empty()) {
        none.detail = "label \"" + anchor.label + "\" not found where its landmarks are";
        return none;
    }
    std::sort(text_candidates.begin(), text_candidates.end(), better_confirmed);
    const TextCandidate& best = text_candidates[0];
    Location loc;
    for (std::size_t i = 1; i < text_candidates.size(); ++i) {
        const auto& c = text_candidates[i];
        if (distance(c.point, best.point) >= separation && c.confirmations == best.confirmations
            && c.similarity >= best.similarity - kTie)
            loc.candidates.push_back(c.point);
    }
    return text_location(std::move(loc), best, "label \"" + anchor.label + "\"");
}

Location locate_text(const std::vector<Word>& words, std::string_view phrase, Point recorded_point,
    std::optional<Rect> recorded_label_box, const std::vector<Landmark>& landmarks)
{
    Location none;
    none.detail = "\"" + std::string(phrase) + "\" is not on the screen";
    std::size_t longest = word_count(phrase);
    for (const auto& l : landmarks)
        longest = std::max(longest, word_count(l.text));
    const auto all = spans(words, longest + 1);
    // The target's offset from its label's centre when recorded (a value of another length moves its centre,
    // not that offset).
    const Point from_label = recorded_label_box
        ? Point {recorded_point.x - recorded_label_box->center().x, recorded_point.y - recorded_label_box->center().y}
        : Point {0, 0};
    // The value is the target's identity, so only its exact reading is the target: never a near-duplicate that
    // reads alike ("Umbrella Analytics" for "Umbrella Analytica"), nor the phrase as the start of longer text
    // on its line ("Acme Robotics" in "Acme Robotics Holdings"). Text before it on the line is decoration
    // ("Support #7 (New): ..."). A misread value is a divergence for the planner, never a guess.
    const auto lines = phrases(words);
    const std::string wanted = normalise(phrase);
    std::vector<TextCandidate> candidates;
    std::string longer; // a longer text the phrase begins, for the error
    std::string nearest;
    double nearest_similarity = 0;
    for (const auto& p : all) {
        const double similarity = text_similarity(p.text, phrase);
        if (similarity < kTextFound)
            continue;
        if (normalise(p.text) != wanted) {
            if (similarity > nearest_similarity) {
                nearest_similarity = similarity;
                nearest = p.text;
            }
            continue;
        }
        if (!ends_its_run(lines, p)) {
            longer = std::find_if(lines.begin(), lines.end(), [&](const Phrase& q) { return q.box.intersects(p.box); })->text;
            continue;
        }
        const Point c = p.box.center();
        const Point predicted {std::clamp(c.x + from_label.x, p.box.x, p.box.x + p.box.w - 1),
            std::clamp(c.y + from_label.y, p.box.y, p.box.y + p.box.h - 1)};
        candidates.push_back({predicted, similarity, confirmed_by(all, p, predicted, landmarks, 1.0)});
    }
    // A span and the span one word longer can both read as the phrase: keep the better of overlapping ones.
    std::sort(candidates.begin(), candidates.end(), better_confirmed);
    std::vector<TextCandidate> distinct;
    for (const auto& c : candidates) {
        const bool near = std::any_of(distinct.begin(), distinct.end(),
            [&](const TextCandidate& d) { return std::abs(d.point.y - c.point.y) < 8 && distance(d.point, c.point) < 60; });
        if (!near)
            distinct.push_back(c);
    }
    if (distinct.empty()) {
        if (!longer.empty())
            none.detail = "\"" + std::string(phrase) + "\" is on the screen only as the start of longer text (\"" + longer + "\")";
        else if (!nearest.empty())
            none.detail = "\"" + std::string(phrase) + "\" is not on the screen; the nearest text is \"" + nearest + "\"";
        return none;
    }
    const TextCandidate& best = distinct[0];
    if (!landmarks.empty() && best.confirmations == 0) {
        none.detail = "\"" + std::string(phrase) + "\" is on the screen, but none of its landmarks is where it was";
        return none;
    }
    Location loc;
    for (std::size_t i = 1; i < distinct.size(); ++i) {
        if (distinct[i].confirmations == best.confirmations)
            loc.candidates.push_back(distinct[i].point);
    }
    return text_location(std::move(loc), best, "\"" + std::string(phrase) + "\"");
}

} // namespace rote::vision
