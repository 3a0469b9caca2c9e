#include <rote/store/store.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <set>
#include <sstream>

#include <csignal>
#include <cerrno>
#include <unistd.h>

#include <rote/base/log.h>
#include <rote/base/text.h>

#include "codec.h"
#include "schema.h"
#include "sqlite.h"
#include "store_internal.h"

namespace rote::store {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Who a process is, beyond its pid (which the kernel reuses): the pid namespace its pid belongs to, the boot,
// and its start time in clock ticks since boot. Empty fields when /proc cannot say (start_ticks -1).
struct ProcessIdentity {
    std::string pid_ns;
    std::string boot_id;
    std::int64_t start_ticks = -1;

    static ProcessIdentity of(pid_t pid)
    {
        ProcessIdentity id;
        char link[128] = {};
        if (pid == getpid()) {
            const ssize_t n = ::readlink("/proc/self/ns/pid", link, sizeof link - 1);
            if (n > 0)
                id.pid_ns.assign(link, static_cast<std::size_t>(n));
        }
        std::ifstream boot("/proc/sys/kernel/random/boot_id");
        std::getline(boot, id.boot_id);
        // Field 22 of /proc/PID/stat, counted after the command name's closing parenthesis (the name may hold
        // spaces and parentheses itself).
        std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
        std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
        const auto close = text.rfind(')');
        if (close != std::string::npos) {
            std::istringstream rest(text.substr(close + 1));
            std::string field;
            for (int i = 3; i <= 22 && (rest >> field); ++i) {
                if (i == 22)
                    id.start_ticks = std::strtoll(field.c_str(), nullptr, 10);
            }
        }
        return id;
    }
};

std::uint32_t read_be32(const unsigned char* p)
{
    return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | std::uint32_t(p[3]);
}

// Decides whether an existing file may be opened as a rote store, without writing to it: a file that is
// not SQLite is judged from its header alone and never handed to SQLite; an SQLite file of another
// application is recognised by its application_id or, lacking one, by having tables of its own.
Result<void> probe_existing(const fs::path& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return Error(Error::Code::io, "cannot read " + path.string());
    std::array<unsigned char, 100> header {};
    in.read(reinterpret_cast<char*>(header.data()), header.size());
    const auto got = in.gcount();
    if (got == 0)
        return {}; // an empty file: SQLite treats it as an empty database, and so do we
    static constexpr char kMagic[] = "SQLite format 3"; // 16 bytes with its NUL
    if (got < 100 || std::memcmp(header.data(), kMagic, sizeof kMagic) != 0)
        return Error(Error::Code::unsupported,
            path.string()
                + " is not a rote store (not an SQLite database); refusing to open it, it was left untouched");

    auto application_id = static_cast<std::int32_t>(read_be32(&header[68]));
    auto user_version = static_cast<int>(read_be32(&header[60]));
    // No id in the file's header: either none was ever set, or it is still in the write-ahead log of a
    // store another connection has open (a `rote report` during a `rote run`). SQLite, read-only, sees both.
    std::int64_t objects = -1;
    if (application_id == 0) {
        sqlite3* db = nullptr;
        if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
            auto read = [&](const char* query) -> std::optional<std::int64_t> {
                auto stmt = sql::Stmt::prepare(db, query);
                if (!stmt.ok())
                    return std::nullopt;
                auto row = stmt->step();
                if (!row.ok() || !*row)
                    return std::nullopt;
                return stmt->i64(0);
            };
            application_id = static_cast<std::int32_t>(read("PRAGMA application_id").value_or(0));
            user_version = static_cast<int>(read("PRAGMA user_version").value_or(0));
            objects = read("SELECT count(*) FROM sqlite_schema").value_or(-1);
        }
        sqlite3_close(db);
    }
    if (application_id == kApplicationId) {
        if (user_version > kSchemaVersion)
            return Error(Error::Code::unsupported,
                path.string() + " was written by a newer rote (store schema " + std::to_string(user_version)
                    + ", this rote reads up to " + std::to_string(kSchemaVersion)
                    + "); upgrade rote or use another --db. The file was left untouched");
        return {};
    }
    if (application_id != 0) {
        char id[16];
        std::snprintf(id, sizeof id, "0x%08x", static_cast<unsigned>(application_id));
        return Error(Error::Code::unsupported,
            path.string() + " is an SQLite database of another application (application_id " + id
                + "), not a rote store; refusing to open it, it was left untouched");
    }

    // No application id: adopt it only if it holds nothing at all (a file SQLite created empty).
    if (objects == 0)
        return {};
    if (objects < 0)
        return Error(Error::Code::unsupported,
            path.string()
                + " is not a rote store (an unreadable SQLite file); refusing to open it, it was left untouched");
    return Error(Error::Code::unsupported,
        path.string() + " is an SQLite database of another application (" + std::to_string(objects)
            + " schema objects, no rote id), not a rote store; refusing to open it, it was left untouched");
}

Result<std::int64_t> single_int(sqlite3* db, const char* query)
{
    auto stmt = ROTE_TRY(sql::Stmt::prepare(db, query));
    if (!ROTE_TRY(stmt.step()))
        return Error(Error::Code::internal, std::string("no row from: ") + query);
    return stmt.i64(0);
}

Error invalid(const std::string& message) { return Error(Error::Code::invalid_argument, message); }

// Whether rote may write the store at `path` and, for its write-ahead log, its directory (errno says why not).
bool writable(const fs::path& path)
{
    const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
    return ::access(path.c_str(), W_OK) == 0 && ::access(dir.c_str(), W_OK) == 0;
}

std::string step_where(std::size_t i) { return "step " + std::to_string(i); }

} // namespace

// ---- opening ---------------------------------------------------------------------------------------

Store::Store(sqlite3* db, fs::path path)
    : m_db(db)
    , m_path(std::move(path))
{
}

Store::~Store() { sqlite3_close(m_db); }

Result<std::unique_ptr<Store>> Store::open(const fs::path& path)
{
    std::error_code ec;
    const auto status = fs::status(path, ec);
    if (fs::exists(status)) {
        if (!fs::is_regular_file(status))
            return Error(Error::Code::invalid_argument, path.string() + " is not a regular file");
        ROTE_TRY(probe_existing(path));
        if (!writable(path))
            return Error(Error::Code::io, path.string() + " cannot be written here (" + std::strerror(errno)
                    + "); the commands that only read it (list, show, report, export, trace list) still can");
    } else if (path.has_parent_path()) {
        fs::create_directories(path.parent_path(), ec);
        if (ec)
            return Error(Error::Code::io, "cannot create " + path.parent_path().string() + ": " + ec.message());
    }

    sqlite3* db = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    if (rc != SQLITE_OK) {
        Error e = sql::error_from(db, rc, "opening " + path.string());
        sqlite3_close(db);
        return e;
    }
    std::unique_ptr<Store> store(new Store(db, path));
    ROTE_TRY(store->configure());
    ROTE_TRY(store->migrate());
    ROTE_TRY(store->end_abandoned_runs());
    return store;
}

