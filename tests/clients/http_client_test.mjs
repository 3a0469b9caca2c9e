// `rote serve` over loopback, driven by node's own HTTP client (fetch) against the demo sites in real
// sandboxes: every endpoint, the bearer token, the event stream, cancellation, the concurrency limit, the
// OpenAPI document (validated by @apidevtools/swagger-parser, every answer checked against it with ajv), MCP
// over streamable HTTP under the official SDK's clients (both eras), and canaries: no secret, token or API
// key in any answer, event or log. Run by ctest with node's own runner:
//   node --test http_client_test.mjs   (ROTE, ROTE_DEMO_SITE: the binaries)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import SwaggerParser from '@apidevtools/swagger-parser';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { Client as LegacyClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as LegacyHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

import { cancelledAtReplay, descendants, descendantsGone, startDemoSite } from './support.mjs';

const rote = process.env.ROTE;
assert.ok(rote && process.env.ROTE_DEMO_SITE, 'ROTE and ROTE_DEMO_SITE name the binaries');

// What must never come out: the CRM's password (a secret input), the model keys in the server's environment,
// and the server's token.
const canaries = {
    password: 'canary-password-9f3a',
    anthropic: 'sk-ant-canary-5b1e0c',
    openai: 'sk-canary-openai-77d2',
};

let site;
let dir;
let server;
let base; // http://127.0.0.1:PORT
let token;
let serverLog = '';
const seen = []; // every body and event stream this test received, for the canary check
let schemas; // the OpenAPI document's component schemas, dereferenced
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);

before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rote-http-test-'));
    let registry;
    let crm;
    ({ site, registry, crm } = await startDemoSite('--crm-password', canaries.password));
    server = spawn(rote, ['--db', join(dir, 'rote.db'), 'serve', '--workflow', 'registry-lookup', '--workflow',
        'crm-add-lead', '--route', `registry.example.test=${registry}`, '--route', `crm.example.test=${crm}`,
        '--listen', '127.0.0.1:0', '--concurrency', '4', '--token-file', join(dir, 'serve.token')], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, ROTE_SECRET_CRM_PASSWORD: canaries.password, ANTHROPIC_API_KEY: canaries.anthropic,
            OPENAI_API_KEY: canaries.openai },
    });
    server.stderr.on('data', (chunk) => {
        serverLog += chunk;
        process.stderr.write(chunk);
    });
    const line = await new Promise((resolve, reject) => {
        createInterface({ input: server.stdout }).once('line', resolve);
        server.once('exit', (code) => reject(new Error(`rote serve exited (${code})`)));
    });
    const started = JSON.parse(line);
    base = started.url;
    assert.equal(started.token_file, join(dir, 'serve.token'));
    assert.equal(statSync(started.token_file).mode & 0o777, 0o600);
    token = readFileSync(started.token_file, 'utf8').trim();
    assert.ok(token.length >= 32);
    assert.ok(!line.includes(token), 'the start line names the token file, never the token');
});

after(() => {
    server?.kill('SIGKILL');
    site?.kill('SIGTERM');
    if (dir) rmSync(dir, { recursive: true, force: true });
});

