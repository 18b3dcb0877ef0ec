/**
 * etmem's idle_pages tracker (openEuler kernels with the etmem_scan module).
 *
 * /proc/PID/idle_pages is read from a page-aligned VA offset; each read
 * walks the page tables (and, for a KVM guest, the EPT) and clears the
 * accessed bits it reports, so two readers of one process steal each
 * other's data. The bytes are a stream of:
 * - 0xA0 (PIP_CMD_SET_HVA) followed by an 8-byte big-endian address: the
 *   cursor jumps there;
 * - any other byte `type << 4 | nr`: `nr` (0..15) consecutive pages of
 *   `type` starting at the cursor, which advances past them.
 * Types (etmem_scan.h, enum ProcIdlePageType): 0 PTE_ACCESSED (4K),
 * 1 PMD_ACCESSED (2M), 2 PUD_PRESENT (1G), 3 PTE_DIRTY (4K), 4 PMD_DIRTY
 * (2M), 5 PTE_IDLE (4K), 6 PMD_IDLE (2M), 7 PMD_IDLE_PTES (a 2M range whose
 * 512 PTEs are all idle), 8 PTE_HOLE (4K), 9 PMD_HOLE (2M), 10 PIP_CMD.
 * Dirty implies accessed (a write sets both bits); PUD_PRESENT carries no
 * idle information and counts as accessed, as etmemd counts it. Holes are
 * not present and advance the cursor only.
 *
 * The kernel is reached only through an injected IdlePagesIo, so the fixture
 * tests (test/unit/idle-pages.test.ts) drive the whole tracker with
 * hand-built byte streams.
 */
import type { AccessMap, AccessMapVma } from './access-map.js';
import { AccessRanges } from './access-ranges.js';
import type { ScanCycleOptions, ScanTarget, Tracker } from './tracker.js';
import { filterVmas, readVmas } from './proc-vmas.js';
import { VirtTierError, abortError } from '../errors.js';
import { liveKernel, type KernelOps } from '../native/kernel.js';
import { liveIO, type KernelFileIO, type PlatformIO } from '../platform/io.js';
import type { TrackerEntry } from './tracker.js';
import { boundedMap } from './bounded-map.js';
import { pageNodeLookup, type PageNodesFn, type PresentCursor } from './page-nodes.js';

export const PAGE_4K = 4096;
export const PAGE_2M = 2 * 1024 * 1024;
export const PAGE_1G = 1024 * 1024 * 1024;

/** ioctl flags on the idle_pages fd (etmem_scan.h). */
export const SCAN_AS_HUGE = 0x1000000;
export const SCAN_IGN_HOST = 0x2000000;

export const IdlePageType = {
  PTE_ACCESSED: 0,
  PMD_ACCESSED: 1,
  PUD_PRESENT: 2,
  PTE_DIRTY: 3,
  PMD_DIRTY: 4,
  PTE_IDLE: 5,
  PMD_IDLE: 6,
  PMD_IDLE_PTES: 7,
  PTE_HOLE: 8,
  PMD_HOLE: 9,
  PIP_CMD: 10,
} as const;

export const PIP_CMD_SET_HVA = (IdlePageType.PIP_CMD << 4) | 0;

/** What one stream item says about `pageCount` pages from `start`. */
export interface IdlePagesRun {
  start: number;
  pageSizeBytes: number;
  pageCount: number;
  accessed: boolean;
  dirty: boolean;
}

interface TypeInfo {
  /** bytes the cursor advances per unit of `nr` */
  spanBytes: number;
  /** reported page size (PMD_IDLE_PTES: 2M of 4K pages) */
  pageSizeBytes: number;
  accessed: boolean;
  dirty: boolean;
  hole: boolean;
}

