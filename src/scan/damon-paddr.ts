/**
 * The DAMON paddr tracker: DAMON monitors physical address ranges
 * (mm/damon/paddr.c, young checks through rmap, so KVM guest accesses are
 * seen via the MMU notifiers); the target's pages are found through their
 * PFNs in /proc/PID/pagemap and each page takes the count of the DAMON
 * region that holds its frame. Counts come in bulk from the
 * `damon_aggregated` tracepoint (src/platform/tracefs.ts), never from a
 * walk over tried_regions.
 *
 * Two modes, chosen per tracker at its first cycle:
 * - shared: a kdamond another DAMON user runs with paddr operations (this
 *   host: kdamond 0 with a pageout scheme) is read, never written: its
 *   tracepoint through a private tracefs instance filtered on its pid.
 *   DAMON's sysfs refuses new kdamonds while one runs, and writing
 *   nr_kdamonds would wipe that user's configuration, so sharing is the
 *   only way in. Its regions are adaptive over all of its range, so a
 *   region mixes our pages with others': good for THP or clustered memory,
 *   poor for scattered 4 KiB pages (docs/trackers.md has the numbers). Its
 *   windows are its own (aggr_us), so a cycle lasts at least one window.
 *   Pages outside its range cannot be seen: they are reported hot (kept
 *   where they are) and counted in `AccessMap.untrackedPages`, never cold.
 * - owned: when no kdamond runs (e.g. the testbed), a kdamond of our own
 *   from the daemon's one owner (./damon-contexts.ts) monitors exactly our
 *   frames: regions are the PFN runs, cut at 2 MiB, fixed
 *   (min = max = their number), sampled every `intervalMs`, one window a
 *   cycle, on only during the cycle, as the vaddr tracker does.
 *
 * Hugetlb pages are not on the LRU: paddr's young check never finds them
 * accessed, so a hugetlb VMA would read all cold. Such a target is refused
 * with OPT_UNSUPPORTED naming the VMA, never tracked.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { AccessMap, AccessMapVma, AccessRange } from './access-map.js';
import { AccessRanges } from './access-ranges.js';
import { CycleGate, type ScanCycleOptions, type ScanTarget, type Tracker, type TrackerEntry, type TrackerProbe } from './tracker.js';
import { filterVmas } from './proc-vmas.js';
import { parseSmapsSized, type SizedVma } from './damon.js';
import { kdamondsFor, type DamonKdamonds } from './damon-contexts.js';
import { KDAMONDS, kdamondDir, writePaddrContext, type DamonRegion } from './damon-sysfs.js';
import { liveIO, type KernelFileIO, type PlatformIO } from '../platform/io.js';
import { probeDamon } from '../platform/damon-probe.js';
import { DamonTraceInstance, TRACEFS, DAMON_AGGREGATED, groupWindows, mountTracefs, sweepStaleInstances, type AggregatedEvent, type AggregationWindow } from '../platform/tracefs.js';
import { readMemoryBlockMap, nodeOfPfn, type MemoryBlockMap } from '../platform/memory-blocks.js';
import { liveKernel, type KernelOps } from '../native/kernel.js';
import { isErrno, SysError } from '../native/errors.js';
import { VirtTierError, abortError, invalidField, processGone } from '../errors.js';
import { boundedMap } from './bounded-map.js';

const PAGE = 4096;
/** Owned regions are cut at 2 MiB: one THP is one region (an exact sample), as in the vaddr tracker. */
export const OWNED_REGION_BYTES = 2 * 1024 * 1024;
/** More runs than this are coalesced over their smallest gaps (each region is two sysfs writes). */
export const MAX_OWNED_REGIONS = 16384;
const POLL_MS = 250;

export type PaddrMode = 'shared' | 'owned';

/** The events of one kdamond, however they are read (a tracefs instance live, arrays in tests). */
export interface AggregatedSource {
  setKdamondPid(pid: number): void;
  drain(): AggregatedEvent[];
  close(): void;
}

