/**
 * The trackers' node query (src/scan/page-nodes.ts): move_pages in bounded
 * chunks over the present pages a cursor walks, each page's node kept, and
 * lookups by address in range-building (ascending) order; a lookup below
 * the last one walks again; an address the cursor never gave is -1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pageNodeLookup, type PresentCursor } from '../../src/scan/page-nodes.js';
import { PageIdleState } from '../../src/scan/page-idle.js';

const K4 = 4096;

function cursorOver(addrs: Float64Array): () => PresentCursor {
  return () => {
    let k = 0;
    return { next: () => (k < addrs.length ? addrs[k++]! : NaN) };
  };
}

test('the node query asks in chunks of at most chunkPages, and each page gets its node (move_pages stood in by a function that records each call)', async () => {
  const count = 150_000;
  const addrs = Float64Array.from({ length: count }, (_, k) => 0x7f0000000000 + k * 3 * K4);
  const nodeOfAddr = (a: number): number => ((a / K4) % 7 === 0 ? -14 : Math.floor(a / K4) % 4); // -14: EFAULT, not placed
  const calls: number[] = [];
  const lookup = await pageNodeLookup(async (_pid, q) => {
    calls.push(q.length);
    return Int32Array.from(q, nodeOfAddr);
  }, 42, count, cursorOver(addrs), 65536);
  assert.deepEqual(calls, [65536, 65536, 150_000 - 2 * 65536]);
  for (let k = 0; k < count; k += 1) {
    const want = nodeOfAddr(addrs[k]!);
    assert.equal(lookup(addrs[k]!), want < 0 ? -1 : want);
  }
  assert.equal(lookup(addrs[10]! + K4), -1, 'an address between present pages');
  assert.equal(lookup(addrs[5]!), nodeOfAddr(addrs[5]!) < 0 ? -1 : nodeOfAddr(addrs[5]!), 'a lookup below the last walks again');
  assert.equal(lookup(addrs[count - 1]! + K4), -1, 'past the last page');
});

test('no present page: no move_pages call', async () => {
  let called = false;
  const lookup = await pageNodeLookup(async () => ((called = true), new Int32Array(0)), 1, 0, cursorOver(new Float64Array(0)));
  assert.equal(called, false);
  assert.equal(lookup(0x1000), -1);
});

test('page_idle: the cursor walks the present pages of every VMA in address order', () => {
  const vmas = [{ start: 0x600000000, end: 0x600000000 + 8 * K4 }, { start: 0x700000000, end: 0x700000000 + 4 * K4 }];
  const state = new PageIdleState(vmas, 1);
  // pagemap: bit 63 present, PFN in the low 55 bits; pages 1, 2, 7 of the first VMA and 0, 3 of the second
  const present = new Set([1, 2, 7, 8, 11]);
  const buf = Buffer.alloc(12 * 8);
  for (let i = 0; i < 12; i++) if (present.has(i)) buf.writeBigUInt64LE((1n << 63n) | BigInt(1000 + i), i * 8);
  state.decode(buf, 0, 12);
  const c = state.presentCursor();
  const got: number[] = [];
  for (let a = c.next(); !Number.isNaN(a); a = c.next()) got.push(a);
  assert.deepEqual(got, [0x600000000 + K4, 0x600000000 + 2 * K4, 0x600000000 + 7 * K4, 0x700000000, 0x700000000 + 3 * K4]);
  assert.equal(state.presentCount(), 5);
});
