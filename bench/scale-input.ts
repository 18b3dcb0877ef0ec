/**
 * The scale curve's recorded-shape tracker inputs (bench/scale.ts,
 * bench/range-pass.ts): 50 guests, half on 2 MiB hugetlb, half on 4 KiB,
 * x1 = 16 GiB of guest RAM over all of them.
 */
import type { AccessMap } from '../src/scan/access-map.js';
import { AccessRanges } from '../src/scan/access-ranges.js';
import { hugetlbPool, type CslideGuest, type HostCslideInput, type NodePools } from '../src/engines/cslide-policy.js';

export const GiB = 2 ** 30;
export const M2 = 2 * 1024 * 1024;
export const GUESTS = 50;
export const BASE_TOTAL_BYTES = 16 * GiB;

/** One guest's map: `ranges` runs over `bytes`, counts 0..loop, nodes 0/2 (DRAM/AEP) and 1/3. */
export function guestMap(g: number, bytes: number, hugetlb: boolean, ranges: number, cycle: number): AccessMap {
  const pageSizeBytes = hugetlb ? M2 : 4096;
  const pages = bytes / pageSizeBytes;
  const n = Math.min(ranges, pages);
  const base = 0x7f0000000000 + g * 2 ** 40;
  // columns, as the trackers build them (src/scan/access-ranges.ts)
  const out = new AccessRanges(n);
  let at = 0;
  for (let r = 0; r < n; r++) {
    const count = Math.floor(pages / n) + (r < pages % n ? 1 : 0);
    // 20% hot, deterministic per range and cycle so every cycle plans something
    const h = (r * 2654435761 + cycle * 40503 + g) >>> 0;
    out.push(base + at * pageSizeBytes, count, pageSizeBytes, h % 5 === 0 ? 1 : 0, (g % 2) + (h % 3 === 0 ? 2 : 0), true, false);
    at += count;
  }
  return {
    pid: 10000 + g,
    loop: 1,
    tracker: 'recorded',
    timeMs: Date.now(),
    vmas: [{ start: base, end: base + bytes, vmFlags: hugetlb ? ['rd', 'wr', 'ht'] : ['rd', 'wr'], pathname: '' }],
    ranges: out,
  };
}

/** Each guest's bytes (whole 2 MiB pages: 16 GiB / 50 is not one) and ranges at `scale` under `model`. */
export function guestShape(scale: number, model: 'damon' | '2mib'): { guestBytes: number; rangesPerGuest: number } {
  const guestBytes = Math.floor((BASE_TOTAL_BYTES * scale) / GUESTS / M2) * M2;
  return { guestBytes, rangesPerGuest: model === 'damon' ? 1000 : guestBytes / M2 };
}

/**
 * The engine-wide plan's input over `guests` of `nodeBytes` per node: 2
 * DRAM + 2 AEP nodes, both pool kinds with a quarter of each node free,
 * a 1 GiB quota, no reserve, loop 1.
 */
export function planInput(guests: CslideGuest[], nodeBytes: number): HostCslideInput {
  const pool = (free: number): NodePools => ({ 0: { totalBytes: nodeBytes, freeBytes: free }, 1: { totalBytes: nodeBytes, freeBytes: free }, 2: { totalBytes: nodeBytes, freeBytes: free }, 3: { totalBytes: nodeBytes, freeBytes: free } });
  const pools = { regular: pool(nodeBytes / 4), [hugetlbPool(M2)]: pool(nodeBytes / 4) };
  return { guests, pools, nodePairs: [{ dram: 0, aep: 2 }, { dram: 1, aep: 3 }], hotThreshold: 1, quotaBytes: 1 * GiB, hotReserveBytes: 0, loop: 1 };
}
