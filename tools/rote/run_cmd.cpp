// rote run and rote demo: workflows in sandboxes, taught once and replayed; rote mcp and rote serve: the
// same runs for other programs.

#include "run_cmd.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <iostream>
#include <set>
#include <sstream>
#include <thread>


#include <rote/agent/agent.h>
#include <rote/agent/human.h>
#include <rote/agent/workflow.h>
#include <rote/base/files.h>
#include <rote/base/paths.h>
#include <rote/base/text.h>
#include <rote/base/token.h>
#include <rote/liveview/live_view.h>
#include <rote/llm/provider.h>
#include <rote/sandbox/sandbox.h>
#include <rote/server/json.h>
#include <rote/server/http.h>
#include <rote/server/mcp.h>

#include "builtin_workflows.h"
#include "sites.h"

namespace rote::cli {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string builtin_names()
{
    std::string out;
    for (const auto& [name, _] : kBuiltinWorkflows)
        out += (out.empty() ? "" : ", ") + std::string(name);
    return out;
}

// Every workflow `find_workflow` would find by name, once each (the first found of a name wins, as there):
// ./workflows/*.yaml, $ROTE_HOME/workflows/*.yaml, then the built-in ones. A malformed file is an error.
Result<std::vector<runtime::Workflow>> all_workflows()
{
    std::vector<runtime::Workflow> found;
    std::set<std::string> names;
    std::vector<fs::path> dirs {fs::current_path() / "workflows"};
    if (auto home = rote_home(); home.ok())
        dirs.push_back(*home / "workflows");
    for (const auto& dir : dirs) {
        std::error_code ec;
        if (!fs::is_directory(dir, ec))
            continue;
        std::vector<fs::path> files;
        for (const auto& entry : fs::directory_iterator(dir, ec)) {
            if (entry.is_regular_file() && entry.path().extension() == ".yaml")
                files.push_back(entry.path());
        }
        std::sort(files.begin(), files.end());
        for (const auto& file : files) {
            auto w = ROTE_TRY(runtime::load_workflow(file));
            if (names.insert(w.name).second)
                found.push_back(std::move(w));
        }
    }
    for (const auto& [name, text] : kBuiltinWorkflows) {
        if (names.contains(std::string(name)))
            continue;
        names.insert(std::string(name));
        found.push_back(ROTE_TRY(runtime::parse_workflow(text, "built-in " + std::string(name) + ".yaml")));
    }
    return found;
}

// One line that says how a run went.
std::string summary(const runtime::RunResult& r)
{
    std::string line = "run " + std::to_string(r.run_id) + " " + std::string(store::to_string(r.status)) + " in "
        + seconds(r.wall_ms) + ": ";
    if (r.mode == "api") {
        line += "API plan " + std::to_string(r.plan_id.value_or(0)) + ", " + std::to_string(r.steps) + " requests, "
            + dollars(0);
        for (const auto& [name, value] : r.outputs)
            line += "\n    " + name + " = " + value;
        if (!r.error.empty())
            line += "\n    error: " + r.error;
        return line;
    }
    if (!r.mode_why.empty())
        line += "(" + r.mode_why + ") ";
    if (r.trace_id)
        line += std::to_string(r.replayed + r.relocated) + " steps replayed (" + std::to_string(r.relocated)
            + " relocated), ";
    line += std::to_string(r.planned) + " planned, " + std::to_string(r.planner_calls) + " planner calls, "
        + dollars(r.cost_microusd);
    if (r.new_trace_id)
        line += r.trace_id ? ", trace repaired (new trace " + std::to_string(*r.new_trace_id) + ")"
                           : ", trace " + std::to_string(*r.new_trace_id) + " recorded";
    for (const auto& [name, value] : r.outputs)
        line += "\n    " + name + " = " + value;
    if (!r.error.empty())
        line += "\n    error: " + r.error;
    return line;
}

// The demo hosts' routes to the demo sites served on loopback.
std::map<std::string, std::string> demo_routes(const demo::SiteServers& sites)
{
    return {{"registry.example.test", "127.0.0.1:" + std::to_string(sites.registry_port())},
        {"crm.example.test", "127.0.0.1:" + std::to_string(sites.crm_port())}};
}

// The model for --planner llm, from the config in effect, wired into `options`; `model` keeps it alive.
Result<void> use_model(const Globals& g, runtime::RunOptions& options, std::unique_ptr<llm::LlmProvider>& model)
{
    auto config = ROTE_TRY(load_llm(g, ""));
    model = ROTE_TRY(llm::make_provider(config));
    options.planner = runtime::PlannerKind::llm;
    options.llm = model.get();
    return {};
}

} // namespace

// A workflow file by path; or by name: workflows/NAME.yaml here, then in $ROTE_HOME/workflows, then the
// examples built into rote.
Result<runtime::Workflow> find_workflow(const std::string& arg)
{
    if (fs::exists(arg))
        return runtime::load_workflow(arg);
    if (arg.find('/') == std::string::npos) {
        std::vector<fs::path> dirs {fs::current_path() / "workflows"};
        if (auto home = rote_home(); home.ok())
            dirs.push_back(*home / "workflows");
        for (const auto& dir : dirs) {
            for (const std::string& file : {arg, arg + ".yaml"}) {
                if (fs::is_regular_file(dir / file))
                    return runtime::load_workflow(dir / file);
            }
        }
        for (const auto& [name, text] : kBuiltinWorkflows) {
            if (arg == name || arg == std::string(name) + ".yaml")
                return runtime::parse_workflow(text, "built-in " + std::string(name) + ".yaml");
        }
    }
    return Error(Error::Code::invalid_argument,
        "no workflow file " + arg + " (a path, or a name found in ./workflows, $ROTE_HOME/workflows or built in: "
            + builtin_names() + ")");
}

