/**
 * Pre-copy live-migration estimate: what a guest's pages mean for a QEMU
 * pre-copy migration, with and without skipping swapped-out pages.
 *
 * The model is QEMU's RAM migration loop (QEMU 7.2: migration/migration.c
 * `migration_iteration_run`, `migration_completion`; migration/ram.c
 * `ram_save_pending`, `ram_find_and_save_block`, `save_zero_page`),
 * reduced to its arithmetic and checked against real migrations
 * (test/integration/libvirt-migration.test.ts, bench/migration-accuracy.ts):
 * - Setup syncs the dirty bitmap once (every page dirty): dirty sync 1.
 * - Pass 1 walks every page. A page that reads as zero goes as a header
 *   only (8-byte address/flags + 1 byte: `RAM_SAVE_FLAG_ZERO`, counted as
 *   `duplicate`); any other page as header + 4096 bytes (`normal`). What is
 *   swapped out is read back first (a swap-in each) and then is zero or not
 *   like any page. The stream is held to `max-bandwidth` by QEMU's rate
 *   limiter (100 ms windows), so a pass takes its bytes / bandwidth, or the
 *   time its swap-ins take when that is longer.
 * - When what is still dirty (in pages x 4096, zero or not) drops below
 *   `threshold = bandwidth x downtime-limit`, QEMU syncs the bitmap: the
 *   pages the guest wrote since the last sync are dirty again. Still above
 *   the threshold: another pass sends them (at bandwidth) while the guest
 *   writes more. Below: the guest stops, a last sync runs, and the rest is
 *   sent without the rate limit (`migration_completion` lifts it): that is
 *   the downtime.
 * - What the guest writes in a pass of length t is not rate x t: a guest
 *   that rewrites one working set dirties at most that set however long the
 *   pass. The input is the measured curve "distinct pages written within t"
 *   (src/migration/measure.ts), or a rate and working set given by flags.
 *   Dirtied pages are assumed to carry data.
 * - When every pass leaves more dirty than the threshold, pre-copy never
 *   ends on its own (QEMU has no iteration limit; it loops until cancelled,
 *   auto-converge throttles the vCPUs, or post-copy takes over). The model
 *   stops at `maxIterations` passes with `converged: false` and the
 *   figures of a forced stop there.
 *
 * "Skipping swapped pages" is what a hint-aware migration tool gains: pages
 * the host swapped out are not read back and not sent in pre-copy; they
 * travel another way (post-copy on demand, the destination reading the swap
 * device, ...). Sizes are bytes; rates are MiB/s as `virsh migrate-setspeed`
 * and `--bandwidth` mean them.
 *
 * Pure: no I/O.
 */
import { invalidField } from '../errors.js';

/** libvirt's and QEMU's default maximum downtime (QEMU `downtime-limit`). */
export const DEFAULT_MAX_DOWNTIME_MS = 300;
/** QEMU's `downtime-limit` range (migration/migration.c, MAX_MIGRATE_DOWNTIME_SECONDS = 2000 s). */
export const MAX_DOWNTIME_LIMIT_MS = 2_000_000;
/** A bound on passes; QEMU itself has none. */
export const DEFAULT_MAX_ITERATIONS = 30;
/** Per page on the wire: be64 address|flags (migration/ram.c save_page_header). */
export const PAGE_HEADER_BYTES = 8;
/** A zero page: the header and one byte (save_zero_page_to_file). */
export const ZERO_PAGE_WIRE_BYTES = PAGE_HEADER_BYTES + 1;
/**
 * Stream speed of the unthrottled stop-and-copy, MiB/s, when not given:
 * measured here (loopback TCP, TCG guests, query-migrate downtime-bytes /
 * downtime) between 400 and 1000 MiB/s; it only moves the downtime, by a
 * few ms for the few MiB left at the stop.
 */
export const DEFAULT_STOP_COPY_MBPS = 600;
/** vCPU stop, device state and the last bitmap sync, ms (seen: 1..10 ms on TCG guests). */
export const DEFAULT_STOP_OVERHEAD_MS = 3;

const MIB = 1024 * 1024;

/** How many distinct pages the guest writes within t ms of a bitmap sync. */
export interface DirtyModel {
  /**
   * measured points [ms, distinct pages written within ms], ascending; between them linear,
   * beyond the last flat when the last two points are within their sampling error of each other
   * (a working set), else growing with the last slope; capped at the guest's pages
   */
  curve?: Array<[number, number]>;
  /** or: a constant rate (pages/s) ... */
  ratePagesPerSec?: number;
  /** ... up to a working set (pages); default: the whole guest */
  workingSetPages?: number;
}

