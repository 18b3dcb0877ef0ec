/**
 * Issue 11: damon-paddr works over runs of pages (vaddr and PFN advancing
 * together) instead of one entry per 4 KiB page. This file keeps the
 * per-page algorithm as it was at 3da8ba8 (copied verbatim below, the
 * reference) and checks that the runs give exactly its answers on seeded
 * random inputs: THP runs, contiguous and scattered 4 KiB frames, gaps,
 * absent, swapped and frameless pages, frames mapped twice, PFNs above
 * 2^32, regions that cut runs (page-aligned or not), several windows with
 * changing regions, memory blocks that cut runs, pagemap reads in chunks.
 * - the pure functions: ranges, counts, nodes, untrackedPages, and the
 *   owned-mode regions (with coalescing);
 * - the whole tracker, several cycles in shared mode (confirmIdle across
 *   cycles) and in owned mode (the regions written to sysfs), against the
 *   reference pipeline on the same pagemap and windows.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { groupWindows, type AggregatedEvent, type AggregationWindow } from '../../src/platform/tracefs.js';
import { AccessRanges, type AccessRange } from '../../src/scan/access-ranges.js';
import { DamonPaddrTracker, confirmIdle, OWNED_REGION_BYTES, MAX_OWNED_REGIONS, PageRuns, ownedRegions, pageRunBlock, paddrRanges, type AggregatedSource } from '../../src/scan/damon-paddr.js';
import type { DamonRegion } from '../../src/scan/damon-sysfs.js';
import { DamonKdamonds } from '../../src/scan/damon-contexts.js';
import { KDAMONDS } from '../../src/scan/damon-sysfs.js';
import { MemoryIO } from '../../src/platform/io.js';
import { nodeOfPfn, type MemoryBlockMap } from '../../src/platform/memory-blocks.js';
import type { KernelOps } from '../../src/native/kernel.js';
import { accumulateWindow, buildPaddrRanges, pfnRegions, presentByPfn, type TargetPages } from './damon-paddr-reference.js';

const PAGE = 4096;

// ---- The reference: ./damon-paddr-reference.ts (the per-page code of 3da8ba8). ----

/** The tracker's confirmIdle, unchanged by the runs (it works on ranges), over the reference's own idle pages. */
class ReferenceConfirmIdle {
  private idleBefore: Float64Array = new Float64Array(0);

  confirmIdle(ranges: AccessRanges): AccessRanges {
    const { ranges: out, idleNow } = confirmIdle(ranges, this.idleBefore);
    this.idleBefore = idleNow;
    return out;
  }
}

// ---- Seeded random inputs. ----

/** mulberry32: small, seedable, good enough to spread inputs. */
function prng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

interface Vma { start: number; pages: number; /** trailing pages the pagemap read does not return (end of the address space) */ shortBy: number }
/** Per-VMA pagemap contents, as readPagemapPfns returns them. */
interface Layout { pfn: Float64Array[]; flags: Uint8Array[] }

function genVmas(rnd: (n: number) => number): Vma[] {
  const vmas: Vma[] = [];
  let at = 0x7f0000000000 + rnd(1 << 16) * PAGE;
  for (let k = 0, n = 1 + rnd(4); k < n; k++) {
    const pages = rnd(6) === 0 ? 1500 + rnd(4000) : 1 + rnd(2500);
    vmas.push({ start: at, pages, shortBy: rnd(5) === 0 ? rnd(Math.min(pages, 60)) : 0 });
    // adjacent VMAs (the ranges may merge across them) or a gap
    at += (pages + (rnd(3) === 0 ? 0 : 1 + rnd(1000))) * PAGE;
  }
  return vmas;
}

/** A frame base: low physical memory, or above 2^32 frames (16 TiB) in one seed of four. */
function frameBase(rnd: (n: number) => number, high: boolean): number {
  return high ? 2 ** 33 + rnd(1 << 22) * 512 + rnd(512) : 0x100 + rnd(1 << 22);
}