// KEY=VALUE options as a map.
Result<std::map<std::string, std::string>> parse_assignments(const std::vector<std::string>& items)
{
    std::map<std::string, std::string> out;
    for (const auto& item : items) {
        const size_t eq = item.find('=');
        if (eq == std::string::npos || eq == 0)
            return Error(Error::Code::invalid_argument, "--input must be NAME=VALUE, not '" + item.substr(0, 40) + "'");
        out[item.substr(0, eq)] = item.substr(eq + 1);
    }
    return out;
}

Result<std::vector<std::map<std::string, std::string>>> input_rows(
    const std::vector<std::string>& assignments, const std::string& csv_path)
{
    const auto constant = ROTE_TRY(parse_assignments(assignments));
    if (csv_path.empty())
        return std::vector<std::map<std::string, std::string>> {constant};
    auto rows = ROTE_TRY(runtime::read_inputs_csv(csv_path));
    for (auto& row : rows)
        row.insert(constant.begin(), constant.end());
    return rows;
}

namespace {

// A person at a live view with control, as the human planner has them (rote teach; rote run --planner
// human): the view opens on the run's desktop when the run needs the person and closes when it no longer
// does. Done is the page's Done or a line on standard input; Cancel is the page's Cancel, SIGINT, SIGTERM or
// the end of standard input.
class Showing {
public:
    Showing(const runtime::Workflow& workflow, const runtime::RunInputs& inputs, fs::path dir, int port, bool as_json)
        : m_workflow(workflow)
        , m_inputs(inputs)
        , m_dir(std::move(dir))
        , m_port(port)
        , m_as_json(as_json)
    {
        sigset_t stop_signals;
        sigemptyset(&stop_signals);
        sigaddset(&stop_signals, SIGINT);
        sigaddset(&stop_signals, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr); // before the run's threads: all inherit it
        m_done_reader = std::thread([this] { read_done(); });
        m_signal_waiter = std::thread([this, stop_signals] {
            const timespec tick {0, 200'000'000};
            while (!m_over) {
                if (const int signal = ::sigtimedwait(&stop_signals, nullptr, &tick); signal > 0) {
                    if (m_fallback && !m_opened) {
                        // Nobody has been asked yet (--ask): an interrupt ends the run, as without a view.
                        std::cerr << "rote: interrupted\n";
                        std::_Exit(128 + signal);
                    }
                    std::cerr << "rote: cancelled\n";
                    m_cancelled = true;
                    m_human.finish(false);
                }
            }
        });
    }
    ~Showing() { end(); }
    Showing(const Showing&) = delete;
    Showing& operator=(const Showing&) = delete;

    // As the run's planner, or (`fallback`) as the one who takes over where it cannot go on (RunOptions::ask).
    void wire(runtime::RunOptions& options, bool fallback = false)
    {
        m_fallback = fallback;
        if (fallback)
            options.ask = true;
        else
            options.planner = runtime::PlannerKind::human;
        options.human = &m_human;
        options.desktop = [this](const runtime::VncEndpoint* endpoint) {
            std::lock_guard lock(m_mutex);
            m_endpoint = endpoint ? std::optional(*endpoint) : std::nullopt;
            if (!endpoint)
                m_view.reset();
        };
        options.person = [this](bool needed) { needed ? open() : close(); };
    }

    // A question for the person, in the terminal, once they are done showing: their answer's line (without
    // its end). Standard input's end, Ctrl-C or SIGTERM cancel: an error.
    Result<std::string> ask(const std::string& question)
    {
        m_asking = true; // the Done reader stops reading lines: they are answers now
        if (m_done_reader.joinable())
            m_done_reader.join();
        std::cerr << question << std::flush;
        std::string line;
        while (!m_cancelled) {
            pollfd in {STDIN_FILENO, POLLIN, 0};
            if (::poll(&in, 1, 200) <= 0)
                continue;
            char c = 0;
            const ssize_t n = ::read(STDIN_FILENO, &c, 1);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return Error(Error::Code::cancelled, "standard input ended before the question was answered: cancelled");
            if (c == '\n')
                return line;
            line += c;
        }
        return Error(Error::Code::cancelled, "cancelled");
    }

