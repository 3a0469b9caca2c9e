// `rote mcp` driven by real MCP clients: the official TypeScript SDK's client (2.x, which negotiates the
// stateless 2026-07-28 revision by server/discover), its 1.x client (the 2025 initialize handshake) and the
// MCP Inspector's CLI mode, over stdio, against the demo registry on loopback in real sandboxes. Run by ctest
// with node's own runner:
//   node --test mcp_client_test.mjs   (ROTE, ROTE_DEMO_SITE: the binaries)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { cancelledAtReplay, descendantsGone, startDemoSite } from './support.mjs';

import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { Client as LegacyClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport as LegacyStdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const rote = process.env.ROTE;
const demoSite = process.env.ROTE_DEMO_SITE;
assert.ok(rote && demoSite, 'ROTE and ROTE_DEMO_SITE name the binaries');

let site;
let registry; // 127.0.0.1:PORT
let dir;
let db;

before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rote-mcp-test-'));
    db = join(dir, 'rote.db');
    ({ site, registry } = await startDemoSite());
});

after(() => {
    site?.kill('SIGTERM');
    if (dir) rmSync(dir, { recursive: true, force: true });
});

function serverArgs() {
    return ['--db', db, 'mcp', '--workflow', 'registry-lookup', '--route', `registry.example.test=${registry}`];
}

