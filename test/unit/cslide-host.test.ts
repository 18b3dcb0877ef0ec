/**
 * Engine-wide cslide planning (etmem plans an engine's pids together):
 * one quota per node pair and direction and one reserve per DRAM pool for
 * all guests, hottest pages of any guest first, ties by guest order then
 * address; pools per memory kind (hugetlb 2 MiB / 1 GiB, regular memory
 * for THP and 4 KiB pages) with whole pages only.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { hugetlbPool, planHostCslide, type HostCslideInput, type HostPlan, type NodePools, type PoolKind } from '../../src/engines/cslide-policy.js';
import { applyHostMoves, HUGEPAGE_2M, pagesOf, seededRandom, syntheticMap, type SyntheticPage } from '../sim/synthetic.js';

const P = HUGEPAGE_2M;
const K4 = 4096;
const G1 = 1 << 30;
const DRAM = 0;
const AEP = 2;
const H2M = hugetlbPool(P);

const pool = (totalBytes: number, freeBytes: number) => ({ totalBytes, freeBytes });

function guest(pid: number, pages: SyntheticPage[], opts: { pageSizeBytes?: number; vmFlags?: string[] } = {}) {
  return { key: `t/${pid}`, accessMap: syntheticMap(pages, { loop: 3, pid, baseAddress: 0x7f0000000000 + pid * 0x10000000000, ...opts }) };
}

function input(guests: HostCslideInput['guests'], pools: HostCslideInput['pools'], over: Partial<HostCslideInput> = {}): HostCslideInput {
  return { guests, pools, nodePairs: [{ dram: DRAM, aep: AEP }], hotThreshold: 2, quotaBytes: 2 ** 40, hotReserveBytes: 0, loop: 3, ...over };
}

const bytes = (plan: HostPlan, pred: (m: HostPlan['moves'][number]) => boolean): number =>
  plan.moves.filter(pred).reduce((n, m) => n + m.pageCount * m.pageSizeBytes, 0);
const up = (m: HostPlan['moves'][number]): boolean => m.reason !== 'demote';

describe('cslide host-wide planning', () => {
  test('three guests share ONE quota per pair and direction (not one each)', () => {
    const guests = [guest(1, pagesOf(8, 3, AEP)), guest(2, pagesOf(8, 3, AEP)), guest(3, pagesOf(8, 3, AEP))];
    const plan = planHostCslide(input(guests, { [H2M]: { [DRAM]: pool(64 * P, 64 * P), [AEP]: pool(64 * P, 40 * P) } }, { quotaBytes: 8 * P }));
    assert.equal(bytes(plan, up), 8 * P, 'the engine moves 8 pages in all, where per-task quotas would move 24');
  });

  test('the hottest pages of any guest are promoted first; ties by guest order, then address', () => {
    const guests = [guest(1, [...pagesOf(3, 2, AEP)]), guest(2, [...pagesOf(2, 3, AEP), ...pagesOf(2, 2, AEP)])];
    const plan = planHostCslide(input(guests, { [H2M]: { [DRAM]: pool(4 * P, 4 * P), [AEP]: pool(16 * P, 9 * P) } }));
    // Room for 4: guest 2's two count-3 pages, then the count-2 ties: guest 1 first (lower guest index), lowest addresses.
    assert.deepEqual(plan.moves.map((m) => [m.pid, m.accessCount, m.pageCount]), [[2, 3, 1], [2, 3, 1], [1, 2, 1], [1, 2, 1]]);
    const g1 = plan.moves.filter((m) => m.pid === 1).map((m) => m.start);
    assert.deepEqual(g1, [guests[0]!.accessMap.ranges.get(0).start, guests[0]!.accessMap.ranges.get(1).start], 'lowest addresses first');
  });

  test('the reserve is the DRAM pool\'s, for the engine: demotion restores it once, coldest of any guest first', () => {
    const guests = [guest(1, [...pagesOf(2, 1, DRAM), ...pagesOf(2, 3, DRAM)]), guest(2, [...pagesOf(2, 0, DRAM), ...pagesOf(2, 3, DRAM)])];
    // DRAM 10 pages, 8 used by the guests, 2 free; reserve 5 pages: 3 must go.
    const plan = planHostCslide(input(guests, { [H2M]: { [DRAM]: pool(10 * P, 2 * P), [AEP]: pool(16 * P, 16 * P) } }, { hotReserveBytes: 5 * P }));
    assert.deepEqual(plan.moves.map((m) => [m.pid, m.accessCount, m.reason]), [[2, 0, 'demote'], [2, 0, 'demote'], [1, 1, 'demote']]);
  });

  test('hot pages are promoted whatever the reserve; only cold ones are demoted for it (etmem node_cal_hot_can_move)', () => {
    const guests = [guest(1, pagesOf(4, 3, AEP)), guest(2, pagesOf(4, 0, DRAM))];
    const plan = planHostCslide(input(guests, { [H2M]: { [DRAM]: pool(8 * P, 4 * P), [AEP]: pool(16 * P, 12 * P) } }, { hotReserveBytes: 100 * P }));
    assert.equal(bytes(plan, (m) => m.reason === 'promote'), 4 * P, 'hot pages come back with a reserve larger than the pool');
    assert.ok(plan.moves.filter((m) => m.reason === 'demote').every((m) => m.pid === 2 && m.accessCount === 0));
  });

  test('any memory: THP and 4 KiB pages plan in regular memory, 1 GiB hugetlb in its own pool, quota shared, pages never split', () => {
    const thp = guest(1, pagesOf(6, 3, AEP), { vmFlags: ['rd', 'wr', 'mr', 'mw', 'me', 'hg'] });
    const small = guest(2, pagesOf(600, 3, AEP), { pageSizeBytes: K4, vmFlags: ['rd', 'wr', 'mr', 'mw', 'me'] });
    const gig = guest(3, pagesOf(2, 3, AEP), { pageSizeBytes: G1 });
    const pools: Partial<Record<PoolKind, NodePools>> = {
      regular: { [DRAM]: pool(64 * P, 64 * P), [AEP]: pool(64 * P, 32 * P) },
      [hugetlbPool(G1)]: { [DRAM]: pool(4 * G1, 4 * G1), [AEP]: pool(4 * G1, 2 * G1) },
    };
    const all = planHostCslide(input([thp, small, gig], pools));
    assert.equal(bytes(all, (m) => m.pid === 1), 6 * P);
    assert.equal(bytes(all, (m) => m.pid === 2), 600 * K4);
    assert.equal(bytes(all, (m) => m.pid === 3), 2 * G1);
    assert.ok(all.moves.every((m) => m.pageSizeBytes === (m.pid === 1 ? P : m.pid === 2 ? K4 : G1)), 'each move keeps its page size: a THP moves whole');
    assert.ok(all.moves.every((m) => m.pool === (m.pid === 3 ? hugetlbPool(G1) : 'regular')));

    // The quota goes hottest first, ties in guest order: all of guest 1's THPs, 100 of guest 2's small pages;
    // guest 3's 1 GiB page does not fit what is left and is not split.
    const quota = 6 * P + 100 * K4 + 4096 * 3;
    const capped = planHostCslide(input([thp, small, gig], pools, { quotaBytes: quota }));
    assert.deepEqual([1, 2, 3].map((pid) => bytes(capped, (m) => m.pid === pid)), [6 * P, 103 * K4, 0]);
    assert.ok(bytes(capped, up) <= quota);
  });

  test('fixed point over many guests: applying the plan and planning again moves nothing', () => {
    const rnd = seededRandom(7);
    for (let round = 0; round < 20; round++) {
      const guests = [1, 2, 3, 4].map((pid) => guest(pid, Array.from({ length: 4 + Math.floor(rnd() * 12) }, () => ({ accessCount: Math.floor(rnd() * 4), node: rnd() < 0.5 ? DRAM : AEP }))));
      const used = (node: number) => guests.reduce((n, g) => n + g.accessMap.ranges.toArray().filter((r) => r.node === node).length, 0) * P;
      const pools = { [H2M]: { [DRAM]: pool(used(DRAM) + 6 * P, 6 * P), [AEP]: pool(used(AEP) + 40 * P, 40 * P) } };
      const inp = input(guests, pools, { hotReserveBytes: Math.floor(rnd() * 10) * P, hotThreshold: 1 + Math.floor(rnd() * 3) });
      const first = planHostCslide(inp);
      const applied = applyHostMoves({ maps: guests.map((g) => g.accessMap), pools }, first);
      assert.equal(applied.failedPages, 0, `round ${round}: every move found room`);
      const second = planHostCslide({ ...inp, guests: applied.maps.map((m, i) => ({ key: guests[i]!.key, accessMap: m })), pools: applied.pools });
      assert.deepEqual(second.moves, [], `round ${round}: a second plan moves nothing`);
    }
  });
});

describe('cslide shares and thrash guard (virt-tier, beyond etmem)', () => {
  test('under contention DRAM goes by weight: 1:2:3 of 60 free pages', () => {
    const guests = [1, 2, 3].map((pid) => ({ ...guest(pid, pagesOf(40, 3, AEP)), share: { weight: pid } }));
    const plan = planHostCslide(input(guests, { [H2M]: { [DRAM]: pool(60 * P, 60 * P), [AEP]: pool(200 * P, 80 * P) } }));
    assert.deepEqual([1, 2, 3].map((pid) => bytes(plan, (m) => m.pid === pid && m.reason === 'promote') / P), [10, 20, 30]);
  });

  test('a guaranteed minimum holds against hotter guests; a maximum caps a guest even without contention', () => {
    const hotter = guest(1, pagesOf(40, 3, AEP));
    const cooler = { ...guest(2, pagesOf(40, 2, AEP)), share: { dramMinBytes: 15 * P } };
    const plan = planHostCslide(input([hotter, cooler], { [H2M]: { [DRAM]: pool(20 * P, 20 * P), [AEP]: pool(200 * P, 120 * P) } }));
    // Guest 2 gets its 15 pages first, though guest 1 is hotter; the 5 left go half and half (whole pages).
    assert.equal(bytes(plan, (m) => m.pid === 2 && m.reason === 'promote'), 17 * P);
    assert.equal(bytes(plan, (m) => m.pid === 1 && m.reason === 'promote'), 2 * P);

    const capped = { ...guest(3, pagesOf(10, 3, AEP)), share: { dramMaxBytes: 4 * P } };
    const roomy = planHostCslide(input([capped], { [H2M]: { [DRAM]: pool(64 * P, 64 * P), [AEP]: pool(64 * P, 54 * P) } }));
    assert.equal(bytes(roomy, () => true), 4 * P);
  });

  test('a guest over its allocation gives up its coldest DRAM pages to a guest under it', () => {
    // Guest 1 holds all 20 DRAM pages (10 hot, 10 warm); guest 2 has 20 hot pages on AEP; equal weights: 10 each.
    const g1 = { ...guest(1, [...pagesOf(10, 3, DRAM), ...pagesOf(10, 2, DRAM)]), share: { weight: 100 } };
    const g2 = { ...guest(2, pagesOf(20, 3, AEP)), share: { weight: 100 } };
    const pools = { [H2M]: { [DRAM]: pool(20 * P, 0), [AEP]: pool(64 * P, 44 * P) } };
    const plan = planHostCslide(input([g1, g2], pools, { hotThreshold: 2 }));
    assert.equal(bytes(plan, (m) => m.pid === 1 && m.reason === 'demote'), 10 * P);
    assert.ok(plan.moves.filter((m) => m.pid === 1).every((m) => m.accessCount === 2), 'the coldest of its pages went');
    assert.equal(bytes(plan, (m) => m.pid === 2 && m.reason === 'promote'), 10 * P);
    const applied = applyHostMoves({ maps: [g1.accessMap, g2.accessMap], pools }, plan);
    assert.equal(applied.failedPages, 0);
    const again = planHostCslide(input([{ ...g1, accessMap: applied.maps[0]! }, { ...g2, accessMap: applied.maps[1]! }], applied.pools, { hotThreshold: 2 }));
    assert.deepEqual(again.moves, [], 'the shares are a fixed point');
  });

  test('thrash guard: a page demoted last round comes back only when its count beats the threshold by the margin', () => {
    const g = guest(1, [{ accessCount: 2, node: AEP }, { accessCount: 3, node: AEP }]);
    const [a, b] = g.accessMap.ranges;
    const thrash = { rounds: 3, margin: 1, lastMove: (_pid: number, start: number) => (start === a!.start || start === b!.start ? { roundsAgo: 1, toNode: AEP } : undefined) };
    const plan = planHostCslide(input([g], { [H2M]: { [DRAM]: pool(8 * P, 8 * P), [AEP]: pool(8 * P, 6 * P) } }, { thrash }));
    assert.deepEqual(plan.moves.map((m) => [m.start, m.accessCount]), [[b!.start, 3]], 'count 2 (threshold 2, margin 1) stays; count 3 comes back');
    const later = planHostCslide(input([g], { [H2M]: { [DRAM]: pool(8 * P, 8 * P), [AEP]: pool(8 * P, 6 * P) } }, { thrash: { ...thrash, lastMove: () => ({ roundsAgo: 4, toNode: AEP }) } }));
    assert.equal(later.moves.length, 2, 'after the guard\'s rounds both move');
  });
});

test('pressure (free-DRAM watermarks): nothing is promoted to a pressured node; its regular memory demotes cold pages up to the high mark', () => {
  const thp = guest(1, [...pagesOf(4, 3, AEP), ...pagesOf(8, 0, DRAM)], { vmFlags: ['rd', 'wr', 'mr', 'mw', 'me', 'hg'] });
  const pools = { regular: { [DRAM]: pool(64 * P, 2 * P), [AEP]: pool(64 * P, 40 * P) } };
  const relaxed = planHostCslide(input([thp], pools));
  assert.ok(relaxed.moves.some((m) => m.reason === 'promote'));
  const pressured = planHostCslide(input([thp], pools, { pressure: new Map([[DRAM, 6 * P]]) }));
  assert.deepEqual(pressured.moves.map((m) => m.reason), ['demote', 'demote', 'demote', 'demote'], 'four cold pages go: free 2 -> 6 pages, the high mark');
});

describe('cslide host-wide planning at host scale', () => {
  test('half a million 2 MiB chunks (1 TiB) plan without exhausting the stack', () => {
    // Alternating counts keep every page its own chunk; a Math.max(...spread) over them threw RangeError (bench/scale.ts).
    const perGuest = 262_144;
    const pages = (node: number): SyntheticPage[] => Array.from({ length: perGuest }, (_, i) => ({ accessCount: i % 2 === 0 ? 3 : 0, node }));
    const guests = [guest(1, pages(DRAM)), guest(2, pages(AEP))];
    const plan = planHostCslide(input(guests, { [H2M]: { [DRAM]: pool(perGuest * P, 0), [AEP]: pool(2 * perGuest * P, perGuest * P) } }, { quotaBytes: 64 * P }));
    // DRAM is full: every promotion displaces a cold DRAM page, within the quota each way.
    assert.equal(bytes(plan, up), 64 * P);
    assert.equal(bytes(plan, (m) => !up(m)), 64 * P);
  });
});
