/**
 * The pre-copy model's inputs measured on the running guest, read-only:
 *
 * - Zero pages within present memory: a uniform sample of present pages
 *   is read through /proc/PID/mem and tested for all zeros (what QEMU's
 *   `buffer_is_zero` decides per page in pass 1). Only pages the page table
 *   shows present are read: reading a swapped page would swap it in, and
 *   reading a never-touched one would map the zero page (or, on hugetlb,
 *   allocate a huge page). The estimate is N * z/n with the standard error
 *   of a sample without replacement, N * sqrt(p(1-p)/n * (N-n)/(N-1)).
 * - Dirtying: the same kind of sample read again at increasing delays;
 *   a page whose content changed between two reads was written. That
 *   gives "distinct pages written within t" for several t: the rate (early
 *   slope) and the writable working set (the plateau), which is what later
 *   passes send, not rate x time. Blind spots, stated: a write of the value
 *   already there is invisible here (QEMU's dirty log sees it), so is a
 *   page rewritten back to what it held at the previous read, and only
 *   pages present at the start are sampled.
 * - Zero pages among swapped pages: zram stores same-filled pages without
 *   data and counts them (`mm_stat` same_pages, Documentation/admin-guide/
 *   blockdev/zram.rst); the fraction over the active zram swap devices is
 *   applied to the guest's swapped pages. Other swap devices: unknown, 0.
 *
 * /proc/PID/mem is reached through `MemReader`, so tests can inject one.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { invalidField } from '../errors.js';
import type { PlatformIO } from '../platform/io.js';
import { parseSwaps } from '../platform/swap.js';
import { PAGE_STATE } from './page-stats.js';

const PAGE = 4096;

/** Reads guest memory of one process at virtual addresses. */
export interface MemReader {
  /** fills `buf` from `address`; returns the bytes read */
  read(buf: Buffer, address: number): number;
  close(): void;
}

/** /proc/PID/mem, opened read-only (root, or ptrace access to the process). */
export function procMemReader(pid: number): MemReader {
  const fd = openSync(`/proc/${pid}/mem`, 'r');
  return {
    read: (buf, address) => readSync(fd, buf, 0, buf.length, address),
    close: () => closeSync(fd),
  };
}

/** The present 4 KiB pages of a guest, as addresses, from its RAMBlocks' page states. */
export function presentPageAddresses(blocks: ReadonlyArray<{ start: number; states: Uint8Array }>): Float64Array {
  let n = 0;
  for (const b of blocks) for (let i = 0; i < b.states.length; i++) if (b.states[i] === PAGE_STATE.present) n++;
  const out = new Float64Array(n);
  let k = 0;
  for (const b of blocks) for (let i = 0; i < b.states.length; i++) if (b.states[i] === PAGE_STATE.present) out[k++] = b.start + i * PAGE;
  return out;
}

/** `count` of `population` indices, uniform without replacement, ascending (Floyd's algorithm). */
export function sampleIndices(population: number, count: number, random: () => number = Math.random): Uint32Array {
  if (count >= population) return Uint32Array.from({ length: population }, (_, i) => i);
  const chosen = new Set<number>();
  for (let j = population - count; j < population; j++) {
    const t = Math.floor(random() * (j + 1));
    chosen.add(chosen.has(t) ? j : t);
  }
  return Uint32Array.from(chosen).sort();
}

/** Checks a sample size against the guest: a request larger than the pages there is refused. */
export function checkSampleSize(field: string, samplePages: number, presentPages: number): void {
  if (!Number.isInteger(samplePages) || samplePages < 1) throw invalidField(field, samplePages, 'an integer >= 1 (pages)');
  if (samplePages > presentPages) throw invalidField(field, samplePages, `1..${presentPages} (the guest's present pages)`, 'sample larger than the guest');
}

/** The standard error of N * z/n for a sample of n of N without replacement. */
export function sampleErrorPages(population: number, sampled: number, hits: number): number {
  if (sampled === 0 || sampled >= population) return 0;
  const p = hits / sampled;
  return population * Math.sqrt(((p * (1 - p)) / sampled) * ((population - sampled) / Math.max(population - 1, 1)));
}

export interface ZeroSample {
  /** present pages the sample was drawn from */
  populationPages: number;
  sampledPages: number;
  zeroSampled: number;
  /** estimated zero pages among the present ones, and its standard error (pages) */
  zeroPages: number;
  standardErrorPages: number;
  elapsedMs: number;
  /** the sampled pages that read as zero, as indices into the present-page addresses */
  zeroIndices: Uint32Array;
}

const ZERO_PAGE = Buffer.alloc(PAGE);

/** Reads pages `addrs[idx[k]]` into `into` (page k at k * 4096), merging neighbours into one read. */
function readPages(reader: MemReader, addrs: Float64Array, idx: Uint32Array, into: Buffer): void {
  const maxRun = 64;
  for (let k = 0; k < idx.length; ) {
    let run = 1;
    while (run < maxRun && k + run < idx.length && addrs[idx[k + run]!] === addrs[idx[k]!]! + run * PAGE) run++;
    const view = into.subarray(k * PAGE, (k + run) * PAGE);
    const got = reader.read(view, addrs[idx[k]!]!);
    // a page unmapped since the scan reads short: leave it as zeros (it is a zero page to QEMU too)
    if (got < view.length) view.fill(0, Math.max(got, 0));
    k += run;
  }
}

