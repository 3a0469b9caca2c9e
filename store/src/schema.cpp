#include "schema.h"

#include <array>

#include <rote/store/store.h>

namespace rote::store {

namespace {

// Version 1: workflows, content-addressed artifacts, immutable traces and their steps, runs, run steps
// and LLM calls. Structured values that are read whole (actions, anchors, rectangles) are JSON text;
// anything a query filters or sums on is a column.
constexpr const char* kV1 = R"sql(
CREATE TABLE workflows (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    goal        TEXT NOT NULL DEFAULT '',
    definition  TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL
);

CREATE TABLE artifacts (
    hash        TEXT PRIMARY KEY,            -- lowercase hex SHA-256 of data
    media_type  TEXT NOT NULL,
    size        INTEGER NOT NULL,
    data        BLOB NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE runs (
    id           INTEGER PRIMARY KEY,
    workflow_id  INTEGER NOT NULL REFERENCES workflows(id),
    trace_id     INTEGER REFERENCES traces(id),
    inputs       TEXT NOT NULL DEFAULT '{}',
    provider     TEXT NOT NULL,
    planner      TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
    error        TEXT NOT NULL DEFAULT '',
    outputs      TEXT NOT NULL DEFAULT '{}',
    new_trace_id INTEGER REFERENCES traces(id),
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    wall_ms      INTEGER NOT NULL DEFAULT 0,
    sandbox_ms   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX runs_by_start ON runs(started_at);
CREATE INDEX runs_by_workflow ON runs(workflow_id, started_at);

CREATE TABLE traces (
    id            INTEGER PRIMARY KEY,
    workflow_id   INTEGER NOT NULL REFERENCES workflows(id),
    version       INTEGER NOT NULL CHECK (version >= 1),
    parent_id     INTEGER REFERENCES traces(id),
    source_run_id INTEGER REFERENCES runs(id),
    note          TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL,
    UNIQUE (workflow_id, version)
);

CREATE TABLE steps (
    trace_id          INTEGER NOT NULL REFERENCES traces(id) ON DELETE CASCADE,
    idx               INTEGER NOT NULL CHECK (idx >= 0),
    action            TEXT NOT NULL,          -- JSON
    pre_artifact      TEXT REFERENCES artifacts(hash),
    pre_fingerprint   BLOB NOT NULL,
    mask              TEXT NOT NULL,          -- JSON [[x,y,w,h],...]
    anchor            TEXT NOT NULL,          -- JSON {label, box, landmarks}
    anchor_patch      TEXT REFERENCES artifacts(hash),
    effect_region     TEXT,                   -- JSON [x,y,w,h]
    post_artifact     TEXT REFERENCES artifacts(hash),
    post_fingerprint  BLOB NOT NULL,
    settle_ms         INTEGER NOT NULL CHECK (settle_ms >= 0),
    provenance        TEXT NOT NULL CHECK (provenance IN ('llm', 'human', 'script', 'repair')),
    PRIMARY KEY (trace_id, idx)
) WITHOUT ROWID;
CREATE INDEX steps_by_pre ON steps(pre_artifact);

-- A trace is a recording of what happened: it is never edited, only superseded by a new version.
CREATE TRIGGER steps_are_immutable BEFORE UPDATE ON steps
BEGIN
    SELECT RAISE(ABORT, 'trace steps are immutable; write a new trace version');
END;

CREATE TABLE run_steps (
    run_id       INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    idx          INTEGER NOT NULL CHECK (idx >= 0),
    trace_step   INTEGER,
    outcome      TEXT NOT NULL CHECK (outcome IN ('replayed', 'relocated', 'planned', 'failed')),
    action       TEXT NOT NULL,               -- JSON
    method       TEXT NOT NULL DEFAULT '',
    confidence   REAL,
    duration_ms  INTEGER NOT NULL DEFAULT 0,
    artifact     TEXT REFERENCES artifacts(hash),
    detail       TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, idx)
) WITHOUT ROWID;

CREATE TABLE llm_calls (
    id                  INTEGER PRIMARY KEY,
    run_id              INTEGER REFERENCES runs(id) ON DELETE CASCADE,
    run_step            INTEGER,
    provider            TEXT NOT NULL,
    model               TEXT NOT NULL,
    input_tokens        INTEGER NOT NULL CHECK (input_tokens >= 0),
    output_tokens       INTEGER NOT NULL CHECK (output_tokens >= 0),
    cache_read_tokens   INTEGER NOT NULL DEFAULT 0 CHECK (cache_read_tokens >= 0),
    cache_write_tokens  INTEGER NOT NULL DEFAULT 0 CHECK (cache_write_tokens >= 0),
    cost_microusd       INTEGER NOT NULL CHECK (cost_microusd >= 0),
    latency_ms          INTEGER NOT NULL CHECK (latency_ms >= 0),
    created_at          TEXT NOT NULL
);
CREATE INDEX llm_calls_by_run ON llm_calls(run_id);
)sql";

// Version 2: schedules. Kept as its own migration so that the upgrade path (an older file opened by a
// newer rote) is exercised by the tests from the first release on.
constexpr const char* kV2 = R"sql(
CREATE TABLE schedules (
    id           INTEGER PRIMARY KEY,
    workflow_id  INTEGER NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
    cron         TEXT NOT NULL,
    inputs       TEXT NOT NULL DEFAULT '{}',
    enabled      INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    next_run_at  TEXT,
    last_run_id  INTEGER REFERENCES runs(id),
    created_at   TEXT NOT NULL
);
)sql";

// Version 3: which version of a workflow's trace its runs replay (docs/replay.md, "Versions on probation").
// Traces stay immutable; their standing is this table's. A file from before gets the newest version of each
// workflow as its default and the others retired: what runs replayed until then.
constexpr const char* kV3 = R"sql(
CREATE TABLE trace_standing (
    trace_id    INTEGER PRIMARY KEY REFERENCES traces(id) ON DELETE CASCADE,
    role        TEXT NOT NULL CHECK (role IN ('default', 'candidate', 'demoted', 'retired')),
    pinned      INTEGER NOT NULL DEFAULT 0 CHECK (pinned IN (0, 1)),
    conditions  TEXT NOT NULL DEFAULT '',  -- the screen its source run had; a candidate serves runs under it
    successes   INTEGER NOT NULL DEFAULT 0, -- runs on it that succeeded for inputs other than its source's
    failures    INTEGER NOT NULL DEFAULT 0, -- runs on it that failed since it last succeeded
    why         TEXT NOT NULL DEFAULT '',
    changed_at  TEXT NOT NULL
);
INSERT INTO trace_standing (trace_id, role, why, changed_at)
SELECT t.id,
       CASE WHEN t.version = (SELECT max(u.version) FROM traces u WHERE u.workflow_id = t.workflow_id)
            THEN 'default' ELSE 'retired' END,
       'the newest version when trace versions got their standing',
       strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
FROM traces t;
)sql";

