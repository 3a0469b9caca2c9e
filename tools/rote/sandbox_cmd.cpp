// `rote sandbox ...`: start a sandbox that outlives the command (a supervisor process keeps it), list, drive
// and stop it. A supervisor's state is a JSON file in the runtime root, removed when it stops.

#include "sandbox_cmd.h"

#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <rote/base/files.h>
#include <rote/base/text.h>
#include <rote/desktop/desktop.h>
#include <rote/liveview/live_view.h>
#include <rote/sandbox/process.h>
#include <rote/session/session.h>
#include <rote/store/store.h>
#include <rote/vision/image.h>

#include "common.h"
#include "table.h"

namespace rote::cli {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

Result<fs::path> state_path(const std::string& id)
{
    if (!id.starts_with("sbx-") || id.find('/') != std::string::npos || id.size() > 40)
        return Error(Error::Code::invalid_argument, "'" + id + "' is not a sandbox id (see `rote sandbox list`)");
    return ROTE_TRY(runtime::runtime_root()) / (id + ".json");
}

// True while the supervisor runs: the pid is alive (not a zombie awaiting an init that reaps slowly) and is
// still a supervisor (not a reused pid).
bool pid_alive(pid_t pid)
{
    if (pid <= 0 || !runtime::process_running(pid))
        return false;
    std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return cmdline.find(std::string("sandbox\0supervise", 17)) != std::string::npos;
}

Result<json> read_state(const std::string& id)
{
    fs::path path = ROTE_TRY(state_path(id));
    std::ifstream in(path);
    if (!in)
        return Error(Error::Code::not_found, "no sandbox " + id + " (see `rote sandbox list`)");
    json state = json::parse(in, nullptr, false);
    if (state.is_discarded() || !state.contains("pid") || !state.contains("vnc"))
        return Error(Error::Code::corrupt, "sandbox state " + path.string() + " is unreadable");
    if (!pid_alive(state["pid"].get<pid_t>())) {
        std::error_code ec;
        fs::remove(path, ec); // its supervisor was killed: the sandbox went with it
        return Error(Error::Code::not_found, "sandbox " + id + " is no longer running");
    }
    return state;
}

Result<std::unique_ptr<runtime::Desktop>> connect_to(const std::string& id)
{
    json state = ROTE_TRY(read_state(id));
    auto endpoint = ROTE_TRY(runtime::VncEndpoint::parse(state["vnc"].get<std::string>()));
    return runtime::Desktop::connect(endpoint, runtime::desktop_options_for(state.value("provider", "local")));
}

// What the provider chose (the qemu provider: accelerator, image, ready state, restore time).
json details(runtime::Sandbox& sandbox)
{
    json out = json::object();
    for (const auto& [key, value] : sandbox.details())
        out[key] = value;
    return out;
}

json state_json(runtime::Session& session, const std::string& started)
{
    return json {{"id", session.sandbox().id()}, {"provider", session.sandbox().provider()}, {"pid", ::getpid()},
        {"vnc", session.sandbox().vnc().to_string()}, {"url", session.spec().start_url},
        {"allow", session.spec().allowlist}, {"routes", session.spec().routes},
        {"size", std::to_string(session.spec().width) + "x" + std::to_string(session.spec().height)},
        {"window", session.spec().window == runtime::BrowserWindow::app ? "app" : "normal"},
        {"proxy_log", session.proxy_log().string()}, {"started", started}, {"details", details(session.sandbox())}};
}

// The supervisor: starts the session, reports one JSON line on stdout (the state, or {"error": ...}), then
// keeps the sandbox until SIGTERM, SIGINT or SIGHUP, or until the sandbox dies on its own.
int supervise(const runtime::SessionSpec& spec)
{
    ::setsid(); // a terminal's Ctrl-C or hang-up is for the start command, not for us
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    for (int s : {SIGTERM, SIGINT, SIGHUP})
        sigaddset(&stop_signals, s);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr); // before any thread starts, so all inherit it

