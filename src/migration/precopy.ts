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
 * - "The rest" includes the unsent end of the pass itself: `ram_save_pending`
 *   counts every still-dirty page, and QEMU checks it once per rate-limiter
 *   window (before `qemu_savevm_state_iterate`), not at the end of a pass.
 *   So the final pass's tail -- the largest end of it that, with the pages
 *   dirtied meanwhile, stays below the threshold -- crosses with the
 *   guest stopped at stream speed, not at the limit (`tail` in the run;
 *   issue 12, docs/benchmarks.md Run 3). What the tail holds is a measured
 *   input (`walk`: the page states in QEMU's walk order with the zero-page
 *   sample): for a guest whose data sits at the end of its RAM the tail is
 *   most of a threshold of payload, for an idle one zero pages (9 bytes
 *   each, no difference). Without `walk` the tail has the pass's average
 *   mix. Not modelled: QEMU checks once per 100 ms rate-limiter window
 *   (and less often inside hugetlb host pages), so the real tail is up to
 *   a window shorter; only the final pass (the pass loop decides which) is
 *   searched, and one sync is counted for its switch-over where QEMU may
 *   sync more than once.
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

/**
 * Pass 1's pages in QEMU's walk order, in chunks of `chunkPages` (the last
 * chunk may hold fewer): per chunk how many pages hold data, read as zero,
 * or are swapped out. QEMU walks its RAMBlocks largest first
 * (softmmu/physmem.c ram_block_add keeps the list sorted by size), each
 * from its first page.
 */
export interface WalkProfile {
  chunkPages: number;
  dataPages: number[];
  zeroPages: number[];
  swappedPages: number[];
}

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
  /** where data, zero and swapped pages sit in pass 1's walk; absent: spread evenly */
  walk?: WalkProfile;
}

export type NormalisedPrecopyInput = Required<Omit<PrecopyInput, 'dirty' | 'walk'>> & { dirty: DirtyModel; walk?: WalkProfile };

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

/** The end of the final pass, left unsent when QEMU switches over and sent with the guest stopped. */
export interface PrecopyTail {
  /** which pass (0-based) it ends */
  pass: number;
  normalPages: number;
  zeroPages: number;
  swapIns: number;
  bytes: number;
  /** its time in the downtime: swap-ins, then the bytes at stop-copy speed */
  timeMs: number;
}

export interface PrecopyRun {
  /** live passes before the stop (the guest keeps running during these) */
  iterations: number;
  /** what each pass sends while the guest runs (the final one without its tail) */
  passes: PrecopyPass[];
  tail: PrecopyTail;
  /** the pages dirtied during the final pass, sent again with the guest stopped (beside the tail) */
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
  if (input.walk) checkWalk(input.walk, totalPages);
  return { ...input, swappedZeroPages, maxDowntimeMs, maxIterations, swapInUs, stopCopyMBps, stopOverheadMs };
}

function checkWalk(w: WalkProfile, totalPages: number): void {
  if (!Number.isInteger(w.chunkPages) || w.chunkPages < 1) throw invalidField('walk.chunkPages', w.chunkPages, 'an integer >= 1');
  const n = w.dataPages.length;
  if (w.zeroPages.length !== n || w.swappedPages.length !== n) throw invalidField('walk', `${n}/${w.zeroPages.length}/${w.swappedPages.length} chunks`, 'as many zero and swapped counts as data counts');
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const c = [w.dataPages[i]!, w.zeroPages[i]!, w.swappedPages[i]!];
    if (!c.every((x) => Number.isSafeInteger(x) && x >= 0) || c[0]! + c[1]! + c[2]! > w.chunkPages) {
      throw invalidField(`walk chunk ${i}`, c.join('+'), `integers >= 0 summing to <= ${w.chunkPages}`);
    }
    sum += c[0]! + c[1]! + c[2]!;
  }
  if (sum !== totalPages) throw invalidField('walk', sum, `pages summing to ${totalPages} (ramSizeBytes / pageSizeBytes)`);
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

/** A pass's pages in walk order, chunked: payload pages, zero pages and swap-ins per chunk (fractions allowed). */
export interface PassChunks {
  normal: number[];
  zero: number[];
  swapIns: number[];
}

export interface RunShape {
  pageSizeBytes: number;
  totalPages: number;
  /** pass 1: payload pages, zero pages, swap-ins */
  normalPages: number;
  zeroPages: number;
  swapIns: number;
  /** pass 1 in walk order (sums as above); absent: one chunk */
  walk?: PassChunks;
}

interface TailCut {
  normalPages: number;
  zeroPages: number;
  swapIns: number;
}

/**
 * Where QEMU switches over within the final pass (see the file comment):
 * the largest end of the pass that, with the pages dirtied while the rest
 * of the pass went live, numbers below the threshold.
 */
