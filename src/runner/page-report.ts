/**
 * Per-node page statistics of a task (used / hot / cold bytes, from its last
 * AccessMap) and the text of etmem's `engine showtaskpages` and
 * `engine showhostpages`, kept byte for byte:
 *
 *   [<time>] task <pid> pages info (KB):
 *    node       used        hot       cold          ("%5s %10s %10s %10s")
 *
 *   [<time>] host pages info (KB):
 *    node      total       used        hot       cold   ("%5s %10s %10s %10s %10s")
 *
 * `<time>` is local time `YYYY-MM-DD HH:MM:SS`; sizes are KiB.
 */
import type { AccessMap } from '../scan/access-map.js';
import type { NodePools } from '../engines/cslide-policy.js';

export interface NodePageStats {
  usedBytes: number;
  hotBytes: number;
  coldBytes: number;
}

// Per-node sums of nodePageStats for node ids below SMALL_NODES, reused by every call.
const SMALL_NODES = 64;
const hotSum = new Float64Array(SMALL_NODES);
const coldSum = new Float64Array(SMALL_NODES);
const seen = new Uint8Array(SMALL_NODES);

/** Present pages per node of `map` (node -1 = unknown is left out), hot = accessCount >= hotThreshold. */
export function nodePageStats(map: AccessMap, hotThreshold: number): Record<number, NodePageStats> {
  // Sums in arrays by node id, not an object lookup per range (cslide reports this for every pid
  // every round: issue 11, bench/scale.ts); the same additions in the same order, so the same numbers.
  const out: Record<number, NodePageStats> = {};
  hotSum.fill(0);
  coldSum.fill(0);
  seen.fill(0);
  const { pageCounts, pageSizes, accessCounts, nodes, flags } = map.ranges;
  for (let i = 0; i < map.ranges.length; i++) {
    const node = nodes[i]!;
    if ((flags[i]! & 1) === 0 || node < 0) continue;
    const bytes = pageCounts[i]! * pageSizes[i]!;
    const hot = accessCounts[i]! >= hotThreshold;
    if (node < SMALL_NODES) {
      seen[node] = 1;
      if (hot) hotSum[node]! += bytes;
      else coldSum[node]! += bytes;
      continue;
    }
    const s = (out[node] ??= { usedBytes: 0, hotBytes: 0, coldBytes: 0 });
    s.usedBytes += bytes;
    if (hot) s.hotBytes += bytes;
    else s.coldBytes += bytes;
  }
  // used = hot + cold exactly while the sums stay integers below 2^53 (bytes of pages are)
  for (let node = 0; node < SMALL_NODES; node++) if (seen[node]) out[node] = { usedBytes: hotSum[node]! + coldSum[node]!, hotBytes: hotSum[node]!, coldBytes: coldSum[node]! };
  return out;
}

/** Sums per-node stats (several pids of one task, or all tasks of an engine). */
export function addNodeStats(into: Record<number, NodePageStats>, from: Record<number, NodePageStats>): Record<number, NodePageStats> {
  for (const [node, s] of Object.entries(from)) {
    const t = (into[Number(node)] ??= { usedBytes: 0, hotBytes: 0, coldBytes: 0 });
    t.usedBytes += s.usedBytes;
    t.hotBytes += s.hotBytes;
    t.coldBytes += s.coldBytes;
  }
  return into;
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** `YYYY-MM-DD HH:MM:SS`, local time. */
export function formatReportTime(timeMs: number): string {
  const d = new Date(timeMs);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

/** printf("%Ns") */
const col = (value: string | number, width: number): string => String(value).padStart(width);
const kb = (bytes: number): number => Math.floor(bytes / 1024);

export const TASK_PAGES_HEADER = `${col('node', 5)} ${col('used', 10)} ${col('hot', 10)} ${col('cold', 10)}`;
export const HOST_PAGES_HEADER = `${col('node', 5)} ${col('total', 10)} ${col('used', 10)} ${col('hot', 10)} ${col('cold', 10)}`;

export interface TaskPagesReport {
  pid: number;
  /** when the stats were taken (end of the cycle) */
  timeMs: number;
  nodes: Record<number, NodePageStats>;
}

/** The `showtaskpages` block of one pid: a row per NUMA node in `nodeIds` (0 when the task has nothing there). */
export function formatTaskPages(report: TaskPagesReport, nodeIds: readonly number[]): string {
  const lines = [`[${formatReportTime(report.timeMs)}] task ${report.pid} pages info (KB):`, TASK_PAGES_HEADER];
  for (const node of nodeIds) {
    const s = report.nodes[node] ?? { usedBytes: 0, hotBytes: 0, coldBytes: 0 };
    lines.push(`${col(node, 5)} ${col(kb(s.usedBytes), 10)} ${col(kb(s.hotBytes), 10)} ${col(kb(s.coldBytes), 10)}`);
  }
  return lines.join('\n') + '\n';
}

export interface HostPagesRow {
  node: number;
  totalBytes: number;
  usedBytes: number;
  hotBytes: number;
  coldBytes: number;
}

/** Host rows: total = the node's hugepage pool, used = total - free, hot/cold = the engine's tasks on that node. */
export function hostPagesRows(pools: NodePools, tasks: Record<number, NodePageStats>): HostPagesRow[] {
  return Object.keys(pools)
    .map(Number)
    .sort((a, b) => a - b)
    .map((node) => {
      const p = pools[node]!;
      const t = tasks[node] ?? { usedBytes: 0, hotBytes: 0, coldBytes: 0 };
      return { node, totalBytes: p.totalBytes, usedBytes: p.totalBytes - p.freeBytes, hotBytes: t.hotBytes, coldBytes: t.coldBytes };
    });
}

export function formatHostPages(timeMs: number, rows: readonly HostPagesRow[]): string {
  const lines = [`[${formatReportTime(timeMs)}] host pages info (KB):`, HOST_PAGES_HEADER];
  for (const r of rows) lines.push(`${col(r.node, 5)} ${col(kb(r.totalBytes), 10)} ${col(kb(r.usedBytes), 10)} ${col(kb(r.hotBytes), 10)} ${col(kb(r.coldBytes), 10)}`);
  return lines.join('\n') + '\n';
}
