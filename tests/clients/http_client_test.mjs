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
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
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
            '/v1/runs/{id}/view', '/v1/workflows']);
    schemas = (await SwaggerParser.dereference(structuredClone(json))).components.schemas;
});

test('without the token, or with another, every endpoint answers 401 and does nothing', async () => {
    const endpoints = [['GET', '/v1/openapi.json'], ['GET', '/v1/workflows'], ['GET', '/v1/report'],
        ['GET', '/v1/report.html'], ['GET', '/v1/runs'],
        ['POST', '/v1/runs'], ['GET', '/v1/runs/00'], ['GET', '/v1/runs/00/events'], ['DELETE', '/v1/runs/00'], ['POST', '/v1/runs/00/view'], ['GET', '/nowhere']];
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

// A WebSocket opening to a live view, by hand (node 20 has no WebSocket client): the handshake's status line,
// and with a 101 the first frame's payload (what the desktop's VNC server says first).
function openView(viewUrl, origin) {
    const url = new URL(viewUrl);
    const path = '/' + decodeURIComponent(url.searchParams.get('path'));
    return new Promise((resolve) => {
        const socket = connect(Number(url.port), '127.0.0.1');
        let data = Buffer.alloc(0);
        const done = (result) => { socket.destroy(); resolve(result); };
        socket.setTimeout(10_000, () => done({ status: 'timeout', data: data.toString('latin1') }));
        socket.on('error', (e) => done({ status: e.code }));
        socket.on('close', () => done({ status: data.toString('latin1').split('\r\n')[0], data: data.toString('latin1') }));
        socket.on('connect', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${url.port}\r\nUpgrade: websocket\r\n`
            + `Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n`
            + `Sec-WebSocket-Protocol: binary\r\nOrigin: ${origin}\r\n\r\n`));
        socket.on('data', (chunk) => {
            data = Buffer.concat([data, chunk]);
            const text = data.toString('latin1');
            const end = text.indexOf('\r\n\r\n');
            if (end < 0) return;
            const status = text.split('\r\n')[0];
            if (!/ 101 /.test(status)) return done({ status, data: text });
            const frame = data.subarray(end + 4);
            if (frame.length >= 2 && frame.length >= 2 + (frame[1] & 0x7f))
                done({ status, opcode: frame[0] & 0x0f, payload: frame.subarray(2, 2 + (frame[1] & 0x7f)).toString('latin1') });
        });
    });
}

test('a live view of a running run: its own token and origin, view-only or with control, closed with the sandbox', long, async () => {
    // A server of its own on a slow registry (every answer 20 s late): the run's sandbox is up for long enough.
    const slow = await startDemoSite('--variant', 'slow', '--slow-ms', '20000');
    const viewServer = spawn(rote, ['--db', join(dir, 'view.db'), 'serve', '--workflow', 'registry-lookup',
        '--route', `registry.example.test=${slow.registry}`, '--listen', '127.0.0.1:0', '--token-file', join(dir, 'serve.token')],
        { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
        const started = JSON.parse(await new Promise((resolve) => createInterface({ input: viewServer.stdout }).once('line', resolve)));
        const at = (path, options = {}) => fetch(started.url + path, { method: 'POST', ...options,
            headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', ...(options.headers || {}) } });
        const run = await (await at('/v1/runs', { body: JSON.stringify({ workflow: 'registry-lookup', inputs: { company: 'Acme Robotics Ltd' } }) })).json();
        // 409 until the sandbox is up, then the view (201), then the same view (200).
        let view;
        for (const until = Date.now() + 60_000; ;) {
            const response = await at(`/v1/runs/${run.id}/view`);
            const body = await response.json();
            seen.push(JSON.stringify(body));
            if (response.status === 201) { view = body; break; }
            assert.equal(response.status, 409, JSON.stringify(body));
            assert.ok(Date.now() < until, 'the run\'s sandbox never came up');
            await new Promise((r) => setTimeout(r, 200));
        }
        conforms('View', view);
        assert.equal(view.control, false);
        const again = await at(`/v1/runs/${run.id}/view`, { body: '{}' });
        assert.equal(again.status, 200);
        assert.equal((await again.json()).url, view.url);
        const origin = new URL(view.url).origin;
        assert.match(origin, /^http:\/\/127\.0\.0\.1:[0-9]+$/);
        const page = await fetch(view.url);
        assert.equal(page.status, 200);
        assert.match(await page.text(), /noVNC/);
        // The view's WebSocket: the desktop's VNC server answers through it, with the token and from the page.
        const opened = await openView(view.url, origin);
        assert.match(opened.status, / 101 /, opened.data);
        assert.equal(opened.opcode, 2);
        assert.match(opened.payload, /^RFB 003\.00[0-9]\n/);
        // Another token, or a page of another origin, never reaches the desktop.
        const desktopSays = (r) => r.opcode === 2 && (r.payload ?? '').startsWith('RFB');
        const wrongToken = view.url.replace(/token%3D[0-9a-zA-Z_-]+/, 'token%3D' + '0'.repeat(64));
        assert.notEqual(wrongToken, view.url);
        assert.ok(!desktopSays(await openView(wrongToken, origin)), 'another token reached the desktop');
        assert.ok(!desktopSays(await openView(view.url, 'http://evil.example')), 'another origin reached the desktop');
        // Control is a view of its own, on another port.
        const control = await at(`/v1/runs/${run.id}/view`, { body: JSON.stringify({ control: true }) });
        assert.equal(control.status, 201);
        const controlView = await control.json();
        assert.equal(controlView.control, true);
        assert.notEqual(new URL(controlView.url).port, new URL(view.url).port);
        assert.match(controlView.url, /view_only=0/);
        assert.match(view.url, /view_only=1/);
        assert.equal((await at(`/v1/runs/${run.id}/view`, { body: '{"control": 1}' })).status, 400);
        // The run ends (cancelled): both views close with its sandbox.
        assert.equal((await fetch(`${started.url}/v1/runs/${run.id}`, { method: 'DELETE', headers: { Authorization: `Bearer ${token}` } })).status, 202);
        const closedAt = Date.now();
        for (const v of [view, controlView]) {
            let status;
            do {
                status = (await openView(v.url, new URL(v.url).origin)).status;
                if (status === 'ECONNREFUSED') break;
                await new Promise((r) => setTimeout(r, 100));
            } while (Date.now() - closedAt < 10_000);
            assert.equal(status, 'ECONNREFUSED', `the view on ${v.url.split('/vnc')[0]} is still open`);
        }
        console.log(`# both views were closed ${Date.now() - closedAt} ms after the DELETE`);
        const ended = await at(`/v1/runs/${run.id}/view`);
        assert.equal(ended.status, 409);
        assert.match((await ended.json()).error.message, /ended|not up/);
    } finally {
        viewServer.kill('SIGKILL');
        slow.site.kill('SIGTERM');
    }
});

// A GET over HTTPS trusting `ca` (or the system's CAs without it): the status and body, or the error's code.
function httpsGet(url, { ca, auth } = {}) {
    return new Promise((resolve) => {
        const req = httpsRequest(url, { ca, headers: auth ? { Authorization: `Bearer ${auth}` } : {} }, (res) => {
            let body = '';
            res.on('data', (c) => { body += c; });
            res.on('end', () => resolve({ status: res.statusCode, body }));
        });
        req.on('error', (e) => resolve({ error: e.code || e.message }));
        req.end();
    });
}

test('TLS: with a certificate the API is HTTPS, and only then may it listen beyond loopback', long, async () => {
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
        '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
    const serve = (listen, extra = [], wrap = []) => {
        const args = ['--db', join(dir, 'tls.db'), 'serve', '--workflow', 'registry-lookup', '--listen', listen,
            '--token-file', join(dir, 'serve.token'), ...extra];
        const child = wrap.length ? spawn(wrap[0], [...wrap.slice(1), rote, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
            : spawn(rote, args, { stdio: ['ignore', 'pipe', 'pipe'] });
        let err = '';
        child.stderr.on('data', (c) => { err += c; });
        const started = new Promise((resolve) => {
            createInterface({ input: child.stdout }).once('line', (line) => resolve(JSON.parse(line)));
            child.once('exit', (code) => resolve({ exit: code, err }));
        });
        return { child, started };
    };
    const tls = ['--tls-cert', cert, '--tls-key', key];
    const secure = serve('127.0.0.1:0', tls);
    try {
        const started = await secure.started;
        assert.match(started.url, /^https:\/\/127\.0\.0\.1:[0-9]+$/, JSON.stringify(started));
        const ok = await httpsGet(`${started.url}/v1/workflows`, { ca: readFileSync(cert), auth: token });
        assert.equal(ok.status, 200, JSON.stringify(ok));
        assert.ok(JSON.parse(ok.body).workflows.some((w) => w.name === 'registry-lookup'));
        assert.equal((await httpsGet(`${started.url}/v1/workflows`, { ca: readFileSync(cert) })).status, 401);
        // A client that does not trust the certificate does not talk to it; nor does one speaking plain HTTP.
        assert.ok((await httpsGet(`${started.url}/v1/workflows`, { auth: token })).error, 'an untrusted certificate was accepted');
        const plain = await fetch(started.url.replace('https', 'http') + '/v1/workflows', { headers: { Authorization: `Bearer ${token}` } })
            .then((r) => r.status, (e) => e.cause?.code ?? 'refused');
        assert.notEqual(plain, 200);
    } finally {
        secure.child.kill('SIGKILL');
    }
    // Beyond loopback: refused without TLS (nothing listens), accepted with it, in a network namespace of its
    // own (only its loopback exists there) so that no other address is ever opened.
    const clear = await serve('0.0.0.0:0').started;
    assert.equal(clear.exit, 2, JSON.stringify(clear)); // a usage error
    assert.match(clear.err, /only with TLS/);
    const halfTls = await serve('127.0.0.1:0', ['--tls-cert', cert]).started;
    assert.notEqual(halfTls.exit, 0);
    const wide = serve('0.0.0.0:0', tls, ['unshare', '--net', '--']);
    try {
        const started = await wide.started;
        assert.match(started.url ?? '', /^https:\/\/0\.0\.0\.0:[0-9]+$/, JSON.stringify(started));
    } finally {
        wide.child.kill('SIGKILL');
    }
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