export function finalPassTail(
  chunks: PassChunks,
  o: { pageSizeBytes: number; thresholdPages: number; bandwidthBytesPerMs: number; swapInUs: number; dirty: DirtyModel; totalPages: number },
): TailCut {
  const normalWire = o.pageSizeBytes + PAGE_HEADER_BYTES;
  const m = chunks.normal.length;
  // cumulative from the end of the walk: index i = the last i chunks
  const cb = new Float64Array(m + 1);
  const cp = new Float64Array(m + 1);
  const cn = new Float64Array(m + 1);
  const cz = new Float64Array(m + 1);
  const cs = new Float64Array(m + 1);
  for (let i = 0; i < m; i++) {
    const k = m - 1 - i;
    const n = chunks.normal[k]!;
    const z = chunks.zero[k]!;
    cn[i + 1] = cn[i]! + n;
    cz[i + 1] = cz[i]! + z;
    cs[i + 1] = cs[i]! + chunks.swapIns[k]!;
    cp[i + 1] = cp[i]! + n + z;
    cb[i + 1] = cb[i]! + n * normalWire + z * ZERO_PAGE_WIRE_BYTES;
  }
  // the last `pages` pages of the pass, interpolated within a chunk
  const tailOf = (pages: number): TailCut & { bytes: number } => {
    let lo = 0;
    let hi = m;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (cp[mid]! <= pages) lo = mid;
      else hi = mid - 1;
    }
    const span = lo < m ? cp[lo + 1]! - cp[lo]! : 0;
    const f = span > 0 ? Math.min(1, (pages - cp[lo]!) / span) : 0;
    const lerp = (c: Float64Array): number => (lo < m ? c[lo]! + f * (c[lo + 1]! - c[lo]!) : c[m]!);
    return { bytes: lerp(cb), normalPages: lerp(cn), zeroPages: lerp(cz), swapIns: lerp(cs) };
  };
  const fits = (pages: number): boolean => {
    const t = tailOf(pages);
    const liveMs = Math.max((cb[m]! - t.bytes) / o.bandwidthBytesPerMs, ((cs[m]! - t.swapIns) * o.swapInUs) / 1000);
    return pages + dirtiedWithin(o.dirty, liveMs, o.totalPages) < o.thresholdPages;
  };
  // the tail shrinks as the pages dirtied meanwhile grow: bisect for the largest that fits
  let lo = 0; // fits: the final pass's own dirtying is below the threshold
  let hi = Math.min(Math.floor(cp[m]! + 1e-9), Math.ceil(o.thresholdPages) - 1);
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid - 1;
  }
  const pages = lo;
  const t = tailOf(pages);
  const normalPages = Math.min(pages, Math.round(t.normalPages));
  return { normalPages, zeroPages: pages - normalPages, swapIns: Math.min(pages, Math.round(t.swapIns)) };
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
  const stopCopyBytesPerMs = (n.stopCopyMBps * MIB) / 1000;
  const last = passes.length - 1;
  const tail: PrecopyTail = { pass: last, normalPages: 0, zeroPages: 0, swapIns: 0, bytes: 0, timeMs: 0 };
  // a forced stop (no convergence) is taken at the end of its pass: no tail
  if (converged) {
    const p = passes[last]!;
    const chunks: PassChunks =
      last === 0 ? (shape.walk ?? { normal: [shape.normalPages], zero: [shape.zeroPages], swapIns: [shape.swapIns] }) : { normal: [p.normalPages], zero: [0], swapIns: [0] };
    const cut = finalPassTail(chunks, { pageSizeBytes: page, thresholdPages: thresholdBytes / page, bandwidthBytesPerMs, swapInUs: n.swapInUs, dirty: n.dirty, totalPages: shape.totalPages });
    // the walk's mix may round differently from the pass's counts: never cut more than the pass holds
    tail.normalPages = Math.min(cut.normalPages, p.normalPages);
    tail.zeroPages = Math.min(cut.zeroPages, p.zeroPages);
    tail.swapIns = last === 0 ? Math.min(cut.swapIns, shape.swapIns) : 0;
    tail.bytes = tail.normalPages * normalWire + tail.zeroPages * ZERO_PAGE_WIRE_BYTES;
    tail.timeMs = (tail.swapIns * n.swapInUs) / 1000 + tail.bytes / stopCopyBytesPerMs;
    p.normalPages -= tail.normalPages;
    p.zeroPages -= tail.zeroPages;
    p.bytes -= tail.bytes;
    p.timeMs = Math.max(p.bytes / bandwidthBytesPerMs, last === 0 ? ((shape.swapIns - tail.swapIns) * n.swapInUs) / 1000 : 0);
    // what the final sync finds: the pages written while the pass went live
    dirtied = Math.round(dirtiedWithin(n.dirty, p.timeMs, shape.totalPages));
    p.dirtiedPages = dirtied;
  }
  const stopCopyBytes = dirtied * normalWire;
  const downtimeMs = n.stopOverheadMs + tail.timeMs + stopCopyBytes / stopCopyBytesPerMs;
  let normalPages = dirtied + tail.normalPages;
  let zeroPages = tail.zeroPages;
  let totalBytes = stopCopyBytes + tail.bytes;
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
    tail,
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
  const w = n.walk;
  // zram's same-filled share of the swapped pages, spread evenly over them
  const swappedZeroShare = n.swappedPages > 0 ? n.swappedZeroPages / n.swappedPages : 0;
  const withoutSkip = simulatePrecopy(
    {
      pageSizeBytes: n.pageSizeBytes, totalPages, normalPages: n.dataPages + n.swappedPages - n.swappedZeroPages, zeroPages: zero + n.swappedZeroPages, swapIns: n.swappedPages,
      walk: w && {
        normal: w.dataPages.map((d, i) => d + w.swappedPages[i]! * (1 - swappedZeroShare)),
        zero: w.zeroPages.map((z, i) => z + w.swappedPages[i]! * swappedZeroShare),
        swapIns: w.swappedPages,
      },
    },
    n,
  );
  // skipped pages are not in QEMU's dirty bitmap: the walk (and its tail) holds only the others
  const withSkip = simulatePrecopy(
    { pageSizeBytes: n.pageSizeBytes, totalPages, normalPages: n.dataPages, zeroPages: zero, swapIns: 0, walk: w && { normal: w.dataPages, zero: w.zeroPages, swapIns: w.swappedPages.map(() => 0) } },
    n,
  );
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