export interface PrecopyInput {
  /** guest RAM size (sum of its RAMBlocks) */
  ramSizeBytes: number;
  /** the migration stream's page size (QEMU's target page size: 4096 on x86) */
  pageSizeBytes: number;
  /** resident pages with nonzero content (sent with payload) */
  dataPages: number;
  /** pages that read as zero: never touched, or resident and all zero (a header each) */
  zeroPages: number;
  /** pages the host swapped out (read back by QEMU: a swap-in each) */
  swappedPages: number;
  /** of the swapped pages, those holding zeros (zram same-filled pages); default 0 */
  swappedZeroPages?: number;
  dirty: DirtyModel;
  /** QEMU max-bandwidth, MiB/s */
  bandwidthMBps: number;
  /** default 300 */
  maxDowntimeMs?: number;
  /** default 30 */
  maxIterations?: number;
  /** cost of one swap-in on the source, µs; default 0 */
  swapInUs?: number;
  /** unthrottled stream speed during the stop, MiB/s */
  stopCopyMBps?: number;
  stopOverheadMs?: number;
}

export type NormalisedPrecopyInput = Required<Omit<PrecopyInput, 'dirty'>> & { dirty: DirtyModel };

export type PrecopyStopReason = 'downtime-reached' | 'max-iterations';

export interface PrecopyPass {
  /** pages sent with payload, as zero pages, bytes on the wire */
  normalPages: number;
  zeroPages: number;
  bytes: number;
  timeMs: number;
  /** pages the guest dirtied during the pass (sent by the next pass or the stop) */
  dirtiedPages: number;
}

export interface PrecopyRun {
  /** live passes before the stop (the guest keeps running during these) */
  iterations: number;
  passes: PrecopyPass[];
  /** pages and bytes sent with the guest stopped */
  stopCopyPages: number;
  stopCopyBytes: number;
  /** as query-migrate counts them: ram.normal, ram.duplicate, ram.transferred */
  normalPages: number;
  zeroPages: number;
  totalBytes: number;
  /** total-time and downtime, ms */
  totalTimeMs: number;
  downtimeMs: number;
  /** ram.dirty-sync-count: setup, one per pass, the stop */
  dirtySyncCount: number;
  /** QEMU's switch-over threshold, bytes of dirty pages */
  thresholdBytes: number;
  swapIns: number;
  swapInMs: number;
  converged: boolean;
  stopReason: PrecopyStopReason;
}

export interface PrecopyEstimate {
  input: NormalisedPrecopyInput;
  /** swapped pages sent like the others (plain QEMU; each is swapped in first) */
  withoutSkip: PrecopyRun;
  /** swapped pages left out of pre-copy */
  withSkip: PrecopyRun;
  /** payload not sent in pre-copy thanks to the skip (withoutSkip.totalBytes - withSkip.totalBytes) */
  savedBytes: number;
  savedTimeMs: number;
  /** swap-ins avoided on the source (one per swapped page) */
  swapInsAvoided: number;
}

function checkCount(field: string, value: number): void {
  if (!(Number.isSafeInteger(value) && value >= 0)) throw invalidField(field, value, 'an integer >= 0');
}

function checkPositive(field: string, value: number, unit: string): void {
  if (!(Number.isFinite(value) && value > 0)) throw invalidField(field, value, `a number > 0 (${unit})`);
}