namespace {

// Not found, naming it, unless the run is stored: a run's steps or traffic are asked of a run that exists.
Result<void> run_exists(sqlite3* db, std::int64_t run_id)
{
    auto run = ROTE_TRY(sql::Stmt::prepare(db, "SELECT 1 FROM runs WHERE id = ?1"));
    run.bind(1, run_id);
    if (!ROTE_TRY(run.step()))
        return Error(Error::Code::not_found, "no run " + std::to_string(run_id));
    return {};
}

// A path as an SQLite URI ("file:" and the path, its reserved characters percent-encoded).
std::string file_uri(const fs::path& path)
{
    std::string uri = "file:";
    for (unsigned char c : fs::absolute(path).string()) {
        if (c == '%' || c == '?' || c == '#' || c < 0x21 || c > 0x7e) {
            char hex[4];
            std::snprintf(hex, sizeof hex, "%%%02X", c);
            uri += hex;
        } else {
            uri += static_cast<char>(c);
        }
    }
    return uri;
}

// An SQLite connection that reads `path` (a file: URI with SQLITE_OPEN_URI when `uri`), or why not.
Result<sqlite3*> open_reader(const std::string& name, bool uri, const fs::path& path)
{
    sqlite3* db = nullptr;
    const int rc = sqlite3_open_v2(name.c_str(), &db, SQLITE_OPEN_READONLY | (uri ? SQLITE_OPEN_URI : 0), nullptr);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(db, 5000);
        // The first read opens the WAL and its shared memory: where that fails, so does the reader.
        const int read = sqlite3_exec(db, "SELECT count(*) FROM sqlite_schema", nullptr, nullptr, nullptr);
        if (read == SQLITE_OK)
            return db;
        Error e = sql::error_from(db, read, "reading " + path.string());
        sqlite3_close(db);
        return e;
    }
    Error e = sql::error_from(db, rc, "opening " + path.string());
    sqlite3_close(db);
    return e;
}

} // namespace

Result<std::unique_ptr<Store>> Store::open_read_only(const fs::path& path)
{
    std::error_code ec;
    const auto status = fs::status(path, ec);
    if (!fs::exists(status))
        return Error(Error::Code::not_found, path.string() + " does not exist: no store there yet (a run creates it)");
    if (!fs::is_regular_file(status))
        return Error(Error::Code::invalid_argument, path.string() + " is not a regular file");
    ROTE_TRY(probe_existing(path));

    std::string note;
    auto db = open_reader(path.string(), false, path);
    if (!db.ok()) {
        // No WAL shared memory here (a read-only mount, a directory rote may not write): the file alone,
        // which SQLite then trusts not to change while it is read.
        auto immutable = open_reader(file_uri(path) + "?immutable=1", true, path);
        if (!immutable.ok())
            return db.error();
        note = path.string() + " is read as it lies on disk, its write-ahead log out of reach here ("
            + db.error().message() + "): what a run writing it now commits is not seen";
        db = immutable;
    }
    std::unique_ptr<Store> store(new Store(*db, path));
    store->m_read_only_note = note;
    ROTE_TRY(sql::exec(store->m_db, "PRAGMA foreign_keys = ON"));
    const auto application_id = ROTE_TRY(single_int(store->m_db, "PRAGMA application_id"));
    const auto version = static_cast<int>(ROTE_TRY(single_int(store->m_db, "PRAGMA user_version")));
    if (application_id == 0 && version == 0)
        return Error(Error::Code::not_found, path.string() + " is empty: no store there yet (a run creates it)");
    if (version < kSchemaVersion) {
        store.reset();
        if (writable(path))
            return open(path); // upgraded once, as a writing command would
        return Error(Error::Code::unsupported,
            path.string() + " is at store schema " + std::to_string(version) + ", older than this rote's "
                + std::to_string(kSchemaVersion) + ", and cannot be written to upgrade it; read it with the rote that wrote it, or copy it somewhere writable");
    }
    store->m_schema_version = version; // a newer one the probe refused
    return store;
}

Result<std::unique_ptr<Store>> Store::open_in_memory()
{
    sqlite3* db = nullptr;
    const int rc = sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    if (rc != SQLITE_OK) {
        sqlite3_close(db);
        return Error(Error::Code::internal, "cannot open an in-memory database");
    }
    std::unique_ptr<Store> store(new Store(db, ":memory:"));
    ROTE_TRY(store->configure());
    ROTE_TRY(store->migrate());
    return store;
}

Result<void> Store::configure()
{
    ROTE_TRY(sql::exec(m_db, "PRAGMA foreign_keys = ON"));
    sqlite3_busy_timeout(m_db, 5000);
    if (m_path != ":memory:") {
        // WAL: readers never block the writer, and a killed writer leaves a consistent file.
        // synchronous=NORMAL keeps that consistency through a process crash; only a power loss can
        // drop the last commits (never corrupt the file).
        auto mode = ROTE_TRY(sql::Stmt::prepare(m_db, "PRAGMA journal_mode = WAL"));
        if (!ROTE_TRY(mode.step()) || mode.text(0) != "wal")
            return Error(Error::Code::io, m_path.string() + ": cannot switch to WAL journal mode");
        ROTE_TRY(sql::exec(m_db, "PRAGMA synchronous = NORMAL"));
    }
    return {};
}

Result<void> Store::migrate()
{
    // A migration may rebuild a table others refer to (schema 4): foreign keys are off while it runs (the
    // pragma is a no-op inside a transaction) and checked before it commits.
    ROTE_TRY(sql::exec(m_db, "PRAGMA foreign_keys = OFF"));
    auto migrated = migrate_without_foreign_keys();
    auto on = sql::exec(m_db, "PRAGMA foreign_keys = ON");
    ROTE_TRY(migrated);
    return on;
}

