/**
 * cslide policy: which pages of an engine's guests move between the DRAM
 * and the AEP (CXL, memory-only) node of each `node_pair`, for one round.
 * Pure: the AccessMaps of every pid of every task of the engine and the
 * nodes' free memory in, one plan out. As etmem's cslide (etmemd_cslide.c
 * plans an engine's pids together), the guests share one quota per node
 * pair and direction and one reserve per DRAM node; the hottest pages of
 * all guests are promoted first, the coldest demoted first, ties broken by
 * guest order, then address. docs/engines.md states the policy; the words
 * used here:
 *
 * - hot:  accessCount >= hot_threshold
 * - cold: accessCount <  hot_threshold
 * - warm: cold, but accessed in at least one scan of the cycle (count >= 1);
 *         the prefetch candidates on the AEP node
 * - room above reserve: free DRAM bytes beyond node_hot_reserve, in whole pages
 *
 * Pools. A page lands in the pool of its kind on the target node: hugetlb
 * pages of size S in the node's hugepage pool of S, everything else (THP,
 * 4 KiB anonymous, shmem/memfd) in the node's free memory ("regular").
 * Each pool is planned on its own, in whole pages of its unit (S, or 4 KiB
 * for regular memory, where a THP counts 512 units and is never split);
 * the reserve applies to each pool of a DRAM node; the quota, in bytes, is
 * shared by the pools of a pair (each direction), hottest moves first.
 *
 * Per pair and pool (D = DRAM node, A = AEP node, P = the pool's unit,
 * q = quota in units), the guests' pages are ranked by where they belong,
 * best first:
 *   hot on D (hottest first), hot on A (hottest first), cold on D (hottest
 *   first), warm on A (hottest first); cold pages on A with count 0 never move.
 * D may hold `budget = (guest pages on D) + floor((free(D) - reserve) / P)` of
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
import type { AccessMap, AccessMapVma } from '../scan/access-map.js';
import type { PageMove, Plan, MoveReason } from './plan.js';
import { ChunkRows, NeedAllRows, NodeRows, PoolRows, RowList, addBytesByGuest, hottestFirst, sortRows, sumBytes } from './cslide-chunks.js';

/** Free and total bytes of one node's pool of one kind. */
export interface NodePool {
  totalBytes: number;
  freeBytes: number;
}

/** Pools per NUMA node id. */
export type NodePools = Record<number, NodePool>;

/** A pool kind: `hugetlb-<page size>` (the node's hugepage pool of that size) or `regular` (its free memory). */
export type PoolKind = `hugetlb-${number}` | 'regular';

export const CSLIDE_PAGE_SIZE_BYTES = 2 * 1024 * 1024;
export const BASE_PAGE_BYTES = 4096;

export const hugetlbPool = (pageSizeBytes: number): PoolKind => `hugetlb-${pageSizeBytes}`;

/**
 * A guest's share of DRAM (virt-tier, beyond etmem): under contention (more
 * hot memory than the DRAM pool holds) guests get DRAM in proportion to
 * their weight, never less than their minimum (their hottest pages first)
 * and never more than their maximum.
 */
export interface GuestShare {
  /** relative share under contention, 1..10000; guests without one weigh 100 */
  weight?: number;
  /** bytes of DRAM the guest keeps whatever other guests need */
  dramMinBytes?: number;
  /** bytes of DRAM the guest never exceeds */
  dramMaxBytes?: number;
}

export const DEFAULT_GUEST_WEIGHT = 100;

/** One target of the engine: a pid of one of its tasks, with its last AccessMap. */
export interface CslideGuest {
  /** stable name (task, pid) for stats; guests are ranked in array order on ties */
  key: string;
  accessMap: AccessMap;
  share?: GuestShare;
}

/**
 * The thrash guard: a page moved in the last `rounds` rounds is not moved
 * back unless its count crossed the threshold by `margin` (promotion back
 * needs count >= hot_threshold + margin, demotion back count <
 * hot_threshold - margin).
 */
export interface ThrashGuard {
  rounds: number;
  margin: number;
  /** where and how long ago the page at `start` of `pid` was last moved, if within `rounds` */
  lastMove(pid: number, start: number): { roundsAgo: number; toNode: number } | undefined;
  /**
   * The recorded moves over [start, end) of `pid` as disjoint intervals in
   * address order: a page whose first byte lies in one was last moved as it
   * says, any other page not at all (what `lastMove` answers page by page).
   * Given, the planner asks once per range instead of once per page (1 TiB
   * of 4 KiB pages is 268M pages a plan).
   */
  movedIn?(pid: number, start: number, end: number): readonly MovedInterval[];
}

export interface MovedInterval {
  start: number;
  end: number;
  roundsAgo: number;
  toNode: number;
}

interface CslideCommon {
  nodePairs: readonly NodePair[];
  /** accessCount >= hotThreshold is hot */
  hotThreshold: number;
  /** node_mig_quota in bytes: per round, per node pair, each direction, for the whole engine */
  quotaBytes: number;
  /** node_hot_reserve in bytes: kept free (for hot memory) in each pool of each DRAM node */
  hotReserveBytes: number;
  /** scans per cycle; counts above it are clamped to it */
  loop: number;
  /**
   * DRAM nodes under memory pressure (virt-tier's free-DRAM watermarks),
   * with their high watermark in bytes: nothing is promoted to them, and
   * their regular memory keeps at least that much free.
   */
  pressure?: ReadonlyMap<number, number>;
}

