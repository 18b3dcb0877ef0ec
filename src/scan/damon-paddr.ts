/**
 * The DAMON paddr tracker: DAMON monitors physical address ranges
 * (mm/damon/paddr.c, young checks through rmap, so KVM guest accesses are
 * seen via the MMU notifiers); the target's pages are found through their
 * PFNs in /proc/PID/pagemap and each page takes the count of the DAMON
 * region that holds its frame. Counts come in bulk from the
 * `damon_aggregated` tracepoint (src/platform/tracefs.ts), never from a
 * walk over tried_regions.
 *
 * Two modes, chosen per tracker at its first cycle:
 * - shared: a kdamond another DAMON user runs with paddr operations (this
 *   host: kdamond 0 with a pageout scheme) is read, never written: its
 *   tracepoint through a private tracefs instance filtered on its pid.
 *   DAMON's sysfs refuses new kdamonds while one runs, and writing
 *   nr_kdamonds would wipe that user's configuration, so sharing is the
 *   only way in. Its regions are adaptive over all of its range, so a
 *   region mixes our pages with others': good for THP or clustered memory,
 *   poor for scattered 4 KiB pages (docs/trackers.md has the numbers). Its
 *   windows are its own (aggr_us), so a cycle lasts at least one window.
 *   Pages outside its range cannot be seen: they are reported hot (kept
 *   where they are) and counted in `AccessMap.untrackedPages`, never cold.
 * - owned: when no kdamond runs (e.g. the testbed), a kdamond of our own
 *   from the daemon's one owner (./damon-contexts.ts) monitors exactly our
 *   frames: regions are the PFN runs, cut at 2 MiB, fixed
 *   (min = max = their number), sampled every `intervalMs`, one window a
 *   cycle, on only during the cycle, as the vaddr tracker does.
 *
 * Hugetlb pages are not on the LRU: paddr's young check never finds them
 * accessed, so a hugetlb VMA would read all cold. Such a target is refused
 * with OPT_UNSUPPORTED naming the VMA, never tracked.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { AccessMap, AccessMapVma, AccessRange } from './access-map.js';
import { AccessRanges } from './access-ranges.js';
import { CycleGate, type ScanCycleOptions, type ScanTarget, type Tracker, type TrackerEntry, type TrackerProbe } from './tracker.js';
import { filterVmas } from './proc-vmas.js';
import { parseSmapsSized, type SizedVma } from './damon.js';
import { ContextKeys, kdamondsFor, type DamonKdamonds } from './damon-contexts.js';
import { KDAMONDS, kdamondDir, writePaddrContext, type DamonRegion } from './damon-sysfs.js';
import { liveIO, type KernelFileIO, type PlatformIO } from '../platform/io.js';
import { probeDamon } from '../platform/damon-probe.js';
import { DamonTraceInstance, TRACEFS, DAMON_AGGREGATED, groupWindows, mountTracefs, sweepStaleInstances, type AggregatedEvent, type AggregationWindow } from '../platform/tracefs.js';
import { readMemoryBlockMap, nodeOfPfn, blockEndPfn, type MemoryBlockMap } from '../platform/memory-blocks.js';
import { liveKernel, type KernelOps } from '../native/kernel.js';
import { isErrno, SysError } from '../native/errors.js';
import { VirtTierError, abortError, invalidField, processGone } from '../errors.js';
import { boundedMap } from './bounded-map.js';

const PAGE = 4096;
/** Owned regions are cut at 2 MiB: one THP is one region (an exact sample), as in the vaddr tracker. */
export const OWNED_REGION_BYTES = 2 * 1024 * 1024;
/** More runs than this are coalesced over their smallest gaps (each region is two sysfs writes). */
export const MAX_OWNED_REGIONS = 16384;
const POLL_MS = 250;
/**
 * Pages per pagemap read: 32 Ki (128 MiB of address space, 288 KiB
 * decoded), so a read's arrays stay a small constant beside the 1 MiB per
 * tracked GiB of issue 11; 8 reads a GiB cost little next to the walk.
 */
export const PAGEMAP_CHUNK_PAGES = 32768;
/** No memory-block map (sysfs unreadable): every node unknown. */
const NO_BLOCKS: MemoryBlockMap = { blockBytes: 128 << 20, nodeByBlock: new Int16Array(0) };

export type PaddrMode = 'shared' | 'owned';

/** The events of one kdamond, however they are read (a tracefs instance live, arrays in tests). */
export interface AggregatedSource {
  setKdamondPid(pid: number): void;
  drain(): AggregatedEvent[];
  close(): void;
}

export interface DamonPaddrOptions {
  io?: KernelFileIO;
  kernel?: KernelOps;
  /** the daemon's one owner of kdamonds (default: the one for `io`) */
  kdamonds?: DamonKdamonds;
  /** force a mode; default: shared when a paddr kdamond of another user runs, else owned */
  mode?: PaddrMode;
  /** opens the tracepoint source for a kdamond pid; default: a tracefs instance (mounting tracefs if needed) */
  openSource?: (name: string, kdamondPid: number) => Promise<AggregatedSource>;
  /** PFN -> node; default: the memory-block map in sysfs */
  memoryBlocks?: MemoryBlockMap;
  /** pages per pagemap read (default PAGEMAP_CHUNK_PAGES); tests use small ones to cross the seams */
  pagemapChunkPages?: number;
}

