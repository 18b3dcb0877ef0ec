/**
 * The thrash guard asked once per range (ThrashGuard.movedIn, backed by
 * src/runner/move-ledger.ts) holds exactly the pages it holds when asked
 * page by page (lastMove): on seeded random engines over a real MoveLedger
 * of recorded rounds (4 KiB and 2 MiB moves, some inside THP ranges, some
 * undone), the plans are the same move for move, in full and bound; and the
 * planner never asks page by page when it can ask per range (at 1 TiB of
 * 4 KiB pages that is 268M questions a plan).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hugetlbPool, planHostCslide, type CslideGuest, type HostCslideInput, type NodePools, type ThrashGuard } from '../../src/engines/cslide-policy.js';
import { MoveLedger, type LedgerMove } from '../../src/runner/move-ledger.js';
import type { AccessRange } from '../../src/scan/access-map.js';
import { AccessRanges } from '../../src/scan/access-ranges.js';
import { seededRandom } from '../sim/synthetic.js';

const K4 = 4096;
const M2 = 2 * 1024 * 1024;

function engine(rand: () => number): { input: HostCslideInput; ledger: MoveLedger; round: number } {
  const int = (n: number): number => Math.floor(rand() * n);
  const loop = 1 + int(3);
  const guests: CslideGuest[] = [];
  const ledger = new MoveLedger();
  const round = 3 + int(4);
  for (let g = 0, ng = 1 + int(4); g < ng; g++) {
    const pid = 3000 + g;
    const base = 0x7f0000000000 + g * 2 ** 40;
    const vmas = [];
    const ranges: AccessRange[] = [];
    let at = base;
    for (let v = 0, nv = 1 + int(3); v < nv; v++) {
      const kind = int(3); // hugetlb 2 MiB, 4 KiB, THP
      const size = kind === 1 ? K4 : M2;
      const vmaStart = at;
      for (let r = 0, nr = 1 + int(60); r < nr; r++) {
        const pageCount = 1 + int(rand() < 0.7 ? 4 : 64);
        ranges.push({ start: at, pageCount, pageSizeBytes: size, accessCount: int(loop + 1), node: int(4), present: rand() < 0.97, swapped: false });
        at += pageCount * size;
      }
      vmas.push({ start: vmaStart, end: at, vmFlags: kind === 0 ? ['rd', 'wr', 'ht'] : ['rd', 'wr'], pathname: '' });
      at += 4 * M2;
    }
    // rounds of recorded moves over the guest's memory: runs of 4 KiB or 2 MiB pages anywhere in it (not aligned to its ranges)
    for (let r = 1; r < round; r++) {
      const run: LedgerMove[] = [];
      for (let k = 0, nk = int(12); k < nk; k++) {
        const size = rand() < 0.5 ? K4 : M2;
        const startAt = base + Math.floor((rand() * (at - base)) / K4) * K4;
        run.push({ start: startAt, pageCount: 1 + int(40), pageSizeBytes: size, fromNode: int(4), toNode: int(4) });
      }
      // a plan moves a page once a round: keep the run's moves disjoint
      run.sort((a, b) => a.start - b.start);
      const disjoint: LedgerMove[] = [];
      let end = -Infinity;
      for (const m of run) {
        if (m.start >= end) {
          disjoint.push(m);
          end = m.start + m.pageCount * m.pageSizeBytes;
        }
      }
      ledger.record(pid, disjoint, r, 8);
    }
    guests.push({ key: `g${g}`, accessMap: { pid, loop, tracker: 'test', timeMs: 0, vmas, ranges: AccessRanges.of(ranges) } });
  }
  const free = (): number => [0, M2, int(60) * M2, 2 ** 40][int(4)]!;
  const pool = (): NodePools => ({ 0: { totalBytes: 2 ** 40, freeBytes: free() }, 1: { totalBytes: 2 ** 40, freeBytes: free() }, 2: { totalBytes: 2 ** 40, freeBytes: free() }, 3: { totalBytes: 2 ** 40, freeBytes: free() } });
  const input: HostCslideInput = {
    guests,
    pools: { regular: pool(), [hugetlbPool(M2)]: pool() },
    nodePairs: rand() < 0.5 ? [{ dram: 0, aep: 2 }] : [{ dram: 0, aep: 2 }, { dram: 1, aep: 3 }],
    hotThreshold: 1 + int(loop),
    quotaBytes: [M2 * (1 + int(20)), 64 * M2, 2 ** 40][int(3)]!,
    hotReserveBytes: [0, M2][int(2)]!,
    loop,
  };
  return { input, ledger, round };
}

test('the thrash guard per range holds what it holds page by page: the same plans, no page-by-page questions', () => {
  const rand = seededRandom(31337);
  let moves = 0;
  let perPageAsks = 0;
  let held = 0;
  for (let i = 0; i < 400; i++) {
    const { input, ledger, round } = engine(rand);
    const rounds = 1 + Math.floor(rand() * 4);
    const margin = Math.floor(rand() * 3);
    let asks = 0;
    const pageByPage: ThrashGuard = { rounds, margin, lastMove: (pid, start) => ledger.lastMove(pid, start, round) };
    const perRange: ThrashGuard = {
      rounds,
      margin,
      lastMove: (pid, start) => {
        asks++;
        return ledger.lastMove(pid, start, round);
      },
      movedIn: (pid, start, end) => ledger.movedIn(pid, start, end, round),
    };
    const want = JSON.stringify(planHostCslide({ ...input, thrash: pageByPage }, { allRows: true }).moves);
    const unguarded = JSON.stringify(planHostCslide(input, { allRows: true }).moves);
    if (want !== unguarded) held++;
    assert.equal(JSON.stringify(planHostCslide({ ...input, thrash: perRange }, { allRows: true }).moves), want, `engine ${i}: in full`);
    assert.equal(JSON.stringify(planHostCslide({ ...input, thrash: perRange }).moves), want, `engine ${i}: bound`);
    perPageAsks += asks;
    moves += want.length;
  }
  assert.equal(perPageAsks, 0, 'a guard that answers per range is never asked per page');
  // the guard changed the plan of many engines (it holds pages): otherwise equal plans would prove nothing
  assert.ok(held > 80, `the guard held pages in ${held} of 400 engines`);
  assert.ok(moves > 0);
});

test('MoveLedger.movedIn gives, for every page start in the range, what lastMove gives', () => {
  const rand = seededRandom(5);
  for (let i = 0; i < 200; i++) {
    const { ledger, round } = engine(rand);
    const pid = 3000;
    const base = 0x7f0000000000;
    const start = base + Math.floor(rand() * 4096) * K4;
    const pages = 1 + Math.floor(rand() * 600);
    const moved = ledger.movedIn(pid, start, start + pages * K4, round);
    for (let k = 1; k < moved.length; k++) assert.ok(moved[k - 1]!.end <= moved[k]!.start, 'disjoint, in address order');
    for (let k = 0; k < pages; k++) {
      const addr = start + k * K4;
      const iv = moved.find((m) => addr >= m.start && addr < m.end);
      const last = ledger.lastMove(pid, addr, round);
      assert.deepEqual(iv ? { roundsAgo: iv.roundsAgo, toNode: iv.toNode } : undefined, last, `page ${k} of query ${i}`);
    }
  }
});
