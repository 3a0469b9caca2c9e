// The acceptance test of locate(): over the whole corpus, the target is found within 3 px in every benign
// perturbation, and there is no confident wrong answer anywhere (removed: not found; look-alike: ambiguous).

#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>

#include <rote/vision/target.h>

#include "vision/corpus.h"

using namespace rote;
using namespace rote::vision;

TEST_CASE("locate over the corpus: benign perturbations found within 3 px, no confident wrong answer")
{
    auto ocr = Ocr::for_this_thread();
    REQUIRE(ocr.ok());
    const auto shots = corpus::load();
    REQUIRE(shots.size() >= 100);
    // ROTE_CORPUS_SHARD=i/n takes every n-th page from the i-th: ctest runs the shards side by side, since
    // the full-screen OCR that proves "not found" is slow.
    int shard = 0, shards = 1;
    if (const char* s = std::getenv("ROTE_CORPUS_SHARD"))
        REQUIRE(std::sscanf(s, "%d/%d", &shard, &shards) == 2);
    std::set<std::string> pages;
    for (const auto& shot : shots)
        pages.insert(shot.page);
    std::set<std::string> mine;
    int index = 0;
    for (const auto& page : pages) {
        if (index++ % shards == shard)
            mine.insert(page);
    }
    int checked = 0;

    std::map<std::string, TargetAnchor> anchors;
    std::ostringstream table;
    int wrong = 0, missed = 0;
    for (const auto& shot : shots) {
        if (!mine.count(shot.page))
            continue;
        ++checked;
        if (!anchors.count(shot.page)) {
            const auto& base = corpus::baseline(shots, shot.page);
            auto anchor
                = build_anchor(corpus::image(base), {int(std::lround(base.x)), int(std::lround(base.y))}, **ocr);
            REQUIRE(anchor.ok());
            anchors.emplace(shot.page, std::move(anchor).value());
        }
        const TargetAnchor& anchor = anchors.at(shot.page);
        LocateOptions options;
        options.ocr = *ocr;
        const Location loc = locate(anchor, corpus::image(shot), options);

        std::string verdict = "ok";
        if (shot.expect == "found") {
            const double err = std::hypot(loc.point.x - shot.x, loc.point.y - shot.y);
            if (loc.status == LocateStatus::found && err > 3.0) {
                verdict = "WRONG (" + std::to_string(err).substr(0, 5) + " px off)";
                ++wrong;
            } else if (loc.status != LocateStatus::found) {
                verdict = "MISSED";
                ++missed;
            }
        } else if (loc.status == LocateStatus::found) {
            verdict = "WRONG (confident answer where the truth is " + shot.expect + ")";
            ++wrong;
        } else if (std::string(to_string(loc.status)) != shot.expect) {
            verdict = "MISSED (" + std::string(to_string(loc.status)) + " where the truth is " + shot.expect + ")";
            ++missed;
        }
        table << shot.file << ": " << to_string(loc.status) << " by " << to_string(loc.method) << " at (" << loc.point.x
              << ", " << loc.point.y << ") conf " << loc.confidence << " -- " << verdict << " [" << loc.detail << "]\n";
    }
    INFO(table.str());
    CHECK(checked >= 40);
    CHECK(wrong == 0);
    CHECK(missed == 0);
}
