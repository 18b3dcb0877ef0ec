/**
 * A heat strip of a process's tracked memory: the AccessMap's VMAs laid end
 * to end (gaps between VMAs left out) and cut into equal buckets; per
 * bucket, which share is present, which is swapped, and how often its
 * present pages were accessed in the cycle (mean accessCount / loop). It is
 * what the live view draws as the guest-RAM heat map; small enough to send
 * every second (integers 0..100).
 *
 * Pure: AccessMap in, numbers out.
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
  // Offsets of each VMA once the VMAs are laid end to end.
  const vmas = [...map.vmas].sort((a, b) => a.start - b.start);
  let totalBytes = 0;
  const vmaOffset: Array<{ start: number; end: number; offset: number }> = [];
  for (const v of vmas) {
    vmaOffset.push({ start: v.start, end: v.end, offset: totalBytes });
    totalBytes += v.end - v.start;
  }
  const n = Math.max(1, Math.min(buckets, Math.floor(totalBytes / 4096) || 1));
  const bucketBytes = Math.max(1, Math.ceil(totalBytes / n));
  const presentBytes = new Float64Array(n);
  const swappedBytes = new Float64Array(n);
  const accessWeighted = new Float64Array(n);
  const loop = Math.max(1, map.loop);
  let vi = 0;
  for (const r of map.ranges) {
    if (!r.present && !r.swapped) continue;
    while (vi < vmaOffset.length && vmaOffset[vi]!.end <= r.start) vi++;
    const vma = vmaOffset[vi];
    if (!vma || r.start < vma.start) continue; // a range outside every VMA (should not happen)
    let pos = vma.offset + (r.start - vma.start);
    const end = Math.min(pos + r.pageCount * r.pageSizeBytes, vma.offset + (vma.end - vma.start));
    // idle_pages counts a written scan as 3 (etmem's weights): a strip shows "accessed in every scan" at most.
    const ratio = Math.min(1, r.accessCount / loop);
    while (pos < end) {
      const b = Math.min(n - 1, Math.floor(pos / bucketBytes));
      const chunk = Math.min(end, (b + 1) * bucketBytes) - pos;
      if (chunk <= 0) break;
      if (r.present) {
        presentBytes[b]! += chunk;
        accessWeighted[b]! += chunk * ratio;
      } else swappedBytes[b]! += chunk;
      pos += chunk;
    }
  }
  const size = (b: number): number => Math.max(1, Math.min(bucketBytes, totalBytes - b * bucketBytes));
  const pct = (x: number): number => Math.min(100, Math.round(x * 100));
  return {
    pid: map.pid,
    timeMs: map.timeMs,
    totalBytes,
    bucketBytes,
    present: Array.from(presentBytes, (v, b) => pct(v / size(b))),
    swapped: Array.from(swappedBytes, (v, b) => pct(v / size(b))),
    access: Array.from(accessWeighted, (v, b) => (presentBytes[b]! > 0 ? pct(v / presentBytes[b]!) : -1)),
  };
}

/** Present and swapped bytes of a map (what a cycle saw). */
export function mapTotals(map: AccessMap): { presentBytes: number; swappedBytes: number } {
  let presentBytes = 0;
  let swappedBytes = 0;
  for (const r of map.ranges) {
    const bytes = r.pageCount * r.pageSizeBytes;
    if (r.present) presentBytes += bytes;
    else if (r.swapped) swappedBytes += bytes;
  }
  return { presentBytes, swappedBytes };
}
