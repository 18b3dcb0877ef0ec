/**
 * The HTTP side (`--http`: /feed, /metrics, the live view) of the real
 * daemon, against a local user and a browser on the host:
 * - nobody opening 1650 TCP connections from 12 loopback addresses cannot
 *   make the (root) daemon hold more than its connection cap of fds;
 * - DNS rebinding: a real headless Chromium resolves the attacker's name
 *   rebind.test to 127.0.0.1 (--host-resolver-rules) and loads the page,
 *   /metrics and the websocket from it: all refused; the same page by
 *   address works.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import http from 'node:http';
import { startDaemon, writeConfig, type TestDaemon } from '../integration/helpers/daemon.js';
import { fdCount, freePort, sleep, spawnAsNobody, until } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';

function get(port: number, pathname: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: pathname, headers, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
  });
}

/** Attacker: from 127.0.0.1 and 127.0.0.2..12, PER connections each, held open, sending nothing. */
const FLOOD_JS = `
import net from 'node:net';
const [portText, perText] = process.argv.slice(1);
let open = 0, closed = 0;
for (let a = 1; a <= 12; a++) {
  for (let i = 0; i < Number(perText); i++) {
    const s = net.createConnection({ host: '127.0.0.1', port: Number(portText), localAddress: '127.0.0.' + a });
    s.on('connect', () => open++);
    s.on('error', () => {});
    s.on('close', () => closed++);
  }
}
setInterval(() => console.log(JSON.stringify({ open, closed })), 200);
process.stdin.on('data', () => process.exit(0));
`;

describe('--http against a local user and a browser', () => {
  let d: TestDaemon;
  let port: number;
  before(async () => {
    port = await freePort();
    d = await startDaemon(['--no-libvirt', '--no-config', '--http', `127.0.0.1:${port}`]);
    assert.equal(d.cli(['obj', 'add', '-f', writeConfig('[project]\nname=kept\nloop=1\ninterval=1\nsleep=1\n')]).code, 0);
    await until(async () => (await get(port, '/metrics').catch(() => 0)) === 200, 'the feed to listen');
  });
  after(() => d?.stop());

  test('1650 held connections: the daemon keeps at most its cap of fds, and all come back', async () => {
    const pid = d.proc.pid!;
    const fdsBefore = fdCount(pid);
    const a = spawnAsNobody(FLOOD_JS, [String(port), '150']);
    try {
      await until(() => {
        const last = a.lines[a.lines.length - 1];
        if (!last) return false;
        const st = JSON.parse(last) as { open: number; closed: number };
        return st.open >= 1650 - 50 || st.open + st.closed >= 1650;
      }, 'the flood to connect', 60_000);
      await sleep(1000);
      const held = fdCount(pid) - fdsBefore;
      // cap: maxClients 256 + 64 = 320 connections (and at most 128 per address)
      assert.ok(held <= 320 + 5, `the daemon holds ${held} more fds (before ${fdsBefore})`);
      assert.ok(held >= 100, `the flood did reach the daemon (${held} fds): the test attacks for real`);
      assert.ok(d.alive());
      assert.equal(d.cli(['project', 'show']).code, 0, 'the control socket is unaffected');
    } finally {
      a.proc.stdin!.write('x');
      await new Promise((r) => a.proc.once('exit', r));
    }
    await until(() => fdCount(pid) <= fdsBefore + 2, `fds back to ${fdsBefore}`);
    assert.equal(await get(port, '/metrics'), 200);
  });

  test('Host and Origin: names that could be rebound are refused on every route', async () => {
    for (const p of ['/', '/metrics', '/feed', '/nope']) assert.equal(await get(port, p, { Host: `rebind.test:${port}` }), 403, p);
    assert.equal(await get(port, '/metrics', { Host: `localhost:${port}` }), 200);
    assert.equal(await get(port, '/metrics', { Host: `127.0.0.1:${port}`, Origin: `http://rebind.test:${port}` }), 403);
    assert.equal(await get(port, '/metrics', { Host: `127.0.0.1:${port}`, Origin: `http://127.0.0.1:${port}` }), 200);
  });

  test('DNS rebinding in a real Chromium: the page, /metrics and /feed refused under rebind.test, served by address', { skip: !existsSync(CHROMIUM) && `${CHROMIUM} missing: run scripts/setup-liveview.sh` }, async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--host-resolver-rules=MAP rebind.test 127.0.0.1'],
    });
    try {
      const page = await browser.newPage();
      const res = await page.goto(`http://rebind.test:${port}/`);
      assert.equal(res?.status(), 403, 'the live view under the rebound name');
      // The attacker's script runs in that origin (http://rebind.test:PORT): same-origin reads, were they served.
      const seen = await page.evaluate(async () => {
        const metrics = await fetch('/metrics').then((r) => r.status, () => -1);
        const ws = await new Promise<string>((resolve) => {
          const sock = new WebSocket(`ws://${location.host}/feed`);
          sock.onopen = () => { sock.close(); resolve('open'); };
          sock.onerror = () => resolve('error');
          setTimeout(() => resolve('timeout'), 5000);
        });
        return { metrics, ws };
      });
      assert.deepEqual(seen, { metrics: 403, ws: 'error' });
      // The same page by address: served, and its feed connects.
      const ok = await page.goto(`http://127.0.0.1:${port}/`);
      assert.equal(ok?.status(), 200);
      await page.waitForFunction(() => document.body.dataset.state === 'open', undefined, { timeout: 15_000 });
      await page.close();
    } finally {
      await browser.close();
    }
    assert.ok(d.alive());
    assert.match(d.cli(['project', 'show']).stdout, /kept/);
  });
});
