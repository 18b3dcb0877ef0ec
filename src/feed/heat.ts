/**
 * A heat strip of a process's tracked memory: the AccessMap's VMAs laid end
 * to end (gaps between VMAs left out) and cut into equal buckets; per
 * bucket, which share is present, which is swapped, and how often its
 * present pages were accessed in the cycle (mean accessCount / loop). It is
 * what the live view draws as the guest-RAM heat map; small enough to send
 * every second (integers 0..100).
 *
 * Pure: AccessMap in, numbers out (the per-bucket sums are scratch arrays
 * reused between calls, never returned).
 */
import type { AccessMap } from '../scan/access-map.js';

export const DEFAULT_HEAT_BUCKETS = 128;

export interface HeatStrip {
  pid: number;
  timeMs: number;
  /** bytes of memory the strip covers (sum of the scanned VMAs) */
  totalBytes: number;
  /** bytes per bucket (the last bucket may cover less) */
  bucketBytes: number;
  /** per bucket, percent of its bytes present */
  present: number[];
  /** per bucket, percent of its bytes swapped out */
  swapped: number[];
  /** per bucket, mean accessCount/loop of its present bytes in percent; -1 when nothing is present */
  access: number[];
}

/** Builds the strip; `buckets` is clamped to the number of 4 KiB pages covered (at least 1). */
export function heatStrip(map: AccessMap, buckets = DEFAULT_HEAT_BUCKETS): HeatStrip {
  return summarizeMap(map, buckets).heat;
}

/** Present and swapped bytes of a map (what a cycle saw). */
export function mapTotals(map: AccessMap): { presentBytes: number; swappedBytes: number } {
  let presentBytes = 0;
  let swappedBytes = 0;
  const { pageCounts, pageSizes, flags } = map.ranges;
  for (let i = 0; i < map.ranges.length; i++) {
    const bytes = pageCounts[i]! * pageSizes[i]!;
    if (flags[i]! & 1) presentBytes += bytes;
    else if (flags[i]! & 2) swappedBytes += bytes;
  }
  return { presentBytes, swappedBytes };
}

/** What the scan observer keeps of one cycle, from one pass over the map's ranges. */
export interface MapSummary {
  presentBytes: number;
  swappedBytes: number;
  heat: HeatStrip;
}

// Per-bucket sums, reused by every call (the strip itself is copied out into fresh arrays).
let presentScratch = new Float64Array(DEFAULT_HEAT_BUCKETS);
let swappedScratch = new Float64Array(DEFAULT_HEAT_BUCKETS);
let accessScratch = new Float64Array(DEFAULT_HEAT_BUCKETS);

/**
 * heatStrip and mapTotals in one pass over the ranges' columns: the
 * observer runs this on every guest's map every cycle (issue 11,
 * bench/scale.ts).
 */