/** Writes one random piece of memory at page `i` of a VMA; returns the pages written. */
function writeSegment(rnd: (n: number) => number, pfn: Float64Array, flags: Uint8Array, i: number, high: boolean): number {
  const n = pfn.length;
  const room = n - i;
  const kind = rnd(12);
  let len: number;
  switch (kind) {
    case 0: case 1: case 2: { // THP: 512 frames, 2 MiB aligned, often starting mid-way (a partial THP at a VMA edge)
      const base = frameBase(rnd, high) - (frameBase(rnd, high) % 512);
      const skip = rnd(3) === 0 ? rnd(512) : 0;
      len = Math.min(room, 512 - skip);
      for (let k = 0; k < len; k++) { pfn[i + k] = base + skip + k; flags[i + k] = 1; }
      return len;
    }
    case 3: case 4: { // contiguous 4 KiB frames
      const base = frameBase(rnd, high);
      len = Math.min(room, 1 + rnd(rnd(4) === 0 ? 3000 : 200));
      for (let k = 0; k < len; k++) { pfn[i + k] = base + k; flags[i + k] = 1; }
      return len;
    }
    case 5: { // the previous page's frames go on (a run across the segment seam)
      const prev = i > 0 && (flags[i - 1]! & 1) !== 0 ? pfn[i - 1]! : 0;
      if (prev === 0) return 0;
      len = Math.min(room, 1 + rnd(100));
      for (let k = 0; k < len; k++) { pfn[i + k] = prev + 1 + k; flags[i + k] = flags[i - 1]!; }
      return len;
    }
    case 6: { // scattered 4 KiB frames
      len = Math.min(room, 1 + rnd(60));
      for (let k = 0; k < len; k++) { pfn[i + k] = frameBase(rnd, high && rnd(2) === 0); flags[i + k] = 1; }
      return len;
    }
    case 7: { // not present (now and then with a stale field, which must not matter)
      len = Math.min(room, 1 + rnd(40));
      for (let k = 0; k < len; k++) { pfn[i + k] = rnd(4) === 0 ? 1 + rnd(1000) : 0; flags[i + k] = 0; }
      return len;
    }
    case 8: { // swapped
      len = Math.min(room, 1 + rnd(40));
      for (let k = 0; k < len; k++) { pfn[i + k] = rnd(4) === 0 ? 1 + rnd(1000) : 0; flags[i + k] = 2; }
      return len;
    }
    case 9: { // frames mapped twice (shared memory): an earlier stretch again
      if (i === 0) return 0;
      const from = rnd(i);
      len = Math.min(room, 1 + rnd(80), i - from);
      for (let k = 0; k < len; k++) { pfn[i + k] = pfn[from + k]!; flags[i + k] = flags[from + k]!; }
      return len;
    }
    case 10: { // present without a PFN (no CAP_SYS_ADMIN for this part)
      len = Math.min(room, 1 + rnd(10));
      for (let k = 0; k < len; k++) { pfn[i + k] = 0; flags[i + k] = 1; }
      return len;
    }
    default: { // present and swapped flags together (not from this kernel, but flags are compared whole)
      const base = frameBase(rnd, high);
      len = Math.min(room, 1 + rnd(30));
      for (let k = 0; k < len; k++) { pfn[i + k] = base + k; flags[i + k] = 3; }
      return len;
    }
  }
}

function genLayout(rnd: (n: number) => number, vmas: readonly Vma[], high: boolean, nothingPresent = false): Layout {
  const layout: Layout = { pfn: [], flags: [] };
  for (const v of vmas) {
    const pfn = new Float64Array(v.pages);
    const flags = new Uint8Array(v.pages);
    if (!nothingPresent) for (let i = 0; i < v.pages;) i += writeSegment(rnd, pfn, flags, i, high);
    else for (let i = 0; i < v.pages; i++) flags[i] = rnd(3) === 0 ? 2 : 0;
    // what a short read leaves out reads as not present
    pfn.fill(0, v.pages - v.shortBy);
    flags.fill(0, v.pages - v.shortBy);
    layout.pfn.push(pfn);
    layout.flags.push(flags);
  }
  return layout;
}

/** The same memory after some pages moved, came in or went out. */
function mutate(rnd: (n: number) => number, layout: Layout, vmas: readonly Vma[], high: boolean): Layout {
  const out: Layout = { pfn: layout.pfn.map((a) => a.slice()), flags: layout.flags.map((a) => a.slice()) };
  for (let m = 0, n = rnd(6); m < n; m++) {
    const v = rnd(vmas.length);
    const i = rnd(vmas[v]!.pages);
    writeSegment(rnd, out.pfn[v]!, out.flags[v]!, i, high);
    out.pfn[v]!.fill(0, vmas[v]!.pages - vmas[v]!.shortBy);
    out.flags[v]!.fill(0, vmas[v]!.pages - vmas[v]!.shortBy);
  }
  return out;
}

