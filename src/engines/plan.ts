/**
 * Plan: what an engine decided for one task and one cycle. Engines produce
 * plans and never touch the kernel; the mover (src/mover/) executes them.
 */

export type MoveReason = 'promote' | 'prefetch' | 'demote';

/** Move `pageCount` pages of `pageSizeBytes` starting at `start` from `fromNode` to `toNode`. */
export interface PageMove {
  start: number;
  pageCount: number;
  pageSizeBytes: number;
  fromNode: number;
  toNode: number;
  reason: MoveReason;
  /** access count over the cycle, for stats and ordering */
  accessCount: number;
}

/** Swap out [start, start + lengthBytes) with process_madvise(MADV_PAGEOUT). */
export interface SwapOut {
  start: number;
  lengthBytes: number;
  accessCount: number;
}

export interface Plan {
  pid: number;
  /** in execution order (promotions first, then demotions: see cslide) */
  moves: PageMove[];
  swapOuts: SwapOut[];
}

export function emptyPlan(pid: number): Plan {
  return { pid, moves: [], swapOuts: [] };
}