async function call(method, path, { body, auth = token, headers = {} } = {}) {
    const response = await fetch(base + path, {
        method,
        headers: { ...(auth ? { Authorization: `Bearer ${auth}` } : {}), ...(body ? { 'Content-Type': 'application/json' } : {}), ...headers },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    seen.push(text);
    return { status: response.status, headers: response.headers, json: text ? JSON.parse(text) : undefined };
}

function conforms(name, value) {
    const valid = ajv.validate(schemas[name], value);
    assert.ok(valid, `${name}: ${ajv.errorsText()} in ${JSON.stringify(value).slice(0, 400)}`);
}

// The run's events as they come, parsed from the stream, until it ends.
async function events(id, lastEventId) {
    const response = await fetch(`${base}/v1/runs/${id}/events`, {
        headers: { Authorization: `Bearer ${token}`, ...(lastEventId ? { 'Last-Event-ID': String(lastEventId) } : {}) },
    });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type'), /^text\/event-stream/);
    const text = await response.text(); // the stream ends after the end event
    seen.push(text);
    return text.split('\n\n').filter((block) => block.trim() && !block.startsWith(':')).map((block) => {
        const fields = Object.fromEntries(block.split('\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]));
        return { id: Number(fields.id), event: fields.event, data: JSON.parse(fields.data) };
    });
}

async function waitFor(id, predicate, ms = 300_000) {
    const until = Date.now() + ms;
    for (;;) {
        const { json } = await call('GET', `/v1/runs/${id}`);
        if (predicate(json)) return json;
        assert.ok(Date.now() < until, `run ${id} is still ${json.status}`);
        await new Promise((r) => setTimeout(r, 100));
    }
}

const long = { timeout: 900_000 };

test('the OpenAPI document validates and names every endpoint', async () => {
    const { status, json } = await call('GET', '/v1/openapi.json');
    assert.equal(status, 200);
    const document = await SwaggerParser.validate(structuredClone(json));
    assert.equal(document.openapi, '3.1.0');
    assert.equal(json.servers[0].url, base);
    assert.deepEqual(Object.keys(json.paths).sort(),
        ['/mcp', '/v1/openapi.json', '/v1/report', '/v1/report.html', '/v1/runs', '/v1/runs/{id}', '/v1/runs/{id}/events',
            '/v1/workflows']);
    schemas = (await SwaggerParser.dereference(structuredClone(json))).components.schemas;
});

test('without the token, or with another, every endpoint answers 401 and does nothing', async () => {
    const endpoints = [['GET', '/v1/openapi.json'], ['GET', '/v1/workflows'], ['GET', '/v1/report'],
        ['GET', '/v1/report.html'], ['GET', '/v1/runs'],
        ['POST', '/v1/runs'], ['GET', '/v1/runs/00'], ['GET', '/v1/runs/00/events'], ['DELETE', '/v1/runs/00'], ['GET', '/nowhere']];
    for (const [method, path] of endpoints) {
        for (const auth of [null, 'x'.repeat(64), token.slice(0, -1), `${token}0`]) {
            const body = method === 'POST' ? { workflow: 'registry-lookup', inputs: { company: 'Acme Robotics Ltd' } } : undefined;
            const { status, headers, json } = await call(method, path, { auth, body });
            assert.equal(status, 401, `${method} ${path}`);
            assert.match(headers.get('www-authenticate'), /^Bearer/);
            conforms('Error', json);
        }
    }
    // Another scheme with the right token is refused too.
    const basic = await fetch(`${base}/v1/runs`, { headers: { Authorization: `Basic ${token}` } });
    assert.equal(basic.status, 401);
    const { json } = await call('GET', '/v1/runs');
    assert.deepEqual(json.runs, [], 'no run was queued by a refused request');
});

test('bad requests are named errors', async () => {
    const cases = [
        [{ body: 'not json' }, 400, /JSON object/],
        [{ body: { inputs: {} } }, 400, /workflow/],
        [{ body: { workflow: 'no-such' } }, 404, /no-such/],
        [{ body: { workflow: 'registry-lookup', inputs: { companny: 'x' } } }, 400, /compan/],
        [{ body: { workflow: 'crm-add-lead', inputs: { name: 'A', email: 'a@b.c', company: 'C', crm_user: 'demo', crm_password: 'x' } } }, 400, /secret/],
    ];
    for (const [options, status, message] of cases) {
        const answer = await call('POST', '/v1/runs', options);
        assert.equal(answer.status, status, JSON.stringify(options));
        conforms('Error', answer.json);
        assert.match(answer.json.error.message, message);
    }
    assert.equal((await call('GET', '/v1/runs/0123456789abcdef')).status, 404);
    assert.equal((await call('DELETE', '/v1/runs/0123456789abcdef')).status, 404);
    assert.equal((await call('GET', '/v1/nowhere')).status, 404);
});

test('a posted run is queued, taught, and its events come in order, one per step, ending with the run', long, async () => {
    const posted = await call('POST', '/v1/runs', { body: { workflow: 'registry-lookup', inputs: { company: 'Acme Robotics Ltd' } } });
    assert.equal(posted.status, 202);
    conforms('Run', posted.json);
    assert.ok(['queued', 'running'].includes(posted.json.status), posted.json.status); // a runner may have it already
    assert.equal(posted.headers.get('location'), `/v1/runs/${posted.json.id}`);
    assert.equal(posted.json.url, `${base}/v1/runs/${posted.json.id}`);

    const stream = await events(posted.json.id);
    assert.deepEqual(stream.map((e) => e.id), stream.map((_, i) => i + 1), 'event ids in order from 1');
    assert.equal(stream[0].event, 'status');
    assert.equal(stream[0].data.status, 'queued');
    assert.equal(stream[1].data.status, 'running');
    const steps = stream.filter((e) => e.event === 'step');
    assert.deepEqual(steps.map((e) => e.data.step), steps.map((_, i) => i + 1), 'steps numbered in order');
    assert.ok(steps.some((e) => /planned: type/.test(e.data.message)), JSON.stringify(steps));
    const end = stream.at(-1);
    assert.equal(end.event, 'end');
    conforms('Run', end.data);
    assert.equal(end.data.status, 'succeeded');
    assert.deepEqual(end.data.outputs, { registration_number: '08431277', status: 'Active' });

    const { json: run } = await call('GET', `/v1/runs/${posted.json.id}`);
    conforms('Run', run);
    assert.equal(run.status, 'succeeded');
    assert.deepEqual(run.steps, steps.map((e) => e.data.message), 'GET gives the same steps as the stream');
    assert.ok(run.planner_calls > 0, 'taught by the hints planner');
    assert.equal(run.cost, '$0.0000', 'which costs nothing');

    // A client that resumes after an event gets the rest; after the end, nothing, and the stream closes.
    const rest = await events(posted.json.id, 3);
    assert.deepEqual(rest.map((e) => e.id), stream.slice(3).map((e) => e.id));
    assert.deepEqual(await events(posted.json.id, stream.length), []);
});

test('20 runs posted at once with a limit of 4 run 4 at a time and all finish', long, async () => {
    const companies = ['Acme Robotics Ltd', 'Northwind Traders Ltd', 'Globex Corporation Ltd', 'Initech Software Ltd', 'Hooli Cloud Ltd'];
    const posted = await Promise.all(Array.from({ length: 20 }, (_, i) =>
        call('POST', '/v1/runs', { body: { workflow: 'registry-lookup', inputs: { company: companies[i % companies.length] } } })));
    assert.ok(posted.every((p) => p.status === 202));
    const ids = new Set(posted.map((p) => p.json.id));
    assert.equal(ids.size, 20);
    let most = 0;
    for (;;) {
        const { json } = await call('GET', '/v1/runs');
        conforms('Run', json.runs[0]);
        const ours = json.runs.filter((r) => ids.has(r.id));
        const running = ours.filter((r) => r.status === 'running').length;
        assert.ok(running <= 4, `${running} running at once`);
        most = Math.max(most, running);
        if (ours.every((r) => !['queued', 'running'].includes(r.status))) break;
        await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(most, 4, 'four ran at once');
    const runs = await Promise.all([...ids].map(async (id) => (await call('GET', `/v1/runs/${id}`)).json));
    for (const run of runs) {
        assert.equal(run.status, 'succeeded', `${run.inputs.company}: ${run.error}`);
        assert.equal(run.outputs.registration_number.length, 8);
    }
    // By their own times too: never more than four at once.
    const spans = runs.map((r) => [Date.parse(r.started_at), Date.parse(r.finished_at)]);
    for (const [start] of spans) assert.ok(spans.filter(([s, f]) => s <= start && start < f).length <= 4);
    const first = Math.min(...spans.map((s) => s[0]));
    console.log(`# 20 runs, 4 at a time: ${((Math.max(...spans.map((s) => s[1])) - first) / 1000).toFixed(1)} s`);
});

test('DELETE cancels: a queued run never starts; a running one\'s sandbox is gone within 5 s', long, async () => {
    // Four runners: of five runs posted, the fifth waits.
    const posted = [];
    for (let i = 0; i < 5; ++i)
        posted.push((await call('POST', '/v1/runs', { body: { workflow: 'registry-lookup', inputs: { company: 'Hooli Cloud Ltd' } } })).json);
    const queued = await call('DELETE', `/v1/runs/${posted[4].id}`);
    assert.equal(queued.status, 200, JSON.stringify(queued.json));
    assert.equal(queued.json.status, 'cancelled');
    assert.equal(queued.json.started_at, null);
    for (const r of posted.slice(0, 4)) assert.equal((await waitFor(r.id, (x) => !['queued', 'running'].includes(x.status))).status, 'succeeded');
    assert.equal((await call('GET', `/v1/runs/${posted[4].id}`)).json.started_at, null, 'the cancelled run never started');

    // Alone, so that every sandbox process under the server is this run's.
    const victim = (await call('POST', '/v1/runs', { body: { workflow: 'registry-lookup', inputs: { company: 'Initech Software Ltd' } } })).json;
    await waitFor(victim.id, (r) => r.steps.some((s) => /replaying trace/.test(s)));
    assert.ok(descendants(server.pid).length > 0, 'the run has a sandbox');
    const cancelled = await call('DELETE', `/v1/runs/${victim.id}`);
    const at = Date.now();
    assert.equal(cancelled.status, 202);
    assert.equal(cancelled.json.status, 'cancelling');
    const left = await descendantsGone(server.pid, at);
    assert.deepEqual(left, [], `sandbox processes left ${Date.now() - at} ms after the DELETE`);
    console.log(`# the sandbox was gone ${Date.now() - at} ms after the DELETE`);
    const ended = await waitFor(victim.id, (r) => !['running', 'cancelling'].includes(r.status), 5000);
    assert.equal(ended.status, 'cancelled');
    assert.equal(ended.run.status, 'cancelled', 'stored as cancelled');
    assert.equal((await call('DELETE', `/v1/runs/${victim.id}`)).status, 409, 'an ended run cannot be cancelled');
    const stream = await events(victim.id);
    assert.equal(stream.at(-1).event, 'end');
    assert.equal(stream.at(-1).data.status, 'cancelled');
});

test('the secret input is typed and never shown; the workflows and the report', long, async () => {
    const posted = await call('POST', '/v1/runs', {
        body: { workflow: 'crm-add-lead', inputs: { name: 'Ada Lovelace', email: 'ada@example.com', company: 'Analytical Engines Ltd', crm_user: 'demo' } },
    });
    assert.equal(posted.status, 202);
    const stream = await events(posted.json.id);
    const end = stream.at(-1).data;
    assert.equal(end.status, 'succeeded', end.error);
    assert.match(end.outputs.lead_id, /^L-[0-9]+$/);

    const workflows = await call('GET', '/v1/workflows');
    conforms('Workflows', workflows.json);
    const lookup = workflows.json.workflows.find((w) => w.name === 'registry-lookup');
    assert.ok(lookup.trace_versions >= 1); // more when a replay under load was repaired
    assert.ok(lookup.figures.runs >= 21);
    const report = await call('GET', '/v1/report?workflow=crm-add-lead');
    conforms('Report', report.json);
    assert.equal(report.json.total.runs, 1);
    assert.equal(report.json.query.workflow, 'crm-add-lead');
    assert.equal((await call('GET', '/v1/report?since=yesterday')).status, 400);
    // The report's page too (the canary check at the end reads it with the rest).
    const page = await fetch(`${base}/v1/report.html?workflow=crm-add-lead`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(page.status, 200);
    const html = await page.text();
    seen.push(html);
    assert.match(html, /<section class="run"/);
});

async function mcpClient(auth = token) {
    const client = new Client({ name: 'rote-http-test', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${base}/mcp`),
        { requestInit: { headers: { Authorization: `Bearer ${auth}` } } }));
    return client;
}

test('MCP over streamable HTTP (2026-07-28): the tools, a call with progress through the run queue', long, async () => {
    await assert.rejects(mcpClient('0'.repeat(64)), /401|Unauthorized/);
    const client = await mcpClient();
    try {
        assert.equal(client.getNegotiatedProtocolVersion(), '2026-07-28');
        const { tools } = await client.listTools();
        assert.deepEqual(tools.map((t) => t.name).sort(), ['crm-add-lead', 'registry-lookup', 'rote_cost_report', 'rote_workflows']);
        const lead = tools.find((t) => t.name === 'crm-add-lead');
        assert.equal(lead.annotations.readOnlyHint, false);
        assert.equal(lead.annotations.destructiveHint, false);
        assert.equal(lead.annotations.idempotentHint, false);
        assert.ok(!('crm_password' in lead.inputSchema.properties), 'a secret is never an argument');
        const progress = [];
        const result = await client.callTool({ name: 'registry-lookup', arguments: { company: 'Globex Corporation Ltd' } },
            { onprogress: (p) => progress.push(p), timeout: 300_000 });
        assert.equal(result.isError ?? false, false, JSON.stringify(result.content));
        assert.deepEqual(result.structuredContent, { registration_number: '09917744', status: 'Active' });
        assert.match(result.content[0].text, /0 planner calls/);
        assert.ok(progress.length >= 4 && progress.every((p, i) => p.progress === i + 1), JSON.stringify(progress));
        // The call ran as one of the server's runs.
        const { json } = await call('GET', '/v1/runs');
        const run = json.runs.find((r) => r.run_id === result._meta['dev.rote/run'].run_id);
        assert.equal(run?.status, 'succeeded');
        assert.equal(run?.inputs.company, 'Globex Corporation Ltd');
    } finally {
        await client.close();
    }
});

test('MCP over streamable HTTP: a cancelled call stops its run; its sandbox is gone within 5 s', long, async () => {
    const client = await mcpClient();
    try {
        const at = await cancelledAtReplay(client, 'Initech Software Ltd');
        assert.ok(at, 'the call reached its replay');
        const left = await descendantsGone(server.pid, at);
        assert.deepEqual(left, [], `sandbox processes left ${Date.now() - at} ms after the cancel`);
        console.log(`# the sandbox was gone ${Date.now() - at} ms after the MCP cancel`);
        const { json } = await call('GET', '/v1/runs');
        assert.equal(json.runs[0].inputs.company, 'Initech Software Ltd');
        const ended = await waitFor(json.runs[0].id, (r) => !['running', 'cancelling'].includes(r.status), 5000);
        assert.equal(ended.status, 'cancelled');
    } finally {
        await client.close();
    }
});

test('MCP over streamable HTTP, 2025-11-25 by initialize (the 1.x SDK client)', long, async () => {
    const client = new LegacyClient({ name: 'rote-http-legacy-test', version: '1.0.0' });
    await client.connect(new LegacyHTTPClientTransport(new URL(`${base}/mcp`),
        { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
    try {
        assert.equal(client.getServerVersion()?.name, 'rote');
        const { tools } = await client.listTools();
        assert.ok(tools.some((t) => t.name === 'registry-lookup'));
        const result = await client.callTool({ name: 'registry-lookup', arguments: { company: 'Northwind Traders Ltd' } },
            undefined, { timeout: 300_000 });
        assert.equal(result.isError ?? false, false, JSON.stringify(result.content));
        assert.deepEqual(result.structuredContent, { registration_number: '05583120', status: 'Active' });
    } finally {
        await client.close();
    }
    // Without a session, GET and DELETE on the endpoint say so.
    assert.equal((await call('GET', '/mcp')).status, 405);
    // A notification or a response is taken without an answer; what is not JSON-RPC is the protocol's error.
    const headers = { Accept: 'application/json, text/event-stream' };
    assert.equal((await call('POST', '/mcp', { headers, body: { jsonrpc: '2.0', method: 'notifications/initialized' } })).status, 202);
    assert.equal((await call('POST', '/mcp', { headers, body: { jsonrpc: '2.0', id: 7, result: {} } })).status, 202);
    const garbage = await call('POST', '/mcp', { headers, body: 'not json' });
    assert.equal(garbage.status, 400);
    assert.equal(garbage.json.error.code, -32700);
    const mismatch = await call('POST', '/mcp', {
        headers: { ...headers, 'Mcp-Method': 'tools/call' },
        body: { jsonrpc: '2.0', id: 8, method: 'tools/list', params: {} },
    });
    assert.equal(mismatch.status, 400);
    assert.match(mismatch.json.error.message, /Mcp-Method/);
});

test('canaries: no secret, token or model key in any answer, event or log', async () => {
    const everything = seen.join('\n') + serverLog;
    assert.ok(seen.length > 50, `${seen.length} answers checked`);
    for (const [name, value] of Object.entries({ ...canaries, token })) {
        assert.ok(!everything.includes(value), `the ${name} came out`);
    }
});

test('SIGTERM: queued runs are cancelled, running ones stopped, and the server exits 0', long, async () => {
    const posted = [];
    for (let i = 0; i < 6; ++i)
        posted.push((await call('POST', '/v1/runs', { body: { workflow: 'registry-lookup', inputs: { company: 'Acme Robotics Ltd' } } })).json);
    await waitFor(posted[0].id, (r) => r.status === 'running');
    const exited = new Promise((resolve) => server.once('exit', (code, signal) => resolve({ code, signal })));
    server.kill('SIGTERM');
    const at = Date.now();
    assert.deepEqual(await exited, { code: 0, signal: null });
    console.log(`# rote serve exited ${Date.now() - at} ms after SIGTERM`);
    assert.ok(Date.now() - at < 10_000);
    assert.deepEqual(descendants(server.pid), []);
    server = undefined;
    // In the store, nothing is left running: the stopped run is cancelled.
    const report = JSON.parse(execFileSync(rote, ['--db', join(dir, 'rote.db'), 'report', '--json'], { encoding: 'utf8' }));
    assert.ok(report.runs.every((r) => r.status !== 'running'), JSON.stringify(report.runs.map((r) => r.status)));
    assert.ok(report.runs.some((r) => r.status === 'cancelled'));
});
