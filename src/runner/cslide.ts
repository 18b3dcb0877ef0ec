/**
 * The built-in cslide engine: for each task, every cycle scans the task's
 * hugetlb VMAs (`vm_flags=ht`) with the injected tracker, reads the nodes'
 * 2 MiB hugepage pools, plans moves between each node pair's DRAM and AEP
 * node (src/engines/cslide-policy.ts) and has the mover execute them within
 * `node_mig_quota`. Private commands: `showtaskpages`, `showhostpages`
 * (etmem's text, or JSON).
 */
import type { CslideEngineConfig, CslideTaskParams, TaskConfig } from '../config/types.js';
import { invalidField } from '../errors.js';
import type { EngineFactory } from './engine.js';
import { CSLIDE_PAGE_SIZE_BYTES, planCslide } from '../engines/cslide-policy.js';
import type { BuiltinEngineDeps } from './cycle-runner.js';
import { defineBuiltinEngine, sumCounts, type BuiltinPidStats } from './builtin-engine.js';
import { addNodeStats, formatHostPages, hostPagesRows, nodePageStats, type NodePageStats } from './page-report.js';

export { showTaskPages } from './builtin-engine.js';

const MB = 1024 * 1024;

interface CslidePidStats extends BuiltinPidStats {
  plannedBytes: { promote: number; prefetch: number; demote: number };
  promotedBytes: number;
  demotedBytes: number;
  /** bytes that reached each node this round (from the mover's per-page status) */
  movedInBytesByNode: Record<number, number>;
}

/** Validates the cslide task keys (the parser checked their forms; this checks what cslide supports). */
export function checkCslideTask(task: TaskConfig): void {
  const p = task.params as Partial<CslideTaskParams>;
  const field = (k: string): string => `task "${task.name}".${k}`;
  if (!Array.isArray(p.vm_flags) || p.vm_flags.length === 0) throw invalidField(field('vm_flags'), p.vm_flags ?? '', 'ht', 'required');
  for (const f of p.vm_flags) if (f !== 'ht') throw invalidField(field('vm_flags'), p.vm_flags.join(' '), 'ht', 'unsupported flag');
  if (typeof p.anon_only !== 'boolean') throw invalidField(field('anon_only'), String(p.anon_only), 'yes|no');
  if (typeof p.ign_host !== 'boolean') throw invalidField(field('ign_host'), String(p.ign_host), 'yes|no');
}

const cslide = defineBuiltinEngine<CslideEngineConfig, CslidePidStats, { promotedBytes: number; demotedBytes: number }>({
  name: 'cslide',
  checkTask: (task) => checkCslideTask(task),
  newTotals: () => ({ promotedBytes: 0, demotedBytes: 0 }),
  async cycle({ config, deps, task, pid, allPids, tracker, totals }) {
    const params = task.config.params as CslideTaskParams;
    const quotaBytes = config.node_mig_quota * MB;
    const map = await tracker.scanCycle(
      { pid, filter: { vmFlags: params.vm_flags, anonOnly: params.anon_only }, ignHost: params.ign_host },
      { loop: task.project.loop, intervalMs: task.project.interval * 1000, signal: task.signal },
    );
    const pools = await deps.hostInfo.hugePagePools(CSLIDE_PAGE_SIZE_BYTES);
    const plan = planCslide({
      accessMap: map,
      nodePairs: config.node_pair,
      hotThreshold: config.hot_threshold,
      quotaBytes,
      hotReserveBytes: config.node_hot_reserve * MB,
      pools,
      loop: task.project.loop,
    });
    const planned = { promote: 0, prefetch: 0, demote: 0 };
    for (const m of plan.moves) planned[m.reason] += m.pageCount * m.pageSizeBytes;
    // The policy planned within the quota; the mover enforces the same one (per pair and direction).
    const result = plan.moves.length > 0
      ? await deps.mover.execute(plan, { quotaBytesPerDirection: quotaBytes, allowedPids: allPids, signal: task.signal })
      : undefined;
    totals.promotedBytes += result?.bytesPromoted ?? 0;
    totals.demotedBytes += result?.bytesDemoted ?? 0;
    const stats: CslidePidStats = {
      report: { pid, timeMs: map.timeMs || (deps.now ?? Date.now)(), nodes: nodePageStats(map, config.hot_threshold) },
      nodeIds: Object.keys(pools).map(Number).sort((a, b) => a - b),
      plannedBytes: planned,
      promotedBytes: result?.bytesPromoted ?? 0,
      demotedBytes: result?.bytesDemoted ?? 0,
      movedInBytesByNode: Object.fromEntries(Object.entries(result?.pagesMovedByNode ?? {}).map(([node, pages]) => [node, pages * CSLIDE_PAGE_SIZE_BYTES])),
      errorsByErrno: result?.errorsByErrno ?? {},
      tracker: map.tracker,
    };
    return { stats, ended: result?.ended };
  },
  roundFigures(perPid, totals) {
    const planned = { promote: 0, prefetch: 0, demote: 0 };
    const movedInBytesByNode: Record<number, number> = {};
    let promoted = 0;
    let demoted = 0;
    for (const s of perPid) {
      sumCounts(planned, s.plannedBytes);
      sumCounts(movedInBytesByNode, s.movedInBytesByNode);
      promoted += s.promotedBytes;
      demoted += s.demotedBytes;
    }
    return {
      plannedBytes: planned,
      promotedBytes: promoted,
      demotedBytes: demoted,
      movedInBytesByNode,
      totalPromotedBytes: totals.promotedBytes,
      totalDemotedBytes: totals.demotedBytes,
    };
  },
  commands: {
    async showhostpages({ deps, lastStats }, args) {
      const pools = await deps.hostInfo.hugePagePools(CSLIDE_PAGE_SIZE_BYTES);
      const tasks: Record<number, NodePageStats> = {};
      for (const perPid of lastStats.values()) for (const s of perPid.values()) addNodeStats(tasks, s.report.nodes);
      const timeMs = (deps.now ?? Date.now)();
      const rows = hostPagesRows(pools, tasks);
      return args.json ? { timeMs, pageSizeBytes: CSLIDE_PAGE_SIZE_BYTES, nodes: rows } : formatHostPages(timeMs, rows);
    },
  },
});

export const CslideEngine = cslide.Engine;

/** The factory the daemon registers for `cslide` (EngineFactories.register('cslide', ...)). */
export function createCslideEngineFactory(deps: BuiltinEngineDeps): EngineFactory {
  return cslide.factory(deps);
}
