#include "realapps/apps.h"

#include "runtime/support.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace rote::realapps {
namespace {

Error failure(const std::string& what) { return Error(Error::Code::io, what); }

Result<void> write_text(const fs::path& path, const std::string& text)
{
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush())
        return failure("cannot write " + path.string());
    return {};
}

// The extra-step knob's dialog, as a script for a page's head or body: over the whole page, in the way of every
// click, until its "Continue" is pressed; a cookie remembers that, so the same browser's next page shows none.
// `app` and `record` go into a single-quoted script string: no quotes in them.
std::string extra_step_script(const std::string& app, const std::string& record)
{
    return "(function () {\n"
           "  if (document.cookie.indexOf('rote_consent=1') >= 0) return;\n"
           "  const show = function () {\n"
           "    const d = document.createElement('div');\n"
           "    d.id = 'rote-consent';\n"
           "    d.setAttribute('style', 'position:fixed;inset:0;z-index:10000;background:rgba(20,30,45,0.55);display:flex;"
           "align-items:center;justify-content:center');\n"
           "    d.innerHTML = '<div style=\"background:#fff;padding:1.5em 2em;max-width:30em;border-radius:6px;"
           "font-size:115%\"><p><strong>Before you go on</strong></p><p>This " + app + " records who opens and edits each "
        + record + ".</p><button type=\"button\" style=\"font-size:110%;padding:0.4em 1.2em\">Continue</button></div>';\n"
           "    d.querySelector('button').addEventListener('click', function () {\n"
           "      document.cookie = 'rote_consent=1;path=/';\n"
           "      d.remove();\n"
           "    });\n"
           "    document.body.appendChild(d);\n"
           "  };\n"
           "  if (document.body) show(); else document.addEventListener('DOMContentLoaded', show);\n"
           "})();\n";
}

std::string read_text(const fs::path& path)
{
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// The end of a log, and the line that names its error (a Ruby backtrace puts it first, before the frames
// the end shows).
std::string tail(const fs::path& log)
{
    const std::string text = read_text(log);
    std::string named;
    for (const char* mark : {"Error)", "Exception)", "Error:", "Exception:"}) {
        if (const auto at = text.find(mark); at != std::string::npos) {
            const auto start = text.rfind('\n', at);
            const auto end = text.find('\n', at);
            named = text.substr(start == std::string::npos ? 0 : start + 1, std::min<std::size_t>(500, end - (start + 1)));
            break;
        }
    }
    return (named.empty() ? "" : named + "\n...\n") + (text.size() > 2000 ? text.substr(text.size() - 2000) : text);
}

// The status code of GET `path` on 127.0.0.1:port, or 0 when nothing answered.
int http_status(int port, const std::string& path)
{
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv {5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a {};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    int status = 0;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
        const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
        char buf[64] = {};
        if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())
            && ::recv(fd, buf, sizeof buf - 1, MSG_WAITALL) >= 12 && std::strncmp(buf, "HTTP/1.", 7) == 0)
            status = std::atoi(buf + 9);
    }
    ::close(fd);
    return status;
}

