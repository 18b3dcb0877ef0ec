/**
 * qemu hook latency: wall time of one `hooks/qemu NAME started begin -`
 * run (spawn to exit, domain XML on stdin) with the daemon up (a recording
 * server that replies), down (nothing listens) and hung (accepts, never
 * replies), side by side with the baseline `node -e 0` (node's own
 * start-up, which the hook cannot avoid).
 *
 *   npx tsc -p . && node dist/bench/hook.js [RUNS]
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRecorder } from '../test/libvirt/recorder.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const hook = path.join(root, 'hooks/qemu');
const runs = Number(process.argv[2] ?? 40);
const socket = `vt-bench-hook-${process.pid}`;
const xml = `<domain type='qemu'><name>bench</name><uuid>3cead87f-c9e1-43c3-8d77-f848bbcff52f</uuid></domain>`;

function runOnce(cmd: string, args: string[], socket: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { env: { ...process.env, VIRT_TIER_HOOK_SOCKET: socket }, stdio: ['pipe', 'ignore', 'ignore'] });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`${cmd} exited ${code}`));
      else resolve(Number(process.hrtime.bigint() - t0) / 1e6);
    });
    child.stdin.end(xml);
  });
}

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

const up = await startRecorder(`${socket}-up`, 'reply');
const hung = await startRecorder(`${socket}-hung`, 'hang');
const started = ['bench', 'started', 'begin', '-'];
const series: Array<{ label: string; cmd: string; args: string[]; socket: string; times: number[] }> = [
  { label: 'baseline: node -e 0', cmd: process.execPath, args: ['-e', '0'], socket: 'unused', times: [] },
  { label: 'hook, daemon up (replies)', cmd: hook, args: started, socket: `${socket}-up`, times: [] },
  { label: 'hook, daemon down (no socket)', cmd: hook, args: started, socket: `${socket}-down`, times: [] },
  { label: 'hook, daemon hung (never replies)', cmd: hook, args: started, socket: `${socket}-hung`, times: [] },
  { label: 'hook, ignored op (prepare begin)', cmd: hook, args: ['bench', 'prepare', 'begin', '-'], socket: `${socket}-up`, times: [] },
];
// Round-robin, so load drift on this shared machine hits every series alike.
for (let i = 0; i < runs; i++) for (const s of series) s.times.push(await runOnce(s.cmd, s.args, s.socket));
if (up.requests.length !== runs) console.log(`note: daemon up got ${up.requests.length} of ${runs} events`);
console.log(`note: hung daemon got ${hung.requests.length} of ${runs} events`);
await up.close();
await hung.close();

const os = await import('node:os');
const base = [...series[0]!.times].sort((a, b) => a - b);
console.log(`runs per series: ${runs} (round-robin); load average at end: ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
console.log('| series | p50 ms | p99 ms | p50 / baseline p50 | p50 - baseline p50 (ms) |');
console.log('|---|---|---|---|---|');
for (const s of series) {
  const t = [...s.times].sort((a, b) => a - b);
  console.log(`| ${s.label} | ${pct(t, 50).toFixed(1)} | ${pct(t, 99).toFixed(1)} | ${(pct(t, 50) / pct(base, 50)).toFixed(2)} | ${(pct(t, 50) - pct(base, 50)).toFixed(1)} |`);
}