/**
 * Issue 11: the target's pages as runs, not one entry per page. A run is
 * pages whose virtual addresses and PFNs both advance by one page with
 * equal flags (present, swapped); pages without a frame of ours (not
 * present, or present without CAP_SYS_ADMIN) run with PFN 0 throughout.
 * THP-backed guest RAM is runs of >= 512 pages, so a GiB is a few hundred
 * runs (13 bytes each) where it was 262144 pages of 15 bytes; scattered
 * 4 KiB frames are one run a page: 13 bytes a page, about what the
 * per-page arrays cost (docs/benchmarks.md has the measured rows).
 *
 * A block holds the runs of one pagemap read (one chunk of one VMA): read
 * and turned into runs chunk by chunk, so the decoded entries of the whole
 * target (9 bytes a page) never exist at once. Runs do not cross blocks;
 * the ranges built from them merge again across the seam.
 */
export interface PageRunBlock {
  /** address of the block's first page; run k starts 4096 * (the counts of runs 0..k-1) after it */
  startAddr: number;
  pageCounts: Uint32Array;
  /** PFN of each run's first page; 0 for a run of pages without frames */
  firstPfns: Float64Array;
  /** bit 0 present, bit 1 swapped */
  flags: Uint8Array;
  /** pages read present, and pages read with a PFN (the CAP_SYS_ADMIN check needs both) */
  presentPages: number;
  pagesWithPfn: number;
}

/** One pagemap read (kernel.readPagemapPfns) as runs; entries past a short read are not present. */
export function pageRunBlock(startAddr: number, pageCount: number, pfn: Float64Array, flags: Uint8Array): PageRunBlock {
  const read = Math.min(pageCount, pfn.length, flags.length);
  // Where each run begins (index of its first page): one pass, then arrays of exactly the run count.
  const runStarts = new Uint32Array(pageCount + 1);
  let runs = 0;
  let presentPages = 0;
  let pagesWithPfn = 0;
  let runFlags = -1;
  let runPfn = 0;
  let runStart = 0;
  for (let i = 0; i < read; i++) {
    const f = flags[i]! & 3;
    // The PFN of a page that is not present is never used (nor was it page by page), so such pages run on whatever the field holds.
    const p = (f & 1) !== 0 ? pfn[i]! : 0;
    if ((f & 1) !== 0) presentPages++;
    if (pfn[i]! > 0) pagesWithPfn++;
    if (f === runFlags && (runPfn === 0 ? p === 0 : p === runPfn + (i - runStart))) continue;
    runStarts[runs++] = i;
    runFlags = f;
    runPfn = p;
    runStart = i;
  }
  if (read < pageCount && !(runFlags === 0 && runPfn === 0)) runStarts[runs++] = read;
  runStarts[runs] = pageCount;
  const block: PageRunBlock = { startAddr, pageCounts: new Uint32Array(runs), firstPfns: new Float64Array(runs), flags: new Uint8Array(runs), presentPages, pagesWithPfn };
  for (let k = 0; k < runs; k++) {
    const i = runStarts[k]!;
    block.pageCounts[k] = runStarts[k + 1]! - i;
    if (i < read) {
      block.flags[k] = flags[i]! & 3;
      block.firstPfns[k] = (flags[i]! & 1) !== 0 ? pfn[i]! : 0;
    }
  }
  return block;
}

/** The target's pages: run blocks in address order (./damon-paddr.ts readRuns). */
export class PageRuns {
  readonly presentPages: number;
  readonly pagesWithPfn: number;
  constructor(readonly blocks: readonly PageRunBlock[]) {
    this.presentPages = blocks.reduce((n, b) => n + b.presentPages, 0);
    this.pagesWithPfn = blocks.reduce((n, b) => n + b.pagesWithPfn, 0);
  }

  get runCount(): number {
    return this.blocks.reduce((n, b) => n + b.pageCounts.length, 0);
  }

  /** Bytes the runs' typed arrays take (13 a run). */
  get stateBytes(): number {
    return this.blocks.reduce((n, b) => n + b.pageCounts.byteLength + b.firstPfns.byteLength + b.flags.byteLength, 0);
  }
}

/**
 * Physical ranges covering the frames of present runs, cut at 2 MiB,
 * coalesced over the smallest gaps beyond `maxRegions`: the union of the
 * runs' [first, end) PFN intervals, split where a frame is 2 MiB aligned.
 */
