#pragma once

// The run report as a page (`rote report --html`, and GET /v1/report.html under `rote serve`): per workflow,
// its figures and charts (dollars per run, the share of steps replayed, one point per run); per run, every
// step with the screen before and after it, how its target was found, its time, the model calls with their
// tokens and dollars, and each divergence with the screen the trace expected beside the one the run saw,
// the changed region marked. One HTML document with everything inline: no network, no file beside it.

#include <string>

#include <rote/base/result.h>
#include <rote/store/store.h>

namespace rote::report {

// The page's content security policy (in its own <meta> and, served, as a header): it loads nothing.
inline constexpr const char* kPagePolicy
    = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'";

struct HtmlOptions {
    // The newest runs shown step by step, with their pictures; every run of the query is in the figures
    // and the charts. A page of a thousand runs' pictures is one nobody opens.
    int detailed_runs = 50;
};

// The report of the runs `query` selects, as a page. Fails as Store::report does (an unknown workflow, a
// malformed timestamp) or when what the store holds is corrupt; a picture that cannot be read is left out
// with a note, not a failure of the page.
Result<std::string> html(store::Store& store, const store::ReportQuery& query, const HtmlOptions& options = {});

} // namespace rote::report
