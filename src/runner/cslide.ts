/**
 * The built-in cslide engine: for each task, every cycle scans the task's
 * hugetlb VMAs (`vm_flags=ht`) with the injected tracker, reads the nodes'
 * 2 MiB hugepage pools, plans moves between each node pair's DRAM and AEP
 * node (src/engines/cslide-policy.ts) and has the mover execute them within
 * `node_mig_quota`. Private commands: `showtaskpages`, `showhostpages`
 * (etmem's text, or JSON).
 */
import type { CslideEngineConfig, CslideTaskParams, EngineConfig, ProjectConfig, TaskConfig } from '../config/types.js';
import { VirtTierError, invalidField } from '../errors.js';
import type { Engine, EngineFactory, EngineFactoryContext, EngineTask } from './engine.js';
import { CSLIDE_PAGE_SIZE_BYTES, planCslide } from '../engines/cslide-policy.js';
import { runTaskLoop, TaskLoops, type BuiltinEngineDeps } from './cycle-runner.js';
import { addNodeStats, formatHostPages, formatTaskPages, hostPagesRows, nodePageStats, type NodePageStats, type TaskPagesReport } from './page-report.js';

const MB = 1024 * 1024;

interface CslidePidStats {
  report: TaskPagesReport;
  /** NUMA nodes of the host when the stats were taken (rows of showtaskpages) */
  nodeIds: number[];
  plannedBytes: { promote: number; prefetch: number; demote: number };
  promotedBytes: number;
  demotedBytes: number;
  /** bytes that reached each node this round (from the mover's per-page status) */
  movedInBytesByNode: Record<number, number>;
  errorsByErrno: Record<string, number>;
  tracker: string;
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

export class CslideEngine implements Engine {
  readonly name = 'cslide';
  private readonly loops = new TaskLoops();
  /** last stats per task, per pid */
  private readonly lastStats = new Map<string, Map<number, CslidePidStats>>();

  constructor(readonly config: CslideEngineConfig, private readonly deps: BuiltinEngineDeps, private readonly ctx: EngineFactoryContext) {}

  checkTask(task: TaskConfig, _project: ProjectConfig): void {
    checkCslideTask(task);
  }

  startTask(task: EngineTask): void {
    const name = task.config.name;
    const params = task.config.params as CslideTaskParams;
    const now = this.deps.now ?? Date.now;
    const totals = { promotedBytes: 0, demotedBytes: 0 };
    this.lastStats.set(name, new Map());
    this.loops.start(task, () =>
      runTaskLoop<CslidePidStats>(task, this.deps, 'cslide', {
        cycle: async (pid, allPids, tracker) => {
          const map = await tracker.scanCycle(
            { pid, filter: { vmFlags: params.vm_flags, anonOnly: params.anon_only }, ignHost: params.ign_host },
            { loop: task.project.loop, intervalMs: task.project.interval * 1000, signal: task.signal },
          );
          const pools = await this.deps.hostInfo.hugePagePools(CSLIDE_PAGE_SIZE_BYTES);
          const plan = planCslide({
            accessMap: map,
            nodePairs: this.config.node_pair,
            hotThreshold: this.config.hot_threshold,
            quotaBytes: this.config.node_mig_quota * MB,
            hotReserveBytes: this.config.node_hot_reserve * MB,
            pools,
            loop: task.project.loop,
          });
          const planned = { promote: 0, prefetch: 0, demote: 0 };
          for (const m of plan.moves) planned[m.reason] += m.pageCount * m.pageSizeBytes;
          const result = plan.moves.length > 0
            ? await this.deps.mover.execute(plan, { quotaBytesPerDirection: plan.quotaBytesPerDirection, allowedPids: allPids, signal: task.signal })
            : undefined;
          totals.promotedBytes += result?.bytesPromoted ?? 0;
          totals.demotedBytes += result?.bytesDemoted ?? 0;
          const stats: CslidePidStats = {
            report: { pid, timeMs: map.timeMs || now(), nodes: nodePageStats(map, this.config.hot_threshold) },
            nodeIds: Object.keys(pools).map(Number).sort((a, b) => a - b),
            plannedBytes: planned,
            promotedBytes: result?.bytesPromoted ?? 0,
            demotedBytes: result?.bytesDemoted ?? 0,
            movedInBytesByNode: Object.fromEntries(Object.entries(result?.pagesMovedByNode ?? {}).map(([node, pages]) => [node, pages * CSLIDE_PAGE_SIZE_BYTES])),
            errorsByErrno: result?.errorsByErrno ?? {},
            tracker: map.tracker,
          };
          this.lastStats.get(name)?.set(pid, stats);
          return { stats, ended: result?.ended };
        },
        report: (round, perPid, extra) => {
          const nodes: Record<number, NodePageStats> = {};
          let promoted = 0;
          let demoted = 0;
          const errorsByErrno: Record<string, number> = {};
          const movedInBytesByNode: Record<number, number> = {};
          const planned = { promote: 0, prefetch: 0, demote: 0 };
          for (const s of perPid.values()) {
            addNodeStats(nodes, s.report.nodes);
            promoted += s.promotedBytes;
            demoted += s.demotedBytes;
            planned.promote += s.plannedBytes.promote;
            planned.prefetch += s.plannedBytes.prefetch;
            planned.demote += s.plannedBytes.demote;
            for (const [k, v] of Object.entries(s.errorsByErrno)) errorsByErrno[k] = (errorsByErrno[k] ?? 0) + v;
            for (const [k, v] of Object.entries(s.movedInBytesByNode)) movedInBytesByNode[Number(k)] = (movedInBytesByNode[Number(k)] ?? 0) + v;
          }
          return {
            engine: 'cslide',
            round,
            timeMs: now(),
            pids: [...perPid.keys()],
            tracker: [...perPid.values()][0]?.tracker,
            nodes,
            plannedBytes: planned,
            promotedBytes: promoted,
            demotedBytes: demoted,
            movedInBytesByNode,
            totalPromotedBytes: totals.promotedBytes,
            totalDemotedBytes: totals.demotedBytes,
            errorsByErrno,
            ...(extra.skippedPids.length > 0 ? { skippedPids: extra.skippedPids } : {}),
            ...(Object.keys(extra.errors).length > 0 ? { errors: extra.errors } : {}),
          };
        },
      }),
    );
  }

