#include <rote/base/token.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rote/base/files.h>

namespace rote {

Result<std::string> random_token()
{
    unsigned char bytes[32];
    if (::getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes))
        return Error(Error::Code::io, std::string("getrandom: ") + std::strerror(errno));
    static const char* hex = "0123456789abcdef";
    std::string token;
    for (unsigned char b : bytes) {
        token += hex[b >> 4];
        token += hex[b & 15];
    }
    return token;
}

Result<std::string> token_in_file(const std::filesystem::path& path)
{
    const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        auto token = ROTE_TRY(random_token());
        if (path.has_parent_path()) {
            std::error_code ec;
            std::filesystem::create_directories(path.parent_path(), ec);
            if (ec)
                return Error(Error::Code::io, "cannot make " + path.parent_path().string() + ": " + ec.message());
        }
        ROTE_TRY(write_file_atomically(path, token + "\n", 0600));
        return token;
    }
    if (fd < 0)
        return Error(Error::Code::io, "cannot read the token in " + path.string() + ": " + std::strerror(errno));
    struct stat st {};
    std::string text;
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size < 4096) {
        text.resize(static_cast<std::size_t>(st.st_size));
        const ssize_t n = ::read(fd, text.data(), text.size());
        text.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
    }
    ::close(fd);
    if (!S_ISREG(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & 077) != 0)
        return Error(Error::Code::invalid_argument,
            path.string() + " holds a token others may read or write (it must be this user's, mode 0600): "
                + "remove it, and a new one is made");
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
        text.pop_back();
    if (text.size() < 32)
        return Error(Error::Code::invalid_argument, path.string() + " holds no token (32 characters or more)");
    return text;
}

bool same_token(std::string_view a, std::string_view b)
{
    unsigned char differ = a.size() == b.size() ? 0 : 1;
    const std::size_t n = a.size();
    for (std::size_t i = 0; i < n; ++i)
        differ |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
    return differ == 0;
}

} // namespace rote