export function ownedRegions(runs: PageRuns, maxRegions = MAX_OWNED_REGIONS): DamonRegion[] {
  let n = 0;
  for (const b of runs.blocks) for (let k = 0; k < b.flags.length; k++) if ((b.flags[k]! & 1) !== 0 && b.firstPfns[k]! > 0) n++;
  const firsts = new Float64Array(n);
  const ends = new Float64Array(n);
  let maxFirst = 0;
  n = 0;
  for (const b of runs.blocks) {
    for (let k = 0; k < b.flags.length; k++) {
      if ((b.flags[k]! & 1) === 0 || b.firstPfns[k]! === 0) continue;
      firsts[n] = b.firstPfns[k]!;
      ends[n] = b.firstPfns[k]! + b.pageCounts[k]!;
      if (firsts[n]! > maxFirst) maxFirst = firsts[n]!;
      n++;
    }
  }
  // Sorted by first PFN through one key per run, first * n + index, sorted
  // natively (scattered 4 KiB memory is one run a page: a comparator sort
  // costs more than the rest of the cycle); exact below 2^53, else the comparator.
  const order = new Uint32Array(n);
  if (maxFirst * n + n < Number.MAX_SAFE_INTEGER) {
    const keys = new Float64Array(n);
    for (let k = 0; k < n; k++) keys[k] = firsts[k]! * n + k;
    keys.sort();
    for (let k = 0; k < n; k++) order[k] = keys[k]! % n;
  } else {
    for (let k = 0; k < n; k++) order[k] = k;
    order.sort((a, b) => firsts[a]! - firsts[b]!);
  }
  // Union, cut and coalescing in place over two columns (PFNs), objects
  // only for what is written: scattered 4 KiB memory starts from one
  // region a page, and an object per region per coalescing pass was the
  // owned cycle's largest cost (its garbage collection above all).
  const cutPfns = OWNED_REGION_BYTES / PAGE;
  const starts: number[] = [];
  const stops: number[] = [];
  const emit = (first: number, end: number): void => {
    for (let a = first; a < end;) {
      const b = Math.min(end, (Math.floor(a / cutPfns) + 1) * cutPfns);
      starts.push(a);
      stops.push(b);
      a = b;
    }
  };
  let first = -1;
  let end = -1;
  for (let i = 0; i < n; i++) {
    const k = order[i]!;
    // frames mapped twice (shared memory) or held by two runs: their union is monitored once
    if (first >= 0 && firsts[k]! <= end) {
      if (ends[k]! > end) end = ends[k]!;
      continue;
    }
    if (first >= 0) emit(first, end);
    first = firsts[k]!;
    end = ends[k]!;
  }
  if (first >= 0) emit(first, end);
  let count = starts.length;
  for (let gap = 1; count > maxRegions; gap *= 2) {
    let m = 0;
    for (let i = 0; i < count; i++) {
      if (m > 0 && starts[i]! - stops[m - 1]! <= gap) {
        stops[m - 1] = stops[i]!;
      } else {
        starts[m] = starts[i]!;
        stops[m] = stops[i]!;
        m++;
      }
    }
    count = m;
  }
  const regions: DamonRegion[] = new Array(count);
  for (let i = 0; i < count; i++) regions[i] = { start: starts[i]! * PAGE, end: stops[i]! * PAGE };
  return regions;
}

/** One window's regions as PFN columns: page `pfn` is in region r when startPfn[r] <= pfn < endPfn[r]. */
interface WindowColumns {
  count: number;
  startPfn: Float64Array;
  endPfn: Float64Array;
  /** the share of the window's samples that found the region accessed, as the per-page Float32 sums had it */
  fraction: Float32Array;
  /**
   * A bucket index over the window's span: bucket b (frames from
   * startPfn[0] + b * bucketPfns on) begins its search at region
   * firstOfBucket[b] and ends it at firstOfBucket[b + 1]. Scattered 4 KiB
   * memory looks a region up for nearly every page, and a binary search
   * over all 1000 regions was a third of the cycle.
   */
  bucketPfns: number;
  firstOfBucket: Int32Array;
}

function windowColumns(window: AggregationWindow, samplesPerWindow: number): WindowColumns {
  const nr = window.regions.length;
  const startPfn = new Float64Array(nr);
  const endPfn = new Float64Array(nr);
  const fraction = new Float32Array(nr);
  for (let r = 0; r < nr; r++) {
    const region = window.regions[r]!;
    // A frame is in the region when its address pfn * 4096 is in [start, end): rounding both up keeps that for unaligned ends.
    startPfn[r] = Math.ceil(region.start / PAGE);
    endPfn[r] = Math.ceil(region.end / PAGE);
    fraction[r] = Math.min(1, region.nrAccesses / samplesPerWindow);
  }
  // About a bucket a region, a power of two frames each (exact division).
  const lo = startPfn[0]!;
  const span = Math.max(1, endPfn[nr - 1]! - lo);
  let bucketPfns = 1;
  while (span / bucketPfns > nr) bucketPfns *= 2;
  const buckets = Math.ceil(span / bucketPfns);
  const firstOfBucket = new Int32Array(buckets + 1);
  for (let b = 0, r = 0; b <= buckets; b++) {
    const from = lo + b * bucketPfns;
    while (r < nr && endPfn[r]! <= from) r++;
    firstOfBucket[b] = r;
  }
  return { count: nr, startPfn, endPfn, fraction, bucketPfns, firstOfBucket };
}

/**
 * The first region whose end is past `pfn` (`count` when none): the
 * previous answer or the next one first, since a run's pieces walk
 * forward through the regions, else a binary search within the frame's
 * bucket (regions are in address order without overlap:
 * ../platform/tracefs.ts groupWindows).
 */
