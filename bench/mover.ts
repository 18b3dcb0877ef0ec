/**
 * Mover benchmark: the mover against numactl's `migratepages` moving the
 * same hugetlb pages between a DRAM node (0) and an AEP node (2) in the
 * testbed. Reports medians and the speed ratio mover / migratepages
 * (>= 0.9 is the goal) per pages-per-call setting, and appends them to
 * docs/benchmarks.md under "Mover".
 *
 *   npx tsc -p . && node dist/bench/mover.js [--pages 128] [--reps 5] [--ppc 8,64,512] [--no-write]
 */
import { runInTestbed, testbedAvailability } from '../test/testbed/harness.js';
import { appendBenchmarkSection } from './record.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => (args.includes(name) ? args[args.indexOf(name) + 1]! : dflt);
const pages = Number(opt('--pages', '128'));
const reps = Number(opt('--reps', '5'));
const ppc = opt('--ppc', '8,64,512');

const availability = testbedAvailability();
if (!availability.available) {
  console.error(`mover benchmark skipped: ${availability.reason}`);
  process.exit(2);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const r = await runInTestbed({
  command: `node dist/bench/mover-inner.js --pages ${pages} --reps ${reps} --ppc ${ppc}`,
  hugepagesPerNode: { 0: pages + 8, 2: pages + 8 },
  timeoutMs: 600_000,
});
if (r.exitCode !== 0) {
  console.error(r.stdout, r.stderr);
  process.exit(1);
}
const data = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
  pages: number; pageSizeBytes: number; reps: number;
  timings: Record<string, { toAep: number[]; toDram: number[] }>;
  execOverheadMs: number[];
};
const mib = (data.pages * data.pageSizeBytes) / (1 << 20);
const base = data.timings.migratepages!;
const baseAep = median(base.toAep);
const baseDram = median(base.toDram);
const overhead = median(data.execOverheadMs);
const rows: string[] = [];
rows.push('| method | 0 -> 2 median ms | 2 -> 0 median ms | MiB/s (0 -> 2) | speed vs migratepages (0 -> 2 / 2 -> 0) |');
rows.push('|---|---|---|---|---|');
for (const [name, t] of Object.entries(data.timings)) {
  const aep = median(t.toAep);
  const dram = median(t.toDram);
  rows.push(`| ${name} | ${aep.toFixed(1)} | ${dram.toFixed(1)} | ${(mib / (aep / 1000)).toFixed(0)} | ${(baseAep / aep).toFixed(2)}x / ${(baseDram / dram).toFixed(2)}x |`);
}
// The harsher baseline: migrate_pages(2) timed inside a long-lived process (no exec), what migratepages does.
const sys = data.timings['migrate_pages(2) in-process']!;
const sysAep = median(sys.toAep);
const sysDram = median(sys.toDram);
rows.push('', '| method | speed vs migrate_pages(2) in-process (0 -> 2 / 2 -> 0) |', '|---|---|');
for (const [name, t] of Object.entries(data.timings)) {
  if (!name.startsWith('mover')) continue;
  rows.push(`| ${name} | ${(sysAep / median(t.toAep)).toFixed(2)}x / ${(sysDram / median(t.toDram)).toFixed(2)}x |`);
}
const date = new Date().toISOString().slice(0, 10);
const section = [
  '',
  `### Mover vs migratepages, ${data.pages} hugetlb 2 MiB pages (${mib} MiB), ${data.reps} reps, ${date}`,
  '',
  `Testbed (QEMU TCG, 4 nodes, stock 6.12 kernel); each move checked against numa_maps. migratepages is timed from the`,
  `outside (fork + exec + migrate_pages(2)); starting it with nothing to move costs ${overhead.toFixed(1)} ms (median), included`,
  'in its times. "migrate_pages(2) in-process" is the same syscall timed inside a long-lived helper (no exec): the',
  'kernel-only baseline. The mover is timed around execute() in the calling process. Speed ratio = baseline time / mover time.',
  '',
  ...rows,
  '',
  `Reproduce: \`npx tsc -p . && node dist/bench/mover.js --pages ${data.pages} --reps ${data.reps} --ppc ${ppc}\``,
  '',
].join('\n');
process.stdout.write(section);
if (!args.includes('--no-write')) appendBenchmarkSection('Mover', section);