    // The run is over: the view closes and the threads that listen for Done and Cancel end.
    void end()
    {
        m_over = true;
        if (m_done_reader.joinable())
            m_done_reader.join();
        if (m_signal_waiter.joinable())
            m_signal_waiter.join();
        close();
    }

private:
    void open()
    {
        std::lock_guard lock(m_mutex);
        if (m_view || !m_endpoint)
            return;
        auto bar = runtime::ViewBar::of_run(m_workflow.goal, m_inputs.values, m_inputs.secrets);
        bar.on_end = [this](bool done) {
            if (!done)
                std::cerr << "rote: cancelled on the view's page\n";
            m_human.finish(done);
        };
        auto started = runtime::LiveView::start({*m_endpoint, runtime::ViewMode::control, m_port, m_dir, "person",
            [this](const InputEvent& e) { m_human.observe(e); }, std::move(bar)});
        if (!started.ok()) {
            std::cerr << "rote: cannot open the live view: " << started.error().message() << "\n";
            m_human.finish(false);
            return;
        }
        m_view = std::move(*started);
        m_opened = true;
        if (m_as_json) {
            std::cout << json {{"url", m_view->url()}, {"port", m_view->port()}}.dump() << std::endl;
            return;
        }
        std::string values;
        for (const auto& [name, value] : m_inputs.values)
            values += "\n    " + name + " = " + value;
        for (const auto& [name, _] : m_inputs.secrets)
            values += "\n    " + name + ": a secret (" + runtime::secret_variable(name) + "): type it yourself";
        std::cout << "Show the task in this live view (127.0.0.1 only, this URL's token only):\n  " << m_view->url()
                  << "\nThe task: " << m_workflow.goal << (values.empty() ? "" : "\n  with" + values)
                  << "\nPress Done on the page (or Enter here) when it is done; Cancel (or Ctrl-C) keeps nothing."
                  << std::endl;
    }

    void close()
    {
        std::lock_guard lock(m_mutex);
        if (m_view && !m_as_json)
            std::cout << "The live view is closed: rote goes on." << std::endl;
        m_view.reset();
    }

    void read_done()
    {
        while (!m_over && !m_asking) {
            pollfd in {STDIN_FILENO, POLLIN, 0};
            if (::poll(&in, 1, 200) <= 0)
                continue;
            char buffer[256];
            const ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
            if (n < 0 && errno == EINTR)
                continue;
            if (n > 0 && std::memchr(buffer, '\n', static_cast<size_t>(n)) == nullptr)
                continue;
            if (m_fallback && !m_opened) {
                // Nobody has been asked yet (--ask): a line is nobody's Done, and with no input left (a job
                // runner's) the person can still repair a divergence, which needs no Done.
                if (n <= 0)
                    return;
                continue;
            }
            if (n <= 0)
                std::cerr << "rote: standard input ended: cancelled\n";
            m_human.finish(n > 0);
            return;
        }
    }

    const runtime::Workflow& m_workflow;
    const runtime::RunInputs& m_inputs;
    fs::path m_dir;
    int m_port = 0;
    bool m_as_json = false;
    runtime::HumanInput m_human;
    std::atomic<bool> m_fallback {false}; // --ask: the person only where the run's planner cannot go on
    std::atomic<bool> m_opened {false}; // the view has been opened for the person
    std::mutex m_mutex; // guards the endpoint and the view
    std::optional<runtime::VncEndpoint> m_endpoint;
    std::unique_ptr<runtime::LiveView> m_view;
    std::atomic<bool> m_over {false};
    std::atomic<bool> m_asking {false}; // standard input's lines answer ask()
    std::atomic<bool> m_cancelled {false}; // by a signal
    std::thread m_done_reader, m_signal_waiter;
};

// The workflow file teaching adds inputs to, and its text: the workflow's own file, or for a built-in
// workflow a copy in $ROTE_HOME/workflows (found before the built-in one from then on).
Result<std::pair<fs::path, std::string>> workflow_source(const runtime::Workflow& w)
{
    for (const auto& [name, text] : kBuiltinWorkflows) {
        if (w.file == "built-in " + std::string(name) + ".yaml")
            return std::pair {ROTE_TRY(rote_home()) / "workflows" / (std::string(name) + ".yaml"), std::string(text)};
    }
    std::ifstream in(w.file, std::ios::binary);
    std::stringstream text;
    if (!(in && text << in.rdbuf()))
        return Error(Error::Code::io, w.file.string() + ": cannot be read");
    return std::pair {w.file, text.str()};
}

// rote teach, once the task is shown: each typed value no input names is offered to the person, in the
// terminal (`yes`: all are taken, under the names proposed); those taken are added to the workflow's file
// as inputs whose default is the value typed, so that runs may leave them out and type what was shown.
// `written`: the file, when one was.
Result<std::map<std::string, std::string>> name_typed_values(const std::vector<recorder::ProposedInput>& proposed,
    const runtime::Workflow& w, bool yes, Showing& showing, fs::path& written)
{
    std::map<std::string, std::string> named; // name → value
    std::vector<runtime::InputSpec> added;
    const auto taken = [&](const std::string& name) { return w.input(name) != nullptr || named.contains(name); };
    for (const auto& p : proposed) {
        std::string name = p.name;
        for (int n = 2; taken(name); ++n)
            name = p.name + "_" + std::to_string(n);
        if (!yes) {
            std::string question = "\nYou typed \"" + p.value + "\"" + (p.field.empty() ? "" : " into \"" + p.field + "\"")
                + ", which no input of " + w.name + " names.\nMake it an input, so that each run can type its own "
                "value (what you typed is its default)?\n  Enter: yes, as " + name
                + "; n: no, every run types it as you did; or another name: ";
            for (;;) {
                std::string answer = ROTE_TRY(showing.ask(question));
                answer.erase(0, answer.find_first_not_of(" \t\r"));
                answer.erase(answer.find_last_not_of(" \t\r") + 1);
                if (answer.empty() || answer == "y" || answer == "yes")
                    break;
                if (answer == "n" || answer == "no") {
                    name.clear();
                    break;
                }
                if (!runtime::valid_input_name(answer))
                    question = "  " + answer + " is no input name (lower-case letters, digits and _); another: ";
                else if (taken(answer))
                    question = "  " + w.name + " has an input " + answer + " already; another: ";
                else {
                    name = answer;
                    break;
                }
            }
        }
        if (name.empty())
            continue;
        named[name] = p.value;
        runtime::InputSpec spec;
        spec.name = name;
        spec.description = "Typed" + (p.field.empty() ? std::string() : " into \"" + p.field + "\"") + " when the task was shown";
        spec.default_value = p.value;
        added.push_back(std::move(spec));
    }
    if (added.empty())
        return named;
    auto [file, text] = ROTE_TRY(workflow_source(w));
    const auto updated = ROTE_TRY(runtime::with_inputs_added(text, added, "added by rote teach: values typed while showing the task", file));
    std::error_code ec;
    fs::create_directories(file.parent_path(), ec);
    const auto mode = fs::exists(file) ? static_cast<mode_t>(fs::status(file).permissions() & fs::perms::all) : mode_t {0644};
    ROTE_TRY(write_file_atomically(file, updated, mode));
    for (const auto& in : added)
        std::cerr << "rote: input " << in.name << " (default \"" << *in.default_value << "\") added to " << file.string() << "\n";
    written = file;
    return named;
}

} // namespace

