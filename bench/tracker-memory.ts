/**
 * Per-page memory of the page_idle, idle_pages and damon-paddr trackers:
 * the bytes a cycle keeps live per 4 KiB page tracked (docs/benchmarks.md,
 * "Scale curve", the "RSS as a function of tracked memory" bullet).
 *
 * No kernel: each tracker runs one real cycle (loop 2) over the synthetic
 * kernel of test/unit/tracker-memory-helpers.ts (one VMA, every page
 * present, 1 page in 5 accessed in every scan). Live memory (V8 heap +
 * array buffers, after full GCs) is read at two instants of the cycle,
 * less the baseline before it:
 * - between scans (the tracker's sleep): the per-page state it holds;
 * - at move_pages (its node query): the state plus the query's addresses.
 * damon-paddr (its own table) over the synthetic kernel's DAMON: a shared
 * kdamond (1000 regions a window, three windows a cycle) or one of its
 * own, THP-like memory (2 MiB runs of frames) or scattered 4 KiB frames,
 * read at three instants: in the window wait (between its scans), at
 * each pagemap read (the read's arrays and what is built so far) and at
 * the first node lookup (everything the cycle built before its ranges);
 * then the map held after the cycle, and the CPU of further cycles
 * without the probes (median of --cycles). A first cycle runs unprobed,
 * so V8's bytecode for the tracker is in the baseline (a constant, not
 * per page).
 * Each row is a fresh process. It uses only the trackers' public API and
 * I/O interfaces, so the same file measures an older src/scan too.
 *
 *   npx tsc -p . && node dist/bench/tracker-memory.js [--gib 1] [--cycles 7] [--only paddr]
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { AccessMapVma } from '../src/scan/access-map.js';
import { IdlePagesTracker } from '../src/scan/idle-pages.js';
import { PageIdleTracker } from '../src/scan/page-idle.js';
import { DamonPaddrTracker } from '../src/scan/damon-paddr.js';
import { DamonKdamonds } from '../src/scan/damon-contexts.js';
import { liveBytes, syntheticIdlePages, syntheticPaddr, syntheticPageIdle, syntheticPageNodes } from '../test/unit/tracker-memory-helpers.js';

const PAGE = 4096;
const GIB = 2 ** 30;
const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => (args.includes(name) ? args[args.indexOf(name) + 1]! : dflt);

type Workload = 'page-idle-4k' | 'idle-pages-4k' | 'idle-pages-2m';
const WORKLOADS: Array<{ workload: Workload; label: string; gibScale: number }> = [
  { workload: 'page-idle-4k', label: 'page_idle, 4 KiB pages', gibScale: 1 },
  { workload: 'idle-pages-4k', label: 'idle_pages, 4 KiB pages', gibScale: 1 },
  // 2 MiB pages hold 512x less state: measured over more memory to stand above the noise.
  { workload: 'idle-pages-2m', label: 'idle_pages, 2 MiB hugetlb', gibScale: 16 },
];

interface Result { workload: Workload; gib: number; betweenScansBytes: number; atMovePagesBytes: number; stateBytes?: number; ranges: number; cycleMs: number }

async function inner(workload: Workload, gib: number): Promise<Result> {
  const vma: AccessMapVma = { start: 0x7f0000000000, end: 0x7f0000000000 + gib * GIB, vmFlags: workload === 'idle-pages-2m' ? ['rd', 'wr', 'sh', 'ht'] : ['rd', 'wr', 'ac'], pathname: '' };
  let betweenScans = 0;
  let atMovePages = 0;
  let base = 0;
  const pageNodes = async (pid: number, addrs: Float64Array): Promise<Int32Array> => {
    atMovePages = Math.max(atMovePages, liveBytes() - base);
    return syntheticPageNodes(pid, addrs);
  };
  const target = { pid: 1, filter: { vmFlags: [], anonOnly: false }, ignHost: false };
  const cycle = { loop: 2, intervalMs: 1 };
  let tracker: PageIdleTracker | IdlePagesTracker;
  let touch = (): void => undefined;
  if (workload === 'page-idle-4k') {
    const k = syntheticPageIdle(vma, pageNodes);
    touch = k.touch;
    tracker = new PageIdleTracker(k.io, async () => {
      betweenScans = Math.max(betweenScans, liveBytes() - base);
      touch();
    });
  } else {
    tracker = new IdlePagesTracker(syntheticIdlePages(vma, pageNodes), async () => {
      betweenScans = Math.max(betweenScans, liveBytes() - base);
    });
  }
  base = liveBytes();
  const t0 = performance.now();
  const map = await tracker.scanCycle(target, cycle);
  const cycleMs = performance.now() - t0;
  const stateBytes = (tracker as { lastStateBytes?: number }).lastStateBytes;
  return { workload, gib, betweenScansBytes: betweenScans, atMovePagesBytes: atMovePages, ...(stateBytes !== undefined ? { stateBytes } : {}), ranges: map.ranges.length, cycleMs };
}

type PaddrWorkload = 'paddr-shared-thp' | 'paddr-shared-4k' | 'paddr-owned-thp' | 'paddr-owned-4k';
const PADDR_WORKLOADS: Array<{ workload: PaddrWorkload; label: string }> = [
  { workload: 'paddr-shared-thp', label: 'damon-paddr shared, THP-like (2 MiB runs of frames)' },
  { workload: 'paddr-shared-4k', label: 'damon-paddr shared, scattered 4 KiB frames' },
  { workload: 'paddr-owned-thp', label: 'damon-paddr owned, THP-like (2 MiB runs of frames)' },
  { workload: 'paddr-owned-4k', label: 'damon-paddr owned, scattered 4 KiB frames' },
];

interface PaddrResult { workload: PaddrWorkload; gib: number; waitBytes: number; readBytes: number; nodeBytes: number; stateBytes?: number; mapBytes: number; ranges: number; cpuMs: number[] }

async function innerPaddr(workload: PaddrWorkload, gib: number, cycles: number): Promise<PaddrResult> {
  const [, mode, layout] = workload.split('-') as [string, 'shared' | 'owned', 'thp' | '4k'];
  const vma: AccessMapVma = { start: 0x7f0000000000, end: 0x7f0000000000 + gib * GIB, vmFlags: ['rd', 'wr', 'ac'], pathname: '' };
  const k = syntheticPaddr(vma, layout, mode);
  const kdamonds = new DamonKdamonds(k.io);
  const target = { pid: 1, filter: { vmFlags: [], anonOnly: false }, ignHost: false };
  const cycle = { loop: 2, intervalMs: 1 };
  let base = 0;
  let waitBytes = 0;
  let readBytes = 0;
  let nodeBytes = 0;
  // One cycle first, unprobed: the code's bytecode and feedback (V8 heap too) are then the baseline's, not the cycle's.
  const warm = new DamonPaddrTracker({ io: k.io, kernel: k.kernel, kdamonds, mode, memoryBlocks: k.blocks, openSource: async () => k.source });
  k.beginCycle();
  await warm.scanCycle(target, cycle);
  await warm.close();
  k.hooks.drain = () => { waitBytes = Math.max(waitBytes, liveBytes() - base); };
  k.hooks.read = () => { readBytes = Math.max(readBytes, liveBytes() - base); };
  k.hooks.node = () => { nodeBytes = liveBytes() - base; };
  const probed = new DamonPaddrTracker({ io: k.io, kernel: k.kernel, kdamonds, mode, memoryBlocks: k.watchedBlocks(), openSource: async () => k.source });
  k.beginCycle();
  base = liveBytes();
  let map: Awaited<ReturnType<DamonPaddrTracker['scanCycle']>> | undefined = await probed.scanCycle(target, cycle);
  const mapBytes = liveBytes() - base;
  const ranges = map.ranges.length;
  const stateBytes = (probed as { lastStateBytes?: number }).lastStateBytes;
  map = undefined;
  await probed.close();
  k.hooks.drain = k.hooks.read = k.hooks.node = () => undefined;
  const tracker = new DamonPaddrTracker({ io: k.io, kernel: k.kernel, kdamonds, mode, memoryBlocks: k.blocks, openSource: async () => k.source });
  const cpuMs: number[] = [];
  for (let c = 0; c <= cycles; c++) {
    k.beginCycle();
    const u = process.cpuUsage();
    await tracker.scanCycle(target, cycle);
    const used = process.cpuUsage(u);
    if (c > 0) cpuMs.push((used.user + used.system) / 1000); // the first warms the JIT
  }
  await tracker.close();
  return { workload, gib, waitBytes, readBytes, nodeBytes, ...(stateBytes !== undefined ? { stateBytes } : {}), mapBytes, ranges, cpuMs };
}

if (args.includes('--inner')) {
  const workload = opt('--workload', 'page-idle-4k');
  const gib = Number(opt('--gib', '1'));
  console.log(JSON.stringify(workload.startsWith('paddr-') ? await innerPaddr(workload as PaddrWorkload, gib, Number(opt('--cycles', '7'))) : await inner(workload as Workload, gib)));
} else {
  const only = opt('--only', '');
  const gib = Number(opt('--gib', '1'));
  const self = fileURLToPath(import.meta.url);
  const rows = [
    '| tracker, memory | tracked GiB | held between scans, bytes / 4 KiB page | of which typed state (lastStateBytes) | at move_pages, bytes / 4 KiB page | at move_pages, MiB / tracked GiB | cycle ms |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const w of only === 'paddr' ? [] : WORKLOADS) {
    const g = gib * w.gibScale;
    const out = execFileSync(process.execPath, ['--max-old-space-size=8192', self, '--inner', '--workload', w.workload, '--gib', String(g)], { encoding: 'utf8' });
    const r = JSON.parse(out.trim().split('\n').pop()!) as Result;
    const pages4k = (g * GIB) / PAGE;
    const state = r.stateBytes !== undefined ? (r.stateBytes / pages4k).toFixed(2) : 'n/a';
    rows.push(`| ${w.label} | ${g} | ${(r.betweenScansBytes / pages4k).toFixed(2)} | ${state} | ${(r.atMovePagesBytes / pages4k).toFixed(2)} | ${(r.atMovePagesBytes / g / 2 ** 20).toFixed(2)} | ${r.cycleMs.toFixed(0)} |`);
    console.error(JSON.stringify(r));
  }
  if (only !== 'paddr') console.log(rows.join('\n'));
  const cycles = opt('--cycles', '7');
  const paddrRows = [
    `| tracker, memory | tracked GiB | in the window wait, bytes / 4 KiB page | at a pagemap read, bytes / 4 KiB page | at the first node lookup, bytes / 4 KiB page | of which runs (lastStateBytes) | peak MiB / tracked GiB | map held after, bytes / 4 KiB page | ranges | cycle CPU ms (median of ${cycles}) |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const w of only === '' || only === 'paddr' ? PADDR_WORKLOADS : []) {
    const out = execFileSync(process.execPath, ['--max-old-space-size=8192', self, '--inner', '--workload', w.workload, '--gib', String(gib), '--cycles', cycles], { encoding: 'utf8' });
    const r = JSON.parse(out.trim().split('\n').pop()!) as PaddrResult;
    const pages4k = (gib * GIB) / PAGE;
    const perPage = (b: number): string => (b / pages4k).toFixed(2);
    const peak = Math.max(r.waitBytes, r.readBytes, r.nodeBytes);
    const median = [...r.cpuMs].sort((a, b) => a - b)[Math.floor(r.cpuMs.length / 2)]!;
    paddrRows.push(`| ${w.label} | ${gib} | ${perPage(r.waitBytes)} | ${perPage(r.readBytes)} | ${perPage(r.nodeBytes)} | ${r.stateBytes !== undefined ? perPage(r.stateBytes) : 'n/a'} | ${(peak / gib / 2 ** 20).toFixed(2)} | ${perPage(r.mapBytes)} | ${r.ranges} | ${median.toFixed(1)} |`);
    console.error(JSON.stringify(r));
  }
  if (only === '' || only === 'paddr') console.log(paddrRows.join('\n'));
}
