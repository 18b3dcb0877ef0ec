/**
 * HeatHistory (src/feed/heat-history.ts) gives back the strips it was given,
 * oldest first, the last `capacity` of them, whether they fit in bytes or
 * not, and whatever their bucket counts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeatHistory } from '../../src/feed/heat-history.js';
import { heatStrip, type HeatStrip } from '../../src/feed/heat.js';
import { seededRandom } from '../sim/synthetic.js';
import { AccessRanges } from '../../src/scan/access-ranges.js';

function randomStrip(rand: () => number, i: number, width: number): HeatStrip {
  const n = 1 + Math.floor(rand() * width);
  const pct = (): number => Math.floor(rand() * 101);
  const strip: HeatStrip = {
    pid: 100 + i, timeMs: 1_700_000_000_000 + i * 1000, totalBytes: n * 4096 * (1 + i), bucketBytes: 4096 * (1 + i),
    present: Array.from({ length: n }, pct), swapped: Array.from({ length: n }, pct), access: Array.from({ length: n }, () => (rand() < 0.2 ? -1 : pct())),
  };
  // now and then a value no byte holds: kept as given
  if (rand() < 0.05) strip.access[0] = 0.5;
  if (rand() < 0.02) strip.present[0] = 1000;
  return strip;
}

test('the last capacity strips come back equal, oldest first', () => {
  const rand = seededRandom(11);
  for (const [capacity, width] of [[1, 1], [5, 8], [120, 128]] as const) {
    const h = new HeatHistory(capacity, width);
    const pushed: HeatStrip[] = [];
    for (let i = 0; i < capacity * 3 + 2; i++) {
      // wider than `width` now and then: the ring grows its slots
      const s = randomStrip(rand, i, rand() < 0.1 ? width * 2 : width);
      h.push(s);
      pushed.push(structuredClone(s));
      assert.equal(h.length, Math.min(pushed.length, capacity));
      assert.deepEqual(h.strips(), pushed.slice(-capacity));
    }
  }
});

test('strips of summarizeMap fit in bytes and come back equal', () => {
  const map = {
    pid: 7, loop: 3, tracker: 't', timeMs: 5, vmas: [{ start: 0, end: 2 ** 30, vmFlags: [], pathname: '' }],
    ranges: AccessRanges.of(Array.from({ length: 500 }, (_, i) => ({ start: i * 2 ** 21, pageCount: 512, pageSizeBytes: 4096, accessCount: i % 4, node: 0, present: i % 3 !== 0, swapped: i % 3 === 0 && i % 2 === 0 }))),
  };
  const h = new HeatHistory(4, 128);
  const s = heatStrip(map);
  h.push(s);
  assert.deepEqual(h.strips(), [s]);
  // a copy: the caller's strip is not held
  s.present[0] = 42;
  assert.notEqual(h.strips()[0]!.present[0], 42);
});
