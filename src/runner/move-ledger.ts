/**
 * Where cslide moved a guest's memory in recent rounds, for the thrash
 * guard (`lastMove`) and the ping-pong count (`record`). Held as sorted,
 * disjoint address intervals per pid, each with the round and the node it
 * moved to, not as an entry per page: a round that moves 1 GiB of 4 KiB
 * pages was 262144 Map entries a round kept for the window (28 MiB of heap
 * held, bench/move-ledger.ts); as intervals it is one per moved run, fewer
 * once neighbours of one round and node coalesce.
 */

import type { MovedInterval } from '../engines/cslide-policy.js';

/** One executed move as the planner gives it: `pageCount` pages of `pageSizeBytes` from `start`. */
export interface LedgerMove {
  start: number;
  pageCount: number;
  pageSizeBytes: number;
  fromNode: number;
  toNode: number;
}

interface Interval {
  start: number;
  end: number;
  round: number;
  toNode: number;
}

/** The answer for a range no recorded move touches (shared: never written to). */
const NONE: MovedInterval[] = [];

/** The index of the first of `list`'s sorted, disjoint intervals that ends after `addr` (list.length when none does). */
function firstEndingAfter(list: readonly Interval[], addr: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.end <= addr) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class MoveLedger {
  private readonly byPid = new Map<number, Interval[]>();

  /**
   * Records a run of executed moves in `round`; returns the bytes that went
   * back to the node they had been moved from within `windowRounds`
   * (ping-pong). A run's moves are disjoint (a plan moves a page once a
   * round); should two overlap, the one that starts later keeps the overlap.
   */
  record(pid: number, run: readonly LedgerMove[], round: number, windowRounds: number): number {
    if (run.length === 0) return 0;
    const added: Array<Interval & { fromNode: number }> = run
      .filter((m) => m.pageCount > 0)
      .map((m) => ({ start: m.start, end: m.start + m.pageCount * m.pageSizeBytes, round, toNode: m.toNode, fromNode: m.fromNode }));
    added.sort((a, b) => a.start - b.start);
    const old = this.byPid.get(pid) ?? [];
    const out: Interval[] = [];
    let undone = 0;
    let o = 0;
    // the old interval being walked, as a copy: its start moves right as new intervals cover it
    let cur: Interval | undefined = old[0] && { ...old[0] };
    const advance = (): void => {
      o++;
      cur = old[o] && { ...old[o]! };
    };
    for (let a = 0; a < added.length; a++) {
      const n = added[a]!;
      const next = added[a + 1];
      const end = next && next.start < n.end ? next.start : n.end;
      if (end <= n.start) continue;
      // old intervals wholly before the new one
      while (cur && cur.end <= n.start) {
        out.push(cur);
        advance();
      }
      // old intervals overlapping [n.start, end): keep what lies before, count what is undone, keep the rest for later
      while (cur && cur.start < end) {
        if (cur.start < n.start) out.push({ ...cur, end: n.start });
        const overlap = Math.min(cur.end, end) - Math.max(cur.start, n.start);
        if (round - cur.round <= windowRounds && cur.toNode === n.fromNode) undone += overlap;
        if (cur.end > end) {
          cur.start = end;
          break;
        }
        advance();
      }
      out.push({ start: n.start, end, round, toNode: n.toNode });
    }
    while (cur) {
      out.push(cur);
      advance();
    }
    this.byPid.set(pid, coalesce(out));
    return undone;
  }

  /** The last recorded move of the page at `addr`: how many rounds before `round`, and to which node. */
  lastMove(pid: number, addr: number, round: number): { roundsAgo: number; toNode: number } | undefined {
    const list = this.byPid.get(pid);
    if (!list) return undefined;
    const iv = list[firstEndingAfter(list, addr)];
    return iv && iv.start <= addr ? { roundsAgo: round - iv.round, toNode: iv.toNode } : undefined;
  }

  /**
   * The intervals overlapping [start, end) of `pid`, in address order, with
   * how many rounds before `round` they were moved and to which node (the
   * thrash guard's question for a whole range: cslide-policy.ts movedIn).
   */
  movedIn(pid: number, start: number, end: number, round: number): MovedInterval[] {
    const list = this.byPid.get(pid);
    if (!list || end <= start) return NONE;
    const lo = firstEndingAfter(list, start);
    if (lo === list.length || list[lo]!.start >= end) return NONE;
    const out: MovedInterval[] = [];
    for (let i = lo; i < list.length && list[i]!.start < end; i++) {
      const iv = list[i]!;
      out.push({ start: iv.start, end: iv.end, roundsAgo: round - iv.round, toNode: iv.toNode });
    }
    return out;
  }

  /** Drops moves older than `oldestRound`. */
  forgetBefore(oldestRound: number): void {
    for (const [pid, list] of this.byPid) {
      const kept = list.filter((iv) => iv.round >= oldestRound);
      if (kept.length === 0) this.byPid.delete(pid);
      else if (kept.length !== list.length) this.byPid.set(pid, kept);
    }
  }

  /** Intervals held, over all pids (for tests and memory checks). */
  intervalCount(): number {
    let n = 0;
    for (const list of this.byPid.values()) n += list.length;
    return n;
  }
}

/** Merges neighbours that touch and share round and node. */
function coalesce(list: Interval[]): Interval[] {
  const out: Interval[] = [];
  for (const iv of list) {
    const last = out[out.length - 1];
    if (last && last.end === iv.start && last.round === iv.round && last.toNode === iv.toNode) last.end = iv.end;
    else out.push(iv);
  }
  return out;
}
