#include <rote/base/result.h>

namespace rote {

std::string_view to_string(Error::Code code)
{
    switch (code) {
    case Error::Code::invalid_argument:
        return "invalid argument";
    case Error::Code::not_found:
        return "not found";
    case Error::Code::io:
        return "i/o error";
    case Error::Code::corrupt:
        return "corrupt data";
    case Error::Code::unsupported:
        return "unsupported";
    case Error::Code::conflict:
        return "conflict";
    case Error::Code::busy:
        return "busy";
    case Error::Code::timeout:
        return "timeout";
    case Error::Code::cancelled:
        return "cancelled";
    case Error::Code::internal:
        return "internal error";
    }
    return "error";
}

} // namespace rote