/** The reference's view: one entry per page, a segment per VMA (readPages at 3da8ba8). */
function targetPages(vmas: readonly Vma[], layout: Layout): TargetPages {
  const total = vmas.reduce((n, v) => n + v.pages, 0);
  const pages: TargetPages = { segments: new Float64Array(vmas.length * 2), pfn: new Float64Array(total), flags: new Uint8Array(total) };
  let at = 0;
  vmas.forEach((v, k) => {
    pages.pfn.set(layout.pfn[k]!, at);
    pages.flags.set(layout.flags[k]!, at);
    pages.segments[2 * k] = at;
    pages.segments[2 * k + 1] = v.start;
    at += v.pages;
  });
  return pages;
}

/** What readPagemapPfns returns for `count` pages from `startAddr`: short past the readable part. */
function readLayout(vmas: readonly Vma[], layout: Layout, startAddr: number, count: number): { pfn: Float64Array; flags: Uint8Array } {
  const k = vmas.findIndex((v) => startAddr >= v.start && startAddr < v.start + v.pages * PAGE);
  assert.ok(k >= 0, `a read at ${startAddr.toString(16)} outside every VMA`);
  const v = vmas[k]!;
  const from = (startAddr - v.start) / PAGE;
  const to = Math.max(from, Math.min(from + count, v.pages - v.shortBy));
  return { pfn: layout.pfn[k]!.slice(from, to), flags: layout.flags[k]!.slice(from, to) };
}

/** Runs as the tracker builds them: each VMA read in chunks of `chunkPages`. */
function runsOf(vmas: readonly Vma[], layout: Layout, chunkPages: number): PageRuns {
  const blocks = [];
  for (const v of vmas) {
    for (let at = 0; at < v.pages; at += chunkPages) {
      const count = Math.min(chunkPages, v.pages - at);
      const read = readLayout(vmas, layout, v.start + at * PAGE, count);
      blocks.push(pageRunBlock(v.start + at * PAGE, count, read.pfn, read.flags));
    }
  }
  return new PageRuns(blocks);
}

/** Present frames of a layout (where boundaries are placed so they cut runs). */
function framesOf(layout: Layout): number[] {
  const out: number[] = [];
  layout.pfn.forEach((pfn, k) => pfn.forEach((p, i) => { if (p > 0 && (layout.flags[k]![i]! & 1) !== 0) out.push(p); }));
  return out;
}

/** Events of `count` windows: regions in address order without overlap, their edges mostly on or near our frames. */
function genEvents(rnd: (n: number) => number, frames: readonly number[], count: number, samples: number, t0: number): AggregatedEvent[] {
  const events: AggregatedEvent[] = [];
  for (let w = 0; w < count; w++) {
    const points = new Set<number>();
    const edges = 2 + rnd(rnd(4) === 0 ? 400 : 60);
    for (let k = 0; k < edges; k++) {
      const near = frames.length > 0 && rnd(5) !== 0;
      const pfn = near ? Math.max(0, frames[rnd(frames.length)]! + (rnd(4) === 0 ? rnd(2000) - 1000 : rnd(3) - 1)) : rnd(1 << 23);
      // DAMON's regions are page aligned; unaligned ends must still place each frame by its address
      points.add(pfn * PAGE + (rnd(6) === 0 ? 1 + rnd(PAGE - 1) : 0));
    }
    const sorted = [...points].sort((a, b) => a - b);
    const regions: Array<[number, number]> = [];
    for (let k = 0; k + 1 < sorted.length; k++) if (rnd(5) !== 0) regions.push([sorted[k]!, sorted[k + 1]!]);
    if (regions.length === 0) regions.push([sorted[0]!, sorted[0]! + PAGE]);
    regions.forEach(([start, end], k) => events.push({ timeNs: t0 + w * 1e6 + k, targetId: 0, nrRegions: regions.length, start, end, nrAccesses: rnd(samples + 3), age: 0 }));
  }
  return events;
}

