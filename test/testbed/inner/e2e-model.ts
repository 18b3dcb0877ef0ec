/**
 * What the cslide policy alone would do, round by round, to a guest whose
 * hot and cold pages are known exactly: the reference the end-to-end tests,
 * the demo and the placement benchmark compare the real daemon against.
 * Pure: it runs planCslide on an ideal access map (hot pages counted in
 * every scan, cold ones in none) and applies each plan to a model of the
 * pages and the nodes' hugepage pools.
 */
import type { NodePair } from '../../../src/config/types.js';
import { CSLIDE_PAGE_SIZE_BYTES, hugetlbPool, planCslide, planHostCslide, type GuestShare, type NodePools, type PoolKind } from '../../../src/engines/cslide-policy.js';
import type { AccessMap } from '../../../src/scan/access-map.js';
import { AccessRanges } from '../../../src/scan/access-ranges.js';

export interface ModelPage {
  addr: number;
  hot: boolean;
  node: number;
  /** the tracker's count for the page, when a round is modelled on what the daemon saw (default: loop when hot, else 0) */
  accessCount?: number;
}

export interface ModelInput {
  pages: readonly ModelPage[];
  /** 2 MiB pages per node, total and free, before round 0 */
  pools: Record<number, { total: number; free: number }>;
  nodePairs: readonly NodePair[];
  loop: number;
  hotThreshold: number;
  quotaMiB: number;
  reserveMiB: number;
}

export interface ModelRound {
  /** the task's pages per node after this round's moves */
  pagesByNode: Record<number, number>;
  promotedPages: number;
  demotedPages: number;
}

const MiB = 1 << 20;

/** Rounds until a round moves nothing (that round included), at most `maxRounds`. */
export function modelRounds(input: ModelInput, maxRounds = 50): ModelRound[] {
  const pages = input.pages.map((p) => ({ ...p }));
  const pools: NodePools = {};
  for (const [node, p] of Object.entries(input.pools)) {
    pools[Number(node)] = { totalBytes: p.total * CSLIDE_PAGE_SIZE_BYTES, freeBytes: p.free * CSLIDE_PAGE_SIZE_BYTES };
  }
  const rounds: ModelRound[] = [];
  for (let round = 0; round < maxRounds; round++) {
    const map: AccessMap = {
      pid: 1,
      loop: input.loop,
      tracker: 'model',
      timeMs: 0,
      vmas: [],
      ranges: AccessRanges.of([...pages].sort((a, b) => a.addr - b.addr).map((p) => ({
        start: p.addr, pageCount: 1, pageSizeBytes: CSLIDE_PAGE_SIZE_BYTES,
        accessCount: p.accessCount ?? (p.hot ? input.loop : 0), node: p.node, present: true, swapped: false,
      }))),
    };
    const plan = planCslide({
      accessMap: map,
      nodePairs: input.nodePairs,
      hotThreshold: input.hotThreshold,
      quotaBytes: input.quotaMiB * MiB,
      hotReserveBytes: input.reserveMiB * MiB,
      pools,
      loop: input.loop,
    });
    let promoted = 0;
    let demoted = 0;
    for (const move of plan.moves) {
      for (let i = 0; i < move.pageCount; i++) {
        const page = pages.find((p) => p.addr === move.start + i * CSLIDE_PAGE_SIZE_BYTES)!;
        page.node = move.toNode;
        pools[move.fromNode]!.freeBytes += CSLIDE_PAGE_SIZE_BYTES;
        pools[move.toNode]!.freeBytes -= CSLIDE_PAGE_SIZE_BYTES;
        if (move.reason === 'demote') demoted++;
        else promoted++;
      }
    }
    rounds.push({ pagesByNode: countByNode(pages.map((p) => p.node)), promotedPages: promoted, demotedPages: demoted });
    if (plan.moves.length === 0) break;
  }
  return rounds;
}

/** {node: count} of a list of node ids (negative ids, i.e. errors, included as they are). */
export function countByNode(nodes: Iterable<number>): Record<number, number> {
  const out: Record<number, number> = {};
  for (const n of nodes) out[n] = (out[n] ?? 0) + 1;
  return out;
}

/** One guest of the host-wide model: its blocks (2 MiB units) and what they are. */
export interface ModelGuest {
  /** 'ht' for hugetlb (2 MiB pages), else the RAM is regular memory in 4 KiB pages (THP, memfd) */
  hugetlb: boolean;
  /** smaps VmFlags the guest's VMA carries (the policy picks the pool by `ht`) */
  vmFlags: string[];
  start: number;
  /** per 2 MiB block: hot or not, its node, and the tracker's count for it when a round is modelled on what the daemon saw (default: loop when hot, else 0) */
  blocks: Array<{ hot: boolean; node: number; accessCount?: number }>;
  /** the task's weight, dram_min, dram_max (in bytes) */
  share?: GuestShare;
}

export interface HostModelInput {
  guests: readonly ModelGuest[];
  /** bytes per node: the 2 MiB hugepage pool and the regular memory (MemFree), before round 0 */
  hugetlbPools: Record<number, { totalBytes: number; freeBytes: number }>;
  regularPools: Record<number, { totalBytes: number; freeBytes: number }>;
  nodePairs: readonly NodePair[];
  loop: number;
  hotThreshold: number;
  quotaBytes: number;
  reserveBytes: number;
}

export interface HostModelRound {
  /** per guest, each block's node after this round's moves */
  blockNodes: number[][];
  /** bytes moved this round per direction over all guests, keyed "from->to" */
  movedBytes: Record<string, number>;
}

const BLOCK_BYTES = 2 * 1024 * 1024;
const SMALL_PAGE_BYTES = 4096;