    auto session = runtime::Session::start(spec);
    if (!session) {
        // The kind travels too, so that `start` exits 2 for a bad argument (a malformed route) and 1 otherwise.
        bool usage = session.error().code() == Error::Code::invalid_argument;
        std::cout << json {{"error", session.error().message()}, {"usage", usage}}.dump() << std::endl;
        return kExitFailed;
    }
    auto path = state_path((*session)->sandbox().id());
    json state = state_json(**session, now_timestamp());
    // 0600: the state names the sandbox's URL, routes and sockets.
    if (auto written = write_file_atomically(*path, state.dump(2) + "\n", 0600); !written.ok()) {
        std::cout << json {{"error", written.error().message()}, {"usage", false}}.dump() << std::endl;
        return kExitFailed;
    }
    std::cout << state.dump() << std::endl;
    int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 1);
    ::dup2(null, 2);

    timespec tick {0, 300'000'000};
    while (true) {
        int signal = sigtimedwait(&stop_signals, nullptr, &tick);
        if (signal > 0 || !(*session)->sandbox().alive())
            break;
    }
    std::error_code ec;
    fs::remove(*path, ec);
    return (*session)->stop() ? 0 : kExitFailed;
}

int start(const runtime::SessionSpec& spec, bool as_json, bool verbose)
{
    // The supervisor is this same program, detached; we relay its first line and leave it running.
    json spec_json {{"url", spec.start_url}, {"allow", spec.allowlist}, {"routes", spec.routes}, {"width", spec.width},
        {"height", spec.height}, {"scale", spec.scale}, {"provider", spec.provider}, {"app", spec.window == runtime::BrowserWindow::app},
        {"image", spec.image.string()}, {"keep", spec.keep}};
    std::error_code ec;
    fs::path self = fs::read_symlink("/proc/self/exe", ec);
    if (ec)
        return fail(Error(Error::Code::io, "cannot find the rote executable: " + ec.message()));
    std::vector<std::string> args = {self.string(), "sandbox", "supervise", spec_json.dump()};
    if (verbose)
        args.insert(args.begin() + 1, "-v");
    // The supervisor runs sandboxes, never workflows: it needs where rote keeps its state, not its secrets.
    auto spawned = runtime::spawn_and_read_line(
        args, {"ROTE_HOME", "ROTE_RUNTIME_DIR", "XDG_RUNTIME_DIR", "HOME", "ROTE_QEMU_ACCEL"});
    if (!spawned)
        return fail(spawned.error().with_context("cannot start the supervisor"));
    pid_t pid = spawned->pid;
    const std::string& line = spawned->first_line;
    json state = json::parse(line, nullptr, false);
    if (state.is_discarded() || state.contains("error")) {
        ::waitpid(pid, nullptr, 0);
        std::string why
            = state.is_discarded() ? "the supervisor exited without a word" : state["error"].get<std::string>();
        bool usage = !state.is_discarded() && state.value("usage", false);
        return fail(Error(usage ? Error::Code::invalid_argument : Error::Code::io, "sandbox did not start: " + why));
    }
    if (as_json) {
        std::cout << state.dump(2) << "\n";
    } else {
        std::cout << state["id"].get<std::string>() << "  " << state["vnc"].get<std::string>() << "\n";
        std::cerr << "rote: sandbox running on " << state["url"].get<std::string>()
                  << "; stop it with `rote sandbox stop " << state["id"].get<std::string>() << "`\n";
    }
    return 0;
}

int list(bool as_json)
{
    auto root = runtime::runtime_root();
    if (!root)
        return fail(root.error());
    json all = json::array();
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(*root, ec)) {
        std::string name = entry.path().filename();
        if (!name.starts_with("sbx-") || entry.path().extension() != ".json")
            continue;
        auto state = read_state(entry.path().stem());
        if (state)
            all.push_back(*state);
    }
    if (as_json) {
        std::cout << all.dump(2) << "\n";
        return 0;
    }
    if (all.empty()) {
        std::cout << "No sandboxes running. Start one with `rote sandbox start --url URL`.\n";
        return 0;
    }
    Table table({"ID", "PROVIDER", "SIZE", "URL", "VNC", "STARTED"});
    for (const auto& s : all) {
        table.add({s["id"].get<std::string>(), s["provider"].get<std::string>(), s["size"].get<std::string>(),
            s["url"].get<std::string>(), s["vnc"].get<std::string>(), s["started"].get<std::string>()});
    }
    table.print(std::cout);
    return 0;
}

