/**
 * The DAMON vaddr tracker: DAMON (mm/damon/) samples the target's pages in
 * the kernel, through the sysfs interface (./damon-sysfs.ts).
 *
 * One cycle = one DAMON aggregation window. DAMON samples every `sampleMs`
 * (default: the project's interval, so one DAMON sample is one etmem scan)
 * and counts, per region, in how many samples the region was seen accessed
 * (`nr_accesses`); a `stat` scheme with a pattern that matches everything
 * lets `update_schemes_tried_regions` report every region's count at the
 * end of the window. Counts are normalised to the cycle's `loop` scans.
 *
 * Regions are fixed, one per 2 MiB of the selected VMAs, aligned to 2 MiB
 * (one per hugepage in hugetlb VMAs, which are hugepage aligned; one per
 * gigantic page in 1 GiB VMAs), and DAMON is kept from changing them:
 * - min_nr_regions = max_nr_regions = the number of regions: DAMON splits
 *   only while nr_regions <= max/2 (kdamond_split_regions), so never;
 * - merging is capped at total size / min_nr_regions (damon_region_sz_limit),
 *   i.e. at one 2 MiB region, so two hugepages are never merged, whatever
 *   their temperature;
 * - the vaddr ops update, which would reset regions to three ranges spanning
 *   the address space (damon_va_update), is scheduled beyond the window.
 * A region then covers exactly one hugepage and DAMON's one-random-address
 * sample per region is that hugepage's own accessed bit: exact counts, no
 * adaptive-region error. For 4 KiB VMAs a region is 512 pages and its
 * count is DAMON's usual sampled estimate for them.
 *
 * The kdamond runs only during the cycle (on, wait, collect, off): no cost
 * between cycles, and windows line up with cycles. The context is written
 * once and again only when the VMAs (and so the regions) change.
 *
 * DAMON clears accessed bits without a TLB flush: a page that stays in the
 * TLB of a CPU that never switches address space reads as idle
 * (platform-facts.md, "The TLB caveat").
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { AccessMap, AccessMapVma } from './access-map.js';
import { AccessRanges } from './access-ranges.js';
import { CycleGate, type ScanCycleOptions, type ScanTarget, type Tracker, type TrackerEntry, type TrackerProbe } from './tracker.js';
import { filterVmas, parseSmapsVmas } from './proc-vmas.js';
import { liveIO, type PlatformIO } from '../platform/io.js';
import { SysError, isErrno } from '../native/errors.js';
import { liveKernel, type KernelOps } from '../native/kernel.js';
import { probeDamon } from '../platform/damon-probe.js';
import { abortError, invalidField, isAbortError, isProcessGone, processGone } from '../errors.js';
import {
  readTriedRegions,
  updateTriedRegions,
  writeContext,
  type DamonRegion,
  type TriedRegion,
} from './damon-sysfs.js';
import { ContextKeys, kdamondsFor, probeDamonVaddr, type DamonKdamonds } from './damon-contexts.js';

export const DAMON_REGION_BYTES = 2 * 1024 * 1024;
/** How often a waiting cycle checks that its target still exists. */
const LIVENESS_SLICE_MS = 250;

/** A VMA with the page size smaps reports for it. */
export interface SizedVma extends AccessMapVma {
  pageSizeBytes: number;
}

/** One fixed DAMON region: a whole number of pages of one VMA. */
export interface TrackedRegion extends DamonRegion {
  pageSizeBytes: number;
}

export interface DamonVaddrOptions {
  io?: PlatformIO;
  /** DAMON sampling interval; default the cycle's intervalMs */
  sampleMs?: number;
  /** page -> node lookup; default kernel.queryPageNodes (move_pages(2) with a NULL node list) */
  pageNodes?: (pid: number, addrs: Float64Array) => Promise<Int32Array>;
  /** default liveKernel */
  kernel?: KernelOps;
  /** the daemon's one owner of kdamonds (default: the one for `io`) */
  kdamonds?: DamonKdamonds;
}

