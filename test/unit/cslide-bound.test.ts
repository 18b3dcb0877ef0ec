/**
 * Bound plans (src/engines/cslide-chunks.ts NodeRows.offer): a plan without
 * shares keeps each count bucket's rows only up to the
 * quota's worth and a tail, and plans exactly what the plan with every row
 * plans. Checked on seeded random engines of every pool kind, THP and
 * 4 KiB pages mixed in one VMA (where a step steps over a page too big for
 * what is left), quotas from none to more than everything; with the tail
 * forced to 0 the steps read past the cut, and the plan must notice
 * (NeedAllRows) and plan in full, never plan from the cut list.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hugetlbPool, lastPlanRows, planHostCslide, type CslideGuest, type HostCslideInput, type NodePools } from '../../src/engines/cslide-policy.js';
import type { AccessRange } from '../../src/scan/access-map.js';
import { AccessRanges } from '../../src/scan/access-ranges.js';
import { seededRandom } from '../sim/synthetic.js';

const K4 = 4096;
const M2 = 2 * 1024 * 1024;

function randomInput(rand: () => number): HostCslideInput {
  const int = (n: number): number => Math.floor(rand() * n);
  const loop = 1 + int(3);
  const guests: CslideGuest[] = [];
  for (let g = 0, ng = 1 + int(5); g < ng; g++) {
    const base = 0x7f0000000000 + g * 2 ** 40;
    const vmas = [];
    const ranges: AccessRange[] = [];
    let at = base;
    for (let v = 0, nv = 1 + int(3); v < nv; v++) {
      // hugetlb 2 MiB, 4 KiB anonymous, THP (2 MiB pages in regular memory), or THP and 4 KiB mixed
      const kind = int(4);
      const vmaStart = at;
      for (let r = 0, nr = int(300); r < nr; r++) {
        const size = kind === 0 || kind === 2 || (kind === 3 && rand() < 0.5) ? M2 : K4;
        const pageCount = 1 + int(rand() < 0.8 ? 2 : 20);
        ranges.push({ start: at, pageCount, pageSizeBytes: size, accessCount: int(loop + 1), node: rand() < 0.03 ? -1 : int(4), present: rand() < 0.97, swapped: false });
        at += pageCount * size;
      }
      vmas.push({ start: vmaStart, end: at, vmFlags: kind === 0 ? ['rd', 'wr', 'ht'] : ['rd', 'wr'], pathname: '' });
      at += M2 * 4;
    }
    guests.push({ key: `g${g}`, accessMap: { pid: 2000 + g, loop, tracker: 'test', timeMs: 0, vmas, ranges: AccessRanges.of(ranges) } });
  }
  const free = (): number => [0, M2, 5 * M2 + int(9) * K4, int(200) * M2, 2 ** 40][int(5)]!;
  const pool = (): NodePools => ({ 0: { totalBytes: 2 ** 40, freeBytes: free() }, 1: { totalBytes: 2 ** 40, freeBytes: free() }, 2: { totalBytes: 2 ** 40, freeBytes: free() }, 3: { totalBytes: 2 ** 40, freeBytes: free() } });
  return {
    guests,
    pools: { regular: pool(), [hugetlbPool(M2)]: pool() },
    nodePairs: rand() < 0.5 ? [{ dram: 0, aep: 2 }] : [{ dram: 0, aep: 2 }, { dram: 1, aep: 3 }],
    hotThreshold: 1 + int(loop),
    quotaBytes: [0, K4 * (1 + int(600)), M2 * (1 + int(8)) + K4 * int(3), 64 * M2, 2 ** 40][int(5)]!,
    hotReserveBytes: [0, M2, 8 * M2 + 3 * K4][int(3)]!,
    loop,
    pressure: rand() < 0.1 ? new Map([[0, int(4) * M2]]) : undefined,
  };
}

test('a bound plan plans what the plan with every row plans, and keeps fewer rows; one whose steps read past the cut is planned in full', () => {
  const rand = seededRandom(20261204);
  let plans = 0;
  let moves = 0;
  let cutShort = 0;
  let replans = 0;
  let forcedReplans = 0;
  for (let i = 0; i < 1500; i++) {
    const input = randomInput(rand);
    const full = JSON.stringify(planHostCslide(input, { allRows: true }).moves);
    const fullRows = lastPlanRows();
    assert.equal(fullRows.bound, false);
    assert.equal(fullRows.rows, fullRows.ranges, 'the plan in full makes a row of every range it files');

    const bound = planHostCslide(input);
    const rows = lastPlanRows();
    assert.equal(JSON.stringify(bound.moves), full, `engine ${i}: the bound plan differs`);
    assert.ok(rows.bound);
    assert.equal(rows.ranges, fullRows.ranges);
    if (rows.replannedInFull) replans++;
    else if (rows.rows < rows.ranges) cutShort++;

    // no tail past the quota's worth: the steps that step over a page too big read past the cut
    const forced = planHostCslide(input, { boundTailRows: 0 });
    assert.equal(JSON.stringify(forced.moves), full, `engine ${i}: the bound plan without a tail differs`);
    if (lastPlanRows().replannedInFull) forcedReplans++;
    plans++;
    moves += bound.moves.length;
  }
  assert.ok(moves > 20_000, `the engines plan something (${moves} moves in ${plans} plans)`);
  assert.ok(cutShort > plans / 4, `bound plans kept fewer rows than ranges in ${cutShort} of ${plans}`);
  // the tail covers what a step can read past the quota's worth with 4 KiB and 2 MiB pages
  assert.equal(replans, 0, `${replans} bound plans needed every row`);
  assert.ok(forcedReplans > 20, `without a tail, ${forcedReplans} plans read past the cut`);
});

test('shares plan in full, as does a plan with no finite quota; a thrash guard is bound', () => {
  const rand = seededRandom(7);
  const input = randomInput(rand);
  input.quotaBytes = 16 * M2;
  planHostCslide({ ...input, guests: input.guests.map((g, i) => (i === 0 ? { ...g, share: { weight: 50 } } : g)) });
  assert.equal(lastPlanRows().bound, false);
  planHostCslide({ ...input, thrash: { rounds: 2, margin: 1, lastMove: () => undefined } });
  assert.equal(lastPlanRows().bound, true);
  planHostCslide({ ...input, quotaBytes: Infinity });
  assert.equal(lastPlanRows().bound, false);
  planHostCslide(input);
  assert.equal(lastPlanRows().bound, true);
});

test('a bound plan keeps no rows of buckets no step reads: hot pages on a node that is only DRAM, a node of no pair', () => {
  const base = 0x7f0000000000;
  const ranges = new AccessRanges();
  // 40 hot 2 MiB pages on DRAM node 0, 40 on node 5 (in no pair), 40 cold on node 0
  for (let r = 0; r < 120; r++) ranges.push(base + r * M2, 1, M2, r < 80 ? 1 : 0, r >= 40 && r < 80 ? 5 : 0, true, false);
  const input: HostCslideInput = {
    guests: [{ key: 'vm', accessMap: { pid: 77, loop: 1, tracker: 'test', timeMs: 0, vmas: [{ start: base, end: base + 120 * M2, vmFlags: ['rd', 'wr', 'ht'], pathname: '' }], ranges } }],
    pools: { [hugetlbPool(M2)]: { 0: { totalBytes: 2 ** 30, freeBytes: 0 }, 2: { totalBytes: 2 ** 30, freeBytes: 2 ** 29 }, 5: { totalBytes: 2 ** 30, freeBytes: 0 } } },
    nodePairs: [{ dram: 0, aep: 2 }],
    hotThreshold: 1,
    quotaBytes: 4 * M2,
    hotReserveBytes: 8 * M2,
    loop: 1,
  };
  const full = JSON.stringify(planHostCslide(input, { allRows: true }).moves);
  const plan = planHostCslide(input);
  const rows = lastPlanRows();
  assert.equal(JSON.stringify(plan.moves), full);
  assert.ok(plan.moves.length > 0, 'cold pages of DRAM are demoted to restore the reserve');
  assert.equal(rows.ranges, 120);
  // only the cold bucket of node 0 keeps rows: its quota's worth (4 pages, 4 rows) and a tail of 6
  assert.equal(rows.rows, 10);
  assert.equal(rows.replannedInFull, false);
});
