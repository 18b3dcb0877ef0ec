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
 *   counts every still-dirty page, and QEMU asks it whenever
 *   `ram_save_iterate` returns, not at the end of a pass. So the final
 *   pass's tail -- what is unsent at the first such check where it and
 *   the pages dirtied meanwhile are below the threshold -- crosses with the
 *   guest stopped at stream speed, not at the limit (`tail` in the run;
 *   issue 12, docs/benchmarks.md Runs 3 and 4). Where the checks fall:
 *   on 4 KiB host pages `ram_save_iterate` returns when the window's quota
 *   (bandwidth x 100 ms) is used, so at every multiple of the quota in the
 *   stream's bytes (from the migration's start); inside a hugetlb RAMBlock
 *   the limiter sleeps in the middle of the host page (`ram_save_host_page`
 *   calls `migration_rate_limit`) and `ram_save_iterate` only returns when
 *   its clock check, once per 64 host pages, finds MAX_WAIT passed: every
 *   64 host pages (128 MiB of 2 MiB pages) -- for guests below a few GiB
 *   the tail of a hugetlb RAMBlock is empty. When no check switches over,
 *   the pass ends inside a window, whose bytes go at stream speed (the
 *   quota is not reached: no sleep), and the check at its end does.
 *   What the tail holds is a measured input (`walk`: the page states in
 *   QEMU's walk order with the zero-page sample and the hugetlb blocks);
 *   without it, one 4 KiB block with the pass's average mix. Only the
 *   final pass (the pass loop decides which) is searched, and one sync is
 *   counted for its switch-over where QEMU may sync more than once.
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
  /** the RAMBlocks on huge pages, as walk positions (pages) and their host page (pages) */
  hugetlb?: HugeRegion[];
}

export interface HugeRegion {
  startPage: number;
  pages: number;
  hostPagePages: number;
}

/** QEMU's rate-limiter window, ms (migration/migration.c BUFFER_DELAY): the stream's quota is bandwidth x this. */
export const RATE_LIMIT_WINDOW_MS = 100;
/** ram_save_iterate looks at the clock once per 64 host pages it sends (and returns after MAX_WAIT, 50 ms). */
export const HOST_PAGES_PER_CLOCK_CHECK = 64;

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
  /** when no check switched over earlier: the final pass's last window, sent live at stream speed */
  liveUnthrottledBytes: number;
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
  for (const r of w.hugetlb ?? []) {
    if (![r.startPage, r.pages, r.hostPagePages].every((x) => Number.isSafeInteger(x) && x >= 0) || r.hostPagePages < 1 || r.startPage + r.pages > totalPages) {
      throw invalidField('walk.hugetlb', `${r.startPage}+${r.pages}/${r.hostPagePages}`, `integer regions within ${totalPages} pages, host pages >= 1`);
    }
  }
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
  /** pass 1's hugetlb RAMBlocks (walk positions of this shape's pages) */
  hugetlb?: HugeRegion[];
}

interface TailCut {
  normalPages: number;
  zeroPages: number;
  swapIns: number;
}

export interface FinalPassCut {
  /** pages left for the stop */
  tail: TailCut;
  /** the pass's live bytes at the limit, then those of its last window at stream speed */
  throttledBytes: number;
  unthrottledBytes: number;
  liveMs: number;
}

/**
 * Where QEMU switches over within the final pass (see the file comment):
 * the first check at which the pages still unsent and those dirtied so far
 * are below the threshold; else the end of the pass.
 */
