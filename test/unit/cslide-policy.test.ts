import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { planCslide, type CslideInput, type NodePools } from '../../src/engines/cslide-policy.js';
import type { Plan, PageMove } from '../../src/engines/plan.js';
import type { AccessMap } from '../../src/scan/access-map.js';
import { applyMoves, cloneMap, HUGEPAGE_2M, pagesOf, seededRandom, syntheticMap, type SyntheticPage } from '../sim/synthetic.js';
import { AccessRanges } from '../../src/scan/access-ranges.js';

const MB = 1024 * 1024;
const P = HUGEPAGE_2M;
const DRAM = 0;
const AEP = 2;

function pool(totalPages: number, freePages: number): { totalBytes: number; freeBytes: number } {
  return { totalBytes: totalPages * P, freeBytes: freePages * P };
}

/** etmem's unit-test setting: loop=3, hot_threshold=1, quota 1024 MB, reserve 0. */
function etmemInput(pages: SyntheticPage[], pools: NodePools, over: Partial<CslideInput> = {}): CslideInput {
  return {
    accessMap: syntheticMap(pages, { loop: 3 }),
    nodePairs: [{ dram: DRAM, aep: AEP }],
    hotThreshold: 1,
    quotaBytes: 1024 * MB,
    hotReserveBytes: 0,
    pools,
    loop: 3,
    ...over,
  };
}

const pagesMoved = (plan: Plan, reason?: PageMove['reason']): number =>
  plan.moves.filter((m) => reason === undefined || m.reason === reason).reduce((n, m) => n + m.pageCount, 0);

describe('cslide policy: etmem pinned expectations', () => {
  test('ten count-3 pages on AEP: all 10 promoted', () => {
    const plan = planCslide(etmemInput(pagesOf(10, 3, AEP), { [DRAM]: pool(20, 20), [AEP]: pool(20, 10) }));
    assert.equal(pagesMoved(plan, 'promote'), 10);
    assert.equal(pagesMoved(plan), 10);
    assert.ok(plan.moves.every((m) => m.fromNode === AEP && m.toNode === DRAM));
  });

  test('ten count-3 pages on AEP, quota 2 MB: 1 promoted', () => {
    const plan = planCslide(etmemInput(pagesOf(10, 3, AEP), { [DRAM]: pool(20, 20), [AEP]: pool(20, 10) }, { quotaBytes: 2 * MB }));
    assert.equal(pagesMoved(plan, 'promote'), 1);
    assert.equal(pagesMoved(plan), 1);
  });

  test('reserve = DRAM total, ten count-0 pages on DRAM: 10 demoted', () => {
    const plan = planCslide(etmemInput(pagesOf(10, 0, DRAM), { [DRAM]: pool(10, 0), [AEP]: pool(20, 20) }, { hotReserveBytes: 10 * P }));
    assert.equal(pagesMoved(plan, 'demote'), 10);
    assert.equal(pagesMoved(plan), 10);
    assert.ok(plan.moves.every((m) => m.fromNode === DRAM && m.toNode === AEP));
  });

  test('reserve = DRAM total, quota 2 MB: 1 demoted', () => {
    const plan = planCslide(etmemInput(pagesOf(10, 0, DRAM), { [DRAM]: pool(10, 0), [AEP]: pool(20, 20) }, { hotReserveBytes: 10 * P, quotaBytes: 2 * MB }));
    assert.equal(pagesMoved(plan, 'demote'), 1);
  });

  test('reserve = DRAM total, AEP room for 4 pages: 4 demoted', () => {
    const plan = planCslide(etmemInput(pagesOf(10, 0, DRAM), { [DRAM]: pool(10, 0), [AEP]: pool(20, 4) }, { hotReserveBytes: 10 * P }));
    assert.equal(pagesMoved(plan, 'demote'), 4);
  });
});

