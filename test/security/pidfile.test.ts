/**
 * `virt-tierd -m --pidfile` runs as root: a user's symlink must never make
 * it overwrite a file. The real binary, forked with -m.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { canConnect, daemonBin, uniqueSocketName } from '../integration/helpers/daemon.js';
import { call } from '../../src/api/client.js';
import { runAsNobody, until } from './helpers.js';

/**
 * Runs `virt-tierd -m ...` until the parent exits. Not spawnSync: the forked
 * daemon inherits stderr, so the pipe stays open as long as it runs.
 */
function daemonM(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [daemonBin, '-m', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    p.once('exit', (code) => setTimeout(() => {
      p.stderr!.destroy();
      resolve({ code, stderr });
    }, 100));
  });
}

/** A daemon left behind by a failed assertion is stopped, found by its socket. */
async function stopLeftover(socket: string): Promise<void> {
  if (!(await canConnect(socket))) return;
  const st = (await call(socket, 'daemon.status', {}, { timeoutMs: 5000 }).catch(() => undefined)) as { pid?: number } | undefined;
  if (st?.pid) process.kill(st.pid, 'SIGKILL');
}

const VICTIM_TEXT = 'root-owned file a user wants overwritten\n';

describe('--pidfile', () => {
  let victimDir: string;
  let victim: string;
  before(() => {
    victimDir = mkdtempSync(path.join(os.tmpdir(), 'vt-sec-victim-'));
    chmodSync(victimDir, 0o755);
    victim = path.join(victimDir, 'important');
    writeFileSync(victim, VICTIM_TEXT, { mode: 0o644 });
  });
  after(() => rmSync(victimDir, { recursive: true, force: true }));

  test("a user's symlink in a directory the user owns: refused before forking, the target untouched", async () => {
    // nobody makes its own directory in /tmp and plants the link there
    const r = runAsNobody(`import fs from 'node:fs'; const d = fs.mkdtempSync('/tmp/vt-sec-pid-'); fs.symlinkSync(process.argv[1], d + '/virt-tierd.pid'); console.log(d);`, [victim]);
    const userDir = r.stdout.trim();
    assert.ok(userDir.startsWith('/tmp/vt-sec-pid-'), r.stderr);
    const socket = uniqueSocketName();
    try {
      const out = await daemonM(['-s', socket, '--no-libvirt', '--no-config', '--pidfile', path.join(userDir, 'virt-tierd.pid')]);
      assert.equal(out.code, 1, out.stderr);
      assert.match(out.stderr, /--pidfile .*: directory .* is owned by uid 65534/);
      assert.equal(readFileSync(victim, 'utf8'), VICTIM_TEXT);
      assert.equal(await canConnect(socket), false, 'no daemon was left running');
    } finally {
      await stopLeftover(socket);
      rmSync(userDir, { recursive: true, force: true });
    }
  });

  test('a symlink at the name in a root-owned directory: refused, never followed; the forked daemon is stopped', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vt-sec-piddir-'));
    chmodSync(dir, 0o755);
    const socket = uniqueSocketName();
    try {
      const pidFile = path.join(dir, 'virt-tierd.pid');
      symlinkSync(victim, pidFile);
      const out = await daemonM(['-s', socket, '--no-libvirt', '--no-config', '--pidfile', pidFile]);
      assert.equal(out.code, 1, out.stderr);
      assert.match(out.stderr, /is a symbolic link \(never followed\)/);
      assert.equal(readFileSync(victim, 'utf8'), VICTIM_TEXT);
      assert.ok(lstatSync(pidFile).isSymbolicLink());
      await until(async () => !(await canConnect(socket)), 'the child to be stopped');
    } finally {
      await stopLeftover(socket);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a root-owned directory: the pidfile holds the daemon pid, a stale one is replaced, SIGTERM removes it', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vt-sec-piddir-'));
    chmodSync(dir, 0o755);
    const pidFile = path.join(dir, 'virt-tierd.pid');
    writeFileSync(pidFile, '999999\n'); // stale
    const socket = uniqueSocketName();
    try {
      const out = await daemonM(['-s', socket, '--no-libvirt', '--no-config', '--pidfile', pidFile]);
      assert.equal(out.code, 0, out.stderr);
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      assert.ok(pid > 0 && pid !== 999999);
      assert.equal(await canConnect(socket), true);
      process.kill(pid, 'SIGTERM');
      await until(() => !existsSync(pidFile), 'the pidfile to be removed');
    } finally {
      await stopLeftover(socket);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