async function connect() {
    // 'auto': the client probes with server/discover and takes the stateless revision when the server has it.
    const client = new Client({ name: 'rote-mcp-test', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
    const transport = new StdioClientTransport({ command: rote, args: serverArgs(), stderr: 'inherit' });
    await client.connect(transport);
    client.serverPid = transport.pid;
    return client;
}

const long = { timeout: 600_000 };

test('2026-07-28: the workflow is a tool with its schemas and annotations; the store tools beside it', async () => {
    const client = await connect();
    try {
        assert.equal(client.getNegotiatedProtocolVersion(), '2026-07-28');
        assert.equal(client.getServerVersion()?.name, 'rote');
        const { tools } = await client.listTools();
        const names = tools.map((t) => t.name).sort();
        assert.deepEqual(names, ['registry-lookup', 'rote_cost_report', 'rote_workflows']);
        const lookup = tools.find((t) => t.name === 'registry-lookup');
        assert.deepEqual(lookup.inputSchema.required, ['company']);
        assert.equal(lookup.inputSchema.properties.company.type, 'string');
        assert.deepEqual(lookup.outputSchema.required.sort(), ['registration_number', 'status']);
        assert.equal(lookup.annotations.readOnlyHint, true);
        assert.equal(lookup.annotations.destructiveHint, false);
        assert.equal(lookup.annotations.idempotentHint, true);
        // Every site it may reach is routed to this machine.
        assert.equal(lookup.annotations.openWorldHint, false);

        // A wrong argument is the tool's error, named, and no run starts.
        const wrong = await client.callTool({ name: 'registry-lookup', arguments: { companny: 'Acme Robotics Ltd' } });
        assert.equal(wrong.isError, true);
        assert.match(wrong.content[0].text, /companny|company/);
        // An unknown tool is the protocol's error.
        await assert.rejects(client.callTool({ name: 'no-such-workflow', arguments: {} }), /Unknown tool/);
    } finally {
        await client.close();
    }
});

test('2026-07-28: a call teaches, the next replays with no planner call; progress per step; outputs as structured content', long, async () => {
    const client = await connect();
    try {
        const progress = [];
        const taught = await client.callTool(
            { name: 'registry-lookup', arguments: { company: 'Acme Robotics Ltd' } },
            { onprogress: (p) => progress.push(p), timeout: 300_000 });
        assert.equal(taught.isError ?? false, false, JSON.stringify(taught.content));
        assert.deepEqual(taught.structuredContent, { registration_number: '08431277', status: 'Active' });
        assert.match(taught.content[0].text, /succeeded/);
        assert.ok(progress.length >= 4, `progress notifications: ${progress.length}`);
        assert.ok(progress.every((p, i) => p.progress === i + 1 && typeof p.message === 'string'));
        assert.ok(progress.some((p) => /planned: type/.test(p.message)), JSON.stringify(progress));

        const replayed = await client.callTool(
            { name: 'registry-lookup', arguments: { company: 'Northwind Traders Ltd' } }, { timeout: 300_000 });
        assert.equal(replayed.isError ?? false, false, JSON.stringify(replayed.content));
        assert.deepEqual(replayed.structuredContent, { registration_number: '05583120', status: 'Active' });
        assert.match(replayed.content[0].text, /0 planner calls, \$0\.0000/);
        const run = replayed._meta?.['dev.rote/run'];
        assert.equal(run?.status, 'succeeded');
        assert.equal(run?.planner_calls, 0);
        assert.equal(run?.new_trace_id, null);

        // The store tools see both runs.
        const report = await client.callTool({ name: 'rote_cost_report', arguments: { workflow: 'registry-lookup' } });
        assert.equal(report.structuredContent.total.runs, 2);
        assert.equal(report.structuredContent.total.succeeded, 2);
        const listed = await client.callTool({ name: 'rote_workflows', arguments: {} });
        assert.equal(listed.structuredContent.workflows[0].trace_versions, 1);
    } finally {
        await client.close();
    }
});

test('2026-07-28: a company the registry does not have fails with the divergence and its screenshot', long, async () => {
    const client = await connect();
    try {
        const missing = await client.callTool(
            { name: 'registry-lookup', arguments: { company: 'Nobody Such Holdings Ltd' } }, { timeout: 300_000 });
        assert.equal(missing.isError, true);
        assert.match(missing.content[0].text, /failed/);
        assert.equal(missing.structuredContent, undefined);
        const image = missing.content.find((c) => c.type === 'image');
        assert.ok(image, 'the screen where it diverged: ' + JSON.stringify(missing.content.map((c) => c.type)));
        assert.equal(image.mimeType, 'image/png');
        assert.equal(Buffer.from(image.data, 'base64').subarray(1, 4).toString(), 'PNG');
    } finally {
        await client.close();
    }
});

test('2026-07-28: cancelling a call stops its sandbox within 5 s and stores the run as cancelled', long, async () => {
    const client = await connect();
    try {
        const started = await cancelledAtReplay(client, 'Initech Software Ltd');
        assert.ok(started, 'the call reached its replay');
        assert.ok(client.serverPid > 0);
        const left = await descendantsGone(client.serverPid, started);
        assert.deepEqual(left, [], `sandbox processes left ${Date.now() - started} ms after the cancel`);
        console.log(`# the sandbox was gone ${Date.now() - started} ms after the cancel`);
        // The run ended cancelled (the report reads the store): poll, the server stores it as the run ends.
        let status;
        for (let i = 0; i < 50 && status !== 'cancelled'; ++i) {
            const report = await client.callTool({ name: 'rote_cost_report', arguments: {} });
            status = report.structuredContent.runs.at(-1)?.status;
            if (status !== 'cancelled') await new Promise((r) => setTimeout(r, 100));
        }
        assert.equal(status, 'cancelled');
        // The server goes on serving.
        const { tools } = await client.listTools();
        assert.ok(tools.length === 3);
    } finally {
        await client.close();
    }
});

test('2025-11-25 by initialize (the 1.x SDK client): the same tool, called', long, async () => {
    const client = new LegacyClient({ name: 'rote-mcp-legacy-test', version: '1.0.0' });
    await client.connect(new LegacyStdioClientTransport({ command: rote, args: serverArgs(), stderr: 'inherit' }));
    try {
        assert.equal(client.getServerVersion()?.name, 'rote');
        const { tools } = await client.listTools();
        assert.ok(tools.some((t) => t.name === 'registry-lookup'));
        const result = await client.callTool(
            { name: 'registry-lookup', arguments: { company: 'Globex Corporation Ltd' } }, undefined, { timeout: 300_000 });
        assert.equal(result.isError ?? false, false, JSON.stringify(result.content));
        assert.equal(result.structuredContent.registration_number.length, 8);
        assert.equal(result.resultType, undefined); // a 2025 result says no resultType
    } finally {
        await client.close();
    }
});

// The MCP Inspector's CLI mode, as a person would run it: `mcp-inspector --cli COMMAND ... --method M`.
function inspector(...args) {
    const bin = join(import.meta.dirname, 'node_modules', '.bin', 'mcp-inspector');
    return new Promise((resolve, reject) => {
        execFile(bin, ['--cli', rote, ...serverArgs(), ...args], { timeout: 300_000, maxBuffer: 64 << 20 },
            (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(JSON.parse(stdout))));
    });
}

test('the MCP Inspector CLI lists the tools and calls one', long, async () => {
    const { tools } = await inspector('--method', 'tools/list');
    assert.deepEqual(tools.map((t) => t.name).sort(), ['registry-lookup', 'rote_cost_report', 'rote_workflows']);
    const called = await inspector('--method', 'tools/call', '--tool-name', 'registry-lookup',
        '--tool-arg', 'company=Hooli Cloud Ltd');
    assert.equal(called.isError ?? false, false, JSON.stringify(called.content));
    assert.equal(called.structuredContent.registration_number.length, 8);
    assert.match(called.content[0].text, /succeeded/);
});
