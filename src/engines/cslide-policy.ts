/**
 * cslide policy: which hugepages of one task move between the DRAM and the
 * AEP (CXL, memory-only) node of each `node_pair`, for one round. Pure: an
 * AccessMap and the nodes' hugepage pools in, a Plan out. docs/engines.md
 * states the policy; the words used here:
 *
 * - hot:  accessCount >= hot_threshold
 * - cold: accessCount <  hot_threshold
 * - warm: cold, but accessed in at least one scan of the cycle (count >= 1);
 *         the prefetch candidates on the AEP node
 * - room above reserve: free DRAM bytes beyond node_hot_reserve, in whole pages
 *
 * Per pair (D = DRAM node, A = AEP node, P = page size, q = quota in pages),
 * the task's pages are ranked by where they belong, best first:
 *   hot on D (hottest first), hot on A (hottest first), cold on D (hottest
 *   first), warm on A (hottest first); cold pages on A with count 0 never move.
 * D may hold `budget = (task pages on D) + floor((free(D) - reserve) / P)` of
 * them. The first `budget` pages of the ranking belong on D, the rest on A.
 * That gives etmem's three steps:
 * 1. promote hot pages on A (hottest first), capped by DRAM's free pages
 *    (the reserve is kept for hot memory, so they may use it) plus the cold
 *    pages of D they displace (never hot pages);
 * 2. prefetch warm pages on A (hottest first) only into the room above
 *    reserve that is left;
 * 3. demote pages of D coldest first (the cold ones, then, when hot memory
 *    leaves DRAM free below the reserve, the coldest of the hot) until D's
 *    free bytes are back at the reserve.
 * Limits: at most q pages each direction; a promotion beyond DRAM's free
 * pages, or a prefetch beyond the room above reserve, only together with a
 * demotion; a demotion only into a free page of A (promotions free pages
 * there).
 *
 * How many pages belong on D follows from the reserve alone (the budget),
 * and demotion happens only below it, so applying a plan and planning again
 * with nothing changed yields no moves (a fixed point; see
 * test/unit/cslide-policy.test.ts).
 */
import type { NodePair } from '../config/types.js';
import type { AccessMap } from '../scan/access-map.js';
import type { PageMove, Plan, MoveReason } from './plan.js';

/** Free and total bytes of one node's pool of the page size cslide works on (2 MiB hugepages). */
export interface NodePool {
  totalBytes: number;
  freeBytes: number;
}

/** Pools per NUMA node id. */
export type NodePools = Record<number, NodePool>;

export const CSLIDE_PAGE_SIZE_BYTES = 2 * 1024 * 1024;

export interface CslideInput {
  accessMap: AccessMap;
  nodePairs: readonly NodePair[];
  /** accessCount >= hotThreshold is hot */
  hotThreshold: number;
  /** node_mig_quota in bytes: per round, per node pair, each direction */
  quotaBytes: number;
  /** node_hot_reserve in bytes: DRAM kept free (for hot memory) on each DRAM node */
  hotReserveBytes: number;
  /** hugepage pools of `pageSizeBytes` per node; a pair with a node missing here is skipped */
  pools: NodePools;
  /** scans per cycle; counts above it are clamped to it */
  loop: number;
  /** only ranges of this page size are considered (default 2 MiB) */
  pageSizeBytes?: number;
}

/** A run of pages of equal count on one node, in the order a step takes them. */
interface Chunk {
  start: number;
  pageCount: number;
  accessCount: number;
  node: number;
}

const hottestFirst = (a: Chunk, b: Chunk): number => b.accessCount - a.accessCount || a.start - b.start;
const coldestFirst = (a: Chunk, b: Chunk): number => a.accessCount - b.accessCount || a.start - b.start;

const sumPages = (chunks: readonly Chunk[]): number => chunks.reduce((n, c) => n + c.pageCount, 0);

/** Takes pages from the front of a sorted chunk list, splitting a chunk when needed. */
class ChunkCursor {
  private index = 0;
  private offset = 0;

  constructor(private readonly chunks: readonly Chunk[]) {}

