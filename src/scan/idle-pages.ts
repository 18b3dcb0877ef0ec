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
import type { AccessMap, AccessMapVma, AccessRange } from './access-map.js';
import type { ScanCycleOptions, ScanTarget, Tracker } from './tracker.js';
import { filterVmas, readVmas } from './proc-vmas.js';
import { VirtTierError, abortError } from '../errors.js';
import { liveKernel, type KernelOps } from '../native/kernel.js';
import { liveIO, type KernelFileIO, type PlatformIO } from '../platform/io.js';
import type { TrackerEntry } from './tracker.js';
import { boundedMap } from './bounded-map.js';

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

/**
 * Decodes one read of idle_pages into runs of present pages (holes are
 * dropped). `startAddress` is the VA the read started at (the file offset).
 * Throws on an unknown type or command, or a truncated SET_HVA.
 */
export function decodeIdlePages(bytes: Uint8Array, startAddress: number): IdlePagesRun[] {
  const runs: IdlePagesRun[] = [];
  let cursor = startAddress;
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
      i += 9;
      continue;
    }
    const info = TYPES[type];
    if (!info) throw streamError(i, `unknown page type ${type} (byte 0x${b.toString(16)})`);
    if (nr > 0 && !info.hole) {
      const pageCount = (nr * info.spanBytes) / info.pageSizeBytes;
      const last = runs[runs.length - 1];
      // Adjacent items of the same kind form one run (the kernel caps nr at 15).
      if (last && last.start + last.pageCount * last.pageSizeBytes === cursor && last.pageSizeBytes === info.pageSizeBytes && last.accessed === info.accessed && last.dirty === info.dirty) {
        last.pageCount += pageCount;
      } else {
        runs.push({ start: cursor, pageSizeBytes: info.pageSizeBytes, pageCount, accessed: info.accessed, dirty: info.dirty });
      }
    }
    cursor += nr * info.spanBytes;
    i += 1;
  }
  return runs;
}

/** Cuts runs to [start, end). */
export function clipRuns(runs: readonly IdlePagesRun[], start: number, end: number): IdlePagesRun[] {
  const out: IdlePagesRun[] = [];
  for (const r of runs) {
    const rEnd = r.start + r.pageCount * r.pageSizeBytes;
    const s = Math.max(r.start, start);
    const e = Math.min(rEnd, end);
    if (e <= s) continue;
    // Keep whole pages only (a page straddling the bound belongs to no VMA here).
    const first = Math.ceil((s - r.start) / r.pageSizeBytes);
    const lastExclusive = Math.floor((e - r.start) / r.pageSizeBytes);
    if (lastExclusive > first) out.push({ ...r, start: r.start + first * r.pageSizeBytes, pageCount: lastExclusive - first });
  }
  return out;
}

/** etmem's weights (etmemd_scan.h READ_TYPE_WEIGHT, WRITE_TYPE_WEIGHT): why slide's T runs to loop * 3. */
export const READ_WEIGHT = 1;
export const WRITE_WEIGHT = 3;

interface PageState {
  pageSizeBytes: number;
  accessCount: number;
  /** last scan (0-based) that saw the page present */
  lastSeenScan: number;
}

/**
 * Accumulates `loop` scans into per-page counts on etmem's scale: each
 * scan that saw a page dirty (PTE_DIRTY, PMD_DIRTY) adds 3, accessed
 * adds 1. A page absent from the last scan
 * (unmapped, swapped, or now inside a hole) is reported not present.
 */
export class AccessCounter {
  private readonly pages = new Map<number, PageState>();
  private scans = 0;

  /** Records one scan's runs (all VMAs of it); call once per scan, in order. */
  addScan(runs: Iterable<IdlePagesRun>): void {
    const scan = this.scans++;
    for (const r of runs) {
      for (let k = 0; k < r.pageCount; k++) {
        const addr = r.start + k * r.pageSizeBytes;
        let p = this.pages.get(addr);
        if (!p || p.pageSizeBytes !== r.pageSizeBytes) {
          p = { pageSizeBytes: r.pageSizeBytes, accessCount: 0, lastSeenScan: -1 };
          this.pages.set(addr, p);
        }
        // One observation per page per scan, even if a stream repeats it.
        if (p.lastSeenScan === scan) continue;
        p.lastSeenScan = scan;
        if (r.accessed) p.accessCount += r.dirty ? WRITE_WEIGHT : READ_WEIGHT;
      }
    }
  }

  get scanCount(): number {
    return this.scans;
  }

  /** Addresses of the pages present in the last scan, ascending (for move_pages). */
  presentAddresses(): number[] {
    const last = this.scans - 1;
    return [...this.pages.entries()].filter(([, p]) => p.lastSeenScan === last).map(([a]) => a).sort((a, b) => a - b);
  }

