/**
 * The mover: the only component that changes where a target's pages are.
 * It executes a Plan (src/engines/plan.ts):
 * - page moves with move_pages(2), `pagesPerCall` pages per call, each page's
 *   status accounted (reached its node, or failed with an errno);
 * - promotions and demotions each capped at the round's quota, per node
 *   pair and direction (etmem's node_mig_quota): the plan is truncated in
 *   its own order, a move cut to the pages that still fit, so the bytes
 *   asked of the kernel never exceed the quota. The quota is the caller's
 *   limit (the engine's config), never part of the plan: the policy plans
 *   within the same number, the mover enforces it;
 * - a bandwidth cap: calls are sized to at most BURST_MS of bandwidth and
 *   the mover sleeps between them so the bytes so far never run ahead of
 *   `bandwidthMBps` (MB = 2^20 bytes, as etmem's MB quotas);
 * - swap-outs with process_madvise(2, MADV_PAGEOUT) in batches of ranges,
 *   under the same bandwidth cap;
 * - only for a pid in `allowedPids` (a plan for any other process is refused
 *   before anything is touched);
 * - a target that exits (ESRCH) ends the round quietly: `ended` is set and
 *   the result says what was done until then;
 * - an aborted signal ends the round between calls with an AbortError whose
 *   `partial` holds the result so far.
 */
import { constants as osConstants } from 'node:os';
import type { Plan, PageMove } from '../engines/plan.js';
import type { MoveResult, Mover, MoverLimits } from './types.js';
import { liveKernel, type KernelOps } from '../native/kernel.js';
import { VirtTierError, abortError, invalidField, isAbortError, isProcessGone } from '../errors.js';

// MPOL_MF_MOVE (2, include/uapi/linux/mempolicy.h): pages mapped only by
// this process move; shared ones would need MPOL_MF_MOVE_ALL and stay put.
// KernelOps.movePages always passes it; pageout is MADV_PAGEOUT.
export { MPOL_MF_MOVE, MADV_PAGEOUT } from '../native/kernel.js';
export const DEFAULT_PAGES_PER_CALL = 1024;
/** process_madvise ranges per call; the addon splits further at IOV_MAX. */
export const SWAP_RANGES_PER_CALL = 512;
/** With a bandwidth cap, one call carries at most this many ms worth of bytes, so pacing stays smooth. */
export const BURST_MS = 100;
export const BYTES_PER_MB = 1 << 20;
/** include/uapi/asm-generic/errno-base.h */
const EBUSY_ERRNO = 16;

export type { SleepFn } from '../sleep.js';
import { abortableSleep, type SleepFn } from '../sleep.js';

export interface PageMoverOptions {
  /** the kernel calls; default liveKernel (tests wrap it to observe calls) */
  kernel?: Pick<KernelOps, 'movePages' | 'pageout'>;
  /** pacing sleep; default a timer that rejects with AbortError on the signal */
  sleep?: SleepFn;
  /** ms clock for pacing; default performance.now */
  now?: () => number;
}

const errnoNames = new Map<number, string>(Object.entries(osConstants.errno).map(([name, n]) => [n, name]));

/** Name of a negative per-page status from move_pages(2), e.g. -16 -> EBUSY. */
export function errnoName(negativeStatus: number): string {
  return errnoNames.get(-negativeStatus) ?? `E${-negativeStatus}`;
}

function direction(move: PageMove): 'promote' | 'demote' {
  return move.reason === 'demote' ? 'demote' : 'promote';
}

/** The quota's unit: one direction between the two nodes of one node pair (etmem's node_mig_quota). */
function quotaKey(move: PageMove): string {
  const [a, b] = move.fromNode < move.toNode ? [move.fromNode, move.toNode] : [move.toNode, move.fromNode];
  return `${direction(move)}:${a}-${b}`;
}

/**
 * The plan's moves cut to the quota: in plan order, each move keeps the
 * pages that still fit in its node pair's remaining bytes for its
 * direction, and never splits a page. Pure.
 */
