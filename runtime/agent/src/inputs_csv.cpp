#include <rote/agent/workflow.h>

#include <fstream>
#include <set>
#include <sstream>

#include <csv.h>

namespace rote::runtime {

namespace {

// What libcsv's callbacks build: rows of fields.
struct Rows {
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> current;
};

void on_field(void* data, size_t length, void* rows)
{
    static_cast<Rows*>(rows)->current.emplace_back(static_cast<const char*>(data), length);
}

void on_row(int, void* rows)
{
    auto* r = static_cast<Rows*>(rows);
    r->rows.push_back(std::move(r->current));
    r->current.clear();
}

} // namespace

Result<std::vector<std::map<std::string, std::string>>> parse_inputs_csv(
    std::string_view text, const std::filesystem::path& file)
{
    const std::string name = file.string();
    csv_parser parser {};
    if (csv_init(&parser, CSV_STRICT | CSV_STRICT_FINI) != 0)
        return Error(Error::Code::internal, "libcsv could not start");
    Rows rows;
    const size_t parsed = csv_parse(&parser, text.data(), text.size(), on_field, on_row, &rows);
    const bool complete = parsed == text.size() && csv_fini(&parser, on_field, on_row, &rows) == 0;
    const std::string problem = complete ? "" : csv_strerror(csv_error(&parser));
    csv_free(&parser);
    if (!complete)
        return Error(Error::Code::invalid_argument,
            name + ": row " + std::to_string(rows.rows.size() + 1) + " is not valid CSV (" + problem + ")");
    if (rows.rows.empty())
        return Error(Error::Code::invalid_argument, name + " is empty: its first row must name the inputs");
    const auto& header = rows.rows.front();
    std::set<std::string> seen;
    for (const auto& column : header) {
        if (column.empty())
            return Error(Error::Code::invalid_argument, name + ": row 1 (the header) has an empty input name");
        if (!seen.insert(column).second)
            return Error(Error::Code::invalid_argument, name + ": row 1 (the header) names input " + column + " twice");
    }
    std::vector<std::map<std::string, std::string>> out;
    for (size_t r = 1; r < rows.rows.size(); ++r) {
        const auto& row = rows.rows[r];
        if (row.size() != header.size())
            return Error(Error::Code::invalid_argument, name + ": row " + std::to_string(r + 1) + " has "
                    + std::to_string(row.size()) + " fields, the header " + std::to_string(header.size()));
        std::map<std::string, std::string> values;
        for (size_t c = 0; c < row.size(); ++c)
            values[header[c]] = row[c];
        out.push_back(std::move(values));
    }
    if (out.empty())
        return Error(Error::Code::invalid_argument, name + " has a header but no rows: nothing to run");
    return out;
}

Result<std::vector<std::map<std::string, std::string>>> read_inputs_csv(const std::filesystem::path& file)
{
    std::ifstream in(file, std::ios::binary);
    if (!in)
        return Error(Error::Code::not_found, "cannot read " + file.string());
    std::stringstream text;
    text << in.rdbuf();
    return parse_inputs_csv(text.str(), file);
}

} // namespace rote::runtime
