/**
 * The daemon's stderr reader goes away (a journald restart, a supervisor or
 * test runner killed): the next log line's write fails with EPIPE. Before
 * the fix that error went unhandled, the uncaught-exception handler logged
 * it to the same stderr, which failed again: a loop on the nextTick queue
 * that starved the event loop, so the daemon spun and no longer answered
 * its socket or SIGTERM. Real processes: the daemon's stderr is a socket
 * pair (as `spawn` with 'pipe' gives) whose other end this test closes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { canConnect, cli, daemonBin, uniqueSocketName } from './helpers/daemon.js';

const cpuTicks = (pid: number): number => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime
};

test('a daemon whose stderr reader is gone keeps serving and stops on SIGTERM', { timeout: 120_000 }, async () => {
  const socket = uniqueSocketName();
  const proc = spawn(process.execPath, [daemonBin, '-s', socket, '-l', '1', '--no-libvirt', '--no-config'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  try {
    for (let i = 0; !(await canConnect(socket)); i++) {
      assert.ok(i < 400 && proc.exitCode === null, 'daemon listening');
      await new Promise((r) => setTimeout(r, 50));
    }
    proc.stdout!.destroy();
    proc.stderr!.destroy();
    // A log line now (SIGUSR1 is logged as a warning and ignored): its write meets EPIPE.
    proc.kill('SIGUSR1');
    await new Promise((r) => setTimeout(r, 1000));
    const shown = cli(['project', 'show', '-s', socket]);
    assert.equal(shown.code, 0, `the socket still answers: ${shown.stderr}`);
    // A spinning loop burns a core; an idle daemon uses a few ticks (100 per CPU-second) in 2 s.
    const before = cpuTicks(proc.pid!);
    await new Promise((r) => setTimeout(r, 2000));
    const used = cpuTicks(proc.pid!) - before;
    assert.ok(used < 100, `idle after the failed write: ${used} ticks of CPU in 2 s`);
    proc.kill('SIGTERM');
    const stopKill = setTimeout(() => proc.kill('SIGKILL'), 60_000);
    const end = await exited;
    clearTimeout(stopKill);
    assert.deepEqual(end, { code: 0, signal: null }, 'SIGTERM stopped it cleanly (SIGKILL after 60 s otherwise)');
  } finally {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  }
});