export function truncateMovesToQuota(moves: readonly PageMove[], quotaBytesPerDirection: number | undefined, usedBytes: Map<string, number> = new Map()): PageMove[] {
  if (quotaBytesPerDirection === undefined) return moves.filter((m) => m.pageCount > 0);
  const out: PageMove[] = [];
  for (const move of moves) {
    const key = quotaKey(move);
    const used = usedBytes.get(key) ?? 0;
    const pages = Math.min(move.pageCount, Math.floor((quotaBytesPerDirection - used) / move.pageSizeBytes));
    if (pages <= 0) continue;
    usedBytes.set(key, used + pages * move.pageSizeBytes);
    out.push(pages === move.pageCount ? move : { ...move, pageCount: pages });
  }
  return out;
}

function validate(plan: Plan, limits: MoverLimits): { pagesPerCall: number; bytesPerMs?: number; quota?: number } {
  const pagesPerCall = limits.pagesPerCall ?? DEFAULT_PAGES_PER_CALL;
  if (!Number.isInteger(pagesPerCall) || pagesPerCall < 1) throw invalidField('pagesPerCall', pagesPerCall, 'integer >= 1');
  const bw = limits.bandwidthMBps;
  if (bw !== undefined && !(Number.isFinite(bw) && bw > 0)) throw invalidField('bandwidthMBps', bw, '> 0');
  const quota = limits.quotaBytesPerDirection;
  if (quota !== undefined && !(Number.isFinite(quota) && quota >= 0)) throw invalidField('quotaBytesPerDirection', quota, '>= 0');
  if (!limits.allowedPids.has(plan.pid)) {
    throw new VirtTierError('OPT_PERM', `plan for pid ${plan.pid} refused: not one of the task's target pids`, {
      field: 'plan.pid',
      value: String(plan.pid),
      allowed: [...limits.allowedPids].join(',') || '(none)',
    });
  }
  return { pagesPerCall, bytesPerMs: bw === undefined ? undefined : (bw * BYTES_PER_MB) / 1000, quota };
}

const defaultSleep: SleepFn = abortableSleep;

export class PageMover implements Mover {
  private readonly kernel: Pick<KernelOps, 'movePages' | 'pageout'> & Partial<Pick<KernelOps, 'queryPageNodes'>>;
  private readonly sleep: SleepFn;
  private readonly now: () => number;

  constructor(opts: PageMoverOptions = {}) {
    this.kernel = opts.kernel ?? liveKernel;
    this.sleep = opts.sleep ?? defaultSleep;
    this.now = opts.now ?? (() => performance.now());
  }