export function summarizeMap(map: AccessMap, buckets = DEFAULT_HEAT_BUCKETS): MapSummary {
  // Offsets of each VMA once the VMAs are laid end to end (trackers list VMAs in address order: no copy then).
  let vmas = map.vmas;
  for (let i = 1; i < vmas.length; i++) {
    if (vmas[i]!.start < vmas[i - 1]!.start) {
      vmas = [...vmas].sort((a, b) => a.start - b.start);
      break;
    }
  }
  const nv = vmas.length;
  const vmaStart = new Float64Array(nv);
  const vmaEnd = new Float64Array(nv);
  const vmaOffset = new Float64Array(nv);
  let totalBytes = 0;
  for (let i = 0; i < nv; i++) {
    const v = vmas[i]!;
    vmaStart[i] = v.start;
    vmaEnd[i] = v.end;
    vmaOffset[i] = totalBytes;
    totalBytes += v.end - v.start;
  }
  const n = Math.max(1, Math.min(buckets, Math.floor(totalBytes / 4096) || 1));
  const bucketBytes = Math.max(1, Math.ceil(totalBytes / n));
  if (presentScratch.length < n) {
    presentScratch = new Float64Array(n);
    swappedScratch = new Float64Array(n);
    accessScratch = new Float64Array(n);
  }
  const presentB = presentScratch;
  const swappedB = swappedScratch;
  const accessW = accessScratch;
  presentB.fill(0, 0, n);
  swappedB.fill(0, 0, n);
  accessW.fill(0, 0, n);
  const loop = Math.max(1, map.loop);
  const count = map.ranges.length;
  const { starts, pageCounts, pageSizes, accessCounts, flags } = map.ranges;
  let presentBytes = 0;
  let swappedBytes = 0;
  let vi = 0;
  // The bucket the last range ended in, [curStart, curEnd), and its three sums, held in locals
  // while ranges land in it and written back when the walk moves on. Positions are byte offsets,
  // integers below 2^53, so floor(pos / bucketBytes) is the exact quotient: a pos in
  // [b, b+1) * bucketBytes is in bucket b, and a range that crosses a bucket's end goes on in
  // the next one. The bucket division is left for a range that starts elsewhere (after a gap,
  // the first range), and each bucket's sums take the same terms in the same order as in the
  // division-per-chunk loop of 3da8ba8, so they are the same numbers
  // (test/unit/heat-summary-equal.test.ts).
  let cur = 0;
  let curStart = 0;
  let curEnd = 0;
  let curPresent = 0;
  let curSwapped = 0;
  let curAccess = 0;
  for (let i = 0; i < count; i++) {
    const f = flags[i]!;
    const present = (f & 1) !== 0;
    const bytes = pageCounts[i]! * pageSizes[i]!;
    if (present) presentBytes += bytes;
    else if (f & 2) swappedBytes += bytes;
    else continue;
    const start = starts[i]!;
    while (vi < nv && vmaEnd[vi]! <= start) vi++;
    if (vi >= nv || start < vmaStart[vi]!) continue; // a range outside every VMA (should not happen)
    let pos = vmaOffset[vi]! + (start - vmaStart[vi]!);
    const end = Math.min(pos + bytes, vmaOffset[vi]! + (vmaEnd[vi]! - vmaStart[vi]!));
    // idle_pages counts a written scan as 3 (etmem's weights): a strip shows "accessed in every scan" at most.
    const ratio = Math.min(1, accessCounts[i]! / loop);
    if (!(pos >= curStart && pos < curEnd)) {
      presentB[cur] = curPresent;
      swappedB[cur] = curSwapped;
      accessW[cur] = curAccess;
      cur = Math.min(n - 1, Math.floor(pos / bucketBytes));
      curStart = cur * bucketBytes;
      curEnd = (cur + 1) * bucketBytes;
      curPresent = presentB[cur]!;
      curSwapped = swappedB[cur]!;
      curAccess = accessW[cur]!;
    }
    // Within the bucket (most ranges when a bucket holds many): the loop's one chunk, its same terms.
    if (end <= curEnd) {
      if (end > pos) {
        const chunk = end - pos;
        if (present) {
          curPresent += chunk;
          curAccess += chunk * ratio;
        } else curSwapped += chunk;
      }
      continue;
    }
    while (pos < end) {
      const chunk = Math.min(end, curEnd) - pos;
      if (chunk <= 0) break;
      if (present) {
        curPresent += chunk;
        curAccess += chunk * ratio;
      } else curSwapped += chunk;
      pos += chunk;
      // on into the next bucket (the last bucket ends at or after totalBytes: nothing is past it)
      if (pos >= end || cur === n - 1) break;
      presentB[cur] = curPresent;
      swappedB[cur] = curSwapped;
      accessW[cur] = curAccess;
      cur++;
      curStart = curEnd;
      curEnd = (cur + 1) * bucketBytes;
      curPresent = presentB[cur]!;
      curSwapped = swappedB[cur]!;
      curAccess = accessW[cur]!;
    }
  }
  presentB[cur] = curPresent;
  swappedB[cur] = curSwapped;
  accessW[cur] = curAccess;
  const pct = (x: number): number => Math.min(100, Math.round(x * 100));
  const presentPct = new Array<number>(n);
  const swappedPct = new Array<number>(n);
  const accessPct = new Array<number>(n);
  for (let b = 0; b < n; b++) {
    const size = Math.max(1, Math.min(bucketBytes, totalBytes - b * bucketBytes));
    presentPct[b] = pct(presentB[b]! / size);
    swappedPct[b] = pct(swappedB[b]! / size);
    accessPct[b] = presentB[b]! > 0 ? pct(accessW[b]! / presentB[b]!) : -1;
  }
  return {
    presentBytes,
    swappedBytes,
    heat: { pid: map.pid, timeMs: map.timeMs, totalBytes, bucketBytes, present: presentPct, swapped: swappedPct, access: accessPct },
  };
}