function regionAfter(w: WindowColumns, pfn: number, hint: number): number {
  const ends = w.endPfn;
  const nr = w.count;
  let r = hint;
  if (r < nr && ends[r]! <= pfn) r++;
  if ((r === nr || ends[r]! > pfn) && (r === 0 || ends[r - 1]! <= pfn)) return r;
  const offset = pfn - w.startPfn[0]!;
  if (offset < 0) return 0;
  const b = Math.floor(offset / w.bucketPfns);
  if (b + 1 >= w.firstOfBucket.length) return nr; // past the last region's end
  // the answer is at or after the bucket's first region and at or before the next bucket's
  let lo = w.firstOfBucket[b]!;
  let hi = w.firstOfBucket[b + 1]!;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ends[mid]! <= pfn) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The cycle's ranges from the runs and the windows' regions. A page's
 * count is the mean over the windows whose regions hold its frame of the
 * fraction of samples that found the region accessed, on the `loop`
 * scale; present pages no region holds are reported accessed in every
 * scan and counted untracked, never cold; swapped pages are cold and
 * absent. Each run is cut only where a region boundary (of any window) or
 * a memory block boundary falls inside it: every page of a piece then has
 * the same regions, so the same count, and the same node. Work and state
 * are O(runs + boundaries), not O(pages); the per-page answer is the
 * same (test/unit/damon-paddr-runs.test.ts holds the per-page reference).
 */
export function paddrRanges(runs: PageRuns, windows: readonly AggregationWindow[], samplesPerWindow: number, loop: number, blocks: MemoryBlockMap): { ranges: AccessRanges; untrackedPages: number } {
  const wins = windows.filter((w) => w.regions.length > 0).map((w) => windowColumns(w, samplesPerWindow));
  const nw = wins.length;
  const hints = new Int32Array(nw);
  const out = new AccessRanges();
  const add = (start: number, pages: number, accessCount: number, pageNode: number, f: number): void => out.appendPages(start, pages, PAGE, accessCount, pageNode, (f & 1) !== 0, (f & 2) !== 0);
  let untrackedPages = 0;
  // The block of the last piece and its node: neighbouring runs mostly share one (1 GiB is 8 blocks of 128 MiB).
  let blockFirst = 0;
  let blockEnd = -1;
  let node = -1;
  for (const block of runs.blocks) {
    const { pageCounts, firstPfns, flags } = block;
    let runAddr = block.startAddr;
    for (let k = 0; k < pageCounts.length; k++) {
      const pages = pageCounts[k]!;
      const f = flags[k]!;
      const first = firstPfns[k]!;
      const addr = runAddr;
      runAddr += pages * PAGE;
      if ((f & 1) === 0) {
        if ((f & 2) !== 0) add(addr, pages, 0, -1, f);
        continue;
      }
      if (first === 0) {
        // present without a PFN: no region can hold it
        untrackedPages += pages;
        add(addr, pages, loop, nodeOfPfn(blocks, 0), f);
        continue;
      }
      const end = first + pages;
      for (let pfn = first; pfn < end;) {
        if (!(pfn >= blockFirst && pfn < blockEnd)) {
          blockFirst = pfn;
          blockEnd = blockEndPfn(blocks, pfn);
          node = nodeOfPfn(blocks, pfn);
        }
        let pieceEnd = end < blockEnd ? end : blockEnd;
        // Float32 sums in window order, as the per-page Float32Array accumulated them.
        let sum = 0;
        let seen = 0;
        for (let w = 0; w < nw; w++) {
          const win = wins[w]!;
          const r = regionAfter(win, pfn, hints[w]!);
          hints[w] = r;
          if (r === win.count) continue;
          const start = win.startPfn[r]!;
          if (start <= pfn) {
            sum = Math.fround(sum + win.fraction[r]!);
            seen++;
            if (win.endPfn[r]! < pieceEnd) pieceEnd = win.endPfn[r]!;
          } else if (start < pieceEnd) {
            pieceEnd = start;
          }
        }
        const piecePages = pieceEnd - pfn;
        let accessCount = loop;
        if (seen === 0) untrackedPages += piecePages;
        else accessCount = Math.min(loop, Math.round((sum / seen) * loop));
        add(addr + (pfn - first) * PAGE, piecePages, accessCount, node, f);
        pfn = pieceEnd;
      }
    }
  }
  return { ranges: out, untrackedPages };
}

/** A paddr kdamond another DAMON user runs, as read from sysfs (read-only). */
export interface SharedKdamond {
  slot: number;
  pid: number;
  sampleUs: number;
  aggrUs: number;
  /** its target's configured ranges (the ones it monitors) */
  ranges: DamonRegion[];
}

async function readNum(io: PlatformIO, p: string): Promise<number> {
  return Number((await io.readText(p)).trim());
}

