/**
 * The damon-paddr tracker's per-page algorithm as it was at 3da8ba8 (one
 * entry per 4 KiB page; src/scan/damon-paddr.ts now works over runs of
 * frames): the reference test/unit/damon-paddr-runs.test.ts checks the runs
 * against, and the per-page baseline bench/damon-paddr.ts times them
 * against. Unchanged but for `export`.
 */
import type { AggregationWindow } from '../../src/platform/tracefs.js';
import { AccessRanges } from '../../src/scan/access-ranges.js';
import { MAX_OWNED_REGIONS, OWNED_REGION_BYTES } from '../../src/scan/damon-paddr.js';
import type { DamonRegion } from '../../src/scan/damon-sysfs.js';

const PAGE = 4096;

/** Pages of the target, one entry per 4 KiB page of the selected VMAs, in address order. */
export interface TargetPages {
  /**
   * Where each VMA's pages begin: [firstIndex0, startAddr0, firstIndex1,
   * startAddr1, ...], index order. Page i's address is its segment's start
   * + (i - firstIndex) * 4096: no 8-byte address per page.
   */
  segments: Float64Array;
  /** 0 when not present */
  pfn: Float64Array;
  /** bit 0 present, bit 1 swapped */
  flags: Uint8Array;
}

export function padded<T extends Float64Array | Uint8Array>(a: T, length: number): T {
  const out = new (a.constructor as new (n: number) => T)(length);
  out.set(a);
  return out;
}

/** Indexes of present pages, sorted by PFN (the order regions are swept in). */
export function presentByPfn(pages: TargetPages): Uint32Array {
  const n = pages.pfn.length;
  let count = 0;
  let maxPfn = 0;
  for (let i = 0; i < n; i++) {
    if ((pages.flags[i]! & 1) !== 0 && pages.pfn[i]! > 0) {
      count++;
      if (pages.pfn[i]! > maxPfn) maxPfn = pages.pfn[i]!;
    }
  }
  const out = new Uint32Array(count);
  // One key per page, pfn * n + index, sorted natively (a comparator sort
  // of every 4 KiB page costs more than the rest of the cycle); exact while
  // the keys stay below 2^53, else the comparator.
  if (maxPfn * n + n < Number.MAX_SAFE_INTEGER) {
    const keys = new Float64Array(count);
    for (let i = 0, k = 0; i < n; i++) if ((pages.flags[i]! & 1) !== 0 && pages.pfn[i]! > 0) keys[k++] = pages.pfn[i]! * n + i;
    keys.sort();
    for (let k = 0; k < count; k++) out[k] = keys[k]! % n;
    return out;
  }
  for (let i = 0, k = 0; i < n; i++) if ((pages.flags[i]! & 1) !== 0 && pages.pfn[i]! > 0) out[k++] = i;
  return out.sort((a, b) => pages.pfn[a]! - pages.pfn[b]!);
}

/** Physical ranges covering the frames (sorted PFN order), cut at 2 MiB, coalesced over the smallest gaps beyond `maxRegions`. */
export function pfnRegions(pages: TargetPages, order: Uint32Array, maxRegions = MAX_OWNED_REGIONS): DamonRegion[] {
  let runs: DamonRegion[] = [];
  for (const i of order) {
    const start = pages.pfn[i]! * PAGE;
    const last = runs[runs.length - 1];
    if (last && last.end === start && start % OWNED_REGION_BYTES !== 0) last.end = start + PAGE;
    else if (last && last.end > start) continue; // one frame mapped twice (shared memory)
    else runs.push({ start, end: start + PAGE });
  }
  for (let gap = PAGE; runs.length > maxRegions; gap *= 2) {
    const merged: DamonRegion[] = [];
    for (const r of runs) {
      const last = merged[merged.length - 1];
      if (last && r.start - last.end <= gap) last.end = r.end;
      else merged.push({ ...r });
    }
    runs = merged;
  }
  return runs;
}

/**
 * Adds one window's counts to each page: the fraction of the window's
 * samples in which the region holding the page's frame was accessed.
 * Pages are visited in address order and their region found by binary
 * search over the window's regions (address order, no overlap), after a
 * check of the region the previous page hit: neighbouring pages usually
 * have neighbouring frames (THP, fresh anonymous memory), so most pages
 * cost one comparison. O(pages x log regions) without sorting the pages
 * by PFN, which cost more than the rest of a cycle (docs/benchmarks.md).
 * Pages no region holds are left uncovered.
 */
export function accumulateWindow(window: AggregationWindow, pages: TargetPages, samplesPerWindow: number, fractionSum: Float32Array, windowsSeen: Uint16Array): void {
  const regions = window.regions;
  const nr = regions.length;
  if (nr === 0) return;
  const starts = new Float64Array(nr);
  const ends = new Float64Array(nr);
  const fraction = new Float32Array(nr);
  for (let r = 0; r < nr; r++) {
    starts[r] = regions[r]!.start;
    ends[r] = regions[r]!.end;
    fraction[r] = Math.min(1, regions[r]!.nrAccesses / samplesPerWindow);
  }
  const pfn = pages.pfn;
  const flags = pages.flags;
  let last = 0;
  for (let i = 0; i < pfn.length; i++) {
    if ((flags[i]! & 1) === 0 || pfn[i] === 0) continue;
    const phys = pfn[i]! * PAGE;
    let r = last;
    if (!(phys >= starts[r]! && phys < ends[r]!)) {
      // first region whose end is past phys
      let lo = 0;
      let hi = nr;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (ends[mid]! <= phys) lo = mid + 1;
        else hi = mid;
      }
      if (lo >= nr || starts[lo]! > phys) continue;
      r = lo;
      last = lo;
    }
    fractionSum[i]! += fraction[r]!;
    windowsSeen[i]!++;
  }
}

/** Ranges of equal count, node and state; uncovered present pages are reported accessed in every scan (`loop`), never cold. */
export function buildPaddrRanges(pages: TargetPages, fractionSum: Float32Array, windowsSeen: Uint16Array, loop: number, nodeOf: (pfn: number) => number): { ranges: AccessRanges; untrackedPages: number } {
  const ranges = new AccessRanges();
  let untrackedPages = 0;
  const segs = pages.segments;
  let seg = 0;
  for (let i = 0; i < pages.pfn.length; i++) {
    while (seg + 2 < segs.length && segs[seg + 2]! <= i) seg += 2;
    const present = (pages.flags[i]! & 1) !== 0;
    const swapped = (pages.flags[i]! & 2) !== 0;
    if (!present && !swapped) continue;
    let accessCount = 0;
    if (present) {
      const seen = windowsSeen[i]!;
      if (seen === 0) untrackedPages++;
      accessCount = seen === 0 ? loop : Math.min(loop, Math.round((fractionSum[i]! / seen) * loop));
    }
    const node = present ? nodeOf(pages.pfn[i]!) : -1;
    const addr = segs[seg + 1]! + (i - segs[seg]!) * PAGE;
    ranges.appendPage(addr, PAGE, accessCount, node, present, swapped);
  }
  return { ranges, untrackedPages };
}
