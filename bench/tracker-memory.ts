/**
 * Per-page memory of the page_idle and idle_pages trackers: the bytes a
 * cycle keeps live per 4 KiB page tracked (docs/benchmarks.md, "Scale
 * curve", the "RSS as a function of tracked memory" bullet).
 *
 * No kernel: each tracker runs one real cycle (loop 2) over the synthetic
 * kernel of test/unit/tracker-memory-helpers.ts (one VMA, every page
 * present, 1 page in 5 accessed in every scan). Live memory (V8 heap +
 * array buffers, after full GCs) is read at two instants of the cycle,
 * less the baseline before it:
 * - between scans (the tracker's sleep): the per-page state it holds;
 * - at move_pages (its node query): the state plus the query's addresses.
 * Each row is a fresh process. It uses only the trackers' public API and
 * I/O interfaces, so the same file measures an older src/scan too.
 *
 *   npx tsc -p . && node dist/bench/tracker-memory.js [--gib 1]
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { AccessMapVma } from '../src/scan/access-map.js';
import { IdlePagesTracker } from '../src/scan/idle-pages.js';
import { PageIdleTracker } from '../src/scan/page-idle.js';
import { liveBytes, syntheticIdlePages, syntheticPageIdle, syntheticPageNodes } from '../test/unit/tracker-memory-helpers.js';

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

if (args.includes('--inner')) {
  console.log(JSON.stringify(await inner(opt('--workload', 'page-idle-4k') as Workload, Number(opt('--gib', '1')))));
} else {
  const gib = Number(opt('--gib', '1'));
  const self = fileURLToPath(import.meta.url);
  const rows = [
    '| tracker, memory | tracked GiB | held between scans, bytes / 4 KiB page | of which typed state (lastStateBytes) | at move_pages, bytes / 4 KiB page | at move_pages, MiB / tracked GiB | cycle ms |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const w of WORKLOADS) {
    const g = gib * w.gibScale;
    const out = execFileSync(process.execPath, ['--max-old-space-size=8192', self, '--inner', '--workload', w.workload, '--gib', String(g)], { encoding: 'utf8' });
    const r = JSON.parse(out.trim().split('\n').pop()!) as Result;
    const pages4k = (g * GIB) / PAGE;
    const state = r.stateBytes !== undefined ? (r.stateBytes / pages4k).toFixed(2) : 'n/a';
    rows.push(`| ${w.label} | ${g} | ${(r.betweenScansBytes / pages4k).toFixed(2)} | ${state} | ${(r.atMovePagesBytes / pages4k).toFixed(2)} | ${(r.atMovePagesBytes / g / 2 ** 20).toFixed(2)} | ${r.cycleMs.toFixed(0)} |`);
    console.error(JSON.stringify(r));
  }
  console.log(rows.join('\n'));
}