int stop(const std::string& id, bool as_json)
{
    auto state = read_state(id);
    if (!state)
        return fail(state.error());
    pid_t pid = (*state)["pid"].get<pid_t>();
    ::kill(pid, SIGTERM);
    // A kept VM is saved, not killed: its browser goes back to its waiting page first (half a minute under TCG).
    const bool kept = (*state).value("provider", "") == "qemu" && (*state)["details"].contains("kept");
    const auto limit = kept ? 300s : 15s;
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (pid_alive(pid) && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(20ms);
    bool forced = false;
    if (pid_alive(pid)) {
        ::kill(pid, SIGKILL); // its sandbox dies with it (die-with-parent) and the reaper clears the files
        forced = true;
    }
    std::error_code ec;
    fs::remove(*state_path(id), ec);
    if (as_json)
        std::cout << json {{"id", id}, {"stopped", true}, {"forced", forced}}.dump(2) << "\n";
    else
        std::cout << "stopped " << id
                  << (forced ? " (killed: it did not stop within " + std::to_string(limit.count()) + " s)" : "") << "\n";
    return 0;
}

int screenshot(const std::string& id, const std::string& file, bool as_json)
{
    auto desktop = connect_to(id);
    if (!desktop)
        return fail(desktop.error());
    auto frame = (*desktop)->wait_stable(200ms, 5s);
    if (!frame)
        frame = (*desktop)->screenshot(); // a page that never settles (an animation) still gets its picture
    if (!frame)
        return fail(frame.error());
    auto png = vision::encode_png(*frame);
    if (!png)
        return fail(png.error());
    if (auto written = write_file_atomically(
            file, std::string_view(reinterpret_cast<const char*>(png->data()), png->size()), 0644);
        !written.ok())
        return fail(written.error());
    if (as_json)
        std::cout << json {{"file", file}, {"width", frame->cols}, {"height", frame->rows}}.dump(2) << "\n";
    else
        std::cout << file << " (" << frame->cols << "x" << frame->rows << ")\n";
    return 0;
}

int act(const std::string& id, const std::function<Result<void>(runtime::Desktop&)>& action)
{
    auto desktop = connect_to(id);
    if (!desktop)
        return fail(desktop.error());
    if (auto done = action(**desktop); !done)
        return fail(done.error());
    return 0;
}

volatile std::sig_atomic_t g_view_stop = 0;

// The live view (runtime::LiveView: noVNC from websockify on 127.0.0.1, this view's token and Origin only, to
// rote's relay, which passes no input unless `control`). Runs until Ctrl-C or until the sandbox stops.
int view(const std::string& id, int port, bool control, bool as_json)
{
    // The view stays up for as long as a person watches: it runs with a minimal environment of its own, as
    // every helper does, not with the caller's (API keys, ROTE_SECRET_* values). Re-executed once so.
    if (std::getenv("ROTE_VIEW_ENVIRONMENT") == nullptr) {
        std::vector<std::string> environment = runtime::child_environment(
            {"HOME", "ROTE_HOME", "ROTE_RUNTIME_DIR", "XDG_RUNTIME_DIR", "TERM"});
        environment.push_back("ROTE_VIEW_ENVIRONMENT=minimal");
        std::vector<std::string> args = {"rote", "sandbox", "view", id, "--port", std::to_string(port)};
        if (control)
            args.push_back("--control");
        if (as_json)
            args.push_back("--json");
        std::vector<char*> argv, env;
        for (auto& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        for (auto& e : environment)
            env.push_back(e.data());
        env.push_back(nullptr);
        ::execve("/proc/self/exe", argv.data(), env.data());
        return fail(Error(Error::Code::io, std::string("cannot start the view: ") + std::strerror(errno)));
    }
    auto state = read_state(id);
    if (!state)
        return fail(state.error());
    auto endpoint = runtime::VncEndpoint::parse((*state)["vnc"].get<std::string>());
    if (!endpoint)
        return fail(endpoint.error());
    auto root = runtime::runtime_root();
    if (!root)
        return fail(root.error());
    auto view = runtime::LiveView::start({*endpoint, control ? runtime::ViewMode::control : runtime::ViewMode::view_only,
        port, *root, id, {}, std::nullopt});
    if (!view)
        return fail(view.error());
    const std::string& url = (*view)->url();
    if (as_json)
        std::cout << json {{"sandbox", id}, {"url", url}, {"port", port}, {"control", control}}.dump() << std::endl;
    else
        std::cout << "Live view of " << id << (control ? " (with control)" : " (view only; --control to drive it)") << ":\n  "
                  << url << "\n(127.0.0.1 only, this URL's token only; Ctrl-C ends the view, not the sandbox)" << std::endl;
    std::signal(SIGINT, [](int) { g_view_stop = 1; });
    std::signal(SIGTERM, [](int) { g_view_stop = 1; });
    std::string why;
    bool failed = false;
    while (!g_view_stop) {
        if (!read_state(id)) {
            why = "the sandbox stopped; the view is closed";
            break;
        }
        if (auto said = (*view)->exited()) {
            why = "websockify exited: " + *said;
            failed = true;
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    view->reset();
    if (!why.empty())
        std::cerr << "rote: " << why << "\n";
    return failed ? 1 : 0;
}

runtime::MouseButton parse_button(const std::string& name)
{
    if (name == "right")
        return runtime::MouseButton::right;
    if (name == "middle")
        return runtime::MouseButton::middle;
    return runtime::MouseButton::left;
}

} // namespace

SandboxCommands::SandboxCommands(CLI::App& app, bool& as_json)
    : m_as_json(as_json)
{
    m_root = app.add_subcommand("sandbox", "Start, drive and stop sandboxed desktops (a browser rote drives over VNC)");
    m_root->require_subcommand(1, 1);
    auto add_json = [&](CLI::App* sub) { sub->add_flag("--json", m_as_json, "Print the result as JSON"); };

    m_start = m_root->add_subcommand("start",
        "Start a sandbox in the background and print its id and VNC endpoint; it runs until `rote sandbox stop`");
    m_start->add_option("--url", m_spec.start_url, "The page the browser opens")->capture_default_str();
    m_start->add_option("--allow", m_spec.allowlist,
        "A host the sandbox may reach: a name or *.domain (repeatable; default: the start URL's host)");
    m_start->add_option("--route", m_routes,
        "HOST=ADDR:PORT: serve an allowed host from this address (repeatable), e.g. a local demo site");
    m_start->add_option("--size", m_size, "Screen size, WxH")->capture_default_str();
    m_start->add_option("--scale", m_spec.scale,
               "The browser's device scale factor, 0.5 to 3: 1.25 draws pages as a laptop set to 125% does (local only)")
        ->check(CLI::Range(0.5, 3.0))
        ->capture_default_str();
    m_start->add_flag("--app", m_app,
        "Show the page alone, without tabs or address bar (uses less memory; nothing to type a URL into)");
    m_start->add_option("--provider", m_spec.provider,
               "Sandbox provider: local (a bubblewrap container with its own Xvnc) or qemu (a VM restored from the "
               "image's ready state; build the image first with `rote image build`)")
        ->check(CLI::IsMember({"local", "qemu"}))
        ->capture_default_str();
    m_start->add_option("--image", m_spec.image, "qemu: the guest image's directory (default: the built one)");
    m_start->add_option("--keep", m_spec.keep,
        "qemu: a kept sandbox of this name: its disk and browser state survive `rote sandbox stop` and come back "
        "at the next start with the same name (default: a throw-away VM)");
    add_json(m_start);

    m_supervise = m_root->add_subcommand("supervise", "");
    m_supervise->group(""); // internal: the background process `start` launches
    m_supervise->add_option("SPEC", m_spec_json)->required();

    m_list = m_root->add_subcommand("list", "List running sandboxes");
    add_json(m_list);

    m_stop = m_root->add_subcommand("stop", "Stop a sandbox: every process in it ends and its files are removed");
    m_stop->add_option("ID", m_id, "The sandbox (from `rote sandbox list`)")->required();
    add_json(m_stop);

    m_screenshot = m_root->add_subcommand("screenshot", "Save the sandbox's screen as a PNG (once it is still)");
    m_screenshot->add_option("ID", m_id, "The sandbox")->required();
    m_screenshot->add_option("FILE", m_file, "The PNG file to write")->required();
    add_json(m_screenshot);

    m_click = m_root->add_subcommand("click", "Click at a screen point");
    m_click->add_option("ID", m_id, "The sandbox")->required();
    m_click->add_option("X", m_x, "Pixels from the left")->required();
    m_click->add_option("Y", m_y, "Pixels from the top")->required();
    m_click->add_option("--button", m_button, "left, right or middle")
        ->check(CLI::IsMember({"left", "right", "middle"}))
        ->capture_default_str();
    m_click->add_option("--count", m_count, "1 click, 2 double, 3 triple")
        ->check(CLI::Range(1, 3))
        ->capture_default_str();

    m_type = m_root->add_subcommand(
        "type", "Type text as key presses: any printable text, shifted characters included; a newline presses Return");
    m_type->add_option("ID", m_id, "The sandbox")->required();
    m_type->add_option("TEXT", m_text, "The text")->required();

    m_key = m_root->add_subcommand("key", "Press a key or combination: Return, ctrl+l, shift+Tab, ctrl+alt+Delete");
    m_key->add_option("ID", m_id, "The sandbox")->required();
    m_key->add_option("COMBO", m_text, "The key combination")->required();

    m_view = m_root->add_subcommand("view",
        "Serve a live view for a person (noVNC in a web browser, on 127.0.0.1, behind a random token and an Origin "
        "check; view only unless --control) and print its URL; runs until Ctrl-C or the sandbox stops");
    m_view->add_option("ID", m_id, "The sandbox")->required();
    m_view->add_option("--port", m_port, "Local port for the view")->check(CLI::Range(1, 65535))->capture_default_str();
    m_view->add_flag("--control", m_control, "Let the person at the view drive the desktop (default: view only)");
    m_view->add_flag("--json", m_as_json, "Print the view's URL as JSON");
}

bool SandboxCommands::parsed() const { return m_root->parsed(); }

int SandboxCommands::run(int verbosity)
{
    if (m_supervise->parsed()) {
        json spec = json::parse(m_spec_json, nullptr, false);
        if (spec.is_discarded())
            return fail(Error(Error::Code::invalid_argument, "supervise: the spec is not JSON"));
        runtime::SessionSpec s;
        s.start_url = spec.value("url", s.start_url);
        s.allowlist = spec.value("allow", s.allowlist);
        s.routes = spec.value("routes", s.routes);
        s.width = spec.value("width", s.width);
        s.height = spec.value("height", s.height);
        s.scale = spec.value("scale", s.scale);
        s.provider = spec.value("provider", s.provider);
        s.window = spec.value("app", false) ? runtime::BrowserWindow::app : runtime::BrowserWindow::normal;
        s.image = spec.value("image", std::string());
        s.keep = spec.value("keep", std::string());
        s.progress = [](const std::string& line) { std::cerr << "rote: " << line << std::endl; };
        return supervise(s);
    }
    if (m_start->parsed()) {
        int w = 0, h = 0;
        char x = 0;
        std::istringstream size(m_size);
        if (!(size >> w >> x >> h) || x != 'x' || !size.eof())
            return fail(Error(Error::Code::invalid_argument, "--size must be WxH, e.g. 1280x800"));
        m_spec.width = w;
        m_spec.height = h;
        m_spec.window = m_app ? runtime::BrowserWindow::app : runtime::BrowserWindow::normal;
        auto routes = parse_routes(m_routes);
        if (!routes.ok())
            return fail(routes.error());
        m_spec.routes = *routes;
        return start(m_spec, m_as_json, verbosity > 0);
    }
    if (m_list->parsed())
        return list(m_as_json);
    if (m_stop->parsed())
        return stop(m_id, m_as_json);
    if (m_screenshot->parsed())
        return screenshot(m_id, m_file, m_as_json);
    if (m_click->parsed()) {
        return act(m_id, [&](runtime::Desktop& d) -> Result<void> {
            if (m_x < 0 || m_y < 0 || m_x >= d.width() || m_y >= d.height()) {
                return Error(Error::Code::invalid_argument,
                    "(" + std::to_string(m_x) + ", " + std::to_string(m_y) + ") is off the " + std::to_string(d.width())
                        + "x" + std::to_string(d.height()) + " screen");
            }
            return d.click({m_x, m_y}, parse_button(m_button), m_count);
        });
    }
    if (m_type->parsed())
        return act(m_id, [&](runtime::Desktop& d) { return d.type(m_text); });
    if (m_key->parsed())
        return act(m_id, [&](runtime::Desktop& d) { return d.key(m_text); });
    if (m_view->parsed())
        return view(m_id, m_port, m_control, m_as_json);
    return kExitUsage;
}

} // namespace rote::cli
