/**
 * The built-in slide engine: for each task, every cycle scans all of the
 * process's VMAs with the injected tracker, picks the cold pages
 * (count < T) within the gates (src/engines/slide-policy.ts) and has the
 * mover swap them out with process_madvise(MADV_PAGEOUT).
 *
 * etmem's keys, as etmem applies them:
 * - `sysmem_threshold`: swap only while MemFree is below that % of
 *   MemTotal, and, when the task has no `swap_threshold`, only while the
 *   process's swapped share (VmSwap of VmRSS+VmSwap) is below it
 *   (etmemd_slide.c check_should_swap, check_pid_should_swap).
 * - `swapcache_high_wmark`/`swapcache_low_wmark`: etmem reclaims swap cache
 *   through its kernel module once SwapCached passes high% of MemTotal. A
 *   stock kernel has no call that drops swap cache on demand, so virt-tier
 *   acts on what it controls, its own swap-outs (which go through the swap
 *   cache): once SwapCached passes high%, the project's slide tasks stop
 *   swapping until it is back at or below low% (limitedBy swapcache_wmark).
 * - `swap_flag=yes`: etmem scans only the VMAs the process marked for
 *   swapping (VMA_SCAN_FLAG, through openEuler's madvise flag). On a stock
 *   kernel a process marks memory by naming it (prctl PR_SET_VMA_ANON_NAME,
 *   Linux 5.17+ with CONFIG_ANON_VMA_NAME): only VMAs named `swap` or
 *   `swap:...` (smaps `[anon:swap...]`) are swapped. Kernels without that
 *   option (Debian's) cannot name VMAs: nothing is swapped, and the task
 *   logs it once.
 * - `max_threads`: how many of a pid's ranges (VMAs) one scan reads at once
 *   (the tracker's pagemap / idle_pages reads), and how many of the task's
 *   pids are decided and swapped at
 *   once (etmem: the size of the task's thread pool).
 */
import type { ProjectConfig, SlideEngineConfig, SlideTaskParams, TaskConfig } from '../config/types.js';
import type { AccessMap } from '../scan/access-map.js';
import { invalidField } from '../errors.js';
import type { EngineFactory } from './engine.js';
import { decideSlide, type SlideGate } from '../engines/slide-policy.js';
import type { BuiltinEngineDeps, RoundEntry, RoundResult } from './cycle-runner.js';
import { defineBuiltinEngine, sumCounts, type BuiltinPidStats } from './builtin-engine.js';
import { nodePageStats } from './page-report.js';
import { boundedMap } from '../scan/bounded-map.js';

export { boundedMap };

interface SlidePidStats extends BuiltinPidStats {
  coldBytes: number;
  plannedSwapBytes: number;
  swappedOutBytes: number;
  limitedBy?: SlideLimit;
  rssBytes: number;
  freeMemPercent: number;
  /** planned swap-out bytes by the node the pages were on */
  plannedSwapBytesByNode: Record<number, number>;
}

/** What held a pid's swap-out back: a policy gate, or the project's swap-cache watermarks. */
export type SlideLimit = SlideGate | 'swapcache_wmark';

/**
 * etmem's sysmem_threshold (etmemd_slide.c): swap only while MemFree, as an
 * integer percentage of MemTotal, is below the threshold; and when the
 * task sets no swap_threshold, only while the process has swapped less
 * than that share of its memory: (VmRSS + VmSwap) / 100 * threshold > VmSwap.
 */
export function sysmemAllowsSwap(input: { thresholdPercent: number; totalBytes: number; freeBytes: number; swapThresholdSet: boolean; rssBytes: number; swapBytes?: number }): boolean {
  const freePercent = input.totalBytes > 0 ? Math.floor((input.freeBytes * 100) / input.totalBytes) : 100;
  if (!(freePercent < input.thresholdPercent)) return false;
  if (input.swapThresholdSet || input.swapBytes === undefined) return true;
  return ((input.rssBytes + input.swapBytes) / 100) * input.thresholdPercent > input.swapBytes;
}

/**
 * The swap-cache watermarks as a pause with hysteresis: paused once
 * SwapCached passes high% of MemTotal, resumed once it is at or below
 * low%; in between, as before.
 */
export function swapcachePaused(wasPaused: boolean, swapCachedBytes: number, totalBytes: number, highPercent: number, lowPercent: number): boolean {
  if (totalBytes <= 0) return false;
  const percent = (swapCachedBytes * 100) / totalBytes;
  if (percent > highPercent) return true;
  if (percent <= lowPercent) return false;
  return wasPaused;
}

/** A VMA the process named for swapping: `swap` or `swap:...` (prctl PR_SET_VMA_ANON_NAME shows `[anon:swap...]`). */
export function isSwapDesignatedVma(pathname: string): boolean {
  return pathname === '[anon:swap]' || pathname.startsWith('[anon:swap:');
}

