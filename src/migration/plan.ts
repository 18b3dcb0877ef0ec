/**
 * A migration plan for a target bandwidth and downtime, from the pre-copy
 * model (precopy.ts). Pure. The advice, and why:
 * - pre-copy converges at the target: plain pre-copy.
 * - it does not, but would at a bandwidth the link can give: raise
 *   max-bandwidth (`requiredBandwidthMBps`).
 * - otherwise auto-converge (QEMU throttles the vCPUs, by steps up to
 *   max-cpu-throttle 99%) when a throttle of at most 50% makes it converge
 *   (the guest runs at half speed or better until the switch-over);
 *   post-copy when only a heavier throttle would, or none at all: a working
 *   set larger than bandwidth x downtime is rewritten faster than any
 *   throttle the guest can bear, while post-copy sends every page once.
 * - swapped pages: plain QEMU reads every one back (a swap-in each). When
 *   those swap-ins take longer than the pass's wire time they lengthen the
 *   migration: bring them back first (before the clock starts); else they
 *   hide in the rate limiter's waits. A hint-aware tool skips them (the
 *   saving is `skipSavesBytes`).
 */
import { estimatePrecopy, requiredBandwidthMBps, type DirtyModel, type PrecopyInput, type PrecopyRun } from './precopy.js';

/** Most a guest is throttled before the plan prefers post-copy (fraction of vCPU time taken). */
export const AUTO_CONVERGE_MAX_THROTTLE = 0.5;
/** QEMU's max-cpu-throttle default: 99%. */
export const QEMU_MAX_CPU_THROTTLE = 0.99;

export type PlanAdvice = 'precopy' | 'raise-bandwidth' | 'auto-converge' | 'postcopy';

export interface MigrationPlan {
  bandwidthMBps: number;
  maxDowntimeMs: number;
  precopy: Pick<PrecopyRun, 'converged' | 'iterations' | 'totalBytes' | 'totalTimeMs' | 'downtimeMs' | 'dirtySyncCount' | 'normalPages' | 'zeroPages'>;
  /** lowest max-bandwidth at which pre-copy converges; null: none does */
  requiredBandwidthMBps: number | null;
  /** lowest vCPU throttle (0..0.99) with which it converges at the target; null: none */
  throttleNeeded: number | null;
  advice: PlanAdvice;
  autoConverge: boolean;
  postcopy: boolean;
  reasons: string[];
  swapped: {
    pages: number;
    swapInMs: number;
    advice: 'none' | 'bring-back-first' | 'leave';
    /** bytes a hint-aware tool does not send by skipping them */
    skipSavesBytes: number;
  };
}

/** The dirty model with the guest running at (1 - throttle) of its speed. */
function throttled(d: DirtyModel, throttle: number): DirtyModel {
  const speed = 1 - throttle;
  if (d.curve) return { curve: d.curve.map(([ms, pages]) => [ms / speed, pages] as [number, number]) };
  return { ...d, ratePagesPerSec: (d.ratePagesPerSec ?? 0) * speed };
}

const pick = (r: PrecopyRun): MigrationPlan['precopy'] => ({
  converged: r.converged,
  iterations: r.iterations,
  totalBytes: r.totalBytes,
  totalTimeMs: r.totalTimeMs,
  downtimeMs: r.downtimeMs,
  dirtySyncCount: r.dirtySyncCount,
  normalPages: r.normalPages,
  zeroPages: r.zeroPages,
});

/** The plan at `input.bandwidthMBps` / `input.maxDowntimeMs`; `linkMBps` is what the link could give (default: the target). */
export function planMigration(input: PrecopyInput, linkMBps?: number): MigrationPlan {
  const e = estimatePrecopy(input);
  const run = e.withoutSkip;
  const link = linkMBps ?? e.input.bandwidthMBps;
  const required = run.converged ? e.input.bandwidthMBps : requiredBandwidthMBps(input);
  let throttleNeeded: number | null = run.converged ? 0 : null;
  if (!run.converged && estimatePrecopy({ ...input, dirty: throttled(e.input.dirty, QEMU_MAX_CPU_THROTTLE) }).withoutSkip.converged) {
    let lo = 0;
    let hi = QEMU_MAX_CPU_THROTTLE;
    while (hi - lo > 0.005) {
      const mid = (lo + hi) / 2;
      if (estimatePrecopy({ ...input, dirty: throttled(e.input.dirty, mid) }).withoutSkip.converged) hi = mid;
      else lo = mid;
    }
    throttleNeeded = hi;
  }
  const reasons: string[] = [];
  let advice: PlanAdvice;
  if (run.converged) {
    advice = 'precopy';
    reasons.push(`pre-copy converges at ${e.input.bandwidthMBps} MiB/s after ${run.iterations} pass(es), downtime ${run.downtimeMs.toFixed(0)} ms <= ${e.input.maxDowntimeMs} ms`);
  } else if (required !== null && required <= link) {
    advice = 'raise-bandwidth';
    reasons.push(`pre-copy does not converge at ${e.input.bandwidthMBps} MiB/s; it does at ${required.toFixed(1)} MiB/s, within the link's ${link} MiB/s`);
  } else if (throttleNeeded !== null && throttleNeeded <= AUTO_CONVERGE_MAX_THROTTLE) {
    advice = 'auto-converge';
    reasons.push(`pre-copy does not converge at ${e.input.bandwidthMBps} MiB/s; throttling the vCPUs by ${(throttleNeeded * 100).toFixed(0)}% makes it`);
  } else {
    advice = 'postcopy';
    reasons.push(
      throttleNeeded === null
        ? `pre-copy does not converge at ${e.input.bandwidthMBps} MiB/s even with the vCPUs throttled by 99%: the rewritten set is larger than bandwidth x downtime`
        : `pre-copy would need the vCPUs throttled by ${(throttleNeeded * 100).toFixed(0)}% (> ${AUTO_CONVERGE_MAX_THROTTLE * 100}%); post-copy sends each page once`,
    );
  }
  // pass 1's bytes, its tail included when it is the final pass
  const pass1Bytes = (run.passes[0]?.bytes ?? 0) + (run.tail.pass === 0 ? run.tail.bytes : 0);
  const wireMs = pass1Bytes / ((e.input.bandwidthMBps * 1048576) / 1000);
  let swappedAdvice: MigrationPlan['swapped']['advice'] = 'none';
  if (e.input.swappedPages > 0) {
    swappedAdvice = run.swapInMs > wireMs ? 'bring-back-first' : 'leave';
    reasons.push(
      swappedAdvice === 'bring-back-first'
        ? `${e.input.swappedPages} swapped pages take ${run.swapInMs.toFixed(0)} ms to swap in, longer than pass 1's ${wireMs.toFixed(0)} ms on the wire: bring them back before migrating, or skip them with a hint-aware tool`
        : `${e.input.swappedPages} swapped pages: their swap-ins (${run.swapInMs.toFixed(0)} ms) hide in the rate limiter's waits; a hint-aware tool would not send ${(e.savedBytes / 1048576).toFixed(1)} MiB`,
    );
  }
  return {
    bandwidthMBps: e.input.bandwidthMBps,
    maxDowntimeMs: e.input.maxDowntimeMs,
    precopy: pick(run),
    requiredBandwidthMBps: required,
    throttleNeeded,
    advice,
    autoConverge: advice === 'auto-converge',
    postcopy: advice === 'postcopy',
    reasons,
    swapped: { pages: e.input.swappedPages, swapInMs: run.swapInMs, advice: swappedAdvice, skipSavesBytes: e.savedBytes },
  };
}
