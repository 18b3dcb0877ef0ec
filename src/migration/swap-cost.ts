/**
 * What one swap-in costs on this host, measured on memory of our own, never
 * the guest's (reading a guest's swapped page would bring it back):
 * allocate a buffer, fill it with page-like data (part random, part zero,
 * so zram compresses it as it would guest pages), find its pages in
 * /proc/self/maps (the region that appeared with it), page it out with
 * process_madvise(MADV_PAGEOUT) to whatever swap the host uses, and time
 * reading one byte of each page back: each read is a major fault and a
 * swap-in, as QEMU's migration thread takes when it reads a swapped guest
 * page. Returns undefined when nothing was swapped out (no swap device).
 */
import { randomFillSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { KernelOps } from '../native/kernel.js';
import { countPages, PAGE_IS, scanPages } from '../native/pagemap.js';

const PAGE = 4096;

export interface SwapInCost {
  /** µs per swap-in, median over the measured pages' batches */
  perPageUs: number;
  pages: number;
}

function anonRanges(): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const line of readFileSync('/proc/self/maps', 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) rw-p 00000000 00:00 0\s*$/.exec(line);
    if (m) out.push([parseInt(m[1]!, 16), parseInt(m[2]!, 16)]);
  }
  return out;
}

/** Address ranges in `after` not covered by `before` (the mapping a large allocation added or grew). */
function newRanges(before: Array<[number, number]>, after: Array<[number, number]>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const [s, e] of after) {
    let cur = s;
    for (const [bs, be] of before) {
      if (be <= cur || bs >= e) continue;
      if (bs > cur) out.push([cur, bs]);
      cur = Math.max(cur, be);
    }
    if (cur < e) out.push([cur, e]);
  }
  return out;
}

export async function measureSwapInCost(kernel: Pick<KernelOps, 'pageout' | 'pagemapScan' | 'readPagemap'>, pages = 4096): Promise<SwapInCost | undefined> {
  const before = anonRanges();
  // a fresh mmap'd allocation (far above glibc's mmap threshold), touched page by page below
  const buf = Buffer.allocUnsafeSlow(pages * PAGE);
  const added = newRanges(before, anonRanges()).filter(([s, e]) => e - s >= (pages / 2) * PAGE);
  if (added.length !== 1) return undefined;
  const [start, end] = added[0]!;
  for (let p = 0; p < pages; p++) {
    randomFillSync(buf, p * PAGE, PAGE / 2);
    buf.fill(0, p * PAGE + PAGE / 2, (p + 1) * PAGE);
  }
  await kernel.pageout(process.pid, new Float64Array([start, end - start]));
  const scan = await scanPages(process.pid, start, end, { returnMask: PAGE_IS.SWAPPED }, kernel);
  const swapped = countPages(scan.regions, PAGE_IS.SWAPPED);
  if (swapped < pages / 4) return undefined;
  // batches of 256 pages: the median batch hides a page that another thread faulted first
  const batchUs: number[] = [];
  let sink = 0;
  for (let p = 0; p < pages; p += 256) {
    const t0 = process.hrtime.bigint();
    for (let q = p; q < Math.min(pages, p + 256); q++) sink += buf[q * PAGE]!;
    batchUs.push(Number(process.hrtime.bigint() - t0) / 1000 / Math.min(256, pages - p));
  }
  batchUs.sort((a, b) => a - b);
  void sink;
  return { perPageUs: (batchUs[batchUs.length >> 1]! * pages) / swapped, pages: swapped };
}
