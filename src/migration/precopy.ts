/**
 * Pre-copy live-migration estimate: what the page stats of a guest mean for
 * a QEMU pre-copy migration, with and without skipping swapped-out pages.
 *
 * The model is QEMU's RAM migration loop (migration/ram.c, migration.c
 * `migration_iteration_run`), reduced to its arithmetic:
 * - The dirty bitmap starts all set, so the first pass sends every page
 *   that carries data. Never-touched pages read as zero and cross the wire
 *   as a header only (RAM_SAVE_FLAG_ZERO): they are counted apart and cost
 *   no payload here.
 * - Before each pass QEMU compares what is still dirty with what the link
 *   moves within the allowed downtime (`threshold = bandwidth * downtime`,
 *   libvirt/QEMU default downtime 300 ms). When it fits, the guest stops and
 *   the rest is sent: that time is the downtime.
 * - Otherwise it sends the dirty set; while it does, the guest dirties
 *   `dirtyRate * passTime` bytes (capped at the guest's RAM), which the next
 *   pass sends.
 * - When the dirty rate is at or above the bandwidth the dirty set never
 *   shrinks: pre-copy never converges on its own. The model stops at
 *   `maxIterations` passes and reports the forced stop-and-copy it would
 *   need (downtime far above the limit), with `converged: false`.
 *
 * "Skipping swapped pages" is what a hint-aware migration tool gains: pages
 * the host has swapped out are not read back (a swap-in each) and not sent
 * in pre-copy; they are transferred by another path (the destination reads
 * the swap device, post-copy on demand, ...). Sizes are bytes; rates are
 * MiB/s as libvirt's `migrate-setspeed` and `--bandwidth` mean them.
 *
 * Pure: no I/O.
 */
import { invalidField } from '../errors.js';

/** libvirt's and QEMU's default maximum downtime (QEMU `downtime-limit`). */
export const DEFAULT_MAX_DOWNTIME_MS = 300;
/** A bound on passes; QEMU itself has none (it would loop until cancelled or auto-converge throttles). */
export const DEFAULT_MAX_ITERATIONS = 30;

const MIB = 1024 * 1024;

export interface PrecopyInput {
  /** guest RAM size (sum of its RAMBlocks) */
  ramSizeBytes: number;
  /** the migration stream's page size (QEMU's target page size: 4096 on x86) */
  pageSizeBytes: number;
  /** pages resident in memory with data (sent in the first pass) */
  presentPages: number;
  /** pages the host swapped out (sent unless skipped) */
  swappedPages: number;
  /** never-touched (zero) pages; default: every page neither present nor swapped */
  zeroPages?: number;
  /** how fast the guest dirties memory, MiB/s */
  dirtyRateMBps: number;
  /** migration bandwidth, MiB/s */
  bandwidthMBps: number;
  /** default 300 */
  maxDowntimeMs?: number;
  /** default 30 */
  maxIterations?: number;
}

export type PrecopyStopReason = 'downtime-reached' | 'max-iterations' | 'dirty-rate-exceeds-bandwidth';

export interface PrecopyPass {
  bytes: number;
  timeMs: number;
}

export interface PrecopyRun {
  /** pages the first pass sends with payload */
  firstPassPages: number;
  firstPassBytes: number;
  /** live passes before the stop (the guest keeps running during these) */
  iterations: number;
  passes: PrecopyPass[];
  /** bytes sent during the stop-and-copy */
  stopCopyBytes: number;
  /** all payload bytes sent (passes + stop-and-copy) and the same in pages (rounded up) */
  totalBytes: number;
  totalPages: number;
  totalTimeMs: number;
  downtimeMs: number;
  converged: boolean;
  stopReason: PrecopyStopReason;
}

export interface PrecopyEstimate {
  input: Required<PrecopyInput>;
  /** swapped pages sent like the others (plain QEMU; each is swapped in first) */
  withoutSkip: PrecopyRun;
  /** swapped pages left out of pre-copy */
  withSkip: PrecopyRun;
  /** payload not sent in pre-copy thanks to the skip (withoutSkip.totalBytes - withSkip.totalBytes) */
  savedBytes: number;
  savedPages: number;
  savedTimeMs: number;
  /** swap-ins avoided on the source (one per swapped page) */
  swapInsAvoided: number;
}

function checkNonNegative(field: string, value: number, integer: boolean): void {
  const ok = Number.isFinite(value) && value >= 0 && (!integer || Number.isInteger(value));
  if (!ok) throw invalidField(field, value, integer ? 'an integer >= 0' : 'a number >= 0');
}

