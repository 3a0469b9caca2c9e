// Tokens in files: made 0600 at first use, read back the same, refused when others could read them or when
// the file is a planted link.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include <sys/stat.h>
#include <unistd.h>

#include <rote/base/token.h>

using namespace rote;
namespace fs = std::filesystem;

namespace {

struct TempDir {
    fs::path path;
    TempDir()
    {
        std::string templ = (fs::temp_directory_path() / "rote-token-test-XXXXXX").string();
        path = ::mkdtemp(templ.data());
    }
    ~TempDir() { fs::remove_all(path); }
};

} // namespace

TEST_CASE("a token file is made 0600 at first use and read back the same")
{
    TempDir dir;
    const fs::path file = dir.path / "sub" / "serve.token";
    auto made = token_in_file(file);
    REQUIRE(made.ok());
    CHECK(made->size() == 64);
    CHECK(made->find_first_not_of("0123456789abcdef") == std::string::npos);
    struct stat st {};
    REQUIRE(::stat(file.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    auto again = token_in_file(file);
    REQUIRE(again.ok());
    CHECK(*again == *made);
    CHECK(*random_token() != *made);
}

TEST_CASE("a token file others may read, a link or one too short to be a token is refused")
{
    TempDir dir;
    const fs::path file = dir.path / "serve.token";
    REQUIRE(token_in_file(file).ok());
    ::chmod(file.c_str(), 0644);
    auto open = token_in_file(file);
    REQUIRE(!open.ok());
    CHECK(open.error().message().find("others may read") != std::string::npos);

    const fs::path link = dir.path / "link.token";
    ::chmod(file.c_str(), 0600);
    fs::create_symlink(file, link);
    CHECK(!token_in_file(link).ok());

    const fs::path shorter = dir.path / "short.token";
    std::ofstream(shorter) << "abc\n";
    ::chmod(shorter.c_str(), 0600);
    CHECK(!token_in_file(shorter).ok());
}

TEST_CASE("same_token compares whole tokens")
{
    CHECK(same_token("abcdef", "abcdef"));
    CHECK(!same_token("abcdef", "abcdeg"));
    CHECK(!same_token("abcdef", "abcde"));
    CHECK(!same_token("abcde", "abcdef"));
    CHECK(!same_token("", "a"));
    CHECK(same_token("", ""));
}