export function finalPassTail(
  chunks: PassChunks,
  o: {
    pageSizeBytes: number; thresholdPages: number; bandwidthBytesPerMs: number; stopCopyBytesPerMs: number; swapInUs: number; dirty: DirtyModel; totalPages: number;
    /** bytes the earlier passes sent (the quota windows run on across passes) */
    priorBytes: number;
    /** where checks are sparse: pass 1's hugetlb RAMBlocks (walk positions) */
    hugetlb?: HugeRegion[];
    /** a later pass of a guest with hugetlb RAM: its dirty pages sit in huge pages, checked only at its end */
    checksOnlyAtEnd?: boolean;
  },
): FinalPassCut {
  const normalWire = o.pageSizeBytes + PAGE_HEADER_BYTES;
  const m = chunks.normal.length;
  // cumulative from the start of the walk: index i = the first i chunks
  const cb = new Float64Array(m + 1);
  const cp = new Float64Array(m + 1);
  const cn = new Float64Array(m + 1);
  const cs = new Float64Array(m + 1);
  for (let k = 0; k < m; k++) {
    const n = chunks.normal[k]!;
    const z = chunks.zero[k]!;
    cn[k + 1] = cn[k]! + n;
    cs[k + 1] = cs[k]! + chunks.swapIns[k]!;
    cp[k + 1] = cp[k]! + n + z;
    cb[k + 1] = cb[k]! + n * normalWire + z * ZERO_PAGE_WIRE_BYTES;
  }
  const passBytes = cb[m]!;
  const passPages = cp[m]!;
  // the first `value` of `key` (bytes or pages) of the pass: what it holds, interpolated within a chunk
  const at = (key: Float64Array, value: number): { bytes: number; pages: number; normal: number; swapIns: number } => {
    let lo = 0;
    let hi = m;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (key[mid]! <= value) lo = mid;
      else hi = mid - 1;
    }
    const span = lo < m ? key[lo + 1]! - key[lo]! : 0;
    const f = span > 0 ? Math.min(1, (value - key[lo]!) / span) : 0;
    const lerp = (c: Float64Array): number => (lo < m ? c[lo]! + f * (c[lo + 1]! - c[lo]!) : c[m]!);
    return { bytes: lerp(cb), pages: lerp(cp), normal: lerp(cn), swapIns: lerp(cs) };
  };
  const windowBytes = o.bandwidthBytesPerMs * RATE_LIMIT_WINDOW_MS;
  const phase = o.priorBytes % windowBytes;
  const throttledMs = (bytes: number, swapIns: number): number => Math.max(bytes / o.bandwidthBytesPerMs, (swapIns * o.swapInUs) / 1000);
  const insideHuge = (page: number): boolean => (o.hugetlb ?? []).some((r) => page > r.startPage + 1e-9 && page < r.startPage + r.pages - 1e-9);
  // the checks that can switch over: unsent below the threshold, in the stream's order
  const firstPage = Math.max(0, passPages - o.thresholdPages);
  const checks: Array<{ bytes: number; page: number }> = [];
  if (!o.checksOnlyAtEnd) {
    const from = at(cp, firstPage).bytes;
    for (let j = Math.max(1, Math.floor((from + phase) / windowBytes)); j * windowBytes - phase < passBytes; j++) {
      const bytes = j * windowBytes - phase;
      if (bytes <= 0) continue;
      const page = at(cb, bytes).pages;
      if (page >= firstPage && !insideHuge(page)) checks.push({ bytes, page });
    }
    for (const r of o.hugetlb ?? []) {
      const step = HOST_PAGES_PER_CLOCK_CHECK * r.hostPagePages;
      for (let page = r.startPage + step; page < r.startPage + r.pages; page += step) {
        if (page >= firstPage && page < passPages) checks.push({ bytes: at(cp, page).bytes, page });
      }
    }
    checks.sort((x, y) => x.bytes - y.bytes);
  }
  for (const c of checks) {
    const sent = at(cp, c.page);
    const liveMs = throttledMs(c.bytes, sent.swapIns);
    const unsent = passPages - c.page;
    if (unsent + dirtiedWithin(o.dirty, liveMs, o.totalPages) < o.thresholdPages) {
      const pages = Math.round(unsent);
      const normalPages = Math.min(pages, Math.round(cn[m]! - sent.normal));
      return { tail: { normalPages, zeroPages: pages - normalPages, swapIns: Math.min(pages, Math.round(cs[m]! - sent.swapIns)) }, throttledBytes: c.bytes, unthrottledBytes: 0, liveMs };
    }
  }
  // the end of the pass: its last window's bytes go without a wait
  const lastWindow = Math.max(0, Math.floor((passBytes + phase) / windowBytes) * windowBytes - phase);
  const throttledBytes = Math.min(passBytes, lastWindow);
  const before = at(cb, throttledBytes);
  const liveMs = throttledMs(throttledBytes, before.swapIns) + (passBytes - throttledBytes) / o.stopCopyBytesPerMs + ((cs[m]! - before.swapIns) * o.swapInUs) / 1000;
  return { tail: { normalPages: 0, zeroPages: 0, swapIns: 0 }, throttledBytes, unthrottledBytes: passBytes - throttledBytes, liveMs };
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
  const tail: PrecopyTail = { pass: last, normalPages: 0, zeroPages: 0, swapIns: 0, bytes: 0, timeMs: 0, liveUnthrottledBytes: 0 };
  // a forced stop (no convergence) is taken at the end of its pass: no tail
  if (converged) {
    const p = passes[last]!;
    const chunks: PassChunks =
      last === 0 ? (shape.walk ?? { normal: [shape.normalPages], zero: [shape.zeroPages], swapIns: [shape.swapIns] }) : { normal: [p.normalPages], zero: [0], swapIns: [0] };
    const priorBytes = passes.slice(0, last).reduce((sum, q) => sum + q.bytes, 0);
    const cut = finalPassTail(chunks, {
      pageSizeBytes: page, thresholdPages: thresholdBytes / page, bandwidthBytesPerMs, stopCopyBytesPerMs, swapInUs: last === 0 ? n.swapInUs : 0, dirty: n.dirty, totalPages: shape.totalPages,
      priorBytes, hugetlb: last === 0 ? shape.hugetlb : undefined, checksOnlyAtEnd: last > 0 && (shape.hugetlb?.length ?? 0) > 0,
    });
    // the walk's mix may round differently from the pass's counts: never cut more than the pass holds
    tail.normalPages = Math.min(cut.tail.normalPages, p.normalPages);
    tail.zeroPages = Math.min(cut.tail.zeroPages, p.zeroPages);
    tail.swapIns = last === 0 ? Math.min(cut.tail.swapIns, shape.swapIns) : 0;
    tail.bytes = tail.normalPages * normalWire + tail.zeroPages * ZERO_PAGE_WIRE_BYTES;
    tail.timeMs = (tail.swapIns * n.swapInUs) / 1000 + tail.bytes / stopCopyBytesPerMs;
    tail.liveUnthrottledBytes = cut.unthrottledBytes;
    p.normalPages -= tail.normalPages;
    p.zeroPages -= tail.zeroPages;
    p.bytes -= tail.bytes;
    p.timeMs = cut.liveMs;
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
      hugetlb: w?.hugetlb,
    },
    n,
  );
  // skipped pages are not in QEMU's dirty bitmap: the walk (and its tail) holds only the others
  const withSkip = simulatePrecopy(
    // hugetlb regions keep their positions only approximately here (swapped pages before them are not walked)
    { pageSizeBytes: n.pageSizeBytes, totalPages, normalPages: n.dataPages, zeroPages: zero, swapIns: 0, walk: w && { normal: w.dataPages, zero: w.zeroPages, swapIns: w.swappedPages.map(() => 0) }, hugetlb: w?.hugetlb },
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