Result<void> Store::migrate_without_foreign_keys()
{
    auto tx = ROTE_TRY(sql::Transaction::begin(m_db));
    const auto application_id = ROTE_TRY(single_int(m_db, "PRAGMA application_id"));
    const auto version = static_cast<int>(ROTE_TRY(single_int(m_db, "PRAGMA user_version")));
    const auto objects = ROTE_TRY(single_int(m_db, "SELECT count(*) FROM sqlite_schema"));

    // The probe already judged the header; this re-check under the write lock closes the window in
    // which another process could have changed the file, and covers headers still only in the WAL.
    if (application_id != kApplicationId && !(application_id == 0 && version == 0 && objects == 0))
        return Error(Error::Code::unsupported, m_path.string() + " is not a rote store; refusing to change it");
    if (version > kSchemaVersion)
        return Error(Error::Code::unsupported,
            m_path.string() + " was written by a newer rote (store schema " + std::to_string(version)
                + ", this rote reads up to " + std::to_string(kSchemaVersion) + ")");

    const auto steps = migrations();
    if (version < kSchemaVersion && version > 0)
        logger("store")->info("upgrading {} from schema {} to {}", m_path.string(), version, kSchemaVersion);
    for (int v = version; v < kSchemaVersion; ++v) {
        if (auto r = sql::exec(m_db, steps[static_cast<std::size_t>(v)]); !r.ok())
            return r.error().with_context("migrating " + m_path.string() + " to schema " + std::to_string(v + 1));
    }
    if (version != kSchemaVersion) {
        auto fk = ROTE_TRY(sql::Stmt::prepare(m_db, "PRAGMA foreign_key_check"));
        if (ROTE_TRY(fk.step()))
            return Error(Error::Code::corrupt, m_path.string() + ": after migrating, a row in " + fk.text(0)
                    + " refers to a missing " + fk.text(2) + "; nothing was changed");
        ROTE_TRY(sql::exec(m_db, ("PRAGMA application_id = " + std::to_string(kApplicationId)).c_str()));
        ROTE_TRY(sql::exec(m_db, ("PRAGMA user_version = " + std::to_string(kSchemaVersion)).c_str()));
    }
    ROTE_TRY(tx.commit());
    m_schema_version = kSchemaVersion;
    return {};
}

Result<void> Store::check_integrity()
{
    auto check = ROTE_TRY(sql::Stmt::prepare(m_db, "PRAGMA integrity_check"));
    while (ROTE_TRY(check.step())) {
        if (check.text(0) != "ok")
            return Error(Error::Code::corrupt, m_path.string() + ": integrity check: " + check.text(0));
    }
    auto fk = ROTE_TRY(sql::Stmt::prepare(m_db, "PRAGMA foreign_key_check"));
    if (ROTE_TRY(fk.step()))
        return Error(
            Error::Code::corrupt, m_path.string() + ": a row in " + fk.text(0) + " refers to a missing " + fk.text(2));
    return {};
}

// ---- artifacts -------------------------------------------------------------------------------------

namespace internal {

Result<void> insert_artifact(
    sqlite3* db, const Hash& hash, std::string_view media_type, std::span<const std::uint8_t> data)
{
    auto stmt = ROTE_TRY(sql::Stmt::prepare(db,
        "INSERT INTO artifacts (hash, media_type, size, data, created_at) VALUES (?1, ?2, ?3, ?4, ?5)"
        " ON CONFLICT (hash) DO NOTHING"));
    stmt.bind(1, hash)
        .bind(2, media_type)
        .bind(3, static_cast<std::int64_t>(data.size()))
        .bind_blob(4, data)
        .bind(5, now_timestamp());
    return stmt.run();
}

Result<std::int64_t> single_int_bound(sqlite3* db, const char* query, std::int64_t param)
{
    auto stmt = ROTE_TRY(sql::Stmt::prepare(db, query));
    stmt.bind(1, param);
    if (!ROTE_TRY(stmt.step()))
        return Error(Error::Code::internal, std::string("no row from: ") + query);
    return stmt.i64(0);
}

Result<bool> artifact_exists(sqlite3* db, const Hash& hash)
{
    auto stmt = ROTE_TRY(sql::Stmt::prepare(db, "SELECT 1 FROM artifacts WHERE hash = ?1"));
    stmt.bind(1, hash);
    return stmt.step();
}

Result<std::int64_t> ensure_workflow(sqlite3* db, const std::string& name, const std::string& goal)
{
    ROTE_TRY(validate_workflow_name(name));
    auto insert = ROTE_TRY(sql::Stmt::prepare(
        db, "INSERT INTO workflows (name, goal, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (name) DO NOTHING"));
    insert.bind(1, name).bind(2, goal).bind(3, now_timestamp());
    ROTE_TRY(insert.run());
    return workflow_id(db, name);
}

Result<std::int64_t> workflow_id(sqlite3* db, const std::string& name)
{
    auto select = ROTE_TRY(sql::Stmt::prepare(db, "SELECT id FROM workflows WHERE name = ?1"));
    select.bind(1, name);
    if (!ROTE_TRY(select.step()))
        return Error(Error::Code::not_found, "no workflow named \"" + name + "\"");
    return select.i64(0);
}

Result<void> validate_workflow_name(const std::string& name)
{
    if (name.empty() || name.size() > 200)
        return invalid("a workflow name must have 1 to 200 characters");
    for (unsigned char c : name) {
        if (c < 0x20 || c == 0x7f)
            return invalid("a workflow name must not contain control characters");
    }
    return {};
}

} // namespace internal

Result<Hash> Store::put_artifact(std::span<const std::uint8_t> data, std::string_view media_type)
{
    if (media_type.empty())
        return invalid("an artifact needs a media type");
    Hash hash = codec::sha256_hex(data);
    ROTE_TRY(internal::insert_artifact(m_db, hash, media_type, data));
    return hash;
}

Result<Artifact> Store::get_artifact(const Hash& hash)
{
    auto stmt = ROTE_TRY(sql::Stmt::prepare(m_db, "SELECT media_type, data FROM artifacts WHERE hash = ?1"));
    stmt.bind(1, hash);
    if (!ROTE_TRY(stmt.step()))
        return Error(Error::Code::not_found, "no artifact " + hash);
    Artifact a {hash, stmt.text(0), stmt.blob(1)};
    if (codec::sha256_hex(a.data) != hash)
        return Error(Error::Code::corrupt, "artifact " + hash + " does not match its hash");
    return a;
}

