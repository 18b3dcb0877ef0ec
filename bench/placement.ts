/**
 * Placement benchmark (host side): boots the testbed and runs
 * bench/placement-inner.ts: the real daemon's cslide placement round by
 * round against the policy's fixed point, and the daemon's CPU per GiB
 * tracked per cycle with DAMON vaddr. Prints a Markdown report (for
 * docs/benchmarks.md, section "Placement").
 *
 *   npx tsc -p . && node dist/bench/placement.js [--hot-mib 32 --cold-mib 96 --quota-mib 64 --small-mib 64 --large-mib 320 --cycles 4]
 */
import { runInTestbed, testbedAvailability } from '../test/testbed/harness.js';

const availability = testbedAvailability();
if (!availability.available) {
  console.error(`placement benchmark skipped: ${availability.reason}`);
  process.exit(2);
}

type ByNode = Record<string, number>;
interface Output {
  loop: number;
  placement: {
    hotMiB: number; coldMiB: number; quotaMiB: number; reserveMiB: number;
    initial: { hot: ByNode; cold: ByNode };
    rounds: Array<{ round: number; hot: ByNode; cold: ByNode; promotedBytes: number; demotedBytes: number }>;
    model: Array<{ pagesByNode: ByNode; promotedPages: number; demotedPages: number }>;
  };
  cost: Array<{ sizeMiB: number; regions: number; cycles: number; wallMs: number; daemonCpuMs: number; baselineCpuMs: number; kdamondCpuMs: number }>;
}

const args = process.argv.slice(2).join(' ');
const r = await runInTestbed({
  command: `node dist/bench/placement-inner.js ${args}`,
  hugepagesPerNode: { 0: 96, 2: 180 },
  timeoutMs: 400_000,
});
if (r.exitCode !== 0) {
  console.error(`inner run failed (${r.exitCode}):\n${r.stderr.slice(-4000)}`);
  process.exit(1);
}
const o = JSON.parse(r.stdout.trim().split('\n').pop()!) as Output;
const p = o.placement;
const mib = (pages: number | undefined): number => (pages ?? 0) * 2;
const row = (label: string, hot: ByNode, cold: ByNode, moved: string): string =>
  `| ${label} | ${mib(hot['0'])} / ${mib(cold['0'])} | ${mib(hot['2'])} / ${mib(cold['2'])} | ${moved} |`;
const out: string[] = [];
out.push(`### cslide convergence: ${p.hotMiB} MiB hot + ${p.coldMiB} MiB cold, ${p.hotMiB / 4} MiB of the hot set starting on node 2; quota ${p.quotaMiB} MB, reserve ${p.reserveMiB} MB, loop ${o.loop}, hot_threshold ${o.loop}`);
out.push('');
out.push('| after | node 0 hot / cold MiB | node 2 hot / cold MiB | moved (daemon stats) |');
out.push('|---|---|---|---|');
out.push(row('start', p.initial.hot, p.initial.cold, ''));
for (const x of p.rounds) out.push(row(`round ${x.round}`, x.hot, x.cold, `${x.demotedBytes >> 20} MiB 0->2, ${x.promotedBytes >> 20} MiB 2->0`));
const fixed = p.model.at(-1)!.pagesByNode;
const last = p.rounds.at(-1)!;
const lastByNode = { '0': (last.hot['0'] ?? 0) + (last.cold['0'] ?? 0), '2': (last.hot['2'] ?? 0) + (last.cold['2'] ?? 0) };
const movingRounds = p.rounds.filter((x) => x.promotedBytes + x.demotedBytes > 0).length;
const reached = lastByNode['0'] === (fixed['0'] ?? 0) && lastByNode['2'] === (fixed['2'] ?? 0) && (last.hot['2'] ?? 0) === 0;
out.push('');
out.push(`Policy fixed point (planCslide iterated on the true split): node 0 ${mib(fixed['0'])} MiB, node 2 ${mib(fixed['2'])} MiB, after ${p.model.length - 1} moving round(s). ` +
  `Daemon: ${reached ? 'reached it' : 'did NOT reach it'} after ${movingRounds} moving round(s) (round ${last.round} moved nothing): ` +
  `${movingRounds <= 3 && reached ? 'converged within 3 rounds' : 'not within 3 rounds'}.`);
out.push('');
out.push(`### Daemon CPU per GiB tracked per cycle (DAMON vaddr, hugetlb, quota 0: track and plan only; loop ${o.loop} x 1 s, sleep 1 s)`);
out.push('');
out.push('| tracked | regions | cycles | daemon CPU ms / cycle (minus idle baseline) | idle baseline ms / cycle | kdamond CPU ms / cycle | (daemon + kdamond) ms / GiB / cycle | vs smallest |');
out.push('|---|---|---|---|---|---|---|---|');
let first = 0;
for (const c of o.cost) {
  const daemonPer = (c.daemonCpuMs - c.baselineCpuMs) / c.cycles;
  const kdPer = c.kdamondCpuMs / c.cycles;
  const perGiB = (daemonPer + kdPer) / (c.sizeMiB / 1024);
  if (!first) first = daemonPer + kdPer;
  out.push(`| ${c.sizeMiB} MiB | ${c.regions} | ${c.cycles} | ${daemonPer.toFixed(0)} | ${(c.baselineCpuMs / c.cycles).toFixed(0)} | ${kdPer.toFixed(1)} | ${perGiB.toFixed(0)} | ${((daemonPer + kdPer) / first).toFixed(2)}x for ${(c.sizeMiB / o.cost[0]!.sizeMiB).toFixed(0)}x the memory |`);
}
out.push('');
out.push(`(testbed run ${(r.durationMs / 1000).toFixed(0)} s)`);
console.log(out.join('\n'));