/** Validates and fills defaults (throws VirtTierError naming the field). */
export function normalisePrecopyInput(input: PrecopyInput): NormalisedPrecopyInput {
  const pageSize = input.pageSizeBytes;
  if (!Number.isInteger(pageSize) || pageSize < 512 || (pageSize & (pageSize - 1)) !== 0) {
    throw invalidField('pageSizeBytes', pageSize, 'a power of two >= 512 (4096 on x86)');
  }
  checkCount('ramSizeBytes', input.ramSizeBytes);
  for (const k of ['dataPages', 'zeroPages', 'swappedPages'] as const) checkCount(k, input[k]);
  const swappedZeroPages = input.swappedZeroPages ?? 0;
  checkCount('swappedZeroPages', swappedZeroPages);
  if (swappedZeroPages > input.swappedPages) throw invalidField('swappedZeroPages', swappedZeroPages, `<= swappedPages (${input.swappedPages})`);
  const totalPages = Math.ceil(input.ramSizeBytes / pageSize);
  const counted = input.dataPages + input.zeroPages + input.swappedPages;
  if (counted > totalPages) throw invalidField('dataPages+zeroPages+swappedPages', counted, `<= ${totalPages} (ramSizeBytes / pageSizeBytes)`);
  checkPositive('bandwidthMBps', input.bandwidthMBps, 'MiB/s');
  const maxDowntimeMs = input.maxDowntimeMs ?? DEFAULT_MAX_DOWNTIME_MS;
  if (!(Number.isFinite(maxDowntimeMs) && maxDowntimeMs > 0 && maxDowntimeMs <= MAX_DOWNTIME_LIMIT_MS)) {
    throw invalidField('maxDowntimeMs', maxDowntimeMs, `a number in (0, ${MAX_DOWNTIME_LIMIT_MS}] (ms)`);
  }
  const maxIterations = input.maxIterations ?? DEFAULT_MAX_ITERATIONS;
  if (!Number.isInteger(maxIterations) || maxIterations < 1 || maxIterations > 100000) throw invalidField('maxIterations', maxIterations, '1..100000');
  const swapInUs = input.swapInUs ?? 0;
  if (!(Number.isFinite(swapInUs) && swapInUs >= 0)) throw invalidField('swapInUs', swapInUs, 'a number >= 0 (µs)');
  const stopCopyMBps = input.stopCopyMBps ?? DEFAULT_STOP_COPY_MBPS;
  checkPositive('stopCopyMBps', stopCopyMBps, 'MiB/s');
  const stopOverheadMs = input.stopOverheadMs ?? DEFAULT_STOP_OVERHEAD_MS;
  if (!(Number.isFinite(stopOverheadMs) && stopOverheadMs >= 0)) throw invalidField('stopOverheadMs', stopOverheadMs, 'a number >= 0 (ms)');
  const d = input.dirty;
  if (d.curve) {
    let lastMs = 0;
    for (const [ms, pages] of d.curve) {
      if (!(Number.isFinite(ms) && ms > lastMs) || !(Number.isFinite(pages) && pages >= 0)) throw invalidField('dirty.curve', `[${ms}, ${pages}]`, 'points [ms > previous, pages >= 0]');
      lastMs = ms;
    }
  } else {
    const rate = d.ratePagesPerSec ?? 0;
    if (!(Number.isFinite(rate) && rate >= 0)) throw invalidField('dirty.ratePagesPerSec', rate, 'a number >= 0');
    if (d.workingSetPages !== undefined) checkCount('dirty.workingSetPages', d.workingSetPages);
  }
  return { ...input, swappedZeroPages, maxDowntimeMs, maxIterations, swapInUs, stopCopyMBps, stopOverheadMs };
}

/** Distinct pages written within `ms` of a sync, by the dirty model, capped at `totalPages`. */
export function dirtiedWithin(d: DirtyModel, ms: number, totalPages: number): number {
  let pages: number;
  const c = d.curve;
  if (c && c.length > 0) {
    let prevMs = 0;
    let prevPages = 0;
    pages = NaN;
    for (const [pMs, pPages] of c) {
      if (ms <= pMs) {
        pages = prevPages + ((pPages - prevPages) * (ms - prevMs)) / (pMs - prevMs);
        break;
      }
      prevMs = pMs;
      prevPages = pPages;
    }
    if (Number.isNaN(pages)) {
      // past the last point: flat for a working set, else the last slope
      const [lastMs, lastPages] = c[c.length - 1]!;
      const [beforeMs, beforePages] = c.length > 1 ? c[c.length - 2]! : [0, 0];
      const slope = (lastPages - beforePages) / (lastMs - beforeMs);
      const settled = c.length > 1 && lastPages - beforePages <= 2 * Math.sqrt(Math.max(lastPages, 1));
      pages = settled ? lastPages : lastPages + slope * (ms - lastMs);
    }
  } else {
    pages = Math.min(((d.ratePagesPerSec ?? 0) * ms) / 1000, d.workingSetPages ?? Infinity);
  }
  return Math.min(Math.max(0, pages), totalPages);
}

export interface RunShape {
  pageSizeBytes: number;
  totalPages: number;
  /** pass 1: payload pages, zero pages, swap-ins */
  normalPages: number;
  zeroPages: number;
  swapIns: number;
}