  take(pages: number, pageSizeBytes: number, fromNode: number, toNode: number, reason: MoveReason, out: PageMove[]): number {
    let taken = 0;
    while (taken < pages && this.index < this.chunks.length) {
      const c = this.chunks[this.index]!;
      const n = Math.min(pages - taken, c.pageCount - this.offset);
      out.push({ start: c.start + this.offset * pageSizeBytes, pageCount: n, pageSizeBytes, fromNode, toNode, reason, accessCount: c.accessCount });
      taken += n;
      this.offset += n;
      if (this.offset === c.pageCount) {
        this.index++;
        this.offset = 0;
      }
    }
    return taken;
  }
}

interface PairMoves {
  promotions: PageMove[];
  prefetches: PageMove[];
  demotions: PageMove[];
  /** all of the above in an order where every move finds a free page */
  schedule: PageMove[];
}

function planPair(pair: NodePair, dramChunks: Chunk[], aepChunks: Chunk[], input: CslideInput, pageSizeBytes: number): PairMoves {
  const out: PairMoves = { promotions: [], prefetches: [], demotions: [], schedule: [] };
  const dramPool = input.pools[pair.dram];
  const aepPool = input.pools[pair.aep];
  if (!dramPool || !aepPool) return out;
  const P = pageSizeBytes;
  const quotaPages = Math.floor(Math.max(0, input.quotaBytes) / P);
  if (quotaPages === 0) return out;
  const reserve = Math.max(0, input.hotReserveBytes);
  const thr = input.hotThreshold;

  // Which of the task's pages belong on D, best first: hot pages already on
  // D, hot pages on A (promotions: they displace only cold pages), cold pages
  // already on D (they stay while there is room), warm pages on A (prefetch).
  const hotOnDram = dramChunks.filter((c) => c.accessCount >= thr).sort(hottestFirst);
  const hotOnAep = aepChunks.filter((c) => c.accessCount >= thr).sort(hottestFirst);
  const coldOnDram = dramChunks.filter((c) => c.accessCount < thr).sort(hottestFirst);
  const warmOnAep = aepChunks.filter((c) => c.accessCount < thr && c.accessCount >= 1).sort(hottestFirst);
  const dramPages = sumPages(dramChunks);
  // floor() of a negative surplus is minus the deficit rounded up to whole pages.
  const roomAboveReservePages = Math.floor((dramPool.freeBytes - reserve) / P);
  const budgetPages = Math.max(0, dramPages + roomAboveReservePages);

  // The ideal: the first `budgetPages` of the ranking on D, the rest off it.
  const keptHotOnDram = Math.min(sumPages(hotOnDram), budgetPages);
  const wantedHot = Math.min(sumPages(hotOnAep), budgetPages - keptHotOnDram);
  const keptColdOnDram = Math.min(sumPages(coldOnDram), budgetPages - keptHotOnDram - wantedHot);
  const wantedWarm = Math.min(sumPages(warmOnAep), budgetPages - keptHotOnDram - wantedHot - keptColdOnDram);
  const wantedDemote = dramPages - keptHotOnDram - keptColdOnDram;

  // Within quota and room. The reserve is DRAM kept for hot memory, so a
  // hot promotion may land in any free DRAM page (or one a demotion frees),
  // reserve included, as etmem's step 1 does; a prefetch only in the room
  // above the reserve. Demotions need a free page on A (promotions free some).
  // The ideal above already caps how many pages belong on D, so using the
  // reserve for hot pages changes the path, never the fixed point.
  const freeAepPages = Math.floor(aepPool.freeBytes / P);
  const freeDramPages = Math.floor(dramPool.freeBytes / P);
  let promoteHot = Math.min(wantedHot, quotaPages);
  let prefetch = Math.min(wantedWarm, quotaPages - promoteHot);
  let demote = Math.min(wantedDemote, quotaPages, freeAepPages + promoteHot + prefetch);
  for (;;) {
    const ph = Math.min(promoteHot, Math.max(0, freeDramPages + demote));
    const pf = Math.min(prefetch, Math.max(0, roomAboveReservePages + demote - ph));
    const d = Math.min(demote, freeAepPages + ph + pf);
    if (ph === promoteHot && pf === prefetch && d === demote) break;
    promoteHot = ph;
    prefetch = pf;
    demote = d;
  }

  // Coldest first off D: the cold pages, then the coldest of the hot.
  const demoteOrder = [...[...coldOnDram].sort(coldestFirst), ...[...hotOnDram].sort(coldestFirst)];
  const promoteCursor = new ChunkCursor([...hotOnAep, ...warmOnAep]);
  const demoteCursor = new ChunkCursor(demoteOrder);

  // Execution order: each move needs a free page where it lands, so promote
  // what fits on D, then demote into what that freed on A, and repeat.
  let physFreeDram = Math.floor(dramPool.freeBytes / P);
  let physFreeAep = freeAepPages;
  let hotLeft = promoteHot;
  let prefetchLeft = prefetch;
  let demoteLeft = demote;
  const schedule: PageMove[] = [];
  while (hotLeft + prefetchLeft > 0 || demoteLeft > 0) {
    // The cursor yields hot pages first: prefetches start once every planned promotion is placed.
    const a1 = promoteCursor.take(Math.min(hotLeft, physFreeDram), P, pair.aep, pair.dram, 'promote', schedule);
    const a2 = hotLeft - a1 > 0 ? 0 : promoteCursor.take(Math.min(prefetchLeft, physFreeDram - a1), P, pair.aep, pair.dram, 'prefetch', schedule);
    const a = a1 + a2;
    hotLeft -= a1;
    prefetchLeft -= a2;
    physFreeDram -= a;
    physFreeAep += a;
    const b = demoteCursor.take(Math.min(demoteLeft, physFreeAep), P, pair.dram, pair.aep, 'demote', schedule);
    demoteLeft -= b;
    physFreeAep -= b;
    physFreeDram += b;
    if (a === 0 && b === 0) break; // both nodes full: nothing can move this round
  }
  for (const m of schedule) {
    if (m.reason === 'promote') out.promotions.push(m);
    else if (m.reason === 'prefetch') out.prefetches.push(m);
    else out.demotions.push(m);
  }
  out.schedule = schedule;
  return out;
}