// Starts argv[0] (looked up in PATH) in `cwd` with exactly `env`, stdout and stderr appended to `log`, killed
// if this process dies; with `own_group`, in a process group of its own (so its children go with it).
pid_t start_process(const std::vector<std::string>& argv, const fs::path& log, const std::vector<std::string>& env,
    const fs::path& cwd, bool own_group)
{
    const pid_t pid = ::fork();
    if (pid != 0)
        return pid;
    if (own_group)
        ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (out < 0 || ::chdir(cwd.c_str()) != 0)
        ::_exit(126);
    ::dup2(out, 1);
    ::dup2(out, 2);
    std::vector<char*> args, envp;
    for (const auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    for (const auto& e : env)
        envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    ::execvpe(args[0], args.data(), envp.data());
    ::_exit(127);
}

// Runs a command to its end; its output goes to `log`. Fails with the log's tail.
Result<void> run(const std::vector<std::string>& argv, const fs::path& log, const std::vector<std::string>& env,
    const fs::path& cwd)
{
    const pid_t pid = start_process(argv, log, env, cwd, false);
    if (pid < 0)
        return failure("fork failed");
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return failure(argv[0] + " " + (argv.size() > 1 ? argv[1] : "") + " failed: " + tail(log));
    return {};
}

// A child's environment: only what the app needs, never the test's (which may hold canaries or keys).
std::vector<std::string> base_env()
{
    return {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/nonexistent", "LANG=C.UTF-8", "TZ=UTC"};
}

Result<void> copy_tree(const fs::path& from, const fs::path& to)
{
    std::error_code ec;
    fs::remove_all(to, ec);
    fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
    if (ec)
        return failure("cannot copy " + from.string() + " to " + to.string() + ": " + ec.message());
    return {};
}

// Every regular file below `root`, by path relative to it, with its bytes.
std::map<std::string, std::string> files_below(const fs::path& root)
{
    std::map<std::string, std::string> out;
    std::error_code ec;
    if (!fs::exists(root, ec))
        return out;
    for (const auto& entry : fs::recursive_directory_iterator(root, ec)) {
        if (entry.is_regular_file())
            out[fs::relative(entry.path(), root).string()] = read_text(entry.path());
    }
    return out;
}

std::string php_quoted(const std::string& s)
{
    std::string out = "'";
    for (char c : s) {
        if (c == '\'' || c == '\\')
            out += '\\';
        out += c;
    }
    return out + "'";
}

// ---------------------------------------------------------------------------------------------------------
// DokuWiki

// A partner directory. Near-duplicates on purpose: names that begin alike, a page's text names its
// neighbours (so search snippets repeat other pages' names), and the service address is long enough to wrap
// in the page's table at 1280 pixels.
struct Partner {
    const char* name;
    const char* contract;
    const char* manager;
    const char* region;
    const char* renewal;
    const char* address;
    const char* related; // a near-duplicate its text mentions
};

const Partner kPartners[] = {
    {"Acme Robotics", "CT-2041", "Priya Natarajan", "North", "2027-03-31",
        "Unit 4, Riverside Industrial Estate, Canal Road, Leeds LS12 2DU, United Kingdom (deliveries through the north gate only)",
        "Acme Robotics Holdings"},
    {"Acme Robotics Holdings", "CT-2187", "Tom Okafor", "North", "2027-06-30",
        "Floor 9, Wellington Place Tower, 14 Wellington Street, Leeds LS1 4AP, United Kingdom (reception on the ground floor)",
        "Acme Robotics"},
    {"Acme Robot Works", "CT-2203", "Priya Natarajan", "Midlands", "2026-12-31",
        "Hangar 2, Castle Marina Business Park, Castle Boulevard, Nottingham NG7 1GX, United Kingdom (ask for the workshop)",
        "Acme Robotics"},
    {"Northwind Traders", "CT-3110", "Lena Fischer", "South", "2027-01-15",
        "Warehouse 11, Dockside Logistics Centre, Western Docks Road, Southampton SO15 1DA, United Kingdom (gate code at security)",
        "Northwind Trading Company"},
    {"Northwind Trading Company", "CT-3125", "Lena Fischer", "South", "2027-09-01",
        "Suite 210, Ocean Village Innovation Centre, 3 Channel Way, Southampton SO14 3TG, United Kingdom (lift to the second floor)",
        "Northwind Traders"},
    {"Northwind Traders Europe", "CT-3142", "Marco Bianchi", "Europe", "2027-04-30",
        "Building C, Schiphol Trade Park, Evert van de Beekstraat 104, 1118 CN Schiphol, Netherlands (parking behind building B)",
        "Northwind Traders"},
    {"Globex Corporation", "CT-4009", "Sam Whitfield", "East", "2027-02-28",
        "Globex House, Cambridge Science Park, Milton Road, Cambridge CB4 0FZ, United Kingdom (visitors sign in at the east lobby)",
        "Globex Logistics"},
    {"Globex Logistics", "CT-4017", "Sam Whitfield", "East", "2027-05-31",
        "Bay 7, Felixstowe Port Distribution Park, Dock Road, Felixstowe IP11 3TW, United Kingdom (high-visibility vest required)",
        "Globex Corporation"},
    {"Initech Software", "CT-5230", "Aisha Rahman", "West", "2027-08-15",
        "Second Floor, Temple Quay House, 2 The Square, Bristol BS1 6EB, United Kingdom (use the Temple Gate entrance)",
        "Initech Systems"},
    {"Initech Systems", "CT-5244", "Aisha Rahman", "West", "2026-11-30",
        "Unit 12, Aztec West Business Park, Almondsbury, Bristol BS32 4TD, United Kingdom (loading bay at the rear of unit 12)",
        "Initech Software"},
    {"Umbrella Analytics", "CT-6102", "Jonas Berg", "Scotland", "2027-07-31",
        "Level 3, Quartermile Two, 2 Lister Square, Edinburgh EH3 9GL, United Kingdom (security desk issues day passes)",
        "Umbrella Analytica"},
    {"Umbrella Analytica", "CT-6118", "Jonas Berg", "Scotland", "2027-10-31",
        "Studio 5, Hillington Park Innovation Centre, 1 Ainslie Road, Glasgow G52 4RU, United Kingdom (studio entrance faces the car park)",
        "Umbrella Analytics"},
    {"Stark Components", "CT-7001", "Hannah Cole", "Wales", "2027-03-01",
        "Plot 22, Celtic Business Park, Queensway Meadows, Newport NP19 4PP, United Kingdom (goods in at door 3 before noon)",
        "Wayne Fabrication"},
    {"Wayne Fabrication", "CT-7350", "Diego Alvarez", "North West", "2027-01-31",
        "Mill 3, Ancoats Urban Village, Redhill Street, Manchester M4 5BA, United Kingdom (the red door on the canal side)",
        "Wayne Fabrications"},
    {"Wayne Fabrications", "CT-7366", "Diego Alvarez", "North West", "2027-12-31",
        "Unit 8, Trafford Park Enterprise Centre, Ashburton Road West, Manchester M17 1RN, United Kingdom (report to the yard office)",
        "Wayne Fabrication"},
};

std::string page_id(const std::string& name)
{
    std::string id;
    for (char c : name)
        id += (c == ' ') ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return id;
}

std::string partner_page(const Partner& p)
{
    return std::string("====== ") + p.name + " ======\n\n" + p.name + " has been a partner since 2019. Not to be confused with [[partners:"
        + page_id(p.related) + "|" + p.related + "]], which has its own contract.\n\n^ Contract ID | " + p.contract
        + " |\n^ Account manager | " + p.manager + " |\n^ Region | " + p.region + " |\n^ Renewal | " + p.renewal
        + " |\n^ Service address | " + p.address + " |\n\n===== Notes =====\n\nNo open questions.\n";
}

class DokuWiki final : public App {
public:
    std::string name() const override { return "dokuwiki"; }
    std::string host() const override { return "wiki.example.test"; }
    const std::vector<Record>& records() const override { return m_records; }

    Result<void> load(const fs::path& dir)
    {
        m_dir = dir;
        std::error_code ec;
        fs::remove_all(dir, ec);
        fs::create_directories(dir / "conf", ec);
        ROTE_TRY(write_text(dir / "prepend.php",
            "<?php if (!defined('DOKU_CONF')) define('DOKU_CONF', " + php_quoted((dir / "conf").string() + "/") + ");\n"));
        for (const char* sub : {"attic", "cache", "index", "locks", "log", "media", "media_attic", "media_meta", "meta",
                 "tmp", "pages/partners"})
            fs::create_directories(dir / "data" / sub, ec);
        std::string directory = "====== Partner directory ======\n\nEvery partner we hold a contract with:\n\n";
        for (const Partner& p : kPartners) {
            ROTE_TRY(write_text(dir / "data/pages/partners" / (page_id(p.name) + ".txt"), partner_page(p)));
            directory += "  * [[partners:" + page_id(p.name) + "|" + p.name + "]]\n";
            m_records.push_back({p.name,
                {{"contract_id", p.contract}, {"account_manager", p.manager}, {"region", p.region},
                    {"renewal", p.renewal}, {"service_address", p.address}},
                "id=partners:" + page_id(p.name), "doku.php/partners:" + page_id(p.name)});
        }
        ROTE_TRY(write_text(dir / "data/pages/start.txt", directory));
        // The editor's password, hashed by PHP itself (bcrypt, which DokuWiki verifies).
        ROTE_TRY(run({"php", "-r", "echo password_hash(" + php_quoted(kPassword) + ", PASSWORD_BCRYPT);"},
            dir / "hash.out", base_env(), dir));
        const std::string hash = read_text(dir / "hash.out");
        ROTE_TRY(write_text(dir / "conf/users.auth.php",
            std::string("# <?php exit()?>\n") + kUser + ":" + hash + ":Eddie Editor:editor@wiki.example.test:admin,user\n"));
        ROTE_TRY(write_text(dir / "conf/acl.auth.php", "# <?php exit()?>\n*\t@ALL\t1\n*\t@user\t8\n"));
        // The package enables its test plugin (which says so on every page) and the one that reports usage.
        ROTE_TRY(write_text(dir / "conf/plugins.local.php", "<?php\n$plugins['testing'] = 0;\n$plugins['popularity'] = 0;\n"));
        ROTE_TRY(configure(Knobs {}));
        // Search needs DokuWiki's index: its own indexer, run once; the data as loaded is the snapshot.
        ROTE_TRY(run({"php", "-d", "auto_prepend_file=" + (dir / "prepend.php").string(),
                         "/usr/share/dokuwiki/bin/indexer.php", "-q"},
            dir / "indexer.log", base_env(), dir));
        ROTE_TRY(copy_tree(dir / "data", dir / "snapshot"));
        m_server.port = test::free_loopback_port();
        auto env = base_env();
        env.push_back("PHP_CLI_SERVER_WORKERS=4");
        // No opcode cache: it would serve a configuration file it compiled up to 2 s (its revalidate_freq) after
        // a reset changed it, from some of the server's workers and not others.
        return m_server.start({"php", "-d", "auto_prepend_file=" + (dir / "prepend.php").string(), "-d", "opcache.enable=0", "-S",
                                  "127.0.0.1:" + std::to_string(m_server.port), "-t", "/usr/share/dokuwiki"},
            dir / "server.log", env, dir, "/doku.php?id=start");
    }

    Result<void> reset(const Knobs& knobs) override
    {
        ROTE_TRY(copy_tree(m_dir / "snapshot", m_dir / "data"));
        return configure(knobs);
    }

    Result<std::vector<std::string>> changes() const override
    {
        std::vector<std::string> out;
        const auto before = files_below(m_dir / "snapshot/pages");
        const auto after = files_below(m_dir / "data/pages");
        for (const auto& [path, text] : after) {
            auto was = before.find(path);
            if (was == before.end())
                out.push_back("page created: " + path + ": " + text);
            else if (was->second != text)
                out.push_back("page changed: " + path + ": " + text);
        }
        for (const auto& [path, text] : before) {
            if (!after.count(path))
                out.push_back("page deleted: " + path);
        }
        return out;
    }

    // The page's text as loaded and as it is now.
    std::string loaded_page(const Record& r) const { return read_text(page_file(m_dir / "snapshot", r)); }
    std::string current_page(const Record& r) const { return read_text(page_file(m_dir / "data", r)); }

private:
    static fs::path page_file(const fs::path& data, const Record& r)
    {
        return data / "pages/partners" / (r.path.substr(std::string("id=partners:").size()) + ".txt");
    }

    Result<void> configure(const Knobs& knobs)
    {
        std::string local = "<?php\n$conf['title'] = 'Partner Wiki';\n$conf['lang'] = " + php_quoted(knobs.lang)
            + ";\n$conf['savedir'] = " + php_quoted((m_dir / "data").string())
            + ";\n$conf['useacl'] = 1;\n$conf['superuser'] = '@admin';\n$conf['useheading'] = 1;\n"
              "$conf['updatecheck'] = 0;\n$conf['breadcrumbs'] = 0;\n$conf['youarehere'] = 1;\n"
              "$conf['license'] = 0;\n$conf['passcrypt'] = 'bcrypt';\n"
              "$conf['disableactions'] = 'register,resendpwd';\n$conf['htmlok'] = 0;\n"
              // renamed: every link of the wiki moves too ("doku.php/partners:x?do=login" for
              // "doku.php?id=partners:x&do=login"), so the sign-in link keeps no identity in the document.
            + "$conf['userewrite'] = " + std::string(knobs.structure == "renamed" ? "2" : "0") + ";\n";
        ROTE_TRY(write_text(m_dir / "conf/local.php", local));
        std::error_code ec;
        fs::remove(m_dir / "conf/pageheader.html", ec);
        fs::remove_all(m_dir / "conf/tpl", ec);
        fs::remove_all(m_dir / "conf/lang", ec);
        std::string header;
        if (knobs.notice)
            header += "<div style=\"background:#fff3cd;border:1px solid #e0c060;padding:0.8em 1em;margin-bottom:1em;"
                      "font-size:110%\"><strong>Notice:</strong> the partner directory moves to the new CRM on "
                      "1 March. Contract changes after that date go through the partner desk.</div>\n";
        if (knobs.structure == "extra-step") {
            // Over the whole page, in the way of every click, until its button is pressed (a cookie remembers
            // that, so the next page of the same browser shows none).
            header += "<script>" + extra_step_script("wiki", "partner page") + "</script>\n";
        } else if (knobs.structure == "renamed") {
            ROTE_TRY(write_text(m_dir / "conf/lang/en/lang.php",
                "<?php\n$lang['btn_login'] = 'Sign in';\n$lang['btn_logout'] = 'Sign out';\n"
                "$lang['btn_search'] = 'Find';\n"));
        } else if (!knobs.structure.empty()) {
            return Error(Error::Code::invalid_argument,
                "dokuwiki's structural knobs are renamed and extra-step, not " + knobs.structure);
        }
        if (!header.empty())
            ROTE_TRY(write_text(m_dir / "conf/pageheader.html", header));
        if (!knobs.theme.empty()) {
            if (knobs.theme != "contrast")
                return Error(Error::Code::invalid_argument, "dokuwiki has one theme knob: contrast, not " + knobs.theme);
            ROTE_TRY(write_text(m_dir / "conf/tpl/dokuwiki/style.ini",
                "[replacements]\n__text__ = \"#1b1b1b\"\n__background__ = \"#f4f7fb\"\n__background_alt__ = "
                "\"#dfe7f2\"\n__background_neu__ = \"#c9d6e8\"\n__border__ = \"#8aa0bf\"\n__link__ = \"#0b4f9c\"\n"
                "__existing__ = \"#0b4f9c\"\n__background_site__ = \"#26384f\"\n__site_width__ = \"60em\"\n"
                "__highlight__ = \"#ffd27f\"\n"));
        }
        // DokuWiki caches rendered pages by its config's age: touch it so the knobs show at once.
        fs::last_write_time(m_dir / "conf/local.php", fs::file_time_type::clock::now(), ec);
        return {};
    }

    std::vector<Record> m_records;
};

// ---------------------------------------------------------------------------------------------------------
// Redmine

struct Ticket {
    const char* subject;
    const char* status;
    const char* priority;
    const char* assignee; // a login below
    const char* site_address; // a custom field, long enough to wrap in the issue's attribute table
};

const Ticket kTickets[] = {
    {"Printer offline in Leeds office", "New", "High", "amira",
        "Leeds office, 3rd floor print room beside the kitchen, Wellington Place Tower, 14 Wellington Street, Leeds LS1 4AP"},
    {"Printer offline in Leeds office annex", "In Progress", "Normal", "ben",
        "Leeds office annex, ground floor reception desk, 2 Whitehall Quay, Leeds LS1 4HR, entrance from the river path"},
    {"Printer offline in Leek office", "Resolved", "Low", "amira",
        "Leek office, first floor open plan area by the stairs, 6 Derby Street, Leek ST13 5AB, parking at the rear yard"},
    {"VPN drops for Northwind Traders", "New", "Urgent", "ben",
        "Northwind Traders, Warehouse 11, Dockside Logistics Centre, Western Docks Road, Southampton SO15 1DA"},
    {"VPN drops for Northwind Trading Company", "Feedback", "Normal", "carla",
        "Northwind Trading Company, Suite 210, Ocean Village Innovation Centre, 3 Channel Way, Southampton SO14 3TG"},
    {"Badge reader fault at Globex depot", "In Progress", "High", "carla",
        "Globex depot, main gate turnstile 1, Felixstowe Port Distribution Park, Dock Road, Felixstowe IP11 3TW"},
    {"Badge reader fault at Globex depot gate 2", "New", "Normal", "amira",
        "Globex depot, side gate 2 by the lorry park, Felixstowe Port Distribution Park, Dock Road, Felixstowe IP11 3TW"},
    {"Laptop refresh for Initech Software", "New", "Low", "ben",
        "Initech Software, Second Floor, Temple Quay House, 2 The Square, Bristol BS1 6EB, collect from the IT cupboard"},
    {"Laptop refresh for Initech Systems", "Closed", "Normal", "carla",
        "Initech Systems, Unit 12, Aztec West Business Park, Almondsbury, Bristol BS32 4TD, deliver to the loading bay"},
    {"Wi-Fi dead zone in Acme Robotics lab", "Feedback", "High", "amira",
        "Acme Robotics, robotics lab B at the far end of the east corridor, Riverside Industrial Estate, Canal Road, Leeds"},
    {"Wi-Fi dead zone in Acme Robot Works lab", "New", "Urgent", "carla",
        "Acme Robot Works, Hangar 2 test bay, Castle Marina Business Park, Castle Boulevard, Nottingham NG7 1GX"},
    {"Phone line noise at Wayne Fabrication", "In Progress", "Normal", "ben",
        "Wayne Fabrication, Mill 3 switchboard room, Ancoats Urban Village, Redhill Street, Manchester M4 5BA"},
    {"Phone line noise at Wayne Fabrications", "New", "High", "amira",
        "Wayne Fabrications, Unit 8 yard office, Trafford Park Enterprise Centre, Ashburton Road West, Manchester M17 1RN"},
};

const std::map<std::string, std::string> kPeople = {
    {"amira", "Amira Haddad"}, {"ben", "Ben Carter"}, {"carla", "Carla Mendes"}};

std::string ruby_quoted(const std::string& s)
{
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\' || c == '#')
            out += '\\';
        out += c;
    }
    return out + "\"";
}

// The suite's data, loaded through Redmine's own models (so it is what Redmine itself would write).
std::string redmine_seed()
{
    // Jobs run in this thread and no mail goes out: an issue saved queues its notifications, which the async
    // adapter ran on threads of their own beside the next write (the seed failed on a loaded machine).
    std::string s = R"(
ActiveJob::Base.queue_adapter = :inline
ActionMailer::Base.perform_deliveries = false
admin = User.find_by!(login: 'admin')
admin.password = admin.password_confirmation = ENV.fetch('SEED_PASSWORD') + '-admin'
admin.must_change_passwd = false
admin.save!
Setting.default_language = 'en'
Setting.gravatar_enabled = '0'
Setting.self_registration = '0'
Setting.lost_password = '0'
Setting.force_default_language_for_anonymous = '1'
Setting.force_default_language_for_loggedin = '1'
Setting.app_title = 'Field Ops Tracker'
manager = Role.find_by!(name: 'Manager')
project = Project.create!(name: 'Field Ops', identifier: 'field-ops', is_public: true,
  description: 'Site visits, faults and refreshes across the partner offices.')
project.trackers = Tracker.all
project.enabled_module_names = ['issue_tracking']
project.save!
address = IssueCustomField.create!(name: 'Site address', field_format: 'string', is_for_all: true,
  visible: true, trackers: Tracker.all)
editor = User.new(firstname: 'Eddie', lastname: 'Editor', mail: 'editor@tracker.example.test', language: '')
editor.login = ')" + std::string(kUser) + R"('
editor.password = editor.password_confirmation = ENV.fetch('SEED_PASSWORD')
editor.must_change_passwd = false
editor.save!
Member.create!(project: project, principal: editor, role_ids: [manager.id])
people = {}
)";
    for (const auto& [login, full] : kPeople) {
        const auto space = full.find(' ');
        s += "u = User.new(firstname: " + ruby_quoted(full.substr(0, space)) + ", lastname: "
            + ruby_quoted(full.substr(space + 1)) + ", mail: '" + login + "@tracker.example.test', language: '')\n"
            + "u.login = '" + login + "'\nu.password = u.password_confirmation = SecureRandom.hex(16)\nu.save!\n"
            + "Member.create!(project: project, principal: u, role_ids: [manager.id])\npeople['" + login + "'] = u\n";
    }
    for (const Ticket& t : kTickets) {
        s += std::string("i = Issue.new(project: project, tracker: Tracker.find_by!(name: 'Support'), author: admin, subject: ")
            + ruby_quoted(t.subject) + ", description: " + ruby_quoted(std::string("Reported by the site team. See also other ") +
                "tickets for the same site.") + ", priority: IssuePriority.find_by!(name: " + ruby_quoted(t.priority)
            + "), assigned_to: people[" + ruby_quoted(t.assignee) + "])\n"
            + "i.custom_field_values = {address.id => " + ruby_quoted(t.site_address) + "}\ni.save!\n"
            + "i.update_columns(status_id: IssueStatus.find_by!(name: " + ruby_quoted(t.status) + ").id)\n";
    }
    return s;
}

