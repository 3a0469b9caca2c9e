#include <rote/replayer/replayer.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include <rote/base/text_template.h>
#include <opencv2/imgproc.hpp>

#include <rote/vision/diff.h>

namespace rote::replayer {

namespace {

Decision diverged(std::string why)
{
    Decision d;
    d.verdict = Verdict::diverged;
    d.why = std::move(why);
    return d;
}

// Not found yet: worth another look while the page may still be coming, a divergence after that.
Decision missing(const Situation& situation, std::string why)
{
    Decision d = diverged(std::move(why));
    if (situation.may_wait)
        d.verdict = Verdict::wait;
    return d;
}

Decision act_at(const store::Step& step, Point at, std::string method, double confidence)
{
    Decision d;
    d.verdict = Verdict::act;
    d.action = step.action;
    d.offset = {at.x - step.action.at.x, at.y - step.action.at.y};
    d.action.at = at;
    if (d.action.kind == ActionKind::drag)
        d.action.to = {step.action.to.x + d.offset.x, step.action.to.y + d.offset.y};
    d.relocated = d.offset.x != 0 || d.offset.y != 0;
    d.method = std::move(method);
    d.confidence = confidence;
    return d;
}

// Whether two links lead to one page: the same URL up to its query, and the query of `plain` a part of that of
// `decorated` (which may add parameters, as a search adds the words to highlight; it may change none).
bool same_page(const std::string& plain, const std::string& decorated)
{
    const auto split = [](const std::string& url) {
        const std::string whole = url.substr(0, url.find('#'));
        const auto q = whole.find('?');
        std::multiset<std::string> params;
        if (q != std::string::npos) {
            std::stringstream query(whole.substr(q + 1));
            for (std::string p; std::getline(query, p, '&');) {
                if (!p.empty())
                    params.insert(p);
            }
        }
        return std::pair(whole.substr(0, q), params);
    };
    const auto [a_base, a_params] = split(plain);
    const auto [b_base, b_params] = split(decorated);
    return a_base == b_base && std::includes(b_params.begin(), b_params.end(), a_params.begin(), a_params.end());
}

// What the screen reads inside `box`, OCR'd from a crop of it with each margin in turn (negative: inside
// it) until the reading is like `expected` (text_similarity >= 0.8): the best reading and its similarity. An
// error when OCR fails.
struct Reading {
    std::string seen;
    double similarity = 0;
};
Result<Reading> read_in_box(vision::Ocr& ocr, const cv::Mat& screen, const Rect& box, const std::string& expected,
    std::initializer_list<int> margins)
{
    Reading best;
    for (const int margin : margins) {
        const cv::Rect r = cv::Rect(box.x - margin, box.y - margin, box.w + 2 * margin, box.h + 2 * margin)
            & cv::Rect(0, 0, screen.cols, screen.rows);
        if (r.width < 4 || r.height < 4)
            continue;
        const Rect crop {r.x, r.y, r.width, r.height};
        auto words = ROTE_TRY(ocr.read(screen, crop));
        const std::string read = vision::words_in(words, crop, 0);
        const double similarity = vision::text_similarity(read, expected);
        if (similarity > best.similarity || best.seen.empty())
            best = {read, std::max(best.similarity, similarity)};
        if (best.similarity >= 0.8)
            break;
    }
    return best;
}

// A target named by an input's value: this run's value, read on the screen, found exactly once.
Decision find_input_text(const PreparedStep& prepared, const cv::Mat& screen, const Situation& situation)
{
    if (situation.ocr == nullptr || situation.inputs == nullptr)
        return diverged("the target is the text of an input, and no OCR was available to read it");
    auto label = render_template(prepared.label_template, *situation.inputs, {});
    if (!label.ok())
        return diverged(label.error().message());
    const store::Step& step = prepared.step;
    if (step.anchor.element == "link" && situation.document_links != nullptr) {
        // Recorded on a link: the document says which text is this run's link; the pixels confirm it.
        const auto& links = *situation.document_links;
        const std::string link_text = situation.document_link_text.empty() ? *label : situation.document_link_text;
        if (links.empty())
            return missing(situation, "no link reads \"" + link_text + "\"");
        // Several links that lead to one page (a search's page-name match and its full-text result, which adds
        // highlighting parameters) are one choice: the one nearest the recorded point. Links that lead to
        // different pages are ambiguous.
        const auto simplest = std::min_element(links.begin(), links.end(),
            [](const auto& a, const auto& b) { return a.target.size() < b.target.size(); });
        const bool one_target = !simplest->target.empty() && std::all_of(links.begin(), links.end(), [&](const auto& l) {
            return same_page(simplest->target, l.target);
        });
        if (links.size() > 1 && !one_target)
            return diverged(std::to_string(links.size()) + " links read \"" + link_text + "\" and lead to different pages; which one the trace meant cannot be told");
        const auto distance = [&](const Rect& r) {
            const Point c = r.center();
            return std::hypot(c.x - step.action.at.x, c.y - step.action.at.y);
        };
        const Rect chosen = std::min_element(links.begin(), links.end(), [&](const auto& a, const auto& b) {
            return distance(a.box) < distance(b.box);
        })->box;
        // The link's own box first (a crop reads in a tenth of the whole screen's time), then the whole screen's
        // words inside it, as the link was read before.
        auto reading = read_in_box(*situation.ocr, screen, chosen, link_text, {3, 8});
        if (!reading.ok())
            return diverged("OCR failed: " + reading.error().message());
        std::string seen = reading->seen;
        if (reading->similarity < 0.8) {
            auto words = situation.ocr->read(screen);
            if (!words.ok())
                return diverged("OCR failed: " + words.error().message());
            seen = vision::words_in(*words, chosen);
        }
        // The document can be ahead of the screen (the new page parsed, its paint not yet shown, as on a
        // loaded machine): another look while the page may still be coming, a divergence after that.
        if (vision::text_similarity(seen, link_text) < 0.8)
            return missing(situation, "the link reading \"" + link_text + "\" reads \"" + seen + "\" on the screen");
        return act_at(step, chosen.center(), "document_link", 0.95);
    }
    auto words = situation.ocr->read(screen);
    if (!words.ok())
        return diverged("OCR failed: " + words.error().message());
    const auto loc = vision::locate_text(*words, *label, step.action.at, step.anchor.label_box, step.anchor.landmarks);
    if (loc.status == vision::LocateStatus::ambiguous)
        return diverged(loc.detail + "; which one the trace meant cannot be told");
    if (loc.status == vision::LocateStatus::not_found)
        return missing(situation, loc.detail);
    return act_at(step, loc.point, "input_text", loc.confidence);
}

Rect moved(Rect r, Point by) { return {r.x + by.x, r.y + by.y, r.w, r.h}; }

// How alike a recorded element's look is to the screen inside `box` (resized to the recorded size): one minus
// the mean grey difference, 0-1.
double look_similarity(const cv::Mat& look, const cv::Mat& screen, const Rect& box)
{
    const cv::Rect r = cv::Rect(box.x, box.y, box.w, box.h) & cv::Rect(0, 0, screen.cols, screen.rows);
    if (r.area() <= 0 || look.empty())
        return 0;
    cv::Mat now, then;
    cv::cvtColor(screen(r), now, cv::COLOR_BGR2GRAY);
    cv::cvtColor(look, then, cv::COLOR_BGR2GRAY);
    if (now.size() != then.size())
        cv::resize(now, now, then.size(), 0, 0, cv::INTER_AREA);
    cv::Mat diff;
    cv::absdiff(now, then, diff);
    return 1.0 - cv::mean(diff)[0] / 255.0;
}

// A pointer step's target by its recorded identity in the live document: the one element that has it, at the
// place in it where the step acted when recorded (scaled to its size now), once the pixels confirm the
// document (its words read inside its box, or, showing none, its look). Nothing when the document has no one
// element or the pixels do not agree: the pixels' own stages decide then.
//
// `note` says why the document did not decide, for the divergence's reason when the pixels do not either.
std::optional<Decision> find_in_document(
    const PreparedStep& prepared, const cv::Mat& screen, const Situation& situation, std::string& note)
{
    const store::Step& step = prepared.step;
    const ElementIdentity& recorded = step.anchor.identity;
    if (situation.document_targets == nullptr || recorded.empty())
        return std::nullopt;
    const auto& targets = *situation.document_targets;
    if (targets.size() != 1) {
        note = "the document has " + std::to_string(targets.size()) + " elements like " + describe(recorded);
        return std::nullopt;
    }
    const auto& target = targets.front();
    const Rect& box = target.box;
    Point at = box.center();
    if (!recorded.box.empty() && recorded.box.contains(step.action.at)) {
        at.x = box.x + (step.action.at.x - recorded.box.x) * box.w / recorded.box.w;
        at.y = box.y + (step.action.at.y - recorded.box.y) * box.h / recorded.box.h;
        at.x = std::clamp(at.x, box.x, box.x + std::max(0, box.w - 1));
        at.y = std::clamp(at.y, box.y, box.y + std::max(0, box.h - 1));
    } else if (box == recorded.box) {
        at = step.action.at; // recorded beside the element (on a field's <label>), and nothing moved: as recorded
    }
    // Otherwise recorded beside the element, which moved (its <label> may have moved otherwise): the element
    // itself, at its centre, which a click on its label stands for.
    if (!Rect {0, 0, screen.cols, screen.rows}.contains(at))
        return std::nullopt;
    double confidence = 0;
    // The words that confirm it: its own, else (a field showing none) its label's where that is drawn.
    const bool by_label = target.shown.empty() && !target.label.empty() && !target.label_box.empty();
    const std::string& words_shown = by_label ? target.label : target.shown;
    const Rect& words_box = by_label ? target.label_box : box;
    if (!words_shown.empty()) {
        if (situation.ocr == nullptr)
            return std::nullopt;
        // Read just inside the box first (a field's border and the page around it, dark in a dark theme, can
        // turn the reading), then with a margin (a box rounded a pixel short of its words).
        auto reading = read_in_box(*situation.ocr, screen, words_box, words_shown, {-2, 4});
        if (!reading.ok())
            return std::nullopt;
        confidence = reading->similarity;
        const std::string& seen = reading->seen;
        if (confidence < 0.8) {
            note = "the document draws " + describe(recorded) + " (by its " + target.by + ") reading \"" + words_shown
                + "\"" + (by_label ? " in its label" : "") + " at (" + std::to_string(words_box.x) + ", "
                + std::to_string(words_box.y) + "), where the screen reads \"" + seen + "\"";
            return std::nullopt;
        }
    } else {
        confidence = look_similarity(prepared.element_look, screen, box);
        if (confidence < 0.92) {
            note = "the document draws " + describe(recorded) + " (by its " + target.by + ") at (" + std::to_string(box.x)
                + ", " + std::to_string(box.y) + "), which looks unlike it did (" + std::to_string(confidence).substr(0, 4) + ")";
            return std::nullopt;
        }
    }
    std::string method = "document_" + target.by;
    std::replace(method.begin(), method.end(), ' ', '_');
    return act_at(step, at, std::move(method), confidence);
}

} // namespace

std::string_view to_string(Verdict v)
{
    switch (v) {
    case Verdict::act:
        return "act";
    case Verdict::wait:
        return "wait";
    case Verdict::diverged:
        return "diverged";
    }
    return "?";
}

Result<PreparedStep> prepare(const store::Step& step, const cv::Mat& pre_screen)
{
    const std::string where = "trace step " + std::to_string(step.index);
    PreparedStep out;
    out.step = step;
    auto pre = vision::parse_fingerprint(step.pre_fingerprint);
    if (!pre.ok())
        return pre.error().with_context(where + ": its pre-state fingerprint");
    out.pre = std::move(*pre);
    if (pre_screen.cols != out.pre.width || pre_screen.rows != out.pre.height)
        return Error(Error::Code::corrupt, where + ": its pre-state screenshot is " + std::to_string(pre_screen.cols)
                + "x" + std::to_string(pre_screen.rows) + " but its fingerprint is of a "
                + std::to_string(out.pre.width) + "x" + std::to_string(out.pre.height) + " screen");
    if (!acts_at_point(step.action.kind))
        return out;
    if (step.anchor.label.find("{{") != std::string::npos) {
        out.label_template = step.anchor.label;
        return out;
    }
    auto anchor = vision::anchor_from_record(
        pre_screen, step.action.at, step.anchor.label, step.anchor.label_box, step.anchor.landmarks, step.mask);
    if (!anchor.ok())
        return anchor.error().with_context(where);
    out.anchor = std::move(*anchor);
    const Rect& box = step.anchor.identity.box;
    const cv::Rect look = cv::Rect(box.x, box.y, box.w, box.h) & cv::Rect(0, 0, pre_screen.cols, pre_screen.rows);
    if (!step.anchor.identity.empty() && look.area() > 0)
        out.element_look = pre_screen(look).clone();
    return out;
}

Decision decide(const PreparedStep& prepared, const cv::Mat& screen, const Situation& situation)
{
    const store::Step& step = prepared.step;
    if (step.action.kind == ActionKind::wait)
        return act_at(step, step.action.at, "wait", 1.0);
    if (!acts_at_point(step.action.kind)) {
        // Keys go to whatever has the focus: safe right after a verified step, or on the recorded screen.
        if (situation.follows_verified)
            return act_at(step, step.action.at, "keyboard", 0.95);
        const auto same = vision::compare(prepared.pre, vision::fingerprint(screen), step.mask);
        if (same.similarity >= kSameState)
            return act_at(step, step.action.at, "keyboard", same.similarity);
        return missing(situation,
            "the screen is not the one this " + std::string(to_string(step.action.kind))
                + " step was recorded on (similarity " + std::to_string(same.similarity).substr(0, 4) + ")");
    }
    if (!prepared.label_template.empty())
        return find_input_text(prepared, screen, situation);
    std::string note;
    if (auto d = find_in_document(prepared, screen, situation, note))
        return *d;
    const std::string but = note.empty() ? "" : "; " + note;
    vision::LocateOptions options;
    options.use_ocr = situation.ocr != nullptr;
    options.ocr = situation.ocr;
    const auto loc = vision::locate(*prepared.anchor, screen, options);
    const std::string target = step.anchor.label.empty() ? "the target" : "\"" + step.anchor.label + "\"";
    switch (loc.status) {
    case vision::LocateStatus::found:
        return act_at(step, loc.point, std::string(vision::to_string(loc.method)), loc.confidence);
    case vision::LocateStatus::ambiguous:
        return diverged(target + " matches " + std::to_string(loc.candidates.size()) + " places equally well ("
            + loc.detail + ")" + but);
    case vision::LocateStatus::not_found:
        break;
    }
    return missing(situation, target + " was not found (" + loc.detail + ")" + but);
}

namespace {

// The pixels' judgement of an effect (judge_effect without the document). `large`: the step changed a large
// part of the screen when recorded.
EffectJudgement judge_pixels(const PreparedStep& prepared, const cv::Mat& before, const cv::Mat& after, Point offset,
    bool& large)
{
    const store::Step& step = prepared.step;
    EffectJudgement out;
    std::optional<Rect> expected;
    if (step.effect_region)
        expected = moved(*step.effect_region, offset);
    const auto check = vision::check_effect(before, after, expected, step.mask);
    out.changed = check.changed;
    large = false;
    if (!step.effect_region) {
        out.as_recorded = true;
        return out;
    }
    const Rect& r = *step.effect_region;
    // Measured as the recorded region was: the box around everything that changed (focus leaving one field
    // for another far below changes two thin rings, whose box is large both times).
    const Rect around = bounding(check.changed);
    const std::int64_t changed_area = std::int64_t(around.w) * around.h;
    // Shares of the screen each run had (a run in a smaller window than the recorded one changes fewer pixels
    // for the same new page, and a region of the same size is more of its screen).
    const double recorded_share = double(r.w) * r.h / (double(std::max(1, prepared.pre.width)) * std::max(1, prepared.pre.height));
    const double changed_share = double(changed_area) / (double(std::max(1, after.cols)) * std::max(1, after.rows));
    // A step that changed a large part of the screen when recorded (a new page) has not had its effect while
    // only a small part changed: a link's hover or a focus ring is not the page that follows.
    large = recorded_share * 4 >= 1;
    if (check.effect != vision::Effect::none && (!large || changed_share * 4 >= recorded_share)) {
        out.as_recorded = true;
        return out;
    }
    if (check.effect != vision::Effect::none) {
        out.why = "only " + std::to_string(static_cast<int>(changed_share * 100 / recorded_share))
            + "% of the screen area that changed when recorded has changed";
        return out;
    }
    out.why = "the action changed nothing on the screen; when recorded it changed the region at (" + std::to_string(r.x)
        + ", " + std::to_string(r.y) + ") " + std::to_string(r.w) + "x" + std::to_string(r.h);
    return out;
}

} // namespace

EffectJudgement judge_effect(const PreparedStep& prepared, const cv::Mat& before, const cv::Mat& after, Point offset,
    const DocumentEffect* document)
{
    bool large = false;
    EffectJudgement out = judge_pixels(prepared, before, after, offset, large);
    if (document == nullptr)
        return out;
    // The focus a step left matters to the keys after it on the same page; a new page places its own.
    const ElementIdentity& recorded = prepared.step.anchor.focus;
    if (acts_at_point(prepared.step.action.kind) && !recorded.empty() && !large && !document->navigated
        && !same_element(recorded, document->focus)) {
        out.as_recorded = false;
        out.why = "the focus is on " + (document->focus.empty() ? std::string("no field") : describe(document->focus))
            + "; when recorded this step left it on " + describe(recorded);
        return out;
    }
    if (out.as_recorded || large)
        return out;
    // A new URL is no proof: the page it names has to show (its document may have committed before its first
    // paint), and replay keeps looking for it.
    std::string proof;
    if (document->navigated)
        return out;
    if (document->focus_moved)
        proof = "the focus moved to " + (document->focus.empty() ? std::string("the page") : describe(document->focus));
    else if (document->value_changed)
        proof = "the value of " + describe(document->focus) + " changed";
    else if (document->caret_moved)
        proof = "the caret in " + describe(document->focus) + " moved";
    if (!proof.empty()) {
        out.as_recorded = true;
        out.proof = proof + " (" + out.why + ")";
        out.why.clear();
    }
    return out;
}

namespace {

bool keyboard(const store::Step& step) { return step.action.kind == ActionKind::key || step.action.kind == ActionKind::type; }

// Whether a planned action is the trace step's own keyboard action: the same kind and the same text (as
// written, or as typed: "{{company}}" and "Acme Ltd" for company Acme Ltd).
bool same_keys(const store::Step& step, const Action& done, const Situation& situation)
{
    if (done.kind != step.action.kind)
        return false;
    if (done.text == step.action.text)
        return true;
    if (situation.inputs == nullptr)
        return false;
    auto a = render_template(done.text, *situation.inputs, {});
    auto b = render_template(step.action.text, *situation.inputs, {});
    return a.ok() && b.ok() && *a == *b;
}

} // namespace

std::optional<int> resync(const std::vector<PreparedStep>& steps, int diverged, const cv::Mat& screen,
    const Situation& situation, const std::vector<Action>& planned)
{
    const auto now = vision::fingerprint(screen);
    Situation strict = situation;
    strict.follows_verified = false;
    strict.may_wait = false;
    std::optional<int> best;
    double best_similarity = 0;
    std::size_t used = 0; // the planned actions that stand for the keyboard steps skipped so far
    // The next planned action from `used` on that is step k's own keys, or planned.size().
    const auto planned_as = [&](const store::Step& step) {
        for (std::size_t i = used; i < planned.size(); ++i) {
            if (same_keys(step, planned[i], situation))
                return i;
        }
        return planned.size();
    };
    for (int j = std::max(0, diverged - 1); j < static_cast<int>(steps.size()); ++j) {
        if (j > diverged) {
            // Going on at j skips step j - 1 too: stop before the first step that may not be skipped.
            const int k = j - 1;
            const auto& skipped = steps[static_cast<size_t>(k)];
            if (keyboard(skipped.step)) {
                const std::size_t by = planned_as(skipped.step);
                if (by < planned.size())
                    used = by + 1;
                else if (k > diverged
                    || vision::compare(skipped.pre, now, skipped.step.mask).similarity >= kSameState)
                    break;
            } else if (k > diverged && situation.wrote) {
                break;
            }
        }
        const auto& s = steps[static_cast<size_t>(j)];
        // A keyboard step the planner has done already is not done again.
        if (j >= diverged && keyboard(s.step) && planned_as(s.step) < planned.size())
            continue;
        const double similarity = vision::compare(s.pre, now, s.step.mask).similarity;
        // The most similar pre-state wins; among equals the later step (the work before it is done).
        if (similarity < kSameState || similarity + 0.002 < best_similarity)
            continue;
        if (acts_at_point(s.step.action.kind) && decide(s, screen, strict).verdict != Verdict::act)
            continue;
        best = j;
        best_similarity = std::max(best_similarity, similarity);
    }
    return best;
}

} // namespace rote::replayer