/** The access map narrowed to the VMAs the process designated (swap_flag=yes). */
export function designatedOnly(map: AccessMap): AccessMap {
  const vmas = map.vmas.filter((v) => isSwapDesignatedVma(v.pathname));
  const inside = (start: number): boolean => vmas.some((v) => start >= v.start && start < v.end);
  return { ...map, vmas, ranges: map.ranges.filter((r) => inside(r.start)) };
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

/** Tasks already told that swap_flag found nothing to swap (once per task, not per round). */
const warnedSwapFlag = new WeakSet<object>();

/** Per engine: which projects' swap-outs are paused by their swap-cache watermarks (the hysteresis state). */
type SwapcacheState = WeakMap<ProjectConfig, boolean>;

async function slidePid(deps: BuiltinEngineDeps, { task, pid, allPids, map: scanned, totals }: RoundEntry<{ swappedOutBytes: number }>, swapcache: SwapcacheState): Promise<{ stats: SlidePidStats; ended?: string }> {
  const params = task.config.params as SlideTaskParams;
  const project = task.project;
  const mem = await deps.hostInfo.memInfo();
  const rssBytes = await deps.hostInfo.processRssBytes(pid);
  const freeBytes = mem.freeBytes ?? mem.availableBytes;
  const freeMemPercent = mem.totalBytes > 0 ? (freeBytes / mem.totalBytes) * 100 : 100;
  const map = params.swap_flag ? designatedOnly(scanned) : scanned;
  if (params.swap_flag && map.vmas.length === 0 && !warnedSwapFlag.has(task)) {
    // Kernels built without CONFIG_ANON_VMA_NAME (Debian's, the testbed's) cannot name a VMA at all.
    warnedSwapFlag.add(task);
    task.log.warn('swap_flag=yes: no VMA of the process is named swap or swap:... (prctl PR_SET_VMA_ANON_NAME, needs CONFIG_ANON_VMA_NAME); nothing is swapped', { pid });
  }
  // sysmem_threshold as etmem applies it: the policy's gate sees 0 % free when etmem's checks allow swapping, 100 % when not.
  let sysmemOpen = true;
  if (project.sysmem_threshold !== undefined) {
    const swapBytes = params.swap_threshold_bytes === undefined ? await deps.hostInfo.processSwapBytes?.(pid) : undefined;
    sysmemOpen = sysmemAllowsSwap({ thresholdPercent: project.sysmem_threshold, totalBytes: mem.totalBytes, freeBytes, swapThresholdSet: params.swap_threshold_bytes !== undefined, rssBytes, swapBytes });
  }
  const decision = decideSlide({
    accessMap: map,
    T: params.T,
    loop: project.loop,
    gates: {
      sysmemThreshold: project.sysmem_threshold,
      freeMemPercent: sysmemOpen ? -1 : 100,
      swapThresholdBytes: params.swap_threshold_bytes,
      processRssBytes: rssBytes,
      dramPercent: params.dram_percent,
      swapFlag: params.swap_flag,
    },
  });
  let limitedBy: SlideLimit | undefined = decision.limitedBy;
  if (project.swapcache_high_wmark !== undefined && project.swapcache_low_wmark !== undefined) {
    const paused = swapcachePaused(swapcache.get(project) ?? false, mem.swapCachedBytes ?? 0, mem.totalBytes, project.swapcache_high_wmark, project.swapcache_low_wmark);
    swapcache.set(project, paused);
    if (paused && decision.plan.swapOuts.length > 0) {
      decision.plan.swapOuts = [];
      limitedBy = 'swapcache_wmark';
    }
  }
  const plannedSwapBytes = decision.plan.swapOuts.reduce((n, s) => n + s.lengthBytes, 0);
  const result = plannedSwapBytes > 0 ? await deps.mover.execute(decision.plan, { allowedPids: allPids, signal: task.signal }) : undefined;
  totals.swappedOutBytes += result?.bytesSwappedOut ?? 0;
  const nodes = nodePageStats(map, params.T);
  const nodeOfStart = new Map<number, number>();
  for (let i = 0; i < map.ranges.length; i++) nodeOfStart.set(map.ranges.starts[i]!, map.ranges.nodes[i]!);
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
    limitedBy,
    rssBytes,
    freeMemPercent,
    plannedSwapBytesByNode,
    errorsByErrno: result?.errorsByErrno ?? {},
    tracker: map.tracker,
  };
  return { stats, ended: result?.ended };
}

// The watermark state lives with the engine's deps (one per daemon wiring), keyed by project: nothing process-wide.
const swapcacheByDeps = new WeakMap<BuiltinEngineDeps, SwapcacheState>();
function swapcacheStates(deps: BuiltinEngineDeps): SwapcacheState {
  let state = swapcacheByDeps.get(deps);
  if (!state) swapcacheByDeps.set(deps, (state = new WeakMap()));
  return state;
}

const slide = defineBuiltinEngine<SlideEngineConfig, SlidePidStats, { swappedOutBytes: number }>({
  name: 'slide',
  checkTask: checkSlideTask,
  scope: 'task',
  // max_threads also bounds how many of a pid's ranges one scan reads at once (src/scan/bounded-map.ts).
  scanTarget: (task) => ({ filter: { vmFlags: [], anonOnly: false }, ignHost: false, maxParallelRanges: (task.config.params as SlideTaskParams).max_threads ?? 1 }),
  newTotals: () => ({ swappedOutBytes: 0 }),
  async round({ deps, entries }) {
    // A slide round group is one task: its pids are decided and swapped max_threads at a time (etmem's thread
    // pool per task); each pid's gates read that process's own RSS.
    const maxThreads = (entries[0]?.task.config.params as SlideTaskParams | undefined)?.max_threads ?? 1;
    const swapcache = swapcacheStates(deps);
    return boundedMap(entries, maxThreads, async (entry): Promise<RoundResult<SlidePidStats>> => {
      try {
        return await slidePid(deps, entry, swapcache);
      } catch (error) {
        return { error };
      }
    });
  },
  roundFigures(perPid, totals) {
    let cold = 0;
    let planned = 0;
    let swapped = 0;
    const limitedBy = new Set<SlideLimit>();
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
