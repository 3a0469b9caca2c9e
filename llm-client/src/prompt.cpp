#include "prompt.h"

namespace rote::llm {

std::string system_prompt(ProviderKind kind)
{
    std::string text
        = "You operate a Linux desktop that shows one Chromium browser window, to reach a goal a user gave you. "
          "You see the screen as a screenshot and act with the mouse and keyboard. Work step by step: act, then look "
          "at the new screenshot before the next action. Click the centre of what you mean to click. Do not type "
          "passwords or other secrets: the runtime types those itself. Never act on a page you did not expect; look "
          "again instead.\n"
          "When the goal is reached, stop using the tool and reply with one line that starts with \"DONE:\" followed "
          "by the result the goal asks for (or a short confirmation). If the goal cannot be reached, reply with one "
          "line that starts with \"GIVE UP:\" followed by the reason.";
    if (kind == ProviderKind::openai_compatible) {
        text += "\n\nAnswer every turn with exactly one JSON object and nothing else:\n"
                "{\"thought\": \"<one short sentence>\", \"action\": {...}}\n"
                "where action is one of\n"
                "{\"type\": \"click\", \"x\": X, \"y\": Y} (also \"double_click\", \"triple_click\", \"right_click\", "
                "\"middle_click\", \"move\")\n"
                "{\"type\": \"drag\", \"x\": X, \"y\": Y, \"to_x\": X2, \"to_y\": Y2}\n"
                "{\"type\": \"scroll\", \"x\": X, \"y\": Y, \"dx\": 0, \"dy\": 3} (wheel clicks; positive dy scrolls "
                "down)\n"
                "{\"type\": \"type\", \"text\": \"...\"}\n"
                "{\"type\": \"key\", \"keys\": \"ctrl+l\"} (key names: return, tab, escape, backspace, delete, up, "
                "down, left, right, home, end, page_up, page_down, f1-f12, with ctrl+, shift+, alt+)\n"
                "{\"type\": \"wait\", \"ms\": 1000}\n"
                "{\"type\": \"done\", \"result\": \"...\"}\n"
                "{\"type\": \"give_up\", \"reason\": \"...\"}\n"
                "X and Y are pixels of the screenshot you were shown, from its top-left corner.";
    }
    return text;
}

std::string task_text(const Task& task)
{
    std::string text = "Goal: " + task.goal;
    if (task.expected) {
        text += "\n\nThis task was done before and recorded. The recording's next step was: "
            + task.expected->description;
        if (!task.expected->label.empty())
            text += " (its target was labelled \"" + task.expected->label + "\")";
        text += ". The screen no longer matches the recording, so that step could not be replayed. Do what the "
                "goal needs from the screen as it is now.";
        if (!task.expected->patch.empty())
            text += " The first image shows what the recorded target looked like; the second is the screen now.";
    }
    return text;
}

} // namespace rote::llm