/** A memory-block map whose blocks cut runs: small blocks, holes, and often too short for the highest frames. */
function genBlocks(rnd: (n: number) => number, frames: readonly number[]): MemoryBlockMap {
  const maxPfn = frames.reduce((m, p) => Math.max(m, p), 0);
  let blockBytes = 2 ** (12 + rnd(17));
  if (rnd(3) === 0) while ((maxPfn * PAGE) / blockBytes > 150000) blockBytes *= 2;
  const length = Math.min(200000, Math.floor((maxPfn * PAGE) / blockBytes) + rnd(3));
  const nodeByBlock = new Int16Array(length);
  let node = 0;
  for (let b = 0; b < length; b++) {
    if (rnd(3) === 0) node = rnd(4) - 1;
    nodeByBlock[b] = node;
  }
  return { blockBytes, nodeByBlock };
}

/** The reference cycle's ranges: every window accumulated per page, then one range per run of equal pages. */
function referenceRanges(pages: TargetPages, windows: readonly AggregationWindow[], samples: number, loop: number, nodeOf: (pfn: number) => number): { ranges: AccessRanges; untrackedPages: number } {
  const sum = new Float32Array(pages.pfn.length);
  const seen = new Uint16Array(pages.pfn.length);
  for (const w of windows) accumulateWindow(w, pages, samples, sum, seen);
  return buildPaddrRanges(pages, sum, seen, loop, nodeOf);
}

const rows = (r: AccessRanges): AccessRange[] => r.toArray();

describe('runs give the per-page answers (seeded random inputs)', () => {
  test('ranges, counts, nodes, untrackedPages and owned regions: 600 seeds', () => {
    let cutRuns = 0;
    for (let seed = 1; seed <= 600; seed++) {
      const rnd = prng(seed);
      const high = rnd(4) === 0;
      const vmas = genVmas(rnd);
      const layout = genLayout(rnd, vmas, high);
      const pages = targetPages(vmas, layout);
      const frames = framesOf(layout);
      const samples = 1 + rnd(20);
      const loop = 1 + rnd(6);
      const windows = groupWindows(genEvents(rnd, frames, rnd(5), samples, 0));
      const blocks = genBlocks(rnd, frames);
      const chunkPages = [1, 7, 512, 1000, 32768][rnd(5)]!;
      const runs = runsOf(vmas, layout, chunkPages);
      const want = referenceRanges(pages, windows, samples, loop, (pfn) => nodeOfPfn(blocks, pfn));
      const got = paddrRanges(runs, windows, samples, loop, blocks);
      assert.deepEqual(rows(got.ranges), rows(want.ranges), `seed ${seed}: ranges`);
      assert.equal(got.untrackedPages, want.untrackedPages, `seed ${seed}: untrackedPages`);
      assert.equal(runs.presentPages, pages.flags.reduce((n, f) => n + (f & 1), 0), `seed ${seed}: present pages`);
      assert.equal(runs.pagesWithPfn, pages.pfn.reduce((n, p) => n + (p > 0 ? 1 : 0), 0), `seed ${seed}: pages with a PFN`);
      // uncapped, a few, or just under what there is (the first coalescing passes decide)
      const uncapped = pfnRegions(pages, presentByPfn(pages)).length;
      const maxRegions = [MAX_OWNED_REGIONS, 1 + rnd(30), Math.max(1, uncapped - 1 - rnd(3))][rnd(3)]!;
      assert.deepEqual(ownedRegions(runs, maxRegions), pfnRegions(pages, presentByPfn(pages), maxRegions), `seed ${seed}: owned regions (max ${maxRegions})`);
      if (got.ranges.length > runs.runCount) cutRuns++;
    }
    assert.ok(cutRuns > 100, `regions or blocks cut runs in ${cutRuns} seeds only`);
  });

  test('THP memory is one run per 2 MiB, scattered 4 KiB frames one run per page', () => {
    const pages = 64 * 512;
    const pfn = new Float64Array(pages);
    const flags = new Uint8Array(pages).fill(1);
    for (let i = 0; i < pages; i++) pfn[i] = 0x40000 + ((i >> 9) * 7 % 64) * 512 + (i % 512);
    const thp = pageRunBlock(0x7f0000000000, pages, pfn, flags);
    assert.equal(thp.pageCounts.length, 64);
    for (let i = 0; i < pages; i++) pfn[i] = 0x40000 + ((i * 7919) % pages) * 2;
    assert.equal(pageRunBlock(0x7f0000000000, pages, pfn, flags).pageCounts.length, pages);
  });
});