export interface DamonPaddrOptions {
  io?: KernelFileIO;
  kernel?: KernelOps;
  /** the daemon's one owner of kdamonds (default: the one for `io`) */
  kdamonds?: DamonKdamonds;
  /** force a mode; default: shared when a paddr kdamond of another user runs, else owned */
  mode?: PaddrMode;
  /** opens the tracepoint source for a kdamond pid; default: a tracefs instance (mounting tracefs if needed) */
  openSource?: (name: string, kdamondPid: number) => Promise<AggregatedSource>;
  /** PFN -> node; default: the memory-block map in sysfs */
  memoryBlocks?: MemoryBlockMap;
}

/** Pages of the target, one entry per 4 KiB page of the selected VMAs, in address order. */
export interface TargetPages {
  /**
   * Where each VMA's pages begin: [firstIndex0, startAddr0, firstIndex1,
   * startAddr1, ...], index order. Page i's address is its segment's start
   * + (i - firstIndex) * 4096: no 8-byte address per page.
   */
  segments: Float64Array;
  /** 0 when not present */
  pfn: Float64Array;
  /** bit 0 present, bit 1 swapped */
  flags: Uint8Array;
}

function padded<T extends Float64Array | Uint8Array>(a: T, length: number): T {
  const out = new (a.constructor as new (n: number) => T)(length);
  out.set(a);
  return out;
}

/** Indexes of present pages, sorted by PFN (the order regions are swept in). */
export function presentByPfn(pages: TargetPages): Uint32Array {
  const n = pages.pfn.length;
  let count = 0;
  let maxPfn = 0;
  for (let i = 0; i < n; i++) {
    if ((pages.flags[i]! & 1) !== 0 && pages.pfn[i]! > 0) {
      count++;
      if (pages.pfn[i]! > maxPfn) maxPfn = pages.pfn[i]!;
    }
  }
  const out = new Uint32Array(count);
  // One key per page, pfn * n + index, sorted natively (a comparator sort
  // of every 4 KiB page costs more than the rest of the cycle); exact while
  // the keys stay below 2^53, else the comparator.
  if (maxPfn * n + n < Number.MAX_SAFE_INTEGER) {
    const keys = new Float64Array(count);
    for (let i = 0, k = 0; i < n; i++) if ((pages.flags[i]! & 1) !== 0 && pages.pfn[i]! > 0) keys[k++] = pages.pfn[i]! * n + i;
    keys.sort();
    for (let k = 0; k < count; k++) out[k] = keys[k]! % n;
    return out;
  }
  for (let i = 0, k = 0; i < n; i++) if ((pages.flags[i]! & 1) !== 0 && pages.pfn[i]! > 0) out[k++] = i;
  return out.sort((a, b) => pages.pfn[a]! - pages.pfn[b]!);
}

/** Physical ranges covering the frames (sorted PFN order), cut at 2 MiB, coalesced over the smallest gaps beyond `maxRegions`. */
export function pfnRegions(pages: TargetPages, order: Uint32Array, maxRegions = MAX_OWNED_REGIONS): DamonRegion[] {
  let runs: DamonRegion[] = [];
  for (const i of order) {
    const start = pages.pfn[i]! * PAGE;
    const last = runs[runs.length - 1];
    if (last && last.end === start && start % OWNED_REGION_BYTES !== 0) last.end = start + PAGE;
    else if (last && last.end > start) continue; // one frame mapped twice (shared memory)
    else runs.push({ start, end: start + PAGE });
  }
  for (let gap = PAGE; runs.length > maxRegions; gap *= 2) {
    const merged: DamonRegion[] = [];
    for (const r of runs) {
      const last = merged[merged.length - 1];
      if (last && r.start - last.end <= gap) last.end = r.end;
      else merged.push({ ...r });
    }
    runs = merged;
  }
  return runs;
}

/**
 * Adds one window's counts to each page: the fraction of the window's
 * samples in which the region holding the page's frame was accessed.
 * Pages are visited in address order and their region found by binary
 * search over the window's regions (address order, no overlap), after a
 * check of the region the previous page hit: neighbouring pages usually
 * have neighbouring frames (THP, fresh anonymous memory), so most pages
 * cost one comparison. O(pages x log regions) without sorting the pages
 * by PFN, which cost more than the rest of a cycle (docs/benchmarks.md).
 * Pages no region holds are left uncovered.
 */