/** One pre-copy run. */
export function simulatePrecopy(shape: RunShape, n: NormalisedPrecopyInput): PrecopyRun {
  const page = shape.pageSizeBytes;
  const bandwidthBytesPerMs = (n.bandwidthMBps * MIB) / 1000;
  const thresholdBytes = bandwidthBytesPerMs * n.maxDowntimeMs;
  const normalWire = page + PAGE_HEADER_BYTES;
  const swapInMs = (shape.swapIns * n.swapInUs) / 1000;
  const firstBytes = shape.normalPages * normalWire + shape.zeroPages * ZERO_PAGE_WIRE_BYTES;
  // The migration thread reads (and swaps in) pages between the rate limiter's waits: a pass takes
  // the longer of its wire time and its swap-in time.
  let timeMs = Math.max(firstBytes / bandwidthBytesPerMs, swapInMs);
  let dirtied = Math.round(dirtiedWithin(n.dirty, timeMs, shape.totalPages));
  const passes: PrecopyPass[] = [{ normalPages: shape.normalPages, zeroPages: shape.zeroPages, bytes: firstBytes, timeMs, dirtiedPages: dirtied }];
  let converged = true;
  let stopReason: PrecopyStopReason = 'downtime-reached';
  while (dirtied * page >= thresholdBytes) {
    if (passes.length >= n.maxIterations) {
      converged = false;
      stopReason = 'max-iterations';
      break;
    }
    const bytes = dirtied * normalWire;
    timeMs = bytes / bandwidthBytesPerMs;
    const sent = dirtied;
    dirtied = Math.round(dirtiedWithin(n.dirty, timeMs, shape.totalPages));
    passes.push({ normalPages: sent, zeroPages: 0, bytes, timeMs, dirtiedPages: dirtied });
  }
  const stopCopyBytes = dirtied * normalWire;
  const downtimeMs = n.stopOverheadMs + stopCopyBytes / ((n.stopCopyMBps * MIB) / 1000);
  let normalPages = dirtied;
  let zeroPages = 0;
  let totalBytes = stopCopyBytes;
  let totalTimeMs = downtimeMs;
  for (const p of passes) {
    normalPages += p.normalPages;
    zeroPages += p.zeroPages;
    totalBytes += p.bytes;
    totalTimeMs += p.timeMs;
  }
  return {
    iterations: passes.length,
    passes,
    stopCopyPages: dirtied,
    stopCopyBytes,
    normalPages,
    zeroPages,
    totalBytes,
    totalTimeMs,
    downtimeMs,
    dirtySyncCount: passes.length + 2,
    thresholdBytes,
    swapIns: shape.swapIns,
    swapInMs,
    converged,
    stopReason,
  };
}

/** The estimate with and without skipping swapped pages. */
export function estimatePrecopy(input: PrecopyInput): PrecopyEstimate {
  const n = normalisePrecopyInput(input);
  const totalPages = Math.ceil(n.ramSizeBytes / n.pageSizeBytes);
  // pages neither counted as data, zero nor swapped (a caller passing partial counts) read as zero
  const rest = totalPages - n.dataPages - n.zeroPages - n.swappedPages;
  const zero = n.zeroPages + rest;
  const withoutSkip = simulatePrecopy(
    { pageSizeBytes: n.pageSizeBytes, totalPages, normalPages: n.dataPages + n.swappedPages - n.swappedZeroPages, zeroPages: zero + n.swappedZeroPages, swapIns: n.swappedPages },
    n,
  );
  const withSkip = simulatePrecopy({ pageSizeBytes: n.pageSizeBytes, totalPages, normalPages: n.dataPages, zeroPages: zero, swapIns: 0 }, n);
  return {
    input: n,
    withoutSkip,
    withSkip,
    savedBytes: withoutSkip.totalBytes - withSkip.totalBytes,
    savedTimeMs: withoutSkip.totalTimeMs - withSkip.totalTimeMs,
    swapInsAvoided: n.swappedPages,
  };
}

/**
 * The lowest max-bandwidth (MiB/s, to 1%) at which pre-copy converges within
 * `maxIterations` passes and the downtime limit, or null when none up to
 * `ceilingMBps` does (a guest dirtying its whole RAM faster than any link).
 */
export function requiredBandwidthMBps(input: PrecopyInput, ceilingMBps = 1_000_000): number | null {
  const converges = (bw: number): boolean => {
    const r = estimatePrecopy({ ...input, bandwidthMBps: bw }).withoutSkip;
    return r.converged;
  };
  if (!converges(ceilingMBps)) return null;
  let lo = 0;
  let hi = ceilingMBps;
  while (hi - lo > Math.max(0.01 * hi, 0.01)) {
    const mid = (lo + hi) / 2;
    if (converges(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}
