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

function runOnce(cmd: string, args: string[]): Promise<number> {
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

async function series(label: string, cmd: string, args: string[]): Promise<{ label: string; p50: number; p99: number; max: number }> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push(await runOnce(cmd, args));
  times.sort((a, b) => a - b);
  return { label, p50: pct(times, 50), p99: pct(times, 99), max: times[times.length - 1]! };
}

const results = [];
// interleave nothing else: each series runs alone, baseline first and last to show drift
results.push(await series('baseline node -e 0', process.execPath, ['-e', '0']));
{
  const rec = await startRecorder(socket, 'reply');
  results.push(await series('hook, daemon up', hook, ['bench', 'started', 'begin', '-']));
  if (rec.requests.length !== runs) throw new Error(`daemon up: ${rec.requests.length} of ${runs} events arrived`);
  await rec.close();
}
results.push(await series('hook, daemon down', hook, ['bench', 'started', 'begin', '-']));
{
  const rec = await startRecorder(socket, 'hang');
  results.push(await series('hook, daemon hung', hook, ['bench', 'started', 'begin', '-']));
  await rec.close();
}
results.push(await series('hook, ignored op (prepare)', hook, ['bench', 'prepare', 'begin', '-']));
results.push(await series('baseline node -e 0 (again)', process.execPath, ['-e', '0']));

const base = (results[0]!.p50 + results[results.length - 1]!.p50) / 2;
console.log(`runs per series: ${runs}; load average: ${(await import('node:os')).loadavg().map((l) => l.toFixed(1)).join(' ')}`);
console.log('| series | p50 ms | p99 ms | max ms | p50 - baseline p50 |');
console.log('|---|---|---|---|---|');
for (const r of results) console.log(`| ${r.label} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.max.toFixed(1)} | ${(r.p50 - base).toFixed(1)} |`);
