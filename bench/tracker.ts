/**
 * Tracker benchmark: CPU cost of the DAMON vaddr tracker per GiB tracked
 * per cycle (kdamond thread + our process), in the testbed, for hugetlb
 * (one region per 2 MiB page) and 4 KiB anonymous memory (one region per
 * 2 MiB of 512 pages). Prints a Markdown section; appends it to
 * docs/benchmarks.md under "Trackers" unless --no-write.
 *
 *   npx tsc -p . && node dist/bench/tracker.js [--mib 256[,8192...]] [--loop 5] [--interval-ms 200] [--cycles 3]
 *     [--hot-mib N] [--backings hugetlbfs,anon] [--node0-mib N] [--no-write]
 *
 * Several sizes (--mib 512,8192) run one after the other, each in its own
 * boot of the same testbed (node 0 sized for the largest, --node0-mib or
 * automatically), so the rows compare as ratios: the "vs smallest" column
 * is CPU per region against the smallest size of the same memory kind.
 * --hot-mib fixes the touched hot set (default 10% of each size).
 */
import { runInTestbed, testbedAvailability, TESTBED_NODE_MEMORY_MIB } from '../test/testbed/harness.js';
import { appendBenchmarkSection } from './record.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => (args.includes(name) ? args[args.indexOf(name) + 1]! : dflt);
const sizesMiB = opt('--mib', '256').split(',').map(Number).sort((a, b) => a - b);
const loop = Number(opt('--loop', '5'));
const intervalMs = Number(opt('--interval-ms', '200'));
const cycles = Number(opt('--cycles', '3'));
const hotMiBArg = args.includes('--hot-mib') ? Number(opt('--hot-mib', '0')) : undefined;
const backings = opt('--backings', 'hugetlbfs,anon').split(',') as Array<'hugetlbfs' | 'anon'>;
for (const b of backings) {
  if (b !== 'hugetlbfs' && b !== 'anon') throw new Error(`--backings: ${b}; allowed: hugetlbfs, anon`);
}
for (const m of sizesMiB) if (!Number.isInteger(m) || m < 16 || m % 2) throw new Error(`--mib: ${m}; allowed: even MiB >= 16`);

/**
 * Node 0 holds the whole synthetic guest (numactl --membind=0): the largest
 * size, plus 8 spare hugepages, plus room for the kernel's and the
 * processes' own memory on that node (struct pages alone are 1.6% of it).
 * Up to 256 MiB (the default run) the default 512 MiB node holds it.
 */