describe('cslide policy: steps', () => {
  test('promotes hottest first, ties by address, capped by DRAM\'s free room (not by the reserve: etmem node_cal_hot_can_move)', () => {
    const pages: SyntheticPage[] = [
      { accessCount: 1, node: AEP },
      { accessCount: 3, node: AEP },
      { accessCount: 2, node: AEP },
      { accessCount: 3, node: AEP },
    ];
    // 2 free DRAM pages and nothing cold to displace: room for 2 (the reserve of 2 does not hold them back).
    const plan = planCslide(etmemInput(pages, { [DRAM]: pool(8, 2), [AEP]: pool(8, 4) }, { hotReserveBytes: 2 * P }));
    const base = plan.moves[0]!.start - P; // page 1 is the first count-3 page
    assert.deepEqual(plan.moves.map((m) => [(m.start - base) / P, m.accessCount, m.reason]), [[1, 3, 'promote'], [3, 3, 'promote']]);
  });

  test('below the reserve, hot pages still come back at once: the reserve is kept for hot memory', () => {
    // DRAM: 12 cold pages, 4 free, reserve 8 (a deficit of 4); AEP: 2 hot pages; quota 4 pages each way.
    // Demotions alone would take this round's whole quota to pay off the deficit; hot pages must not wait for that.
    const pages: SyntheticPage[] = [...pagesOf(12, 0, DRAM), ...pagesOf(2, 3, AEP)];
    const plan = planCslide(etmemInput(pages, { [DRAM]: pool(16, 4), [AEP]: pool(16, 14) }, { hotReserveBytes: 8 * P, quotaBytes: 4 * P }));
    assert.equal(pagesMoved(plan, 'promote'), 2);
    assert.equal(pagesMoved(plan, 'demote'), 4);
    assert.equal(pagesMoved(plan, 'prefetch'), 0);
  });

  test('hot pages may enter the reserve; prefetch never does (etmem node_cal_hot_can_prefetch)', () => {
    // DRAM: 4 free, reserve 4, nothing to demote; AEP: 1 hot page and 3 warm ones.
    const pages: SyntheticPage[] = [...pagesOf(1, 3, AEP), ...pagesOf(3, 1, AEP)];
    const plan = planCslide(etmemInput(pages, { [DRAM]: pool(4, 4), [AEP]: pool(8, 4) }, { hotReserveBytes: 4 * P, hotThreshold: 2 }));
    assert.equal(pagesMoved(plan, 'promote'), 1, 'the hot page comes to DRAM whatever the reserve');
    assert.equal(pagesMoved(plan, 'prefetch'), 0, 'no room above the reserve for warm pages');
  });

  test('promotion displaces cold DRAM pages (coldest first) when DRAM is full', () => {
    const pages: SyntheticPage[] = [
      ...pagesOf(3, 3, AEP), // hot on AEP
      { accessCount: 0, node: DRAM },
      { accessCount: 0, node: DRAM },
      { accessCount: 2, node: DRAM }, // hot (threshold 1) on DRAM: not displaced
    ];
    const map = syntheticMap(pages, { loop: 3 });
    const pools = { [DRAM]: pool(3, 0), [AEP]: pool(8, 1) };
    const plan = planCslide({ ...etmemInput([], pools), accessMap: map });
    assert.equal(pagesMoved(plan, 'promote'), 2, 'only two cold DRAM pages can be displaced');
    assert.equal(pagesMoved(plan, 'demote'), 2);
    const demoted = plan.moves.filter((m) => m.reason === 'demote').map((m) => m.accessCount);
    assert.deepEqual(demoted, [0, 0]);
    // The order is executable: every move lands on a free page.
    const applied = applyMoves(map, pools, plan);
    assert.equal(applied.failedPages, 0);
    assert.equal(applied.movedPages, 4);
  });

  test('both nodes full: nothing can move, so nothing is planned', () => {
    const pages = [...pagesOf(2, 3, AEP), ...pagesOf(2, 0, DRAM)];
    const plan = planCslide(etmemInput(pages, { [DRAM]: pool(2, 0), [AEP]: pool(2, 0) }));
    assert.equal(plan.moves.length, 0);
  });

  test('prefetch: warm AEP pages fill room above reserve only, after all hot pages', () => {
    const pages: SyntheticPage[] = [...pagesOf(2, 3, AEP), ...pagesOf(5, 1, AEP), ...pagesOf(3, 0, AEP)];
    // hot_threshold 3: count 1 is warm, count 0 is cold and stays.
    const plan = planCslide(etmemInput(pages, { [DRAM]: pool(10, 6), [AEP]: pool(10, 0) }, { hotThreshold: 3, hotReserveBytes: 1 * P }));
    assert.equal(pagesMoved(plan, 'promote'), 2);
    assert.equal(pagesMoved(plan, 'prefetch'), 3, '6 free - 1 reserve - 2 promoted = 3');
    assert.ok(plan.moves.filter((m) => m.reason === 'prefetch').every((m) => m.accessCount === 1));
    assert.deepEqual(plan.moves.map((m) => m.reason), ['promote', 'promote', 'prefetch', 'prefetch', 'prefetch']);
  });

  test('prefetch uses only the promote quota left', () => {
    const pages: SyntheticPage[] = [...pagesOf(2, 3, AEP), ...pagesOf(5, 1, AEP)];
    const plan = planCslide(etmemInput(pages, { [DRAM]: pool(10, 10), [AEP]: pool(10, 0) }, { hotThreshold: 2, quotaBytes: 3 * P }));
    assert.equal(pagesMoved(plan, 'promote'), 2);
    assert.equal(pagesMoved(plan, 'prefetch'), 1);
  });

  test('hot memory above the reserve stays: only cold pages are demoted to restore it (etmem move_cold_pages)', () => {
    const pages: SyntheticPage[] = [
      { accessCount: 3, node: DRAM },
      { accessCount: 1, node: DRAM },
      { accessCount: 2, node: DRAM },
      { accessCount: 0, node: DRAM },
    ];
    // DRAM full, reserve 3 pages, hot_threshold 1: only the count-0 page is cold; the hot ones are never pushed out.
    const plan = planCslide(etmemInput(pages, { [DRAM]: pool(4, 0), [AEP]: pool(8, 8) }, { hotReserveBytes: 3 * P }));
    assert.deepEqual(plan.moves.map((m) => [m.reason, m.accessCount]), [['demote', 0]]);
  });

  test('quota 0 plans nothing; pages of another size are ignored', () => {
    assert.equal(planCslide(etmemInput(pagesOf(10, 3, AEP), { [DRAM]: pool(20, 20), [AEP]: pool(20, 10) }, { quotaBytes: 0 })).moves.length, 0);
    const small = syntheticMap(pagesOf(10, 3, AEP), { loop: 3, pageSizeBytes: 4096 });
    assert.equal(planCslide({ ...etmemInput([], { [DRAM]: pool(20, 20), [AEP]: pool(20, 10) }), accessMap: small }).moves.length, 0);
  });

  test('pages on node -1 or not present are ignored', () => {
    const pages: SyntheticPage[] = [
      { accessCount: 3, node: -1 },
      { accessCount: 3, node: AEP, present: false, swapped: true },
      { accessCount: 3, node: AEP },
    ];
    const plan = planCslide(etmemInput(pages, { [DRAM]: pool(20, 20), [AEP]: pool(20, 10) }));
    assert.equal(plan.moves.length, 1);
    assert.equal(plan.moves[0]!.start, syntheticMap(pages, { loop: 3 }).ranges.get(2).start);
  });

  test('a pair whose pool is unknown is skipped', () => {
    const plan = planCslide(etmemInput(pagesOf(4, 3, AEP), { [AEP]: pool(20, 10) }));
    assert.equal(plan.moves.length, 0);
  });

  test('multi-page ranges are split at page granularity', () => {
    const map: AccessMap = {
      pid: 1, loop: 3, tracker: 'synthetic', timeMs: 0, vmas: [],
      ranges: AccessRanges.of([{ start: 0x40000000, pageCount: 8, pageSizeBytes: P, accessCount: 3, node: AEP, present: true, swapped: false }]),
    };
    const plan = planCslide({ ...etmemInput([], { [DRAM]: pool(20, 20), [AEP]: pool(20, 0) }), accessMap: map, quotaBytes: 5 * P });
    assert.deepEqual(plan.moves.map((m) => [m.start, m.pageCount]), [[0x40000000, 5]]);
  });
});