class Redmine final : public App {
public:
    std::string name() const override { return "redmine"; }
    std::string host() const override { return "tracker.example.test"; }
    const std::vector<Record>& records() const override { return m_records; }

    Result<void> load(const fs::path& dir)
    {
        m_dir = dir;
        std::error_code ec;
        fs::remove_all(dir, ec);
        fs::create_directories(dir, ec);
        const fs::path app = dir / "redmine";
        ROTE_TRY(copy_tree("/usr/share/redmine", app));
        // The package links its instances, lock file and database configuration into /var and /etc: this
        // copy gets its own, and WEBrick (Debian's ruby-webrick) through the Gemfile.local Redmine reads.
        for (const char* link : {"instances", "Gemfile.lock", "config/database.yml"})
            fs::remove(app / link, ec);
        fs::copy_file("/var/lib/redmine/Gemfile.lock", app / "Gemfile.lock", ec);
        if (ec)
            return failure("cannot copy Redmine's Gemfile.lock: " + ec.message());
        ROTE_TRY(write_text(app / "Gemfile.local", "gem 'webrick'\n"));
        // The extra-step knob's theme: Redmine's own look, and a script that puts the dialog over every page.
        const fs::path theme = app / "public/themes/rote-dialog";
        ROTE_TRY(write_text(theme / "stylesheets/application.css", "@import url(../../../stylesheets/application.css);\n"));
        ROTE_TRY(write_text(theme / "javascripts/theme.js", extra_step_script("tracker", "issue")));
        const fs::path instance = app / "instances/default";
        for (const char* sub : {"config", "files", "log", "tmp", "public"})
            fs::create_directories(instance / sub, ec);
        ROTE_TRY(write_text(instance / "config/database.yml",
            "production:\n  adapter: sqlite3\n  database: " + (dir / "redmine.db").string() + "\n  encoding: utf8\n  timeout: 30000\n"));
        ROTE_TRY(write_text(instance / "config/secret_key.txt", "rote-realapps-" + std::to_string(::getpid()) + "-secret-key-base\n"));
        ROTE_TRY(write_text(dir / "seed.rb", redmine_seed()));
        auto env = rails_env();
        ROTE_TRY(run({"bin/rake", "db:migrate"}, dir / "setup.log", env, app));
        auto lang = env;
        lang.push_back("REDMINE_LANG=en");
        ROTE_TRY(run({"bin/rake", "redmine:load_default_data"}, dir / "setup.log", lang, app));
        auto seed = env;
        seed.push_back(std::string("SEED_PASSWORD=") + kPassword);
        ROTE_TRY(run({"bin/rails", "runner", (dir / "seed.rb").string()}, dir / "setup.log", seed, app));
        fs::copy_file(dir / "redmine.db", dir / "snapshot.db", fs::copy_options::overwrite_existing, ec);
        if (ec)
            return failure("cannot keep Redmine's loaded database: " + ec.message());
        for (const Ticket& t : kTickets)
            m_records.push_back({t.subject,
                {{"status", t.status}, {"priority", t.priority}, {"assignee", kPeople.at(t.assignee)},
                    {"site_address", t.site_address}},
                "", ""});
        auto ids = ROTE_TRY(query("SELECT id, subject FROM issues ORDER BY id"));
        for (auto& r : m_records) {
            for (const auto& row : ids) {
                if (row[1] == r.key) {
                    r.fields["issue_id"] = "#" + row[0];
                    r.path = "/issues/" + row[0];
                }
            }
        }
        m_server.port = test::free_loopback_port();
        return reset(Knobs {});
    }

