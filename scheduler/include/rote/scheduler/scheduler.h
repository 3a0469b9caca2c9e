#pragma once

// The scheduler (docs/schedules.md): reads the store's schedules, decides which fires are due, claims each
// in the store (so it starts at most once, however many schedulers share the file) and runs its rows with
// run_workflow, one after another, up to `concurrency` fires at once. Runs are replays with the planner
// only where a screen diverged, exactly as `rote run`.

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <rote/agent/agent.h>
#include <rote/agent/workflow.h>
#include <rote/base/result.h>
#include <rote/scheduler/alerts.h>
#include <rote/scheduler/cron.h>
#include <rote/store/store.h>

namespace rote::scheduler {

// What to do with one due fire time: the pure part of a tick, decided from the schedule, the fires due and
// what runs now.
struct FireDecision {
    enum class Kind {
        missed, // older than the catch-up window: recorded, not run
        skipped, // superseded by a newer due fire, or (overlap skip) one of the schedule's fires is running
        start, // claim and run it
        wait, // leave it due: a fire of the schedule runs (overlap buffer-one) or no slot is free
    };
    Kind kind = Kind::start;
    std::chrono::sys_seconds at;
    std::string why;
};

// The fires of a schedule due in (`last`, `now`] (at most `limit`, the earliest first), and what to do with
// each: fires older than `now - catchup` are missed; of the rest only the newest may run, the others are
// skipped as superseded; that one starts unless the overlap policy or a full scheduler says wait or skip.
std::vector<FireDecision> decide_fires(const Cron& cron, const Zone& zone, const store::Schedule& schedule,
    std::chrono::sys_seconds last, std::chrono::sys_seconds now, int running_of_schedule, bool slot_free,
    std::size_t limit = 1000);

struct SchedulerOptions {
    std::filesystem::path store_path; // each fire opens its own Store (a Store is one thread's)
    int concurrency = 1; // fires at once; each runs its rows one after another, one sandbox at a time
    int per_site = 0; // fires at once whose workflows start on the same host; 0: only `concurrency` bounds them
    // The workflow a schedule names (the CLI's lookup: ./workflows, $ROTE_HOME/workflows, built in).
    std::function<Result<runtime::Workflow>(const std::string&)> find_workflow;
    runtime::RunOptions run; // provider, routes, image, waits; planner, stop and fire are set per fire
    llm::LlmProvider* llm = nullptr; // for schedules whose planner is llm; without it their fires fail
    std::function<void(const std::string&)> log; // one line per event; never a secret
    Alerter* alerts = nullptr; // where schedules' alerts go (their webhook and command); none: not sent
    // Sandboxes kept ready per active schedule's workflow (local provider), so a fire's runs do not pay a
    // sandbox's start; 0: none. Each ready sandbox holds a browser's memory.
    int pool_size = 0;
};

struct TickOutcome {
    int started = 0;
    int skipped = 0;
    int missed = 0;
    int waiting = 0;
    // The earliest time a schedule fires next (after this tick), for the caller's sleep; nullopt: none.
    std::optional<std::chrono::sys_seconds> next;
};

class Scheduler {
public:
    explicit Scheduler(SchedulerOptions options);
    // Drains and cancels what still runs (runs are stored cancelled, their fires interrupted).
    ~Scheduler();
    Scheduler(const Scheduler&) = delete;
    Scheduler& operator=(const Scheduler&) = delete;

    // Looks at every schedule once, as of `now`: records missed and skipped fires, claims and starts the due
    // ones. A schedule whose expression or zone no longer parses is paused with why. Fails only when the
    // store cannot be read or written.
    Result<TickOutcome> tick(std::chrono::sys_seconds now);
    // No more fires start, and running fires start no further row; with `cancel`, their runs are cancelled
    // too. Fires ended so are `interrupted`, with how far they got.
    void drain(bool cancel);
    // Blocks until no fire runs.
    void wait();
    int running() const;
    // Fires this scheduler ran that ended failed or interrupted.
    int failed() const { return m_failed.load(); }

private:
    struct Worker {
        std::jthread thread;
        std::atomic<bool> done {false};
        std::string site; // its workflow's start host
    };
    int running_at(const std::string& site) const;
    void run_fire(std::int64_t fire_id, store::Schedule schedule, std::string at);
    void log(const std::string& line) const;
    void reap();

    SchedulerOptions m_options;
    std::unique_ptr<runtime::SessionPool> m_pool;
    std::unique_ptr<store::Store> m_store; // the tick's own
    std::stop_source m_cancel;
    std::atomic<bool> m_draining {false};
    std::atomic<int> m_failed {0};
    mutable std::mutex m_mutex;
    std::list<Worker> m_workers;
};

} // namespace rote::scheduler
