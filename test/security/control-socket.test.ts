/**
 * The control socket against a local user, with the real daemon:
 * - a flood of refused connections (nobody, not allowed) holds no fds and
 *   root is served throughout;
 * - allowed peers (--allow-gid) filling their share cannot lock root out:
 *   root keeps reserved slots, the peer over its share gets a clear
 *   OPT_UNAVAILABLE, and root's own refusals at the hard cap are logged;
 * - 100k pipelined requests never read do not grow the daemon's heap.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { repoRoot, startDaemon, writeConfig, type TestDaemon } from '../integration/helpers/daemon.js';
import { FRAME_JS, fdCount, rssBytes, sleep, spawnAsNobody, until } from './helpers.js';

const PROJECT = '[project]\nname=kept\nloop=1\ninterval=1\nsleep=1\n';

/** Attacker: opens N connections to the socket and keeps them; prints how many opened, how many the daemon ended, the first replies. */
const HOLDER_JS = `${FRAME_JS}
import net from 'node:net';
const [name, nText] = process.argv.slice(1);
const n = Number(nText);
let open = 0, closed = 0, replies = [];
const socks = [];
for (let i = 0; i < n; i++) {
  // allowHalfOpen: the daemon's end of a refused connection does not close ours; only a destroy frees it
  const s = net.createConnection({ path: '\\0' + name, allowHalfOpen: true });
  s.on('connect', () => { open++; });
  s.on('data', (d) => { if (replies.length < 3) replies.push(d.subarray(4).toString()); });
  s.on('error', () => {});
  // 'end': the daemon ended its side (a refusal); with allowHalfOpen ours stays open until the daemon destroys
  s.on('end', () => { closed++; });
  socks.push(s);
}
setInterval(() => console.log(JSON.stringify({ open, closed, replies })), 200);
process.stdin.on('data', () => process.exit(0));
`;