    Result<void> reset(const Knobs& knobs) override
    {
        m_server.stop();
        std::error_code ec;
        for (const char* junk : {"redmine.db-journal", "redmine.db-wal", "redmine.db-shm"})
            fs::remove(m_dir / junk, ec);
        fs::copy_file(m_dir / "snapshot.db", m_dir / "redmine.db", fs::copy_options::overwrite_existing, ec);
        if (ec)
            return failure("cannot reset Redmine's database: " + ec.message());
        // Settings straight into the table Redmine reads them from (it caches them, hence the restart).
        if (!knobs.structure.empty() && (knobs.structure != "extra-step" || !knobs.theme.empty()))
            return Error(Error::Code::invalid_argument, "redmine's one structural knob is extra-step, without a theme knob (not "
                    + knobs.structure + (knobs.theme.empty() ? "" : " with theme " + knobs.theme) + ")");
        std::vector<std::pair<std::string, std::string>> settings = {{"default_language", knobs.lang}};
        if (!knobs.theme.empty())
            settings.emplace_back("ui_theme", knobs.theme);
        if (knobs.structure == "extra-step")
            settings.emplace_back("ui_theme", "rote-dialog");
        if (knobs.notice)
            settings.emplace_back("app_title",
                "Field Ops Tracker - NOTICE: planned maintenance on Saturday from 06:00 to 08:00 UTC");
        for (const auto& [name, value] : settings) {
            ROTE_TRY(query("DELETE FROM settings WHERE name = '" + name + "'"));
            ROTE_TRY(query("INSERT INTO settings (name, value, updated_on) VALUES ('" + name + "', '" + value
                + "', datetime('now'))"));
        }
        return m_server.start({"bin/rails", "server", "-u", "webrick", "-b", "127.0.0.1", "-p",
                                  std::to_string(m_server.port)},
            m_dir / "server.log", rails_env(), m_dir / "redmine", "/projects/field-ops/issues");
    }

