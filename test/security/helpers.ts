/**
 * What the security suite shares: the attacker (an unprivileged user, run
 * with setpriv as nobody:nogroup with no supplementary groups), and what a
 * test asserts about the daemon afterwards (it lives, its fds and memory).
 *
 * Attacker code runs as `node -e CODE`: it needs nothing from the checkout,
 * so the suite works wherever the checkout lives, even in a directory
 * nobody cannot read.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';

export const NOBODY = { uid: 65534, gid: 65534 };
export const SETPRIV = ['--reuid=nobody', '--regid=nogroup', '--clear-groups'];

/** The control protocol's framing, written out for attacker scripts (src/api/protocol.ts). */
export const FRAME_JS = `
const frame = (id, cmd, args = {}) => {
  const p = Buffer.from(JSON.stringify({ v: 1, id, cmd, args }));
  const h = Buffer.alloc(4); h.writeUInt32BE(p.length); return Buffer.concat([h, p]);
};
`;

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `code` (an ES module) as nobody to completion; argv after the code is `process.argv.slice(1)`. */
export function runAsNobody(code: string, args: string[] = [], timeoutMs = 60_000): RunResult {
  const r = spawnSync('setpriv', [...SETPRIV, process.execPath, '--input-type=module', '-e', code, ...args], { encoding: 'utf8', timeout: timeoutMs, cwd: '/' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Starts `code` as nobody in the background; its stdout lines are collected. */
export function spawnAsNobody(code: string, args: string[] = []): { proc: ChildProcess; lines: string[]; line(re: RegExp, timeoutMs?: number): Promise<string> } {
  const proc = spawn('setpriv', [...SETPRIV, process.execPath, '--input-type=module', '-e', code, ...args], { stdio: ['pipe', 'pipe', 'pipe'], cwd: '/' });
  const lines: string[] = [];
  let buf = '';
  let stderr = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const line = async (re: RegExp, timeoutMs = 30_000): Promise<string> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = lines.find((l) => re.test(l));
      if (hit !== undefined) return hit;
      if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`attacker never printed ${re} (exit ${proc.exitCode}): ${lines.join('|')} ${stderr}`);
      await sleep(50);
    }
  };
  return { proc, lines, line };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Open file descriptors of `pid`. */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Resident set of `pid` in bytes (VmRSS). */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** Waits until `fn` holds (polling); throws with `what` when it never does. */
export async function until(fn: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** TCP ports `pid` listens on (ss -ltnp). */
export function listeningPorts(pid: number): number[] {
  const r = spawnSync('ss', ['-Hltnp'], { encoding: 'utf8' });
  const ports: number[] = [];
  for (const line of r.stdout.split('\n')) {
    if (!line.includes(`pid=${pid},`)) continue;
    const m = /:(\d+)\s/.exec(line.split(/\s+/).slice(3, 4).join(' ') + ' ');
    if (m) ports.push(Number(m[1]));
  }
  return ports;
}

/** A free TCP port on 127.0.0.1 (bound and released; the daemon takes it right after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}