RunCommands::RunCommands(CLI::App& app, bool& as_json)
    : m_as_json(as_json)
{
    m_run = app.add_subcommand("run",
        "Run a workflow in a fresh sandbox: the first successful run is taught by the planner and recorded as a "
        "trace; later runs replay the trace with vision checks and call the planner only where the screen "
        "diverged, writing a repaired trace version");
    m_run->add_option("WORKFLOW", m_workflow,
             "A workflow file, or a name: ./workflows/NAME.yaml, $ROTE_HOME/workflows/NAME.yaml, or built in ("
                 + builtin_names() + ")")
        ->required();
    m_run->add_option("-i,--input", m_inputs,
        "NAME=VALUE for one input (repeatable). A secret input not given is read from ROTE_SECRET_<NAME>");
    m_run->add_option("--inputs", m_inputs_csv,
        "A CSV file whose first row names inputs: one run per row, each in a fresh sandbox (--input values apply "
        "to every row)");
    m_run->add_option("--planner", m_planner,
              "Who decides where there is no trace or the screen diverged: the workflow's step hints, the "
              "model (rote llm config), or a person (human: a live view's URL is printed when the run needs them, "
              "and what they do becomes the repair; one run at a time)")
        ->check(CLI::IsMember({"hints", "llm", "human"}))
        ->capture_default_str();
    m_run->add_option("--mode", m_mode,
              "How the work is done: auto (the workflow's proved API plan when it has one, else the GUI; the GUI "
              "also where a plan that only reads could not reach the site or found an answer it did not expect), "
              "api (the proved plan only), gui (the trace in a sandbox). docs/api.md")
        ->check(CLI::IsMember({"auto", "api", "gui"}))
        ->capture_default_str();
    m_run->add_flag("--ask", m_ask,
        "Where the hints or the model cannot go on (no hint for the step, a hint that finds nothing, a model that "
        "gives up or is over budget), ask a person instead of failing: a live view's URL is printed and what they "
        "do becomes the repair, as with --planner human (one run at a time)");
    m_run->add_option("--provider", m_provider,
               "Sandbox provider (default: the workflow's): local, or qemu for a VM (`rote image build` first)")
        ->check(CLI::IsMember({"local", "qemu"}));
    m_run->add_option("--image", m_image, "qemu: the guest image's directory (default: the built one)");
    m_run->add_option("--keep", m_keep,
        "qemu: run in the kept sandbox of this name, made on first use: its files and browser profile survive "
        "between runs (default: a fresh VM each run)");
    m_run->add_option("--route", m_routes, "HOST=ADDR:PORT: serve an allowed host from this address (repeatable)");
    m_run->add_option("--ca-file", m_ca_file,
        "A CA (PEM) that sites' certificates may chain to beside the system's (a company's own): for the egress "
        "proxy, which opens HTTPS to capture it, and for API plans")->check(CLI::ExistingFile);
    m_run->add_flag("--teach", m_teach, "Teach afresh even if a trace exists (older versions are kept)");
    m_run->add_flag("--json", m_as_json, "Print the runs as JSON");

    m_teach_cmd = app.add_subcommand("teach",
        "Teach a workflow by showing it: starts its sandbox and prints a live view page's URL (127.0.0.1, with "
        "control; a bar names the task and the inputs to type); do the task there once, then press Done on the page "
        "(or Enter here). Each click, drag, scroll, typed text (corrections applied) "
        "and key becomes a trace step, recorded as a planner's would be; the trace is kept only if the success "
        "check and the outputs hold. Typed input values become {{name}}, a secret's {{secret:name}}; each other typed "
        "value is offered as a new input here (the workflow's file gets it, with the value as its default). Cancel on the "
        "page, Ctrl-C or the end of standard input cancels and keeps nothing (docs/teach.md)");
    m_teach_cmd->add_option("WORKFLOW", m_workflow, "A workflow file, or a name (as for rote run)")->required();
    m_teach_cmd->add_option("-i,--input", m_inputs,
        "NAME=VALUE for one input (repeatable): the values to type while showing. A secret input not given is read "
        "from ROTE_SECRET_<NAME>, and typed by the person, never shown");
    m_teach_cmd->add_option("--provider", m_provider, "Sandbox provider (default: the workflow's): local or qemu")
        ->check(CLI::IsMember({"local", "qemu"}));
    m_teach_cmd->add_option("--image", m_image, "qemu: the guest image's directory (default: the built one)");
    m_teach_cmd->add_option("--route", m_routes, "HOST=ADDR:PORT: serve an allowed host from this address (repeatable)");
    m_teach_cmd->add_option("--port", m_view_port, "The live view's port on 127.0.0.1 (default: a free one)")
        ->check(CLI::Range(0, 65535));
    m_teach_cmd->add_flag("--verify", m_verify,
        "Replay the new trace at once in a fresh sandbox for the same inputs; fail unless it replays with no "
        "planner call");
    m_teach_cmd->add_flag("--yes", m_yes,
        "Make every typed value that no input names a new input, under the name proposed, without asking (the "
        "workflow's file gets it, with the value typed as its default)");
    m_teach_cmd->add_flag("--json", m_as_json, "Print the view's URL, then the run, as JSON lines");

    m_mcp = app.add_subcommand("mcp",
        "Serve workflows as tools over the Model Context Protocol on standard input and output (revision 2026-07-28, "
        "and 2025-11-25/06-18/03-26 by initialize): one tool per workflow, called like `rote run`, with progress per "
        "step, cancellation, and the outputs as structured content; plus rote_workflows and rote_cost_report. "
        "Secret inputs come from ROTE_SECRET_<NAME> in the server's environment, never from a call");
    add_serving_options(m_mcp);

    m_serve = app.add_subcommand("serve",
        "Serve workflows over an HTTP API on loopback: POST /v1/runs queues a run, GET /v1/runs/{id} and its "
        "server-sent /events follow it step by step, DELETE cancels it, POST /view opens a live view of its "
        "desktop; /v1/workflows, /v1/report and /v1/openapi.json (docs/http.md). Every request needs the bearer token kept in --token-file (made, 0600, at "
        "first start). Runs at most --concurrency sandboxes at once; the rest wait in order. Ctrl-C or SIGTERM "
        "stops the running runs (stored cancelled) and exits");
    add_serving_options(m_serve);
    m_serve->add_option("--listen", m_listen,
                "ADDR:PORT to listen on (PORT 0: any free one): a loopback address, or any other with --tls-cert and "
                "--tls-key (the token never crosses a network in clear text)")
        ->capture_default_str();
    auto* cert = m_serve->add_option("--tls-cert", m_tls_cert, "Serve HTTPS with this PEM certificate (chain)")
        ->check(CLI::ExistingFile);
    auto* key = m_serve->add_option("--tls-key", m_tls_key, "... and this PEM private key")->check(CLI::ExistingFile);
    cert->needs(key);
    key->needs(cert);
    m_serve->add_option("--concurrency", m_concurrency, "Runs at once (each a sandbox: a browser's memory)")
        ->check(CLI::Range(1, 64))
        ->capture_default_str();
    m_serve->add_option("--token-file", m_token_file,
        "The file holding the bearer token (default: $ROTE_HOME/serve.token; made 0600 when missing, refused when "
        "others may read it)");

    m_demo = app.add_subcommand("demo",
        "The whole idea in a few minutes, offline: serves the demo company registry, teaches registry-lookup once "
        "with step hints, replays it for three companies, changes the site (moved, banner, renamed) and replays "
        "again, then prints the report. Uses a fresh store in a temporary directory unless --db is given");
    m_demo->add_option("--planner", m_planner, "hints (offline), or llm (needs a model: rote llm config)")
        ->check(CLI::IsMember({"hints", "llm"}))
        ->capture_default_str();
}

