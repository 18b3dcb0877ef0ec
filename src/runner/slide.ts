/**
 * The built-in slide engine: for each task, every cycle scans all of the
 * process's VMAs with the injected tracker, picks the cold pages
 * (count < T) within the gates (src/engines/slide-policy.ts) and has the
 * mover swap them out with process_madvise(MADV_PAGEOUT).
 *
 * `max_threads` is accepted for etmem compatibility and unused: the scan is
 * one kernel walk per VMA and the mover batches the advice in iovecs.
 */
import type { EngineConfig, ProjectConfig, SlideEngineConfig, SlideTaskParams, TaskConfig } from '../config/types.js';
import { VirtTierError, invalidField } from '../errors.js';
import type { Engine, EngineFactory, EngineFactoryContext, EngineTask } from './engine.js';
import { decideSlide, type SlideGate } from '../engines/slide-policy.js';
import { runTaskLoop, TaskLoops, type BuiltinEngineDeps } from './cycle-runner.js';
import { addNodeStats, nodePageStats, type NodePageStats, type TaskPagesReport } from './page-report.js';
import { showTaskPages } from './cslide.js';

interface SlidePidStats {
  report: TaskPagesReport;
  nodeIds: number[];
  coldBytes: number;
  plannedSwapBytes: number;
  swappedOutBytes: number;
  limitedBy?: SlideGate;
  rssBytes: number;
  freeMemPercent: number;
  /** planned swap-out bytes by the node the pages were on */
  plannedSwapBytesByNode: Record<number, number>;
  errorsByErrno: Record<string, number>;
  tracker: string;
}

/** Validates the slide task keys against the project (T <= loop * 3, ...). */
export function checkSlideTask(task: TaskConfig, project: ProjectConfig): void {
  const p = task.params as Partial<SlideTaskParams>;
  const field = (k: string): string => `task "${task.name}".${k}`;
  const maxT = project.loop * 3;
  if (typeof p.T !== 'number' || !Number.isInteger(p.T) || p.T < 0 || p.T > maxT) {
    throw invalidField(field('T'), p.T ?? '', `0..${maxT} (loop ${project.loop} * 3)`, p.T === undefined ? 'required' : 'out of range');
  }
  if (p.max_threads !== undefined && (!Number.isInteger(p.max_threads) || p.max_threads < 1)) throw invalidField(field('max_threads'), p.max_threads, '1..2*ncpu+1');
  if (p.swap_threshold_bytes !== undefined && (!Number.isFinite(p.swap_threshold_bytes) || p.swap_threshold_bytes < 0)) throw invalidField(field('swap_threshold'), p.swap_threshold_bytes, 'NNg|NNG, >= 0');
  if (p.dram_percent !== undefined && !(Number.isFinite(p.dram_percent) && p.dram_percent > 0 && p.dram_percent <= 100)) throw invalidField(field('dram_percent'), p.dram_percent, '(0,100]');
  if (p.swap_flag !== undefined && typeof p.swap_flag !== 'boolean') throw invalidField(field('swap_flag'), String(p.swap_flag), 'yes|no');
}

export class SlideEngine implements Engine {
  readonly name = 'slide';
  private readonly loops = new TaskLoops();
  private readonly lastStats = new Map<string, Map<number, SlidePidStats>>();

  constructor(readonly config: SlideEngineConfig, private readonly deps: BuiltinEngineDeps, private readonly ctx: EngineFactoryContext) {}

  checkTask(task: TaskConfig, project: ProjectConfig): void {
    checkSlideTask(task, project);
  }