/** Validates and fills defaults (throws VirtTierError naming the field). */
export function normalisePrecopyInput(input: PrecopyInput): Required<PrecopyInput> {
  const pageSize = input.pageSizeBytes;
  if (!Number.isInteger(pageSize) || pageSize < 512 || (pageSize & (pageSize - 1)) !== 0) {
    throw invalidField('pageSizeBytes', pageSize, 'a power of two >= 512 (4096 on x86)');
  }
  checkNonNegative('ramSizeBytes', input.ramSizeBytes, true);
  checkNonNegative('presentPages', input.presentPages, true);
  checkNonNegative('swappedPages', input.swappedPages, true);
  const totalPages = Math.ceil(input.ramSizeBytes / pageSize);
  const zeroPages = input.zeroPages ?? Math.max(0, totalPages - input.presentPages - input.swappedPages);
  checkNonNegative('zeroPages', zeroPages, true);
  if (input.presentPages + input.swappedPages + zeroPages > totalPages) {
    throw invalidField('presentPages+swappedPages+zeroPages', input.presentPages + input.swappedPages + zeroPages, `<= ${totalPages} (ramSizeBytes / pageSizeBytes)`);
  }
  checkNonNegative('dirtyRateMBps', input.dirtyRateMBps, false);
  if (!(Number.isFinite(input.bandwidthMBps) && input.bandwidthMBps > 0)) throw invalidField('bandwidthMBps', input.bandwidthMBps, 'a number > 0 (MiB/s)');
  const maxDowntimeMs = input.maxDowntimeMs ?? DEFAULT_MAX_DOWNTIME_MS;
  if (!(Number.isFinite(maxDowntimeMs) && maxDowntimeMs > 0)) throw invalidField('maxDowntimeMs', maxDowntimeMs, 'a number > 0 (ms)');
  const maxIterations = input.maxIterations ?? DEFAULT_MAX_ITERATIONS;
  if (!Number.isInteger(maxIterations) || maxIterations < 1 || maxIterations > 100000) throw invalidField('maxIterations', maxIterations, '1..100000');
  return { ...input, zeroPages, maxDowntimeMs, maxIterations };
}

/** One pre-copy run whose first pass sends `firstPassBytes`. */
export function simulatePrecopy(firstPassBytes: number, opts: { pageSizeBytes: number; ramSizeBytes: number; dirtyRateMBps: number; bandwidthMBps: number; maxDowntimeMs: number; maxIterations: number }): PrecopyRun {
  const bandwidthBytesPerMs = (opts.bandwidthMBps * MIB) / 1000;
  const dirtyBytesPerMs = (opts.dirtyRateMBps * MIB) / 1000;
  const thresholdBytes = bandwidthBytesPerMs * opts.maxDowntimeMs;
  const passes: PrecopyPass[] = [];
  let remaining = firstPassBytes;
  let elapsedMs = 0;
  let sent = 0;
  let converged = true;
  let stopReason: PrecopyStopReason = 'downtime-reached';
  for (;;) {
    if (remaining <= thresholdBytes) break;
    if (passes.length >= opts.maxIterations) {
      converged = false;
      stopReason = opts.dirtyRateMBps >= opts.bandwidthMBps ? 'dirty-rate-exceeds-bandwidth' : 'max-iterations';
      break;
    }
    const timeMs = remaining / bandwidthBytesPerMs;
    passes.push({ bytes: remaining, timeMs });
    elapsedMs += timeMs;
    sent += remaining;
    remaining = Math.min(dirtyBytesPerMs * timeMs, opts.ramSizeBytes);
  }
  const downtimeMs = remaining / bandwidthBytesPerMs;
  const totalBytes = sent + remaining;
  return {
    firstPassPages: Math.ceil(firstPassBytes / opts.pageSizeBytes),
    firstPassBytes,
    iterations: passes.length,
    passes,
    stopCopyBytes: remaining,
    totalBytes,
    totalPages: Math.ceil(totalBytes / opts.pageSizeBytes),
    totalTimeMs: elapsedMs + downtimeMs,
    downtimeMs,
    converged,
    stopReason,
  };
}

/** The estimate with and without skipping swapped pages. */
export function estimatePrecopy(input: PrecopyInput): PrecopyEstimate {
  const n = normalisePrecopyInput(input);
  const opts = { pageSizeBytes: n.pageSizeBytes, ramSizeBytes: n.ramSizeBytes, dirtyRateMBps: n.dirtyRateMBps, bandwidthMBps: n.bandwidthMBps, maxDowntimeMs: n.maxDowntimeMs, maxIterations: n.maxIterations };
  const withoutSkip = simulatePrecopy((n.presentPages + n.swappedPages) * n.pageSizeBytes, opts);
  const withSkip = simulatePrecopy(n.presentPages * n.pageSizeBytes, opts);
  return {
    input: n,
    withoutSkip,
    withSkip,
    savedBytes: withoutSkip.totalBytes - withSkip.totalBytes,
    savedPages: withoutSkip.totalPages - withSkip.totalPages,
    savedTimeMs: withoutSkip.totalTimeMs - withSkip.totalTimeMs,
    swapInsAvoided: n.swappedPages,
  };
}