export interface HostCslideInput extends CslideCommon {
  guests: readonly CslideGuest[];
  thrash?: ThrashGuard;
  /** free/total bytes per pool kind and node; a pool kind missing here, or a node missing from it, is not planned */
  pools: Partial<Record<PoolKind, NodePools>>;
}

/** The single-map form (one pid, 2 MiB hugetlb only), kept for callers that plan one map. */
export interface CslideInput extends CslideCommon {
  accessMap: AccessMap;
  /** hugepage pools of `pageSizeBytes` per node; a pair with a node missing here is skipped */
  pools: NodePools;
  /** only ranges of this page size are considered (default 2 MiB) */
  pageSizeBytes?: number;
}

/** A move of one guest's pages. */
export interface HostMove extends PageMove {
  pid: number;
  /** index into the input's guests */
  guest: number;
  pool: PoolKind;
}

export interface HostPlan {
  /** in execution order across guests: every move finds a free page where it lands */
  moves: HostMove[];
}

/**
 * The chunks of one plan (runs of pages of equal count and size on one
 * node, of one guest), as rows in columns reused from plan to plan: plans
 * are synchronous and nothing of a row outlives one (moves copy its
 * numbers), so one table serves every call.
 */
const chunkRows = new ChunkRows();
/** Each pool's node rows, emptied by every plan and refilled by those that plan the pool (their lists keep their memory while plans use it: SHRINK_WINDOW_PLANS). */
const poolRowsCache = new Map<PoolKind, PoolRows>();

/** Bytes the planner holds between plans (its chunk rows, scratch and each pool's node lists): test/unit/cslide-scratch.test.ts. */
export function plannerScratchBytes(): number {
  let n = chunkRows.capacityBytes();
  for (const rows of poolRowsCache.values()) n += rows.capacityBytes();
  return n;
}

/** Takes whole pages from the front of a sorted chunk list, up to a number of bytes. */
class ChunkCursor {
  private index = 0;
  private offset = 0;

  /** `partial`: the list was cut short (a bound plan's NodeRows.where): running off its end throws NeedAllRows. */
  constructor(private readonly t: ChunkRows, private readonly rows: Int32Array, private readonly partial = false) {}

  take(maxBytes: number, fromNode: number, toNode: number, reason: MoveReason, pool: PoolKind, out: HostMove[]): number {
    const t = this.t;
    let taken = 0;
    while (this.index < this.rows.length) {
      const c = this.rows[this.index]!;
      const size = t.pageSizeBytes[c]!;
      const n = Math.min(Math.floor((maxBytes - taken) / size), t.pageCount[c]! - this.offset);
      if (n <= 0) {
        // A page bigger than what is left is never split; smaller pages after it may still fit.
        if (maxBytes - taken > 0) {
          if (this.index + 1 < this.rows.length) {
            if (t.pageSizeBytes[this.rows[this.index + 1]!]! < size) {
              this.index++;
              this.offset = 0;
              continue;
            }
          } else if (this.partial) throw new NeedAllRows('a step that read its list\'s last row');
        }
        break;
      }
      out.push({
        pid: t.pidOfGuest[t.guest[c]!]!, guest: t.guest[c]!, pool, start: t.start[c]! + this.offset * size, pageCount: n, pageSizeBytes: size,
        fromNode, toNode, reason, accessCount: t.accessCount[c]!,
      });
      taken += n * size;
      this.offset += n;
      if (this.offset === t.pageCount[c]!) {
        this.index++;
        this.offset = 0;
      }
    }
    // Off the end of a cut list with room left: the rows past the cut might have been taken.
    if (this.partial && this.index >= this.rows.length && taken < maxBytes) throw new NeedAllRows('a step that took its list\'s every row');
    return taken;
  }
}

interface PairMoves {
  promotions: HostMove[];
  prefetches: HostMove[];
  demotions: HostMove[];
  /** all of the above in an order where every move finds a free page */
  schedule: HostMove[];
}

/** The chunks without the pages named in `gone` ("pid:address"), split where needed. */
function splitOut(t: ChunkRows, rows: Int32Array, gone: ReadonlySet<string>): Int32Array {
  if (gone.size === 0) return rows.slice();
  const out = new RowList();
  for (const c of rows) {
    const size = t.pageSizeBytes[c]!;
    const pages = t.pageCount[c]!;
    let runStart = -1;
    for (let k = 0; k <= pages; k++) {
      const keep = k < pages && !gone.has(`${t.pidOfGuest[t.guest[c]!]!}:${t.start[c]! + k * size}`);
      if (keep && runStart < 0) runStart = k;
      if (!keep && runStart >= 0) {
        out.push(t.derive(c, t.start[c]! + runStart * size, k - runStart));
        runStart = -1;
      }
    }
  }
  return out.view();
}

/** A hottest-first list cut so that no guest takes more than its room (bytes), whole pages only. */
function capByGuest(t: ChunkRows, rows: Int32Array, room: Map<number, number>): Int32Array {
  const left = new Map(room);
  const out = new RowList();
  for (const c of rows) {
    const r = left.get(t.guest[c]!) ?? Infinity;
    const pages = Math.min(t.pageCount[c]!, Math.max(0, Math.floor(r / t.pageSizeBytes[c]!)));
    if (pages <= 0) continue;
    out.push(pages === t.pageCount[c]! ? c : t.derive(c, t.start[c]!, pages));
    left.set(t.guest[c]!, r - pages * t.pageSizeBytes[c]!);
  }
  return out.view();
}

