// What the client tests share: the demo sites, and the processes a server has started (its sandboxes).

import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { createInterface } from 'node:readline';

// Starts rote's demo sites on loopback (extra arguments: the site's options); resolves to the process and the
// registry's and CRM's host:port.
export async function startDemoSite(...args) {
    const site = spawn(process.env.ROTE_DEMO_SITE, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    const line = await new Promise((resolve, reject) => {
        createInterface({ input: site.stdout }).once('line', resolve);
        site.once('exit', (code) => reject(new Error(`the demo site exited (${code})`)));
    });
    const urls = JSON.parse(line);
    return { site, registry: new URL(urls.registry).host, crm: new URL(urls.crm).host };
}

// The processes under `pid` (the server's sandboxes: bubblewrap, Xvnc, Chromium, ...), by their parents.
export function descendants(pid) {
    const parents = new Map();
    for (const entry of readdirSync('/proc')) {
        if (!/^[0-9]+$/.test(entry)) continue;
        try {
            const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
            const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
            if (fields[0] !== 'Z') parents.set(Number(entry), Number(fields[1]));
        } catch {
            // gone meanwhile
        }
    }
    const found = [];
    let frontier = [pid];
    while (frontier.length > 0) {
        const next = [];
        for (const [child, parent] of parents) {
            if (frontier.includes(parent)) next.push(child);
        }
        found.push(...next);
        frontier = next;
    }
    return found;
}


// Waits until no process is left under `pid` or `ms` have passed since `since`; returns what is left.
export async function descendantsGone(pid, since, ms = 5000) {
    let left = descendants(pid);
    while (left.length > 0 && Date.now() - since < ms) {
        await new Promise((r) => setTimeout(r, 50));
        left = descendants(pid);
    }
    return left;
}

// Calls registry-lookup through an MCP client and cancels the call once its replay is under way (the sandbox
// is up); resolves, once the call has been rejected, to when it was cancelled (Date.now()), or undefined if it
// ended before its replay began.
export async function cancelledAtReplay(client, company) {
    const abort = new AbortController();
    let at;
    const pending = client.callTool({ name: 'registry-lookup', arguments: { company } }, {
        signal: abort.signal,
        timeout: 300_000,
        onprogress: (p) => {
            if (!at && /replaying trace/.test(p.message)) {
                at = Date.now();
                abort.abort('the test cancels');
            }
        },
    });
    await pending.then(() => undefined, () => undefined);
    return at;
}