export function accumulateWindow(window: AggregationWindow, pages: TargetPages, samplesPerWindow: number, fractionSum: Float32Array, windowsSeen: Uint16Array): void {
  const regions = window.regions;
  const nr = regions.length;
  if (nr === 0) return;
  const starts = new Float64Array(nr);
  const ends = new Float64Array(nr);
  const fraction = new Float32Array(nr);
  for (let r = 0; r < nr; r++) {
    starts[r] = regions[r]!.start;
    ends[r] = regions[r]!.end;
    fraction[r] = Math.min(1, regions[r]!.nrAccesses / samplesPerWindow);
  }
  const pfn = pages.pfn;
  const flags = pages.flags;
  let last = 0;
  for (let i = 0; i < pfn.length; i++) {
    if ((flags[i]! & 1) === 0 || pfn[i] === 0) continue;
    const phys = pfn[i]! * PAGE;
    let r = last;
    if (!(phys >= starts[r]! && phys < ends[r]!)) {
      // first region whose end is past phys
      let lo = 0;
      let hi = nr;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (ends[mid]! <= phys) lo = mid + 1;
        else hi = mid;
      }
      if (lo >= nr || starts[lo]! > phys) continue;
      r = lo;
      last = lo;
    }
    fractionSum[i]! += fraction[r]!;
    windowsSeen[i]!++;
  }
}

/** Ranges of equal count, node and state; uncovered present pages are reported accessed in every scan (`loop`), never cold. */
export function buildPaddrRanges(pages: TargetPages, fractionSum: Float32Array, windowsSeen: Uint16Array, loop: number, nodeOf: (pfn: number) => number): { ranges: AccessRanges; untrackedPages: number } {
  const ranges = new AccessRanges();
  let untrackedPages = 0;
  const segs = pages.segments;
  let seg = 0;
  for (let i = 0; i < pages.pfn.length; i++) {
    while (seg + 2 < segs.length && segs[seg + 2]! <= i) seg += 2;
    const present = (pages.flags[i]! & 1) !== 0;
    const swapped = (pages.flags[i]! & 2) !== 0;
    if (!present && !swapped) continue;
    let accessCount = 0;
    if (present) {
      const seen = windowsSeen[i]!;
      if (seen === 0) untrackedPages++;
      accessCount = seen === 0 ? loop : Math.min(loop, Math.round((fractionSum[i]! / seen) * loop));
    }
    const node = present ? nodeOf(pages.pfn[i]!) : -1;
    const addr = segs[seg + 1]! + (i - segs[seg]!) * PAGE;
    ranges.appendPage(addr, PAGE, accessCount, node, present, swapped);
  }
  return { ranges, untrackedPages };
}

/** A paddr kdamond another DAMON user runs, as read from sysfs (read-only). */
export interface SharedKdamond {
  slot: number;
  pid: number;
  sampleUs: number;
  aggrUs: number;
  /** its target's configured ranges (the ones it monitors) */
  ranges: DamonRegion[];
}

async function readNum(io: PlatformIO, p: string): Promise<number> {
  return Number((await io.readText(p)).trim());
}