  startTask(task: EngineTask): void {
    const name = task.config.name;
    const params = task.config.params as SlideTaskParams;
    const now = this.deps.now ?? Date.now;
    let totalSwappedOutBytes = 0;
    this.lastStats.set(name, new Map());
    this.loops.start(task, () =>
      runTaskLoop<SlidePidStats>(task, this.deps, 'slide', {
        cycle: async (pid, allPids, tracker) => {
          const map = await tracker.scanCycle(
            { pid, filter: { vmFlags: [], anonOnly: false }, ignHost: false },
            { loop: task.project.loop, intervalMs: task.project.interval * 1000, signal: task.signal },
          );
          const mem = await this.deps.hostInfo.memInfo();
          const rssBytes = await this.deps.hostInfo.processRssBytes(pid);
          const freeMemPercent = mem.totalBytes > 0 ? (mem.availableBytes / mem.totalBytes) * 100 : 100;
          const decision = decideSlide({
            accessMap: map,
            T: params.T,
            loop: task.project.loop,
            gates: {
              sysmemThreshold: task.project.sysmem_threshold,
              freeMemPercent,
              swapThresholdBytes: params.swap_threshold_bytes,
              processRssBytes: rssBytes,
              dramPercent: params.dram_percent,
              swapFlag: params.swap_flag,
            },
          });
          const plannedSwapBytes = decision.plan.swapOuts.reduce((n, s) => n + s.lengthBytes, 0);
          const result = plannedSwapBytes > 0 ? await this.deps.mover.execute(decision.plan, { allowedPids: allPids, signal: task.signal }) : undefined;
          totalSwappedOutBytes += result?.bytesSwappedOut ?? 0;
          const nodes = nodePageStats(map, params.T);
          const nodeOfStart = new Map(map.ranges.map((r) => [r.start, r.node]));
          const plannedSwapBytesByNode: Record<number, number> = {};
          for (const so of decision.plan.swapOuts) {
            const node = nodeOfStart.get(so.start) ?? -1;
            plannedSwapBytesByNode[node] = (plannedSwapBytesByNode[node] ?? 0) + so.lengthBytes;
          }
          const stats: SlidePidStats = {
            report: { pid, timeMs: map.timeMs || now(), nodes },
            nodeIds: Object.keys(nodes).map(Number).sort((a, b) => a - b),
            coldBytes: decision.coldBytes,
            plannedSwapBytes,
            swappedOutBytes: result?.bytesSwappedOut ?? 0,
            limitedBy: decision.limitedBy,
            rssBytes,
            freeMemPercent,
            plannedSwapBytesByNode,
            errorsByErrno: result?.errorsByErrno ?? {},
            tracker: map.tracker,
          };
          this.lastStats.get(name)?.set(pid, stats);
          return { stats, ended: result?.ended };
        },
        report: (round, perPid, extra) => {
          const nodes: Record<number, NodePageStats> = {};
          let cold = 0;
          let planned = 0;
          let swapped = 0;
          const limitedBy = new Set<SlideGate>();
          const errorsByErrno: Record<string, number> = {};
          const plannedSwapBytesByNode: Record<number, number> = {};
          for (const s of perPid.values()) {
            addNodeStats(nodes, s.report.nodes);
            cold += s.coldBytes;
            planned += s.plannedSwapBytes;
            swapped += s.swappedOutBytes;
            if (s.limitedBy) limitedBy.add(s.limitedBy);
            for (const [k, v] of Object.entries(s.errorsByErrno)) errorsByErrno[k] = (errorsByErrno[k] ?? 0) + v;
            for (const [k, v] of Object.entries(s.plannedSwapBytesByNode)) plannedSwapBytesByNode[Number(k)] = (plannedSwapBytesByNode[Number(k)] ?? 0) + v;
          }
          return {
            engine: 'slide',
            round,
            timeMs: now(),
            pids: [...perPid.keys()],
            tracker: [...perPid.values()][0]?.tracker,
            nodes,
            coldBytes: cold,
            plannedSwapBytes: planned,
            plannedSwapBytesByNode,
            swappedOutBytes: swapped,
            totalSwappedOutBytes,
            ...(limitedBy.size > 0 ? { limitedBy: [...limitedBy] } : {}),
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
    if (cmd === 'showtaskpages') return showTaskPages(this.lastStats, args);
    throw new VirtTierError('OPT_INVAL', `engine slide has no command "${cmd}"`, { field: 'cmd', value: cmd, allowed: 'showtaskpages' });
  }

  async close(): Promise<void> {
    await this.loops.stopAll();
    this.lastStats.clear();
  }
}

/** The factory the daemon registers for `slide`. */
export function createSlideEngineFactory(deps: BuiltinEngineDeps): EngineFactory {
  return (config: EngineConfig, ctx: EngineFactoryContext) => {
    if (config.name !== 'slide') throw new TypeError('slide factory: not a slide engine config');
    return new SlideEngine(config, deps, ctx);
  };
}
