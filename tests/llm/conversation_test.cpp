// llm-client against the stand-in server over loopback HTTP: each provider's wire format, retries, errors,
// costs and the key's absence from logs; and each provider driving a real sandbox through the registry.

#include <doctest/doctest.h>

#include "vision/page.h"

#include <chrono>
#include <sstream>
#include <thread>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <spdlog/sinks/ostream_sink.h>

#include <rote/agent/planner.h>
#include <rote/base/log.h>
#include <rote/egress/egress_proxy.h>
#include <rote/llm/provider.h>
#include <rote/sandbox/sandbox.h>

#include "llm/standin.h"
#include "runtime/support.h"

using namespace rote;
using namespace rote::llm;
using namespace std::chrono_literals;
using Step = test::StandInStep;
using Kind = test::StandInStep::Kind;

namespace {

const std::string kKey = "sk-rote-test-5f2c9a1e7b";

cv::Mat corpus(const char* name) { return test::corpus_page(name); }

LlmConfig config_for(ProviderKind kind, const test::StandIn& server)
{
    LlmConfig c;
    c.provider = kind;
    c.base_url = server.base_url();
    c.api_key = Secret(kKey);
    c.retry.base_delay = 10ms;
    c.retry.max_delay = 100ms;
    c.request_timeout = 20s;
    c.deadline = 60s;
    if (kind == ProviderKind::openai_compatible) {
        c.model = "qwen2.5-vl-7b-instruct";
        c.prices.set(c.model, {100'000, 400'000, 0, 0}); // $0.10 / $0.40 per MTok, from a config file's override
    }
    return c;
}

std::unique_ptr<Conversation> start(const LlmConfig& config, Task task = {"Find Acme Robotics in the registry", {}})
{
    auto provider = make_provider(config);
    REQUIRE_MESSAGE(provider.ok(), (provider.ok() ? "" : provider.error().message()));
    return (*provider)->start(std::move(task));
}

Step step(Kind kind, std::string text = {})
{
    Step s;
    s.kind = kind;
    s.text = std::move(text);
    return s;
}

Step status(int code, int retry_after_s = -1)
{
    Step s;
    s.kind = Kind::status;
    s.status = code;
    s.retry_after_s = retry_after_s;
    return s;
}

// A loopback port with nothing listening on it.
int closed_port()
{
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr {};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    socklen_t length = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length);
    ::close(fd);
    return ntohs(addr.sin_port);
}

const ProviderKind kAll[] = {ProviderKind::anthropic, ProviderKind::openai, ProviderKind::openai_compatible};

} // namespace

TEST_CASE("429 and 500 are retried, honouring retry-after, and the answer is then used")
{
    for (ProviderKind kind : kAll) {
        CAPTURE(to_string(kind));
        auto server = test::StandIn::start(kKey, {status(429, 1), status(500), step(Kind::click, "Search")});
        auto config = config_for(kind, *server);
        auto conversation = start(config);
        const auto before = std::chrono::steady_clock::now();
        auto turn = conversation->next({corpus("registry-search.baseline.png"), {}});
        const auto waited = std::chrono::steady_clock::now() - before;
        REQUIRE_MESSAGE(turn.ok(), (turn.ok() ? "" : turn.error().message()));
        CHECK(server->violation() == "");
        CHECK(turn->call.attempts == 3);
        CHECK(waited >= 1s); // the server said retry-after: 1
        REQUIRE(turn->actions.size() == 1);
        CHECK(turn->actions[0].kind == ActionKind::click);
        auto requests = server->requests();
        REQUIRE(requests.size() == 3);
        CHECK(requests[0].status == 429);
        CHECK(requests[1].status == 500);
        CHECK(requests[2].status == 200);
        REQUIRE(requests[2].grounded_box);
        // The screenshot is 1280x800 (no scaling), so the click is the centre of what OCR found.
        CHECK(requests[2].grounded_box->contains(turn->actions[0].at));
        CHECK(conversation->calls().size() == 1); // refused attempts are not answered calls
    }
}

