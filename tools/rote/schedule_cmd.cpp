#include "schedule_cmd.h"

#include <algorithm>
#include <csignal>
#include <iostream>
#include <thread>

#include <rote/agent/workflow.h>
#include <rote/base/paths.h>
#include <rote/base/text.h>
#include <rote/base/token.h>
#include <rote/llm/provider.h>
#include <rote/scheduler/cron.h>
#include <rote/scheduler/scheduler.h>

#include "run_cmd.h"
#include "table.h"

namespace rote::cli {

namespace {

using nlohmann::json;
using namespace std::chrono;

Error invalid(std::string message) { return Error(Error::Code::invalid_argument, std::move(message)); }

// "90", "90s", "15m", "2h", "1d" as seconds.
Result<std::int64_t> parse_duration(const std::string& text)
{
    std::size_t used = 0;
    long long n = -1;
    try {
        n = std::stoll(text, &used);
    } catch (const std::exception&) {
    }
    const std::string unit = text.substr(used);
    const std::int64_t scale = unit.empty() || unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : unit == "d" ? 86400 : 0;
    if (n < 0 || scale == 0 || n > 365LL * 86400)
        return invalid("--catchup takes a duration such as 90s, 15m, 2h or 1d, not \"" + text + "\"");
    return n * scale;
}

json schedule_json(const store::Schedule& s, const std::optional<sys_seconds>& next)
{
    json rows = json::array();
    for (const auto& r : s.rows)
        rows.push_back(r);
    return {{"name", s.name}, {"workflow", s.workflow}, {"cron", s.cron}, {"zone", s.zone}, {"rows", rows},
        {"planner", s.planner}, {"overlap", store::to_string(s.overlap)}, {"catchup_seconds", s.catchup_seconds},
        {"pause_after", s.pause_after}, {"paused", s.paused}, {"paused_why", s.paused_why}, {"from", s.from},
        {"created_at", s.created_at},
        {"budget_usd", s.budget_microusd ? json(static_cast<double>(*s.budget_microusd) / 1e6) : json(nullptr)},
        {"budget_calls", s.budget_calls ? json(*s.budget_calls) : json(nullptr)}, {"alert_webhook", s.alert_webhook},
        {"alert_command", s.alert_command}, {"next_fire", next ? json(scheduler::iso_utc(*next)) : json(nullptr)}};
}

json fire_json(const store::Fire& f)
{
    return {{"id", f.id}, {"scheduled_at", f.scheduled_at}, {"status", store::to_string(f.status)},
        {"started_at", f.started_at}, {"finished_at", f.finished_at ? json(*f.finished_at) : json(nullptr)},
        {"detail", f.detail}, {"runs", f.runs}, {"failed_runs", f.failed_runs}};
}

// The schedule's cron and zone, parsed; the stored text is checked again, as the scheduler would.
struct When {
    scheduler::Cron cron;
    scheduler::Zone zone;
};
Result<When> when_of(const std::string& cron, const std::string& zone)
{
    auto c = ROTE_TRY(scheduler::parse_cron(cron));
    auto z = ROTE_TRY(scheduler::Zone::find(zone));
    return When {std::move(c), std::move(z)};
}

std::optional<sys_seconds> next_after(const store::Schedule& s, sys_seconds t)
{
    auto w = when_of(s.cron, s.zone);
    if (!w.ok() || s.paused)
        return std::nullopt;
    return scheduler::next_fire(w->cron, w->zone, t);
}

sys_seconds now_seconds() { return floor<std::chrono::seconds>(system_clock::now()); }

volatile std::sig_atomic_t g_signals = 0;
void on_signal(int) { g_signals = g_signals + 1; }

} // namespace

// The store opened to read, and the schedule NAME in it.
struct Named {
    std::unique_ptr<store::Store> store;
    store::Schedule schedule;
};
Result<Named> read_named(const Globals& g, const std::string& name)
{
    auto s = ROTE_TRY(open_store_to_read(g));
    auto schedule = ROTE_TRY(s->get_schedule(name));
    return Named {std::move(s), std::move(schedule)};
}

ScheduleCommands::ScheduleCommands(CLI::App& app, bool& as_json)
    : m_as_json(as_json)
{
    m_root = app.add_subcommand("schedule",
        "Workflows on a schedule: add one (a cron expression in a time zone, rows of inputs), list, show, see its "
        "next fire times, pause, resume, remove, and its fires' history. `rote scheduler` fires them");
    m_root->require_subcommand(1, 1);
    const auto json_flag = [&](CLI::App* sub) { sub->add_flag("--json", m_as_json, "Print the result as JSON"); };
    const auto name_arg = [&](CLI::App* sub) {
        sub->add_option("NAME", m_name, "The schedule's name (see rote schedule list)")->required();
    };

    m_add = m_root->add_subcommand("add",
        "Add a schedule: WORKFLOW runs once per row of inputs at every fire of --cron, read in --tz");
    m_add->add_option("NAME", m_name, "Its name: letters, digits, '.', '_', '-'")->required();
    m_add->add_option("WORKFLOW", m_workflow, "A workflow name or file, as for rote run")->required();
    m_add->add_option("--cron", m_cron,
              "When: five fields (minute hour day-of-month month day-of-week; ranges A-B, steps */N, lists, names "
              "MON-FRI, JAN), six with seconds first (\"*/30 * * * * *\": every 30 s), or @hourly, @daily, @weekly, "
              "@monthly, @yearly. \"0 9 * * MON-FRI\": weekdays at 09:00")
        ->required();
    m_add->add_option("--tz", m_zone,
             "The IANA time zone the fields are read in (Europe/London); a time the clocks skip fires when they "
             "change, a time they repeat fires once")
        ->capture_default_str();
    m_add->add_option("-i,--input", m_inputs, "NAME=VALUE for every row (repeatable); secret inputs are never stored: "
                                              "each fire reads ROTE_SECRET_<NAME> from the scheduler's environment");
    m_add->add_option("--inputs", m_inputs_csv, "A CSV file whose first row names inputs: each fire runs every row");
    m_add->add_option("--planner", m_planner, "Who decides where a screen diverged: hints, or llm")
        ->check(CLI::IsMember({"hints", "llm"}))
        ->capture_default_str();
    m_add->add_option("--overlap", m_overlap,
             "A fire due while one of this schedule's runs: skip it, buffer-one (run the newest when it ends), or "
             "allow (run beside it)")
        ->check(CLI::IsMember({"skip", "buffer-one", "allow"}))
        ->capture_default_str();
    m_add->add_option("--catchup", m_catchup,
             "Fires missed (no scheduler running) by less than this run once when a scheduler comes; older ones are "
             "recorded as missed (90s, 15m, 2h, 1d)")
        ->capture_default_str();
    m_add->add_option("--pause-after", m_pause_after, "Pause the schedule after this many failed fires in a row (0: never)")
        ->check(CLI::Range(0, 1000))
        ->capture_default_str();
    m_add->add_option("--budget-usd", m_budget_usd,
        "Model dollars a day (the day in --tz) for all its runs; once spent, its runs replay only and a row that would "
        "need the model fails")->check(CLI::Range(0.0, 1e6));
    m_add->add_option("--budget-calls", m_budget_calls, "Model calls a day, likewise")->check(CLI::Range(0, 1000000));
    m_add->add_option("--alert-webhook", m_alert_webhook,
        "An http(s) URL POSTed a JSON document, signed (X-Rote-Signature: HMAC-SHA256 with the scheduler's alert key), "
        "when a fire fails, needs the planner, is missed, or spends the budget");
    m_add->add_option("--alert-command", m_alert_command,
        "A shell command run with that document on its stdin (ROTE_ALERT_EVENT names the event), on the same events");
    json_flag(m_add);

    m_list = m_root->add_subcommand("list", "Every schedule: its workflow, when, its next fire, paused or not");
    json_flag(m_list);
    m_show = m_root->add_subcommand("show", "A schedule: its settings, its next fires and its last fires");
    name_arg(m_show);
    json_flag(m_show);
    m_next = m_root->add_subcommand("next", "A schedule's next fire times, in UTC and its own zone");
    name_arg(m_next);
    m_next->add_option("N", m_count, "How many")->check(CLI::Range(1, 1000))->capture_default_str();
    json_flag(m_next);
    m_pause = m_root->add_subcommand("pause", "Stop a schedule firing (its running fire finishes)");
    name_arg(m_pause);
    m_pause->add_option("--why", m_why, "Why, kept with it")->capture_default_str();
    json_flag(m_pause);
    m_resume = m_root->add_subcommand("resume", "Let a paused schedule fire again, from now on (fires passed while "
                                                "paused are not run)");
    name_arg(m_resume);
    json_flag(m_resume);
    m_rm = m_root->add_subcommand("rm", "Remove a schedule and its fires' history (its runs stay in the report)");
    name_arg(m_rm);
    json_flag(m_rm);
    m_runs = m_root->add_subcommand("runs", "A schedule's fires, newest first: when, how each ended, its runs");
    name_arg(m_runs);
    m_runs->add_option("--limit", m_count, "How many fires")->check(CLI::Range(1, 100000));
    json_flag(m_runs);

    m_scheduler = app.add_subcommand("scheduler",
        "Fire the schedules: runs in the foreground, logging to stderr, until SIGTERM or Ctrl-C. A fire runs its rows "
        "one after another (one sandbox each), as rote run would. Each fire is claimed in the store first, so it "
        "starts once however many schedulers share the store. The first SIGTERM drains: no new fire or row starts, "
        "the running runs finish (or, after --drain-timeout, are cancelled); the fire is then marked interrupted. "
        "A second SIGTERM cancels at once");
    m_scheduler->add_flag("--once", m_once,
        "Fire what is due now (within each schedule's catch-up window), wait for it, and exit: for cron-style hosts. "
        "Exit 1 when a fire failed");
    m_scheduler->add_option("--concurrency", m_concurrency, "Fires at once (each runs one sandbox at a time)")
        ->check(CLI::Range(1, 64))
        ->capture_default_str();
    m_scheduler->add_option("--per-site", m_per_site,
                    "Fires at once whose workflows start on the same host (0: only --concurrency bounds them); a fire "
                    "over it waits, within its catch-up window")
        ->check(CLI::Range(0, 64))
        ->capture_default_str();
    m_scheduler->add_option("--pool", m_pool,
                    "Sandboxes kept started per active schedule's workflow (local provider), so a fire's runs do not "
                    "wait for one to start; each holds a browser's memory. Drained on stop")
        ->check(CLI::Range(0, 16))
        ->capture_default_str();
    m_scheduler->add_option("--provider", m_provider, "Sandbox provider (default: each workflow's)")
        ->check(CLI::IsMember({"local", "qemu"}));
    m_scheduler->add_option("--image", m_image, "qemu: the guest image's directory (default: the built one)");
    m_scheduler->add_option("--route", m_routes, "HOST=ADDR:PORT: serve an allowed host from this address (repeatable)");
    m_scheduler->add_option("--alert-key-file", m_alert_key_file,
        "The key that signs webhook alerts (default: $ROTE_HOME/alert.key; made 0600 when missing; give it to the "
        "receiver)");
    m_scheduler->add_option("--drain-timeout", m_drain_seconds,
                    "On SIGTERM, seconds to let running runs finish before cancelling them")
        ->check(CLI::Range(0, 86400))
        ->capture_default_str();
}

bool ScheduleCommands::parsed() const { return m_root->parsed() || m_scheduler->parsed(); }

int ScheduleCommands::run(const Globals& g)
{
    if (m_scheduler->parsed())
        return scheduler(g);
    if (m_add->parsed())
        return add(g);
    if (m_list->parsed())
        return list(g);
    if (m_show->parsed())
        return show(g);
    if (m_next->parsed())
        return next(g);
    if (m_pause->parsed() || m_resume->parsed())
        return pause_or_resume(g, m_pause->parsed());
    if (m_rm->parsed())
        return remove(g);
    return runs(g);
}

int ScheduleCommands::add(const Globals& g)
{
    auto when = when_of(m_cron, m_zone);
    if (!when.ok())
        return fail(when.error());
    if (!scheduler::next_fire(when->cron, when->zone, now_seconds()))
        return fail(invalid("--cron \"" + m_cron + "\" never fires (no such day within nine years)"));
    auto catchup = parse_duration(m_catchup);
    if (!catchup.ok())
        return fail(catchup.error());
    auto workflow = find_workflow(m_workflow);
    if (!workflow.ok())
        return fail(workflow.error());
    auto given = input_rows(m_inputs, m_inputs_csv);
    if (!given.ok())
        return fail(given.error());
    const auto& rows = *given;
    // Every row is checked now (a typo found at 09:00 tomorrow is a failed fire); a secret is never stored:
    // each fire reads it from the scheduler's environment.
    for (size_t r = 0; r < rows.size(); ++r) {
        const std::string where = m_inputs_csv.empty() ? std::string("the inputs") : m_inputs_csv + ": row " + std::to_string(r + 2);
        auto check = rows[r];
        for (const auto& spec : workflow->inputs) {
            if (spec.type != runtime::InputType::secret)
                continue;
            if (rows[r].contains(spec.name))
                return fail(invalid(where + " gives the secret input " + spec.name
                    + ": a schedule never stores a secret; the scheduler reads " + runtime::secret_variable(spec.name)));
            check[spec.name] = "(read at each fire)";
        }
        if (auto checked = runtime::check_inputs(*workflow, check); !checked.ok())
            return fail(checked.error().with_context(where));
    }
    auto s = open_store(g);
    if (!s.ok())
        return fail(s.error());
    auto known = (*s)->list_workflows();
    if (!known.ok())
        return fail(known.error());
    const bool stored = std::any_of(known->begin(), known->end(), [&](const auto& w) { return w.name == workflow->name; });
    if (!stored) {
        if (auto put = (*s)->put_workflow({workflow->name, workflow->goal, ""}); !put.ok())
            return fail(put.error());
    }
    store::Schedule schedule;
    schedule.name = m_name;
    schedule.workflow = workflow->name;
    schedule.cron = m_cron;
    schedule.zone = m_zone;
    schedule.rows = rows;
    schedule.planner = m_planner;
    schedule.overlap = *store::parse_overlap(m_overlap);
    schedule.catchup_seconds = *catchup;
    schedule.pause_after = m_pause_after;
    if (m_budget_usd)
        schedule.budget_microusd = static_cast<std::int64_t>(*m_budget_usd * 1e6 + 0.5);
    schedule.budget_calls = m_budget_calls;
    schedule.alert_webhook = m_alert_webhook;
    schedule.alert_command = m_alert_command;
    if (auto id = (*s)->add_schedule(schedule); !id.ok())
        return fail(id.error());
    auto added = (*s)->get_schedule(m_name);
    if (!added.ok())
        return fail(added.error());
    const auto first = next_after(*added, now_seconds());
    if (m_as_json) {
        print_json(schedule_json(*added, first));
        return 0;
    }
    std::cout << "schedule " << m_name << ": " << workflow->name << " for " << rows.size() << " row(s) at \"" << m_cron
              << "\" in " << m_zone << "; first fire " << (first ? scheduler::iso_utc(*first) + " (" + when->zone.local_text(*first) + ")" : "-")
              << "\nIt fires while `rote scheduler` runs (or at each `rote scheduler --once`).\n";
    return 0;
}

int ScheduleCommands::list(const Globals& g)
{
    auto s = open_store_to_read(g);
    if (!s.ok())
        return fail(s.error());
    auto all = (*s)->list_schedules();
    if (!all.ok())
        return fail(all.error());
    const auto now = now_seconds();
    if (m_as_json) {
        json out = json::array();
        for (const auto& sc : *all)
            out.push_back(schedule_json(sc, next_after(sc, now)));
        print_json({{"schedules", out}});
        return 0;
    }
    if (all->empty()) {
        std::cout << "No schedules (rote schedule add NAME WORKFLOW --cron EXPR).\n";
        return 0;
    }
    Table table({"SCHEDULE", "WORKFLOW", "CRON", "ZONE", "ROWS", "NEXT FIRE (UTC)", "STATE"});
    for (const auto& sc : *all) {
        const auto next = next_after(sc, now);
        table.add({sc.name, sc.workflow, sc.cron, sc.zone, std::to_string(sc.rows.size()),
            next ? scheduler::iso_utc(*next) : "-", sc.paused ? "paused: " + sc.paused_why : "active"});
    }
    table.print(std::cout);
    return 0;
}

int ScheduleCommands::show(const Globals& g)
{
    auto named = read_named(g, m_name);
    if (!named.ok())
        return fail(named.error());
    const auto* sc = &named->schedule;
    auto fires = named->store->fires(m_name, 10);
    if (!fires.ok())
        return fail(fires.error());
    const auto next = next_after(*sc, now_seconds());
    if (m_as_json) {
        json recent = json::array();
        for (const auto& f : *fires)
            recent.push_back(fire_json(f));
        auto out = schedule_json(*sc, next);
        out["fires"] = recent;
        print_json(out);
        return 0;
    }
    std::cout << "schedule " << sc->name << "\n  workflow     " << sc->workflow << "\n  cron         " << sc->cron << " in "
              << sc->zone << "\n  rows         " << sc->rows.size() << "\n  planner      " << sc->planner
              << "\n  overlap      " << store::to_string(sc->overlap) << "\n  catch-up     " << sc->catchup_seconds
              << " s\n  pause after  " << sc->pause_after << " failed fires in a row\n  state        "
              << (sc->paused ? "paused: " + sc->paused_why : std::string("active")) << "\n  next fire    "
              << (next ? scheduler::iso_utc(*next) : "-") << "\n";
    if (!fires->empty()) {
        std::cout << "\n";
        Table table({"FIRE (UTC)", "STATUS", "RUNS", "FAILED", "DETAIL"});
        for (const auto& f : *fires)
            table.add({f.scheduled_at, std::string(store::to_string(f.status)), std::to_string(f.runs.size()),
                std::to_string(f.failed_runs), f.detail});
        table.print(std::cout);
    }
    return 0;
}

int ScheduleCommands::next(const Globals& g)
{
    auto named = read_named(g, m_name);
    if (!named.ok())
        return fail(named.error());
    const auto* sc = &named->schedule;
    auto when = when_of(sc->cron, sc->zone);
    if (!when.ok())
        return fail(when.error().with_context("schedule " + sc->name));
    json out = json::array();
    auto t = now_seconds();
    for (int i = 0; i < m_count; ++i) {
        auto n = scheduler::next_fire(when->cron, when->zone, t);
        if (!n)
            break;
        t = *n;
        if (m_as_json)
            out.push_back({{"utc", scheduler::iso_utc(t)}, {"local", when->zone.local_text(t)}});
        else
            std::cout << scheduler::iso_utc(t) << "  " << when->zone.local_text(t) << "\n";
    }
    if (m_as_json)
        print_json({{"schedule", sc->name}, {"paused", sc->paused}, {"next", out}});
    else if (sc->paused)
        std::cout << "(paused: it fires at these times only once resumed)\n";
    return 0;
}

int ScheduleCommands::pause_or_resume(const Globals& g, bool pause)
{
    auto s = open_store(g);
    if (!s.ok())
        return fail(s.error());
    auto after = (*s)->set_schedule_paused(m_name, pause, pause ? (m_why.empty() ? "paused by hand" : m_why) : "");
    if (!after.ok())
        return fail(after.error());
    const auto next = next_after(*after, now_seconds());
    if (m_as_json)
        print_json(schedule_json(*after, next));
    else
        std::cout << "schedule " << m_name << (pause ? " paused" : " resumed; next fire " + (next ? scheduler::iso_utc(*next) : std::string("-")))
                  << "\n";
    return 0;
}

int ScheduleCommands::remove(const Globals& g)
{
    auto s = open_store(g);
    if (!s.ok())
        return fail(s.error());
    if (auto removed = (*s)->remove_schedule(m_name); !removed.ok())
        return fail(removed.error());
    if (m_as_json)
        print_json({{"removed", m_name}});
    else
        std::cout << "schedule " << m_name << " removed\n";
    return 0;
}

int ScheduleCommands::runs(const Globals& g)
{
    auto s = open_store_to_read(g);
    if (!s.ok())
        return fail(s.error());
    auto fires = (*s)->fires(m_name, m_count > 5 ? m_count : 50);
    if (!fires.ok())
        return fail(fires.error());
    if (m_as_json) {
        json out = json::array();
        for (const auto& f : *fires)
            out.push_back(fire_json(f));
        print_json({{"schedule", m_name}, {"fires", out}});
        return 0;
    }
    if (fires->empty()) {
        std::cout << "schedule " << m_name << " has not fired yet\n";
        return 0;
    }
    Table table({"FIRE (UTC)", "STATUS", "STARTED", "FINISHED", "RUNS", "FAILED", "DETAIL"});
    for (const auto& f : *fires) {
        std::string ids;
        for (auto id : f.runs)
            ids += (ids.empty() ? "#" : " #") + std::to_string(id);
        table.add({f.scheduled_at, std::string(store::to_string(f.status)), f.started_at, f.finished_at.value_or("-"),
            ids.empty() ? "-" : ids, std::to_string(f.failed_runs), f.detail});
    }
    table.print(std::cout);
    return 0;
}

int ScheduleCommands::scheduler(const Globals& g)
{
    auto routes = parse_routes(m_routes);
    if (!routes.ok())
        return fail(routes.error());
    auto s = open_store(g); // creates the file, and ends fires and runs of schedulers that died
    if (!s.ok())
        return fail(s.error());
    const auto path = (*s)->path();
    s->reset();

    scheduler::SchedulerOptions options;
    options.store_path = path;
    options.concurrency = m_concurrency;
    options.per_site = m_per_site;
    options.pool_size = m_pool;
    options.find_workflow = [](const std::string& name) { return find_workflow(name); };
    options.run.provider = m_provider;
    options.run.image = m_image;
    options.run.routes = *routes;
    options.log = [](const std::string& line) { std::cerr << now_timestamp() << " " << line << std::endl; };
    // The model, for schedules whose planner is llm; without one their fires fail saying so (and why here).
    std::unique_ptr<llm::LlmProvider> model;
    auto config = load_llm(g, "");
    auto made = config.ok() ? llm::make_provider(*config) : Result<std::unique_ptr<llm::LlmProvider>>(config.error());
    if (made.ok())
        model = std::move(*made);
    else
        options.log("no model for schedules whose planner is llm: " + made.error().message());
    options.llm = model.get();
    auto key_file = token_path(m_alert_key_file, "alert.key");
    if (!key_file.ok())
        return fail(key_file.error());
    auto key = token_in_file(*key_file);
    if (!key.ok())
        return fail(key.error().with_context("the alert key"));
    scheduler::AlertOptions alert_options;
    alert_options.key = *key;
    alert_options.log = options.log;
    scheduler::Alerter alerts(alert_options);
    options.alerts = &alerts;
    scheduler::Scheduler sched(options);

    std::signal(SIGTERM, on_signal);
    std::signal(SIGINT, on_signal);
    options.log(std::string("scheduler started (store ") + path.string() + ", " + std::to_string(m_concurrency)
        + " fire(s) at once" + (m_once ? ", once" : "") + ")");
    int handled = 0;
    std::optional<steady_clock::time_point> drain_deadline;
    while (true) {
        if (g_signals > handled) {
            handled = g_signals;
            const bool cancel = handled > 1 || m_drain_seconds == 0;
            sched.drain(cancel);
            if (!drain_deadline)
                drain_deadline = steady_clock::now() + std::chrono::seconds(m_drain_seconds);
            options.log(cancel ? "stopping: running runs are cancelled" : "draining: no new fire or run starts; running runs finish (a second signal cancels them)");
        }
        if (drain_deadline) {
            if (steady_clock::now() >= *drain_deadline)
                sched.drain(true);
            if (sched.running() == 0)
                break;
            std::this_thread::sleep_for(200ms);
            continue;
        }
        auto tick = sched.tick(now_seconds());
        if (!tick.ok()) {
            options.log("cannot read the schedules: " + tick.error().message());
            if (m_once) {
                sched.wait();
                return fail(tick.error());
            }
        }
        if (m_once) {
            while (sched.running() > 0 && g_signals == handled)
                std::this_thread::sleep_for(200ms);
            if (g_signals > handled)
                continue; // drains above
            // A fire that waited for a slot (or for its schedule's running fire) runs now.
            if (tick.ok() && tick->waiting > 0)
                continue;
            break;
        }
        // Sleep until the next fire is due, at most 10 s (a schedule added meanwhile is seen by then), in short
        // steps so a signal is answered at once.
        auto until = system_clock::now() + 10s;
        if (tick.ok() && tick->next && *tick->next < until)
            until = *tick->next;
        while (system_clock::now() < until && g_signals == handled)
            std::this_thread::sleep_for(std::min<system_clock::duration>(200ms, until - system_clock::now() + 1ms));
    }
    sched.wait();
    alerts.flush(30s);
    options.log("scheduler stopped; " + std::to_string(sched.failed()) + " fire(s) failed or were interrupted");
    return sched.failed() > 0 ? kExitFailed : 0;
}

} // namespace rote::cli