const TYPES: Record<number, TypeInfo> = {
  [IdlePageType.PTE_ACCESSED]: { spanBytes: PAGE_4K, pageSizeBytes: PAGE_4K, accessed: true, dirty: false, hole: false },
  [IdlePageType.PMD_ACCESSED]: { spanBytes: PAGE_2M, pageSizeBytes: PAGE_2M, accessed: true, dirty: false, hole: false },
  [IdlePageType.PUD_PRESENT]: { spanBytes: PAGE_1G, pageSizeBytes: PAGE_1G, accessed: true, dirty: false, hole: false },
  [IdlePageType.PTE_DIRTY]: { spanBytes: PAGE_4K, pageSizeBytes: PAGE_4K, accessed: true, dirty: true, hole: false },
  [IdlePageType.PMD_DIRTY]: { spanBytes: PAGE_2M, pageSizeBytes: PAGE_2M, accessed: true, dirty: true, hole: false },
  [IdlePageType.PTE_IDLE]: { spanBytes: PAGE_4K, pageSizeBytes: PAGE_4K, accessed: false, dirty: false, hole: false },
  [IdlePageType.PMD_IDLE]: { spanBytes: PAGE_2M, pageSizeBytes: PAGE_2M, accessed: false, dirty: false, hole: false },
  [IdlePageType.PMD_IDLE_PTES]: { spanBytes: PAGE_2M, pageSizeBytes: PAGE_4K, accessed: false, dirty: false, hole: false },
  [IdlePageType.PTE_HOLE]: { spanBytes: PAGE_4K, pageSizeBytes: PAGE_4K, accessed: false, dirty: false, hole: true },
  [IdlePageType.PMD_HOLE]: { spanBytes: PAGE_2M, pageSizeBytes: PAGE_2M, accessed: false, dirty: false, hole: true },
};

function streamError(offset: number, why: string): VirtTierError {
  return new VirtTierError('OPT_INTER_ERR', `idle_pages stream: ${why} at byte ${offset}`, { field: 'idle_pages', value: String(offset) });
}

/** Receives one run of present pages: `pageCount` pages of `pageSizeBytes` from `start`. */
export type RunSink = (start: number, pageSizeBytes: number, pageCount: number, accessed: boolean, dirty: boolean) => void;

/**
 * Walks one read of idle_pages and hands each run of present pages to
 * `sink` (holes are dropped), adjacent items of the same kind merged
 * first. `startAddress` is the VA the read started at (the file offset).
 * No object per run: a fragmented 4 KiB guest has about one run per page.
 * Throws on an unknown type or command, a truncated SET_HVA, or a SET_HVA
 * to an address that is not 4 KiB aligned (the module only jumps to page
 * addresses; the counters keep pages in per-4 KiB slots).
 */
export function walkIdlePages(bytes: Uint8Array, startAddress: number, sink: RunSink): void {
  let cursor = startAddress;
  // The pending run, not yet handed on: it may still grow.
  let runStart = 0;
  let runSize = 0;
  let runCount = 0;
  let runAccessed = false;
  let runDirty = false;
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    const type = b >> 4;
    const nr = b & 0xf;
    if (type === IdlePageType.PIP_CMD) {
      if (b !== PIP_CMD_SET_HVA) throw streamError(i, `unknown command 0x${b.toString(16)}`);
      if (i + 9 > bytes.length) throw streamError(i, 'truncated SET_HVA (needs 8 address bytes)');
      let addr = 0n;
      for (let k = 1; k <= 8; k++) addr = (addr << 8n) | BigInt(bytes[i + k]!);
      cursor = Number(addr);
      if (cursor % PAGE_4K !== 0) throw streamError(i, `SET_HVA to 0x${addr.toString(16)}, not 4 KiB aligned`);
      i += 9;
      continue;
    }
    const info = TYPES[type];
    if (!info) throw streamError(i, `unknown page type ${type} (byte 0x${b.toString(16)})`);
    if (nr > 0 && !info.hole) {
      const pageCount = (nr * info.spanBytes) / info.pageSizeBytes;
      // Adjacent items of the same kind form one run (the kernel caps nr at 15).
      if (runCount > 0 && runStart + runCount * runSize === cursor && runSize === info.pageSizeBytes && runAccessed === info.accessed && runDirty === info.dirty) {
        runCount += pageCount;
      } else {
        if (runCount > 0) sink(runStart, runSize, runCount, runAccessed, runDirty);
        runStart = cursor;
        runSize = info.pageSizeBytes;
        runCount = pageCount;
        runAccessed = info.accessed;
        runDirty = info.dirty;
      }
    }
    cursor += nr * info.spanBytes;
    i += 1;
  }
  if (runCount > 0) sink(runStart, runSize, runCount, runAccessed, runDirty);
}

