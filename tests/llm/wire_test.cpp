#include <doctest/doctest.h>

#include <rote/llm/wire.h>

using namespace rote;
using namespace rote::llm;

namespace {

const ScreenScale kHalf = ScreenScale::fit({2560, 1440}, {1280, 800}); // model 1280x720
const ScreenScale kSame = ScreenScale::fit({1280, 800}, {1280, 800});

std::string anthropic_body(const std::string& content, const std::string& stop = "tool_use")
{
    return R"({"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":)" + content
        + R"(,"stop_reason":")" + stop
        + R"(","usage":{"input_tokens":1200,"output_tokens":80,"cache_creation_input_tokens":3000,"cache_read_input_tokens":9000}})";
}

std::string openai_body(const std::string& output)
{
    return R"({"id":"resp_1","object":"response","status":"completed","output":)" + output
        + R"(,"usage":{"input_tokens":5000,"input_tokens_details":{"cached_tokens":4000},"output_tokens":60}})";
}

std::string chat_body(const std::string& content)
{
    std::string escaped;
    for (char c : content) {
        if (c == '"' || c == '\\')
            escaped += '\\';
        if (c == '\n') {
            escaped += "\\n";
            continue;
        }
        escaped += c;
    }
    return R"({"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":")"
        + escaped + R"("},"finish_reason":"stop"}],"usage":{"prompt_tokens":900,"completion_tokens":40}})";
}

} // namespace

TEST_CASE("Anthropic: a click in model pixels becomes a click on the real screen, with usage")
{
    std::optional<Point> pointer;
    auto reply = parse_anthropic_reply(anthropic_body(R"([{"type":"text","text":"Clicking Search."},
        {"type":"tool_use","id":"toolu_1","name":"computer","input":{"action":"left_click","coordinate":[640,360]}}])"),
        kHalf, pointer);
    REQUIRE(reply.ok());
    REQUIRE(reply->actions.size() == 1);
    CHECK(reply->actions[0].kind == ActionKind::click);
    CHECK(reply->actions[0].at == Point {1281, 721});
    CHECK(reply->call_ids == std::vector<std::string> {"toolu_1"});
    CHECK(reply->text == "Clicking Search.");
    CHECK(reply->usage.input == 1200);
    CHECK(reply->usage.output == 80);
    CHECK(reply->usage.cache_write == 3000);
    CHECK(reply->usage.cache_read == 9000);
    CHECK(pointer == Point {640, 360});
}

TEST_CASE("Anthropic: every action of the tool maps to rote's vocabulary")
{
    struct Case {
        const char* input;
        ActionKind kind;
    };
    const Case cases[] = {
        {R"({"action":"double_click","coordinate":[10,10]})", ActionKind::double_click},
        {R"({"action":"triple_click","coordinate":[10,10]})", ActionKind::triple_click},
        {R"({"action":"right_click","coordinate":[10,10]})", ActionKind::right_click},
        {R"({"action":"middle_click","coordinate":[10,10]})", ActionKind::middle_click},
        {R"({"action":"mouse_move","coordinate":[10,10]})", ActionKind::move},
        {R"({"action":"left_click_drag","start_coordinate":[1,2],"coordinate":[30,40]})", ActionKind::drag},
        {R"({"action":"scroll","coordinate":[10,10],"scroll_direction":"up","scroll_amount":5})", ActionKind::scroll},
        {R"({"action":"type","text":"Acme Robotics"})", ActionKind::type},
        {R"({"action":"key","text":"ctrl+l"})", ActionKind::key},
        {R"({"action":"wait","duration":1.5})", ActionKind::wait},
    };
    for (const auto& c : cases) {
        CAPTURE(c.input);
        std::optional<Point> pointer;
        auto reply = parse_anthropic_reply(
            anthropic_body(std::string(R"([{"type":"tool_use","id":"t","name":"computer","input":)") + c.input + "}]"),
            kSame, pointer);
        REQUIRE(reply.ok());
        REQUIRE(reply->actions.size() == 1);
        CHECK(reply->actions[0].kind == c.kind);
    }
    std::optional<Point> pointer;
    auto scroll = parse_anthropic_reply(anthropic_body(
        R"([{"type":"tool_use","id":"t","name":"computer","input":{"action":"scroll","coordinate":[5,6],"scroll_direction":"up","scroll_amount":5}}])"),
        kSame, pointer);
    CHECK(scroll->actions[0].scroll_dy == -5);
    auto wait = parse_anthropic_reply(
        anthropic_body(R"([{"type":"tool_use","id":"t","name":"computer","input":{"action":"wait","duration":1.5}}])"),
        kSame, pointer);
    CHECK(wait->actions[0].wait_ms == 1500);
    // A click without a coordinate happens where the pointer was put.
    auto here = parse_anthropic_reply(
        anthropic_body(R"([{"type":"tool_use","id":"t","name":"computer","input":{"action":"left_click"}}])"), kSame,
        pointer);
    REQUIRE(here.ok());
    CHECK(here->actions[0].at == Point {5, 6});
    // A screenshot request is a turn with nothing to do but look.
    auto look = parse_anthropic_reply(
        anthropic_body(R"([{"type":"tool_use","id":"t9","name":"computer","input":{"action":"screenshot"}}])"), kSame,
        pointer);
    REQUIRE(look.ok());
    CHECK(look->actions.empty());
    CHECK(look->call_ids.size() == 1);
}

