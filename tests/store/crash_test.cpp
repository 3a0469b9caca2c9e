// Crash safety: a writer killed with SIGKILL in the middle of writing a trace leaves a database that
// opens, passes PRAGMA integrity_check, and holds either the whole trace or none of it.

#include <doctest/doctest.h>

#include <csignal>
#include <random>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

#include "store/store_fixture.h"

using namespace rote;
using namespace rote::store;
using fixture::TempDir;

namespace {

constexpr int kSteps = 400;

// Forks a child that writes one trace of kSteps steps. After `signal_at` steps are inserted (inside the
// transaction) it tells the parent through a pipe and carries on slowly, so the parent's SIGKILL lands
// mid-transaction. Returns the child's pid and the pipe's read end.
std::pair<pid_t, int> spawn_writer(const std::filesystem::path& db, int signal_at)
{
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        auto s = Store::open(db);
        if (!s.ok())
            _exit(3);
        auto r = (*s)->save_trace(fixture::sample_trace("registry-lookup", kSteps), [&](std::size_t done, std::size_t) {
            if (static_cast<int>(done) == signal_at) {
                const char c = 'x';
                (void)!write(fds[1], &c, 1);
            }
            if (static_cast<int>(done) >= signal_at)
                std::this_thread::sleep_for(std::chrono::milliseconds(2));
        });
        _exit(r.ok() ? 0 : 4);
    }
    close(fds[1]);
    return {pid, fds[0]};
}

// Every trace in the store is whole; returns how many there are.
std::size_t check_whole(const std::filesystem::path& db)
{
    auto s = Store::open(db);
    REQUIRE(s.ok());
    REQUIRE((*s)->check_integrity().ok());
    auto traces = (*s)->list_traces("registry-lookup");
    if (!traces.ok())
        return 0; // the workflow row itself was never committed
    for (const auto& t : *traces) {
        CHECK(t.steps == kSteps);
        auto loaded = (*s)->load_trace(t.id);
        REQUIRE(loaded.ok());
        CHECK(loaded->steps.size() == static_cast<std::size_t>(kSteps));
    }
    auto stats = (*s)->artifact_stats();
    REQUIRE(stats.ok());
    CHECK(stats->references == static_cast<std::int64_t>(traces->size()) * kSteps * 3);
    return traces->size();
}

} // namespace

TEST_CASE("SIGKILL in the middle of writing a trace leaves none of it, and the store intact")
{
    TempDir dir;
    const auto db = dir / "rote.db";
    // One committed trace first, which every later kill must leave alone.
    {
        auto s = Store::open(db);
        REQUIRE(s.ok());
        REQUIRE((*s)->save_trace(fixture::sample_trace("registry-lookup", kSteps)).ok());
    }
    std::mt19937 rng(42);
    for (int round = 0; round < 4; ++round) {
        CAPTURE(round);
        const int signal_at = 1 + static_cast<int>(rng() % (kSteps - 50));
        auto [pid, fd] = spawn_writer(db, signal_at);
        char c = 0;
        REQUIRE(read(fd, &c, 1) == 1); // the child is inside its transaction, signal_at steps written
        close(fd);
        REQUIRE(kill(pid, SIGKILL) == 0);
        int status = 0;
        REQUIRE(waitpid(pid, &status, 0) == pid);
        REQUIRE(WIFSIGNALED(status));
        CHECK(WTERMSIG(status) == SIGKILL);
        CHECK(check_whole(db) == 1);
    }
    // And a writer left alone commits the whole trace.
    auto [pid, fd] = spawn_writer(db, kSteps + 1);
    close(fd);
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(check_whole(db) == 2);
}