// Version 4: a run's owner, the rote process running it, so a run whose process is gone (killed, a power
// cut) does not stay `running` forever: opening the store marks it `interrupted`, a status the runs table
// now allows. SQLite cannot change a CHECK constraint in place, so the table is rebuilt as its documented
// procedure says (foreign keys are off while migrating, and checked before the commit).
constexpr const char* kV4 = R"sql(
CREATE TABLE runs_v4 (
    id           INTEGER PRIMARY KEY,
    workflow_id  INTEGER NOT NULL REFERENCES workflows(id),
    trace_id     INTEGER REFERENCES traces(id),
    inputs       TEXT NOT NULL DEFAULT '{}',
    provider     TEXT NOT NULL,
    planner      TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled', 'interrupted')),
    error        TEXT NOT NULL DEFAULT '',
    outputs      TEXT NOT NULL DEFAULT '{}',
    new_trace_id INTEGER REFERENCES traces(id),
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    wall_ms      INTEGER NOT NULL DEFAULT 0,
    sandbox_ms   INTEGER NOT NULL DEFAULT 0
);
INSERT INTO runs_v4 (id, workflow_id, trace_id, inputs, provider, planner, status, error, outputs, new_trace_id,
                     started_at, finished_at, wall_ms, sandbox_ms)
