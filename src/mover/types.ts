/**
 * The mover executes Plans: batched move_pages(2) with per-page status
 * accounting and process_madvise(2) swap-outs, within a per-round quota and
 * a bandwidth limit. It is the only component that changes page placement.
 */
import type { Plan } from '../engines/plan.js';

export interface MoverLimits {
  /**
   * per round, per node pair, each direction (promote / demote), bytes:
   * etmem's node_mig_quota, the one quota; undefined = no quota
   */
  quotaBytesPerDirection?: number;
  /**
   * Bytes already moved this round per node pair and direction, shared by
   * the calls of one round (an engine moving several guests' pages under
   * one quota); the mover adds what it asks of the kernel.
   */
  quotaUsedBytes?: Map<string, number>;
  /** MB/s cap over the round; undefined = unlimited */
  bandwidthMBps?: number;
  /** pages per move_pages call */
  pagesPerCall?: number;
  /** pids the caller is allowed to touch (the task's targets); a plan for another pid is refused */
  allowedPids: ReadonlySet<number>;
  signal?: AbortSignal;
}

export interface MoveResult {
  pid: number;
  /** pages that reached their target node, by target node */
  pagesMovedByNode: Record<number, number>;
  /** bytes that reached their target node, by target node (pages of any size) */
  bytesMovedByNode?: Record<number, number>;
  bytesPromoted: number;
  bytesDemoted: number;
  bytesSwappedOut: number;
  /** per-page failures by errno name (EBUSY, ENOMEM, EFAULT, ...) */
  errorsByErrno: Record<string, number>;
  /** set when the target exited (ESRCH) and the round stopped early */
  ended?: string;
  durationMs: number;
}

export interface Mover {
  execute(plan: Plan, limits: MoverLimits): Promise<MoveResult>;
}
