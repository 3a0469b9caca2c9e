#pragma once

// Shared by the store and CLI tests: temporary directories, sample traces, and a store filled with
// runs whose report totals are computed by hand in report_fixture_expectations below.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <rote/store/store.h>

namespace fixture {

// A fresh directory under the system temp dir, removed with everything in it on destruction.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return m_path; }
    std::filesystem::path operator/(const std::string& name) const { return m_path / name; }

private:
    std::filesystem::path m_path;
};

std::vector<std::uint8_t> bytes(const std::string& s);
std::vector<std::uint8_t> read_file(const std::filesystem::path& path);
void write_file(const std::filesystem::path& path, const std::vector<std::uint8_t>& data);

// SQL run on a file directly, bypassing the store, as another program would. raw_exec returns SQLite's
// result code; raw_int returns the first column of the first row (the file is opened read-only).
int raw_exec(const std::filesystem::path& path, const std::string& sql);
std::int64_t raw_int(const std::filesystem::path& path, const std::string& sql);

// A fake "screenshot": deterministic bytes of the given size for screen number n.
std::vector<std::uint8_t> screen(int n, std::size_t size = 4096);

// A trace of `steps` steps cycling through `screens` distinct screenshots (pre and post states) and
// one anchor patch per step kind; every artifact it uses is included.
rote::store::NewTrace sample_trace(const std::string& workflow, int steps, int screens = 3);

// Fills the store with two workflows and four runs (see store_fixture.cpp for the figures).
void fill_report_fixture(rote::store::Store& store);

} // namespace fixture