/** The first running kdamond with paddr operations that `owner` does not hold; reads only. */
export async function findSharedKdamond(io: PlatformIO, owner?: DamonKdamonds): Promise<SharedKdamond | undefined> {
  if (!(await io.exists(`${KDAMONDS}/nr_kdamonds`))) return undefined;
  const count = await readNum(io, `${KDAMONDS}/nr_kdamonds`);
  const ours = new Set(owner?.heldSlots ?? []);
  for (let slot = 0; slot < count; slot++) {
    if (ours.has(slot)) continue;
    const k = kdamondDir(slot);
    if ((await io.readText(`${k}/state`)).trim() !== 'on') continue;
    if ((await readNum(io, `${k}/contexts/nr_contexts`)) < 1) continue;
    const c = `${k}/contexts/0`;
    if ((await io.readText(`${c}/operations`)).trim() !== 'paddr') continue;
    const ranges: DamonRegion[] = [];
    const targets = await readNum(io, `${c}/targets/nr_targets`);
    for (let t = 0; t < targets; t++) {
      const n = await readNum(io, `${c}/targets/${t}/regions/nr_regions`);
      for (let r = 0; r < n; r++) {
        ranges.push({ start: await readNum(io, `${c}/targets/${t}/regions/${r}/start`), end: await readNum(io, `${c}/targets/${t}/regions/${r}/end`) });
      }
    }
    return {
      slot,
      pid: await readNum(io, `${k}/pid`),
      sampleUs: await readNum(io, `${c}/monitoring_attrs/intervals/sample_us`),
      aggrUs: await readNum(io, `${c}/monitoring_attrs/intervals/aggr_us`),
      ranges: ranges.sort((a, b) => a.start - b.start),
    };
  }
  return undefined;
}

/** The live source: a tracefs instance, tracefs mounted first when it is not. */
let swept = false;

export async function openTracefsSource(name: string, kdamondPid: number): Promise<AggregatedSource> {
  try {
    await mountTracefs();
    if (!swept) {
      // once per daemon: what a crashed virt-tierd left behind (its buffers and enabled events)
      swept = true;
      sweepStaleInstances();
    }
    return DamonTraceInstance.open(name, kdamondPid);
  } catch (err) {
    if (isErrno(err, 'EEXIST')) {
      throw new VirtTierError('OPT_UNSUPPORTED', `tracefs instance ${TRACEFS}/instances/${name} exists (another virt-tierd, or one left behind): rmdir it`, { field: 'tracker', value: 'damon-paddr', allowed: 'a free tracefs instance name' });
    }
    if (isErrno(err, 'ENOENT', 'ENODEV')) {
      throw new VirtTierError('OPT_UNSUPPORTED', `damon-paddr needs tracefs with the damon_aggregated event (${TRACEFS}/${DAMON_AGGREGATED}): ${(err as Error).message}; mount -t tracefs nodev ${TRACEFS} (CONFIG_TRACING and CONFIG_DAMON)`, { field: 'tracker', value: 'damon-paddr', allowed: 'a kernel with tracefs' });
    }
    throw err;
  }
}

let instanceSeq = 0;

/**
 * Shared mode: a page is reported idle (count 0) only when it was idle in
 * the previous cycle too (`idleBefore`); the first time it reads 1. The
 * other user's regions mix our frames with foreign ones and one random
 * sample per region misses hot frames now and then (hot recall 0.92-1.0
 * per window here, docs/trackers.md); two independent windows make a hot
 * page read cold far less often, at the cost of one more cycle before cold
 * pages move. Idle pages are remembered as [start, end) address pairs, one
 * per idle range, not one entry per page: memory follows the ranges, not
 * the bytes. Returns the ranges and this cycle's idle pairs.
 */
export function confirmIdle(ranges: AccessRanges, idleBefore: Float64Array): { ranges: AccessRanges; idleNow: Float64Array } {
  const before = idleBefore;
  const idleNow: number[] = [];
  const out = new AccessRanges(ranges.length);
  let j = 0;
  const push = (r: Readonly<AccessRange>, start: number, end: number, confirmed: boolean): void => {
    if (end > start) out.push(start, (end - start) / PAGE, r.pageSizeBytes, confirmed ? 0 : 1, r.node, r.present, r.swapped);
  };
  for (const r of ranges) {
    if (!r.present || r.accessCount > 0) {
      out.push(r.start, r.pageCount, r.pageSizeBytes, r.accessCount, r.node, r.present, r.swapped);
      continue;
    }
    const end = r.start + r.pageCount * PAGE;
    const lastIdle = idleNow.length;
    if (lastIdle >= 2 && idleNow[lastIdle - 1] === r.start) idleNow[lastIdle - 1] = end;
    else idleNow.push(r.start, end);
    // Split the range where it meets the previous cycle's idle ranges.
    while (j < before.length && before[j + 1]! <= r.start) j += 2;
    let at = r.start;
    for (let k = j; k < before.length && before[k]! < end; k += 2) {
      const s = Math.max(at, before[k]!);
      const e = Math.min(end, before[k + 1]!);
      if (e <= s) continue;
      push(r, at, s, false);
      push(r, s, e, true);
      at = e;
    }
    push(r, at, end, false);
  }
  return { ranges: out, idleNow: Float64Array.from(idleNow) };
}