  async stopTask(taskName: string): Promise<void> {
    await this.loops.stop(taskName);
  }

  async command(cmd: string, args: { task?: string; json?: boolean }): Promise<unknown> {
    switch (cmd) {
      case 'showtaskpages':
        return showTaskPages(this.lastStats, args);
      case 'showhostpages': {
        const pools = await this.deps.hostInfo.hugePagePools(CSLIDE_PAGE_SIZE_BYTES);
        const tasks: Record<number, NodePageStats> = {};
        for (const perPid of this.lastStats.values()) for (const s of perPid.values()) addNodeStats(tasks, s.report.nodes);
        const timeMs = (this.deps.now ?? Date.now)();
        const rows = hostPagesRows(pools, tasks);
        return args.json ? { timeMs, pageSizeBytes: CSLIDE_PAGE_SIZE_BYTES, nodes: rows } : formatHostPages(timeMs, rows);
      }
      default:
        throw new VirtTierError('OPT_INVAL', `engine cslide has no command "${cmd}"`, { field: 'cmd', value: cmd, allowed: 'showtaskpages|showhostpages' });
    }
  }

  async close(): Promise<void> {
    await this.loops.stopAll();
    this.lastStats.clear();
  }
}

/** `showtaskpages` over an engine's last stats (shared by cslide and slide). */
export function showTaskPages(lastStats: Map<string, Map<number, { report: TaskPagesReport; nodeIds: number[] }>>, args: { task?: string; json?: boolean }): unknown {
  if (args.task === undefined) throw new VirtTierError('OPT_INVAL', 'showtaskpages needs a task (-t TASK)', { field: '-t', value: '', allowed: 'a task name of this engine' });
  const perPid = lastStats.get(args.task);
  const reports = perPid ? [...perPid.values()] : [];
  if (args.json) {
    return { task: args.task, pids: reports.map((s) => ({ pid: s.report.pid, timeMs: s.report.timeMs, nodes: s.nodeIds.map((node) => ({ node, ...(s.report.nodes[node] ?? { usedBytes: 0, hotBytes: 0, coldBytes: 0 }) })) })) };
  }
  if (reports.length === 0) return `task ${args.task}: no pages info yet (its first cycle has not finished)\n`;
  return reports.map((s) => formatTaskPages(s.report, s.nodeIds)).join('');
}

/** The factory the daemon registers for `cslide` (registerEngineFactory('cslide', ...)). */
export function createCslideEngineFactory(deps: BuiltinEngineDeps): EngineFactory {
  return (config: EngineConfig, ctx: EngineFactoryContext) => {
    if (config.name !== 'cslide') throw new TypeError('cslide factory: not a cslide engine config');
    return new CslideEngine(config, deps, ctx);
  };
}
