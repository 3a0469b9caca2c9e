#pragma once

// The vision corpus (tests/vision/data, made by make-corpus.sh): screenshots and their ground truth.

#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace corpus {

struct Shot {
    std::string page;
    std::string variant;
    std::string file;
    std::string expect; // found | ambiguous | not_found
    double x = 0, y = 0; // target centre when it is on the page
};

std::string data_dir();
std::vector<Shot> load();
cv::Mat image(const Shot& s);
// The baseline shot of a page.
const Shot& baseline(const std::vector<Shot>& shots, const std::string& page);

} // namespace corpus
