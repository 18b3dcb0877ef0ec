/**
 * The qemu hook as libvirtd really runs it: `virt-tier install-hook`
 * puts it in /etc/libvirt/hooks/qemu.d/, libvirtd is restarted to see it,
 * and a recording server on a test socket (named in /etc/virt-tier/hook.conf,
 * since libvirtd scrubs the hook's environment) receives the events: start,
 * destroy, libvirtd restart (reconnect). Also: a guest still starts when the
 * daemon is down or hung. Everything is restored afterwards (hook removed,
 * hook.conf restored, libvirtd restarted without it).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { command as installHook, HOOK_CONF, uninstallHook, writeHookConf } from '../../src/cli/install-hook.js';
import { handleHookEvent } from '../../src/virt/hook-events.js';
import { watchDomains, type DomainChange } from '../../src/virt/watch.js';
import { createGuest, destroyAll, destroyGuest, ensureLibvirt, restartLibvirtd, virsh, waitFor } from '../libvirt/guest.js';
import { startRecorder, type Recorder } from '../libvirt/recorder.js';

const SOCKET = `vt-hook-test-${process.pid}`;
let savedConf: string | null = null;

const eventsOf = (rec: Recorder, name: string) =>
  rec.requests.filter((r) => r.cmd === 'hook.event' && r.args.domain === name).map((r) => `${r.args.op} ${r.args.subop}`);

describe('qemu hook called by a real libvirtd', () => {
  before(async () => {
    ensureLibvirt();
    savedConf = existsSync(HOOK_CONF) ? readFileSync(HOOK_CONF, 'utf8') : null;
    const out: string[] = [];
    const code = await installHook.run(['--socket', SOCKET], { out: (t) => void out.push(t), err: (t) => void out.push(t) });
    assert.equal(code, 0, out.join(''));
    assert.match(out.join(''), /qemu\.d\/virt-tier.*Restart libvirtd/);
    await restartLibvirtd();
  });

  after(async () => {
    destroyAll();
    uninstallHook();
    if (savedConf !== null) writeFileSync(HOOK_CONF, savedConf);
    else rmSync(HOOK_CONF, { force: true });
    await restartLibvirtd();
  });

  test('start and destroy: started begin (with UUID), stopped end, release end, in order; every event valid for handleHookEvent', async () => {
    const rec = await startRecorder(SOCKET);
    try {
      const g = createGuest({ tag: 'hook' });
      await waitFor(() => eventsOf(rec, g.name).includes('started begin'), 15_000, 'started event');
      destroyGuest(g.name);
      await waitFor(() => eventsOf(rec, g.name).includes('release end'), 15_000, 'release event');
      assert.deepEqual(eventsOf(rec, g.name), ['started begin', 'stopped end', 'release end']);
      // The UUID comes from the domain XML on stdin, read for at most 50 ms: on a badly overloaded host one
      // event may go without it (the daemon then matches by name), but not all of them.
      const mine = rec.requests.filter((r) => r.args.domain === g.name);
      assert.ok(mine.some((r) => r.args.uuid === g.uuid), `UUID forwarded: ${JSON.stringify(mine.map((r) => r.args))}`);
      assert.ok(mine.every((r) => r.args.uuid === undefined || r.args.uuid === g.uuid));
      const actions = rec.requests.filter((r) => r.args.domain === g.name).map((r) => handleHookEvent(r.args).action);
      assert.deepEqual(actions, ['add', 'remove', 'remove']);
    } finally {
      await rec.close();
    }
  });

  test('libvirtd restart: reconnect begin for a running guest, which keeps running; the follower sees the disconnect and reconnects', async () => {
    const rec = await startRecorder(SOCKET);
    const changes: DomainChange[] = [];
    const watcher = watchDomains({ intervalMs: 100, onChange: (c) => changes.push(c) });
    try {
      const g = createGuest({ tag: 'reconn' });
      await waitFor(() => eventsOf(rec, g.name).includes('started begin'), 15_000, 'started event');
      await watcher.poll();
      const pidBefore = readFileSync(`/run/libvirt/qemu/${g.name}.pid`, 'utf8');
      await restartLibvirtd();
      try {
        await waitFor(() => eventsOf(rec, g.name).includes('reconnect begin'), 15_000, 'reconnect event');
      } catch {
        // On a saturated host one hook run can hit its 95 ms hard exit before sending (docs/benchmarks.md,
        // "libvirt hook"); the daemon's follower heals that. One more restart; a hook that never delivers
        // `reconnect` still fails here.
        await restartLibvirtd();
        await waitFor(() => eventsOf(rec, g.name).includes('reconnect begin'), 15_000, 'reconnect event (second restart)');
      }
      assert.match(virsh('domstate', g.name), /running/);
      assert.equal(readFileSync(`/run/libvirt/qemu/${g.name}.pid`, 'utf8'), pidBefore);
      await waitFor(() => changes.some((c) => c.kind === 'reconnected'), 15_000, 'follower reconnect');
      assert.ok(changes.some((c) => c.kind === 'disconnected'));
      // the same QEMU: no spurious restart of this guest
      assert.ok(!changes.some((c) => c.kind === 'restarted' && c.domain.name === g.name));
    } finally {
      await watcher.stop();
      await rec.close();
    }
  });

  test('daemon down or hung: the guest still starts and stops promptly', async () => {
    // down: nothing listens on the socket
    const t0 = Date.now();
    const g1 = createGuest({ tag: 'down' });
    assert.match(virsh('domstate', g1.name), /running/);
    destroyGuest(g1.name);
    const downMs = Date.now() - t0;
    // hung: accepts and never replies
    const hung = await startRecorder(SOCKET, 'hang');
    try {
      const t1 = Date.now();
      const g2 = createGuest({ tag: 'hung' });
      assert.match(virsh('domstate', g2.name), /running/);
      destroyGuest(g2.name);
      const hungMs = Date.now() - t1;
      // The test's own event loop was blocked in virsh: let the recorder read what the hooks sent. On a
      // saturated host one hook run may hit its 95 ms hard exit before sending; not all three.
      await waitFor(() => eventsOf(hung, g2.name).length > 0, 5000, 'the hung daemon to get a request');
      // each hook call is bounded (95 ms hard exit after node start-up); a hang would add far more than this
      assert.ok(hungMs < downMs + 5000, `hung ${hungMs} ms vs down ${downMs} ms`);
    } finally {
      await hung.close();
    }
  });

  test('install-hook never clobbers a foreign hooks/qemu (old-libvirt layout)', async () => {
    const dir = `/tmp/vt-hooks-${process.pid}`;
    rmSync(dir, { recursive: true, force: true });
    const { installHook: install } = await import('../../src/cli/install-hook.js');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir, { recursive: true });
    writeFileSync(`${dir}/qemu`, '#!/bin/sh\nexit 0\n');
    assert.throws(() => install({ hooksDir: dir, useHookDir: false }), /not virt-tier's hook: not overwriting/);
    assert.equal(readFileSync(`${dir}/qemu`, 'utf8'), '#!/bin/sh\nexit 0\n');
    rmSync(`${dir}/qemu`);
    assert.equal(install({ hooksDir: dir, useHookDir: false }).replaced, false);
    assert.equal(install({ hooksDir: dir, useHookDir: false }).replaced, true);
    assert.match(readFileSync(`${dir}/qemu`, 'utf8'), /virt-tier's libvirt qemu hook/);
    rmSync(dir, { recursive: true, force: true });
    assert.throws(() => writeHookConf(''), /socket name/);
  });
});