/**
 * Plans one cslide round for one task. Moves come in execution order:
 * promotions, then prefetches, then demotions; except when a DRAM node has
 * no free page for a promotion, where that pair's promotions and the
 * demotions that make room for them alternate, so every move has a free
 * page to land on. Per pair and direction, the plan never exceeds
 * `quotaBytes`.
 */
export function planCslide(input: CslideInput): Plan {
  const pageSizeBytes = input.pageSizeBytes ?? CSLIDE_PAGE_SIZE_BYTES;
  const loop = Math.max(0, input.loop);
  const byNode = new Map<number, Chunk[]>();
  for (const r of input.accessMap.ranges) {
    // Pages not present or on an unknown node (-1) cannot be moved: skip.
    if (!r.present || r.node < 0 || r.pageSizeBytes !== pageSizeBytes || r.pageCount <= 0) continue;
    const chunk: Chunk = { start: r.start, pageCount: r.pageCount, accessCount: Math.min(Math.max(0, r.accessCount), loop), node: r.node };
    let list = byNode.get(r.node);
    if (!list) byNode.set(r.node, (list = []));
    list.push(chunk);
  }
  const perPair = input.nodePairs.map((pair) => planPair(pair, byNode.get(pair.dram) ?? [], byNode.get(pair.aep) ?? [], input, pageSizeBytes));
  // Pairs touch disjoint nodes, so regrouping all pairs' moves by step keeps
  // every move executable as long as no pair needed a demotion before one of
  // its promotions (a full DRAM node); otherwise keep each pair's schedule.
  const canonical = perPair.every((m) => {
    const firstDemote = m.schedule.findIndex((x) => x.reason === 'demote');
    return firstDemote < 0 || m.schedule.slice(firstDemote).every((x) => x.reason === 'demote');
  });
  const moves = canonical
    ? [...perPair.flatMap((m) => m.promotions), ...perPair.flatMap((m) => m.prefetches), ...perPair.flatMap((m) => m.demotions)]
    : perPair.flatMap((m) => m.schedule);
  return {
    pid: input.accessMap.pid,
    moves,
    swapOuts: [],
  };
}