export class DamonPaddrTracker implements Tracker {
  readonly name = 'damon-paddr';
  private readonly io: KernelFileIO;
  private readonly kernel: KernelOps;
  private readonly kdamonds: DamonKdamonds;
  private readonly forcedMode?: PaddrMode;
  private readonly openSource: (name: string, kdamondPid: number) => Promise<AggregatedSource>;
  private blocks?: MemoryBlockMap;
  private source?: AggregatedSource;
  private sourcePid = -1;
  private slot: number | undefined;
  private readonly gate = new CycleGate('damon-paddr');
  private readonly contextKeys = new ContextKeys();
  private readonly chunkPages: number;
  /** bytes of the last cycle's page runs (bench/tracker-memory.ts) */
  lastStateBytes?: number;
  /** the mode of the last cycle (for stats and tests) */
  mode?: PaddrMode;
  /** shared mode: addresses (sorted) of the pages seen idle in the previous cycle */
  private idleBefore: Float64Array = new Float64Array(0);

  constructor(opts: DamonPaddrOptions = {}) {
    this.io = opts.io ?? liveIO;
    this.kernel = opts.kernel ?? liveKernel;
    this.kdamonds = opts.kdamonds ?? kdamondsFor(this.io);
    if (opts.mode !== undefined && opts.mode !== 'shared' && opts.mode !== 'owned') throw invalidField('damon-paddr.mode', opts.mode, 'shared|owned');
    this.forcedMode = opts.mode;
    this.openSource = opts.openSource ?? openTracefsSource;
    this.blocks = opts.memoryBlocks;
    const chunkPages = opts.pagemapChunkPages ?? PAGEMAP_CHUNK_PAGES;
    if (!Number.isInteger(chunkPages) || chunkPages < 1) throw invalidField('damon-paddr.pagemapChunkPages', chunkPages, 'integer >= 1');
    this.chunkPages = chunkPages;
  }

  scanCycle(target: ScanTarget, opts: ScanCycleOptions): Promise<AccessMap> {
    return this.gate.run(opts, () => this.cycle(target, opts));
  }

  private async readProc(pid: number, file: string): Promise<string> {
    try {
      return await this.io.readText(`/proc/${pid}/${file}`);
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ESRCH')) throw processGone(pid, { syscall: 'read', path: `/proc/${pid}/${file}` });
      throw err;
    }
  }

  private async vmasOf(target: ScanTarget): Promise<SizedVma[]> {
    // The kernel's own mappings ([vdso], [vvar], [vsyscall] above 2^53) hold no guest RAM and have no frames of ours.
    const sized = (filterVmas(parseSmapsSized(await this.readProc(target.pid, 'smaps')), target.filter) as SizedVma[])
      .filter((v) => v.end <= Number.MAX_SAFE_INTEGER && !/^\[(vdso|vvar|vvar_vclock|vsyscall)\]$/.test(v.pathname));
    const huge = sized.find((v) => v.vmFlags.includes('ht') || v.pageSizeBytes > PAGE);
    if (huge) {
      throw new VirtTierError(
        'OPT_UNSUPPORTED',
        `damon-paddr cannot see hugetlb memory (pid ${target.pid}, VMA ${huge.start.toString(16)}-${huge.end.toString(16)}, ${huge.pageSizeBytes / 1024} KiB pages): ` +
          'hugetlb pages are not on the LRU, so DAMON paddr reads them as never accessed; use --tracker damon-vaddr or idle-pages, or select THP/anonymous guest RAM',
        { field: 'tracker', value: 'damon-paddr', allowed: 'LRU memory (anonymous, THP, shmem/memfd)' },
      );
    }
    return sized;
  }

  /**
   * The target's pages as runs, read `chunkPages` at a time (at most
   * `maxParallel` reads in flight, etmem's max_threads) and turned into
   * runs as each read arrives: the decoded entries held at once are those
   * of the reads in flight, never the whole target's.
   */
  private async readRuns(pid: number, vmas: readonly SizedVma[], maxParallel: number): Promise<PageRuns> {
    const chunks: Array<{ startAddr: number; pageCount: number }> = [];
    for (const v of vmas) {
      const pages = Math.floor((v.end - v.start) / PAGE);
      for (let at = 0; at < pages; at += this.chunkPages) chunks.push({ startAddr: v.start + at * PAGE, pageCount: Math.min(this.chunkPages, pages - at) });
    }
    const blocks = await boundedMap(chunks, maxParallel, async ({ startAddr, pageCount }) => {
      let part: { pfn: Float64Array; flags: Uint8Array };
      try {
        part = await this.kernel.readPagemapPfns(pid, startAddr, pageCount);
      } catch (err) {
        if (isErrno(err, 'ENOENT', 'ESRCH')) throw processGone(pid, { syscall: 'pread', path: `/proc/${pid}/pagemap` });
        throw err;
      }
      // short at the end of the address space: the rest reads as not present
      return pageRunBlock(startAddr, pageCount, part.pfn, part.flags);
    });
    const runs = new PageRuns(blocks);
    if (runs.presentPages > 0 && runs.pagesWithPfn === 0) throw new SysError('EPERM', 1, 'pread', `/proc/${pid}/pagemap shows no PFNs: damon-paddr needs CAP_SYS_ADMIN`);
    return runs;
  }

  private async ensureSource(name: string, kdamondPid: number): Promise<AggregatedSource> {
    if (!this.source) {
      this.source = await this.openSource(name, kdamondPid);
      this.sourcePid = kdamondPid;
    } else if (this.sourcePid !== kdamondPid) {
      this.source.setKdamondPid(kdamondPid);
      this.sourcePid = kdamondPid;
    }
    return this.source;
  }

