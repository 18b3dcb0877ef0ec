/**
 * The test daemon helper (helpers/daemon.ts) against a killed test run: a
 * test process that started a real daemon is SIGKILLed (no `after` hook,
 * no `stop`), and its daemon must end on its own, by the parent-death
 * signal the helper sets. Without it the daemon outlived the run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { canConnect } from './helpers/daemon.js';

const helper = pathToFileURL(path.join(path.dirname(fileURLToPath(import.meta.url)), 'helpers/daemon.js')).href;

function alive(pid: number): boolean {
  try {
    // a zombie is gone for this purpose: it runs nothing
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

test('test helper: a daemon started by a test run that is SIGKILLed ends on its own', async () => {
  // A stand-in test run: starts a daemon through the helper, prints its pid and socket, then waits to be killed.
  const run = spawn(process.execPath, ['--input-type=module', '-e', `
    const { startDaemon } = await import(${JSON.stringify(helper)});
    const d = await startDaemon(['--no-libvirt', '--no-config']);
    process.stdout.write(JSON.stringify({ pid: d.proc.pid, socket: d.socket }) + '\\n');
    setInterval(() => {}, 1000);
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const started = await new Promise<{ pid: number; socket: string }>((resolve, reject) => {
    run.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]!) as { pid: number; socket: string });
    });
    run.once('exit', (code) => reject(new Error(`the stand-in run exited (${code}) before its daemon listened: ${out}`)));
  });
  try {
    assert.ok(alive(started.pid), 'the daemon runs while its test run does');
    assert.ok(await canConnect(started.socket), 'and listens');
    // The daemon is the process the helper spawned (setpriv execs in place), so it is the run's child.
    const ppid = Number(readFileSync(`/proc/${started.pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[1]);
    assert.equal(ppid, run.pid);
    run.kill('SIGKILL');
    const deadline = Date.now() + 20_000;
    while (alive(started.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal(alive(started.pid), false, `daemon ${started.pid} still runs 20 s after its test run was killed`);
    assert.equal(await canConnect(started.socket), false, 'its socket is gone');
  } finally {
    run.kill('SIGKILL');
    try {
      process.kill(started.pid, 'SIGKILL');
    } catch {
      // gone, as it should be
    }
  }
});