/** Decodes one read of idle_pages into runs of present pages (walkIdlePages, collected). */
export function decodeIdlePages(bytes: Uint8Array, startAddress: number): IdlePagesRun[] {
  const runs: IdlePagesRun[] = [];
  walkIdlePages(bytes, startAddress, (start, pageSizeBytes, pageCount, accessed, dirty) => runs.push({ start, pageSizeBytes, pageCount, accessed, dirty }));
  return runs;
}

/**
 * Cuts one run to [lo, hi) and hands what is left to `sink`. Whole pages
 * only: a page straddling a bound belongs to no VMA here.
 */
export function clipRun(start: number, pageSizeBytes: number, pageCount: number, accessed: boolean, dirty: boolean, lo: number, hi: number, sink: RunSink): void {
  const s = Math.max(start, lo);
  const e = Math.min(start + pageCount * pageSizeBytes, hi);
  if (e <= s) return;
  const first = Math.ceil((s - start) / pageSizeBytes);
  const lastExclusive = Math.floor((e - start) / pageSizeBytes);
  if (lastExclusive > first) sink(start + first * pageSizeBytes, pageSizeBytes, lastExclusive - first, accessed, dirty);
}

/** Cuts runs to [start, end). */
export function clipRuns(runs: readonly IdlePagesRun[], start: number, end: number): IdlePagesRun[] {
  const out: IdlePagesRun[] = [];
  for (const r of runs) clipRun(r.start, r.pageSizeBytes, r.pageCount, r.accessed, r.dirty, start, end, (s, size, n) => out.push({ ...r, start: s, pageSizeBytes: size, pageCount: n }));
  return out;
}

/** etmem's weights (etmemd_scan.h READ_TYPE_WEIGHT, WRITE_TYPE_WEIGHT): why slide's T runs to loop * 3. */
export const READ_WEIGHT = 1;
export const WRITE_WEIGHT = 3;

/** A page size as the slot table keeps it (0: no page starts at the slot). */
const SIZE_CLASS = new Map<number, number>([[PAGE_4K, 1], [PAGE_2M, 2], [PAGE_1G, 3]]);
const CLASS_BYTES = [0, PAGE_4K, PAGE_2M, PAGE_1G];
/** `lastSeen` holds scan + 1 in a byte; the config bounds loop to 120 (src/config/sections.ts). */
export const MAX_SCANS = 255;

/** A VA range whose pages the counter keeps, one slot per `slotBytes`. */
export interface CounterRange {
  start: number;
  end: number;
  /** 4 KiB (the default), or 2 MiB for a hugetlb VMA read with SCAN_AS_HUGE */
  slotBytes?: number;
}

/**
 * One VMA's pages, by slot: slot s is the address start + s * slotBytes.
 * A page lives in the slot of its first address (a 2 MiB page in a 4 KiB
 * segment uses one slot of its 512), so the state is 4 bytes per slot
 * whatever the page sizes, and no address is stored.
 */
interface Segment {
  readonly start: number;
  readonly end: number;
  slotBytes: number;
  /** page size class of the page starting at the slot; 0 none */
  sizeClass: Uint8Array;
  /** scan + 1 of the last scan that saw the page present; 0 never */
  lastSeen: Uint8Array;
  /** accesses on etmem's scale (write 3, read 1), saturating at 65535 */
  count: Uint16Array;
}

function segment(start: number, end: number, slotBytes: number): Segment {
  const slots = Math.max(0, Math.ceil((end - start) / slotBytes));
  return { start, end, slotBytes, sizeClass: new Uint8Array(slots), lastSeen: new Uint8Array(slots), count: new Uint16Array(slots) };
}

/**
 * Accumulates `loop` scans into per-page counts on etmem's scale: each
 * scan that saw a page dirty (PTE_DIRTY, PMD_DIRTY) adds 3, accessed
 * adds 1. A page absent from the last scan
 * (unmapped, swapped, or now inside a hole) is reported not present.
 *
 * Pages are kept in typed arrays per range (one range per VMA), 4 bytes
 * per slot: 1 MiB per tracked GiB of 4 KiB slots, 2 KiB per GiB of a
 * hugetlb VMA's 2 MiB slots. Pages outside the ranges are not kept (the
 * tracker clips every run to its VMA first). A 2 MiB-slot range that
 * meets a smaller or unaligned page is re-cut to 4 KiB slots.
 */
