import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AccessRanges, type AccessRange } from '../../src/scan/access-ranges.js';

const K4 = 4096;
const M2 = 2 * 1024 * 1024;

test('appendPage lengthens the last range only for the next page of the same size, count, node and state', () => {
  const r = new AccessRanges(1);
  r.appendPage(0, K4, 2, 0, true, false);
  r.appendPage(K4, K4, 2, 0, true, false); // merges
  r.appendPage(3 * K4, K4, 2, 0, true, false); // gap
  r.appendPage(4 * K4, K4, 1, 0, true, false); // count
  r.appendPage(5 * K4, K4, 1, 1, true, false); // node
  r.appendPage(6 * K4, K4, 1, 1, false, true); // state
  r.appendPage(7 * K4, K4, 1, 1, false, false); // swapped differs
  r.appendPage(8 * K4, M2, 1, 1, false, false); // page size (it would end where the last ends in 4 KiB units)
  assert.deepEqual(r.toArray().map((x) => [x.start / K4, x.pageCount, x.pageSizeBytes, x.accessCount, x.node, x.present, x.swapped]), [
    [0, 2, K4, 2, 0, true, false],
    [3, 1, K4, 2, 0, true, false],
    [4, 1, K4, 1, 0, true, false],
    [5, 1, K4, 1, 1, true, false],
    [6, 1, K4, 1, 1, false, true],
    [7, 1, K4, 1, 1, false, false],
    [8, 1, M2, 1, 1, false, false],
  ]);
});

test('columns grow past the first capacity and keep what was written', () => {
  const r = new AccessRanges(2);
  const n = 1000;
  for (let i = 0; i < n; i++) r.push(0x7f0000000000 + i * 2 * K4, 1 + (i % 7), K4, i % 5, (i % 4) - 1, i % 3 !== 0, i % 3 === 0);
  assert.equal(r.length, n);
  for (const i of [0, 1, 2, 511, 999]) {
    assert.deepEqual(r.get(i), { start: 0x7f0000000000 + i * 2 * K4, pageCount: 1 + (i % 7), pageSizeBytes: K4, accessCount: i % 5, node: (i % 4) - 1, present: i % 3 !== 0, swapped: i % 3 === 0 });
  }
  assert.equal(r.starts[999], 0x7f0000000000 + 999 * 2 * K4);
  assert.equal(r.isPresent(3), false);
  assert.equal(r.isSwapped(3), true);
});

test('of, toJSON, clone and filter: the object form round-trips and copies are independent', () => {
  const objects: AccessRange[] = [
    { start: 0x1000, pageCount: 3, pageSizeBytes: K4, accessCount: 4, node: 2, present: true, swapped: false },
    { start: 0x200000, pageCount: 1, pageSizeBytes: M2, accessCount: 0, node: -1, present: false, swapped: true },
  ];
  const r = AccessRanges.of(objects);
  assert.deepEqual([...r], objects);
  assert.deepEqual(JSON.parse(JSON.stringify({ ranges: r })), { ranges: objects });
  const copy = r.clone();
  r.push(0x400000, 1, M2, 1, 0, true, false);
  assert.equal(copy.length, 2);
  assert.deepEqual(copy.toArray(), objects);
  assert.deepEqual(r.filter((x) => x.present).toArray().map((x) => x.start), [0x1000, 0x400000]);
});

test('get outside the ranges is a RangeError naming the allowed indexes', () => {
  const r = AccessRanges.of([{ start: 0, pageCount: 1, pageSizeBytes: K4, accessCount: 0, node: 0, present: true, swapped: false }]);
  assert.throws(() => r.get(1), { name: 'RangeError', message: 'range index 1 is outside 0..0' });
  assert.throws(() => r.get(-1), RangeError);
});

test('appendPages merges a run of pages as appendPage merges them one by one', () => {
  const byRuns = new AccessRanges();
  const byPages = new AccessRanges();
  const runs: Array<[number, number, number, number, boolean, boolean]> = [
    [0, 3, 1, 0, true, false], [3, 2, 1, 0, true, false], [5, 4, 0, 0, true, false], [10, 1, 0, 0, true, false], [11, 2, 0, -1, false, true],
  ];
  for (const [page, pages, count, node, present, swapped] of runs) {
    byRuns.appendPages(page * K4, pages, K4, count, node, present, swapped);
    for (let k = 0; k < pages; k++) byPages.appendPage((page + k) * K4, K4, count, node, present, swapped);
  }
  assert.deepEqual(byRuns.toArray(), byPages.toArray());
  assert.deepEqual(byRuns.toArray().map((r) => [r.start / K4, r.pageCount]), [[0, 5], [5, 4], [10, 1], [11, 2]]);
});