    Result<std::vector<std::string>> changes() const override
    {
        std::vector<std::string> out;
        const char* row_query
            = "SELECT i.id, i.subject, s.name, p.name, coalesce(i.description, ''), i.author_id, i.project_id, "
              "coalesce((SELECT value FROM custom_values v WHERE v.customized_type = 'Issue' AND v.customized_id = i.id), '') "
              "FROM issues i JOIN issue_statuses s ON s.id = i.status_id JOIN enumerations p ON p.id = i.priority_id "
              "ORDER BY i.id";
        auto before = ROTE_TRY(query(row_query, m_dir / "snapshot.db"));
        auto after = ROTE_TRY(query(row_query));
        std::map<std::string, std::vector<std::string>> was;
        for (auto& row : before)
            was[row[0]] = row;
        auto describe = [](const std::vector<std::string>& row) {
            return "#" + row[0] + " subject=" + row[1] + " status=" + row[2] + " priority=" + row[3]
                + " description=" + row[4] + " author=" + row[5] + " project=" + row[6] + " site_address=" + row[7];
        };
        for (auto& row : after) {
            auto it = was.find(row[0]);
            if (it == was.end())
                out.push_back("issue created: " + describe(row));
            else if (it->second != row)
                out.push_back("issue changed: " + describe(it->second) + " -> " + describe(row));
            if (it != was.end())
                was.erase(it);
        }
        for (auto& [id, row] : was)
            out.push_back("issue deleted: " + describe(row));
        auto journals = ROTE_TRY(query("SELECT count(*) FROM journals"));
        auto journals_before = ROTE_TRY(query("SELECT count(*) FROM journals", m_dir / "snapshot.db"));
        if (journals[0][0] != journals_before[0][0])
            out.push_back("journals: " + journals_before[0][0] + " -> " + journals[0][0]);
        return out;
    }