TEST_CASE("retries give up with a clear error after max_attempts, and a 400 is not retried")
{
    for (ProviderKind kind : kAll) {
        CAPTURE(to_string(kind));
        auto server = test::StandIn::start(kKey, {status(503), status(503), status(503)});
        auto config = config_for(kind, *server);
        config.retry.max_attempts = 3;
        auto turn = start(config)->next({corpus("registry-search.baseline.png"), {}});
        REQUIRE_FALSE(turn.ok());
        CHECK(turn.error().message().find("failed 3 times; last: HTTP 503") != std::string::npos);
        CHECK(server->requests().size() == 3);

        // Nobody listening: connection errors are retried like 5xx, then reported.
        LlmConfig closed = config;
        closed.base_url = "http://127.0.0.1:" + std::to_string(closed_port());
        auto unreachable = start(closed)->next({corpus("registry-search.baseline.png"), {}});
        REQUIRE_FALSE(unreachable.ok());
        CHECK(unreachable.error().message().find("failed 3 times; last: Couldn't connect") != std::string::npos);

        auto refusing = test::StandIn::start(kKey, {status(400), step(Kind::done, "unused")});
        auto refused = start(config_for(kind, *refusing))->next({corpus("registry-search.baseline.png"), {}});
        REQUIRE_FALSE(refused.ok());
        CHECK(refused.error().message().find("HTTP 400") != std::string::npos);
        CHECK(refusing->requests().size() == 1);
    }
}

TEST_CASE("garbage, off-screen points and unknown actions are clear errors, and the tokens are still counted")
{
    struct Case {
        Kind kind;
        const char* expect;
    };
    const Case cases[] = {
        {Kind::garbage, "not JSON"},
        {Kind::offscreen, "off the screen: (1305, 10) is outside the 1280x800 screenshot"},
        {Kind::unknown_action, "unknown action 'teleport'"},
    };
    for (ProviderKind kind : kAll) {
        for (const auto& c : cases) {
            CAPTURE(to_string(kind));
            CAPTURE(c.expect);
            auto server = test::StandIn::start(kKey, {step(c.kind), step(Kind::done, "unused")});
            auto conversation = start(config_for(kind, *server));
            auto turn = conversation->next({corpus("registry-search.baseline.png"), {}});
            REQUIRE_FALSE(turn.ok());
            CHECK(turn.error().code() == Error::Code::corrupt);
            CHECK(turn.error().message().find(c.expect) != std::string::npos);
            REQUIRE(conversation->calls().size() == 1);
            CHECK(conversation->calls()[0].usage.output == (c.kind == Kind::garbage ? 0 : 50));
            // Nothing in a rejected answer is acted on, and the conversation does not go on from it.
            auto again = conversation->next({corpus("registry-search.baseline.png"), {}});
            REQUIRE_FALSE(again.ok());
            CHECK(again.error().message().find("has ended") != std::string::npos);
            CHECK(server->requests().size() == 1);
        }
    }
}

TEST_CASE("an overall deadline and cancellation stop a slow call")
{
    Step slow = step(Kind::click, "Search");
    slow.delay_ms = 4000;
    {
        auto server = test::StandIn::start(kKey, {slow, slow, slow, slow});
        auto config = config_for(ProviderKind::anthropic, *server);
        config.request_timeout = 600ms;
        config.deadline = 1500ms;
        const auto before = std::chrono::steady_clock::now();
        auto turn = start(config)->next({corpus("registry-search.baseline.png"), {}});
        const auto took = std::chrono::steady_clock::now() - before;
        REQUIRE_FALSE(turn.ok());
        CHECK(turn.error().code() == Error::Code::timeout);
        CHECK(took < 2500ms);
    }
    {
        auto server = test::StandIn::start(kKey, {slow});
        auto conversation = start(config_for(ProviderKind::openai, *server));
        std::stop_source stop;
        std::thread canceller([&] {
            std::this_thread::sleep_for(300ms);
            stop.request_stop();
        });
        const auto before = std::chrono::steady_clock::now();
        auto turn = conversation->next({corpus("registry-search.baseline.png"), {}}, stop.get_token());
        const auto took = std::chrono::steady_clock::now() - before;
        canceller.join();
        REQUIRE_FALSE(turn.ok());
        CHECK(turn.error().code() == Error::Code::cancelled);
        CHECK(took < 1500ms);
    }
}