/** The first running kdamond with paddr operations that `owner` does not hold; reads only. */
export async function findSharedKdamond(io: PlatformIO, owner?: DamonKdamonds): Promise<SharedKdamond | undefined> {
  if (!(await io.exists(`${KDAMONDS}/nr_kdamonds`))) return undefined;
  const count = await readNum(io, `${KDAMONDS}/nr_kdamonds`);
  const ours = new Set(owner?.heldSlots ?? []);
  for (let slot = 0; slot < count; slot++) {
    if (ours.has(slot)) continue;
    const k = kdamondDir(slot);
    if ((await io.readText(`${k}/state`)).trim() !== 'on') continue;
    if ((await readNum(io, `${k}/contexts/nr_contexts`)) < 1) continue;
    const c = `${k}/contexts/0`;
    if ((await io.readText(`${c}/operations`)).trim() !== 'paddr') continue;
    const ranges: DamonRegion[] = [];
    const targets = await readNum(io, `${c}/targets/nr_targets`);
    for (let t = 0; t < targets; t++) {
      const n = await readNum(io, `${c}/targets/${t}/regions/nr_regions`);
      for (let r = 0; r < n; r++) {
        ranges.push({ start: await readNum(io, `${c}/targets/${t}/regions/${r}/start`), end: await readNum(io, `${c}/targets/${t}/regions/${r}/end`) });
      }
    }
    return {
      slot,
      pid: await readNum(io, `${k}/pid`),
      sampleUs: await readNum(io, `${c}/monitoring_attrs/intervals/sample_us`),
      aggrUs: await readNum(io, `${c}/monitoring_attrs/intervals/aggr_us`),
      ranges: ranges.sort((a, b) => a.start - b.start),
    };
  }
  return undefined;
}

/** The live source: a tracefs instance, tracefs mounted first when it is not. */
let swept = false;

export async function openTracefsSource(name: string, kdamondPid: number): Promise<AggregatedSource> {
  try {
    await mountTracefs();
    if (!swept) {
      // once per daemon: what a crashed virt-tierd left behind (its buffers and enabled events)
      swept = true;
      sweepStaleInstances();
    }
    return DamonTraceInstance.open(name, kdamondPid);
  } catch (err) {
    if (isErrno(err, 'EEXIST')) {
      throw new VirtTierError('OPT_UNSUPPORTED', `tracefs instance ${TRACEFS}/instances/${name} exists (another virt-tierd, or one left behind): rmdir it`, { field: 'tracker', value: 'damon-paddr', allowed: 'a free tracefs instance name' });
    }
    if (isErrno(err, 'ENOENT', 'ENODEV')) {
      throw new VirtTierError('OPT_UNSUPPORTED', `damon-paddr needs tracefs with the damon_aggregated event (${TRACEFS}/${DAMON_AGGREGATED}): ${(err as Error).message}; mount -t tracefs nodev ${TRACEFS} (CONFIG_TRACING and CONFIG_DAMON)`, { field: 'tracker', value: 'damon-paddr', allowed: 'a kernel with tracefs' });
    }
    throw err;
  }
}

let instanceSeq = 0;

export class DamonPaddrTracker implements Tracker {
  readonly name = 'damon-paddr';
  private readonly io: KernelFileIO;
  private readonly kernel: KernelOps;
  private readonly kdamonds: DamonKdamonds;
  private readonly forcedMode?: PaddrMode;
  private readonly openSource: (name: string, kdamondPid: number) => Promise<AggregatedSource>;
  private blocks?: MemoryBlockMap;
  private source?: AggregatedSource;
  private sourcePid = -1;
  private slot: number | undefined;
  private readonly gate = new CycleGate('damon-paddr');
  /** the mode of the last cycle (for stats and tests) */
  mode?: PaddrMode;
  /** shared mode: addresses (sorted) of the pages seen idle in the previous cycle */
  private idleBefore = new Float64Array(0);

  constructor(opts: DamonPaddrOptions = {}) {
    this.io = opts.io ?? liveIO;
    this.kernel = opts.kernel ?? liveKernel;
    this.kdamonds = opts.kdamonds ?? kdamondsFor(this.io);
    if (opts.mode !== undefined && opts.mode !== 'shared' && opts.mode !== 'owned') throw invalidField('damon-paddr.mode', opts.mode, 'shared|owned');
    this.forcedMode = opts.mode;
    this.openSource = opts.openSource ?? openTracefsSource;
    this.blocks = opts.memoryBlocks;
  }

  scanCycle(target: ScanTarget, opts: ScanCycleOptions): Promise<AccessMap> {
    return this.gate.run(opts, () => this.cycle(target, opts));
  }

  private async readProc(pid: number, file: string): Promise<string> {
    try {
      return await this.io.readText(`/proc/${pid}/${file}`);
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ESRCH')) throw processGone(pid, { syscall: 'read', path: `/proc/${pid}/${file}` });
      throw err;
    }
  }