    // Rows of `sql` on the live database (or `db`), as text.
    Result<std::vector<std::vector<std::string>>> query(const std::string& sql, const fs::path& db = {}) const
    {
        const fs::path file = db.empty() ? m_dir / "redmine.db" : db;
        sqlite3* handle = nullptr;
        if (sqlite3_open_v2(file.c_str(), &handle, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
            sqlite3_close(handle);
            return failure("cannot open " + file.string());
        }
        sqlite3_busy_timeout(handle, 5000);
        std::vector<std::vector<std::string>> rows;
        sqlite3_stmt* st = nullptr;
        if (sqlite3_prepare_v2(handle, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
            const std::string why = sqlite3_errmsg(handle);
            sqlite3_close(handle);
            return failure("redmine database: " + why + ": " + sql);
        }
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            std::vector<std::string> row;
            for (int c = 0; c < sqlite3_column_count(st); ++c) {
                const auto* text = sqlite3_column_text(st, c);
                row.emplace_back(text ? reinterpret_cast<const char*>(text) : "");
            }
            rows.push_back(std::move(row));
        }
        sqlite3_finalize(st);
        const std::string why = rc == SQLITE_DONE ? "" : sqlite3_errmsg(handle);
        sqlite3_close(handle);
        if (!why.empty())
            return failure("redmine database: " + why);
        return rows;
    }

    // The issues created since the reset: {id, subject, site address, author's login, project identifier}.
    Result<std::vector<std::vector<std::string>>> created() const
    {
        auto last = ROTE_TRY(query("SELECT coalesce(max(id), 0) FROM issues", m_dir / "snapshot.db"));
        return query("SELECT i.id, i.subject, coalesce((SELECT value FROM custom_values v WHERE v.customized_type = "
                     "'Issue' AND v.customized_id = i.id), ''), u.login, p.identifier FROM issues i JOIN users u ON "
                     "u.id = i.author_id JOIN projects p ON p.id = i.project_id WHERE i.id > "
            + last[0][0] + " ORDER BY i.id");
    }

private:
    std::vector<std::string> rails_env() const
    {
        auto env = base_env();
        env.push_back("RAILS_ENV=production");
        return env;
    }

    std::vector<Record> m_records;
};

} // namespace