function rootConnect(name: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection({ path: '\0' + name });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

function lastState(lines: string[]): { open: number; closed: number; replies: string[] } {
  return JSON.parse(lines[lines.length - 1] ?? '{"open":0,"closed":0,"replies":[]}') as { open: number; closed: number; replies: string[] };
}

describe('connection floods', () => {
  let d: TestDaemon;
  before(async () => {
    d = await startDaemon(['--no-libvirt', '--no-config', '--allow-gid', '65534']);
    assert.equal(d.cli(['obj', 'add', '-f', writeConfig(PROJECT)]).code, 0);
  });
  after(() => d?.stop());

  test('an allowed peer holding 300 connections: it gets its share, root still gets in, fds come back', async () => {
    const pid = d.proc.pid!;
    const fdsBefore = fdCount(pid);
    const a = spawnAsNobody(HOLDER_JS, [d.socket, '300']);
    try {
      await until(() => { const st = a.lines.length ? lastState(a.lines) : undefined; return st !== undefined && st.open + st.closed >= 300 && st.closed >= 300 - 120; }, 'the attacker to settle', 30_000);
      await sleep(1500); // refused connections linger at most 1 s
      const st = lastState(a.lines);
      // 128 slots, 8 kept for root: the allowed peer holds 120, the rest were refused
      assert.equal(300 - st.closed, 120, JSON.stringify(st));
      assert.ok(st.replies.some((r) => /"code":"OPT_UNAVAILABLE"/.test(r) && /connection limit/.test(r)), `a clear refusal: ${st.replies.join(' | ')}`);
      assert.ok(fdCount(pid) <= fdsBefore + 120 + 5, `daemon fds ${fdCount(pid)} (before ${fdsBefore})`);
      // root: the CLI (and the hook) still get in
      const show = d.cli(['project', 'show']);
      assert.equal(show.code, 0, show.stderr);
      assert.match(show.stdout, /kept/);
    } finally {
      a.proc.stdin!.write('x');
      await new Promise((r) => a.proc.once('exit', r));
    }
    await until(() => fdCount(pid) <= fdsBefore + 2, `fds back to ${fdsBefore} (now ${fdCount(pid)})`);
    assert.ok(d.alive());
  });

  test('root at the hard cap: the refusal names it as a lost request in the log', async () => {
    const socks: net.Socket[] = [];
    try {
      for (let i = 0; i < 128; i++) socks.push(await rootConnect(d.socket));
      await sleep(200);
      const extra = await rootConnect(d.socket);
      const reply = await new Promise<string>((resolve) => {
        let got = '';
        extra.on('data', (b: Buffer) => (got += b.subarray(4).toString()));
        extra.on('close', () => resolve(got));
        extra.on('error', () => undefined);
      });
      assert.match(reply, /OPT_UNAVAILABLE/);
      await until(() => /connection limit reached \(root peer: its request, e\.g\. a qemu hook event, is lost\)/.test(d.stderr()), 'the lost-request log line');
      // The real qemu hook, as libvirtd runs it: it exits 0 as always, and the daemon's log names its lost event.
      const hook = spawnSync(process.execPath, [path.join(repoRoot, 'hooks/qemu'), 'vm-lost', 'started', 'begin', '-'], {
        input: '<domain><name>vm-lost</name></domain>',
        env: { ...process.env, VIRT_TIER_HOOK_SOCKET: d.socket },
        timeout: 10_000,
      });
      assert.equal(hook.status, 0);
      await until(() => d.stderr().includes(`pid ${hook.pid} uid 0`), `a refusal naming the hook's pid ${hook.pid}`, 5000);
    } finally {
      for (const s of socks) s.destroy();
    }
    await until(() => d.cli(['project', 'show']).code === 0, 'root served again');
  });

  test('nobody without --allow-gid: 400 refused connections hold (almost) no fds; root is served meanwhile', async () => {
    const d2 = await startDaemon(['--no-libvirt', '--no-config']);
    try {
      const pid = d2.proc.pid!;
      const fdsBefore = fdCount(pid);
      const a = spawnAsNobody(HOLDER_JS, [d2.socket, '400']);
      try {
        await until(() => a.lines.length > 0 && lastState(a.lines).closed >= 400, 'every attacker connection closed by the daemon', 30_000);
        assert.ok(lastState(a.lines).replies.some((r) => /OPT_PERM/.test(r)));
        // at most 32 refused connections linger, each at most 1 s
        assert.ok(fdCount(pid) <= fdsBefore + 32 + 2, `daemon fds ${fdCount(pid)} (before ${fdsBefore})`);
        await sleep(1500);
        assert.ok(fdCount(pid) <= fdsBefore + 2, `daemon fds ${fdCount(pid)} after the linger (before ${fdsBefore})`);
        assert.equal(d2.cli(['project', 'show']).code, 0, 'root is served during the flood');
      } finally {
        a.proc.stdin!.write('x');
        await new Promise((r) => a.proc.once('exit', r));
      }
      assert.ok(d2.alive());
    } finally {
      await d2.stop();
    }
  });
});

describe('pipelined requests never read', () => {
  test('100k requests: the daemon stops reading, its memory stays flat, it serves others', async () => {
    const d = await startDaemon(['--no-libvirt', '--no-config']);
    try {
      const pid = d.proc.pid!;
      const rssBefore = rssBytes(pid);
      const s = await rootConnect(d.socket);
      s.on('error', () => undefined);
      s.pause(); // never read a reply
      const one = (id: number): Buffer => {
        const p = Buffer.from(JSON.stringify({ v: 1, id, cmd: 'project.show', args: {} }));
        const h = Buffer.alloc(4);
        h.writeUInt32BE(p.length);
        return Buffer.concat([h, p]);
      };
      const batch: Buffer[] = [];
      for (let i = 1; i <= 100_000; i++) batch.push(one(i));
      s.write(Buffer.concat(batch)); // queued in this process; the daemon takes what it is willing to read
      await sleep(3000);
      const grownBytes = rssBytes(pid) - rssBefore;
      // Without the bound the daemon kept every reply (+148 MB per 100k); with it, a few MB of socket buffers.
      assert.ok(grownBytes < 40 * 1024 * 1024, `daemon RSS grew by ${(grownBytes / 1048576).toFixed(1)} MiB`);
      assert.ok(s.writableLength > 1024 * 1024, 'the daemon stopped reading (our requests back up here)');
      assert.equal(d.cli(['project', 'show']).code, 0, 'another client is served');
      s.destroy();
      assert.ok(d.alive());
    } finally {
      await d.stop();
    }
  });
});
