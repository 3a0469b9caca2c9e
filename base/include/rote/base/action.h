#pragma once

// rote's own action vocabulary: what a planner (an LLM, a person, a step hint) decides and what a trace
// records. Provider wire formats are translated to and from this in llm-client; nothing else knows them.

#include <optional>
#include <string>
#include <string_view>

#include <rote/base/geometry.h>

namespace rote {

enum class ActionKind {
    click,
    double_click,
    triple_click,
    right_click,
    middle_click,
    move,
    drag,
    scroll,
    type,
    key,
    wait,
    done, // the planner says the goal is reached; text holds its result
    give_up, // the planner cannot go on; text holds the reason
};

struct Action {
    ActionKind kind = ActionKind::wait;
    Point at; // pointer actions and scroll: where
    Point to; // drag: where the button is released
    int scroll_dx = 0; // scroll: wheel clicks, positive right
    int scroll_dy = 0; // scroll: wheel clicks, positive down
    std::string text; // type: text or template ({{company}}, {{secret:name}}); key: combo ("ctrl+l");
                      // done: the result; give_up: the reason
    int wait_ms = 0; // wait

    friend bool operator==(const Action&, const Action&) = default;
};

std::string_view to_string(ActionKind kind);
std::optional<ActionKind> parse_action_kind(std::string_view name);

// True for the kinds that act at a screen point (clicks, move, drag, scroll).
bool acts_at_point(ActionKind kind);
// True for the kinds a trace may record; done and give_up end a planner's turn and are never replayed.
bool is_replayable(ActionKind kind);

// How describe() writes typed and key text: as it is, in prose (progress lines, what a model is told), or
// quoted with JSON's escapes, where its bounds must show (a table: spaces, an empty text, a newline).
enum class TextStyle { plain, quoted };

// An action as a person reads it: `click "Search" at (200, 278)` (with the target's label when one is
// given), `type {{company}}` (quoted: `type "{{company}}"`), `key ctrl+l`, `drag (1, 2) to (3, 4)`,
// `scroll 0,3 at (5, 6)`, `wait 500 ms`. Typed text stays a template, so a secret never shows.
std::string describe(const Action& action, std::string_view label = {}, TextStyle style = TextStyle::plain);

} // namespace rote