/**
 * Each guest's DRAM allocation in one pool of one pair (bytes). Without
 * contention (every guest's hot bytes, up to its maximum, fit in what the
 * guests hold on D plus D's free room) only maxima apply. Under contention
 * DRAM is water-filled: each guest first gets its minimum (up to what it
 * has), the rest in proportion to weight, no guest above its hot bytes (or
 * minimum) or its maximum; what a capped guest leaves goes to the others.
 */
function allocateShares(t: ChunkRows, dramRows: Int32Array, aepRows: Int32Array, freeBytes: number, hotThreshold: number, shares: readonly (GuestShare | undefined)[]): Map<number, number> {
  const onDram = addBytesByGuest(t, dramRows, new Map());
  const total = addBytesByGuest(t, aepRows, addBytesByGuest(t, dramRows, new Map()));
  const hot = addBytesByGuest(t, aepRows, addBytesByGuest(t, dramRows, new Map(), hotThreshold), hotThreshold);
  const capacity = [...onDram.values()].reduce((a, b) => a + b, 0) + Math.max(0, freeBytes);
  const guests = [...total.keys()];
  const max = (g: number): number => shares[g]?.dramMaxBytes ?? Infinity;
  const min = (g: number): number => Math.min(shares[g]?.dramMinBytes ?? 0, total.get(g) ?? 0, max(g));
  const demand = (g: number): number => Math.max(min(g), Math.min(hot.get(g) ?? 0, max(g)));
  const alloc = new Map<number, number>();
  if (guests.reduce((n, g) => n + demand(g), 0) <= capacity) {
    for (const g of guests) alloc.set(g, max(g));
    return alloc;
  }
  for (const g of guests) alloc.set(g, min(g));
  let left = capacity - guests.reduce((n, g) => n + min(g), 0);
  let open = guests.filter((g) => alloc.get(g)! < demand(g));
  while (left > 1 && open.length > 0) {
    const weights = open.reduce((n, g) => n + (shares[g]?.weight ?? DEFAULT_GUEST_WEIGHT), 0);
    let given = 0;
    const next: number[] = [];
    for (const g of open) {
      const want = demand(g) - alloc.get(g)!;
      const part = (left * (shares[g]?.weight ?? DEFAULT_GUEST_WEIGHT)) / weights;
      const take = Math.min(want, part);
      alloc.set(g, alloc.get(g)! + take);
      given += take;
      if (take < want) next.push(g);
    }
    left -= given;
    if (next.length === open.length) break; // everyone took a full part: the capacity is spent
    open = next;
  }
  for (const g of guests) alloc.set(g, Math.floor(alloc.get(g)!));
  return alloc;
}

/**
 * One pool of one pair, in etmem's three steps (etmemd_cslide.c:
 * move_hot_pages, prefetch_hot_pages, move_cold_pages with the flow
 * control of node_cal_hot_can_move, node_cal_hot_can_prefetch and
 * node_cal_cold_can_move), in bytes of whole pages:
 * 1. hot pages on A (count >= hot_threshold), hottest first, into DRAM's
 *    free room and in place of cold pages of D (which then go to A). The
 *    reserve does not hold hot pages back;
 * 2. prefetch of the other pages on A (hottest first, count 0 included, as
 *    etmem's loop runs down to 0) into the room above the reserve;
 * 3. demotion of cold pages of D (count < hot_threshold), coldest first:
 *    those hot pages displaced, plus enough to bring DRAM's free room back
 *    to the reserve, as far as A has room. Hot pages are never demoted.
 * The quota is per direction (etmem's README: 单向最大流量): promotions
 * and prefetches share one, demotions the other. etmem's code charges both
 * to one budget (a displacing promotion twice, hence its `/ 2`); with one
 * budget per direction a displacing promotion costs one page each way.
 * Unlike etmem's `free + cold_free` bound, displacement is limited only by
 * the cold pages of D and the quota: the schedule below alternates
 * promotions and demotions, so one free page on either node suffices.
 */