/**
 * The engine-wide policy alone (planHostCslide), round after round, on an
 * ideal access map of every guest (hot blocks counted in every scan, cold
 * ones in none), each plan applied to the model's pages and pools: what
 * one cslide engine over these guests must do, page for page. Hugetlb
 * blocks are one 2 MiB page; THP and memfd blocks 512 pages of 4 KiB, as
 * the DAMON tracker reports them. Rounds until one moves nothing (that
 * round included), at most `maxRounds`.
 */
export function modelHostRounds(input: HostModelInput, maxRounds = 50): HostModelRound[] {
  const guests = input.guests.map((g) => ({ ...g, blocks: g.blocks.map((b) => ({ ...b })) }));
  const clonePools = (p: HostModelInput['hugetlbPools']): NodePools => Object.fromEntries(Object.entries(p).map(([n, v]) => [n, { ...v }]));
  const pools: Partial<Record<PoolKind, NodePools>> = { [hugetlbPool(BLOCK_BYTES)]: clonePools(input.hugetlbPools) };
  if (guests.some((g) => !g.hugetlb)) pools.regular = clonePools(input.regularPools);
  const rounds: HostModelRound[] = [];
  for (let round = 0; round < maxRounds; round++) {
    const plan = planHostCslide({
      guests: guests.map((g, i) => {
        const pageSizeBytes = g.hugetlb ? BLOCK_BYTES : SMALL_PAGE_BYTES;
        const map: AccessMap = {
          pid: 1000 + i, loop: input.loop, tracker: 'model', timeMs: 0,
          vmas: [{ start: g.start, end: g.start + g.blocks.length * BLOCK_BYTES, vmFlags: g.vmFlags, pathname: g.hugetlb ? '/dev/hugepages/guest (deleted)' : '' }],
          ranges: AccessRanges.of(g.blocks.map((b, k) => ({
            start: g.start + k * BLOCK_BYTES, pageCount: BLOCK_BYTES / pageSizeBytes, pageSizeBytes,
            accessCount: b.accessCount ?? (b.hot ? input.loop : 0), node: b.node, present: true, swapped: false,
          }))),
        };
        return { key: `g${i}`, accessMap: map, ...(g.share ? { share: g.share } : {}) };
      }),
      nodePairs: input.nodePairs,
      hotThreshold: input.hotThreshold,
      quotaBytes: input.quotaBytes,
      hotReserveBytes: input.reserveBytes,
      pools,
      loop: input.loop,
    });
    const movedBytes: Record<string, number> = {};
    for (const m of plan.moves) {
      const g = guests[m.guest]!;
      const bytes = m.pageCount * m.pageSizeBytes;
      // A THP is 512 small pages of one 2 MiB block: a plan that cut one would split it.
      if ((m.start - g.start) % BLOCK_BYTES !== 0 || bytes % BLOCK_BYTES !== 0) throw new Error(`model: guest ${m.guest}: a move of ${bytes} B at +${m.start - g.start} splits a 2 MiB block`);
      for (let a = m.start; a < m.start + bytes; a += m.pageSizeBytes) g.blocks[Math.floor((a - g.start) / BLOCK_BYTES)]!.node = m.toNode;
      const pool = pools[m.pool]!;
      pool[m.fromNode]!.freeBytes += bytes;
      pool[m.toNode]!.freeBytes -= bytes;
      const key = `${m.fromNode}->${m.toNode}`;
      movedBytes[key] = (movedBytes[key] ?? 0) + bytes;
    }
    rounds.push({ blockNodes: guests.map((g) => g.blocks.map((b) => b.node)), movedBytes });
    if (plan.moves.length === 0) break;
  }
  return rounds;
}

/** The addresses of `count` 2 MiB blocks from `start` (a guest's blocks, or its hugetlb pages). */
export function blockAddrs(start: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start + i * BLOCK_BYTES);
}

/**
 * The count a round's map gave each of `addrs` (ascending), from its present
 * ranges ([start, pageCount, pageSizeBytes, accessCount], in address order,
 * as migration-access returns them); undefined when the round's counts were
 * not read or an address lies in no range (the round is then not modelled
 * on what the daemon saw).
 */
export function countsAt(access: { ranges: ReadonlyArray<readonly [number, number, number, number]> } | null | undefined, addrs: readonly number[]): number[] | undefined {
  if (!access) return undefined;
  const ranges = access.ranges;
  const out: number[] = [];
  let r = 0;
  for (const a of addrs) {
    // both ascend: the range holding `a` is at or after the last one's
    while (r < ranges.length && ranges[r]![0] + ranges[r]![1] * ranges[r]![2] <= a) r++;
    if (r >= ranges.length || a < ranges[r]![0]) return undefined;
    out.push(ranges[r]![3]);
  }
  return out;
}

/**
 * Pools as a model's input after the guests' blocks went from `initial` to
 * `now` (per guest, each block's node): each node's free bytes less the
 * blocks it gained, over the guests `counted` picks (default: all).
 */
export function poolsAfterMoves(pools: Record<string, { totalBytes: number; freeBytes: number }>, initial: readonly number[][], now: readonly number[][], counted: (guest: number) => boolean = () => true): Record<string, { totalBytes: number; freeBytes: number }> {
  return Object.fromEntries(Object.entries(pools).map(([node, p]) => {
    let gained = 0;
    now.forEach((nodes, g) => {
      if (counted(g)) gained += nodes.filter((n) => n === Number(node)).length - initial[g]!.filter((n) => n === Number(node)).length;
    });
    return [node, { totalBytes: p.totalBytes, freeBytes: p.freeBytes - gained * BLOCK_BYTES }];
  }));
}