/** smaps with each VMA's KernelPageSize (the field parseSmapsVmas leaves out). */
export function parseSmapsSized(text: string): SizedVma[] {
  const vmas = parseSmapsVmas(text);
  const sizes: number[] = [];
  for (const line of text.split('\n')) {
    const m = /^KernelPageSize:\s+(\d+) kB/.exec(line);
    if (m) sizes.push(Number(m[1]) * 1024);
  }
  return vmas.map((v, i) => ({ ...v, pageSizeBytes: sizes[i] ?? 4096 }));
}

/** Fixed regions: 2 MiB-aligned pieces of each VMA (a whole page when pages are larger). */
export function regionsForVmas(vmas: readonly SizedVma[]): TrackedRegion[] {
  const out: TrackedRegion[] = [];
  for (const vma of vmas) {
    const step = Math.max(DAMON_REGION_BYTES, vma.pageSizeBytes);
    for (let at = vma.start; at < vma.end; ) {
      const next = Math.min(vma.end, (Math.floor(at / step) + 1) * step);
      out.push({ start: at, end: next, pageSizeBytes: vma.pageSizeBytes });
      at = next;
    }
  }
  return out;
}

/** DAMON samples in a window of `loop` scans `intervalMs` apart when sampling every `sampleMs`. */
export function samplesPerWindow(loop: number, intervalMs: number, sampleMs: number): number {
  return Math.max(1, Math.round((loop * intervalMs) / sampleMs));
}

/** nr_accesses (0..samples) scaled to 0..loop. */
export function normaliseCount(nrAccesses: number, samples: number, loop: number): number {
  return Math.min(loop, Math.max(0, Math.round((nrAccesses * loop) / samples)));
}

/**
 * Each tracked region's nr_accesses: from the tried region that starts at
 * or before it, nearest (DAMON keeps our regions as written, so that is the
 * same region; if it ever merged or split them, the containing one).
 * Regions before the first tried one count 0.
 */
export function countsByRegion(regions: readonly TrackedRegion[], tried: readonly TriedRegion[]): number[] {
  const counts: number[] = [];
  let j = -1;
  for (const r of regions) {
    while (j + 1 < tried.length && tried[j + 1]!.start <= r.start) j++;
    counts.push(j >= 0 ? tried[j]!.nrAccesses : 0);
  }
  return counts;
}

/** Per-page ranges (merged where count, node and presence agree) from region counts and move_pages statuses. */
export function buildRanges(regions: readonly TrackedRegion[], counts: readonly number[], statusByPage: Int32Array): AccessRanges {
  const ranges = new AccessRanges();
  let page = 0;
  regions.forEach((r, i) => {
    for (let addr = r.start; addr < r.end; addr += r.pageSizeBytes, page++) {
      const status = statusByPage[page] ?? -1;
      const present = status >= 0;
      const node = present ? status : -1;
      ranges.appendPage(addr, r.pageSizeBytes, counts[i] ?? 0, node, present, false);
    }
  });
  return ranges;
}

function cycleAborted(): Error {
  return abortError('scan cycle aborted');
}

function gone(pid: number): SysError {
  return processGone(pid, { syscall: 'damon' });
}

export class DamonVaddrTracker implements Tracker {
  readonly name = 'damon-vaddr';
  private readonly io: PlatformIO;
  private readonly sampleMs?: number;
  private readonly pageNodes: (pid: number, addrs: Float64Array) => Promise<Int32Array>;
  private readonly kdamonds: DamonKdamonds;
  private slot: number | undefined;
  private readonly gate = new CycleGate('damon-vaddr');
  private readonly contextKeys = new ContextKeys();

  constructor(opts: DamonVaddrOptions = {}) {
    this.io = opts.io ?? liveIO;
    this.kdamonds = opts.kdamonds ?? kdamondsFor(this.io);
    if (opts.sampleMs !== undefined && !(opts.sampleMs > 0)) throw invalidField('damon.sampleMs', opts.sampleMs, '> 0');
    this.sampleMs = opts.sampleMs;
    const kernel = opts.kernel ?? liveKernel;
    this.pageNodes = opts.pageNodes ?? ((pid, addrs) => kernel.queryPageNodes(pid, addrs));
  }