function node0MiBFor(largestMiB: number): number {
  if (largestMiB <= 256) return TESTBED_NODE_MEMORY_MIB;
  return Math.ceil((largestMiB + 16 + 768) / 256) * 256;
}
const node0MiB = args.includes('--node0-mib') ? Number(opt('--node0-mib', '0')) : node0MiBFor(sizesMiB.at(-1)!);
const nodeMemoryMiB = node0MiB === TESTBED_NODE_MEMORY_MIB ? undefined : { 0: node0MiB };

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
  '| memory | regions | kdamond CPU ms / cycle | tracker process CPU ms / cycle | kdamond ms / GiB / cycle | tracker process ms / GiB / cycle | total CPU µs / region / cycle | vs smallest (per region) | total CPU / cycle wall time | cost vs hugetlb (per GiB) | fault-in s |',
  '|---|---|---|---|---|---|---|---|---|---|---|',
];
const hugetlbPerGiBByMiB = new Map<number, number>();
const smallestPerRegion = new Map<string, number>();
for (const backing of backings) {
  for (const mib of sizesMiB) {
    const pages2M = Math.ceil(mib / 2) + 8;
    const hot = hotMiBArg === undefined ? '' : ` --hot-mib ${hotMiBArg}`;
    const started = Date.now();
    const r = await runInTestbed({
      command: `node dist/bench/tracker-inner.js --mib ${mib} --backing ${backing} --loop ${loop} --interval-ms ${intervalMs} --cycles ${cycles}${hot}`,
      hugepagesPerNode: backing === 'hugetlbfs' ? { 0: pages2M } : {},
      ...(nodeMemoryMiB ? { nodeMemoryMiB } : {}),
      // Faulting in and one tracker cycle both grow with the size under TCG.
      timeoutMs: 600_000 + mib * 240,
    });
    if (r.exitCode !== 0) {
      console.error(r.stdout, r.stderr);
      process.exit(1);
    }
    const data = JSON.parse(r.stdout.trim().split('\n').pop()!) as { perCycle: Cycle[]; faultMs: number; hotMiB: number };
    // The first cycle writes the DAMON context and, like the second, pays V8's JIT
    // compiling the tracker under TCG; later cycles only toggle DAMON. Report those.
    const warmup = data.perCycle.length >= 4 ? 2 : data.perCycle.length > 1 ? 1 : 0;
    const steady = data.perCycle.slice(warmup);
    const trackedBytes = steady[0]!.trackedBytes;
    const gib = trackedBytes / (1 << 30);
    const regions = Math.ceil(trackedBytes / (2 << 20));
    const kdMs = median(steady.map((c) => c.kdamondCpuMs));
    const selfMs = median(steady.map((c) => c.selfCpuMs));
    const totalMs = median(steady.map((c) => c.kdamondCpuMs + c.selfCpuMs));
    const perRegionUs = (totalMs * 1000) / regions;
    if (!smallestPerRegion.has(backing)) smallestPerRegion.set(backing, perRegionUs);
    const share = median(steady.map((c) => (c.kdamondCpuMs + c.selfCpuMs) / c.wallMs));
    const perGiB = (kdMs + selfMs) / gib;
    if (backing === 'hugetlbfs') hugetlbPerGiBByMiB.set(mib, perGiB);
    const vsHugetlb = hugetlbPerGiBByMiB.has(mib) ? `${(perGiB / hugetlbPerGiBByMiB.get(mib)!).toFixed(2)}x` : '-';
    const label = `${backing === 'hugetlbfs' ? 'hugetlb 2 MiB' : 'anonymous 4 KiB'}, ${mib} MiB (hot ${data.hotMiB})`;
    rows.push(`| ${label} | ${regions} | ${kdMs.toFixed(0)} | ${selfMs.toFixed(0)} | ${(kdMs / gib).toFixed(1)} | ${(selfMs / gib).toFixed(1)} | ${perRegionUs.toFixed(0)} | ${(perRegionUs / smallestPerRegion.get(backing)!).toFixed(2)}x | ${(share * 100).toFixed(1)}% | ${vsHugetlb} | ${(data.faultMs / 1000).toFixed(1)} |`);
    console.error(`${backing} ${mib} MiB (testbed run ${Math.round((Date.now() - started) / 1000)} s): ${JSON.stringify(data)}`);
  }
}
const date = new Date().toISOString().slice(0, 10);
const command = `node dist/bench/tracker.js --mib ${sizesMiB.join(',')} --loop ${loop} --interval-ms ${intervalMs} --cycles ${cycles}` +
  `${hotMiBArg === undefined ? '' : ` --hot-mib ${hotMiBArg}`}${backings.join(',') === 'hugetlbfs,anon' ? '' : ` --backings ${backings.join(',')}`}`;
const section = [
  '',
  `### DAMON vaddr, ${sizesMiB.join(' and ')} MiB, loop=${loop}, interval ${intervalMs} ms (one DAMON sample per scan), ${cycles} cycles, ${date}`,
  '',
  'Testbed (QEMU TCG: absolute CPU times are inflated many times over a real host; compare rows, not hosts).',
  `Node 0 ${node0MiB} MiB${nodeMemoryMiB ? ' (`nodeMemoryMiB`)' : ''}, the same for every row; each row is its own boot.`,
  'kdamond CPU from /proc/PID/schedstat read just before the kdamond is turned off; tracker process CPU from',
  'process.cpuUsage() over the cycle (sysfs writes/reads, smaps, move_pages node lookup, and V8 background',
  'threads). Medians of the steady-state cycles (the first, or the first two with 4 cycles or more, which write',
  'the DAMON context and JIT-compile under TCG, are left out).',
  '',
  ...rows,
  '',
  `Reproduce: \`npx tsc -p . && ${command}\``,
  '',
].join('\n');
process.stdout.write(section);
if (!args.includes('--no-write')) appendBenchmarkSection('Trackers', section);
