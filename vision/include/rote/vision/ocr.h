#pragma once

// Text on screen, with Tesseract's LSTM engine.
//
// Thread-safety: an Ocr belongs to one thread. for_this_thread() hands each thread its own engine,
// created on first use and kept for the thread's life (initialising Tesseract costs ~100 ms, far too much
// per call).

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include <rote/base/geometry.h>
#include <rote/base/result.h>

namespace tesseract {
class TessBaseAPI;
}

namespace rote::vision {

struct Word {
    std::string text;
    Rect box; // in the coordinates of the screen passed in, not of the region
    float confidence; // Tesseract's, 0-100
    int line; // words with the same line number were read as one line of text
};

class Ocr {
public:
    // The calling thread's engine. Fails, naming what is missing, if Tesseract cannot load its English model.
    static Result<Ocr*> for_this_thread();

    ~Ocr();
    Ocr(const Ocr&) = delete;
    Ocr& operator=(const Ocr&) = delete;

    // Words in `region` of `screen` (8-bit BGR or gray), the whole screen if no region is given. Light text
    // on dark backgrounds is handled. Words below min_confidence are dropped.
    Result<std::vector<Word>> read(
        const cv::Mat& screen, std::optional<Rect> region = std::nullopt, float min_confidence = 40);

private:
    Ocr();
    std::unique_ptr<tesseract::TessBaseAPI> m_api;
};

} // namespace rote::vision