function planPool(pair: NodePair, pool: PoolKind, t: ChunkRows, dram: NodeRows, aep: NodeRows, pools: NodePools, quotaBytes: number, input: CslideCommon, shares?: readonly (GuestShare | undefined)[]): PairMoves {
  const out: PairMoves = { promotions: [], prefetches: [], demotions: [], schedule: [] };
  const dramPool = pools[pair.dram];
  const aepPool = pools[pair.aep];
  if (!dramPool || !aepPool || quotaBytes <= 0) return out;
  const highWatermark = input.pressure?.get(pair.dram);
  // Under pressure regular memory keeps the high watermark free (hugetlb pools do not free the node's memory).
  const reserve = Math.max(0, input.hotReserveBytes, highWatermark !== undefined && pool === 'regular' ? highWatermark : 0);
  const thr = input.hotThreshold;

  let hotOnAep = aep.where(thr, true, 'hottest');
  const restOnAep = aep.where(thr, false, 'hottest');
  const coldOnDramAll = dram.where(thr, false, 'coldest');
  let coldOnDram = coldOnDramAll;
  // Per node, in a loop (NodeRows), not Math.max(...spread): 1 TiB in 2 MiB chunks is 524K arguments, past the call stack (bench/scale.ts).
  const largestPage = Math.max(dram.largestPageBytes(), aep.largestPageBytes());

  let quotaUp = highWatermark !== undefined ? 0 : quotaBytes;
  let quotaDown = quotaBytes;
  let free = Math.max(0, dramPool.freeBytes);
  let freeAep = Math.max(0, aepPool.freeBytes);

  // 0. shares (virt-tier): guests above their DRAM allocation give up their coldest pages first.
  const shareDemoted: HostMove[] = [];
  let shareFreed = 0;
  if (shares && shares.some((x) => x !== undefined)) {
    const dramRows = dram.rows();
    const alloc = allocateShares(t, dramRows, aep.rows(), free, thr, shares);
    const onDram = addBytesByGuest(t, dramRows, new Map());
    // Over-allocated guests: their pages on D, coldest first, down to the allocation.
    const over = dram.byCount('coldest');
    const giving = new Map<number, number>();
    for (const [g, held] of onDram) if (held > (alloc.get(g) ?? Infinity)) giving.set(g, held - alloc.get(g)!);
    const list = new RowList();
    for (const c of over) {
      const g = t.guest[c]!;
      const left = giving.get(g) ?? 0;
      if (left <= 0) continue;
      const pages = Math.min(t.pageCount[c]!, Math.ceil(left / t.pageSizeBytes[c]!));
      list.push(pages === t.pageCount[c]! ? c : t.derive(c, t.start[c]!, pages));
      giving.set(g, left - pages * t.pageSizeBytes[c]!);
    }
    shareFreed = new ChunkCursor(t, list.view()).take(Math.min(quotaDown, freeAep + free + sumBytes(t, hotOnAep)), pair.dram, pair.aep, 'demote', pool, shareDemoted);
    quotaDown -= shareFreed;
    const gone = new Set(shareDemoted.flatMap((m) => Array.from({ length: m.pageCount }, (_, k) => `${m.pid}:${m.start + k * m.pageSizeBytes}`)));
    coldOnDram = splitOut(t, coldOnDram, gone);
    // Promotions only up to each guest's allocation; guests below their minimum first.
    const room = new Map<number, number>();
    for (const [g, a] of alloc) room.set(g, a - (onDram.get(g) ?? 0) + 0);
    for (const m of shareDemoted) room.set(m.guest, (room.get(m.guest) ?? 0) + m.pageCount * m.pageSizeBytes);
    const belowMin = (g: number): boolean => (onDram.get(g) ?? 0) < (shares[g]?.dramMinBytes ?? 0);
    const hottest = hottestFirst(t);
    hotOnAep = capByGuest(t, sortRows(hotOnAep, (a, b) => Number(belowMin(t.guest[b]!)) - Number(belowMin(t.guest[a]!)) || hottest(a, b)), room);
    // Cold pages of a guest at or below its minimum are not demoted for the reserve.
    coldOnDram = coldOnDram.filter((c) => !((onDram.get(t.guest[c]!) ?? 0) <= (shares[t.guest[c]!]?.dramMinBytes ?? 0)));
  }

  // 1. hot pages: into free room, then in place of cold pages (a free page on either node lets the two alternate)
  const canDisplace = free + shareFreed + freeAep >= largestPage;
  // The cold list's bytes from the node's sums unless the shares step cut the list.
  const coldOnDramBytes = coldOnDram === coldOnDramAll ? dram.whereBytes(thr, false) : sumBytes(t, coldOnDram);
  const hotCap = Math.min(quotaUp, free + shareFreed + (canDisplace ? Math.min(quotaDown, coldOnDramBytes) : 0));
  const promoted: HostMove[] = [];
  const hot = new ChunkCursor(t, hotOnAep, aep.partial(hotOnAep)).take(hotCap, pair.aep, pair.dram, 'promote', pool, promoted);
  free += shareFreed;
  freeAep -= shareFreed;
  const displaced = Math.max(0, hot - free);
  quotaUp -= hot;
  quotaDown -= displaced;
  freeAep += hot - displaced;
  free = Math.max(0, free - hot);
  // 2. prefetch, only above the reserve
  const prefetchCap = free > reserve ? Math.min(free - reserve, quotaUp) : 0;
  const prefetched: HostMove[] = [];
  const pre = new ChunkCursor(t, restOnAep, aep.partial(restOnAep)).take(prefetchCap, pair.aep, pair.dram, 'prefetch', pool, prefetched);
  free -= pre;
  freeAep += pre;
  // 3. cold pages: the displaced ones, and what restores the reserve
  const coldCap = displaced + Math.max(0, Math.min(quotaDown, reserve - free, freeAep));
  const demoted: HostMove[] = [...shareDemoted];
  new ChunkCursor(t, coldOnDram, dram.partial(coldOnDram)).take(coldCap, pair.dram, pair.aep, 'demote', pool, demoted);

  // Execution order: each move needs free room where it lands, so promote
  // what fits on D, then demote into what that freed on A, and repeat.
  let physFreeDram = Math.max(0, dramPool.freeBytes);
  let physFreeAep = Math.max(0, aepPool.freeBytes);
  const upBytes = bytesOf(promoted) + bytesOf(prefetched);
  if (upBytes <= physFreeDram && bytesOf(demoted) <= physFreeAep + upBytes) {
    // Everything fits in one round of the loop below (all of `up`, then every demotion): its
    // schedule is the lists as they are, without a copy per move (issue 11: moves cost more
    // than ranges at 16 GiB, bench/scale.ts).
    out.promotions = promoted;
    out.prefetches = prefetched;
    out.demotions = demoted;
    out.schedule = promoted.concat(prefetched, demoted);
    return out;
  }
  const up = promoted.concat(prefetched);
  let u = 0;
  let d = 0;
  const schedule: HostMove[] = [];
  while (u < up.length || d < demoted.length) {
    let progressed = false;
    while (u < up.length && up[u]!.pageCount * up[u]!.pageSizeBytes <= physFreeDram) {
      const m = up[u++]!;
      physFreeDram -= m.pageCount * m.pageSizeBytes;
      physFreeAep += m.pageCount * m.pageSizeBytes;
      schedule.push(m);
      progressed = true;
    }
    while (d < demoted.length && demoted[d]!.pageCount * demoted[d]!.pageSizeBytes <= physFreeAep) {
      const m = demoted[d++]!;
      physFreeAep -= m.pageCount * m.pageSizeBytes;
      physFreeDram += m.pageCount * m.pageSizeBytes;
      schedule.push(m);
      progressed = true;
    }
    if (!progressed) {
      // A multi-page move that fits only in part: split it into single pages and go on.
      const split = (list: HostMove[], i: number): boolean => {
        const m = list[i];
        if (!m || m.pageCount <= 1) return false;
        list.splice(i, 1, ...Array.from({ length: m.pageCount }, (_, k) => ({ ...m, start: m.start + k * m.pageSizeBytes, pageCount: 1 })));
        return true;
      };
      if (!split(up, u) && !split(demoted, d)) break; // both nodes full: the rest waits
    }
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
 * Whether the thrash guard keeps a page where it is this round: it was
 * moved to its node within the guard's rounds, and its count has not
 * crossed the threshold by the margin the other way since.
 */
function thrashHeld(guard: ThrashGuard, pid: number, start: number, node: number, count: number, threshold: number): boolean {
  const last = guard.lastMove(pid, start);
  if (!last || last.toNode !== node || last.roundsAgo > guard.rounds) return false;
  return countHeld(guard, count, threshold);
}

/** Whether a page of this count moved to its node within the guard's rounds stays there. */
function countHeld(guard: ThrashGuard, count: number, threshold: number): boolean {
  // Promoted here (count was hot): only a count well below the threshold sends it back; demoted here: well above.
  return count >= threshold ? count < threshold + guard.margin : count >= threshold - guard.margin;
}

/**
 * The VMA holding an address. Ranges come in address order, so the last
 * hit is tried first: one search per VMA, not per range.
 */
function vmaFinder(vmas: readonly AccessMapVma[] | undefined): (start: number) => AccessMapVma | undefined {
  let last: AccessMapVma | undefined;
  return (start) => {
    if (last && start >= last.start && start < last.end) return last;
    last = vmas?.find((v) => start >= v.start && start < v.end);
    return last;
  };
}

/** The pool a range draws from: hugetlb when its VMA has `ht`, regular memory otherwise. */
function poolOfRange(vma: AccessMapVma | undefined, pageSizeBytes: number): PoolKind {
  // Maps without VMA info (older recordings) carried hugetlb pages only.
  if (!vma) return pageSizeBytes > BASE_PAGE_BYTES ? hugetlbPool(pageSizeBytes) : 'regular';
  return vma.vmFlags.includes('ht') ? hugetlbPool(pageSizeBytes) : 'regular';
}

const unitOf = (pool: PoolKind): number => (pool === 'regular' ? BASE_PAGE_BYTES : Number(pool.slice('hugetlb-'.length)));

function bytesOf(moves: readonly HostMove[]): number {
  let n = 0;
  for (let i = 0; i < moves.length; i++) n += moves[i]!.pageCount * moves[i]!.pageSizeBytes;
  return n;
}

/** Whether no promotion or prefetch comes after the first demotion of a schedule (one pass, no copy). */
function demotionsLast(schedule: readonly HostMove[]): boolean {
  let demoting = false;
  for (let i = 0; i < schedule.length; i++) {
    if (schedule[i]!.reason === 'demote') demoting = true;
    else if (demoting) return false;
  }
  return true;
}

/**
 * Shares one pair's quota between its pools: their planned moves in
 * etmem's order (promotions hottest first, then prefetches, then
 * demotions coldest first), taken while the bytes fit. Each pool's
 * share in bytes.
 */
function shareQuota(wanted: ReadonlyMap<PoolKind, PairMoves>, quotaBytes: number): Map<PoolKind, number> {
  const share = new Map<PoolKind, number>();
  for (const pool of wanted.keys()) share.set(pool, 0);
  const all = [...wanted.values()];
  const order = [
    ...all.flatMap((m) => m.promotions).sort((a, b) => b.accessCount - a.accessCount || a.guest - b.guest || a.start - b.start),
    ...all.flatMap((m) => m.prefetches).sort((a, b) => b.accessCount - a.accessCount || a.guest - b.guest || a.start - b.start),
    ...all.flatMap((m) => m.demotions).sort((a, b) => a.accessCount - b.accessCount || a.guest - b.guest || a.start - b.start),
  ];
  let left = quotaBytes;
  for (const m of order) {
    const pages = Math.min(m.pageCount, Math.floor(left / m.pageSizeBytes));
    if (pages <= 0) continue;
    left -= pages * m.pageSizeBytes;
    share.set(m.pool, share.get(m.pool)! + pages * m.pageSizeBytes);
  }
  return share;
}

export interface PlanOptions {
  /** plan in full, every range a row (tests and benches that compare) */
  allRows?: boolean;
  /** rows a bound plan keeps past each bucket's quota's worth, instead of tailRows (tests: 0 sends steps past the cut, to the plan in full) */
  boundTailRows?: number;
}

/**
 * Plans one cslide round for the whole engine. Moves come in execution
 * order: promotions, then prefetches, then demotions; except when a DRAM
 * pool has no free room for a promotion, where that pair's promotions and
 * the demotions that make room for them alternate, so every move has a
 * free page to land on. Per pair and direction, the plan never exceeds
 * `quotaBytes` over all guests and pools. A bound plan (the rule) and a
 * plan in full plan the same moves; the bound one makes rows only of what
 * its steps can read (src/engines/cslide-chunks.ts NodeRows).
 */
export function planHostCslide(input: HostCslideInput, opts: PlanOptions = {}): HostPlan {
  // A bound plan keeps each bucket's rows up to the quota's worth (NodeRows.offer). The shares
  // step reads every row of a node: a plan with shares is made in full, as is one with no
  // finite quota to bound by.
  const bound = !opts.allRows && !input.guests.some((g) => g.share !== undefined) && Number.isFinite(input.quotaBytes);
  if (bound) {
    try {
      return planRound(input, true, opts.boundTailRows);
    } catch (err) {
      if (!(err instanceof NeedAllRows)) throw err;
      const plan = planRound(input, false);
      lastPlan.replannedInFull = true;
      return plan;
    }
  }
  return planRound(input, false);
}

/** What the last plan read and kept: test/unit/cslide-bound.test.ts, bench/range-pass.ts. */
export interface PlanRows {
  /** the ranges it filed in a pool (present, on a known node, of a planned pool) */
  ranges: number;
  /** the chunk rows it made of them */
  rows: number;
  /** whether it was a bound plan */
  bound: boolean;
  /** a bound plan that needed rows past its bound and was planned again in full */
  replannedInFull: boolean;
}

const lastPlan: PlanRows = { ranges: 0, rows: 0, bound: false, replannedInFull: false };

export function lastPlanRows(): PlanRows {
  return { ...lastPlan };
}

/**
 * Rows a bound plan keeps in a bucket past the quota's worth: once what is
 * left of a step's bytes is less than a page, the step steps over a page
 * too big for it when a smaller one follows and takes smaller pages, at
 * most about two rows per smallest page in the largest. The page sizes are
 * those of the pool's ranges so far; a step that needs more throws
 * NeedAllRows and the plan is made in full.
 */
const tailRows = (minPageBytes: number, maxPageBytes: number): number => 2 * (Math.ceil(maxPageBytes / minPageBytes) + 1) + 2;

/**
 * Files one guest's ranges in their pools' node rows (planRound); how many
 * it filed. A function of its own, so that the loop's variables are locals
 * of a small function (not of planRound, whose closures put its variables
 * in a context), where V8 keeps them in registers: the loop runs once per
 * range of every guest.
 */
function fileGuest(t: ChunkRows, input: HostCslideInput, guest: number, byPool: Map<PoolKind, PoolRows>, loop: number, bound: boolean, keepBytes: number, fixedTailRows: number | undefined, roles: NodeRoles): number {
  const thr = input.hotThreshold;
  let filed = 0;
  const g = input.guests[guest]!;
  const vmaOf = vmaFinder(g.accessMap.vmas);
  const pid = g.accessMap.pid;
  // The pool of the last range's VMA and page size: ranges of one VMA share it, so it is found once per VMA.
  let lastVma: AccessMapVma | undefined | null = null;
  let lastPageSizeBytes = 0;
  let vmaStart = Infinity;
  let vmaEnd = -Infinity;
  let nodes: PoolRows | undefined;
  let keepRows = Infinity;
  // the last range's node as the pairs use it (NodeRoles)
  let role = 0;
  let lastStart = -Infinity;
  // the last range's node rows: runs of ranges on one node are the rule
  let lastNode = -1;
  let lastRows: NodeRows | undefined;
  let lastCut: Uint8Array = new Uint8Array(0);
  let lastSums: Float64Array = new Float64Array(0);
  const thrash = input.thrash;
  const ranges = g.accessMap.ranges;
  const { starts, pageCounts, pageSizes, accessCounts, nodes: nodeCol, flags } = ranges;
  for (let i = 0, n = ranges.length; i < n; i++) {
    const node = nodeCol[i]!;
    const pageCount = pageCounts[i]!;
    // Pages not present or on an unknown node (-1) cannot be moved: skip.
    if ((flags[i]! & 1) === 0 || node < 0 || pageCount <= 0) continue;
    const start = starts[i]!;
    const pageSizeBytes = pageSizes[i]!;
    // Within the last range's VMA (its bounds held in locals) and of its page size, the pool is the
    // last range's: one test per range (a call and two property reads per range were a third of the pass).
    const vma: AccessMapVma | undefined = start >= vmaStart && start < vmaEnd && pageSizeBytes === lastPageSizeBytes ? (lastVma as AccessMapVma) : vmaOf(start);
    if (vma !== lastVma || pageSizeBytes !== lastPageSizeBytes) {
      lastVma = vma;
      vmaStart = vma ? vma.start : Infinity;
      vmaEnd = vma ? vma.end : -Infinity;
      lastPageSizeBytes = pageSizeBytes;
      const pool = poolOfRange(vma, pageSizeBytes);
      const unit = unitOf(pool);
      nodes = undefined;
      lastRows = undefined;
      if (input.pools[pool] && pageSizeBytes % unit === 0) {
        nodes = byPool.get(pool);
        if (!nodes) {
          nodes = poolRowsCache.get(pool);
          if (!nodes) poolRowsCache.set(pool, (nodes = new PoolRows(t)));
          byPool.set(pool, nodes);
        }
        if (bound) {
          nodes.notePageSize(pageSizeBytes);
          keepRows = fixedTailRows ?? tailRows(nodes.minPageBytes, nodes.maxPageBytes);
        }
      }
    }
    if (!nodes) continue;
    filed++;
    const accessCount = Math.min(Math.max(0, accessCounts[i]!), loop);
    if (lastRows === undefined || node !== lastNode) {
      lastRows = nodes.getOrAdd(node);
      lastNode = node;
      // the VMA test above drops lastRows when the page size changes, so every size passes here
      lastRows.notePageSize(pageSizeBytes);
      role = roles.of(node);
      lastCut = lastRows.cut;
      lastSums = lastRows.bucketBytes;
    }
    // A bound plan's buckets past their cut no longer see ranges' places (NodeRows.offer):
    // ranges out of address order plan in full.
    if (start < lastStart && bound) throw new NeedAllRows('ranges out of address order');
    lastStart = start;
    const list = lastRows;
    // A bucket past its cut only sums (offer's first test, here: a call per range was most of the
    // pass). Not under a thrash guard, whose held pages count in no sum.
    if (bound && !thrash && lastCut[accessCount] === 1) {
      lastSums[accessCount]! += pageCount * pageSizeBytes;
      continue;
    }
    // a bucket no step reads keeps no rows (its bytes still count)
    const read = (accessCount >= thr ? role & AEP_ROLE : role) !== 0;
    const runKeepBytes = read ? keepBytes : 0;
    const runKeepRows = read ? keepRows : 0;
    if (!thrash || !countHeld(thrash, accessCount, thr)) {
      // no page of the range is held (no guard, or none of this count, wherever it was moved)
      fileRun(t, list, guest, start, pageCount, pageSizeBytes, accessCount, bound, runKeepBytes, runKeepRows);
    } else if (thrash.movedIn && pageSizeBytes > 0) {
      // Pages the thrash guard holds stay out of this round's candidates; the rest keep their runs.
      // the guard's moved intervals over the range: one question per range, not one per page
      const moved = thrash.movedIn(pid, start, start + pageCount * pageSizeBytes);
      let from = 0;
      for (let m = 0; m < moved.length; m++) {
        const iv = moved[m]!;
        if (iv.toNode !== node || iv.roundsAgo > thrash.rounds) continue;
        // the pages whose first byte lies in the interval (lastMove's question, per page)
        const k0 = Math.max(from, Math.ceil((iv.start - start) / pageSizeBytes));
        const k1 = Math.min(pageCount, Math.ceil((iv.end - start) / pageSizeBytes));
        if (k1 <= k0) continue;
        if (k0 > from) fileRun(t, list, guest, start + from * pageSizeBytes, k0 - from, pageSizeBytes, accessCount, bound, runKeepBytes, runKeepRows);
        from = k1;
      }
      if (from < pageCount) fileRun(t, list, guest, start + from * pageSizeBytes, pageCount - from, pageSizeBytes, accessCount, bound, runKeepBytes, runKeepRows);
    } else {
      let runStart = -1;
      for (let k = 0; k <= pageCount; k++) {
        const held = k < pageCount && thrashHeld(thrash, pid, start + k * pageSizeBytes, node, accessCount, thr);
        const keep = k < pageCount && !held;
        if (keep && runStart < 0) runStart = k;
        if (!keep && runStart >= 0) {
          fileRun(t, list, guest, start + runStart * pageSizeBytes, k - runStart, pageSizeBytes, accessCount, bound, runKeepBytes, runKeepRows);
          runStart = -1;
        }
      }
    }
    // a new count may have widened the arrays
    lastCut = list.cut;
    lastSums = list.bucketBytes;
  }
  return filed;
}

/**
 * How the node pairs use each node: as the DRAM node of a pair (its cold
 * pages are demoted), as the AEP node (its hot pages promoted, the rest
 * prefetched), both, or neither. A bound plan keeps rows only of buckets a
 * step reads: hot pages on a node that is only ever DRAM stay where they
 * are, and a node of no pair is not planned (the shares step, which reads
 * every row, plans in full).
 */
const DRAM_ROLE = 1;
const AEP_ROLE = 2;

class NodeRoles {
  private readonly roles = new Map<number, number>();

  constructor(pairs: readonly NodePair[]) {
    for (const p of pairs) {
      this.roles.set(p.dram, (this.roles.get(p.dram) ?? 0) | DRAM_ROLE);
      this.roles.set(p.aep, (this.roles.get(p.aep) ?? 0) | AEP_ROLE);
    }
  }

  of(node: number): number {
    return this.roles.get(node) ?? 0;
  }
}

/** Files one run of pages of a range as a row (a plan in full) or offers it (a bound plan). */
function fileRun(t: ChunkRows, list: NodeRows, guest: number, start: number, pageCount: number, pageSizeBytes: number, count: number, bound: boolean, keepBytes: number, keepRows: number): void {
  const bytes = pageCount * pageSizeBytes;
  if (bound) list.offer(guest, start, pageCount, pageSizeBytes, count, bytes, keepBytes, keepRows);
  else list.add(t.add(guest, start, pageCount, pageSizeBytes, count), count, guest, start, bytes);
}

function planRound(input: HostCslideInput, bound: boolean, fixedTailRows?: number): HostPlan {
  const loop = Math.max(0, input.loop);
  const t = chunkRows;
  t.reset();
  // Every cached pool, planned this time or not, so that one no guest uses any more gives its memory back too.
  for (const rows of poolRowsCache.values()) rows.reset();
  t.pidOfGuest = input.guests.map((g) => g.accessMap.pid);
  // chunk rows by pool kind, then by node
  const byPool = new Map<PoolKind, PoolRows>();
  // every step of a pair takes at most the quota from a list (planPool)
  const keepBytes = bound ? Math.max(0, input.quotaBytes) : Infinity;
  let filed = 0;
  const roles = new NodeRoles(input.nodePairs);
  for (let guest = 0; guest < input.guests.length; guest++) filed += fileGuest(t, input, guest, byPool, loop, bound, keepBytes, fixedTailRows, roles);

  lastPlan.ranges = filed;
  lastPlan.rows = t.length;
  lastPlan.bound = bound;
  lastPlan.replannedInFull = false;
  const quotaBytes = Math.max(0, input.quotaBytes);
  const pools = [...byPool.keys()].sort();
  const noRows = new NodeRows(t);
  const planPair = (pair: NodePair): PairMoves => {
    const plan = (pool: PoolKind, quota: number): PairMoves => {
      const nodes = byPool.get(pool)!;
      return planPool(pair, pool, t, nodes.get(pair.dram) ?? noRows, nodes.get(pair.aep) ?? noRows, input.pools[pool]!, quota, input, input.guests.map((g) => g.share));
    };
    let perPool = new Map(pools.map((pool) => [pool, plan(pool, quotaBytes)]));
    const used = [...perPool.values()].reduce((n, m) => n + bytesOf(m.schedule), 0);
    if (perPool.size > 1 && used > quotaBytes) {
      // Several pools on one pair: the quota goes to their moves in etmem's order (hot, prefetch, cold).
      const share = shareQuota(perPool, quotaBytes);
      perPool = new Map(pools.map((pool) => [pool, plan(pool, share.get(pool)!)]));
    }
    const all = [...perPool.values()];
    // concat, not flatMap: a builtin copy per list instead of a callback per pool and a push per move
    if (all.length === 1) return all[0]!;
    const none: HostMove[] = [];
    return {
      promotions: none.concat(...all.map((m) => m.promotions)),
      prefetches: none.concat(...all.map((m) => m.prefetches)),
      demotions: none.concat(...all.map((m) => m.demotions)),
      schedule: none.concat(...all.map((m) => m.schedule)),
    };
  };
  const perPair = input.nodePairs.map(planPair);
  // Pairs (and the pools within a pair) touch disjoint room, so regrouping
  // all moves by step keeps every move executable as long as none needed a
  // demotion before one of its promotions (a full DRAM pool); otherwise
  // keep each pair's schedule.
  const canonical = perPair.every((m) => demotionsLast(m.schedule));
  const none: HostMove[] = [];
  const moves = canonical
    ? none.concat(...perPair.map((m) => m.promotions), ...perPair.map((m) => m.prefetches), ...perPair.map((m) => m.demotions))
    : none.concat(...perPair.map((m) => m.schedule));
  return { moves };
}

/** The moves of one pid, in plan order, as a mover Plan. */
export function planForPid(plan: HostPlan, pid: number): Plan {
  return { pid, moves: plan.moves.filter((m) => m.pid === pid).map(toPageMove), swapOuts: [] };
}

export function toPageMove(m: HostMove): PageMove {
  return { start: m.start, pageCount: m.pageCount, pageSizeBytes: m.pageSizeBytes, fromNode: m.fromNode, toNode: m.toNode, reason: m.reason, accessCount: m.accessCount };
}

/**
 * Plans one cslide round for one map of hugetlb pages of one size (the
 * single-pid form: etmem's unit tests, tools that plan one process).
 */
export function planCslide(input: CslideInput): Plan {
  const pageSizeBytes = input.pageSizeBytes ?? CSLIDE_PAGE_SIZE_BYTES;
  // Only pages of the pool's size count here, all of them hugetlb pages (the tracker selected `ht` VMAs).
  const accessMap: AccessMap = {
    ...input.accessMap,
    vmas: [{ start: 0, end: Number.MAX_SAFE_INTEGER, vmFlags: ['ht'], pathname: '' }],
    ranges: input.accessMap.ranges.filter((r) => r.pageSizeBytes === pageSizeBytes),
  };
  const host = planHostCslide({ ...input, guests: [{ key: String(input.accessMap.pid), accessMap }], pools: { [hugetlbPool(pageSizeBytes)]: input.pools } });
  return { pid: input.accessMap.pid, moves: host.moves.map(toPageMove), swapOuts: [] };
}