  /** The kdamond slot this tracker holds, if any (for tests and stats). */
  get kdamondSlot(): number | undefined {
    return this.slot;
  }

  scanCycle(target: ScanTarget, opts: ScanCycleOptions): Promise<AccessMap> {
    return this.gate.run(opts, () => this.cycle(target, opts));
  }

  private async readProc(pid: number, file: string): Promise<string> {
    try {
      return await this.io.readText(`/proc/${pid}/${file}`);
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ESRCH')) throw gone(pid);
      throw err;
    }
  }

  private async cycle(target: ScanTarget, opts: ScanCycleOptions): Promise<AccessMap> {
    const { pid } = target;
    const { loop, intervalMs, signal } = opts;
    if (signal?.aborted) throw cycleAborted();
    // starttime (field 22) tells a pid that was reused during the cycle from ours.
    const startTime = (await this.readProc(pid, 'stat')).split(') ')[1]?.split(' ')[19];
    const sized = filterVmas(parseSmapsSized(await this.readProc(pid, 'smaps')), target.filter) as SizedVma[];
    const vmas: AccessMapVma[] = sized.map(({ start, end, vmFlags, pathname }) => ({ start, end, vmFlags, pathname }));
    const regions = regionsForVmas(sized);
    const map: AccessMap = { pid, loop, tracker: this.name, timeMs: Date.now(), vmas, ranges: new AccessRanges(0) };
    if (regions.length === 0) return map;

    const sampleMs = this.sampleMs ?? intervalMs;
    const samples = samplesPerWindow(loop, intervalMs, sampleMs);
    const sampleUs = Math.max(1, Math.round(sampleMs * 1000));
    const aggrUs = sampleUs * samples;
    const nrRegions = Math.max(3, regions.length); // damon_set_attrs() refuses min_nr_regions < 3

    if (this.slot === undefined) this.slot = await this.kdamonds.acquire();
    const slot = this.slot;
    // The context is rewritten only when it changed (or a pool resize wiped it: the owner tracks that).
    const key = this.contextKeys.of(`${pid}/${sampleUs}/${aggrUs}`, regions);
    const write = (): Promise<void> => writeContext(this.kdamonds.sysfs, slot, {
      pid, sampleUs, aggrUs,
      updateUs: aggrUs * 4 + 60_000_000,
      minNrRegions: nrRegions, maxNrRegions: nrRegions,
      regions,
    });

    let tried: TriedRegion[];
    try {
      await this.kdamonds.start(slot, key, write);
      // The tried-regions command is taken by the kdamond at its next sample
      // and reports the regions at the next scheme application, the end of
      // this window: ask shortly before that, so the blocking write holds a
      // threadpool thread for about one sample, not the whole window.
      const waitMs = Math.max(0, aggrUs / 1000 - 1.5 * sampleMs);
      // Sliced, so a target that exits ends the cycle within a slice, not a window.
      for (const until = Date.now() + waitMs; Date.now() < until; ) {
        await sleep(Math.min(LIVENESS_SLICE_MS, until - Date.now()), undefined, { signal });
        await this.assertAlive(pid, startTime);
      }
      if (signal?.aborted) throw cycleAborted();
      // One command at a time for all of the daemon's kdamonds (the kernel refuses a second): the owner's queue.
      await this.kdamonds.command(() => updateTriedRegions(this.kdamonds.sysfs, slot), signal);
      tried = await readTriedRegions(this.kdamonds.sysfs, slot);
    } catch (err) {
      if (isProcessGone(err)) throw err; // assertAlive already cleaned up
      await this.kdamonds.stop(slot).catch(() => undefined);
      if (isAbortError(err)) throw cycleAborted();
      // The kdamond stops by itself when its target exits: the command then fails.
      await this.assertAlive(pid, startTime);
      throw err;
    }
    await this.kdamonds.stop(slot);
    await this.assertAlive(pid, startTime);

    const counts = countsByRegion(regions, tried).map((n) => normaliseCount(n, samples, loop));
    const addrs: number[] = [];
    for (const r of regions) for (let a = r.start; a < r.end; a += r.pageSizeBytes) addrs.push(a);
    let status: Int32Array;
    try {
      status = await this.pageNodes(pid, Float64Array.from(addrs));
    } catch (err) {
      if (isProcessGone(err)) throw await this.cleanupGone(pid);
      throw err;
    }
    map.ranges = buildRanges(regions, counts, status);
    map.timeMs = Date.now();
    return map;
  }