export class AccessCounter {
  /** sorted by start, disjoint */
  private readonly segments: Segment[];
  private scans = 0;
  private lastSegment = 0;

  constructor(ranges: readonly CounterRange[]) {
    this.segments = [...ranges].sort((a, b) => a.start - b.start).map((r) => segment(r.start, r.end, r.slotBytes ?? PAGE_4K));
  }

  /** Records one scan's runs (all VMAs of it); call once per scan, in order. */
  addScan(runs: Iterable<IdlePagesRun>): void {
    this.beginScan();
    for (const r of runs) this.addRun(r.start, r.pageSizeBytes, r.pageCount, r.accessed, r.dirty);
  }

  /** Starts the next scan; its runs follow through addRun. */
  beginScan(): void {
    if (this.scans >= MAX_SCANS) throw new RangeError(`idle_pages counter: more than ${MAX_SCANS} scans in one cycle`);
    this.scans++;
  }

  /** One run of the current scan (a RunSink). */
  addRun(start: number, pageSizeBytes: number, pageCount: number, accessed: boolean, dirty: boolean): void {
    const cls = SIZE_CLASS.get(pageSizeBytes);
    if (cls === undefined) throw new RangeError(`idle_pages counter: page size ${pageSizeBytes}`);
    const weight = accessed ? (dirty ? WRITE_WEIGHT : READ_WEIGHT) : 0;
    const tag = this.scans;
    let k = 0;
    while (k < pageCount) {
      const addr = start + k * pageSizeBytes;
      const seg = this.segmentOf(addr, pageSizeBytes);
      if (!seg) {
        k++;
        continue;
      }
      // The pages of the run inside this segment, in one pass.
      const n = Math.min(pageCount - k, Math.floor((seg.end - addr) / pageSizeBytes));
      if (pageSizeBytes < seg.slotBytes || (addr - seg.start) % seg.slotBytes !== 0) regrain(seg);
      if ((addr - seg.start) % seg.slotBytes !== 0) throw new RangeError(`idle_pages counter: page 0x${addr.toString(16)} not 4 KiB aligned`);
      const step = pageSizeBytes / seg.slotBytes;
      const { sizeClass, lastSeen, count } = seg;
      for (let j = 0, s = (addr - seg.start) / seg.slotBytes; j < n; j++, s += step) {
        // A page that changed size (THP collapse or split) starts over.
        if (sizeClass[s] !== cls) {
          sizeClass[s] = cls;
          count[s] = 0;
          lastSeen[s] = 0;
        }
        // One observation per page per scan, even if a stream repeats it.
        if (lastSeen[s] === tag) continue;
        lastSeen[s] = tag;
        if (weight !== 0) count[s] = Math.min(0xffff, count[s]! + weight);
      }
      k += n;
    }
  }