TEST_CASE("Anthropic: the end of a turn in words is done or give up")
{
    std::optional<Point> pointer;
    auto done = parse_anthropic_reply(
        anthropic_body(R"J([{"type":"text","text":"The company page is open.\nDONE: 08431277 (active)"}])J", "end_turn"),
        kSame, pointer);
    REQUIRE(done.ok());
    REQUIRE(done->actions.size() == 1);
    CHECK(done->actions[0].kind == ActionKind::done);
    CHECK(done->actions[0].text == "08431277 (active)");
    auto question = parse_anthropic_reply(
        anthropic_body(R"([{"type":"text","text":"Should I submit the form?"}])", "end_turn"), kSame, pointer);
    CHECK(question->actions[0].kind == ActionKind::give_up);
    CHECK(question->actions[0].text.find("Should I submit") != std::string::npos);
    auto cut = parse_anthropic_reply(anthropic_body(R"([{"type":"text","text":"I will"}])", "max_tokens"), kSame, pointer);
    CHECK_FALSE(cut.ok());
}

TEST_CASE("Anthropic: garbage, unknown actions and off-screen points are errors, never actions")
{
    std::optional<Point> pointer;
    struct Bad {
        std::string body;
        const char* expect;
    };
    const Bad bad[] = {
        {"<html>502 Bad Gateway</html>", "not JSON"},
        {R"({"content":"no"})", "no content list"},
        {anthropic_body(R"([{"type":"tool_use","id":"t","name":"computer","input":{"action":"teleport"}}])"),
            "unknown action 'teleport'"},
        {anthropic_body(R"([{"type":"tool_use","id":"t","name":"bash","input":{"command":"ls"}}])"), "unknown tool 'bash'"},
        {anthropic_body(R"([{"type":"tool_use","id":"t","name":"computer","input":{"action":"left_click","coordinate":[1280,10]}}])"),
            "off the screen: (1280, 10) is outside the 1280x720"},
        {anthropic_body(R"([{"type":"tool_use","id":"t","name":"computer","input":{"action":"left_click","coordinate":[5,-3]}}])"),
            "off the screen"},
        {anthropic_body(R"([{"type":"tool_use","id":"t","name":"computer","input":{"action":"left_click","coordinate":["a",3]}}])"),
            "not numbers"},
        {anthropic_body(R"([{"type":"tool_use","id":"t","name":"computer","input":{"action":"left_click"}}])"),
            "before the pointer was placed"},
        {anthropic_body(R"([{"type":"tool_use","id":"t","name":"computer","input":{"action":"type"}}])"), "without text"},
    };
    for (const auto& b : bad) {
        CAPTURE(b.body);
        auto reply = parse_anthropic_reply(b.body, kHalf, pointer);
        REQUIRE_FALSE(reply.ok());
        CHECK(reply.error().message().find(b.expect) != std::string::npos);
    }
    CHECK(usage_from_body(ProviderKind::anthropic, bad[4].body).cache_read == 9000); // the rejected answer was paid for
}