  private async assertAlive(pid: number, startTime: string | undefined): Promise<void> {
    let fields: string[] = [];
    try {
      fields = (await this.io.readText(`/proc/${pid}/stat`)).split(') ')[1]?.split(' ') ?? [];
    } catch {
      // gone
    }
    // A zombie (Z) or dead (X) process has no memory left to track.
    if (fields[19] === undefined || fields[19] !== startTime || fields[0] === 'Z' || fields[0] === 'X') {
      throw await this.cleanupGone(pid);
    }
  }

  /** The target exited: the kdamond is stopped and its context dropped (the slot stays ours until close()). */
  private async cleanupGone(pid: number): Promise<SysError> {
    if (this.slot !== undefined) {
      await this.kdamonds.stop(this.slot).catch(() => undefined);
      await this.kdamonds.sysfs.writeText(`/sys/kernel/mm/damon/admin/kdamonds/${this.slot}/contexts/nr_contexts`, '0').catch(() => undefined);
      this.kdamonds.forget(this.slot);
    }
    return gone(pid);
  }

  async close(): Promise<void> {
    if (this.slot === undefined) return;
    const slot = this.slot;
    this.slot = undefined;
    await this.kdamonds.release(slot);
  }
}

/** Whether the damon-vaddr tracker can run here, and if not why. */
export async function probeDamonVaddrTracker(io: PlatformIO = liveIO): Promise<TrackerProbe> {
  try {
    const { available, reason } = await probeDamonVaddr(io);
    return { name: 'damon-vaddr', available, reason };
  } catch (err) {
    return { name: 'damon-vaddr', available: false, reason: `DAMON sysfs probe failed: ${(err as Error).message}` };
  }
}

/**
 * DAMON vaddr, probed without writing to sysfs: a probe must never wait
 * for, or reshape, kdamonds that other users of DAMON run on this host
 * (so no throwaway kdamond to read avail_operations; /proc/kallsyms instead).
 */
export async function probeDamonVaddrReadOnly(io: PlatformIO = liveIO): Promise<TrackerProbe> {
  const facts = await probeDamon(io);
  if (!facts.sysfs) return { name: 'damon-vaddr', available: false, reason: '/sys/kernel/mm/damon/admin is missing: the kernel needs CONFIG_DAMON_SYSFS (Linux 5.18+)' };
  if (!facts.operations.includes('vaddr')) {
    return { name: 'damon-vaddr', available: false, reason: `DAMON has no vaddr operations (this kernel offers: ${facts.operations.join(' ') || 'none'}); it needs CONFIG_DAMON_VADDR` };
  }
  return { name: 'damon-vaddr', available: true, reason: '' };
}

/** The registry entry (memtierd's TrackerRegister): DAMON vaddr through sysfs on `io`. */
export const damonVaddrTrackerEntry: TrackerEntry = {
  name: 'damon-vaddr',
  engines: ['slide', 'cslide'],
  memory: 'per process: hugetlb (exact, one region per hugepage), THP, anonymous, shmem (sampled per 2 MiB)',
  probe: (io, _kernel) => probeDamonVaddrReadOnly(io),
  create: async (io, kernel) => new DamonVaddrTracker({ io, kernel }),
};