  /** Drains until at least one whole window arrived or the deadline passed. */
  private async collect(source: AggregatedSource, untilMs: number, deadlineMs: number, signal?: AbortSignal): Promise<AggregationWindow[]> {
    const events: AggregatedEvent[] = [];
    for (;;) {
      const waitMs = Math.max(0, Math.min(POLL_MS, untilMs - Date.now()));
      await sleep(waitMs || POLL_MS, undefined, { signal }).catch(() => {
        throw abortError('scan cycle aborted');
      });
      events.push(...source.drain());
      if (Date.now() < untilMs) continue;
      const windows = groupWindows(events);
      if (windows.length > 0 || Date.now() >= deadlineMs) return windows;
    }
  }

  private async modeFor(): Promise<{ mode: PaddrMode; shared?: SharedKdamond }> {
    const shared = await findSharedKdamond(this.kdamonds.sysfs, this.kdamonds);
    if (this.forcedMode === 'owned') return { mode: 'owned' };
    if (shared) return { mode: 'shared', shared };
    if (this.forcedMode === 'shared') {
      throw new VirtTierError('OPT_UNSUPPORTED', 'damon-paddr shared mode: no running kdamond with paddr operations to share (kdamonds/N/state on, operations paddr); drop the forced mode to run a kdamond of our own', { field: 'tracker', value: 'damon-paddr', allowed: 'owned' });
    }
    return { mode: 'owned' };
  }

  private async cycle(target: ScanTarget, opts: ScanCycleOptions): Promise<AccessMap> {
    const { pid } = target;
    const { loop, intervalMs, signal } = opts;
    if (signal?.aborted) throw abortError('scan cycle aborted');
    const started = Date.now();
    const vmas = await this.vmasOf(target);
    const mapVmas: AccessMapVma[] = vmas.map(({ start, end, vmFlags, pathname }) => ({ start, end, vmFlags, pathname }));
    const map: AccessMap = { pid, loop, tracker: this.name, timeMs: started, vmas: mapVmas, ranges: new AccessRanges(0) };
    if (vmas.length === 0) return map;
    const { mode, shared } = await this.modeFor();
    this.mode = mode;
    const name = `virt-tier-${process.pid}-${++instanceSeq}`;
    let windows: AggregationWindow[];
    let samplesPerWindow: number;

    if (mode === 'shared') {
      const kd = shared!;
      const source = await this.ensureSource(name, kd.pid);
      source.drain(); // what came before this cycle
      samplesPerWindow = Math.max(1, Math.round(kd.aggrUs / kd.sampleUs));
      const aggrMs = kd.aggrUs / 1000;
      // At least one whole window of the other user's kdamond; give up after a few.
      windows = await this.collect(source, started + loop * intervalMs, started + Math.max(loop * intervalMs, aggrMs) + 2 * aggrMs + 2000, signal);
      if (windows.length === 0) {
        throw new VirtTierError('OPT_UNSUPPORTED', `damon-paddr: kdamond ${kd.slot} (pid ${kd.pid}) emitted no damon_aggregated event in ${Date.now() - started} ms (aggr_us ${kd.aggrUs}); is it still running, and is the tracefs instance's event enabled?`, { field: 'tracker', value: 'damon-paddr', allowed: 'a running paddr kdamond' });
      }
    } else {
      let before: PageRuns | undefined = await this.readRuns(pid, vmas, target.maxParallelRanges ?? 1);
      const regions = ownedRegions(before);
      if (regions.length === 0) {
        map.ranges = paddrRanges(before, [], 1, loop, NO_BLOCKS).ranges;
        return map;
      }
      // Not held through the window: the end of the cycle reads the pages again.
      before = undefined;
      if (this.slot === undefined) this.slot = await this.kdamonds.acquire();
      const slot = this.slot;
      const sampleUs = Math.max(1, Math.round(intervalMs * 1000));
      const aggrUs = sampleUs * loop;
      samplesPerWindow = loop;
      // damon_set_attrs() refuses min_nr_regions < 3
      const nr = Math.max(3, regions.length);
      const key = this.contextKeys.of(`${sampleUs}/${aggrUs}`, regions);
      await this.kdamonds.start(slot, key, () => writePaddrContext(this.kdamonds.sysfs, slot, { sampleUs, aggrUs, minNrRegions: nr, maxNrRegions: nr, regions }));
      let kdamondPid = -1;
      try {
        kdamondPid = await readNum(this.kdamonds.sysfs, `${kdamondDir(slot)}/pid`);
        const on = Date.now();
        const source = await this.ensureSource(name, kdamondPid);
        // The first window ends one aggregation after `on`; on a slow (TCG) machine give it a few.
        windows = await this.collect(source, on + loop * intervalMs, on + 4 * loop * intervalMs + 5000, signal);
      } finally {
        await this.kdamonds.stop(slot);
      }
      if (windows.length === 0) {
        throw new VirtTierError('OPT_UNSUPPORTED', `damon-paddr: our kdamond ${slot} (pid ${kdamondPid}) emitted no damon_aggregated event within its window`, { field: 'tracker', value: 'damon-paddr', allowed: 'a kernel with the damon_aggregated tracepoint' });
      }
      windows = windows.slice(-1);
    }

    // PFNs at the end of the cycle: pages that moved or came in meanwhile are where they are now.
    const runs = await this.readRuns(pid, vmas, target.maxParallelRanges ?? 1);
    this.lastStateBytes = runs.stateBytes;
    const blocks = this.blocks ?? (this.blocks = await readMemoryBlockMap(this.io).catch(() => NO_BLOCKS));
    const { ranges, untrackedPages } = paddrRanges(runs, windows, samplesPerWindow, loop, blocks);
    map.ranges = mode === 'shared' ? this.confirmIdle(ranges) : ranges;
    map.untrackedPages = untrackedPages;
    map.timeMs = Date.now();
    return map;
  }

