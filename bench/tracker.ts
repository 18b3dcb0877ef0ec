/**
 * Tracker benchmark: CPU cost of the DAMON vaddr tracker per GiB tracked
 * per cycle (kdamond thread + our process), in the testbed, for hugetlb
 * (one region per 2 MiB page) and 4 KiB anonymous memory (one region per
 * 2 MiB of 512 pages). Appends to docs/benchmarks.md under "Trackers".
 *
 *   npx tsc -p . && node dist/bench/tracker.js [--mib 256] [--loop 5] [--interval-ms 200] [--cycles 3] [--no-write]
 */
import { runInTestbed, testbedAvailability } from '../test/testbed/harness.js';
import { appendBenchmarkSection } from './record.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => (args.includes(name) ? args[args.indexOf(name) + 1]! : dflt);
const mib = Number(opt('--mib', '256'));
const loop = Number(opt('--loop', '5'));
const intervalMs = Number(opt('--interval-ms', '200'));
const cycles = Number(opt('--cycles', '3'));

const availability = testbedAvailability();
if (!availability.available) {
  console.error(`tracker benchmark skipped: ${availability.reason}`);
  process.exit(2);
}

interface Cycle { wallMs: number; kdamondCpuMs: number; selfCpuMs: number; trackedBytes: number; hotPagesSeen: number }
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const rows: string[] = [
  '| memory | regions | kdamond CPU ms / GiB / cycle | tracker process CPU ms / GiB / cycle | total CPU / cycle wall time | cost vs hugetlb |',
  '|---|---|---|---|---|---|',
];
let hugetlbPerGiB = 0;
for (const backing of ['hugetlbfs', 'anon'] as const) {
  const pages2M = Math.ceil(mib / 2) + 8;
  const r = await runInTestbed({
    command: `node dist/bench/tracker-inner.js --mib ${mib} --backing ${backing} --loop ${loop} --interval-ms ${intervalMs} --cycles ${cycles}`,
    hugepagesPerNode: backing === 'hugetlbfs' ? { 0: pages2M } : {},
    timeoutMs: 600_000,
  });
  if (r.exitCode !== 0) {
    console.error(r.stdout, r.stderr);
    process.exit(1);
  }
  const data = JSON.parse(r.stdout.trim().split('\n').pop()!) as { perCycle: Cycle[] };
  // The first cycle writes the DAMON context and, like the second, pays V8's JIT
  // compiling the tracker under TCG; later cycles only toggle DAMON. Report those.
  const warmup = data.perCycle.length >= 4 ? 2 : data.perCycle.length > 1 ? 1 : 0;
  const steady = data.perCycle.slice(warmup);
  const gib = steady[0]!.trackedBytes / (1 << 30);
  const kd = median(steady.map((c) => c.kdamondCpuMs)) / gib;
  const self = median(steady.map((c) => c.selfCpuMs)) / gib;
  const share = median(steady.map((c) => (c.kdamondCpuMs + c.selfCpuMs) / c.wallMs));
  if (backing === 'hugetlbfs') hugetlbPerGiB = kd + self;
  const label = backing === 'hugetlbfs' ? `hugetlb 2 MiB, ${mib} MiB` : `anonymous 4 KiB, ${mib} MiB`;
  rows.push(`| ${label} | ${Math.ceil(steady[0]!.trackedBytes / (2 << 20))} | ${kd.toFixed(1)} | ${self.toFixed(1)} | ${(share * 100).toFixed(1)}% | ${((kd + self) / hugetlbPerGiB).toFixed(2)}x |`);
  console.error(`${backing}: ${JSON.stringify(data.perCycle)}`);
}
const date = new Date().toISOString().slice(0, 10);
const section = [
  '',
  `### DAMON vaddr, loop=${loop}, interval ${intervalMs} ms (one DAMON sample per scan), ${cycles} cycles, ${date}`,
  '',
  'Testbed (QEMU TCG: absolute CPU times are inflated many times over a real host; compare rows, not hosts).',
  'kdamond CPU from /proc/PID/schedstat read just before the kdamond is turned off; tracker process CPU from',
  'process.cpuUsage() over the cycle (sysfs writes/reads, smaps, move_pages node lookup, and V8 background',
  'threads). Medians of the steady-state cycles (the first two, which write the DAMON context and JIT-compile',
  'under TCG, are left out). A 10% hot set is kept touched.',
  '',
  ...rows,
  '',
  `Reproduce: \`npx tsc -p . && node dist/bench/tracker.js --mib ${mib} --loop ${loop} --interval-ms ${intervalMs} --cycles ${cycles}\``,
  '',
].join('\n');
process.stdout.write(section);
if (!args.includes('--no-write')) appendBenchmarkSection('Trackers', section);
