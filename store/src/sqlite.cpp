#include "sqlite.h"

#include <rote/base/log.h>

namespace rote::store::sql {

Error error_from(sqlite3* db, int rc, std::string_view what)
{
    const int primary = rc & 0xff;
    Error::Code code = Error::Code::internal;
    switch (primary) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        code = Error::Code::busy;
        break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        code = Error::Code::corrupt;
        break;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_PERM:
        code = Error::Code::io;
        break;
    case SQLITE_CONSTRAINT:
        code = Error::Code::conflict;
        break;
    default:
        break;
    }
    std::string detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    return Error(code, std::string(what) + ": " + detail);
}

Result<void> exec(sqlite3* db, const char* sql)
{
    char* message = nullptr;
    const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &message);
    if (rc != SQLITE_OK) {
        std::string text = message != nullptr ? message : sqlite3_errstr(rc);
        sqlite3_free(message);
        Error e = error_from(nullptr, rc, "sqlite");
        return Error(e.code(), "sqlite: " + text);
    }
    return {};
}

Result<Stmt> Stmt::prepare(sqlite3* db, std::string_view sql)
{
    sqlite3_stmt* stmt = nullptr;
    const int rc = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
    if (rc != SQLITE_OK)
        return error_from(db, rc, "preparing a statement");
    return Stmt(db, stmt);
}

Stmt::Stmt(Stmt&& other) noexcept
    : m_db(other.m_db)
    , m_stmt(other.m_stmt)
    , m_bind_rc(other.m_bind_rc)
{
    other.m_stmt = nullptr;
}

Stmt::~Stmt() { sqlite3_finalize(m_stmt); }

void Stmt::note_bind(int rc)
{
    if (rc != SQLITE_OK && m_bind_rc == SQLITE_OK)
        m_bind_rc = rc;
}

Stmt& Stmt::bind(int i, std::int64_t v)
{
    note_bind(sqlite3_bind_int64(m_stmt, i, v));
    return *this;
}

Stmt& Stmt::bind(int i, double v)
{
    note_bind(sqlite3_bind_double(m_stmt, i, v));
    return *this;
}

Stmt& Stmt::bind(int i, std::string_view v)
{
    note_bind(sqlite3_bind_text64(m_stmt, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
    return *this;
}

Stmt& Stmt::bind_blob(int i, std::span<const std::uint8_t> v)
{
    // A zero-length blob still binds as a blob, not NULL: SQLite needs a non-null pointer for that.
    static const std::uint8_t empty = 0;
    note_bind(sqlite3_bind_blob64(m_stmt, i, v.empty() ? &empty : v.data(), v.size(), SQLITE_TRANSIENT));
    return *this;
}

Stmt& Stmt::bind_null(int i)
{
    note_bind(sqlite3_bind_null(m_stmt, i));
    return *this;
}

Result<bool> Stmt::step()
{
    if (m_bind_rc != SQLITE_OK)
        return error_from(m_db, m_bind_rc, "binding a parameter");
    const int rc = sqlite3_step(m_stmt);
    if (rc == SQLITE_ROW)
        return true;
    if (rc == SQLITE_DONE)
        return false;
    return error_from(m_db, rc, "running a statement");
}

Result<void> Stmt::run()
{
    while (ROTE_TRY(step())) { }
    return {};
}

void Stmt::reset()
{
    sqlite3_reset(m_stmt);
    sqlite3_clear_bindings(m_stmt);
    m_bind_rc = SQLITE_OK;
}

bool Stmt::is_null(int col) const { return sqlite3_column_type(m_stmt, col) == SQLITE_NULL; }
std::int64_t Stmt::i64(int col) const { return sqlite3_column_int64(m_stmt, col); }
double Stmt::f64(int col) const { return sqlite3_column_double(m_stmt, col); }

std::string Stmt::text(int col) const
{
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(m_stmt, col));
    return p == nullptr ? std::string() : std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(m_stmt, col)));
}

std::vector<std::uint8_t> Stmt::blob(int col) const
{
    const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(m_stmt, col));
    const auto n = static_cast<std::size_t>(sqlite3_column_bytes(m_stmt, col));
    return p == nullptr ? std::vector<std::uint8_t>() : std::vector<std::uint8_t>(p, p + n);
}

std::optional<std::int64_t> Stmt::opt_i64(int col) const
{
    if (is_null(col))
        return std::nullopt;
    return i64(col);
}

std::optional<std::string> Stmt::opt_text(int col) const
{
    if (is_null(col))
        return std::nullopt;
    return text(col);
}

Result<Transaction> Transaction::begin(sqlite3* db)
{
    // Inside another transaction: a savepoint, so that the outer one commits or rolls back both.
    const bool nested = sqlite3_get_autocommit(db) == 0;
    ROTE_TRY(exec(db, nested ? "SAVEPOINT nested" : "BEGIN IMMEDIATE"));
    return Transaction(db, nested);
}

Transaction::~Transaction()
{
    if (m_db == nullptr)
        return;
    const char* undo = m_nested ? "ROLLBACK TO nested; RELEASE nested" : "ROLLBACK";
    if (auto r = exec(m_db, undo); !r.ok())
        logger("store")->error("rollback failed: {}", r.error().message());
}

Result<void> Transaction::commit()
{
    ROTE_TRY(exec(m_db, m_nested ? "RELEASE nested" : "COMMIT"));
    m_db = nullptr;
    return {};
}

} // namespace rote::store::sql