void RunCommands::add_serving_options(CLI::App* cmd)
{
    cmd->add_option("-w,--workflow", m_workflows,
        "Serve this workflow (a file or a name, repeatable; default: every one in ./workflows, "
        "$ROTE_HOME/workflows and built in)");
    cmd->add_option("--planner", m_planner, "Who decides where the screen diverged: hints, or llm")
        ->check(CLI::IsMember({"hints", "llm"}))
        ->capture_default_str();
    cmd->add_option("--provider", m_provider, "Sandbox provider (default: each workflow's)")
        ->check(CLI::IsMember({"local", "qemu"}));
    cmd->add_option("--image", m_image, "qemu: the guest image's directory (default: the built one)");
    cmd->add_option("--route", m_routes, "HOST=ADDR:PORT: serve an allowed host from this address (repeatable)");
}

bool RunCommands::parsed() const
{
    return m_run->parsed() || m_teach_cmd->parsed() || m_demo->parsed() || m_mcp->parsed() || m_serve->parsed();
}

int RunCommands::run(const Globals& g)
{
    if (m_mcp->parsed())
        return mcp(g);
    if (m_serve->parsed())
        return serve(g);
    if (m_teach_cmd->parsed())
        return teach(g);
    return m_run->parsed() ? run_workflow_cmd(g) : demo(g);
}

