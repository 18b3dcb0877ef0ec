/**
 * virt-tierd as a service, through the real binary: its config file loaded
 * at start and reloaded on a real SIGHUP (all-or-nothing, a bad file keeps
 * the running state), and its log lines in the journal's format when stderr
 * is the stream JOURNAL_STREAM names (today's format otherwise).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, closeSync, fstatSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { canConnect, daemonBin, daemonOnce, startDaemon, uniqueSocketName } from './helpers/daemon.js';

const section = (kind: string, keys: Record<string, string | number>): string => `[${kind}]\n${Object.entries(keys).map(([k, v]) => `${k}=${v}`).join('\n')}\n`;
const proj = (name: string, loop = 2): string => section('project', { name, loop, interval: 1, sleep: 1 });

async function until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('virt-tierd: config file and SIGHUP', () => {
  test('loads --config at start; SIGHUP adds, changes and removes; a broken file changes nothing and says why', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vt-svc-'));
    const file = path.join(dir, 'virt-tier.conf');
    const write = (text: string): void => {
      writeFileSync(file, text);
      chmodSync(file, 0o600);
    };
    write(proj('stay') + proj('go'));
    const d = await startDaemon(['--no-libvirt', '--config', file]);
    try {
      const names = (): string[] => JSON.parse(d.cli(['project', 'show', '--json']).stdout).map((p: { name: string }) => p.name);
      const loops = (): Record<string, number> => Object.fromEntries(JSON.parse(d.cli(['project', 'show', '--json']).stdout).map((p: { name: string; loop: number }) => [p.name, p.loop]));
      assert.deepEqual(names(), ['stay', 'go']);
      assert.equal(d.cli(['project', 'start', '-n', 'stay']).code, 0);

      write(proj('stay', 5) + proj('new'));
      d.proc.kill('SIGHUP');
      await until('the reload', () => d.stderr().includes('config reloaded'));
      assert.deepEqual(loops(), { stay: 5, new: 2 });
      assert.equal(JSON.parse(d.cli(['project', 'show', '-n', 'stay', '--json']).stdout)[0].started, true, 'a changed project keeps its started state');

      write(proj('stay', 5) + proj('new') + section('project', { name: 'bad', loop: 121, interval: 1, sleep: 1 }));
      d.proc.kill('SIGHUP');
      await until('the refusal', () => d.stderr().includes('config reload failed; the running state is kept'));
      assert.match(d.stderr(), /loop/);
      assert.ok(d.alive(), 'SIGHUP must not kill the daemon');
      assert.deepEqual(loops(), { stay: 5, new: 2 });
    } finally {
      await d.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a named --config that is missing stops the start with a message naming it; the default path may be missing', () => {
    const r = daemonOnce(['-s', uniqueSocketName(), '--no-libvirt', '--config', '/nonexistent-virt-tier/virt-tier.conf']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\/nonexistent-virt-tier\/virt-tier\.conf does not exist/);
  });
});

/** Starts the daemon with stderr on a file and the environment given; returns its log once stopped. */
async function logOf(env: (fileStat: { dev: number; ino: number }) => NodeJS.ProcessEnv): Promise<string> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vt-journal-'));
  const logFile = path.join(dir, 'stderr');
  const fd = openSync(logFile, 'w');
  const st = fstatSync(fd);
  const socket = uniqueSocketName();
  const proc = spawn(process.execPath, [daemonBin, '-s', socket, '-l', '1', '--no-libvirt', '--no-config'], { stdio: ['ignore', 'ignore', fd], env: { ...process.env, ...env(st) } });
  closeSync(fd);
  try {
    await until('the socket', () => proc.exitCode !== null || readFileSync(logFile, 'utf8').includes('listening'));
    assert.ok(await canConnect(socket));
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await exited;
    return readFileSync(logFile, 'utf8');
  } finally {
    proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('virt-tierd: logs for the journal', () => {
  test('stderr is the JOURNAL_STREAM: one line per event, <priority> first, no timestamp of its own', async () => {
    const text = await logOf((st) => ({ JOURNAL_STREAM: `${st.dev}:${st.ino}` }));
    const lines = text.split('\n').filter((l) => l.length > 0);
    assert.ok(lines.length >= 2, text);
    for (const l of lines) {
      assert.match(l, /^<[0-7]>/, `journal line: ${l}`);
      assert.doesNotMatch(l, /\d{4}-\d\d-\d\dT\d\d:\d\d/, `no timestamp: ${l}`);
    }
    assert.ok(lines.some((l) => /^<6>virt-tierd listening /.test(l)), text);
    assert.ok(lines.some((l) => /^<6>stopping /.test(l)), text);
  });

  test('JOURNAL_STREAM naming another stream (inherited, then redirected): today\'s format', async () => {
    const text = await logOf((st) => ({ JOURNAL_STREAM: `${st.dev}:${st.ino + 1}` }));
    const first = text.split('\n')[0]!;
    assert.match(first, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z virt-tierd\[\d+\] info: /);
  });
});