// ---- The whole tracker against the reference pipeline. ----

const PID = 4321;

function smapsOf(vmas: readonly Vma[]): string {
  return vmas.map((v) => [`${v.start.toString(16)}-${(v.start + v.pages * PAGE).toString(16)} rw-p 00000000 00:00 0 `, 'KernelPageSize:        4 kB', 'VmFlags: rd wr mr mw me ac', ''].join('\n')).join('\n');
}

function damonTree(vmas: readonly Vma[], extra: Record<string, string>): MemoryIO {
  return new MemoryIO({
    [`${KDAMONDS}/nr_kdamonds`]: '1\n',
    [`${KDAMONDS}/0/state`]: 'off\n',
    [`${KDAMONDS}/0/pid`]: '555\n',
    [`${KDAMONDS}/0/contexts/nr_contexts`]: '0\n',
    '/proc/filesystems': 'nodev\ttracefs\n',
    [`/proc/${PID}/stat`]: `${PID} (guest) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 777 0 0\n`,
    [`/proc/${PID}/smaps`]: smapsOf(vmas),
    ...extra,
  }, { createOnWrite: true });
}

function fakeKernel(vmas: readonly Vma[], current: () => Layout): KernelOps {
  return {
    async readPagemapPfns(pid: number, start: number, count: number) {
      assert.equal(pid, PID);
      return readLayout(vmas, current(), start, count);
    },
  } as unknown as KernelOps;
}

const target = { pid: PID, filter: { vmFlags: [], anonOnly: false }, ignHost: false };