TEST_CASE("the API key never appears in a log line, an error, a stored record or a request body")
{
    std::ostringstream captured;
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(captured);
    auto log = logger("llm");
    log->sinks().push_back(sink);
    const auto level = log->level();
    log->set_level(spdlog::level::trace);

    for (ProviderKind kind : kAll) {
        CAPTURE(to_string(kind));
        // A server that knows another key refuses ours and quotes it back (OpenAI's does).
        auto refusing = test::StandIn::start("sk-some-other-key", {});
        auto config = config_for(kind, *refusing);
        auto refused = start(config)->next({corpus("registry-search.baseline.png"), {}});
        REQUIRE_FALSE(refused.ok());
        CHECK(refused.error().message().find("HTTP 401") != std::string::npos);
        CHECK(refused.error().message().find(kKey) == std::string::npos);
        CHECK(refusing->requests().size() == 1); // a refused key is not retried

        // Retries, a quoted-key 401 from the script, and a successful exchange.
        auto server = test::StandIn::start(kKey, {status(429, 0), step(Kind::type, "Acme"), status(401)});
        auto conversation = start(config_for(kind, *server));
        auto turn = conversation->next({corpus("registry-search.baseline.png"), {}});
        REQUIRE(turn.ok());
        auto failed = conversation->next({corpus("registry-search.baseline.png"), {}});
        REQUIRE_FALSE(failed.ok());
        CHECK(failed.error().message().find("[redacted]") != std::string::npos); // the server quoted it
        CHECK(failed.error().message().find(kKey) == std::string::npos);
        for (const auto& call : conversation->calls()) {
            CHECK(call.provider.find(kKey) == std::string::npos);
            CHECK(call.model.find(kKey) == std::string::npos);
        }
        for (const auto& request : server->requests())
            CHECK(request.body.find(kKey) == std::string::npos);
    }
    log->flush();
    log->sinks().pop_back();
    log->set_level(level);
    const std::string lines = captured.str();
    CHECK(lines.find("attempt 1 of 5 failed: HTTP 429") != std::string::npos); // the log was captured
    CHECK(lines.find(kKey) == std::string::npos);
}