TEST_CASE("OpenAI: computer_call actions, keys, scroll pixels, safety checks and cached input")
{
    auto reply = parse_openai_reply(openai_body(R"([{"type":"reasoning","id":"rs_1","summary":[]},
        {"type":"computer_call","id":"cu_1","call_id":"call_1","action":{"type":"click","button":"right","x":100,"y":50},
         "pending_safety_checks":[{"id":"cu_sc_1","code":"malicious_instructions","message":"The page asks for money."}],
         "status":"completed"}])"),
        kHalf);
    REQUIRE(reply.ok());
    REQUIRE(reply->actions.size() == 1);
    CHECK(reply->actions[0].kind == ActionKind::right_click);
    CHECK(reply->actions[0].at == kHalf.to_screen({100, 50}));
    CHECK(reply->call_ids == std::vector<std::string> {"call_1"});
    REQUIRE(reply->safety_checks.size() == 1);
    CHECK(reply->safety_checks[0].code == "malicious_instructions");
    CHECK(reply->response_id == "resp_1");
    CHECK(reply->usage.input == 1000); // 5000 of which 4000 were cached
    CHECK(reply->usage.cache_read == 4000);
    CHECK(reply->usage.output == 60);

    auto keys = parse_openai_reply(
        openai_body(R"([{"type":"computer_call","call_id":"c","action":{"type":"keypress","keys":["CTRL","L"]},"pending_safety_checks":[]}])"),
        kSame);
    CHECK(keys->actions[0].text == "ctrl+l");
    CHECK(key_combo_from_names({"ENTER"}) == "return");
    CHECK(key_combo_from_names({"SHIFT", "ArrowUp"}) == "shift+up");
    auto scroll = parse_openai_reply(
        openai_body(R"([{"type":"computer_call","call_id":"c","action":{"type":"scroll","x":10,"y":10,"scroll_x":0,"scroll_y":-250}}])"),
        kSame);
    CHECK(scroll->actions[0].scroll_dy == -3);
    auto drag = parse_openai_reply(
        openai_body(R"([{"type":"computer_call","call_id":"c","action":{"type":"drag","path":[{"x":1,"y":2},{"x":5,"y":5},{"x":30,"y":40}]}}])"),
        kSame);
    CHECK(drag->actions[0].to == Point {30, 40});
    auto done = parse_openai_reply(
        openai_body(R"([{"type":"message","role":"assistant","content":[{"type":"output_text","text":"DONE: lead 41"}]}])"), kSame);
    CHECK(done->actions[0].kind == ActionKind::done);
    CHECK(done->actions[0].text == "lead 41");
    CHECK(done->call_ids.empty());

    CHECK_FALSE(parse_openai_reply("{", kSame).ok());
    auto off = parse_openai_reply(
        openai_body(R"([{"type":"computer_call","call_id":"c","action":{"type":"click","button":"left","x":4000,"y":10}}])"), kSame);
    CHECK(off.error().message().find("off the screen") != std::string::npos);
    auto unknown = parse_openai_reply(
        openai_body(R"([{"type":"computer_call","call_id":"c","action":{"type":"levitate"}}])"), kSame);
    CHECK(unknown.error().message().find("unknown action 'levitate'") != std::string::npos);
    auto failed = parse_openai_reply(R"({"id":"r","status":"failed","output":[]})", kSame);
    CHECK(failed.error().message().find("failed, not completed") != std::string::npos);
}

TEST_CASE("chat: rote's JSON action format, with or without a code fence")
{
    auto click = parse_chat_reply(chat_body(R"({"thought":"the button","action":{"type":"click","x":640,"y":360}})"), kHalf);
    REQUIRE(click.ok());
    CHECK(click->actions[0].kind == ActionKind::click);
    CHECK(click->actions[0].at == Point {1281, 721});
    CHECK(click->text == "the button");
    CHECK(click->usage.input == 900);
    CHECK(click->usage.output == 40);
    auto fenced = parse_chat_reply(chat_body("```json\n{\"action\":{\"type\":\"key\",\"keys\":\"return\"}}\n```"), kSame);
    REQUIRE(fenced.ok());
    CHECK(fenced->actions[0].text == "return");
    auto many = parse_chat_reply(
        chat_body(R"({"actions":[{"type":"type","text":"Acme"},{"type":"key","keys":"return"},{"type":"done","result":"ok"}]})"), kSame);
    REQUIRE(many.ok());
    CHECK(many->actions.size() == 3);
    CHECK(many->actions[2].kind == ActionKind::done);

    CHECK(parse_chat_reply(chat_body("I think I should click the button"), kSame).error().message().find("did not answer with a JSON object")
        != std::string::npos);
    CHECK(parse_chat_reply(chat_body(R"({"action":{"type":"jump"}})"), kSame).error().message().find("unknown action 'jump'")
        != std::string::npos);
    CHECK(parse_chat_reply(chat_body(R"({"action":{"type":"click","x":1280,"y":0}})"), kSame).error().message().find("off the screen")
        != std::string::npos);
    CHECK_FALSE(parse_chat_reply(chat_body(R"({"actions":[{"type":"done","result":""},{"type":"click","x":1,"y":1}]})"), kSame).ok());
    CHECK_FALSE(parse_chat_reply(R"({"choices":[]})", kSame).ok());
}