describe('the tracker over runs matches the per-page tracker, cycle after cycle (fixture: a synthetic pagemap, sysfs and tracepoint)', () => {
  test('shared mode: ranges after confirmIdle and untrackedPages over 3 cycles, 40 seeds', async () => {
    for (let seed = 1001; seed <= 1040; seed++) {
      const rnd = prng(seed);
      const high = rnd(4) === 0;
      const vmas = genVmas(rnd);
      const samples = 1 + rnd(20);
      const io = damonTree(vmas, {
        [`${KDAMONDS}/0/state`]: 'on\n', [`${KDAMONDS}/0/pid`]: '78\n', [`${KDAMONDS}/0/contexts/nr_contexts`]: '1\n',
        [`${KDAMONDS}/0/contexts/0/operations`]: 'paddr\n',
        [`${KDAMONDS}/0/contexts/0/monitoring_attrs/intervals/sample_us`]: '100000\n', [`${KDAMONDS}/0/contexts/0/monitoring_attrs/intervals/aggr_us`]: `${samples * 100000}\n`,
        [`${KDAMONDS}/0/contexts/0/targets/nr_targets`]: '1\n', [`${KDAMONDS}/0/contexts/0/targets/0/regions/nr_regions`]: '1\n',
        [`${KDAMONDS}/0/contexts/0/targets/0/regions/0/start`]: '0\n', [`${KDAMONDS}/0/contexts/0/targets/0/regions/0/end`]: `${2 ** 50}\n`,
      });
      let layout = genLayout(rnd, vmas, high);
      const blocks = genBlocks(rnd, framesOf(layout));
      let pending: AggregatedEvent[] = [];
      let drains = 0;
      const source: AggregatedSource = {
        setKdamondPid() {},
        drain() {
          // the first drain of a cycle drops what came before it: a window that must not count
          if (++drains === 1) return genEvents(rnd, framesOf(layout), 1, samples, 0);
          const out = pending;
          pending = [];
          return out;
        },
        close() {},
      };
      const tracker = new DamonPaddrTracker({ io, kernel: fakeKernel(vmas, () => layout), kdamonds: new DamonKdamonds(io), memoryBlocks: blocks, pagemapChunkPages: [5, 512, 32768][rnd(3)]!, openSource: async () => source });
      const confirm = new ReferenceConfirmIdle();
      for (let cycle = 0; cycle < 3; cycle++) {
        const loop = 1 + rnd(6);
        if (cycle > 0) layout = mutate(rnd, layout, vmas, high);
        pending = genEvents(rnd, framesOf(layout), 1 + rnd(4), samples, (cycle + 1) * 1e9);
        const windows = groupWindows(pending);
        drains = 0;
        const want = referenceRanges(targetPages(vmas, layout), windows, samples, loop, (pfn) => nodeOfPfn(blocks, pfn));
        const wantRanges = confirm.confirmIdle(want.ranges);
        const map = await tracker.scanCycle(target, { loop, intervalMs: 2 });
        assert.equal(tracker.mode, 'shared');
        assert.deepEqual(rows(map.ranges), rows(wantRanges), `seed ${seed} cycle ${cycle}: ranges`);
        assert.equal(map.untrackedPages, want.untrackedPages, `seed ${seed} cycle ${cycle}: untrackedPages`);
      }
      await tracker.close();
    }
  });

  test('owned mode: the regions written to sysfs, the last window\'s ranges, pages moved during the window; 30 seeds', async () => {
    let nothingSeen = 0;
    for (let seed = 2001; seed <= 2030; seed++) {
      const rnd = prng(seed);
      const high = rnd(4) === 0;
      const vmas = genVmas(rnd);
      const io = damonTree(vmas, {});
      const kdamonds = new DamonKdamonds(io);
      let layout = genLayout(rnd, vmas, high);
      const blocks = genBlocks(rnd, framesOf(layout));
      let after = layout;
      let pending: AggregatedEvent[] = [];
      const source: AggregatedSource = {
        setKdamondPid() {},
        drain() {
          if ((io.files.get(`${KDAMONDS}/0/state`) ?? '').trim() !== 'on') return [];
          // the guest runs while the kdamond does: the end of the cycle reads other frames
          layout = after;
          const out = pending;
          pending = [];
          return out;
        },
        close() {},
      };
      const tracker = new DamonPaddrTracker({ io, kernel: fakeKernel(vmas, () => layout), kdamonds, mode: 'owned', memoryBlocks: blocks, pagemapChunkPages: [3, 512, 32768][rnd(3)]!, openSource: async () => source });
      for (let cycle = 0; cycle < 3; cycle++) {
        const loop = 1 + rnd(6);
        if (cycle > 0) layout = seed % 10 === 0 && cycle === 1 ? genLayout(rnd, vmas, high, true) : mutate(rnd, after, vmas, high);
        after = mutate(rnd, layout, vmas, high);
        pending = genEvents(rnd, framesOf(after), 1 + rnd(3), loop, (cycle + 1) * 1e9);
        const before = targetPages(vmas, layout);
        const regions = pfnRegions(before, presentByPfn(before));
        const windows = groupWindows(pending).slice(-1);
        const map = await tracker.scanCycle(target, { loop, intervalMs: 2 });
        if (regions.length === 0) {
          // nothing to monitor: no kdamond, the pages as they were read, no untracked count
          nothingSeen++;
          assert.deepEqual(rows(map.ranges), rows(buildPaddrRanges(before, new Float32Array(before.pfn.length), new Uint16Array(before.pfn.length), loop, () => -1).ranges), `seed ${seed} cycle ${cycle}: no frames`);
          assert.equal(map.untrackedPages, undefined);
          after = layout;
          continue;
        }
        const c = `${KDAMONDS}/0/contexts/0/targets/0/regions`;
        const written: DamonRegion[] = [];
        for (let i = 0; i < Number(io.files.get(`${c}/nr_regions`)); i++) written.push({ start: Number(io.files.get(`${c}/${i}/start`)), end: Number(io.files.get(`${c}/${i}/end`)) });
        assert.deepEqual(written, regions, `seed ${seed} cycle ${cycle}: regions in sysfs`);
        const want = referenceRanges(targetPages(vmas, after), windows, loop, loop, (pfn) => nodeOfPfn(blocks, pfn));
        assert.deepEqual(rows(map.ranges), rows(want.ranges), `seed ${seed} cycle ${cycle}: ranges`);
        assert.equal(map.untrackedPages, want.untrackedPages, `seed ${seed} cycle ${cycle}: untrackedPages`);
      }
      await tracker.close();
    }
    assert.ok(nothingSeen > 0, 'a cycle with no frames to monitor');
  });
});