describe('cslide policy: properties over random maps (seeded)', () => {
  function randomWorld(rand: () => number): { input: CslideInput } {
    const pairs = [{ dram: 0, aep: 2 }, { dram: 1, aep: 3 }];
    const nodes = [0, 1, 2, 3, -1];
    const n = 20 + Math.floor(rand() * 200);
    const loop = 1 + Math.floor(rand() * 5);
    const pages: SyntheticPage[] = [];
    const used: Record<number, number> = { 0: 0, 1: 0, 2: 0, 3: 0 };
    for (let i = 0; i < n; i++) {
      const node = nodes[Math.floor(rand() * nodes.length)]!;
      pages.push({ accessCount: Math.floor(rand() * (loop + 1)), node, present: node >= 0 });
      if (node >= 0) used[node]!++;
    }
    const pools: NodePools = {};
    for (const node of [0, 1, 2, 3]) {
      const free = Math.floor(rand() * 40);
      pools[node] = { totalBytes: (used[node]! + free) * P, freeBytes: free * P };
    }
    const input: CslideInput = {
      accessMap: syntheticMap(pages, { loop }),
      nodePairs: pairs,
      hotThreshold: Math.floor(rand() * (loop + 1)),
      quotaBytes: Math.floor(rand() * 30) * P + (rand() < 0.3 ? 12345 : 0),
      hotReserveBytes: Math.floor(rand() * 20) * P + (rand() < 0.3 ? 777 : 0),
      pools,
      loop,
    };
    return { input };
  }

  function movedPerPairDirection(plan: Plan, pairs: CslideInput['nodePairs']): number[] {
    return pairs.flatMap((pair) => [
      plan.moves.filter((m) => m.fromNode === pair.aep && m.toNode === pair.dram).reduce((s, m) => s + m.pageCount * m.pageSizeBytes, 0),
      plan.moves.filter((m) => m.fromNode === pair.dram && m.toNode === pair.aep).reduce((s, m) => s + m.pageCount * m.pageSizeBytes, 0),
    ]);
  }

  test('quota never exceeded, moves stay within pairs, order executable, no page moved twice', () => {
    const rand = seededRandom(20261124);
    for (let iter = 0; iter < 300; iter++) {
      const { input } = randomWorld(rand);
      const plan = planCslide(input);
      for (const bytes of movedPerPairDirection(plan, input.nodePairs)) assert.ok(bytes <= input.quotaBytes, `iteration ${iter}: ${bytes} > ${input.quotaBytes}`);
      for (const m of plan.moves) assert.ok(input.nodePairs.some((p) => (p.dram === m.fromNode && p.aep === m.toNode) || (p.aep === m.fromNode && p.dram === m.toNode)));
      const seen = new Set<number>();
      for (const m of plan.moves) for (let i = 0; i < m.pageCount; i++) {
        const a = m.start + i * m.pageSizeBytes;
        assert.ok(!seen.has(a), `iteration ${iter}: page ${a} moved twice`);
        seen.add(a);
      }
      const applied = applyMoves(input.accessMap, input.pools, plan);
      assert.equal(applied.failedPages, 0, `iteration ${iter}: a move found no free page`);
    }
  });

  test('fixed point: with quota for everything, planning again after applying yields no moves', () => {
    const rand = seededRandom(7);
    let firstRoundsWithMoves = 0;
    for (let iter = 0; iter < 300; iter++) {
      const { input } = randomWorld(rand);
      input.quotaBytes = 1024 * P;
      const first = planCslide(input);
      if (first.moves.length > 0) firstRoundsWithMoves++;
      const applied = applyMoves(input.accessMap, input.pools, first);
      const second = planCslide({ ...input, accessMap: applied.map, pools: applied.pools });
      assert.equal(second.moves.length, 0, `iteration ${iter}: second round planned ${JSON.stringify(second.moves)}`);
    }
    assert.ok(firstRoundsWithMoves > 150, `only ${firstRoundsWithMoves} of 300 random worlds needed moves: the test would prove little`);
  });

  test('converges under a small quota: rounds end with no moves and never oscillate', () => {
    const rand = seededRandom(99);
    for (let iter = 0; iter < 100; iter++) {
      const { input } = randomWorld(rand);
      input.quotaBytes = (1 + Math.floor(rand() * 3)) * P;
      let map = input.accessMap;
      let pools = input.pools;
      let rounds = 0;
      for (;;) {
        const plan = planCslide({ ...input, accessMap: map, pools });
        if (plan.moves.length === 0) break;
        const applied = applyMoves(map, pools, plan);
        map = applied.map;
        pools = applied.pools;
        assert.ok(++rounds < 500, `iteration ${iter}: no convergence`);
      }
    }
  });

  test('deterministic: the same input gives the same plan', () => {
    const { input } = randomWorld(seededRandom(3));
    assert.deepEqual(planCslide(input), planCslide({ ...structuredClone({ ...input, accessMap: undefined }), accessMap: cloneMap(input.accessMap) }));
  });
});

test('cslide policy: ties are broken by lower address first in both directions', () => {
  // Four count-0 pages on a full DRAM node, reserve 2 pages: the two lowest addresses go.
  const map = syntheticMap(pagesOf(4, 0, DRAM), { loop: 3 });
  const plan = planCslide({ ...etmemInput([], { [DRAM]: pool(4, 0), [AEP]: pool(8, 8) }), accessMap: map, hotReserveBytes: 2 * P });
  assert.deepEqual(plan.moves.map((m) => [m.start, m.pageCount]), [[map.ranges.get(0).start, 1], [map.ranges.get(1).start, 1]]);
});