  /** Shared mode only: confirmIdle over the previous cycle's idle pages, which it then replaces. */
  private confirmIdle(ranges: AccessRanges): AccessRanges {
    const { ranges: out, idleNow } = confirmIdle(ranges, this.idleBefore);
    this.idleBefore = idleNow;
    return out;
  }

  async close(): Promise<void> {
    this.source?.close();
    this.source = undefined;
    if (this.slot !== undefined) {
      const slot = this.slot;
      this.slot = undefined;
      await this.kdamonds.release(slot);
    }
  }
}

/**
 * Whether damon-paddr can run here, and how (reads only: never a sysfs
 * write, so it never disturbs another DAMON user):
 * DAMON sysfs with paddr operations, and either a running paddr kdamond to
 * share (then tracefs must be there) or no kdamond of another user in the
 * way of one of our own.
 */
export async function probeDamonPaddr(io: PlatformIO): Promise<TrackerProbe & { mode?: PaddrMode }> {
  const name = 'damon-paddr';
  const facts = await probeDamon(io);
  if (!facts.sysfs) return { name, available: false, reason: '/sys/kernel/mm/damon/admin is missing: the kernel needs CONFIG_DAMON_SYSFS (Linux 5.18+)' };
  if (!facts.operations.includes('paddr')) {
    return { name, available: false, reason: `DAMON has no paddr operations (this kernel offers: ${facts.operations.join(' ') || 'none'}); it needs CONFIG_DAMON_PADDR` };
  }
  // Not mounted is fine (the tracker mounts it); not built is not.
  const tracefs = (await io.exists(`${TRACEFS}/${DAMON_AGGREGATED}/format`)) ||
    ((await io.exists('/proc/filesystems')) && /\ttracefs\n/.test(await io.readText('/proc/filesystems')));
  if (!tracefs) return { name, available: false, reason: `no tracefs with the damon_aggregated event (${TRACEFS}); the kernel needs CONFIG_TRACING` };
  const ours = kdamondsFor(io);
  const shared = await findSharedKdamond(io, ours);
  if (shared) {
    return { name, available: true, mode: 'shared', reason: `shared, read-only: kdamond ${shared.slot} (pid ${shared.pid}) of another DAMON user monitors ${shared.ranges.map((r) => `${(r.start / 2 ** 30).toFixed(1)}-${(r.end / 2 ** 30).toFixed(1)} GiB`).join(', ')} physical; pages outside are kept hot; precision is good for THP/clustered memory only` };
  }
  const count = Number((await io.readText(`${KDAMONDS}/nr_kdamonds`)).trim());
  for (let slot = 0; slot < count; slot++) {
    if (ours.heldSlots.includes(slot)) continue;
    const k = kdamondDir(slot);
    const configured = Number((await io.readText(`${k}/contexts/nr_contexts`)).trim()) > 0;
    const state = (await io.readText(`${k}/state`)).trim();
    if (state === 'on') {
      return { name, available: false, reason: `kdamond ${slot} of another DAMON user runs without paddr operations: nothing to share, and nr_kdamonds cannot grow while it runs (EBUSY); stop it or give it paddr operations` };
    }
    if (configured) {
      // Ours drop their context on release; a configured off kdamond is someone else's setup, possibly waiting.
      return { name, available: false, reason: `kdamond ${slot} holds another DAMON user's context (off): growing nr_kdamonds for one of our own would wipe it; clear it (nr_contexts 0) or start it with paddr operations to share` };
    }
  }
  return { name, available: true, mode: 'owned', reason: 'owned: no kdamond runs, so one of ours monitors exactly the target\'s frames' };
}

/** The registry entry: LRU guest RAM (anonymous, THP, shmem/memfd) through DAMON paddr; hugetlb targets are refused. */
export const damonPaddrTrackerEntry: TrackerEntry = {
  name: 'damon-paddr',
  engines: ['slide', 'cslide'],
  memory: 'LRU memory by physical frame: anonymous, THP, shmem/memfd; hugetlb targets refused (paddr never sees them accessed)',
  probe: async (io, _kernel) => {
    try {
      const { name, available, reason } = await probeDamonPaddr(io);
      return { name, available, reason };
    } catch (err) {
      return { name: 'damon-paddr', available: false, reason: `DAMON sysfs probe failed: ${(err as Error).message}` };
    }
  },
  create: async (io, kernel) => new DamonPaddrTracker({ io, kernel }),
};