std::string squeeze(const std::string& text)
{
    std::string out;
    for (char c : text) {
        if (std::isspace(static_cast<unsigned char>(c))) {
            if (!out.empty() && out.back() != ' ')
                out += ' ';
        } else {
            out += c;
        }
    }
    if (!out.empty() && out.back() == ' ')
        out.pop_back();
    return out;
}

void App::mark()
{
    std::error_code ec;
    const auto size = fs::file_size(m_dir / "server.log", ec);
    m_log_mark = ec ? 0 : size;
}

std::vector<const Record*> App::opened() const
{
    std::vector<const Record*> out;
    const std::string log = read_text(m_dir / "server.log");
    std::istringstream lines(log.size() > m_log_mark ? log.substr(m_log_mark) : std::string());
    std::string line;
    while (std::getline(lines, line)) {
        const auto get = line.find("GET /");
        if (get == std::string::npos)
            continue;
        for (const Record& r : records()) {
            for (const std::string* path : {&r.path, &r.rewritten_path}) {
                const auto at = path->empty() ? std::string::npos : line.find(*path, get);
                if (at == std::string::npos)
                    continue;
                const char next = at + path->size() < line.size() ? line[at + path->size()] : ' ';
                if (std::isalnum(static_cast<unsigned char>(next)) || next == '_')
                    continue; // a longer id that begins alike (partners:acme_robotics_holdings, /issues/12)
                if (out.empty() || out.back() != &r)
                    out.push_back(&r);
            }
        }
    }
    return out;
}

const std::vector<Task>& tasks()
{
    static const std::vector<Task> all = {
        {"wiki-partner-lookup", "dokuwiki", false},
        {"wiki-partner-profile", "dokuwiki", false},
        {"wiki-partner-note", "dokuwiki", true},
        {"tracker-issue-lookup", "redmine", false},
        {"tracker-issue-details", "redmine", false},
        {"tracker-new-issue", "redmine", true},
    };
    return all;
}

std::map<std::string, std::string> Task::inputs(const Record& record, int n) const
{
    const std::string run = std::to_string(n);
    if (workflow == "wiki-partner-note")
        return {{"partner", record.key}, {"note", "Call " + run + " logged: renewal terms agreed."}, {"wiki_user", kUser}};
    if (workflow == "tracker-new-issue")
        return {{"subject", "Follow-up visit " + run + " for " + record.key},
            {"site_address", "Reception desk, visit " + run}, {"tracker_user", kUser}};
    if (app == "dokuwiki")
        return {{"partner", record.key}};
    return {{"subject", record.key}};
}

std::map<std::string, std::string> Task::secrets() const
{
    if (workflow == "wiki-partner-note")
        return {{"wiki_password", kPassword}};
    if (workflow == "tracker-new-issue")
        return {{"tracker_password", kPassword}};
    return {};
}

