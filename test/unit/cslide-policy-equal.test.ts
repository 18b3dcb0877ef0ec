/**
 * The planner plans exactly what the planner of 64e8ec8 planned (before
 * issue 11's per-move cuts in src/engines/cslide-policy.ts: the schedule's
 * one-round fast path, concat instead of flatMap): the same moves, fields
 * and order, on 3000 seeded random engines of guests, pools, quotas,
 * reserves, shares, thrash guards and pressure; the free room ranges from
 * none (promotions wait for demotions: the schedule loop) to plenty (the
 * fast path). The old planner's plans are kept as one SHA-256 over them,
 * recorded by running that code on these inputs (the cuts were checked
 * plan by plan against it when they landed): a change that plans anything
 * differently fails here and must record the new digest with its reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { hugetlbPool, planHostCslide, type CslideGuest, type HostCslideInput, type NodePools, type ThrashGuard } from '../../src/engines/cslide-policy.js';
import type { AccessRange } from '../../src/scan/access-map.js';
import { seededRandom } from '../sim/synthetic.js';
import { AccessRanges } from '../../src/scan/access-ranges.js';

const K4 = 4096;
const M2 = 2 * 1024 * 1024;

function randomInput(rand: () => number): HostCslideInput {
  const int = (n: number): number => Math.floor(rand() * n);
  const loop = 1 + int(4);
  const guests: CslideGuest[] = [];
  const nGuests = 1 + int(6);
  for (let g = 0; g < nGuests; g++) {
    const base = 0x7f0000000000 + g * 2 ** 40;
    const vmas = [];
    const ranges: AccessRange[] = [];
    let at = base;
    for (let v = 0, nv = 1 + int(3); v < nv; v++) {
      const huge = rand() < 0.5;
      const size = huge ? M2 : K4;
      const vmaStart = at;
      for (let r = 0, nr = int(40); r < nr; r++) {
        const pageCount = 1 + int(rand() < 0.7 ? 3 : 40);
        const counts = rand() < 0.05 ? loop + 2 : int(loop + 1);
        ranges.push({ start: at, pageCount, pageSizeBytes: size, accessCount: counts, node: rand() < 0.05 ? -1 : int(4), present: rand() < 0.95, swapped: false });
        at += pageCount * size;
      }
      vmas.push({ start: vmaStart, end: at, vmFlags: huge ? ['rd', 'wr', 'ht'] : ['rd', 'wr'], pathname: '' });
      at += M2 * 4;
    }
    const share = rand() < 0.2 ? { weight: 1 + int(300), dramMinBytes: rand() < 0.5 ? int(8) * M2 : undefined, dramMaxBytes: rand() < 0.3 ? int(16) * M2 : undefined } : undefined;
    guests.push({ key: `g${g}`, accessMap: { pid: 1000 + g, loop, tracker: 'test', timeMs: 0, vmas, ranges: AccessRanges.of(ranges) }, share });
  }
  const free = (): number => [0, M2, 3 * M2, int(40) * M2 + int(4) * K4, 2 ** 40][int(5)]!;
  const pool = (): NodePools => ({ 0: { totalBytes: 2 ** 40, freeBytes: free() }, 1: { totalBytes: 2 ** 40, freeBytes: free() }, 2: { totalBytes: 2 ** 40, freeBytes: free() }, 3: { totalBytes: 2 ** 40, freeBytes: free() } });
  const pools: HostCslideInput['pools'] = rand() < 0.8 ? { regular: pool(), [hugetlbPool(M2)]: pool() } : { [hugetlbPool(M2)]: pool() };
  const moved = new Map<string, { roundsAgo: number; toNode: number }>();
  for (const g of guests) for (const r of g.accessMap.ranges) if (rand() < 0.1) moved.set(`${g.accessMap.pid}:${r.start}`, { roundsAgo: int(4), toNode: int(4) });
  const thrash: ThrashGuard | undefined = rand() < 0.2 ? { rounds: 2, margin: int(2), lastMove: (pid, start) => moved.get(`${pid}:${start}`) } : undefined;
  return {
    guests,
    pools,
    thrash,
    nodePairs: rand() < 0.5 ? [{ dram: 0, aep: 2 }] : [{ dram: 0, aep: 2 }, { dram: 1, aep: 3 }],
    hotThreshold: 1 + int(loop),
    quotaBytes: [0, M2, 10 * M2 + K4 * int(100), 2 ** 40][int(4)]!,
    hotReserveBytes: [0, M2, 8 * M2][int(3)]!,
    loop,
    pressure: rand() < 0.1 ? new Map([[0, int(4) * M2]]) : undefined,
  };
}

/** 64e8ec8's planner over the 3000 inputs below (seed 20261203). */
const PLANS_SHA256_64E8EC8 = '72f84c7eb3c4774158354242f6dc806f99798036b064529ac5e5957322ff9ecd';

test('planHostCslide plans what 64e8ec8\'s planner planned, on 3000 seeded random engines', () => {
  const rand = seededRandom(20261203);
  const hash = createHash('sha256');
  let moves = 0;
  let empty = 0;
  for (let i = 0; i < 3000; i++) {
    const got = planHostCslide(randomInput(rand));
    hash.update(`${i}:${JSON.stringify(got)}\n`);
    moves += got.moves.length;
    if (got.moves.length === 0) empty++;
  }
  // the inputs plan something most of the time (a digest of empty plans would prove nothing)
  assert.ok(moves > 10_000 && empty < 1500, `moves ${moves}, empty plans ${empty}`);
  assert.equal(hash.digest('hex'), PLANS_SHA256_64E8EC8);
});