  private async vmasOf(target: ScanTarget): Promise<SizedVma[]> {
    // The kernel's own mappings ([vdso], [vvar], [vsyscall] above 2^53) hold no guest RAM and have no frames of ours.
    const sized = (filterVmas(parseSmapsSized(await this.readProc(target.pid, 'smaps')), target.filter) as SizedVma[])
      .filter((v) => v.end <= Number.MAX_SAFE_INTEGER && !/^\[(vdso|vvar|vvar_vclock|vsyscall)\]$/.test(v.pathname));
    const huge = sized.find((v) => v.vmFlags.includes('ht') || v.pageSizeBytes > PAGE);
    if (huge) {
      throw new VirtTierError(
        'OPT_UNSUPPORTED',
        `damon-paddr cannot see hugetlb memory (pid ${target.pid}, VMA ${huge.start.toString(16)}-${huge.end.toString(16)}, ${huge.pageSizeBytes / 1024} KiB pages): ` +
          'hugetlb pages are not on the LRU, so DAMON paddr reads them as never accessed; use --tracker damon-vaddr or idle-pages, or select THP/anonymous guest RAM',
        { field: 'tracker', value: 'damon-paddr', allowed: 'LRU memory (anonymous, THP, shmem/memfd)' },
      );
    }
    return sized;
  }

  private async readPages(pid: number, vmas: readonly SizedVma[], maxParallel: number): Promise<TargetPages> {
    const total = vmas.reduce((n, v) => n + Math.floor((v.end - v.start) / PAGE), 0);
    // PFNs and flags decoded natively (kernel.readPagemapPfns); one VMA (a guest's RAM) uses them as they come.
    // Each VMA's part has its own slot, so the ranges can be read max_threads at a time.
    const parts = new Array<{ pfn: Float64Array; flags: Uint8Array }>(vmas.length);
    await boundedMap(vmas, maxParallel, async (v, k) => {
      const count = Math.floor((v.end - v.start) / PAGE);
      let part: { pfn: Float64Array; flags: Uint8Array };
      try {
        part = await this.kernel.readPagemapPfns(pid, v.start, count);
      } catch (err) {
        if (isErrno(err, 'ENOENT', 'ESRCH')) throw processGone(pid, { syscall: 'pread', path: `/proc/${pid}/pagemap` });
        throw err;
      }
      // short at the end of the address space: the rest reads as not present
      if (part.pfn.length < count) part = { pfn: padded(part.pfn, count), flags: padded(part.flags, count) };
      parts[k] = part;
    });
    const segments = new Float64Array(vmas.length * 2);
    const pages: TargetPages = parts.length === 1
      ? { segments, pfn: parts[0]!.pfn, flags: parts[0]!.flags }
      : { segments, pfn: new Float64Array(total), flags: new Uint8Array(total) };
    let at = 0;
    vmas.forEach((v, k) => {
      const count = Math.floor((v.end - v.start) / PAGE);
      if (parts.length > 1) {
        pages.pfn.set(parts[k]!.pfn, at);
        pages.flags.set(parts[k]!.flags, at);
      }
      segments[2 * k] = at;
      segments[2 * k + 1] = v.start;
      at += count;
    });
    let present = 0;
    let withPfn = 0;
    for (let i = 0; i < total; i++) {
      if ((pages.flags[i]! & 1) !== 0) present++;
      if (pages.pfn[i]! > 0) withPfn++;
    }
    if (present > 0 && withPfn === 0) throw new SysError('EPERM', 1, 'pread', `/proc/${pid}/pagemap shows no PFNs: damon-paddr needs CAP_SYS_ADMIN`);
    return pages;
  }

  private async ensureSource(name: string, kdamondPid: number): Promise<AggregatedSource> {
    if (!this.source) {
      this.source = await this.openSource(name, kdamondPid);
      this.sourcePid = kdamondPid;
    } else if (this.sourcePid !== kdamondPid) {
      this.source.setKdamondPid(kdamondPid);
      this.sourcePid = kdamondPid;
    }
    return this.source;
  }