Result<ArtifactStats> Store::artifact_stats()
{
    ArtifactStats s;
    auto stored = ROTE_TRY(sql::Stmt::prepare(m_db, "SELECT count(*), coalesce(sum(size), 0) FROM artifacts"));
    ROTE_TRY(stored.step());
    s.artifacts = stored.i64(0);
    s.stored_bytes = stored.i64(1);
    auto refs = ROTE_TRY(sql::Stmt::prepare(m_db, R"sql(
        WITH refs (hash) AS (
            SELECT pre_artifact FROM steps WHERE pre_artifact IS NOT NULL
            UNION ALL SELECT post_artifact FROM steps WHERE post_artifact IS NOT NULL
            UNION ALL SELECT anchor_patch FROM steps WHERE anchor_patch IS NOT NULL
            UNION ALL SELECT artifact FROM run_steps WHERE artifact IS NOT NULL
            UNION ALL SELECT before_image FROM run_steps WHERE before_image IS NOT NULL
            UNION ALL SELECT after_image FROM run_steps WHERE after_image IS NOT NULL)
        SELECT count(*), coalesce(sum(a.size), 0) FROM refs JOIN artifacts a ON a.hash = refs.hash)sql"));
    ROTE_TRY(refs.step());
    s.references = refs.i64(0);
    s.referenced_bytes = refs.i64(1);
    return s;
}

// ---- workflows -------------------------------------------------------------------------------------

Result<void> Store::put_workflow(const Workflow& w)
{
    ROTE_TRY(internal::validate_workflow_name(w.name));
    auto stmt = ROTE_TRY(sql::Stmt::prepare(m_db,
        "INSERT INTO workflows (name, goal, definition, created_at) VALUES (?1, ?2, ?3, ?4)"
        " ON CONFLICT (name) DO UPDATE SET goal = excluded.goal, definition = excluded.definition"));
    stmt.bind(1, w.name).bind(2, w.goal).bind(3, w.definition).bind(4, now_timestamp());
    return stmt.run();
}

Result<std::vector<WorkflowSummary>> Store::list_workflows()
{
    std::vector<WorkflowSummary> out;
    auto workflows = ROTE_TRY(sql::Stmt::prepare(m_db, "SELECT id, name, goal FROM workflows ORDER BY name"));
    auto last_run = ROTE_TRY(sql::Stmt::prepare(m_db,
        "SELECT id, status, started_at FROM runs WHERE workflow_id = ?1 ORDER BY started_at DESC, id DESC LIMIT 1"));
    while (ROTE_TRY(workflows.step())) {
        WorkflowSummary w;
        w.name = workflows.text(1);
        w.goal = workflows.text(2);
        w.traces = ROTE_TRY(list_traces(w.name));
        last_run.reset();
        last_run.bind(1, workflows.i64(0));
        if (ROTE_TRY(last_run.step())) {
            auto status = parse_run_status(last_run.text(1));
            if (!status)
                return Error(Error::Code::corrupt, "run " + std::to_string(last_run.i64(0)) + " has an unknown status");
            w.last_run = RunSummary {last_run.i64(0), *status, last_run.text(2)};
        }
        out.push_back(std::move(w));
    }
    return out;
}

// ---- traces ----------------------------------------------------------------------------------------

namespace {

Result<void> validate_steps(const NewTrace& trace)
{
    for (std::size_t i = 0; i < trace.steps.size(); ++i) {
        const Step& s = trace.steps[i];
        const auto where = step_where(i);
        if (s.index != static_cast<int>(i))
            return invalid(where + ": index is " + std::to_string(s.index) + ", expected " + std::to_string(i));
        if (!is_replayable(s.action.kind))
            return invalid(where + ": a trace cannot record \"" + std::string(to_string(s.action.kind)) + "\"");
        if (s.settle_ms < 0)
            return invalid(where + ": settle_ms is negative");
        // What is written must read back: validate through the same parsers load_trace uses.
        if (auto a = codec::action_from_json(codec::to_json(s.action), where); !a.ok())
            return a.release_error();
        if (auto m = codec::rects_from_json(codec::to_json(s.mask), where + ": mask"); !m.ok())
            return m.release_error();
        if (auto a = codec::anchor_from_json(codec::anchor_to_json(s.anchor), where + ": anchor"); !a.ok())
            return a.release_error();
        if (s.effect_region) {
            if (auto r = codec::rect_from_json(codec::to_json(*s.effect_region), where + ": effect region"); !r.ok())
                return r.release_error();
        }
        for (const auto* h : {&s.pre_artifact, &s.post_artifact, &s.anchor.patch}) {
            if (*h && !codec::is_hash(**h))
                return invalid(where + ": \"" + **h + "\" is not an artifact hash");
        }
    }
    for (const auto& a : trace.artifacts) {
        if (codec::sha256_hex(a.data) != a.hash)
            return invalid(
                "artifact " + a.hash + " does not match its bytes (SHA-256 " + codec::sha256_hex(a.data) + ")");
        if (a.media_type.empty())
            return invalid("artifact " + a.hash + " has no media type");
    }
    return {};
}

} // namespace

Result<std::int64_t> Store::save_trace(const NewTrace& trace, const Progress& progress)
{
    ROTE_TRY(validate_steps(trace));
    auto tx = ROTE_TRY(sql::Transaction::begin(m_db));
    const auto workflow_id = ROTE_TRY(internal::ensure_workflow(m_db, trace.workflow, trace.workflow_goal));

    if (trace.parent_id) {
        auto parent = ROTE_TRY(sql::Stmt::prepare(m_db, "SELECT workflow_id FROM traces WHERE id = ?1"));
        parent.bind(1, *trace.parent_id);
        if (!ROTE_TRY(parent.step()))
            return Error(
                Error::Code::not_found, "parent trace " + std::to_string(*trace.parent_id) + " does not exist");
        if (parent.i64(0) != workflow_id)
            return Error(Error::Code::conflict,
                "parent trace " + std::to_string(*trace.parent_id) + " belongs to another workflow");
    }
    if (trace.source_run_id) {
        auto run = ROTE_TRY(sql::Stmt::prepare(m_db, "SELECT 1 FROM runs WHERE id = ?1"));
        run.bind(1, *trace.source_run_id);
        if (!ROTE_TRY(run.step()))
            return Error(
                Error::Code::not_found, "source run " + std::to_string(*trace.source_run_id) + " does not exist");
    }

    std::set<Hash> available;
    for (const auto& a : trace.artifacts) {
        ROTE_TRY(internal::insert_artifact(m_db, a.hash, a.media_type, a.data));
        available.insert(a.hash);
    }
    for (std::size_t i = 0; i < trace.steps.size(); ++i) {
        const Step& s = trace.steps[i];
        for (const auto* h : {&s.pre_artifact, &s.post_artifact, &s.anchor.patch}) {
            if (!*h || available.count(**h))
                continue;
            if (!ROTE_TRY(internal::artifact_exists(m_db, **h)))
                return Error(Error::Code::not_found,
                    step_where(i) + ": artifact " + **h + " is neither in the trace nor in the store");
            available.insert(**h);
        }
    }

    const auto version = ROTE_TRY(internal::single_int_bound(
        m_db, "SELECT coalesce(max(version), 0) + 1 FROM traces WHERE workflow_id = ?1", workflow_id));
    auto insert_trace = ROTE_TRY(sql::Stmt::prepare(m_db,
        "INSERT INTO traces (workflow_id, version, parent_id, source_run_id, note, created_at) VALUES (?1, ?2, ?3, ?4, "
        "?5, ?6)"));
    insert_trace.bind(1, workflow_id)
        .bind(2, version)
        .bind(3, trace.parent_id)
        .bind(4, trace.source_run_id)
        .bind(5, trace.note)
        .bind(6, now_timestamp());
    ROTE_TRY(insert_trace.run());
    const std::int64_t trace_id = sqlite3_last_insert_rowid(m_db);

    auto insert_step = ROTE_TRY(sql::Stmt::prepare(m_db,
        "INSERT INTO steps (trace_id, idx, action, pre_artifact, pre_fingerprint, mask, anchor, anchor_patch,"
        " effect_region, post_artifact, post_fingerprint, settle_ms, provenance)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"));
    for (std::size_t i = 0; i < trace.steps.size(); ++i) {
        const Step& s = trace.steps[i];
        insert_step.reset();
        insert_step.bind(1, trace_id)
            .bind(2, s.index)
            .bind(3, codec::to_json(s.action).dump())
            .bind(4, s.pre_artifact)
            .bind_blob(5, s.pre_fingerprint)
            .bind(6, codec::to_json(s.mask).dump())
            .bind(7, codec::anchor_to_json(s.anchor).dump())
            .bind(8, s.anchor.patch)
            .bind_blob(11, s.post_fingerprint)
            .bind(10, s.post_artifact)
            .bind(12, s.settle_ms)
            .bind(13, to_string(s.provenance));
        if (s.effect_region)
            insert_step.bind(9, codec::to_json(*s.effect_region).dump());
        else
            insert_step.bind_null(9);
        if (auto r = insert_step.run(); !r.ok())
            return r.error().with_context(step_where(i));
        if (progress)
            progress(i + 1, trace.steps.size());
    }
    ROTE_TRY(internal::stand_new_trace(m_db, trace_id, workflow_id, trace.parent_id.has_value(), trace.conditions,
        trace.parent_id ? "a repair on probation: " + trace.note : "taught: " + trace.note));
    ROTE_TRY(tx.commit());
    logger("store")->debug("saved trace {} ({} v{}, {} steps)", trace_id, trace.workflow, version, trace.steps.size());
    return trace_id;
}

Result<Trace> Store::load_trace(std::int64_t id)
{
    auto head = ROTE_TRY(sql::Stmt::prepare(m_db,
        "SELECT w.name, t.version, t.parent_id, t.source_run_id, t.note, t.created_at"
        " FROM traces t JOIN workflows w ON w.id = t.workflow_id WHERE t.id = ?1"));
    head.bind(1, id);
    if (!ROTE_TRY(head.step()))
        return Error(Error::Code::not_found, "no trace " + std::to_string(id));
    Trace t;
    t.id = id;
    t.workflow = head.text(0);
    t.version = static_cast<int>(head.i64(1));
    t.parent_id = head.opt_i64(2);
    t.source_run_id = head.opt_i64(3);
    t.note = head.text(4);
    t.created_at = head.text(5);

    auto rows = ROTE_TRY(sql::Stmt::prepare(m_db,
        "SELECT idx, action, pre_artifact, pre_fingerprint, mask, anchor, anchor_patch, effect_region,"
        " post_artifact, post_fingerprint, settle_ms, provenance FROM steps WHERE trace_id = ?1 ORDER BY idx"));
    rows.bind(1, id);
    while (ROTE_TRY(rows.step())) {
        const auto where = "trace " + std::to_string(id) + " " + step_where(t.steps.size());
        auto corrupt = [&](const Error& e) { return Error(Error::Code::corrupt, where + ": " + e.message()); };
        Step s;
        s.index = static_cast<int>(rows.i64(0));
        auto action = codec::action_from_json(ROTE_TRY(codec::parse_stored(rows.text(1), where)), "action");
        if (!action.ok())
            return corrupt(action.error());
        s.action = std::move(action).value();
        s.pre_artifact = rows.opt_text(2);
        s.pre_fingerprint = rows.blob(3);
        auto mask = codec::rects_from_json(ROTE_TRY(codec::parse_stored(rows.text(4), where)), "mask");
        if (!mask.ok())
            return corrupt(mask.error());
        s.mask = std::move(mask).value();
        auto anchor = codec::anchor_from_json(ROTE_TRY(codec::parse_stored(rows.text(5), where)), "anchor");
        if (!anchor.ok())
            return corrupt(anchor.error());
        s.anchor = std::move(anchor).value();
        s.anchor.patch = rows.opt_text(6);
        if (auto region = rows.opt_text(7)) {
            auto r = codec::rect_from_json(ROTE_TRY(codec::parse_stored(*region, where)), "effect region");
            if (!r.ok())
                return corrupt(r.error());
            s.effect_region = *r;
        }
        s.post_artifact = rows.opt_text(8);
        s.post_fingerprint = rows.blob(9);
        s.settle_ms = static_cast<int>(rows.i64(10));
        auto provenance = parse_provenance(rows.text(11));
        if (!provenance)
            return Error(Error::Code::corrupt, where + ": unknown provenance");
        s.provenance = *provenance;
        t.steps.push_back(std::move(s));
    }
    return t;
}

Result<std::vector<TraceSummary>> Store::list_traces(const std::string& workflow)
{
    const auto workflow_id = ROTE_TRY(internal::workflow_id(m_db, workflow));
    auto stmt = ROTE_TRY(sql::Stmt::prepare(m_db,
        "SELECT t.id, t.version, (SELECT count(*) FROM steps s WHERE s.trace_id = t.id), t.created_at"
        " FROM traces t WHERE t.workflow_id = ?1 ORDER BY t.version"));
    stmt.bind(1, workflow_id);
    std::vector<TraceSummary> out;
    while (ROTE_TRY(stmt.step()))
        out.push_back({stmt.i64(0), static_cast<int>(stmt.i64(1)), static_cast<int>(stmt.i64(2)), stmt.text(3)});
    return out;
}

// ---- owners ----------------------------------------------------------------------------------------

namespace internal {

Owner this_process()
{
    const ProcessIdentity me = ProcessIdentity::of(getpid());
    return {std::int64_t(getpid()), me.pid_ns, me.boot_id, me.start_ticks};
}

Result<int> end_rows(sqlite3* db, const char* update, const std::vector<std::pair<std::int64_t, std::string>>& rows)
{
    if (rows.empty())
        return 0;
    auto tx = ROTE_TRY(sql::Transaction::begin(db));
    auto end = ROTE_TRY(sql::Stmt::prepare(db, update));
    int ended = 0;
    for (const auto& [id, why] : rows) {
        end.reset();
        end.bind(1, id).bind(2, why).bind(3, now_timestamp());
        ROTE_TRY(end.run());
        ended += sqlite3_changes(db);
    }
    ROTE_TRY(tx.commit());
    return ended;
}

std::string owner_gone(const Owner& owner)
{
    const ProcessIdentity me = ProcessIdentity::of(getpid());
    // A pid of another namespace cannot be looked up from here: its owner may be alive.
    if (me.pid_ns.empty() || owner.pid_ns != me.pid_ns)
        return {};
    if (owner.boot_id != me.boot_id)
        return "the machine has restarted since";
    if (owner.pid <= 0 || owner.pid > 1 << 22 || (::kill(static_cast<pid_t>(owner.pid), 0) != 0 && errno == ESRCH))
        return "it has exited";
    if (const auto now = ProcessIdentity::of(static_cast<pid_t>(owner.pid)).start_ticks; now >= 0 && now != owner.start_ticks)
        return "it has exited (its pid is another process's now)";
    return {};
}

} // namespace internal

// ---- runs ------------------------------------------------------------------------------------------

Result<std::int64_t> Store::begin_run(const NewRun& run)
{
    if (run.provider.empty() || run.planner.empty())
        return invalid("a run needs a provider and a planner");
    const auto started_at = run.started_at.empty() ? now_timestamp() : ROTE_TRY(parse_timestamp(run.started_at));
    auto tx = ROTE_TRY(sql::Transaction::begin(m_db));
    const auto workflow_id = ROTE_TRY(internal::ensure_workflow(m_db, run.workflow));
    if (run.trace_id) {
        const auto owner = ROTE_TRY(internal::single_int_bound(
            m_db, "SELECT coalesce((SELECT workflow_id FROM traces WHERE id = ?1), -1)", *run.trace_id));
        if (owner != workflow_id)
            return Error(Error::Code::not_found,
                "trace " + std::to_string(*run.trace_id) + " is not a trace of " + run.workflow);
    }
    auto stmt = ROTE_TRY(sql::Stmt::prepare(m_db,
        "INSERT INTO runs (workflow_id, trace_id, inputs, provider, planner, status, started_at, fire_id)"
        " VALUES (?1, ?2, ?3, ?4, ?5, 'running', ?6, ?7)"));
    stmt.bind(1, workflow_id)
        .bind(2, run.trace_id)
        .bind(3, codec::to_json(run.inputs).dump())
        .bind(4, run.provider)
        .bind(5, run.planner)
        .bind(6, started_at)
        .bind(7, run.fire_id);
    ROTE_TRY(stmt.run());
    const std::int64_t id = sqlite3_last_insert_rowid(m_db);
    const internal::Owner me = internal::this_process();
    auto owner = ROTE_TRY(sql::Stmt::prepare(m_db,
        "INSERT INTO run_owners (run_id, pid, pid_ns, boot_id, start_ticks) VALUES (?1, ?2, ?3, ?4, ?5)"));
    owner.bind(1, id).bind(2, me.pid).bind(3, me.pid_ns).bind(4, me.boot_id).bind(5, me.start_ticks);
    ROTE_TRY(owner.run());
    ROTE_TRY(tx.commit());
    return id;
}

Result<int> Store::end_abandoned_runs()
{
    // Read first, without the write lock (most opens find nothing to end); the update re-checks the status.
    auto owned = ROTE_TRY(sql::Stmt::prepare(m_db,
        "SELECT r.id, o.pid, o.pid_ns, o.boot_id, o.start_ticks FROM runs r JOIN run_owners o ON o.run_id = r.id"
        " WHERE r.status = 'running'"));
    std::vector<std::pair<std::int64_t, std::string>> gone;
    while (ROTE_TRY(owned.step())) {
        const internal::Owner owner {owned.i64(1), owned.text(2), owned.text(3), owned.i64(4)};
        if (const std::string why = internal::owner_gone(owner); !why.empty())
            gone.emplace_back(owned.i64(0), "interrupted: the rote process running it (pid " + std::to_string(owner.pid) + ") went away without finishing it; " + why);
    }
    owned.reset();
    ROTE_TRY(internal::end_abandoned_fires(m_db));
    const int ended = ROTE_TRY(internal::end_rows(m_db,
        "UPDATE runs SET status = 'interrupted', error = ?2, finished_at = ?3 WHERE id = ?1 AND status = 'running'", gone));
    if (ended > 0)
        logger("store")->info("{}: {} run(s) whose rote process went away marked interrupted", m_path.string(), ended);
    return ended;
}

Result<void> Store::add_run_step(std::int64_t run_id, const RunStep& step)
{
    if (step.index < 0 || step.duration_ms < 0)
        return invalid("a run step needs a non-negative index and duration");
    for (const auto& hash : {step.artifact, step.before_image, step.after_image}) {
        if (hash && !codec::is_hash(*hash))
            return invalid("\"" + *hash + "\" is not an artifact hash");
    }
    auto stmt = ROTE_TRY(sql::Stmt::prepare(m_db,
        "INSERT INTO run_steps (run_id, idx, trace_step, outcome, action, method, confidence, duration_ms, artifact, "
        "detail, before_image, after_image)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"));
    stmt.bind(1, run_id)
        .bind(2, step.index)
        .bind(3, step.trace_step)
        .bind(4, to_string(step.outcome))
        .bind(5, codec::to_json(step.action).dump())
        .bind(6, step.method)
        .bind(7, step.confidence)
        .bind(8, step.duration_ms)
        .bind(9, step.artifact)
        .bind(10, step.detail)
        .bind(11, step.before_image)
        .bind(12, step.after_image);
    if (auto r = stmt.run(); !r.ok())
        return r.error().with_context("run " + std::to_string(run_id) + " step " + std::to_string(step.index));
    return {};
}

Result<std::int64_t> Store::add_llm_call(const LlmCall& c)
{
    if (c.provider.empty() || c.model.empty())
        return invalid("an LLM call needs a provider and a model");
    if (c.input_tokens < 0 || c.output_tokens < 0 || c.cache_read_tokens < 0 || c.cache_write_tokens < 0
        || c.cost_microusd < 0 || c.latency_ms < 0)
        return invalid("LLM call figures must not be negative");
    const auto created_at = c.created_at.empty() ? now_timestamp() : ROTE_TRY(parse_timestamp(c.created_at));
    auto stmt = ROTE_TRY(sql::Stmt::prepare(m_db,
        "INSERT INTO llm_calls (run_id, run_step, provider, model, input_tokens, output_tokens, cache_read_tokens,"
        " cache_write_tokens, cost_microusd, latency_ms, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
        "?11)"));
    stmt.bind(1, c.run_id)
        .bind(2, c.run_step)
        .bind(3, c.provider)
        .bind(4, c.model)
        .bind(5, c.input_tokens)
        .bind(6, c.output_tokens)
        .bind(7, c.cache_read_tokens)
        .bind(8, c.cache_write_tokens)
        .bind(9, c.cost_microusd)
        .bind(10, c.latency_ms)
        .bind(11, created_at);
    ROTE_TRY(stmt.run());
    return sqlite3_last_insert_rowid(m_db);
}

Result<void> Store::finish_run(std::int64_t run_id, const RunEnd& end)
{
    if (end.status == RunStatus::running)
        return invalid("a finished run needs a final status");
    if (end.wall_ms < 0 || end.sandbox_ms < 0)
        return invalid("run times must not be negative");
    const auto finished_at = end.finished_at.empty() ? now_timestamp() : ROTE_TRY(parse_timestamp(end.finished_at));
    auto tx = ROTE_TRY(sql::Transaction::begin(m_db));
    auto stmt = ROTE_TRY(sql::Stmt::prepare(m_db,
        "UPDATE runs SET status = ?2, error = ?3, outputs = ?4, new_trace_id = ?5, finished_at = ?6, wall_ms = ?7,"
        " sandbox_ms = ?8, trace_id = coalesce(?9, trace_id) WHERE id = ?1 AND status = 'running'"));
    stmt.bind(1, run_id)
        .bind(2, to_string(end.status))
        .bind(3, end.error)
        .bind(4, codec::to_json(end.outputs).dump())
        .bind(5, end.new_trace_id)
        .bind(6, finished_at)
        .bind(7, end.wall_ms)
        .bind(8, end.sandbox_ms)
        .bind(9, end.trace_id);
    ROTE_TRY(stmt.run());
    if (sqlite3_changes(m_db) == 0)
        return Error(Error::Code::not_found, "no running run " + std::to_string(run_id));
    auto insert = ROTE_TRY(sql::Stmt::prepare(m_db,
        "INSERT INTO run_requests (run_id, idx, at, method, host, port, path, status, bytes_in, bytes_out, ms, framing,"
        " error, refused, step, captured, request_headers, request_body, response_headers, response_body, truncated,"
        " scheme) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21,"
        " ?22)"));
    auto bytes = [](const std::string& s) {
        return std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
    };
    for (std::size_t i = 0; i < end.requests.size(); ++i) {
        const RunRequest& r = end.requests[i];
        insert.reset();
        insert.bind(1, run_id)
            .bind(2, static_cast<std::int64_t>(i))
            .bind(3, r.at)
            .bind(4, r.method)
            .bind(5, r.host)
            .bind(6, r.port)
            .bind(7, r.path)
            .bind(8, r.status)
            .bind(9, r.bytes_in)
            .bind(10, r.bytes_out)
            .bind(11, r.ms)
            .bind(12, r.framing)
            .bind(13, r.error)
            .bind(14, r.refused)
            .bind(15, r.step)
            .bind(16, r.capture ? 1 : 0)
            .bind(22, r.scheme);
        if (r.capture) {
            insert.bind(17, nlohmann::json(r.capture->request_headers).dump())
                .bind_blob(18, bytes(r.capture->request_body))
                .bind(19, nlohmann::json(r.capture->response_headers).dump())
                .bind_blob(20, bytes(r.capture->response_body))
                .bind(21, r.capture->truncated ? 1 : 0);
        } else {
            insert.bind(17, "[]").bind_null(18).bind(19, "[]").bind_null(20).bind(21, 0);
        }
        ROTE_TRY(insert.run());
    }
    return tx.commit();
}

Result<std::vector<RunRequest>> Store::run_requests(std::int64_t run_id)
{
    ROTE_TRY(run_exists(m_db, run_id));
    auto stmt = ROTE_TRY(sql::Stmt::prepare(m_db,
        "SELECT at, method, host, port, path, status, bytes_in, bytes_out, ms, framing, error, refused, step, captured,"
        " request_headers, request_body, response_headers, response_body, truncated, scheme FROM run_requests"
        " WHERE run_id = ?1 ORDER BY idx"));
    auto fields = [](const std::string& text) -> Result<std::vector<std::pair<std::string, std::string>>> {
        try {
            return nlohmann::json::parse(text).get<std::vector<std::pair<std::string, std::string>>>();
        } catch (const std::exception& e) {
            return Error(Error::Code::corrupt, std::string("a captured request's header fields: ") + e.what());
        }
    };
    auto text_of = [](const std::vector<std::uint8_t>& b) { return std::string(b.begin(), b.end()); };
    stmt.bind(1, run_id);
    std::vector<RunRequest> out;
    while (ROTE_TRY(stmt.step())) {
        RunRequest r;
        r.at = stmt.text(0);
        r.method = stmt.text(1);
        r.host = stmt.text(2);
        r.port = static_cast<int>(stmt.i64(3));
        r.path = stmt.text(4);
        r.status = static_cast<int>(stmt.i64(5));
        r.bytes_in = stmt.i64(6);
        r.bytes_out = stmt.i64(7);
        r.ms = stmt.f64(8);
        r.framing = stmt.text(9);
        r.error = stmt.text(10);
        r.refused = stmt.text(11);
        r.step = static_cast<int>(stmt.i64(12));
        r.scheme = stmt.text(19);
        if (stmt.i64(13) != 0) {
            store::CapturedExchange c;
            c.request_headers = ROTE_TRY(fields(stmt.text(14)));
            c.request_body = text_of(stmt.blob(15));
            c.response_headers = ROTE_TRY(fields(stmt.text(16)));
            c.response_body = text_of(stmt.blob(17));
            c.truncated = stmt.i64(18) != 0;
            r.capture = std::move(c);
        }
        out.push_back(std::move(r));
    }
    return out;
}

Result<std::vector<RunStep>> Store::run_steps(std::int64_t run_id)
{
    ROTE_TRY(run_exists(m_db, run_id));
    auto stmt = ROTE_TRY(sql::Stmt::prepare(m_db,
        "SELECT idx, trace_step, outcome, action, method, confidence, duration_ms, artifact, detail, before_image,"
        " after_image FROM run_steps WHERE run_id = ?1 ORDER BY idx"));
    stmt.bind(1, run_id);
    std::vector<RunStep> out;
    while (ROTE_TRY(stmt.step())) {
        const std::string where = "run " + std::to_string(run_id) + " step " + std::to_string(stmt.i64(0));
        RunStep step;
        step.index = static_cast<int>(stmt.i64(0));
        if (auto t = stmt.opt_i64(1))
            step.trace_step = static_cast<int>(*t);
        auto outcome = parse_step_outcome(stmt.text(2));
        if (!outcome)
            return Error(Error::Code::corrupt, where + ": unknown outcome '" + stmt.text(2) + "'");
        step.outcome = *outcome;
        const auto action = nlohmann::json::parse(stmt.text(3), nullptr, false);
        if (action.is_discarded())
            return Error(Error::Code::corrupt, where + ": its action is not JSON");
        step.action = ROTE_TRY(codec::action_from_json(action, where));
        step.method = stmt.text(4);
        if (!stmt.is_null(5))
            step.confidence = stmt.f64(5);
        step.duration_ms = stmt.i64(6);
        step.artifact = stmt.opt_text(7);
        step.detail = stmt.text(8);
        step.before_image = stmt.opt_text(9);
        step.after_image = stmt.opt_text(10);
        out.push_back(std::move(step));
    }
    return out;
}

Result<std::vector<LlmCall>> Store::run_calls(std::int64_t run_id)
{
    ROTE_TRY(run_exists(m_db, run_id));
    auto stmt = ROTE_TRY(sql::Stmt::prepare(m_db,
        "SELECT run_step, provider, model, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,"
        " cost_microusd, latency_ms, created_at FROM llm_calls WHERE run_id = ?1 ORDER BY id"));
    stmt.bind(1, run_id);
    std::vector<LlmCall> out;
    while (ROTE_TRY(stmt.step())) {
        LlmCall call;
        call.run_id = run_id;
        if (auto step = stmt.opt_i64(0))
            call.run_step = static_cast<int>(*step);
        call.provider = stmt.text(1);
        call.model = stmt.text(2);
        call.input_tokens = stmt.i64(3);
        call.output_tokens = stmt.i64(4);
        call.cache_read_tokens = stmt.i64(5);
        call.cache_write_tokens = stmt.i64(6);
        call.cost_microusd = stmt.i64(7);
        call.latency_ms = stmt.i64(8);
        call.created_at = stmt.text(9);
        out.push_back(std::move(call));
    }
    return out;
}

Result<Store::RunClosed> Store::close_run(
    std::int64_t run_id, RunEnd end, const NewTrace* made, std::optional<std::int64_t> replayed)
{
    auto tx = ROTE_TRY(sql::Transaction::begin(m_db));
    RunClosed closed;
    if (made)
        closed.new_trace_id = end.new_trace_id = ROTE_TRY(save_trace(*made));
    ROTE_TRY(finish_run(run_id, end));
    if (replayed)
        closed.standing = ROTE_TRY(record_trace_run(*replayed, run_id, end.status == RunStatus::succeeded));
    ROTE_TRY(tx.commit());
    return closed;
}

// ---- enums and time --------------------------------------------------------------------------------

namespace {

using internal::enum_name;
using internal::parse_enum;

constexpr std::array<std::pair<Provenance, std::string_view>, 4> kProvenance {{{Provenance::llm, "llm"},
    {Provenance::human, "human"}, {Provenance::script, "script"}, {Provenance::repair, "repair"}}};
constexpr std::array<std::pair<Overlap, std::string_view>, 3> kOverlap {{{Overlap::skip, "skip"},
    {Overlap::buffer_one, "buffer-one"}, {Overlap::allow, "allow"}}};
constexpr std::array<std::pair<FireStatus, std::string_view>, 6> kFireStatus {{{FireStatus::running, "running"},
    {FireStatus::succeeded, "succeeded"}, {FireStatus::failed, "failed"}, {FireStatus::skipped, "skipped"},
    {FireStatus::missed, "missed"}, {FireStatus::interrupted, "interrupted"}}};
constexpr std::array<std::pair<RunStatus, std::string_view>, 5> kRunStatus {{{RunStatus::running, "running"},
    {RunStatus::succeeded, "succeeded"}, {RunStatus::failed, "failed"}, {RunStatus::cancelled, "cancelled"},
    {RunStatus::interrupted, "interrupted"}}};
constexpr std::array<std::pair<StepOutcome, std::string_view>, 4> kStepOutcome {{{StepOutcome::replayed, "replayed"},
    {StepOutcome::relocated, "relocated"}, {StepOutcome::planned, "planned"}, {StepOutcome::failed, "failed"}}};

} // namespace

std::string_view to_string(Provenance p) { return enum_name(kProvenance, p); }
std::optional<Provenance> parse_provenance(std::string_view s) { return parse_enum(kProvenance, s); }
std::string_view to_string(RunStatus s) { return enum_name(kRunStatus, s); }
std::string_view to_string(Overlap o) { return enum_name(kOverlap, o); }
std::optional<Overlap> parse_overlap(std::string_view text) { return parse_enum(kOverlap, text); }
std::string_view to_string(FireStatus s) { return enum_name(kFireStatus, s); }
std::optional<FireStatus> internal::parse_fire_status(std::string_view text) { return parse_enum(kFireStatus, text); }
std::optional<RunStatus> parse_run_status(std::string_view s) { return parse_enum(kRunStatus, s); }
std::string_view to_string(StepOutcome o) { return enum_name(kStepOutcome, o); }
std::optional<StepOutcome> parse_step_outcome(std::string_view s) { return parse_enum(kStepOutcome, s); }

Hash content_hash(std::span<const std::uint8_t> data) { return codec::sha256_hex(data); }

Result<std::string> parse_timestamp(std::string_view text)
{
    auto bad = [&] {
        return Error(Error::Code::invalid_argument,
            "\"" + std::string(text) + "\" is not a date (expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, UTC)");
    };
    auto digits = [&](std::size_t pos, std::size_t n, int& out) {
        out = 0;
        for (std::size_t i = pos; i < pos + n; ++i) {
            if (text[i] < '0' || text[i] > '9')
                return false;
            out = out * 10 + (text[i] - '0');
        }
        return true;
    };
    if (text.size() != 10 && text.size() != 20)
        return bad();
    int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
    if (!digits(0, 4, year) || text[4] != '-' || !digits(5, 2, month) || text[7] != '-' || !digits(8, 2, day))
        return bad();
    const std::chrono::year_month_day ymd {std::chrono::year(year), std::chrono::month(static_cast<unsigned>(month)),
        std::chrono::day(static_cast<unsigned>(day))};
    if (!ymd.ok())
        return bad();
    if (text.size() == 20) {
        if (text[10] != 'T' || !digits(11, 2, hour) || text[13] != ':' || !digits(14, 2, minute) || text[16] != ':'
            || !digits(17, 2, second) || text[19] != 'Z' || hour > 23 || minute > 59 || second > 60)
            return bad();
        return std::string(text);
    }
    return std::string(text) + "T00:00:00Z";
}

} // namespace rote::store