  /**
   * Ranges sorted by start, adjacent pages of equal size, count, node and
   * presence merged. `nodeOf` gives a present page's node (-1 unknown).
   */
  toRanges(nodeOf: (address: number) => number): AccessRange[] {
    const last = this.scans - 1;
    const sorted = [...this.pages.entries()].sort((a, b) => a[0] - b[0]);
    // A page that changed size between scans (THP collapse or split) leaves
    // entries of both sizes: the pages seen in the last scan win, and the
    // result never overlaps (the AccessMap contract).
    const fresh = sorted.filter(([, p]) => p.lastSeenScan === last);
    const overlapsFresh = (start: number, end: number): boolean => {
      let lo = 0;
      let hi = fresh.length - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        const [fStart, f] = fresh[mid]!;
        if (fStart + f.pageSizeBytes <= start) lo = mid + 1;
        else if (fStart >= end) hi = mid - 1;
        else return true;
      }
      return false;
    };
    const ranges: AccessRange[] = [];
    let coveredUntil = -Infinity;
    for (const [addr, p] of sorted) {
      const present = p.lastSeenScan === last;
      if (addr < coveredUntil || (!present && overlapsFresh(addr, addr + p.pageSizeBytes))) continue;
      coveredUntil = addr + p.pageSizeBytes;
      const node = present ? nodeOf(addr) : -1;
      const prev = ranges[ranges.length - 1];
      if (prev && prev.start + prev.pageCount * prev.pageSizeBytes === addr && prev.pageSizeBytes === p.pageSizeBytes && prev.accessCount === p.accessCount && prev.node === node && prev.present === present) {
        prev.pageCount++;
      } else {
        ranges.push({ start: addr, pageCount: 1, pageSizeBytes: p.pageSizeBytes, accessCount: p.accessCount, node, present, swapped: false });
      }
    }
    return ranges;
  }
}

/** The kernel side of the idle_pages tracker. */
export interface IdlePagesIo {
  readVmas(pid: number): Promise<AccessMapVma[]>;
  /** One read pass of /proc/PID/idle_pages over [startVa, endVa) with the fd's ioctl `flags`. */
  readIdlePages(pid: number, startVa: number, endVa: number, flags: number): Promise<Uint8Array>;
  /** move_pages(pid, addrs, NULL): each page's node, or a negative errno. */
  pageNodes(pid: number, addrs: Float64Array): Promise<Int32Array>;
}

export { abortableSleep, type SleepFn } from '../sleep.js';
import { abortableSleep, type SleepFn } from '../sleep.js';

export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw abortError('scan cycle aborted');
}

/** Looks up nodes for `addresses` in one move_pages call; pages it cannot place get -1. */
export async function nodesByAddress(pageNodes: IdlePagesIo['pageNodes'], pid: number, addresses: number[]): Promise<Map<number, number>> {
  const map = new Map<number, number>();
  if (addresses.length === 0) return map;
  const status = await pageNodes(pid, Float64Array.from(addresses));
  addresses.forEach((a, i) => map.set(a, (status[i] ?? -1) >= 0 ? status[i]! : -1));
  return map;
}

export class IdlePagesTracker implements Tracker {
  readonly name = 'idle-pages';

  constructor(private readonly io: IdlePagesIo, private readonly sleep: SleepFn = abortableSleep) {}

  async scanCycle(target: ScanTarget, opts: ScanCycleOptions): Promise<AccessMap> {
    const { pid } = target;
    const vmas = filterVmas(await this.io.readVmas(pid), target.filter);
    // Hugetlb VMAs are reported at 2M granularity with SCAN_AS_HUGE (etmemd does the same for cslide).
    const counter = new AccessCounter();
    for (let scan = 0; scan < opts.loop; scan++) {
      throwIfAborted(opts.signal);
      if (scan > 0) await this.sleep(opts.intervalMs, opts.signal);
      const runs: IdlePagesRun[] = [];
      // etmem's max_threads: this many VMAs read at once (each read has its own fd); decoded in VMA order.
      const reads = await boundedMap(vmas, target.maxParallelRanges ?? 1, (vma) => {
        const flags = (vma.vmFlags.includes('ht') ? SCAN_AS_HUGE : 0) | (target.ignHost ? SCAN_IGN_HOST : 0);
        return this.io.readIdlePages(pid, vma.start, vma.end, flags);
      });
      for (const [k, vma] of vmas.entries()) runs.push(...clipRuns(decodeIdlePages(reads[k]!, vma.start), vma.start, vma.end));
      counter.addScan(runs);
    }
    const nodes = await nodesByAddress(this.io.pageNodes, pid, counter.presentAddresses());
    return { pid, loop: opts.loop, tracker: this.name, timeMs: Date.now(), vmas, ranges: counter.toRanges((a) => nodes.get(a) ?? -1) };
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
