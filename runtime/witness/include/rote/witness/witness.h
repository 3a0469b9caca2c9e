#pragma once

// The browser's own structure, a second witness beside the pixels (docs/architecture.md). The desktop says
// what the screen shows; a witness says what the document behind it is: which text is a label, which cell
// holds its value, where on the screen that value is drawn. It never acts: every click and key is still
// real VNC input, and what it reports is confirmed against the pixels by its caller.
//
// One implementation today, Chromium over the DevTools protocol on a descriptor (connect_devtools_witness);
// an AT-SPI one for desktop apps can follow behind the same interface.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <rote/base/element.h>
#include <rote/base/geometry.h>
#include <rote/base/result.h>

namespace rote::runtime {

// A value the document shows beside a label.
struct LabelledValue {
    std::string text; // as the document has it, runs of white space (line breaks too) made one space
    Rect box; // where it is drawn, in the screen's pixels; empty when the document could not say
    std::string how; // how it belongs to the label: "next cell", "cell below", "definition", "field", "after"
    bool exact = true; // the label's text is exactly the anchor (false: the anchor begins the label's text)
    // Everything drawn in `box`: the value's text, or more when the value is the rest of the label's own
    // text ("Issue #14 created." for "Issue"); empty: `text`.
    std::string shown;
    // Where the label is in the document, by no words of it: a CSS selector of tags, ids and classes that
    // names the label's element alone ("div.assigned-to.attribute > div.label"); "" when none does.
    std::string label_at;
};

// An element as the document has it: what a person would call it, and who it is.
struct DocumentElement {
    std::string kind; // "link", "button", "field" (an input, text area or select, or a label of one), "text", ""
    ElementIdentity identity; // empty with kind ""
};

// One element that has a recorded identity, found in the live document.
struct FoundElement {
    Rect box; // where it is drawn, in screen pixels
    std::string by; // what identified it: "id", "name", "role and name", "text"
    std::string shown; // the text drawn in it (a button's or link's words, a field's value or placeholder;
                       // never a password); "" when it shows none
    std::string label; // a field's visible <label>: its words and where they are drawn; "" when none
    Rect label_box;
};

// What the document is doing, compared before and after an action to see what it did there.
struct DocumentState {
    std::string document; // which document answered (another one, after a navigation, has another name)
    std::string url;
    // document.readyState is "complete" and the page is not on its way to another one: not loading one, not
    // asked for one, no form sent, link to another document followed or navigation begun in it (beforeunload;
    // for 5 s at most). Read once the page has drawn a frame and after a turn of its tasks, so the document
    // that answers has painted and a navigation a script scheduled has begun.
    bool loaded = false;
    ElementIdentity focus; // the focused element; empty when the page's body has the focus
    bool focus_is_field = false;
    // The focused field's value, as a digest (never the value: it may be a secret) and its length, and the
    // caret or selection in it (-1 when it has none).
    std::uint32_t value_digest = 0;
    std::int64_t value_length = 0;
    std::int64_t selection_start = -1, selection_end = -1;
};

// The input events that end an action (a key or a button let go, a turn of the wheel) a page's document has
// received: proof that an action reached the page, and that what it set off there has begun, before its
// effect is waited for. `document` names the document counted (another one, after a navigation, counts anew).
struct InputCount {
    std::string document;
    std::uint64_t events = 0;
    // Whether `n` events arrived between `before` and this count (or another document is counted).
    bool since(const InputCount& before, std::uint64_t n = 1) const
    {
        return document != before.document || events >= before.events + n;
    }
};

// Non-copyable; not thread-safe (one caller at a time, as the agent loop is). Every method fails with a
// clear error when the browser does not answer within the witness's timeout, answers garbage, or is gone;
// none of them blocks longer than that timeout.
class Witness {
public:
    virtual ~Witness() = default;
    Witness() = default;
    Witness(const Witness&) = delete;
    Witness& operator=(const Witness&) = delete;