  /** The segment holding [addr, addr + size), if any. */
  private segmentOf(addr: number, size: number): Segment | undefined {
    const segs = this.segments;
    const fits = (g: Segment | undefined): boolean => g !== undefined && addr >= g.start && addr + size <= g.end;
    if (fits(segs[this.lastSegment])) return segs[this.lastSegment];
    let lo = 0;
    let hi = segs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (segs[mid]!.end <= addr) lo = mid + 1;
      else if (segs[mid]!.start > addr) hi = mid - 1;
      else {
        if (!fits(segs[mid])) return undefined;
        this.lastSegment = mid;
        return segs[mid];
      }
    }
    return undefined;
  }

  get scanCount(): number {
    return this.scans;
  }

  /** Bytes of per-page state held (the typed arrays): 4 per slot. */
  stateBytes(): number {
    return this.segments.reduce((n, g) => n + g.sizeClass.byteLength + g.lastSeen.byteLength + g.count.byteLength, 0);
  }

  /** How many pages the last scan saw present (the node query's size). */
  presentCount(): number {
    const tag = this.scans;
    let n = 0;
    for (const g of this.segments) for (let s = 0; s < g.sizeClass.length; s++) if (g.sizeClass[s] !== 0 && g.lastSeen[s] === tag) n++;
    return n;
  }

  /** The addresses of the pages present in the last scan, ascending, one at a time (the node query walks them). */
  presentCursor(): PresentCursor {
    const tag = this.scans;
    const segs = this.segments;
    let k = 0;
    let s = 0;
    return {
      next: () => {
        for (; k < segs.length; k++, s = 0) {
          const g = segs[k]!;
          while (s < g.sizeClass.length) {
            const at = s++;
            if (g.sizeClass[at] !== 0 && g.lastSeen[at] === tag) return g.start + at * g.slotBytes;
          }
        }
        return NaN;
      },
    };
  }

  /**
   * Ranges sorted by start, adjacent pages of equal size, count, node and
   * presence merged. `nodeOf` gives a present page's node (-1 unknown).
   */
  toRanges(nodeOf: (address: number) => number): AccessRanges {
    const tag = this.scans;
    // A page that changed size between scans (THP collapse or split) leaves
    // pages of both sizes: the pages seen in the last scan win, and the
    // result never overlaps (the AccessMap contract).
    const ranges = new AccessRanges();
    let coveredUntil = -Infinity;
    // The furthest end of the last scan's pages met so far: a page not seen
    // last starting before it overlaps one that was.
    let freshEnd = -Infinity;
    for (const g of this.segments) {
      const { sizeClass, lastSeen, count, slotBytes } = g;
      for (let s = 0; s < sizeClass.length; s++) {
        const cls = sizeClass[s]!;
        if (cls === 0) continue;
        const addr = g.start + s * slotBytes;
        const size = CLASS_BYTES[cls]!;
        const present = lastSeen[s] === tag;
        if (present) freshEnd = Math.max(freshEnd, addr + size);
        else if (freshEnd > addr || freshStartsIn(g, s + 1, Math.min(sizeClass.length, s + size / slotBytes), tag)) continue;
        if (addr < coveredUntil) continue;
        coveredUntil = addr + size;
        ranges.appendPage(addr, size, count[s]!, present ? nodeOf(addr) : -1, present, false);
      }
    }
    return ranges;
  }
}

/** Does a page seen in scan `tag` start in slots [from, to) of `g`? */
function freshStartsIn(g: Segment, from: number, to: number, tag: number): boolean {
  for (let s = from; s < to; s++) if (g.sizeClass[s] !== 0 && g.lastSeen[s] === tag) return true;
  return false;
}

/** Re-cuts a segment to 4 KiB slots (a hugetlb VMA showing a smaller or unaligned page). */
function regrain(g: Segment): void {
  if (g.slotBytes === PAGE_4K) return;
  const fine = segment(g.start, g.end, PAGE_4K);
  const factor = g.slotBytes / PAGE_4K;
  for (let s = 0; s < g.sizeClass.length; s++) {
    fine.sizeClass[s * factor] = g.sizeClass[s]!;
    fine.lastSeen[s * factor] = g.lastSeen[s]!;
    fine.count[s * factor] = g.count[s]!;
  }
  Object.assign(g, { slotBytes: PAGE_4K, sizeClass: fine.sizeClass, lastSeen: fine.lastSeen, count: fine.count });
}

/** The kernel side of the idle_pages tracker. */
export interface IdlePagesIo {
  readVmas(pid: number): Promise<AccessMapVma[]>;
  /** One read pass of /proc/PID/idle_pages over [startVa, endVa) with the fd's ioctl `flags`. */
  readIdlePages(pid: number, startVa: number, endVa: number, flags: number): Promise<Uint8Array>;
  /** move_pages(pid, addrs, NULL): each page's node, or a negative errno. */
  pageNodes: PageNodesFn;
}

export { abortableSleep, type SleepFn } from '../sleep.js';
import { abortableSleep, type SleepFn } from '../sleep.js';

export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw abortError('scan cycle aborted');
}

export class IdlePagesTracker implements Tracker {
  readonly name = 'idle-pages';
  /** per-page state bytes of the last cycle (for tests and the memory bench) */
  lastStateBytes = 0;

  constructor(private readonly io: IdlePagesIo, private readonly sleep: SleepFn = abortableSleep) {}