  /** Drains until at least one whole window arrived or the deadline passed. */
  private async collect(source: AggregatedSource, untilMs: number, deadlineMs: number, signal?: AbortSignal): Promise<AggregationWindow[]> {
    const events: AggregatedEvent[] = [];
    for (;;) {
      const waitMs = Math.max(0, Math.min(POLL_MS, untilMs - Date.now()));
      await sleep(waitMs || POLL_MS, undefined, { signal }).catch(() => {
        throw abortError('scan cycle aborted');
      });
      events.push(...source.drain());
      if (Date.now() < untilMs) continue;
      const windows = groupWindows(events);
      if (windows.length > 0 || Date.now() >= deadlineMs) return windows;
    }
  }

  private async modeFor(): Promise<{ mode: PaddrMode; shared?: SharedKdamond }> {
    const shared = await findSharedKdamond(this.kdamonds.sysfs, this.kdamonds);
    if (this.forcedMode === 'owned') return { mode: 'owned' };
    if (shared) return { mode: 'shared', shared };
    if (this.forcedMode === 'shared') {
      throw new VirtTierError('OPT_UNSUPPORTED', 'damon-paddr shared mode: no running kdamond with paddr operations to share (kdamonds/N/state on, operations paddr); drop the forced mode to run a kdamond of our own', { field: 'tracker', value: 'damon-paddr', allowed: 'owned' });
    }
    return { mode: 'owned' };
  }

  private async cycle(target: ScanTarget, opts: ScanCycleOptions): Promise<AccessMap> {
    const { pid } = target;
    const { loop, intervalMs, signal } = opts;
    if (signal?.aborted) throw abortError('scan cycle aborted');
    const started = Date.now();
    const vmas = await this.vmasOf(target);
    const mapVmas: AccessMapVma[] = vmas.map(({ start, end, vmFlags, pathname }) => ({ start, end, vmFlags, pathname }));
    const map: AccessMap = { pid, loop, tracker: this.name, timeMs: started, vmas: mapVmas, ranges: new AccessRanges(0) };
    if (vmas.length === 0) return map;
    const { mode, shared } = await this.modeFor();
    this.mode = mode;
    const name = `virt-tier-${process.pid}-${++instanceSeq}`;
    let windows: AggregationWindow[];
    let samplesPerWindow: number;

    if (mode === 'shared') {
      const kd = shared!;
      const source = await this.ensureSource(name, kd.pid);
      source.drain(); // what came before this cycle
      samplesPerWindow = Math.max(1, Math.round(kd.aggrUs / kd.sampleUs));
      const aggrMs = kd.aggrUs / 1000;
      // At least one whole window of the other user's kdamond; give up after a few.
      windows = await this.collect(source, started + loop * intervalMs, started + Math.max(loop * intervalMs, aggrMs) + 2 * aggrMs + 2000, signal);
      if (windows.length === 0) {
        throw new VirtTierError('OPT_UNSUPPORTED', `damon-paddr: kdamond ${kd.slot} (pid ${kd.pid}) emitted no damon_aggregated event in ${Date.now() - started} ms (aggr_us ${kd.aggrUs}); is it still running, and is the tracefs instance's event enabled?`, { field: 'tracker', value: 'damon-paddr', allowed: 'a running paddr kdamond' });
      }
    } else {
      const before = await this.readPages(pid, vmas, target.maxParallelRanges ?? 1);
      const order = presentByPfn(before);
      const regions = pfnRegions(before, order);
      if (regions.length === 0) {
        map.ranges = buildPaddrRanges(before, new Float32Array(before.pfn.length), new Uint16Array(before.pfn.length), loop, () => -1).ranges;
        return map;
      }
      if (this.slot === undefined) this.slot = await this.kdamonds.acquire();
      const slot = this.slot;
      const sampleUs = Math.max(1, Math.round(intervalMs * 1000));
      const aggrUs = sampleUs * loop;
      samplesPerWindow = loop;
      // damon_set_attrs() refuses min_nr_regions < 3
      const nr = Math.max(3, regions.length);
      const key = JSON.stringify([sampleUs, aggrUs, regions.map((r) => [r.start, r.end])]);
      await this.kdamonds.start(slot, key, () => writePaddrContext(this.kdamonds.sysfs, slot, { sampleUs, aggrUs, minNrRegions: nr, maxNrRegions: nr, regions }));
      let kdamondPid = -1;
      try {
        kdamondPid = await readNum(this.kdamonds.sysfs, `${kdamondDir(slot)}/pid`);
        const on = Date.now();
        const source = await this.ensureSource(name, kdamondPid);
        // The first window ends one aggregation after `on`; on a slow (TCG) machine give it a few.
        windows = await this.collect(source, on + loop * intervalMs, on + 4 * loop * intervalMs + 5000, signal);
      } finally {
        await this.kdamonds.stop(slot);
      }
      if (windows.length === 0) {
        throw new VirtTierError('OPT_UNSUPPORTED', `damon-paddr: our kdamond ${slot} (pid ${kdamondPid}) emitted no damon_aggregated event within its window`, { field: 'tracker', value: 'damon-paddr', allowed: 'a kernel with the damon_aggregated tracepoint' });
      }
      windows = windows.slice(-1);
    }

    // PFNs at the end of the cycle: pages that moved or came in meanwhile are where they are now.
    const pages = await this.readPages(pid, vmas, target.maxParallelRanges ?? 1);
    const fractionSum = new Float32Array(pages.pfn.length);
    const windowsSeen = new Uint16Array(pages.pfn.length);
    for (const w of windows) accumulateWindow(w, pages, samplesPerWindow, fractionSum, windowsSeen);
    const blocks = this.blocks ?? (this.blocks = await readMemoryBlockMap(this.io).catch(() => ({ blockBytes: 128 << 20, nodeByBlock: new Int16Array(0) })));
    const { ranges, untrackedPages } = buildPaddrRanges(pages, fractionSum, windowsSeen, loop, (pfn) => nodeOfPfn(blocks, pfn));
    map.ranges = mode === 'shared' ? this.confirmIdle(ranges) : ranges;
    map.untrackedPages = untrackedPages;
    map.timeMs = Date.now();
    return map;
  }