TEST_CASE("Anthropic: tool version and beta per model, prompt caching breakpoints, tool results, and costs")
{
    test::StandInUsage usage {1000, 50, 2000, 3000};
    auto server = test::StandIn::start(kKey,
        {step(Kind::click, "Search"), step(Kind::screenshot), step(Kind::done, "08431277")}, usage);
    auto config = config_for(ProviderKind::anthropic, *server);
    config.model = "claude-opus-4-5-20251101";
    Task task {"Find Acme Robotics", ExpectedStep {"click the 'Search' button", "Search", corpus("registry-search.baseline.png")(cv::Rect(100, 250, 200, 60)).clone()}};
    auto conversation = start(config, task);
    const cv::Mat screen = corpus("registry-search.baseline.png");
    auto t1 = conversation->next({screen, {}});
    REQUIRE_MESSAGE(t1.ok(), (t1.ok() ? "" : t1.error().message()));
    CHECK(t1->actions[0].kind == ActionKind::click);
    auto t2 = conversation->next({screen, {}});
    REQUIRE(t2.ok());
    CHECK(t2->actions.empty()); // a screenshot request: look again
    auto t3 = conversation->next({screen, "the click did not land"});
    REQUIRE(t3.ok());
    CHECK(t3->finished());
    CHECK(t3->actions.back().text == "08431277");
    CHECK(server->violation() == "");

    auto requests = server->requests();
    REQUIRE(requests.size() == 3);
    nlohmann::json first = nlohmann::json::parse(requests[0].body);
    CHECK(first["tools"][0]["type"] == "computer_20251124");
    bool beta = false;
    for (const auto& [k, v] : requests[0].headers)
        beta |= k == "anthropic-beta" && v == "computer-use-2025-11-24";
    CHECK(beta);
    CHECK(first["system"][1].contains("cache_control"));
    CHECK(first["system"][1]["text"].get<std::string>().find("click the 'Search' button") != std::string::npos);
    CHECK(first["messages"][0]["content"].size() == 2); // the recorded patch, then the screen
    nlohmann::json third = nlohmann::json::parse(requests[2].body);
    const auto& last = third["messages"].back()["content"];
    CHECK(last[0]["type"] == "tool_result");
    CHECK(last[0]["tool_use_id"] == "toolu_2");
    CHECK(last[0]["is_error"] == true);
    CHECK(last.back().contains("cache_control")); // the newest turn is the moving breakpoint
    CHECK_FALSE(third["messages"][0]["content"].back().contains("cache_control"));

    // Hand-computed: Opus 4.5 is $5 in, $25 out, $6.25 cache write, $0.50 cache read per MTok, so one answer
    // is 1000*5 + 50*25 + 2000*6.25 + 3000*0.50 = 5000 + 1250 + 12500 + 1500 = 20,250 micro-dollars.
    REQUIRE(conversation->calls().size() == 3);
    std::int64_t total = 0;
    for (const auto& call : conversation->calls()) {
        CHECK(call.provider == "anthropic");
        CHECK(call.model == "claude-opus-4-5-20251101");
        CHECK(call.usage.input == 1000);
        CHECK(call.usage.cache_write == 2000);
        CHECK(call.usage.cache_read == 3000);
        CHECK(call.cost_microusd == 20'250);
        CHECK(call.latency_ms >= 0);
        total += call.cost_microusd;
    }
    CHECK(total == 60'750);
}

TEST_CASE("OpenAI: safety checks are surfaced, refused until acknowledged, then acknowledged on the wire; costs")
{
    test::StandInUsage usage {1000, 50, 0, 3000};
    Step checked = step(Kind::click, "Search");
    checked.safety_check = true;
    auto server = test::StandIn::start(kKey, {checked, step(Kind::done, "ok")}, usage);
    auto conversation = start(config_for(ProviderKind::openai, *server));
    const cv::Mat screen = corpus("registry-search.baseline.png");
    auto t1 = conversation->next({screen, {}});
    REQUIRE(t1.ok());
    REQUIRE(t1->safety_checks.size() == 1);
    CHECK(t1->safety_checks[0].code == "malicious_instructions");
    auto refused = conversation->next({screen, {}});
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code() == Error::Code::conflict);
    CHECK(server->requests().size() == 1); // nothing was sent
    conversation->acknowledge({t1->safety_checks[0].id});
    auto t2 = conversation->next({screen, {}});
    REQUIRE_MESSAGE(t2.ok(), (t2.ok() ? "" : t2.error().message()));
    CHECK(t2->finished());
    CHECK(server->violation() == "");
    // computer-use-preview: $3 in, $12 out, cached input without discount: 1000*3 + 50*12 + 3000*3 = 12,600.
    for (const auto& call : conversation->calls()) {
        CHECK(call.usage.input == 1000);
        CHECK(call.usage.cache_read == 3000);
        CHECK(call.cost_microusd == 12'600);
    }
}

// ---- each provider drives a real sandbox ----------------------------------------------------------------

namespace {

struct Screen {
    int width;
    int height;
};

void drive_registry(ProviderKind kind, Screen size)
{
    auto site = test::DemoSite::start();
    REQUIRE(site.ok());
    runtime::EgressProxyOptions proxy_options;
    auto root = runtime::runtime_root();
    REQUIRE(root.ok());
    proxy_options.socket_path
        = *root / ("test-llm-" + std::string(to_string(kind)) + "-" + std::to_string(::getpid()) + ".sock");
    proxy_options.allowlist = {"registry.example.test"};
    proxy_options.routes = {{"registry.example.test", site->registry_route()}};
    auto proxy = runtime::EgressProxy::start(proxy_options);
    REQUIRE_MESSAGE(proxy.ok(), (proxy.ok() ? "" : proxy.error().message()));
    runtime::SandboxOptions options;
    options.start_url = "http://registry.example.test/";
    options.proxy_socket = (*proxy)->socket_path();
    options.width = size.width;
    options.height = size.height;
    auto sandbox = runtime::start_local_sandbox(options);
    REQUIRE_MESSAGE(sandbox.ok(), (sandbox.ok() ? "" : sandbox.error().message()));
    auto desktop = runtime::Desktop::connect((*sandbox)->vnc());
    REQUIRE(desktop.ok());
    auto seen = test::wait_for_text(**desktop, "Company name", 30s);
    REQUIRE_MESSAGE(seen.where, "the registry never appeared");

    test::StandInUsage usage {1000, 50, 0, 0};
    auto server = test::StandIn::start(kKey,
        {step(Kind::click, "Company name"), step(Kind::type, "Acme"), step(Kind::key, "return"),
            step(Kind::click, "Acme Robotics Ltd"), step(Kind::done, "08431277")},
        usage);
    auto config = config_for(kind, *server);
    // The stand-in's OCR of a downscaled screen may read it at three sizes (seconds each on a loaded machine);
    // a client timeout would retry and the retry would consume the script's next step.
    config.request_timeout = 120s;
    config.deadline = 300s;
    auto conversation = start(config, {"Open Acme Robotics Ltd's page in the registry", {}});
    Observation observation {seen.screen, {}};
    const char* labels[] = {"Company name", "Acme Robotics Ltd"};
    int clicks = 0;
    bool finished = false;
    std::string history;
    for (int turn_number = 0; turn_number < 8 && !finished; ++turn_number) {
        auto turn = conversation->next(observation);
        REQUIRE_MESSAGE(turn.ok(), (turn.ok() ? "" : turn.error().message()));
        for (const Action& action : turn->actions)
            history += "turn " + std::to_string(turn_number) + ": " + std::string(to_string(action.kind)) + " " + action.text
                + " (" + std::to_string(turn->call.attempts) + " attempts, " + std::to_string(turn->call.latency_ms) + " ms); ";
        for (const Action& action : turn->actions) {
            switch (action.kind) {
            case ActionKind::click: {
                // Where the model (in its scaled pixels) clicked must be on the label on the real screen.
                auto box = test::find_text(observation.screen, labels[clicks]);
                REQUIRE_MESSAGE(box, labels[clicks]);
                CHECK_MESSAGE(box->contains(action.at), labels[clicks], " at ", action.at.x, ",", action.at.y);
                ++clicks;
                REQUIRE((*desktop)->click(action.at));
                break;
            }
            case ActionKind::type:
                REQUIRE((*desktop)->type(action.text));
                break;
            case ActionKind::key:
                REQUIRE((*desktop)->key(action.text));
                break;
            case ActionKind::done:
                CHECK(action.text == "08431277");
                finished = true;
                break;
            default:
                FAIL("unexpected action " << to_string(action.kind) << ": " << action.text);
            }
        }
        if (clicks == 1 && turn_number == 2) {
            auto results = test::wait_for_text(**desktop, "Acme Robotics Ltd", 15s);
            REQUIRE_MESSAGE(results.where, "the search did not show results");
            observation = {results.screen, {}};
            continue;
        }
        auto stable = (*desktop)->wait_stable(300ms, 5s);
        observation = {stable.ok() ? *stable : *(*desktop)->screenshot(), {}};
    }
    CHECK_MESSAGE(finished, history);
    CHECK_MESSAGE(clicks == 2, history);
    CHECK(test::wait_for_text(**desktop, "08431277", 15s).where); // the result click landed: the company page
    CHECK(server->violation() == "");
    for (const auto& request : server->requests()) {
        const auto scale = ScreenScale::fit({size.width, size.height}, {1280, 800});
        CHECK(request.image == cv::Size(scale.model().width, scale.model().height));
    }
    // Hand-computed, 1000 tokens in and 50 out per call: Sonnet 4.5 1000*3 + 50*15 = 3,750 micro-dollars;
    // computer-use-preview 1000*3 + 50*12 = 3,600; the local model at the test's config prices $0.10/$0.40,
    // 1000*0.10 + 50*0.40 = 120.
    const std::int64_t per_call = kind == ProviderKind::anthropic ? 3'750 : kind == ProviderKind::openai ? 3'600 : 120;
    CHECK(conversation->calls().size() == 5);
    for (const auto& call : conversation->calls())
        CHECK(call.cost_microusd == per_call);
    CHECK((*sandbox)->destroy());
}

} // namespace

TEST_CASE("Anthropic drives a 1920x1080 sandbox through the registry from a 1280x720 view")
{
    drive_registry(ProviderKind::anthropic, {1920, 1080});
}

TEST_CASE("OpenAI drives a 1366x768 sandbox through the registry from a 1280x720 view")
{
    drive_registry(ProviderKind::openai, {1366, 768});
}

TEST_CASE("an OpenAI-compatible model drives a 1280x800 sandbox through the registry")
{
    drive_registry(ProviderKind::openai_compatible, {1280, 800});
}

// ---- the LLM planner over llm-client ------------------------------------------------------------------

TEST_CASE("the LLM planner tells the model the goal and inputs, never a secret, and stops on a safety check")
{
    auto workflow = runtime::parse_workflow("name: crm\ngoal: Sign in and add a lead.\ninputs: {name: string, crm_password: secret}\n"
                                            "start: {url: http://crm.example.test/}\nsuccess: {text: Lead ID}\n",
        "crm.yaml");
    REQUIRE(workflow.ok());
    runtime::RunInputs inputs {{{"name", "Ada Lovelace"}}, {{"crm_password", "hunter2-very-secret"}}};
    {
        auto server = test::StandIn::start(kKey, {step(Kind::type, "{{secret:crm_password}}"), step(Kind::done, "L-1001")});
        auto provider = make_provider(config_for(ProviderKind::anthropic, *server));
        REQUIRE(provider.ok());
        auto planner = runtime::make_llm_planner(**provider, *workflow, inputs);
        CHECK(planner->kind() == "llm");
        auto first = planner->next(corpus("crm-login.baseline.png"), "");
        REQUIRE_MESSAGE(first.ok(), (first.ok() ? "" : first.error().message()));
        CHECK(first->actions[0].text == "{{secret:crm_password}}");
        auto last = planner->next(corpus("crm-login.baseline.png"), "");
        REQUIRE(last.ok());
        CHECK(last->actions.back().kind == ActionKind::done);
        CHECK(planner->calls().size() == 2);
        for (const auto& request : server->requests()) {
            CHECK(request.body.find("hunter2-very-secret") == std::string::npos);
            CHECK(request.body.find("Ada Lovelace") != std::string::npos);
            CHECK(request.body.find("{{secret:crm_password}}") != std::string::npos);
        }
    }
    {
        Step checked = step(Kind::click, "Sign in");
        checked.safety_check = true;
        auto server = test::StandIn::start(kKey, {checked});
        auto provider = make_provider(config_for(ProviderKind::openai, *server));
        auto planner = runtime::make_llm_planner(**provider, *workflow, inputs);
        auto turn = planner->next(corpus("crm-login.baseline.png"), "");
        REQUIRE_FALSE(turn.ok());
        CHECK(turn.error().code() == Error::Code::conflict);
        CHECK(turn.error().message().find("malicious_instructions") != std::string::npos);
        CHECK(planner->calls().size() == 1); // the call was made and is costed
    }
}
