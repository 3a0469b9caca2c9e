#pragma once

// A thin RAII layer over the SQLite C API: statements, transactions, errors as values.
// Internal to the store.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <sqlite3.h>

#include <rote/base/result.h>

namespace rote::store::sql {

// An Error naming what we were doing and what SQLite said.
Error error_from(sqlite3* db, int rc, std::string_view what);

// Runs one or more statements that return no rows.
Result<void> exec(sqlite3* db, const char* sql);

class Stmt {
public:
    static Result<Stmt> prepare(sqlite3* db, std::string_view sql);
    Stmt(Stmt&& other) noexcept;
    Stmt& operator=(Stmt&&) = delete;
    Stmt(const Stmt&) = delete;
    ~Stmt();

    // Binders take 1-based parameter indices. A failed bind is reported by the next step().
    Stmt& bind(int i, std::int64_t v);
    Stmt& bind(int i, int v) { return bind(i, static_cast<std::int64_t>(v)); }
    Stmt& bind(int i, double v);
    Stmt& bind(int i, std::string_view v);
    Stmt& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
    Stmt& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
    Stmt& bind_blob(int i, std::span<const std::uint8_t> v);
    Stmt& bind_null(int i);
    template<typename T> Stmt& bind(int i, const std::optional<T>& v) { return v ? bind(i, *v) : bind_null(i); }

    // Advances: true when a row is ready, false when done.
    Result<bool> step();
    // Steps to completion, for statements that return no rows.
    Result<void> run();
    void reset();

    bool is_null(int col) const;
    std::int64_t i64(int col) const;
    double f64(int col) const;
    std::string text(int col) const;
    std::vector<std::uint8_t> blob(int col) const;
    std::optional<std::int64_t> opt_i64(int col) const;
    std::optional<std::string> opt_text(int col) const;

private:
    Stmt(sqlite3* db, sqlite3_stmt* stmt)
        : m_db(db)
        , m_stmt(stmt)
    {
    }
    void note_bind(int rc);

    sqlite3* m_db = nullptr;
    sqlite3_stmt* m_stmt = nullptr;
    int m_bind_rc = SQLITE_OK;
};

// BEGIN IMMEDIATE on construction (the write lock is taken up front, so a writer never fails half way
// on a lock upgrade); ROLLBACK on destruction unless commit() succeeded. Begun inside another transaction,
// a savepoint: its work commits with the outer one, or not at all.
class Transaction {
public:
    static Result<Transaction> begin(sqlite3* db);
    Transaction(Transaction&& other) noexcept
        : m_db(other.m_db)
        , m_nested(other.m_nested)
    {
        other.m_db = nullptr;
    }
    Transaction& operator=(Transaction&&) = delete;
    Transaction(const Transaction&) = delete;
    ~Transaction();
    Result<void> commit();

private:
    Transaction(sqlite3* db, bool nested)
        : m_db(db)
        , m_nested(nested)
    {
    }
    sqlite3* m_db = nullptr;
    bool m_nested = false; // a savepoint inside another transaction
};

} // namespace rote::store::sql