  async scanCycle(target: ScanTarget, opts: ScanCycleOptions): Promise<AccessMap> {
    const { pid } = target;
    const vmas = filterVmas(await this.io.readVmas(pid), target.filter);
    // Hugetlb VMAs are reported at 2M granularity with SCAN_AS_HUGE (etmemd does the same for cslide).
    const counter = new AccessCounter(vmas.map((v) => ({ start: v.start, end: v.end, slotBytes: v.vmFlags.includes('ht') ? PAGE_2M : PAGE_4K })));
    const countRun: RunSink = (start, size, n, accessed, dirty) => counter.addRun(start, size, n, accessed, dirty);
    for (let scan = 0; scan < opts.loop; scan++) {
      throwIfAborted(opts.signal);
      if (scan > 0) await this.sleep(opts.intervalMs, opts.signal);
      counter.beginScan();
      // etmem's max_threads: this many VMAs read at once (each read has its own fd).
      // Each read is counted as it lands: VMAs are disjoint, so the order they land in changes nothing.
      await boundedMap(vmas, target.maxParallelRanges ?? 1, async (vma) => {
        const flags = (vma.vmFlags.includes('ht') ? SCAN_AS_HUGE : 0) | (target.ignHost ? SCAN_IGN_HOST : 0);
        const bytes = await this.io.readIdlePages(pid, vma.start, vma.end, flags);
        walkIdlePages(bytes, vma.start, (start, size, n, accessed, dirty) => clipRun(start, size, n, accessed, dirty, vma.start, vma.end, countRun));
      });
    }
    this.lastStateBytes = counter.stateBytes();
    const nodeOf = await pageNodeLookup(this.io.pageNodes, pid, counter.presentCount(), () => counter.presentCursor());
    return { pid, loop: opts.loop, tracker: this.name, timeMs: Date.now(), vmas, ranges: counter.toRanges(nodeOf) };
  }

  async close(): Promise<void> {
    // No kernel-side state: each read opens and closes its own fd.
  }
}

/** True when this kernel has etmem's idle_pages (the etmem_scan module loaded). */
export async function probeIdlePages(pid = process.pid, io: PlatformIO = liveIO): Promise<{ available: boolean; reason: string }> {
  if (await io.exists(`/proc/${pid}/idle_pages`)) return { available: true, reason: '' };
  return { available: false, reason: '/proc/PID/idle_pages is missing: it needs an openEuler kernel with the etmem_scan module (modprobe etmem_scan)' };
}

/** Bytes per read of idle_pages: the module fills at most this much per read(2). */
const IDLE_PAGES_READ_BYTES = 64 * 1024;

/** SET_HVA command bytes for `address`. */
export function setHvaBytes(address: number): Uint8Array {
  const out = new Uint8Array(9);
  out[0] = PIP_CMD_SET_HVA;
  let v = BigInt(address);
  for (let i = 8; i >= 1; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/**
 * The real kernel side: smaps through `io`, the idle_pages reads and
 * move_pages through `kernel` (whose addon loads on its first call, so
 * unit tests never need it).
 */
export async function nativeIdlePagesIo(kernel: KernelOps = liveKernel, io: PlatformIO = liveIO): Promise<IdlePagesIo> {
  return {
    readVmas: (pid) => readVmas(pid, io),
    async readIdlePages(pid, startVa, endVa, flags) {
      // One read(2) walks until its buffer is full; continue from where the
      // walk stopped (nextVa), prefixing each later chunk with a SET_HVA so
      // the concatenated stream decodes from the right cursor.
      const chunks: Uint8Array[] = [];
      let va = startVa;
      while (va < endVa) {
        const { data, nextVa } = await kernel.readIdlePages(`/proc/${pid}/idle_pages`, va, IDLE_PAGES_READ_BYTES, flags);
        if (data.length === 0) break;
        if (chunks.length > 0) chunks.push(setHvaBytes(va));
        chunks.push(data);
        if (nextVa <= va) break;
        va = nextVa;
      }
      return Buffer.concat(chunks);
    },
    pageNodes: (pid, addrs) => kernel.queryPageNodes(pid, addrs),
  };
}

/** The registry entry (memtierd's TrackerRegister): etmem's idle_pages over `io` and `kernel`. */
export const idlePagesTrackerEntry: TrackerEntry = {
  name: 'idle-pages',
  engines: ['slide', 'cslide'],
  memory: 'all guest RAM, hugetlb included (walks the process page tables and the EPT)',
  async probe(io: KernelFileIO, _kernel: KernelOps) {
    const { available, reason } = await probeIdlePages(process.pid, io);
    return { name: 'idle-pages', available, reason };
  },
  async create(io: KernelFileIO, kernel: KernelOps) {
    return new IdlePagesTracker(await nativeIdlePagesIo(kernel, io));
  },
};
