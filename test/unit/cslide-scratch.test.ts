/**
 * The planner's memory between plans follows what plans use: after plans
 * of a large engine (200K ranges), plans of a small one give the chunk
 * rows, scratch and node lists back within two windows of
 * SHRINK_WINDOW_PLANS plans (it never shrank: a host that once tracked much kept that memory
 * for the daemon's life); plans of one size keep theirs; and what a plan
 * plans does not depend on either. The large plans are made in full (every
 * range a row, as with shares: `allRows`), as a bound
 * plan keeps little of them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hugetlbPool, planHostCslide, plannerScratchBytes, type CslideGuest, type HostCslideInput, type NodePools } from '../../src/engines/cslide-policy.js';
import { SHRINK_WINDOW_PLANS } from '../../src/engines/cslide-chunks.js';
import { AccessRanges } from '../../src/scan/access-ranges.js';

const M2 = 2 * 1024 * 1024;

/** One guest of `ranges` 2 MiB hugetlb pages, every other one hot, alternating DRAM (0) and AEP (1). */
function engine(ranges: number): HostCslideInput {
  const base = 0x7f0000000000;
  const out = new AccessRanges(ranges);
  for (let r = 0; r < ranges; r++) out.push(base + r * M2, 1, M2, r % 2, r % 3 === 0 ? 1 : 0, true, false);
  const guest: CslideGuest = {
    key: 'vm',
    accessMap: { pid: 4242, loop: 1, tracker: 'recorded', timeMs: 0, vmas: [{ start: base, end: base + ranges * M2, vmFlags: ['rd', 'wr', 'ht'], pathname: '' }], ranges: out },
  };
  const bytes = ranges * M2;
  const pool: NodePools = { 0: { totalBytes: bytes, freeBytes: bytes / 4 }, 1: { totalBytes: bytes, freeBytes: bytes / 4 } };
  return { guests: [guest], pools: { [hugetlbPool(M2)]: pool }, nodePairs: [{ dram: 0, aep: 1 }], hotThreshold: 1, quotaBytes: 64 * M2, hotReserveBytes: 0, loop: 1 };
}

const FULL = { allRows: true };
const movesOf = (input: HostCslideInput, opts = {}): string => JSON.stringify(planHostCslide(input, opts).moves);

test('cslide planner: memory held between plans falls back within two windows of SHRINK_WINDOW_PLANS plans once plans are small, and stays while they are not', () => {
  const big = engine(200_000);
  const small = engine(100);
  const smallMoves = movesOf(small);
  // Two full windows of large plans: the tables grow to the large engine and stay.
  for (let i = 0; i < 2 * SHRINK_WINDOW_PLANS; i++) planHostCslide(big, FULL);
  const held = plannerScratchBytes();
  // 200K rows of 36 bytes, plus their lists
  assert.ok(held > 200_000 * 36, `large plans hold ${held} bytes`);
  const bigMoves = movesOf(big, FULL);
  for (let i = 0; i < SHRINK_WINDOW_PLANS; i++) planHostCslide(big, FULL);
  assert.equal(plannerScratchBytes(), held, 'plans of one size neither give memory back nor take more');
  // Small plans: within two windows (the current one may have begun with large plans) the memory is back.
  const after: number[] = [];
  for (let i = 0; i < 2 * SHRINK_WINDOW_PLANS + 1; i++) {
    assert.equal(movesOf(small), smallMoves, `small plan ${i} plans as the first did`);
    after.push(plannerScratchBytes());
  }
  const last = after[after.length - 1]!;
  assert.ok(last < held / 20, `after ${after.length} small plans the planner still holds ${last} of ${held} bytes`);
  // Back to large: it grows again and plans as before.
  assert.equal(movesOf(big, FULL), bigMoves);
  assert.ok(plannerScratchBytes() > 200_000 * 36);
  // and a bound plan of it plans the same
  assert.equal(movesOf(big), bigMoves);
});