/** Samples `samplePages` of the present pages (all of them when it is >= their number) for zeros. */
export function sampleZeroPages(reader: MemReader, present: Float64Array, samplePages: number, random: () => number = Math.random, now: () => number = performance.now.bind(performance)): ZeroSample {
  const t0 = now();
  const idx = sampleIndices(present.length, samplePages, random);
  let zero = 0;
  const zeroIndices = new Uint32Array(idx.length);
  const chunk = 1024; // pages per buffer: 4 MiB
  const buf = Buffer.allocUnsafe(chunk * PAGE);
  for (let off = 0; off < idx.length; off += chunk) {
    const part = idx.subarray(off, Math.min(idx.length, off + chunk));
    readPages(reader, present, part, buf);
    for (let k = 0; k < part.length; k++) if (buf.subarray(k * PAGE, (k + 1) * PAGE).equals(ZERO_PAGE)) zeroIndices[zero++] = part[k]!;
  }
  const n = idx.length;
  const population = present.length;
  return {
    populationPages: population,
    sampledPages: n,
    zeroSampled: zero,
    zeroPages: n === 0 ? 0 : Math.round((zero / n) * population),
    standardErrorPages: sampleErrorPages(population, n, zero),
    elapsedMs: now() - t0,
    zeroIndices: zeroIndices.slice(0, zero),
  };
}

export interface DirtyPoint {
  /** time since the first read, ms */
  ms: number;
  /** sampled pages whose content changed since the first read */
  changedSampled: number;
  /** estimated distinct pages written within `ms`, and its standard error */
  pages: number;
  standardErrorPages: number;
}

export interface DirtySample {
  populationPages: number;
  sampledPages: number;
  points: DirtyPoint[];
  /** distinct pages/s over the first interval */
  ratePagesPerSec: number;
  /** the plateau when the last two points agree within their error, else null (still growing) */
  workingSetPages: number | null;
}

/** Default probe delays, ms: spaced like the pass lengths of migrations at tens to hundreds of MiB/s. */
export const DEFAULT_DIRTY_PROBES_MS = [100, 250, 500, 1000, 2000];

/**
 * Reads a sample of present pages, then again at each delay of `probesMs`,
 * counting the pages whose content changed since the first read (between
 * any two consecutive reads: an A-B-A rewrite seen at B still counts).
 */
export async function sampleDirtyPages(
  reader: MemReader,
  present: Float64Array,
  samplePages: number,
  opts: { probesMs?: number[]; random?: () => number; now?: () => number; sleep?: (ms: number) => Promise<void> } = {},
): Promise<DirtySample> {
  const probes = opts.probesMs ?? DEFAULT_DIRTY_PROBES_MS;
  const now = opts.now ?? performance.now.bind(performance);
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const idx = sampleIndices(present.length, samplePages, opts.random);
  const n = idx.length;
  let previous = Buffer.allocUnsafe(n * PAGE);
  let current = Buffer.allocUnsafe(n * PAGE);
  // a page rewritten twice may hold its first content again: a page counts as written by a probe
  // when it changed between any two consecutive reads up to it
  const written = new Uint8Array(n);
  let changed = 0;
  const t0 = now();
  readPages(reader, present, idx, previous);
  // page k was read at about t0 + k/n of the read: the probes read in the same order, so each
  // page's interval is the probe's start minus t0
  const points: DirtyPoint[] = [];
  const population = present.length;
  for (const ms of probes) {
    const wait = t0 + ms - now();
    if (wait > 0) await sleep(wait);
    const start = now();
    readPages(reader, present, idx, current);
    for (let k = 0; k < n; k++) {
      if (written[k] === 0 && previous.compare(current, k * PAGE, (k + 1) * PAGE, k * PAGE, (k + 1) * PAGE) !== 0) {
        written[k] = 1;
        changed++;
      }
    }
    [previous, current] = [current, previous];
    points.push({ ms: start - t0, changedSampled: changed, pages: n === 0 ? 0 : Math.round((changed / n) * population), standardErrorPages: sampleErrorPages(population, n, changed) });
  }
  const p0 = points[0];
  const last = points[points.length - 1];
  const before = points[points.length - 2];
  let workingSetPages: number | null = null;
  if (last && before) {
    const err = Math.hypot(last.standardErrorPages, before.standardErrorPages);
    if (last.pages - before.pages <= 2 * err + 1) workingSetPages = last.pages;
  }
  return {
    populationPages: present.length,
    sampledPages: n,
    points,
    ratePagesPerSec: p0 ? (p0.pages * 1000) / p0.ms : 0,
    workingSetPages,
  };
}

export interface ZramZeroShare {
  /** same-filled pages / stored pages over the active zram swap devices */
  fraction: number;
  devices: string[];
  storedPages: number;
  sameFilledPages: number;
}

/** The share of same-filled (zero) pages on the active zram swap devices; undefined when none holds pages. */
export async function zramZeroShare(io: PlatformIO): Promise<ZramZeroShare | undefined> {
  if (!(await io.exists('/proc/swaps'))) return undefined;
  let stored = 0;
  let same = 0;
  const devices: string[] = [];
  for (const d of parseSwaps(await io.readText('/proc/swaps'))) {
    const m = /^\/dev\/(zram\d+)$/.exec(d.filename);
    if (!m || d.usedBytes === 0) continue;
    // mm_stat: orig_data_size compr_data_size mem_used_total mem_limit mem_used_max same_pages ...
    const f = (await io.readText(`/sys/block/${m[1]}/mm_stat`)).trim().split(/\s+/).map(Number);
    if (f.length < 6 || !f.every(Number.isFinite)) continue;
    stored += f[0]! / PAGE;
    same += f[5]!;
    devices.push(d.filename);
  }
  if (stored === 0) return undefined;
  return { fraction: Math.min(1, same / stored), devices, storedPages: stored, sameFilledPages: same };
}
