#include "vision/corpus.h"

#include <fstream>
#include <stdexcept>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

namespace corpus {

std::string data_dir() { return ROTE_VISION_DATA; }

std::vector<Shot> load()
{
    std::ifstream in(data_dir() + "/expected.jsonl");
    if (!in)
        throw std::runtime_error("cannot read " + data_dir() + "/expected.jsonl");
    std::vector<Shot> shots;
    std::string line;
    while (std::getline(in, line)) {
        const auto j = nlohmann::json::parse(line);
        Shot s;
        s.page = j["page"];
        s.file = j["file"];
        s.variant = j["truth"]["variant"];
        s.expect = j["truth"]["expect"];
        if (!j["truth"]["target"].is_null()) {
            s.x = j["truth"]["target"]["x"];
            s.y = j["truth"]["target"]["y"];
        }
        shots.push_back(std::move(s));
    }
    return shots;
}

cv::Mat image(const Shot& s)
{
    cv::Mat m = cv::imread(data_dir() + "/" + s.file, cv::IMREAD_COLOR);
    if (m.empty())
        throw std::runtime_error("cannot read " + s.file);
    return m;
}

const Shot& baseline(const std::vector<Shot>& shots, const std::string& page)
{
    for (const auto& s : shots) {
        if (s.page == page && s.variant == "baseline")
            return s;
    }
    throw std::runtime_error("no baseline for " + page);
}

} // namespace corpus
