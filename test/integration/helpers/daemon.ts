/**
 * Runs the real daemon binary and the real CLI over the real socket.
 * Each test daemon gets a unique abstract socket name.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, chmodSync, chownSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (dist/test/integration/helpers -> ../../../..). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
export const daemonBin = path.join(repoRoot, 'bin/virt-tierd.js');
export const cliBin = path.join(repoRoot, 'bin/virt-tier.js');

let counter = 0;
export function uniqueSocketName(): string {
  counter += 1;
  return `vt-test-${process.pid}-${counter}-${Date.now() % 100000}`;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to completion. */
export function cli(args: string[], opts: { uid?: number; gid?: number; env?: NodeJS.ProcessEnv } = {}): RunResult {
  const r = spawnSync(process.execPath, [cliBin, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    uid: opts.uid,
    gid: opts.gid,
    env: opts.env ?? process.env,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs the daemon binary to completion (for flag errors, -h, -m). */
export function daemonOnce(args: string[], timeoutMs = 20_000): RunResult {
  const r = spawnSync(process.execPath, [daemonBin, ...args], { encoding: 'utf8', timeout: timeoutMs });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function canConnect(socketName: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection({ path: '\0' + socketName });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export interface TestDaemon {
  socket: string;
  proc: ChildProcess;
  stderr(): string;
  /** CLI call with -s set to this daemon */
  cli(args: string[]): RunResult;
  alive(): boolean;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * The daemon gets SIGTERM when the test process that started it dies:
 * `after` hooks and `stop` do not run for a killed test run (a timeout of
 * the runner, ^C, CI's limit), and its daemons would go on running, each
 * still a root process scanning whatever it was told to. util-linux's
 * setpriv sets the parent-death signal and execs the daemon in place, so
 * the pid is the daemon's; SIGTERM, not SIGKILL, so the daemon stops its
 * own children (engines, helpers) as it does on any stop.
 */
export const PARENT_DEATH_WRAP: readonly string[] = ['setpriv', '--pdeathsig', 'TERM', '--'];

/**
 * Starts the daemon and waits until it listens. `opts.wrap` is an argv
 * prefix that must exec the daemon in place (e.g. `nsenter -t PID -m --`,
 * to run it in another mount namespace).
 */
export async function startDaemon(extraArgs: string[] = [], opts: { wrap?: string[] } = {}): Promise<TestDaemon> {
  const socket = uniqueSocketName();
  const argv = [process.execPath, daemonBin, '-s', socket, '-l', '0', ...extraArgs];
  const [cmd, ...args] = [...(opts.wrap ?? []), ...PARENT_DEATH_WRAP, ...argv];
  const proc = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  proc.stdout!.on('data', () => undefined);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 20_000;
  while (!(await canConnect(socket))) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`daemon did not start (exit ${proc.exitCode}): ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    socket,
    proc,
    stderr: () => stderr,
    cli: (args) => cli([...args, '-s', socket]),
    alive: () => proc.exitCode === null && proc.signalCode === null,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

/** Writes a config file as the loader demands: owned by root, mode 0600 (or as given). */
export function writeConfig(text: string, opts: { ext?: string; mode?: number; uid?: number } = {}): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vt-conf-'));
  const file = path.join(dir, `test${opts.ext ?? '.ini'}`);
  writeFileSync(file, text);
  chmodSync(file, opts.mode ?? 0o600);
  if (opts.uid !== undefined) chownSync(file, opts.uid, opts.uid);
  return file;
}
