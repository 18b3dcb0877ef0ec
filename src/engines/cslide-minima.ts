/**
 * Whether the DRAM minima (`dram_min`) of a cslide engine's guests fit in
 * the DRAM the engine can use (issue 15, "Bad input": a minimum sum above
 * it is a clear error at `obj add`, not a silent cut at plan time). Pure:
 * the caller reads the pools.
 *
 * The DRAM the engine can use, per memory kind, over the DRAM node of
 * each of its node pairs:
 * - hugetlb guests: the nodes' hugepage pools, every page size
 *   (`nr_hugepages` x size under /sys/devices/system/node/nodeN/hugepages);
 * - regular memory (THP, 4 KiB anonymous, shmem/memfd): the nodes'
 *   MemTotal less those pools (hugetlb pages are counted in MemTotal and
 *   no regular page can use them).
 * A task that selects both kinds (`ram=hugetlb,thp`) may hold its minimum
 * in either. The minima fit when the hugetlb-only ones fit in the hugetlb
 * budget, the regular-only ones in the regular budget, and all of them in
 * the two together (Hall's condition for this two-pool assignment: then a
 * placement of every minimum exists).
 */
import type { NodePair } from '../config/types.js';
import type { NodePools } from './cslide-policy.js';

/** The memory kinds a task's selection can hold. */
export interface MemoryKinds {
  hugetlb: boolean;
  regular: boolean;
}

export interface MinimumTask {
  /** names the task in the error */
  label: string;
  dramMinBytes: number;
  kinds: MemoryKinds;
}

export interface DramBudget {
  hugetlbBytes: number;
  regularBytes: number;
}

/**
 * The engine's DRAM by kind: `hugetlbPools` are the nodes' pools of each
 * hugepage size (totalBytes = nr_hugepages x size), `nodeMemory` their
 * MemTotal (totalBytes). A DRAM node missing from a list counts 0.
 */
export function engineDramBudget(nodePairs: readonly NodePair[], hugetlbPools: readonly NodePools[], nodeMemory: NodePools): DramBudget {
  let hugetlbBytes = 0;
  let regularBytes = 0;
  for (const dram of new Set(nodePairs.map((p) => p.dram))) {
    const huge = hugetlbPools.reduce((sum, pools) => sum + (pools[dram]?.totalBytes ?? 0), 0);
    hugetlbBytes += huge;
    regularBytes += Math.max(0, (nodeMemory[dram]?.totalBytes ?? 0) - huge);
  }
  return { hugetlbBytes, regularBytes };
}

/**
 * The largest minimum `kinds` could add to `held` so that all still fit in
 * `budget` (negative when `held` alone does not fit).
 */
export function minimumRoomBytes(held: readonly MinimumTask[], kinds: MemoryKinds, budget: DramBudget): number {
  const sum = (pred: (k: MemoryKinds) => boolean): number => held.filter((t) => pred(t.kinds)).reduce((s, t) => s + t.dramMinBytes, 0);
  const hugeOnly = sum((k) => k.hugetlb && !k.regular);
  const regularOnly = sum((k) => k.regular && !k.hugetlb);
  const all = sum(() => true);
  const total = budget.hugetlbBytes + budget.regularBytes;
  let room = total - all;
  if (kinds.hugetlb && !kinds.regular) room = Math.min(room, budget.hugetlbBytes - hugeOnly);
  if (kinds.regular && !kinds.hugetlb) room = Math.min(room, budget.regularBytes - regularOnly);
  // A task that selects neither kind holds nothing: its minimum fits nowhere.
  if (!kinds.hugetlb && !kinds.regular) room = 0;
  return room;
}

/** `heldBytes`: the minima of the tasks before the refused one, all kinds together. */
export type MinimaVerdict = { ok: true } | { ok: false; task: MinimumTask; roomBytes: number; heldBytes: number };

/**
 * Adds `added` to `existing` one by one, in order; the first added task
 * with a minimum that does not fit is the answer, with the room that was
 * left for it (>= 0). Tasks already held are not judged again (a pool that
 * shrank since they were added does not refuse a task without a minimum).
 */
export function checkMinimaFit(existing: readonly MinimumTask[], added: readonly MinimumTask[], budget: DramBudget): MinimaVerdict {
  const held = [...existing];
  for (const task of added) {
    if (task.dramMinBytes > 0) {
      const room = minimumRoomBytes(held, task.kinds, budget);
      if (task.dramMinBytes > room) return { ok: false, task, roomBytes: Math.max(0, room), heldBytes: held.reduce((n, t) => n + t.dramMinBytes, 0) };
    }
    held.push(task);
  }
  return { ok: true };
}
