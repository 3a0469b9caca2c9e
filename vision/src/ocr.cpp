#include <rote/vision/ocr.h>

#include <omp.h>
#include <opencv2/imgproc.hpp>
#include <tesseract/baseapi.h>

#include <rote/base/log.h>

namespace rote::vision {

namespace {

// UI text is small (13-16 px fonts, x-height ~8 px); Tesseract's LSTM reads best at an x-height near 20 px.
// Scaling by 2 before reading is the measured sweet spot (docs/benchmarks.md: accuracy against cost).
constexpr double kScale = 2.0;
// The local background is the median over this window: wide enough that glyph strokes of UI text stay a
// minority in it, narrow enough that a button's corners do not turn into dark wedges that merge with its
// first letter (31 px did that: "Sign in" read as "ign in").
constexpr int kBackgroundKernel = 21;

} // namespace

Ocr::Ocr()
    : m_api(std::make_unique<tesseract::TessBaseAPI>())
{
}

Ocr::~Ocr()
{
    if (m_api)
        m_api->End();
}

Result<Ocr*> Ocr::for_this_thread()
{
    thread_local std::unique_ptr<Ocr> engine;
    thread_local std::optional<Error> failure;
    if (engine)
        return engine.get();
    if (failure)
        return *failure;
    // Tesseract runs its networks on OpenMP threads that spin while they wait: beside a browser and a desktop
    // on two cores that made OCR slower, never faster (components_test: 16.5 s with them, 8.7 s without; 39 s
    // and 18.6 s beside two busy cores). One thread for this thread's parallel regions: with dynamic
    // adjustment on, OpenMP caps even Tesseract's num_threads(N) clauses at the thread's nthreads setting.
    omp_set_dynamic(1);
    omp_set_num_threads(1);
    auto ocr = std::unique_ptr<Ocr>(new Ocr());
    if (ocr->m_api->Init(nullptr, "eng", tesseract::OEM_LSTM_ONLY) != 0) {
        failure = Error(
            Error::Code::not_found, "Tesseract could not load its English model (Debian package tesseract-ocr-eng)");
        return *failure;
    }
    ocr->m_api->SetPageSegMode(tesseract::PSM_SPARSE_TEXT);
    // Tesseract prints "Invalid resolution 0 dpi" without this; screens are ~96 dpi, scaled by kScale.
    ocr->m_api->SetVariable("user_defined_dpi", std::to_string(static_cast<int>(96 * kScale)).c_str());
    ocr->m_api->SetVariable("debug_file", "/dev/null");
    engine = std::move(ocr);
    logger("vision")->debug("tesseract engine ready on this thread");
    return engine.get();
}

Result<std::vector<Word>> Ocr::read(const cv::Mat& screen, std::optional<Rect> region, float min_confidence)
{
    if (screen.empty() || screen.depth() != CV_8U)
        return Error(Error::Code::invalid_argument, "OCR needs a non-empty 8-bit image");
    const cv::Rect whole(0, 0, screen.cols, screen.rows);
    cv::Rect roi = whole;
    if (region)
        roi = cv::Rect(region->x, region->y, region->w, region->h) & whole;
    if (roi.width < 4 || roi.height < 4)
        return std::vector<Word>();

    // Screens mix polarities: dark text on a light page, white text on a blue button, light text in a dark
    // theme. Tesseract binarises the whole image one way, so it loses whichever polarity is in the
    // minority. Normalising every pixel against its local background (a wide median) makes all text dark
    // on white: |pixel - background|, stretched and inverted. Per colour channel, keeping the largest: a
    // blue link on a dark grey page has almost no contrast in grey (blue weighs 11% of it) but plenty in blue.
    const cv::Mat crop = screen(roi);
    cv::Mat colour;
    if (crop.channels() == 4)
        cv::cvtColor(crop, colour, cv::COLOR_BGRA2BGR);
    else
        colour = crop;
    std::vector<cv::Mat> channels;
    cv::split(colour, channels);
    cv::Mat contrast;
    for (const cv::Mat& channel : channels) {
        cv::Mat background, difference;
        cv::medianBlur(channel, background, kBackgroundKernel);
        cv::absdiff(channel, background, difference);
        if (contrast.empty())
            contrast = difference;
        else
            cv::max(contrast, difference, contrast);
    }
    contrast.convertTo(contrast, CV_8U, -2.0, 255.0);
    cv::Mat scaled;
    cv::resize(contrast, scaled, {}, kScale, kScale, cv::INTER_CUBIC);

    m_api->SetImage(scaled.data, scaled.cols, scaled.rows, 1, static_cast<int>(scaled.step));
    if (m_api->Recognize(nullptr) != 0)
        return Error(Error::Code::internal, "Tesseract failed to recognise the image");

    std::vector<Word> words;
    std::unique_ptr<tesseract::ResultIterator> it(m_api->GetIterator());
    if (!it)
        return words;
    int line = -1;
    do {
        if (it->Empty(tesseract::RIL_WORD))
            continue;
        if (it->IsAtBeginningOf(tesseract::RIL_TEXTLINE))
            ++line;
        const std::unique_ptr<char[]> text(it->GetUTF8Text(tesseract::RIL_WORD));
        const float confidence = it->Confidence(tesseract::RIL_WORD);
        int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
        if (!text || !it->BoundingBox(tesseract::RIL_WORD, &x0, &y0, &x1, &y1) || confidence < min_confidence)
            continue;
        std::string s(text.get());
        while (!s.empty() && (s.back() == ' ' || s.back() == '\n'))
            s.pop_back();
        if (s.empty())
            continue;
        const auto unscale = [](int v) { return static_cast<int>(std::lround(v / kScale)); };
        words.push_back({std::move(s),
            Rect {roi.x + unscale(x0), roi.y + unscale(y0), unscale(x1) - unscale(x0), unscale(y1) - unscale(y0)},
            confidence, std::max(line, 0)});
    } while (it->Next(tesseract::RIL_WORD));
    m_api->Clear();
    return words;
}

} // namespace rote::vision
