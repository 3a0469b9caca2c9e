#include <rote/base/files.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace rote {

namespace {

Error io_error(const std::string& what) { return Error(Error::Code::io, what + ": " + std::strerror(errno)); }

} // namespace

Result<void> write_file_atomically(const std::filesystem::path& target, std::string_view bytes, mode_t mode)
{
    const std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : ".";
    std::string name = (dir / ("." + target.filename().string() + ".XXXXXX")).string();
    const int fd = ::mkostemp(name.data(), O_CLOEXEC); // O_CREAT|O_EXCL, mode 0600
    if (fd < 0)
        return io_error("cannot write " + target.string());
    const char* at = bytes.data();
    std::size_t left = bytes.size();
    while (left > 0) {
        const ssize_t n = ::write(fd, at, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            Error e = io_error("cannot write " + target.string());
            ::close(fd);
            ::unlink(name.c_str());
            return e;
        }
        at += n;
        left -= static_cast<std::size_t>(n);
    }
    if (::fchmod(fd, mode) != 0 || ::fsync(fd) != 0) {
        Error e = io_error("cannot write " + target.string());
        ::close(fd);
        ::unlink(name.c_str());
        return e;
    }
    ::close(fd);
    if (::rename(name.c_str(), target.c_str()) != 0) {
        Error e = io_error("cannot write " + target.string());
        ::unlink(name.c_str());
        return e;
    }
    return {};
}

Result<void> create_private_file(const std::filesystem::path& path, mode_t mode)
{
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return io_error("cannot create " + path.string());
    struct stat st { };
    const bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    const bool ok = regular && ::fchmod(fd, mode) == 0;
    ::close(fd);
    if (!regular)
        return Error(Error::Code::conflict, path.string() + " is not a regular file; refusing it");
    if (!ok)
        return io_error("cannot restrict " + path.string());
    return {};
}

} // namespace rote