SELECT id, workflow_id, trace_id, inputs, provider, planner, status, error, outputs, new_trace_id,
       started_at, finished_at, wall_ms, sandbox_ms FROM runs;
DROP TABLE runs;
ALTER TABLE runs_v4 RENAME TO runs;
CREATE INDEX runs_by_start ON runs(started_at);
CREATE INDEX runs_by_workflow ON runs(workflow_id, started_at);

CREATE TABLE run_owners (
    run_id       INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    pid          INTEGER NOT NULL,
    pid_ns       TEXT NOT NULL,            -- the pid namespace it is a pid of ("pid:[4026531836]")
    boot_id      TEXT NOT NULL,            -- /proc/sys/kernel/random/boot_id: a pid from another boot is no one
    start_ticks  INTEGER NOT NULL          -- its start time (/proc/PID/stat): a reused pid is someone else
);
)sql";

// Version 5: the sandbox's traffic through rote's egress proxy, kept with its run (it was lost with the
// sandbox): one row per request, in the order the proxy logged them, secret values already replaced.
constexpr const char* kV5 = R"sql(
CREATE TABLE run_requests (
    run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    idx        INTEGER NOT NULL,
    at         TEXT NOT NULL,                 -- ISO 8601 UTC, when its headers had come
    method     TEXT NOT NULL,
    host       TEXT NOT NULL,
    port       INTEGER NOT NULL,
    path       TEXT NOT NULL,                 -- path and query; '' for CONNECT
    status     INTEGER NOT NULL,
    bytes_in   INTEGER NOT NULL,              -- from the sandbox
    bytes_out  INTEGER NOT NULL,              -- to the sandbox
    ms         REAL NOT NULL,
    framing    TEXT NOT NULL,
    error      TEXT NOT NULL,                 -- what broke the exchange off; '' when it completed
    refused    TEXT NOT NULL,                 -- why the proxy answered itself; '' when the site did
    PRIMARY KEY (run_id, idx)
) WITHOUT ROWID;
)sql";

// Version 6: what the screen showed before and after each step of a run, as small images (the run report
// shows them); a run step from before has neither.
constexpr const char* kV6 = R"sql(
ALTER TABLE run_steps ADD COLUMN before_image TEXT REFERENCES artifacts(hash);
ALTER TABLE run_steps ADD COLUMN after_image TEXT REFERENCES artifacts(hash);
)sql";

