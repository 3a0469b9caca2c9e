#pragma once

// Replay, step by step (design.md): for a trace step and the current stable screen, the replayer answers
// "act here" (with how the target was found and how sure it is), "wait" (the screen may not have caught up
// yet), or "diverged" (and why); after an action it judges the effect. Pure logic: it never touches the
// desktop or the store, and it never turns a doubt into a guess. A step with no confident target is
// `diverged`, for a planner to decide.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include <rote/base/action.h>
#include <rote/base/result.h>
#include <rote/store/records.h>
#include <rote/vision/fingerprint.h>
#include <rote/vision/ocr.h>
#include <rote/vision/target.h>

namespace rote::replayer {

// A trace step ready to replay: its fingerprints parsed and its anchor rebuilt from the recorded screen.
struct PreparedStep {
    store::Step step;
    vision::Fingerprint pre; // the recorded screen before the action
    // Pointer steps whose target is identified by its image and label.
    std::optional<vision::TargetAnchor> anchor;
    // Pointer steps whose label shows an input's value ("{{company}}"): found by reading this run's value.
    std::string label_template;
    // Pointer steps with a recorded identity: how the element looked (the pre-state inside its box).
    cv::Mat element_look;
};

// `pre_screen` is the step's recorded pre-state (its pre_artifact, decoded). Errors: a corrupt fingerprint, a
// screen of another size than the fingerprint, a pointer step with no anchor to find its target by.
Result<PreparedStep> prepare(const store::Step& step, const cv::Mat& pre_screen);

enum class Verdict { act, wait, diverged };
std::string_view to_string(Verdict v);

struct Decision {
    Verdict verdict = Verdict::diverged;
    Action action; // act: the step's action, moved to where the target is now (typed text still a template)
    std::string method; // recorded, template_near, template_screen, template_scaled, ocr_text, input_text, keyboard
    double confidence = 0;
    bool relocated = false; // acting elsewhere than the recorded point
    Point offset; // act: from the recorded point to the point acted at
    std::string why; // wait and diverged: what was expected and not seen
};

struct Situation {
    // The previous action of this run was a replayed step whose effect was as recorded: a keyboard step
    // that follows it acts on the element that step focused, wherever the page put it.
    bool follows_verified = false;
    // The target may still be on its way (less time has passed since the last action than the page took
    // to settle when recorded, with a margin): not finding it is `wait`, not `diverged`.
    bool may_wait = false;
    // The run has sent a request that may write (a POST, PUT, PATCH or DELETE, or a tunnel the proxy cannot
    // see into): re-synchronisation no longer jumps forward over steps it did not replay.
    bool wrote = false;
    const std::map<std::string, std::string>* inputs = nullptr; // renders label templates
    // For a step recorded on a link whose label names an input: where the visible links reading this run's
    // label are drawn, from the browser's document (Witness::links_reading); null when there is no document.
    // The link is the target, never the same words in a snippet beside it.
    struct DocumentLink {
        Rect box;
        std::string target; // where it leads; links to one target are one choice
    };
    const std::vector<DocumentLink>* document_links = nullptr;
    // The text those links read: the rendered label, or the input's value alone when the label holds more
    // words than its link ("{{partner}} @partners": the link reads the partner's name, its namespace beside it).
    std::string document_link_text;
    // For a pointer step with a recorded identity (store::Anchor::identity): the live document's visible
    // elements that have it (Witness::find); null when there is no document. One element, confirmed by the
    // pixels where it is drawn (its words read there, or its look when it shows none), is the target wherever
    // it is and whatever its words now are (another language, theme or layout); otherwise the pixels decide.
    struct DocumentTarget {
        Rect box;
        std::string by; // "id", "name", "role and name", "text", "href", "classes"
        std::string shown; // the words drawn in it; "" when none
        std::string label; // for one that shows none: its label's words, drawn in label_box; "" when none
        Rect label_box;
    };
    const std::vector<DocumentTarget>* document_targets = nullptr;
    vision::Ocr* ocr = nullptr; // for the OCR stages; without it those stages are skipped
};

// Similarity of a screen to a recorded pre-state at which a keyboard step with no verified predecessor, or a
// re-synchronisation, accepts it as the same screen.
inline constexpr double kSameState = 0.97;

Decision decide(const PreparedStep& step, const cv::Mat& screen, const Situation& situation);

struct EffectJudgement {
    bool as_recorded = false;
    std::string why; // when not as recorded
    std::vector<Rect> changed;
    std::string proof; // when the document proved what the pixels did not show: what it saw
};

// Did the action change the screen as it did when recorded? A step that changed the screen when recorded
// must change it now (in its effect region moved by `offset`, or elsewhere: a page that moved its content
// also moves where the effect shows); a step that changed nothing may change nothing.
//
// With the document's word (`document`, from the browser's state before and after the action) the judgement
// also holds the focus to what was recorded: a pointer step after which a field had the focus when recorded
// has not had its effect unless that same field has it now (keys typed next would go elsewhere), unless the step
// brings a new page (when recorded, or now by the URL), which places its own focus. And an effect the
// pixels barely show (a click that only moved the caret, a Return that added an empty line) is proven by the
// document: the focus, the focused field's value or its caret changed on the same page (a new URL is no
// proof: its page has to show). Never for a step that changed
// a large part of the screen when recorded: a new page is not a moved caret.
struct DocumentEffect {
    bool navigated = false; // the URL changed
    bool focus_moved = false;
    bool value_changed = false; // the focused field's value
    bool caret_moved = false; // the caret or the selection in the focused field
    ElementIdentity focus; // the focused field now; empty when no field has the focus
};
EffectJudgement judge_effect(const PreparedStep& step, const cv::Mat& before, const cv::Mat& after, Point offset,
    const DocumentEffect* document = nullptr);

// After a planner acted at the divergence of step `diverged`: the step to go on from, i.e. the one the screen
// is ready for (its pre-state matches, similarity >= kSameState, and for a pointer step its target is found
// with confidence), from the step before the divergence on (its effect may have been undone). Going on at a
// later step skips the ones between, which only the evidence says were done:
// - a keyboard or typing step (its effect, a caret or a field's text, barely shows) is skipped only when the
//   planner did the same action (`planned`: its actions since the divergence, in order), and never gone on
//   at when the planner did it already (it would be typed twice);
// - a pointer step is skipped only when it is the diverged step itself (what the planner was asked to do),
//   or before the run has written anything (situation.wrote);
// - the diverged step, when it is a keyboard step the planner did not repeat, only when the screen no longer
//   looks like the one it acted on.
// Nothing: the planner is not done yet, or where it is cannot be proven.
std::optional<int> resync(const std::vector<PreparedStep>& steps, int diverged, const cv::Mat& screen,
    const Situation& situation, const std::vector<Action>& planned = {});

} // namespace rote::replayer
