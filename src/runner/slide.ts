/**
 * The built-in slide engine: for each task, every cycle scans all of the
 * process's VMAs with the injected tracker, picks the cold pages
 * (count < T) within the gates (src/engines/slide-policy.ts) and has the
 * mover swap them out with process_madvise(MADV_PAGEOUT).
 *
 * `max_threads` is accepted for etmem compatibility and unused: the scan is
 * one kernel walk per VMA and the mover batches the advice in iovecs.
 */
import type { ProjectConfig, SlideEngineConfig, SlideTaskParams, TaskConfig } from '../config/types.js';
import { invalidField } from '../errors.js';
import type { EngineFactory } from './engine.js';
import { decideSlide, type SlideGate } from '../engines/slide-policy.js';
import type { BuiltinEngineDeps, RoundEntry, RoundResult } from './cycle-runner.js';
import { defineBuiltinEngine, sumCounts, type BuiltinPidStats } from './builtin-engine.js';
import { nodePageStats } from './page-report.js';

interface SlidePidStats extends BuiltinPidStats {
  coldBytes: number;
  plannedSwapBytes: number;
  swappedOutBytes: number;
  limitedBy?: SlideGate;
  rssBytes: number;
  freeMemPercent: number;
  /** planned swap-out bytes by the node the pages were on */
  plannedSwapBytesByNode: Record<number, number>;
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

async function slidePid(deps: BuiltinEngineDeps, { task, pid, allPids, map, totals }: RoundEntry<{ swappedOutBytes: number }>): Promise<{ stats: SlidePidStats; ended?: string }> {
  const params = task.config.params as SlideTaskParams;
  const mem = await deps.hostInfo.memInfo();
  const rssBytes = await deps.hostInfo.processRssBytes(pid);
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
  const result = plannedSwapBytes > 0 ? await deps.mover.execute(decision.plan, { allowedPids: allPids, signal: task.signal }) : undefined;
  totals.swappedOutBytes += result?.bytesSwappedOut ?? 0;
  const nodes = nodePageStats(map, params.T);
  const nodeOfStart = new Map(map.ranges.map((r) => [r.start, r.node]));
  const plannedSwapBytesByNode: Record<number, number> = {};
  for (const so of decision.plan.swapOuts) {
    const node = nodeOfStart.get(so.start) ?? -1;
    plannedSwapBytesByNode[node] = (plannedSwapBytesByNode[node] ?? 0) + so.lengthBytes;
  }
  const stats: SlidePidStats = {
    report: { pid, timeMs: map.timeMs || (deps.now ?? Date.now)(), nodes },
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
  return { stats, ended: result?.ended };
}

const slide = defineBuiltinEngine<SlideEngineConfig, SlidePidStats, { swappedOutBytes: number }>({
  name: 'slide',
  checkTask: checkSlideTask,
  scope: 'task',
  scanTarget: () => ({ filter: { vmFlags: [], anonOnly: false }, ignHost: false }),
  newTotals: () => ({ swappedOutBytes: 0 }),
  async round({ deps, entries }) {
    const out: Array<RoundResult<SlidePidStats>> = [];
    // A slide task's pids are decided one by one (their gates read each process's RSS).
    for (const entry of entries) {
      try {
        out.push(await slidePid(deps, entry));
      } catch (error) {
        out.push({ error });
      }
    }
    return out;
  },
  roundFigures(perPid, totals) {
    let cold = 0;
    let planned = 0;
    let swapped = 0;
    const limitedBy = new Set<SlideGate>();
    const plannedSwapBytesByNode: Record<number, number> = {};
    for (const s of perPid) {
      cold += s.coldBytes;
      planned += s.plannedSwapBytes;
      swapped += s.swappedOutBytes;
      if (s.limitedBy) limitedBy.add(s.limitedBy);
      sumCounts(plannedSwapBytesByNode, s.plannedSwapBytesByNode);
    }
    return {
      coldBytes: cold,
      plannedSwapBytes: planned,
      plannedSwapBytesByNode,
      swappedOutBytes: swapped,
      totalSwappedOutBytes: totals.swappedOutBytes,
      ...(limitedBy.size > 0 ? { limitedBy: [...limitedBy] } : {}),
    };
  },
});

export const SlideEngine = slide.Engine;

/** The factory the daemon registers for `slide`. */
export function createSlideEngineFactory(deps: BuiltinEngineDeps): EngineFactory {
  return slide.factory(deps);
}
