// The run report as a page, opened in a real headless Chromium and read through the DevTools protocol (over
// its pipe: no port): every step of every run is there with its pictures loaded, the divergence shows the
// expected and the actual screen, the charts have one point per run, and no secret is in the page. The runs
// are real: registry-lookup taught by its hints, replayed, and repaired on the demo site's banner variant;
// crm-add-lead with a canary password. Run by ctest with node's own runner:
//   node --test report_test.mjs   (ROTE, ROTE_DEMO_SITE: the binaries; ROTE_REPORT_SCREENSHOT: a directory
//   to write PNGs of the page to, report.png and report-run.png, for docs/)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import { startDemoSite } from './support.mjs';

const rote = process.env.ROTE;
assert.ok(rote && process.env.ROTE_DEMO_SITE, 'ROTE and ROTE_DEMO_SITE name the binaries');
const password = 'canary-password-4c1d';

let dir;
let db;
const sites = [];
let report; // `rote report --json`
let page; // the HTML

// `rote ARGS --json`, parsed; a run's document is its one run's.
function roteRun(...args) {
    const doc = roteJson(...args);
    return doc.runs[0];
}

function roteJson(...args) {
    return JSON.parse(execFileSync(rote, ['--db', db, ...args, '--json'], {
        encoding: 'utf8',
        env: { ...process.env, ROTE_SECRET_CRM_PASSWORD: password, ANTHROPIC_API_KEY: '', OPENAI_API_KEY: '' },
        stdio: ['ignore', 'pipe', 'inherit'],
    }));
}

before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rote-report-test-'));
    db = join(dir, 'rote.db');
    const baseline = await startDemoSite('--crm-password', password);
    const banner = await startDemoSite('--variant', 'banner');
    sites.push(baseline.site, banner.site);
    const registry = (site) => ['--route', `registry.example.test=${site.registry}`];
    const taught = roteRun('run', 'registry-lookup', '-i', 'company=Acme Robotics Ltd', ...registry(baseline));
    assert.equal(taught.status, 'succeeded');
    const replayed = roteRun('run', 'registry-lookup', '-i', 'company=Wayne Foods Ltd', ...registry(baseline));
    assert.equal(replayed.status, 'succeeded');
    const repaired = roteRun('run', 'registry-lookup', '-i', 'company=Hooli Cloud Ltd', ...registry(banner));
    assert.equal(repaired.status, 'succeeded');
    assert.ok(repaired.divergences.length >= 1, 'the banner makes replay diverge');
    const lead = roteRun('run', 'crm-add-lead', '-i', 'name=Dana Scully', '-i', 'email=dana@example.test', '-i',
        'company=Scully Partners Ltd', '-i', 'crm_user=demo', '--route', `crm.example.test=${baseline.crm}`);
    assert.equal(lead.status, 'succeeded');
    report = roteJson('report');
    execFileSync(rote, ['--db', db, 'report', '--html', join(dir, 'report.html')], { stdio: 'inherit' });
    page = readFileSync(join(dir, 'report.html'), 'utf8');
});

after(() => {
    for (const site of sites) site.kill('SIGTERM');
    if (dir) rmSync(dir, { recursive: true, force: true });
});

// Chromium, headless, speaking the DevTools protocol over descriptors 3 and 4 (NUL-ended JSON messages). Its
// only proxy is a closed loopback port: it reaches nothing but the file it is given.
async function openInChromium(file, work) {
    const browser = spawn('chromium', ['--headless=new', '--remote-debugging-pipe', '--no-sandbox', '--disable-gpu',
        '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
        '--proxy-server=127.0.0.1:9', `--user-data-dir=${join(dir, 'chromium')}`, '--window-size=1280,900',
        `file://${file}`], { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'] });
    const pending = new Map();
    let next = 1;
    let buffered = '';
    browser.stdio[4].on('data', (chunk) => {
        buffered += chunk.toString('utf8');
        let end;
        while ((end = buffered.indexOf('\0')) >= 0) {
            const message = JSON.parse(buffered.slice(0, end));
            buffered = buffered.slice(end + 1);
            const waiter = pending.get(message.id);
            if (waiter) {
                pending.delete(message.id);
                if (message.error) waiter.reject(new Error(JSON.stringify(message.error)));
                else waiter.resolve(message.result);
            }
        }
    });
    const send = (method, params = {}, sessionId) => new Promise((resolve, reject) => {
        const id = next++;
        pending.set(id, { resolve, reject });
        browser.stdio[3].write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + '\0');
    });
    try {
        let target;
        for (let i = 0; i < 100 && !target; ++i) {
            const { targetInfos } = await send('Target.getTargets');
            target = targetInfos.find((t) => t.type === 'page' && t.url.startsWith('file://'));
            if (!target) await new Promise((r) => setTimeout(r, 100));
        }
        assert.ok(target, 'Chromium shows the report');
        const { sessionId } = await send('Target.attachToTarget', { targetId: target.targetId, flatten: true });
        const evaluate = async (expression) => {
            const answer = await send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true }, sessionId);
            assert.ok(!answer.exceptionDetails, JSON.stringify(answer.exceptionDetails));
            return answer.result.value;
        };
        // The page once it is the report's document, loaded (the tab shows a blank one first).
        let ready = false;
        for (let i = 0; i < 200 && !ready; ++i) {
            ready = await evaluate(`location.protocol === 'file:' && document.readyState === 'complete' && !!document.body`)
                .catch(() => false);
            if (!ready) await new Promise((r) => setTimeout(r, 50));
        }
        assert.ok(ready, 'the report loads');
        return await work({ evaluate, send: (method, params) => send(method, params, sessionId) });
    } finally {
        browser.kill('SIGKILL');
    }
}