// Version 7: schedules the scheduler runs (docs/schedules.md): a name, the zone its cron is read in, the rows
// of inputs each fire runs, its overlap policy, catch-up window, pause rule, daily model budget and where its
// alerts go; and its fires, one row per
// (schedule, scheduled time), which is what makes a fire start at most once however many schedulers share the
// file. A fire's owner is recorded as a run's is, so a fire whose scheduler died is marked interrupted. The
// version-2 table's rows are kept, named after their id, in UTC, paused if they were disabled.
constexpr const char* kV7 = R"sql(
CREATE TABLE schedules_v7 (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    workflow_id  INTEGER NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
    cron         TEXT NOT NULL,
    zone         TEXT NOT NULL DEFAULT 'UTC',
    rows         TEXT NOT NULL DEFAULT '[{}]',  -- a JSON array of input rows, one run each per fire
    planner      TEXT NOT NULL DEFAULT 'hints' CHECK (planner IN ('hints', 'llm')),
    overlap      TEXT NOT NULL DEFAULT 'skip' CHECK (overlap IN ('skip', 'buffer-one', 'allow')),
    catchup_s    INTEGER NOT NULL DEFAULT 3600 CHECK (catchup_s >= 0),
    pause_after  INTEGER NOT NULL DEFAULT 3 CHECK (pause_after >= 0),
    budget_microusd INTEGER CHECK (budget_microusd >= 0),  -- model dollars a day (its zone's day); NULL: none
    budget_calls    INTEGER CHECK (budget_calls >= 0),     -- model calls a day; NULL: none
    alert_webhook   TEXT NOT NULL DEFAULT '',              -- POSTed a signed JSON document per alert
    alert_command   TEXT NOT NULL DEFAULT '',              -- run with that document on its stdin
    paused       INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    paused_why   TEXT NOT NULL DEFAULT '',
    from_time    TEXT NOT NULL,                  -- fires are due after this (added, or last resumed)
    created_at   TEXT NOT NULL
);
INSERT INTO schedules_v7 (id, name, workflow_id, cron, rows, paused, paused_why, from_time, created_at)
SELECT id, 'schedule-' || id, workflow_id, cron, '[' || inputs || ']', 1 - enabled,
       CASE enabled WHEN 1 THEN '' ELSE 'disabled before schema 7' END, created_at, created_at
FROM schedules;
DROP TABLE schedules;
ALTER TABLE schedules_v7 RENAME TO schedules;

CREATE TABLE schedule_fires (
    id           INTEGER PRIMARY KEY,
    schedule_id  INTEGER NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
    scheduled_at TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'skipped', 'missed', 'interrupted')),
    detail       TEXT NOT NULL DEFAULT '',
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    pid          INTEGER,                        -- the claiming process, as run_owners records a run's
    pid_ns       TEXT,
    boot_id      TEXT,
    start_ticks  INTEGER,
    UNIQUE (schedule_id, scheduled_at)
);
ALTER TABLE runs ADD COLUMN fire_id INTEGER REFERENCES schedule_fires(id) ON DELETE SET NULL;
CREATE INDEX runs_by_fire ON runs(fire_id) WHERE fire_id IS NOT NULL;
)sql";

// Version 8: what the egress proxy captured of each plain-http exchange (headers without cookie or credential
// values, bodies up to a bound, secrets replaced), the step it came in, and the API plans mined from it.
constexpr const char* kV8 = R"sql(
ALTER TABLE run_requests ADD COLUMN scheme TEXT NOT NULL DEFAULT 'http';
ALTER TABLE run_requests ADD COLUMN step INTEGER NOT NULL DEFAULT 0;
ALTER TABLE run_requests ADD COLUMN captured INTEGER NOT NULL DEFAULT 0;
ALTER TABLE run_requests ADD COLUMN request_headers TEXT NOT NULL DEFAULT '[]';
ALTER TABLE run_requests ADD COLUMN request_body BLOB;
ALTER TABLE run_requests ADD COLUMN response_headers TEXT NOT NULL DEFAULT '[]';
ALTER TABLE run_requests ADD COLUMN response_body BLOB;
ALTER TABLE run_requests ADD COLUMN truncated INTEGER NOT NULL DEFAULT 0;
CREATE TABLE api_plans (
    id          INTEGER PRIMARY KEY,
    workflow_id INTEGER NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
    trace_id    INTEGER REFERENCES traces(id) ON DELETE SET NULL,   -- its GUI parent
    run_id      INTEGER REFERENCES runs(id) ON DELETE SET NULL,     -- the run it was mined from
    plan        TEXT NOT NULL,
    writes      INTEGER NOT NULL,
    standing    TEXT NOT NULL CHECK (standing IN ('unproven', 'proved', 'failed')),
    proof       TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL
);
CREATE INDEX api_plans_by_workflow ON api_plans(workflow_id);
)sql";

constexpr std::array<const char*, 8> kMigrations {kV1, kV2, kV3, kV4, kV5, kV6, kV7, kV8};
static_assert(kMigrations.size() == kSchemaVersion, "every schema version needs its migration");

} // namespace

std::span<const char* const> migrations() { return kMigrations; }

} // namespace rote::store
