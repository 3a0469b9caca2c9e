// The rote binary, run as a user runs it, over stores the fixture filled.

#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include <rote/base/base64.h>

#include "store/store_fixture.h"

using namespace rote::store;
using fixture::TempDir;
using nlohmann::json;

namespace {

struct Outcome {
    int rc = -1;
    std::string out;
    std::string err;
};

std::string slurp(const std::filesystem::path& p)
{
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// Runs `rote ARGS` with a clean ROTE_HOME under dir; args are passed through the shell verbatim, as is
// `wrapper` (a command rote runs under).
Outcome run_rote(const TempDir& dir, const std::string& args, const std::string& wrapper = "")
{
    const auto out = dir / "stdout.txt";
    const auto err = dir / "stderr.txt";
    const std::string cmd = "export ROTE_HOME='" + (dir / "home").string() + "'; ( " + wrapper + " " ROTE_BINARY " " + args
        + " ) <"
          "/dev/null >'"
        + out.string() + "' 2>'" + err.string() + "'";
    const int status = std::system(cmd.c_str());
    Outcome o;
    o.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    o.out = slurp(out);
    o.err = slurp(err);
    return o;
}

std::string filled_store(const TempDir& dir)
{
    const auto path = dir / "fixture.db";
    auto s = Store::open(path);
    REQUIRE(s.ok());
    fixture::fill_report_fixture(**s);
    return path.string();
}

} // namespace

TEST_CASE("rote report --json prints the hand-computed totals")
{
    TempDir dir;
    const auto db = filled_store(dir);
    auto o = run_rote(dir, "--db " + db + " report --json");
    INFO(o.err);
    REQUIRE(o.rc == 0);
    const json r = json::parse(o.out);
    const json& t = r["total"];
    CHECK(t["runs"] == 4);
    CHECK(t["succeeded"] == 3);
    CHECK(t["llm_calls"] == 6);
    CHECK(t["tokens"]["input"] == 6400);
    CHECK(t["tokens"]["output"] == 950);
    CHECK(t["tokens"]["cache_read"] == 2500);
    CHECK(t["tokens"]["cache_write"] == 1500);
    CHECK(t["cost_microusd"] == 28450);
    CHECK(t["cost_usd"].get<double>() == doctest::Approx(0.02845));
    CHECK(t["steps"] == 22);
    CHECK(t["steps_replayed"] == 13);
    CHECK(t["replay_share"].get<double>() == doctest::Approx(13.0 / 22.0));
    CHECK(t["wall_ms"] == 31000);
    REQUIRE(r["runs"].size() == 4);
    CHECK(r["runs"][0]["cost_microusd"] == 12750);
    CHECK(r["runs"][0]["replay_share"] == 0.0);
    CHECK(r["runs"][1]["llm_calls"] == 0);
    REQUIRE(r["workflows"].size() == 2);
    CHECK(r["workflows"][1]["workflow"] == "registry-lookup");
    CHECK(r["workflows"][1]["cost_microusd"] == 14750);

    auto since = run_rote(dir, "--db " + db + " report --workflow registry-lookup --since 2026-11-10 --json");
    REQUIRE(since.rc == 0);
    const json s = json::parse(since.out);
    CHECK(s["query"]["since"] == "2026-11-10T00:00:00Z");
    CHECK(s["total"]["runs"] == 2);
    CHECK(s["total"]["cost_microusd"] == 2000);
    CHECK(s["total"]["steps_replayed"] == 7);

    auto table = run_rote(dir, "--db " + db + " report");
    REQUIRE(table.rc == 0);
    CHECK(table.out.find("registry-lookup") != std::string::npos);
    CHECK(table.out.find("$0.0285") != std::string::npos); // total $0.02845, 4 decimals
    CHECK(table.out.find("59% of 22 steps replayed") != std::string::npos);
}

TEST_CASE("list, show, export and import work end to end")
{
    TempDir dir;
    const auto db = (dir / "a.db").string();
    std::int64_t trace_id = 0;
    {
        auto s = Store::open(db);
        REQUIRE(s.ok());
        fixture::fill_report_fixture(**s);
        trace_id = *(*s)->save_trace(fixture::sample_trace("registry-lookup", 6));
    }
    auto list = run_rote(dir, "--db " + db + " list --json");
    REQUIRE(list.rc == 0);
    const json l = json::parse(list.out);
    REQUIRE(l["workflows"].size() == 2);
    CHECK(l["workflows"][1]["name"] == "registry-lookup");
    CHECK(l["workflows"][1]["traces"][0]["steps"] == 6);
    CHECK(l["workflows"][1]["last_run"]["status"] == "failed");

    auto show = run_rote(dir, "--db " + db + " show " + std::to_string(trace_id));
    REQUIRE(show.rc == 0);
    CHECK(show.out.find("registry-lookup v1") != std::string::npos);
    CHECK(show.out.find("type \"{{company}}\"") != std::string::npos);
    auto show_json = run_rote(dir, "--db " + db + " show " + std::to_string(trace_id) + " --json");
    REQUIRE(show_json.rc == 0);
    CHECK(json::parse(show_json.out)["steps"].size() == 6);

    const auto file = (dir / "trace.json").string();
    auto exported = run_rote(dir, "--db " + db + " export " + std::to_string(trace_id) + " -o " + file);
    REQUIRE(exported.rc == 0);
    const auto other = (dir / "b.db").string();
    auto imported = run_rote(dir, "--db " + other + " import " + file + " --json");
    INFO(imported.err);
    REQUIRE(imported.rc == 0);
    const json i = json::parse(imported.out);
    CHECK(i["workflow"] == "registry-lookup");
    CHECK(i["version"] == 1);
    CHECK(i["steps"] == 6);
    // Through a pipe too.
    auto piped = run_rote(
        dir, "--db " + db + " export " + std::to_string(trace_id) + " | " ROTE_BINARY " --db " + other + " import -");
    CHECK(piped.rc == 0);
    CHECK(piped.out.find("registry-lookup v2") != std::string::npos);
}

TEST_CASE("rote traffic lists a run's requests through the egress proxy, as a table or JSON")
{
    TempDir dir;
    const auto db = (dir / "a.db").string();
    std::int64_t run = 0;
    {
        auto s = Store::open(db);
        REQUIRE(s.ok());
        run = *(*s)->begin_run({"registry-lookup", std::nullopt, {}, "local", "hints", "", std::nullopt});
        RunEnd end;
        end.requests.push_back({"2026-12-01T09:00:00Z", "GET", "registry.example.test", 80, "/search?q=Acme", 200, 0, 5120, 12.5, "length", "", "", "http", 0, std::nullopt});
        end.requests.push_back({"2026-12-01T09:00:01Z", "CONNECT", "tracker.example.com", 443, "", 403, 0, 0, 0.4, "none", "", "host not allowed", "http", 0, std::nullopt});
        REQUIRE((*s)->finish_run(run, end).ok());
    }
    auto table = run_rote(dir, "--db " + db + " traffic " + std::to_string(run));
    INFO(table.err);
    REQUIRE(table.rc == 0);
    CHECK(table.out.find("/search?q=Acme") != std::string::npos);
    CHECK(table.out.find("refused: host not allowed") != std::string::npos);
    auto j = run_rote(dir, "--db " + db + " traffic " + std::to_string(run) + " --json");
    REQUIRE(j.rc == 0);
    const json t = json::parse(j.out);
    REQUIRE(t["requests"].size() == 2);
    CHECK(t["requests"][1]["status"] == 403);
    auto none = run_rote(dir, "--db " + db + " traffic 99");
    CHECK(none.rc == 1);
    CHECK(none.err.find("no run 99") != std::string::npos);
}

TEST_CASE("rote show --divergences writes where a run left its trace, with the screen there")
{
    TempDir dir;
    const auto db = (dir / "a.db").string();
    std::int64_t run = 0;
    const std::vector<std::uint8_t> png {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 1, 2, 3};
    {
        auto s = Store::open(db);
        REQUIRE(s.ok());
        run = *(*s)->begin_run({"registry-lookup", std::nullopt, {}, "local", "hints", "", std::nullopt});
        RunStep replayed;
        replayed.index = 0;
        replayed.trace_step = 0;
        replayed.action.kind = rote::ActionKind::key;
        replayed.action.text = "return";
        REQUIRE((*s)->add_run_step(run, replayed).ok());
        RunStep diverged;
        diverged.index = 1;
        diverged.trace_step = 1;
        diverged.outcome = StepOutcome::failed;
        diverged.action.kind = rote::ActionKind::wait;
        diverged.method = "diverged";
        diverged.detail = "expected click \"{{company}}\"; no link reads \"Nobody Ltd\"";
        diverged.artifact = *(*s)->put_artifact(png, "image/png");
        REQUIRE((*s)->add_run_step(run, diverged).ok());
        RunEnd end;
        end.status = RunStatus::failed;
        REQUIRE((*s)->finish_run(run, end).ok());
    }
    const auto out = dir / "shots";
    auto table = run_rote(dir, "--db " + db + " show --divergences " + std::to_string(run) + " -o " + out.string());
    INFO(table.err);
    REQUIRE(table.rc == 0);
    CHECK(table.out.find("no link reads") != std::string::npos);
    const auto file = out / ("run-" + std::to_string(run) + "-step-1.png");
    CHECK(slurp(file) == std::string(png.begin(), png.end()));
    auto j = run_rote(dir, "--db " + db + " show --divergences " + std::to_string(run) + " -o " + out.string() + " --json");
    REQUIRE(j.rc == 0);
    const json t = json::parse(j.out);
    REQUIRE(t["divergences"].size() == 1); // the replayed step is not one
    CHECK(t["divergences"][0]["trace_step"] == 1);
    CHECK(t["divergences"][0]["file"] == file.string());
    CHECK(run_rote(dir, "--db " + db + " show --divergences 99").rc == 1);
    CHECK(run_rote(dir, "--db " + db + " show").rc == 2);

    // rote export --run: the run as one document, the divergence's screenshot in it.
    const auto exported = dir / "run.json";
    auto e = run_rote(dir, "--db " + db + " export --run " + std::to_string(run) + " -o " + exported.string());
    REQUIRE_MESSAGE(e.rc == 0, e.err);
    const json doc = json::parse(slurp(exported));
    CHECK(doc["format"] == "rote-run");
    CHECK(doc["run"]["id"] == run);
    CHECK(doc["run"]["status"] == "failed");
    CHECK(doc["run"]["workflow"] == "registry-lookup");
    REQUIRE(doc["steps"].size() == 2);
    CHECK(doc["steps"][0]["outcome"] == "replayed");
    CHECK(doc["steps"][0]["screenshot"].is_null());
    CHECK(doc["steps"][1]["outcome"] == "failed");
    CHECK(doc["steps"][1]["detail"].get<std::string>().find("no link reads") != std::string::npos);
    const std::string shot = doc["steps"][1]["screenshot"];
    CHECK(doc["artifacts"][shot]["media_type"] == "image/png");
    CHECK(doc["artifacts"][shot]["data"] == rote::base64_encode(png));
    auto to_stdout = run_rote(dir, "--db " + db + " export --run " + std::to_string(run));
    REQUIRE(to_stdout.rc == 0);
    CHECK(json::parse(to_stdout.out) == doc);
    auto missing = run_rote(dir, "--db " + db + " export --run 99");
    CHECK(missing.rc == 1);
    CHECK(missing.err.find("no run 99") != std::string::npos);
}

TEST_CASE("the default store is $ROTE_HOME/rote.db")
{
    TempDir dir;
    auto o = run_rote(dir, "list");
    REQUIRE(o.rc == 0);
    CHECK(o.out.find("No workflows yet") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(dir / "home/rote.db")); // reading creates nothing
    auto imported = run_rote(dir, "import - < /dev/null");
    CHECK(imported.rc != 0);
    CHECK(std::filesystem::exists(dir / "home/rote.db")); // a writing command does
}

TEST_CASE("a store on a read-only mount is listed, shown, reported and exported, says so, and is never written")
{
    TempDir dir;
    const auto mount = dir / "ro";
    std::filesystem::create_directories(mount);
    const auto db = (mount / "store.db").string();
    std::int64_t trace_id = 0;
    {
        auto s = Store::open(db);
        REQUIRE(s.ok());
        fixture::fill_report_fixture(**s);
        trace_id = *(*s)->save_trace(fixture::sample_trace("registry-lookup", 3));
    }
    const auto before = fixture::read_file(db);
    // A real read-only bind mount of the store's directory, in a mount namespace of rote's own.
    const std::string ro = "bwrap --dev-bind / / --ro-bind '" + mount.string() + "' '" + mount.string() + "'";

    auto list = run_rote(dir, "--db " + db + " list --json", ro);
    INFO(list.err);
    REQUIRE(list.rc == 0);
    CHECK(json::parse(list.out)["workflows"].size() == 2);
    CHECK(list.err.find("is read as it lies on disk") != std::string::npos);
    auto show = run_rote(dir, "--db " + db + " show " + std::to_string(trace_id), ro);
    CHECK(show.rc == 0);
    CHECK(show.out.find("registry-lookup v1") != std::string::npos);
    auto report = run_rote(dir, "--db " + db + " report --json", ro);
    CHECK(report.rc == 0);
    CHECK(json::parse(report.out)["total"]["runs"] == 4);
    const auto file = (dir / "trace.json").string();
    auto exported = run_rote(dir, "--db " + db + " export " + std::to_string(trace_id) + " -o " + file, ro);
    CHECK(exported.rc == 0);
    CHECK(std::filesystem::file_size(file) > 0);
    auto standings = run_rote(dir, "--db " + db + " trace list registry-lookup", ro);
    CHECK(standings.rc == 0);

    // A command that writes says why it cannot, and which ones still work.
    auto imported = run_rote(dir, "--db " + db + " import " + file, ro);
    CHECK(imported.rc == 1);
    CHECK(imported.err.find("cannot be written here (Read-only file system)") != std::string::npos);
    CHECK(imported.err.find("list, show, report, export") != std::string::npos);

    CHECK(fixture::read_file(db) == before);
    CHECK_FALSE(std::filesystem::exists(db + "-wal"));
    CHECK_FALSE(std::filesystem::exists(db + "-shm"));
}

TEST_CASE("errors are clear and the exit status tells usage from failure")
{
    TempDir dir;
    const auto db = filled_store(dir);

    auto missing = run_rote(dir, "--db " + db + " show 999");
    CHECK(missing.rc == 1);
    CHECK(missing.err.find("rote: error: no trace 999") != std::string::npos);

    auto bad_date = run_rote(dir, "--db " + db + " report --since last-week");
    CHECK(bad_date.rc == 2);
    CHECK(bad_date.err.find("is not a date") != std::string::npos);

    auto unknown = run_rote(dir, "frobnicate");
    CHECK(unknown.rc == 2);

    auto no_id = run_rote(dir, "show");
    CHECK(no_id.rc == 2);
    CHECK(no_id.err.find("TRACE_ID") != std::string::npos);

    fixture::write_file(dir / "notes.txt", fixture::bytes("shopping list\n"));
    auto foreign = run_rote(dir, "--db " + (dir / "notes.txt").string() + " list");
    CHECK(foreign.rc == 1);
    CHECK(foreign.err.find("not a rote store") != std::string::npos);
    CHECK(fixture::read_file(dir / "notes.txt") == fixture::bytes("shopping list\n"));

    fixture::write_file(dir / "bad.json", fixture::bytes("{\"format\": \"rote-trace\"}"));
    auto bad_import = run_rote(dir, "--db " + db + " import " + (dir / "bad.json").string());
    CHECK(bad_import.rc == 2);
    CHECK(bad_import.err.find("missing \"format_version\"") != std::string::npos);
}

TEST_CASE("a guest image built by another version of rote is listed as stale and never run")
{
    TempDir dir;
    const auto image = dir / "home" / "images" / "debian12";
    std::filesystem::create_directories(image);
    fixture::write_file(image / "image.json",
        fixture::bytes(R"({"built": "2026-11-01T00:00:00Z", "kernel": "6.1.0-1-amd64", "guest_files": "0123456789abcdef"})"));
    auto listed = run_rote(dir, "image list --json");
    REQUIRE_MESSAGE(listed.rc == 0, listed.err);
    auto images = nlohmann::json::parse(listed.out, nullptr, false);
    REQUIRE((images.is_array() && images.size() == 1));
    CHECK(images[0]["current"] == false);
    auto started = run_rote(dir, "sandbox start --provider qemu --url http://registry.example.test/");
    CHECK(started.rc == 1);
    CHECK_MESSAGE(started.err.find("was built by another version of rote") != std::string::npos, started.err);
    CHECK(started.err.find("rote image build") != std::string::npos);
}

TEST_CASE("--help lists exactly the subcommands that work")
{
    TempDir dir;
    auto help = run_rote(dir, "--help");
    REQUIRE(help.rc == 0);
    for (const char* cmd : {"version", "list", "show", "trace", "report", "traffic", "export", "import", "run", "demo", "sandbox", "image", "llm", "schedule", "scheduler"})
        CHECK(help.out.find(std::string("  ") + cmd) != std::string::npos);
    auto run_help = run_rote(dir, "run --help");
    REQUIRE(run_help.rc == 0);
    for (const char* option : {"--input", "--inputs", "--planner", "--route", "--teach", "--json", "--keep", "--image"})
        CHECK(run_help.out.find(option) != std::string::npos);
    // Without an image, the qemu provider says how to make one; --keep wants the qemu provider.
    auto no_image = run_rote(dir, "sandbox start --provider qemu --image " + (dir / "none").string());
    CHECK(no_image.rc == 1);
    CHECK(no_image.err.find("rote image build") != std::string::npos);
    auto images = run_rote(dir, "image list --json");
    CHECK(images.rc == 0);
    CHECK(images.out.find("[]") != std::string::npos);
    auto rm_missing = run_rote(dir, "image rm nothing-here");
    CHECK(rm_missing.rc == 1);
    CHECK(rm_missing.err.find("no image") != std::string::npos);
    // Wrong command lines and inputs exit 2 before any sandbox starts.
    auto unknown = run_rote(dir, "run no-such-workflow");
    CHECK(unknown.rc == 2);
    CHECK(unknown.err.find("no workflow file no-such-workflow") != std::string::npos);
    auto missing = run_rote(dir, "run registry-lookup");
    CHECK(missing.rc == 2);
    CHECK(missing.err.find("company") != std::string::npos);
    auto badly = run_rote(dir, "run registry-lookup -i company");
    CHECK(badly.rc == 2);
    CHECK(badly.err.find("--input must be NAME=VALUE") != std::string::npos);
    auto sandbox_help = run_rote(dir, "sandbox --help");
    REQUIRE(sandbox_help.rc == 0);
    for (const char* cmd : {"start", "list", "stop", "screenshot", "click", "type", "key", "view"})
        CHECK(sandbox_help.out.find(std::string("  ") + cmd) != std::string::npos);
    CHECK(sandbox_help.out.find("supervise") == std::string::npos); // internal: what `start` runs
    auto version = run_rote(dir, "version --json");
    REQUIRE(version.rc == 0);
    CHECK(json::parse(version.out)["store_schema"] == kSchemaVersion);
}

TEST_CASE("rote llm: the config file's prices and settings are in effect, and the key is never printed")
{
    TempDir dir;
    std::filesystem::create_directories(dir / "home");
    std::ofstream(dir / "home" / "config.yaml") << "llm:\n"
                                                   "  provider: openai\n"
                                                   "  max_attempts: 2\n"
                                                   "  prices:\n"
                                                   "    computer-use-preview: {output: 11.5}\n"
                                                   "    my-local-vl: {input: 0.1, output: 0.2}\n";
    auto prices = run_rote(dir, "llm prices --json");
    REQUIRE(prices.rc == 0);
    bool overridden = false;
    bool added = false;
    const json table = json::parse(prices.out); // kept: a range-for over a temporary's member would dangle
    for (const auto& row : table["prices"]) {
        if (row["model"] == "computer-use-preview") {
            overridden = row["output"] == 11'500'000 && row["input"] == 3'000'000 && row["source"] == "config";
        }
        if (row["model"] == "my-local-vl")
            added = row["input"] == 100'000 && row["output"] == 200'000;
        if (row["model"] == "claude-sonnet-4-5")
            CHECK(row["source"] == "built-in");
    }
    CHECK(overridden);
    CHECK(added);

    auto config = run_rote(dir, "llm config --json");
    REQUIRE(config.rc == 0);
    auto c = json::parse(config.out);
    CHECK(c["provider"] == "openai");
    CHECK(c["model"] == "computer-use-preview");
    CHECK(c["max_attempts"] == 2);
    CHECK(c["api_key_set"] == false);
    CHECK(c["price_per_mtok_microusd"]["output"] == 11'500'000);

    ::setenv("OPENAI_API_KEY", "sk-cli-secret-42", 1);
    auto with_key = run_rote(dir, "llm config");
    ::unsetenv("OPENAI_API_KEY");
    REQUIRE(with_key.rc == 0);
    CHECK(with_key.out.find("set (never shown)") != std::string::npos);
    CHECK(with_key.out.find("sk-cli-secret-42") == std::string::npos);
    CHECK(with_key.err.find("sk-cli-secret-42") == std::string::npos);
    auto as_anthropic = run_rote(dir, "llm config --provider anthropic --json");
    CHECK(json::parse(as_anthropic.out)["model"] == "claude-sonnet-4-5");

    std::ofstream(dir / "home" / "config.yaml") << "llm:\n  provider: openai\n  max_screen: huge\n";
    auto bad = run_rote(dir, "llm config");
    CHECK(bad.rc == 2);
    CHECK(bad.err.find("config.yaml:3: llm.max_screen must be WIDTHxHEIGHT") != std::string::npos);
    auto missing = run_rote(dir, "--config /nonexistent/rote.yaml llm prices");
    CHECK(missing.rc == 2);
    CHECK(missing.err.find("does not exist") != std::string::npos);
}
