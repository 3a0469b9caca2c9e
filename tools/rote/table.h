#pragma once

// Left-aligned text columns for the CLI's human output.

#include <algorithm>
#include <ostream>
#include <string>
#include <vector>

class Table {
public:
    explicit Table(std::vector<std::string> headers)
        : m_rows {std::move(headers)}
    {
    }

    void add(std::vector<std::string> row) { m_rows.push_back(std::move(row)); }

    void print(std::ostream& out) const
    {
        std::vector<std::size_t> widths;
        for (const auto& row : m_rows) {
            widths.resize(std::max(widths.size(), row.size()), 0);
            for (std::size_t i = 0; i < row.size(); ++i)
                widths[i] = std::max(widths[i], row[i].size());
        }
        for (const auto& row : m_rows) {
            std::string line;
            for (std::size_t i = 0; i < row.size(); ++i) {
                line += row[i];
                if (i + 1 < row.size())
                    line += std::string(widths[i] - row[i].size() + 2, ' ');
            }
            out << line << "\n";
        }
    }

private:
    std::vector<std::vector<std::string>> m_rows;
};