    // "devtools", for logs and --json.
    virtual std::string_view kind() const = 0;
    // The URL of the page on the screen (the visible tab's document).
    virtual Result<std::string> url() = 0;
    // The value beside every visible occurrence of `label` in the visible page's document, matched without
    // regard to case or white space: exact occurrences when there are any, else the ones whose text begins
    // with the label at a word's end. Empty when the label is nowhere visible in the main document (text in
    // a canvas, an image or a frame is not in it).
    virtual Result<std::vector<LabelledValue>> values_beside(std::string_view label) = 0;
    // The same for the label `selector` names (a LabelledValue::label_at recorded before), whatever its words
    // are now: a translated page's "Zugewiesen an:" where "Assignee:" was. Empty unless the selector names
    // exactly one element, visible, with text.
    virtual Result<std::vector<LabelledValue>> values_at(std::string_view selector) = 0;
    // The element under a screen point: what it is to a person ("link", "button", "field", "text" for
    // anything else with text, "" for nothing or outside the page) and its identity (the link, button or
    // field the point is in, else the element itself), its box in screen pixels.
    virtual Result<DocumentElement> element_at(Point screen) = 0;
    // The visible elements with a recorded identity, by the first of these that finds any: its id (when the
    // element with that id exists but is not visible: none), its name, its role and accessible name, its
    // text; always of the recorded tag. Document order.
    virtual Result<std::vector<FoundElement>> find(const ElementIdentity& recorded) = 0;
    // Where the page's rendered text holds `text` (case and white space aside; hidden text does not count):
    // nowhere, drawn inside the window's view (the screen should show it: the view is the window's above its
    // scroll bars, and an element that holds it is in it when a whole line of it is, or all of it when it is a
    // single line), or only scrolled out of it (or cut by the view's edge); when in the view, the boxes of the
    // innermost elements that hold it, in screen pixels, clipped to the view.
    enum class TextPlace { absent, in_view, out_of_view };
    struct TextPlacement {
        TextPlace place = TextPlace::absent;
        std::vector<Rect> boxes;
    };
    virtual Result<TextPlacement> text_place(std::string_view text) = 0;
    // The page's URL and its focus.
    virtual Result<DocumentState> state() = 0;
    // The visible links whose whole text is `text` (case and white space ignored), in document order: where
    // each is drawn in screen pixels, and where it leads (its absolute href; "" for a role=link without one).
    struct Link {
        Rect box;
        std::string href;
    };
    virtual Result<std::vector<Link>> links_reading(std::string_view text) = 0;
    // When no link whose whole text is `text` is in the view but one is scrolled out of it: how far the page
    // would scroll to bring the nearest one to the middle of the view, in screen pixels (positive: down).
    // 0 when one is in the view, or none is anywhere.
    virtual Result<int> link_distance(std::string_view text) = 0;
    // The trusted key releases, pointer releases and wheel events the visible page's document has received,
    // counted by listeners of rote's own (in an isolated world, out of the page's sight) from the first count
    // on. The same listeners see a form sent or a link followed, which state() then tells as not loaded.
    virtual Result<InputCount> inputs_seen() = 0;
    // Loads `url` in the visible page, as the address bar would (a session taken warm from a pool shows
    // about:blank until its run's start page is asked for). The browser's error for a URL it refuses is an
    // error here; the page's own load is waited on as any other (state()).
    virtual Result<void> navigate(std::string_view url) = 0;
};

// A witness speaking the DevTools protocol (JSON messages ended by a NUL byte, Chromium's
// --remote-debugging-pipe) over `fd`, one end of a socket pair whose other end is the browser's descriptors
// 3 and 4. Takes ownership of `fd`. Connecting sends nothing; the first question attaches to the page.
std::unique_ptr<Witness> connect_devtools_witness(int fd, std::chrono::milliseconds timeout = std::chrono::seconds(5));

} // namespace rote::runtime