  async execute(plan: Plan, limits: MoverLimits): Promise<MoveResult> {
    const { pagesPerCall, bytesPerMs, quota } = validate(plan, limits);
    const { signal } = limits;
    const started = this.now();
    const result: MoveResult = {
      pid: plan.pid, pagesMovedByNode: {}, bytesMovedByNode: {}, bytesPromoted: 0, bytesDemoted: 0, bytesSwappedOut: 0, errorsByErrno: {}, durationMs: 0,
    };
    const finish = (): MoveResult => {
      result.durationMs = this.now() - started;
      return result;
    };
    const countError = (name: string, pages = 1): void => {
      result.errorsByErrno[name] = (result.errorsByErrno[name] ?? 0) + pages;
    };
    let bytesSoFar = 0;
    /** Sleeps until `bytesSoFar` is within the bandwidth; rejects with AbortError on abort. */
    const pace = async (): Promise<void> => {
      if (signal?.aborted) throw abortError('move round aborted', finish());
      if (bytesPerMs === undefined) return;
      const aheadMs = bytesSoFar / bytesPerMs - (this.now() - started);
      if (aheadMs > 0) {
        try {
          await this.sleep(aheadMs, signal);
        } catch (err) {
          if (isAbortError(err) || signal?.aborted) throw abortError('move round aborted', finish());
          throw err;
        }
      }
    };
    const burstBytes = bytesPerMs === undefined ? Infinity : bytesPerMs * BURST_MS;

    // Moves, in batches of at most pagesPerCall pages and burstBytes bytes.
    const moves = truncateMovesToQuota(plan.moves, quota, limits.quotaUsedBytes);
    let batchAddrs: number[] = [];
    let batchNodes: number[] = [];
    let batchMeta: Array<{ bytes: number; dir: 'promote' | 'demote' }> = [];
    let batchBytes = 0;
    const flush = async (): Promise<boolean> => {
      if (batchAddrs.length === 0) return true;
      await pace();
      let status: Int32Array;
      try {
        status = await this.kernel.movePages(plan.pid, Float64Array.from(batchAddrs), Int32Array.from(batchNodes));
      } catch (err) {
        if (isProcessGone(err)) {
          result.ended = `ESRCH: process ${plan.pid} exited`;
          return false;
        }
        // A whole-call failure (EPERM, ENODEV for a node that does not exist, ...) fails every page of the call.
        const code = (err as { code?: string }).code;
        if (typeof code !== 'string' || !/^E[A-Z0-9]+$/.test(code)) throw err;
        countError(code, batchAddrs.length);
        status = new Int32Array(0);
      }
      // A THP is moved whole by the first of its 4 KiB addresses in a call; the kernel answers EBUSY for
      // another address of it that it meets while that folio is in flight (mm/migrate.c). Ask where those
      // pages are now: one on its target node did move.
      const busy = [...status.keys()].filter((i) => status[i] === -EBUSY_ERRNO);
      if (busy.length > 0 && this.kernel.queryPageNodes) {
        const nodes = await this.kernel.queryPageNodes(plan.pid, Float64Array.from(busy, (i) => batchAddrs[i]!)).catch(() => undefined);
        busy.forEach((i, k) => {
          if (nodes && nodes[k] === batchNodes[i]) status[i] = batchNodes[i]!;
        });
      }
      for (let i = 0; i < status.length; i++) {
        const s = status[i]!;
        const meta = batchMeta[i]!;
        if (s === batchNodes[i]) {
          result.pagesMovedByNode[s] = (result.pagesMovedByNode[s] ?? 0) + 1;
          result.bytesMovedByNode![s] = (result.bytesMovedByNode![s] ?? 0) + meta.bytes;
          if (meta.dir === 'promote') result.bytesPromoted += meta.bytes;
          else result.bytesDemoted += meta.bytes;
        } else if (s < 0) {
          countError(errnoName(s));
        } else {
          // The kernel left it on another node without an error (it reports where the page is).
          countError('ENOTMOVED');
        }
      }
      bytesSoFar += batchBytes;
      batchAddrs = [];
      batchNodes = [];
      batchMeta = [];
      batchBytes = 0;
      return true;
    };
    for (const move of moves) {
      const dir = direction(move);
      for (let i = 0; i < move.pageCount; i++) {
        if (batchAddrs.length >= pagesPerCall || (batchAddrs.length > 0 && batchBytes + move.pageSizeBytes > burstBytes)) {
          if (!(await flush())) return finish();
        }
        batchAddrs.push(move.start + i * move.pageSizeBytes);
        batchNodes.push(move.toNode);
        batchMeta.push({ bytes: move.pageSizeBytes, dir });
        batchBytes += move.pageSizeBytes;
      }
    }
    if (!(await flush())) return finish();

    // Swap-outs: ranges in batches, each call also within one burst of bandwidth.
    let ranges: number[] = [];
    let rangesBytes = 0;
    const flushSwaps = async (): Promise<boolean> => {
      if (ranges.length === 0) return true;
      await pace();
      try {
        result.bytesSwappedOut += await this.kernel.pageout(plan.pid, Float64Array.from(ranges));
      } catch (err) {
        const partial = (err as { bytesAdvised?: number }).bytesAdvised;
        if (typeof partial === 'number') result.bytesSwappedOut += partial;
        if (isProcessGone(err)) {
          result.ended = `ESRCH: process ${plan.pid} exited`;
          return false;
        }
        const code = (err as { code?: string }).code;
        if (typeof code !== 'string' || !/^E[A-Z0-9]+$/.test(code)) throw err;
        countError(code, ranges.length / 2);
      }
      bytesSoFar += rangesBytes;
      ranges = [];
      rangesBytes = 0;
      return true;
    };
    for (const swap of plan.swapOuts) {
      // A range larger than a burst is cut, so pacing holds for big ranges too.
      for (let off = 0; off < swap.lengthBytes; ) {
        const room = Math.max(4096, burstBytes - rangesBytes);
        const len = Math.min(swap.lengthBytes - off, Number.isFinite(room) ? Math.floor(room / 4096) * 4096 || 4096 : swap.lengthBytes);
        ranges.push(swap.start + off, len);
        rangesBytes += len;
        off += len;
        if (ranges.length / 2 >= SWAP_RANGES_PER_CALL || rangesBytes >= burstBytes) {
          if (!(await flushSwaps())) return finish();
        }
      }
    }
    if (!(await flushSwaps())) return finish();
    return finish();
  }
}