Result<Verdict> judge(const App& app, const Task& task, const Record& record, const std::map<std::string, std::string>& inputs,
    bool succeeded, const std::map<std::string, std::string>& outputs, const std::string& error)
{
    Verdict v;
    v.succeeded = succeeded;
    v.failure = succeeded ? "" : error;
    std::map<std::string, std::string> expected; // output name -> the true value
    static const std::map<std::string, std::vector<std::string>> reads = {
        {"wiki-partner-lookup", {"contract_id"}},
        {"wiki-partner-profile", {"account_manager", "region", "renewal", "service_address"}},
        {"tracker-issue-lookup", {"issue_id", "status"}},
        {"tracker-issue-details", {"priority", "assignee", "status", "site_address"}},
    };
    if (auto it = reads.find(task.workflow); it != reads.end()) {
        for (const auto& name : it->second)
            expected[name] = record.fields.at(name);
    }
    // The records opened: only this one (a write's page included).
    for (const Record* r : app.opened()) {
        if (r != &record)
            v.wrong_actions.push_back("opened '" + r->key + "' (" + r->path + "), not '" + record.key + "'");
    }
    auto changes = ROTE_TRY(app.changes());
    if (task.workflow == "wiki-partner-note") {
        const auto& wiki = dynamic_cast<const DokuWiki&>(app);
        const std::string before = wiki.loaded_page(record), after = wiki.current_page(record);
        std::string kept = before;
        while (!kept.empty() && kept.back() == '\n')
            kept.pop_back();
        const bool page_right = after.size() > kept.size() && after.compare(0, kept.size(), kept) == 0
            && squeeze(after.substr(kept.size())) == inputs.at("note");
        const std::string own = "page changed: partners/" + record.path.substr(std::string("id=partners:").size()) + ".txt";
        for (const auto& c : changes) {
            if (c.starts_with(own + ":") && page_right)
                continue;
            v.wrong_actions.push_back(c.starts_with(own + ":") ? "the page's new text is not the old text with the note "
                                                                 "as its last line: "
                        + after
                                                               : c);
        }
        if (succeeded && !page_right && changes.empty())
            v.wrong_actions.push_back("reported succeeded, but the page is unchanged");
    } else if (task.workflow == "tracker-new-issue") {
        const auto& tracker = dynamic_cast<const Redmine&>(app);
        auto made = ROTE_TRY(tracker.created());
        int right = 0;
        for (const auto& row : made) {
            if (row[1] == inputs.at("subject") && row[2] == inputs.at("site_address") && row[3] == kUser
                && row[4] == "field-ops" && right == 0) {
                ++right;
                expected["issue_id"] = "#" + row[0];
            }
        }
        for (const auto& c : changes) {
            const bool the_one = right == 1 && c.starts_with("issue created: " + expected["issue_id"] + " ");
            if (!the_one)
                v.wrong_actions.push_back(c);
        }
        if (succeeded && right == 0)
            v.wrong_actions.push_back("reported succeeded, but no issue '" + inputs.at("subject") + "' was created");
        if (right == 0)
            expected["issue_id"] = "(none created)";
    } else {
        for (const auto& c : changes)
            v.wrong_actions.push_back("a read changed the app: " + c);
    }
    if (succeeded) {
        for (const auto& [name, truth] : expected) {
            auto got = outputs.find(name);
            if (got != outputs.end() && squeeze(got->second) == squeeze(truth)) {
                ++v.outputs_right;
            } else {
                ++v.outputs_wrong;
                v.wrong_outputs.push_back(name + ": read '" + (got == outputs.end() ? "(nothing)" : got->second)
                    + "', is '" + truth + "'");
            }
        }
    }
    return v;
}

std::string Knobs::name() const
{
    std::vector<std::string> parts;
    if (lang != "en")
        parts.push_back("lang-" + lang);
    if (!theme.empty())
        parts.push_back("theme-" + theme);
    if (notice)
        parts.push_back("notice");
    if (!structure.empty())
        parts.push_back(structure);
    if (parts.empty())
        return "baseline";
    std::string out;
    for (const auto& p : parts)
        out += (out.empty() ? "" : "+") + p;
    return out;
}

Server::~Server() { stop(); }

void Server::stop()
{
    if (m_pid <= 0)
        return;
    ::kill(-m_pid, SIGTERM);
    for (int i = 0; i < 100; ++i) {
        if (::waitpid(m_pid, nullptr, WNOHANG) == m_pid) {
            ::kill(-m_pid, SIGKILL); // what it left in its group
            m_pid = -1;
            return;
        }
        std::this_thread::sleep_for(50ms);
    }
    ::kill(-m_pid, SIGKILL);
    ::waitpid(m_pid, nullptr, 0);
    m_pid = -1;
}

Result<void> Server::start(const std::vector<std::string>& argv, const fs::path& log,
    const std::vector<std::string>& env, const fs::path& cwd, const std::string& ready_path)
{
    stop();
    const pid_t pid = start_process(argv, log, env, cwd, true);
    if (pid < 0)
        return failure("fork failed");
    m_pid = pid;
    const auto deadline = std::chrono::steady_clock::now() + 90s;
    while (std::chrono::steady_clock::now() < deadline) {
        if (::waitpid(pid, nullptr, WNOHANG) == pid) {
            m_pid = -1;
            return failure(argv[0] + " exited before it served " + ready_path + ": " + tail(log));
        }
        const int status = http_status(port, ready_path);
        if (status == 200)
            return {};
        std::this_thread::sleep_for(100ms);
    }
    stop();
    return failure(argv[0] + " did not serve " + ready_path + " within 90 s: " + tail(log));
}

Result<std::unique_ptr<App>> start_dokuwiki(const fs::path& dir, const Knobs& knobs)
{
    auto app = std::make_unique<DokuWiki>();
    ROTE_TRY(app->load(dir));
    if (knobs.name() != "baseline")
        ROTE_TRY(app->reset(knobs));
    return std::unique_ptr<App>(std::move(app));
}

Result<std::unique_ptr<App>> start_redmine(const fs::path& dir, const Knobs& knobs)
{
    auto app = std::make_unique<Redmine>();
    ROTE_TRY(app->load(dir));
    if (knobs.name() != "baseline")
        ROTE_TRY(app->reset(knobs));
    return std::unique_ptr<App>(std::move(app));
}

bool installed(const std::string& app)
{
    if (app == "dokuwiki")
        return fs::exists("/usr/share/dokuwiki/doku.php") && fs::exists("/usr/share/dokuwiki/bin/indexer.php");
    if (app == "redmine")
        return fs::exists("/usr/share/redmine/bin/rails") && fs::exists("/var/lib/redmine/Gemfile.lock");
    return false;
}

} // namespace rote::realapps