Result<void> RunCommands::serving(const Globals& g, std::vector<runtime::Workflow>& workflows,
    runtime::RunOptions& run, std::unique_ptr<llm::LlmProvider>& model)
{
    if (m_workflows.empty())
        workflows = ROTE_TRY(all_workflows());
    for (const auto& name : m_workflows)
        workflows.push_back(ROTE_TRY(find_workflow(name)));
    run.routes = ROTE_TRY(parse_routes(m_routes));
    run.planner = m_planner == "llm" ? runtime::PlannerKind::llm : runtime::PlannerKind::hints;
    run.provider = m_provider;
    run.image = m_image;
    if (run.planner == runtime::PlannerKind::llm) {
        if (auto used = use_model(g, run, model); !used.ok())
            return used.error().with_context("the llm planner");
    }
    return {};
}

int RunCommands::mcp(const Globals& g)
{
    server::McpOptions options;
    std::unique_ptr<llm::LlmProvider> model;
    if (auto ready = serving(g, options.workflows, options.run, model); !ready.ok())
        return fail(ready.error());
    options.open_store = [&g] { return open_store(g); };
    options.open_store_to_read = [&g] { return open_store_to_read(g); };
    options.version = ROTE_VERSION_STRING;
    // Standard output carries the protocol and nothing else: whatever a library or a child process would
    // print there goes to standard error instead.
    const int protocol = ::dup(STDOUT_FILENO);
    if (protocol < 0 || ::dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
        return fail(Error(Error::Code::io, "cannot set standard output aside for the protocol"));
    bool lost = false;
    auto send = [protocol, &lost](const std::string& message) {
        std::string line = message + "\n";
        std::size_t sent = 0;
        while (sent < line.size() && !lost) {
            const ssize_t n = ::write(protocol, line.data() + sent, line.size() - sent);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                lost = true; // the client is gone; reading its end of the pipe ends the server
            else
                sent += static_cast<std::size_t>(n);
        }
    };
    std::cerr << "rote mcp: serving " << options.workflows.size() << " workflow tools on standard input and output\n";
    {
        server::McpServer server(std::move(options), send);
        server.serve(std::cin);
    }
    ::close(protocol);
    return 0;
}

int RunCommands::serve(const Globals& g)
{
    server::HttpOptions options;
    std::unique_ptr<llm::LlmProvider> model;
    if (auto ready = serving(g, options.workflows, options.run, model); !ready.ok())
        return fail(ready.error());
    const auto colon = m_listen.rfind(':');
    if (colon == std::string::npos || colon == 0)
        return fail(Error(Error::Code::invalid_argument, "--listen wants ADDR:PORT, not '" + m_listen + "'"));
    options.host = m_listen.substr(0, colon);
    if (options.host.size() > 2 && options.host.front() == '[' && options.host.back() == ']')
        options.host = options.host.substr(1, options.host.size() - 2);
    try {
        std::size_t used = 0;
        options.port = std::stoi(m_listen.substr(colon + 1), &used);
        if (used != m_listen.size() - colon - 1 || options.port < 0 || options.port > 65535)
            throw std::out_of_range("port");
    } catch (const std::exception&) {
        return fail(Error(Error::Code::invalid_argument, "--listen: '" + m_listen.substr(colon + 1) + "' is not a port"));
    }
    options.tls_cert = m_tls_cert;
    options.tls_key = m_tls_key;
    auto token_file = token_path(m_token_file, "serve.token");
    if (!token_file.ok())
        return fail(token_file.error());
    auto token = token_in_file(*token_file);
    if (!token.ok())
        return fail(token.error());
    options.token = *token;
    options.concurrency = m_concurrency;
    options.open_store = [&g] { return open_store(g); };
    options.open_store_to_read = [&g] { return open_store_to_read(g); };
    options.version = ROTE_VERSION_STRING;
    // Live views of running runs keep their token files and relay sockets beside the sandboxes' own.
    auto views = runtime::runtime_root();
    if (!views.ok())
        return fail(views.error().with_context("the live views' directory"));
    options.view_dir = *views;
    // SIGINT and SIGTERM are taken by this thread alone (every thread started from here on blocks them).
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    auto server = server::HttpServer::start(std::move(options));
    if (!server.ok())
        return fail(server.error());
    // One line for whoever started it (a script reads where to connect); never the token itself.
    std::cout << json {{"url", (*server)->url()}, {"token_file", fs::absolute(*token_file).string()},
                     {"openapi", (*server)->url() + "/v1/openapi.json"}}
                     .dump()
              << std::endl;
    std::cerr << "rote serve: listening on " << (*server)->url() << " (bearer token in " << token_file->string()
              << "); Ctrl-C stops\n";
    int signal = 0;
    sigwait(&stop_signals, &signal);
    std::cerr << "rote serve: " << (signal == SIGTERM ? "SIGTERM" : "interrupted")
              << ": stopping the running runs\n";
    (*server)->stop();
    return 0;
}

int RunCommands::run_workflow_cmd(const Globals& g)
{
    auto workflow = find_workflow(m_workflow);
    if (!workflow.ok())
        return fail(workflow.error());
    auto given = input_rows(m_inputs, m_inputs_csv);
    if (!given.ok())
        return fail(given.error());
    auto& rows = *given;
    // Every row is checked before the first sandbox starts: a typo in row 40 should not cost 39 runs.
    std::vector<runtime::RunInputs> checked;
    for (size_t r = 0; r < rows.size(); ++r) {
        runtime::secrets_from_environment(*workflow, rows[r]);
        auto inputs = runtime::check_inputs(*workflow, rows[r]);
        if (!inputs.ok())
            return fail(m_inputs_csv.empty()
                    ? inputs.error()
                    : inputs.error().with_context(m_inputs_csv + ": row " + std::to_string(r + 2)));
        checked.push_back(std::move(*inputs));
    }
    // A host that cannot run the local sandbox is said once, not once a row, and before any run is stored.
    auto routes = routes_for(*workflow);
    if (!routes.ok())
        return fail(routes.error());
    auto s = open_store(g);
    if (!s.ok())
        return fail(s.error());

    runtime::RunOptions options;
    options.planner = m_planner == "llm" ? runtime::PlannerKind::llm : runtime::PlannerKind::hints;
    options.provider = m_provider;
    options.image = m_image;
    options.keep = m_keep;
    options.routes = *routes;
    options.ca_file = m_ca_file;
    options.teach = m_teach;
    options.mode = *runtime::parse_run_mode(m_mode); // CLI11 checked it
    std::optional<Showing> showing;
    if (m_ask && m_planner == "human")
        return fail(Error(Error::Code::invalid_argument,
            "--ask hands to a person what the hints or the model cannot do; with --planner human a person is the "
            "planner already: use one or the other"));
    if (m_planner == "human" || m_ask) {
        if (checked.size() != 1)
            return fail(Error(Error::Code::invalid_argument, std::string(m_ask ? "--ask" : "--planner human")
                    + " shows one run at a time, not a CSV's rows"));
        auto root = runtime::runtime_root();
        if (!root.ok())
            return fail(root.error());
        showing.emplace(*workflow, checked.front(), *root, 0, m_as_json);
        showing->wire(options, m_planner != "human");
    }
    std::unique_ptr<llm::LlmProvider> model;
    if (options.planner == runtime::PlannerKind::llm) {
        if (auto used = use_model(g, options, model); !used.ok())
            return fail(used.error().with_context("the llm planner"));
    }
    const bool many = checked.size() > 1;
    if (!m_as_json && (!many || g.verbosity > 0))
        options.progress = [](const std::string& line) { std::cerr << "  " << line << "\n"; };

    json all = json::array();
    int failed = 0;
    for (size_t r = 0; r < checked.size(); ++r) {
        if (m_teach && r > 0)
            options.teach = false; // teach once, then replay what was taught
        auto result = runtime::run_workflow(**s, *workflow, checked[r], options);
        if (showing)
            showing->end();
        if (!result.ok())
            return fail(result.error());
        failed += result->status != store::RunStatus::succeeded;
        if (m_as_json) {
            all.push_back(server::run_json(*workflow, checked[r], *result));
            continue;
        }
        std::cout << (many ? "[" + std::to_string(r + 1) + "/" + std::to_string(checked.size()) + "] " : "")
                  << summary(*result) << std::endl;
    }
    if (m_as_json)
        print_json({{"runs", all}, {"failed", failed}});
    else if (many)
        std::cout << checked.size() - static_cast<size_t>(failed) << " of " << checked.size() << " runs succeeded\n";
    return failed == 0 ? 0 : kExitFailed;
}

Result<std::map<std::string, std::string>> RunCommands::routes_for(const runtime::Workflow& workflow) const
{
    auto routes = ROTE_TRY(parse_routes(m_routes));
    if ((m_provider.empty() ? workflow.provider : m_provider) == "local")
        ROTE_TRY(runtime::check_local_sandbox());
    return routes;
}

int RunCommands::teach(const Globals& g)
{
    auto workflow = find_workflow(m_workflow);
    if (!workflow.ok())
        return fail(workflow.error());
    auto given = parse_assignments(m_inputs);
    if (!given.ok())
        return fail(given.error());
    runtime::secrets_from_environment(*workflow, *given);
    auto inputs = runtime::check_inputs(*workflow, *given);
    if (!inputs.ok())
        return fail(inputs.error());
    auto routes = routes_for(*workflow);
    if (!routes.ok())
        return fail(routes.error());
    auto root = runtime::runtime_root();
    if (!root.ok())
        return fail(root.error());
    auto s = open_store(g);
    if (!s.ok())
        return fail(s.error());

    runtime::RunOptions options;
    options.provider = m_provider;
    options.image = m_image;
    options.routes = *routes;
    options.teach = true;
    if (!m_as_json)
        options.progress = [](const std::string& line) { std::cerr << "  " << line << "\n"; };
    Showing showing(*workflow, *inputs, *root, m_view_port, m_as_json);
    showing.wire(options);
    fs::path rewritten; // the workflow's file, when typed values became inputs
    options.name_inputs = [&](const std::vector<recorder::ProposedInput>& proposed) {
        return name_typed_values(proposed, *workflow, m_yes, showing, rewritten);
    };
    auto result = runtime::run_workflow(**s, *workflow, *inputs, options);
    showing.end();
    if (!result.ok())
        return fail(result.error());
    if (m_as_json) {
        auto printed = server::run_json(*workflow, *inputs, *result);
        printed["new_inputs"] = result->new_inputs;
        printed["workflow_file"] = rewritten.empty() ? json(nullptr) : json(rewritten.string());
        std::cout << printed.dump() << std::endl;
    } else {
        std::cout << summary(*result) << std::endl;
    }
    if (result->status != store::RunStatus::succeeded)
        return kExitFailed;
    if (!m_verify)
        return 0;
    if (!rewritten.empty()) {
        // The trace types the new inputs: the workflow as it is now has them, with the values shown as defaults.
        workflow = runtime::load_workflow(rewritten);
        if (workflow.ok())
            inputs = runtime::check_inputs(*workflow, *given);
        if (!workflow.ok() || !inputs.ok())
            return fail(workflow.ok() ? inputs.error() : workflow.error());
    }
    runtime::RunOptions again;
    again.provider = m_provider;
    again.image = m_image;
    again.routes = *routes;
    if (!m_as_json)
        again.progress = options.progress;
    // A check, not a repair: the first planner call would be over budget, so a divergence fails the run.
    runtime::Workflow strict = *workflow;
    strict.policy.max_planner_calls = 0;
    auto verified = runtime::run_workflow(**s, strict, *inputs, again);
    if (!verified.ok())
        return fail(verified.error());
    const bool replayed = verified->status == store::RunStatus::succeeded && verified->planner_calls == 0;
    if (m_as_json)
        std::cout << json {{"verify", server::run_json(*workflow, *inputs, *verified)}, {"verified", replayed}}.dump()
                  << std::endl;
    else
        std::cout << (replayed ? "verified: " : "NOT verified (it must replay with no planner call): ")
                  << summary(*verified) << std::endl;
    return replayed ? 0 : kExitFailed;
}

int RunCommands::demo(const Globals& given)
{
    Globals g = given;
    if (g.db.empty()) {
        std::string dir = (fs::temp_directory_path() / "rote-demo-XXXXXX").string();
        if (::mkdtemp(dir.data()) == nullptr)
            return fail(Error(Error::Code::io, "cannot make a temporary directory for the demo's store"));
        g.db = (fs::path(dir) / "rote.db").string();
    }
    auto workflow = find_workflow("registry-lookup");
    if (!workflow.ok())
        return fail(workflow.error());
    if (auto usable = runtime::check_local_sandbox(); !usable.ok())
        return fail(usable.error());
    auto s = open_store(g);
    if (!s.ok())
        return fail(s.error());
    runtime::RunOptions options;
    std::unique_ptr<llm::LlmProvider> model;
    if (m_planner == "llm") {
        if (auto used = use_model(g, options, model); !used.ok())
            return fail(used.error().with_context(
                "rote demo --planner llm needs a model (set ANTHROPIC_API_KEY; see rote llm config)"));
    }
    if (g.verbosity > 0)
        options.progress = [](const std::string& line) { std::cerr << "      " << line << "\n"; };
    const std::string since = now_timestamp();

    struct Stage {
        demo::Variant variant;
        const char* title;
        std::vector<const char*> companies;
    };
    const std::vector<Stage> stages {
        {demo::Variant::baseline,
            m_planner == "llm" ? "1. Teach registry-lookup once: the model drives the browser, rote records a trace"
                               : "1. Teach registry-lookup once: the step hints drive the browser, rote records a trace",
            {"Acme Robotics Ltd"}},
        {demo::Variant::baseline, "2. Replay the trace for three other companies: no planner at all",
            {"Northwind Traders Ltd", "Globex Corporation Ltd", "Initech Software Ltd"}},
        {demo::Variant::moved, "3. The site moves its fields and buttons: vision finds them again", {"Hooli Cloud Ltd"}},
        {demo::Variant::banner,
            "4. A cookie banner appears: the planner handles only that, the trace is repaired, the next run needs no "
            "planner",
            {"Stark Logistics Ltd", "Wayne Foods Ltd"}},
        {demo::Variant::renamed, "5. The site renames its labels: the same, for the steps that diverged",
            {"Umbrella Analytics plc", "Soylent Nutrition Ltd"}},
    };
    std::cout << "rote demo: the company registry runs on 127.0.0.1; each run gets a fresh sandboxed desktop "
                 "with Chromium.\nStore: "
              << g.db << "\n";
    int failed = 0;
    for (const auto& stage : stages) {
        demo::SiteOptions site_options;
        site_options.variant = stage.variant;
        demo::SiteServers sites(site_options);
        if (!sites.ok())
            return fail(Error(Error::Code::io, "cannot serve the demo sites on 127.0.0.1"));
        options.routes = demo_routes(sites);
        std::cout << "\n" << stage.title << " [site: " << demo::to_string(stage.variant) << "]\n";
        for (const char* company : stage.companies) {
            auto inputs = runtime::check_inputs(*workflow, {{"company", company}});
            if (!inputs.ok())
                return fail(inputs.error());
            std::cout << "  " << company << " ... " << std::flush;
            auto result = runtime::run_workflow(**s, *workflow, *inputs, options);
            if (!result.ok())
                return fail(result.error());
            failed += result->status != store::RunStatus::succeeded;
            std::cout << summary(*result) << std::endl;
        }
    }
    std::cout << "\n";
    const int report = cmd_report(g, std::string("registry-lookup"), since, false);
    std::cout << "\nSee the traces with: rote --db " << g.db << " list   (and rote --db " << g.db
              << " show TRACE_ID)\n";
    if (failed > 0)
        std::cout << failed << " run(s) failed: see the errors above.\n";
    return failed > 0 ? kExitFailed : report;
}

} // namespace rote::cli
