/**
 * summarizeMap (src/feed/heat.ts) gives exactly what the summarizeMap of
 * 3da8ba8 gave (before issue 11's cut: a range inside the bucket the last
 * one ended in skips the bucket division): the same totals and strips on
 * seeded random maps of several VMAs (unsorted now and then), ranges
 * inside one bucket, across buckets and across a VMA's end, ranges outside
 * every VMA or overlapping the last, present, swapped and neither, access
 * counts above the loop, and bucket counts from 1 to more than the pages.
 * The old code's answers are kept as a SHA-256 of their JSON, map by map
 * in order (computed from 3da8ba8's summarizeMap when this test was
 * written, as test/unit/cslide-policy-equal.test.ts keeps its plans), not
 * as a copy of that code.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { summarizeMap } from '../../src/feed/heat.js';
import type { AccessMap } from '../../src/scan/access-map.js';
import { AccessRanges } from '../../src/scan/access-ranges.js';
import { seededRandom } from '../sim/synthetic.js';

const K4 = 4096;
const M2 = 2 * 1024 * 1024;

function randomMap(rand: () => number, i: number): { map: AccessMap; buckets: number } {
  const int = (k: number): number => Math.floor(rand() * k);
  const loop = 1 + int(4);
  const vmas: AccessMap['vmas'] = [];
  const ranges = new AccessRanges();
  let at = 0x7f0000000000 + int(1000) * M2;
  const nv = 1 + int(4);
  for (let v = 0; v < nv; v++) {
    const size = rand() < 0.5 ? M2 : K4;
    const vmaStart = at;
    // long runs of small ranges (many per bucket, as DAMON's regions) or a few big ones
    const nr = rand() < 0.3 ? int(5) : int(rand() < 0.5 ? 60 : 1500);
    for (let r = 0; r < nr; r++) {
      const pageCount = 1 + int(rand() < 0.8 ? 4 : rand() < 0.5 ? 200 : 5000);
      const state = rand();
      const accessCount = rand() < 0.05 ? 3 * loop : int(loop + 1);
      ranges.push(at, pageCount, size, accessCount, int(4) - 1, state < 0.8, state >= 0.8 && state < 0.93);
      // gaps now and then (pages not mapped), contiguous mostly
      at += pageCount * size + (rand() < 0.1 ? size * int(8) : 0);
      // now and then the next range starts back inside this one (no tracker does that; the strip must not change)
      if (rand() < 0.02) at = Math.max(vmaStart, at - size * (1 + int(pageCount + 600)));
    }
    // the VMA ends before, at or after the last range (a range across its end is cut)
    const tail = rand();
    const vmaEnd = tail < 0.15 ? Math.max(vmaStart + size, at - size * int(3)) : tail < 0.3 ? at + size * (1 + int(6)) : Math.max(at, vmaStart + size);
    vmas.push({ start: vmaStart, end: vmaEnd, vmFlags: ['rd', 'wr'], pathname: '' });
    at = Math.max(at, vmaEnd) + (rand() < 0.5 ? 0 : M2 * (1 + int(4)));
  }
  // a range past every VMA (should not happen, must not count in the strip)
  if (rand() < 0.1) ranges.push(at + M2, 3, K4, 1, 0, true, false);
  // VMAs listed out of address order now and then: summarizeMap sorts a copy
  if (rand() < 0.1) vmas.reverse();
  const b = rand();
  const buckets = b < 0.1 ? 1 : b < 0.2 ? 1 + int(7) : b < 0.3 ? 100_000 : b < 0.8 ? 128 : 1 + int(400);
  return { map: { pid: 100 + i, loop, tracker: 'synthetic', timeMs: 1_700_000_000_000 + i, vmas, ranges }, buckets };
}

/** SHA-256 of 3da8ba8's summarizeMap over the maps below, JSON of each summary in order. */
const RANDOM_MAPS_DIGEST = '37b926b796a99c79e85f6244816aafbaeb480e740f317cfad5726bf9475f5f90';
const BENCH_SHAPE_DIGEST = 'db6da3703adecc163c1eb3e15fe7767cee1e2492db28fea70af8d92e1fc45485';

test('summarizeMap: the totals and strip of 3da8ba8, on 3000 seeded random maps', () => {
  const rand = seededRandom(311);
  const digest = createHash('sha256');
  for (let i = 0; i < 3000; i++) {
    const { map, buckets } = randomMap(rand, i);
    digest.update(JSON.stringify(summarizeMap(map, buckets)));
  }
  assert.equal(digest.digest('hex'), RANDOM_MAPS_DIGEST);
});

test('summarizeMap: the strip of 3da8ba8 for the bench\'s shape (1000 DAMON regions over a 320 MiB guest)', () => {
  const rand = seededRandom(7);
  const digest = createHash('sha256');
  for (const pageSize of [K4, M2]) {
    const bytes = 163 * M2;
    const pages = bytes / pageSize;
    const ranges = new AccessRanges(1000);
    let at = 0;
    for (let r = 0; r < 1000; r++) {
      const count = Math.floor(pages / 1000) + (r < pages % 1000 ? 1 : 0);
      ranges.push(0x7f0000000000 + at * pageSize, count, pageSize, rand() < 0.2 ? 1 : 0, Math.floor(rand() * 4), true, false);
      at += count;
    }
    const map: AccessMap = { pid: 1, loop: 1, tracker: 'recorded', timeMs: 5, vmas: [{ start: 0x7f0000000000, end: 0x7f0000000000 + bytes, vmFlags: [], pathname: '' }], ranges };
    digest.update(JSON.stringify(summarizeMap(map, 128)));
  }
  assert.equal(digest.digest('hex'), BENCH_SHAPE_DIGEST);
});