test('the page holds every step of every run with its pictures, the divergence, one chart point per run', async () => {
    const found = await openInChromium(join(dir, 'report.html'), async ({ evaluate, send }) => {
        const shots = process.env.ROTE_REPORT_SCREENSHOT; // a directory: the page's top, and the run that diverged
        if (shots) {
            const top = await send('Page.captureScreenshot', { format: 'png' });
            writeFileSync(join(shots, 'report.png'), Buffer.from(top.data, 'base64'));
            const box = await evaluate(`(() => {
                const r = document.querySelector('.divergence').closest('section').getBoundingClientRect();
                return { x: r.left, y: r.top + scrollY, width: r.width, height: r.height };
            })()`);
            const run = await send('Page.captureScreenshot',
                { format: 'png', captureBeyondViewport: true, clip: { ...box, scale: 1 } });
            writeFileSync(join(shots, 'report-run.png'), Buffer.from(run.data, 'base64'));
        }
        return evaluate(`(async () => {
            const loaded = async (src) => { const i = new Image(); i.src = src; await i.decode(); return i.naturalWidth; };
            const runs = {};
            for (const section of document.querySelectorAll('section.run')) {
                const steps = [...section.querySelectorAll('tr.step')].map((row) => ({
                    outcome: row.dataset.outcome,
                    pictures: [...row.querySelectorAll('img.shot')].map((img) => img.complete ? img.naturalWidth : -1),
                }));
                const divergences = [];
                for (const d of section.querySelectorAll('.divergence')) {
                    const screens = {};
                    for (const figure of d.querySelectorAll('figure')) {
                        const image = figure.querySelector('svg image');
                        screens[figure.className] = {
                            width: image ? await loaded(image.href.baseVal) : 0,
                            marked: figure.querySelectorAll('rect.changed').length,
                        };
                    }
                    divergences.push(screens);
                }
                runs[section.dataset.run] = { steps, divergences };
            }
            const charts = {};
            for (const w of document.querySelectorAll('section.workflow')) {
                charts[w.dataset.workflow] = Object.fromEntries([...w.querySelectorAll('svg.chart')].map(
                    (c) => [c.dataset.chart, [...c.querySelectorAll('circle.point')].map((p) => Number(p.dataset.run))]));
            }
            return { runs, charts, text: document.body.innerText };
        })()`);
    });

    assert.equal(Object.keys(found.runs).length, report.runs.length);
    for (const run of report.runs) {
        const shown = found.runs[run.id];
        assert.ok(shown, `run ${run.id} is on the page`);
        assert.equal(shown.steps.length, run.steps, `run ${run.id}: every step`);
        for (const step of shown.steps) {
            if (step.outcome === 'failed') continue; // a divergence's row: its screens are below
            assert.equal(step.pictures.length, 2, `run ${run.id}: a ${step.outcome} step has its before and after`);
            for (const width of step.pictures) assert.ok(width > 0, `run ${run.id}: a picture did not load`);
        }
    }
    const diverged = Object.values(found.runs).filter((r) => r.divergences.length > 0);
    assert.equal(diverged.length, 1, 'the banner run, alone, diverged');
    const [screens] = diverged[0].divergences;
    assert.ok(screens.expected.width > 0 && screens.actual.width > 0, 'the expected and the actual screen, both loaded');
    assert.ok(screens.actual.marked >= 1, 'where they differ is marked');

    for (const w of report.workflows) {
        const ids = report.runs.filter((r) => r.workflow === w.workflow).map((r) => r.id);
        assert.deepEqual(found.charts[w.workflow].cost, ids, `${w.workflow}: one cost point per run, in order`);
        assert.deepEqual(found.charts[w.workflow].replayed, ids, `${w.workflow}: one replay point per run`);
    }
    assert.ok(!page.includes(password) && !found.text.includes(password), 'no secret in the page');
    assert.ok(!/https?:\/\/(?!registry\.example\.test|crm\.example\.test)/.test(page.replace(/data:[^"]*/g, '')),
        'the page loads nothing from anywhere');
});

test('rote serve serves the same page, token-protected, with a policy that loads nothing', async () => {
    const server = spawn(rote, ['--db', db, 'serve', '--listen', '127.0.0.1:0', '--token-file', join(dir, 'serve.token')],
        { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
        const line = await new Promise((resolve, reject) => {
            createInterface({ input: server.stdout }).once('line', resolve);
            server.once('exit', (code) => reject(new Error(`rote serve exited (${code})`)));
        });
        const { url, token_file } = JSON.parse(line);
        const token = readFileSync(token_file, 'utf8').trim();
        assert.equal((await fetch(`${url}/v1/report.html`)).status, 401);
        const served = await fetch(`${url}/v1/report.html?workflow=registry-lookup&detail=1`,
            { headers: { Authorization: `Bearer ${token}` } });
        assert.equal(served.status, 200);
        assert.match(served.headers.get('content-type'), /^text\/html/);
        assert.match(served.headers.get('content-security-policy'), /default-src 'none'/);
        const html = await served.text();
        const ids = report.runs.filter((r) => r.workflow === 'registry-lookup').map((r) => r.id);
        assert.equal((html.match(/<section class="run"/g) || []).length, 1, 'detail=1: the newest run only');
        assert.ok(html.includes(`id="run-${ids.at(-1)}"`));
        assert.equal((await fetch(`${url}/v1/report.html?workflow=nothing-such`,
            { headers: { Authorization: `Bearer ${token}` } })).status, 404);
        assert.equal((await fetch(`${url}/v1/report.html?detail=x`,
            { headers: { Authorization: `Bearer ${token}` } })).status, 400);
    } finally {
        server.kill('SIGTERM');
    }
});
