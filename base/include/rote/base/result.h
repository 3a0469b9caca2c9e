#pragma once

// Expected failures are values (style.md 4): a function that can fail for a reason outside the program
// (a corrupt file, a refused connection, a malformed workflow) returns Result<T>. Bugs are assertions.

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace rote {

class Error {
public:
    enum class Code {
        invalid_argument, // the caller's input is malformed (a bad flag, a bad file)
        not_found, // the thing asked for does not exist
        io, // the file system or a socket failed
        corrupt, // stored data failed validation
        unsupported, // a file or peer speaks a version we do not know
        conflict, // the request contradicts what is stored
        busy, // a resource is held by someone else; retrying may help
        timeout,
        cancelled, // the caller asked to stop
        internal, // a library failed in a way we did not expect
    };

    Error(Code code, std::string message)
        : m_code(code)
        , m_message(std::move(message))
    {
    }

    Code code() const { return m_code; }
    const std::string& message() const { return m_message; }

    // "context: message", for errors passed up through a layer that knows more about where they happened.
    Error with_context(std::string_view context) const
    {
        return Error(m_code, std::string(context) + ": " + m_message);
    }

private:
    Code m_code;
    std::string m_message;
};

std::string_view to_string(Error::Code code);

template<typename T> class [[nodiscard]] Result {
public:
    Result(T value)
        : m_value(std::move(value))
    {
    }
    Result(Error error)
        : m_value(std::move(error))
    {
    }

    bool ok() const { return m_value.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() &
    {
        assert(ok());
        return std::get<0>(m_value);
    }
    const T& value() const&
    {
        assert(ok());
        return std::get<0>(m_value);
    }
    T&& value() &&
    {
        assert(ok());
        return std::get<0>(std::move(m_value));
    }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    const Error& error() const
    {
        assert(!ok());
        return std::get<1>(m_value);
    }
    Error&& release_error()
    {
        assert(!ok());
        return std::get<1>(std::move(m_value));
    }

private:
    std::variant<T, Error> m_value;
};

template<> class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error)
        : m_error(std::move(error))
        , m_failed(true)
    {
    }

    bool ok() const { return !m_failed; }
    explicit operator bool() const { return ok(); }
    void value() const { assert(ok()); }
    const Error& error() const
    {
        assert(!ok());
        return m_error;
    }
    Error&& release_error()
    {
        assert(!ok());
        return std::move(m_error);
    }

private:
    Error m_error {Error::Code::internal, {}};
    bool m_failed = false;
};

} // namespace rote

// ROTE_TRY(expr): evaluates to the value of a Result, or returns its error from the enclosing function.
// A GNU statement expression, as in Ladybird's TRY; GCC and Clang both support it.
#define ROTE_TRY(expr)                                                                                                 \
    ({                                                                                                                 \
        auto&& rote_try_result_ = (expr);                                                                              \
        if (!rote_try_result_.ok())                                                                                    \
            return rote_try_result_.release_error();                                                                   \
        std::move(rote_try_result_).value();                                                                           \
    })