  /**
   * Shared mode only: a page is reported idle (count 0) only when it was
   * idle in the previous cycle too; the first time it reads 1. The other
   * user's regions mix our frames with foreign ones and one random sample
   * per region misses hot frames now and then (hot recall 0.92-1.0 per
   * window here, docs/trackers.md); two independent windows make a hot page
   * read cold far less often, at the cost of one more cycle before cold
   * pages move.
   */
  private confirmIdle(ranges: AccessRanges): AccessRanges {
    // Idle pages are remembered as [start, end) address pairs, one per idle
    // range, not one entry per page: memory follows the ranges, not the bytes.
    const before = this.idleBefore;
    const idleNow: number[] = [];
    const out = new AccessRanges(ranges.length);
    let j = 0;
    const push = (r: Readonly<AccessRange>, start: number, end: number, confirmed: boolean): void => {
      if (end > start) out.push(start, (end - start) / PAGE, r.pageSizeBytes, confirmed ? 0 : 1, r.node, r.present, r.swapped);
    };
    for (const r of ranges) {
      if (!r.present || r.accessCount > 0) {
        out.push(r.start, r.pageCount, r.pageSizeBytes, r.accessCount, r.node, r.present, r.swapped);
        continue;
      }
      const end = r.start + r.pageCount * PAGE;
      const lastIdle = idleNow.length;
      if (lastIdle >= 2 && idleNow[lastIdle - 1] === r.start) idleNow[lastIdle - 1] = end;
      else idleNow.push(r.start, end);
      // Split the range where it meets the previous cycle's idle ranges.
      while (j < before.length && before[j + 1]! <= r.start) j += 2;
      let at = r.start;
      for (let k = j; k < before.length && before[k]! < end; k += 2) {
        const s = Math.max(at, before[k]!);
        const e = Math.min(end, before[k + 1]!);
        if (e <= s) continue;
        push(r, at, s, false);
        push(r, s, e, true);
        at = e;
      }
      push(r, at, end, false);
    }
    this.idleBefore = Float64Array.from(idleNow);
    return out;
  }

