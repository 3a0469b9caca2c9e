#pragma once

// Real web applications from Debian packages, served on loopback for the real-app suite and its bench
// (tests/realapps, bench/realapp_bench.cpp): DokuWiki (PHP, files) under PHP's built-in server, Redmine
// (Rails, SQLite) under WEBrick. Each instance lives in a directory of its own with data the suite loads
// itself; the packages' own configuration, data and services are never touched. Drift knobs change what the
// same URL looks like from the server side (the interface language, the theme, a site-wide notice); the
// browser's window size and device scale are the workflow's (start.size, start.scale).
//
// State is read back from the app's own storage (DokuWiki's page files and change log, Redmine's
// database), so a run is judged by what the app holds, never only by what rote reports.

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <cstdint>
#include <string>
#include <vector>

#include <sys/types.h>

#include <rote/base/result.h>

namespace rote::realapps {

// Server-side drift. Defaults: the app as installed (English, its default theme, no notice).
struct Knobs {
    std::string lang = "en"; // the interface language (ISO code the app knows: de, fr, ...)
    std::string theme; // DokuWiki: "contrast" (its style.ini recoloured, narrower); Redmine: a bundled theme
    bool notice = false; // a site-wide notice above every page's content
    // Structural drift, which replay is not expected to absorb without a planner:
    // "renamed" (DokuWiki): the interface's words for signing in and out and for searching changed ("Log In"
    //   is now "Sign in") and every URL is rewritten, so a control with no id or name keeps no identity;
    // "extra-step" (both): a dialog over every page until its "Continue" is clicked, once per browser.
    std::string structure;
    std::string name() const; // "baseline", "lang-de", "theme-alternate", "notice", "renamed", or a '+' join
};

// One record the suite loaded, with the fields a workflow reads. `key` is what a lookup is given.
struct Record {
    std::string key; // DokuWiki: the partner's name; Redmine: the subject
    std::map<std::string, std::string> fields;
    std::string path; // what the app's request log shows when its page is opened ("/issues/3")
    std::string rewritten_path; // the same under the app's rewritten URLs ("doku.php/partners:x"); "" if none
};

// A process on a loopback port, killed (its process group) on destruction.
class Server {
public:
    Server() = default;
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;
    Result<void> start(const std::vector<std::string>& argv, const std::filesystem::path& log,
        const std::vector<std::string>& env, const std::filesystem::path& cwd, const std::string& ready_path);
    void stop();
    int port = 0;

private:
    pid_t m_pid = -1;
};

class App {
public:
    virtual ~App() = default;
    virtual std::string name() const = 0; // "dokuwiki", "redmine"
    virtual std::string host() const = 0; // what the sandbox's browser asks for (routed to port())
    int port() const { return m_server.port; }
    std::string route() const { return "127.0.0.1:" + std::to_string(port()); }
    // Back to the loaded data, served with these knobs (a restart where the app caches settings).
    virtual Result<void> reset(const Knobs& knobs) = 0;
    // The records the lookups choose among (near-duplicates included), in load order.
    virtual const std::vector<Record>& records() const = 0;
    // What changed in the app's state since the last reset, one line per change ("" when nothing did):
    // pages edited, issues created or altered, with their values.
    virtual Result<std::vector<std::string>> changes() const = 0;
    // The records whose pages were requested since mark(), in order (from the server's own request log).
    void mark();
    std::vector<const Record*> opened() const;
    const std::filesystem::path& dir() const { return m_dir; }

protected:
    std::filesystem::path m_dir;
    Server m_server;
    std::uintmax_t m_log_mark = 0;
};

// A workflow of the suite, and how a run of it is judged against the app.
struct Task {
    std::string workflow; // its name: tests/realapps/workflows/NAME.yaml
    std::string app; // "dokuwiki" | "redmine"
    bool writes = false;
    // The run's inputs for a record (and the run's number, to make written text unique), secrets apart.
    std::map<std::string, std::string> inputs(const Record& record, int n) const;
    std::map<std::string, std::string> secrets() const;
};
const std::vector<Task>& tasks();

// How one run went, judged by the app's state and the record's true fields.
struct Verdict {
    bool succeeded = false; // what rote said
    int outputs_right = 0;
    int outputs_wrong = 0; // read but not the record's value (missing ones count here too)
    std::vector<std::string> wrong_outputs; // "status: read 'New Start date:', is 'New'"
    std::vector<std::string> wrong_actions; // a wrong record opened, a wrong or extra write, with evidence
    std::string failure; // rote's reason, for a failed run
    // Right: rote said succeeded, every output is the record's, no wrong action.
    bool right() const { return succeeded && outputs_wrong == 0 && wrong_actions.empty(); }
    // Reported as succeeded while something is wrong: the worst outcome.
    bool wrong_success() const { return succeeded && !right(); }
    bool clean_failure() const { return !succeeded && wrong_actions.empty(); }
};

// Judges a run of `task` for `record` (call app.mark() and reset the app before the run).
Result<Verdict> judge(const App& app, const Task& task, const Record& record, const std::map<std::string, std::string>& inputs,
    bool succeeded, const std::map<std::string, std::string>& outputs, const std::string& error);

// Whitespace runs as one space, trimmed: a value read across two lines compares equal to the one-line value.
std::string squeeze(const std::string& text);

// The test user who may write, and their password (the workflows take it as a secret input).
inline constexpr const char* kUser = "editor";
inline constexpr const char* kPassword = "Corr3ct-Horse-Battery";

// DokuWiki from /usr/share/dokuwiki (package dokuwiki) with a partner directory: pages with near-duplicate
// names whose text names each other, a contract table with a value that wraps. Host wiki.example.test.
Result<std::unique_ptr<App>> start_dokuwiki(const std::filesystem::path& dir, const Knobs& knobs = {});

// Redmine from /usr/share/redmine (packages redmine, redmine-sqlite), copied into `dir` so its instance
// (database, files, logs) is the suite's; a project of issues with near-duplicate subjects and a long
// custom field. Host tracker.example.test.
Result<std::unique_ptr<App>> start_redmine(const std::filesystem::path& dir, const Knobs& knobs = {});

// Whether this machine has the app's package (scripts/setup.sh --tests installs both).
bool installed(const std::string& app);

} // namespace rote::realapps