  async close(): Promise<void> {
    this.source?.close();
    this.source = undefined;
    if (this.slot !== undefined) {
      const slot = this.slot;
      this.slot = undefined;
      await this.kdamonds.release(slot);
    }
  }
}

/**
 * Whether damon-paddr can run here, and how (reads only: never a sysfs
 * write, so it never disturbs another DAMON user):
 * DAMON sysfs with paddr operations, and either a running paddr kdamond to
 * share (then tracefs must be there) or no kdamond of another user in the
 * way of one of our own.
 */
export async function probeDamonPaddr(io: PlatformIO): Promise<TrackerProbe & { mode?: PaddrMode }> {
  const name = 'damon-paddr';
  const facts = await probeDamon(io);
  if (!facts.sysfs) return { name, available: false, reason: '/sys/kernel/mm/damon/admin is missing: the kernel needs CONFIG_DAMON_SYSFS (Linux 5.18+)' };
  if (!facts.operations.includes('paddr')) {
    return { name, available: false, reason: `DAMON has no paddr operations (this kernel offers: ${facts.operations.join(' ') || 'none'}); it needs CONFIG_DAMON_PADDR` };
  }
  // Not mounted is fine (the tracker mounts it); not built is not.
  const tracefs = (await io.exists(`${TRACEFS}/${DAMON_AGGREGATED}/format`)) ||
    ((await io.exists('/proc/filesystems')) && /\ttracefs\n/.test(await io.readText('/proc/filesystems')));
  if (!tracefs) return { name, available: false, reason: `no tracefs with the damon_aggregated event (${TRACEFS}); the kernel needs CONFIG_TRACING` };
  const ours = kdamondsFor(io);
  const shared = await findSharedKdamond(io, ours);
  if (shared) {
    return { name, available: true, mode: 'shared', reason: `shared, read-only: kdamond ${shared.slot} (pid ${shared.pid}) of another DAMON user monitors ${shared.ranges.map((r) => `${(r.start / 2 ** 30).toFixed(1)}-${(r.end / 2 ** 30).toFixed(1)} GiB`).join(', ')} physical; pages outside are kept hot; precision is good for THP/clustered memory only` };
  }
  const count = Number((await io.readText(`${KDAMONDS}/nr_kdamonds`)).trim());
  for (let slot = 0; slot < count; slot++) {
    if (ours.heldSlots.includes(slot)) continue;
    const k = kdamondDir(slot);
    const configured = Number((await io.readText(`${k}/contexts/nr_contexts`)).trim()) > 0;
    const state = (await io.readText(`${k}/state`)).trim();
    if (state === 'on') {
      return { name, available: false, reason: `kdamond ${slot} of another DAMON user runs without paddr operations: nothing to share, and nr_kdamonds cannot grow while it runs (EBUSY); stop it or give it paddr operations` };
    }
    if (configured) {
      // Ours drop their context on release; a configured off kdamond is someone else's setup, possibly waiting.
      return { name, available: false, reason: `kdamond ${slot} holds another DAMON user's context (off): growing nr_kdamonds for one of our own would wipe it; clear it (nr_contexts 0) or start it with paddr operations to share` };
    }
  }
  return { name, available: true, mode: 'owned', reason: 'owned: no kdamond runs, so one of ours monitors exactly the target\'s frames' };
}

/** The registry entry: LRU guest RAM (anonymous, THP, shmem/memfd) through DAMON paddr; hugetlb targets are refused. */
export const damonPaddrTrackerEntry: TrackerEntry = {
  name: 'damon-paddr',
  engines: ['slide', 'cslide'],
  memory: 'LRU memory by physical frame: anonymous, THP, shmem/memfd; hugetlb targets refused (paddr never sees them accessed)',
  probe: async (io, _kernel) => {
    try {
      const { name, available, reason } = await probeDamonPaddr(io);
      return { name, available, reason };
    } catch (err) {
      return { name: 'damon-paddr', available: false, reason: `DAMON sysfs probe failed: ${(err as Error).message}` };
    }
  },
  create: async (io, kernel) => new DamonPaddrTracker({ io, kernel }),
};
