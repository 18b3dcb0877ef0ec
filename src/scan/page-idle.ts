/**
 * The page_idle tracker: /proc/PID/pagemap gives each present page's PFN,
 * /sys/kernel/mm/page_idle/bitmap holds one "idle" bit per PFN
 * (Documentation/admin-guide/mm/idle_page_tracking.rst). A cycle marks the
 * task's pages idle, then `loop` times: waits `interval`, reads the bits
 * back (a bit still set = not accessed since it was marked; cleared = the
 * page was accessed) and marks them idle again. KVM guest accesses are seen
 * through the MMU notifiers (page_idle clears the young bit via rmap).
 *
 * Bookkeeping:
 * - pagemap entry (u64 per 4 KiB page): bit 63 present, bit 62 swapped,
 *   bits 0..54 PFN (zero without CAP_SYS_ADMIN) (fs/proc/task_mmu.c);
 * - bitmap: u64 word `pfn / 64`, bit `pfn % 64`; reads and writes must be
 *   whole, 8-byte aligned words (mm/page_idle.c);
 * - a page whose PFN changed since it was marked (migrated, or faulted in
 *   anew) counts as accessed in that scan: its fresh frame was never marked.
 * Hugetlb pages are not on the LRU, so page_idle never reports them idle:
 * `ht` VMAs are skipped (use the DAMON or idle_pages tracker for them).
 *
 * The kernel is reached through an injected PageIdleIo (file paths for
 * pagemap, bitmap and smaps), so fixture tests run it on files in a temp dir.
 * smaps and pagemap are read through a KernelFileIO (src/platform/io.ts);
 * the bitmap only through the addon's readIdleBitmap/writeIdleBitmap
 * (KernelOps). One path, and that one: the addon already enforces the
 * whole-8-byte-word rule of mm/page_idle.c (a partial word is EINVAL from
 * the kernel) and is covered by test/integration/native-idle.test.ts, so
 * reusing it costs one copy between Buffer and BigUint64Array per run,
 * while dropping it would have meant a second word-aligned writer here.
 */
import type { AccessMap, AccessMapVma, AccessRange } from './access-map.js';
import type { ScanCycleOptions, ScanTarget, Tracker } from './tracker.js';
import { filterVmas, readVmas } from './proc-vmas.js';
import { abortableSleep, nodesByAddress, throwIfAborted, type SleepFn } from './idle-pages.js';
import { SysError } from '../native/errors.js';
import { processGone } from '../errors.js';
import { liveKernel, type KernelOps } from '../native/kernel.js';
import { liveIO, type KernelFileIO, type BinaryIO } from '../platform/io.js';
import type { TrackerEntry } from './tracker.js';
import { boundedMap } from './bounded-map.js';

export const PAGE_IDLE_BITMAP = '/sys/kernel/mm/page_idle/bitmap';
const PAGE = 4096;
const TWO_32 = 2 ** 32;
/** Words read in one go when PFN runs are this close (fewer syscalls, little waste). */
const WORD_GAP_MERGE = 8;

/** One pagemap entry, decoded. */
export interface PagemapEntry {
  present: boolean;
  swapped: boolean;
  /** 0 when not present or hidden (no CAP_SYS_ADMIN) */
  pfn: number;
}

/** Decodes entry `index` of a pagemap buffer (little-endian u64) without BigInt. */
export function decodePagemapEntry(buf: Buffer, index: number): PagemapEntry {
  const low = buf.readUInt32LE(index * 8);
  const high = buf.readUInt32LE(index * 8 + 4);
  const present = (high & 0x80000000) !== 0;
  const swapped = (high & 0x40000000) !== 0;
  const pfn = present ? (high & 0x7fffff) * TWO_32 + low : 0;
  return { present, swapped, pfn };
}

/** The kernel side of the page_idle tracker. */
export interface PageIdleIo {
  readVmas(pid: number): Promise<AccessMapVma[]>;
  /** `pageCount` pagemap entries (8 bytes each) from `startVa`. */
  readPagemap(pid: number, startVa: number, pageCount: number): Promise<Buffer>;
  /** `wordCount` u64 bitmap words from word `firstWord` (bytes). */
  readBitmap(firstWord: number, wordCount: number): Promise<Buffer>;
  /** Writes u64 words from `firstWord`: set bits mark PFNs idle, clear bits change nothing. */
  writeBitmap(firstWord: number, words: Buffer): Promise<void>;
  pageNodes(pid: number, addrs: Float64Array): Promise<Int32Array>;
}

/** Runs of word indexes to read or write: sorted, merged when at most WORD_GAP_MERGE apart. */
export function wordRuns(words: Iterable<number>): Array<{ first: number; count: number }> {
  const sorted = [...new Set(words)].sort((a, b) => a - b);
  const runs: Array<{ first: number; count: number }> = [];
  for (const w of sorted) {
    const last = runs[runs.length - 1];
    if (last && w - (last.first + last.count) < WORD_GAP_MERGE) last.count = w - last.first + 1;
    else runs.push({ first: w, count: 1 });
  }
  return runs;
}

/** Builds the words that mark `pfns` idle (only their bits set), grouped in runs. */
export function idleMarkWords(pfns: Iterable<number>): Array<{ first: number; words: Buffer }> {
  const sorted = [...pfns].sort((a, b) => a - b);
  const out = wordRuns(sorted.map((p) => Math.floor(p / 64))).map((r) => ({ first: r.first, words: Buffer.alloc(r.count * 8) }));
  let run = 0;
  for (const pfn of sorted) {
    const word = Math.floor(pfn / 64);
    while (word >= out[run]!.first + out[run]!.words.length / 8) run++;
    // Little-endian u64: bit b of word w is bit (b % 8) of byte 8w + b/8.
    out[run]!.words[(word - out[run]!.first) * 8 + ((pfn % 64) >> 3)]! |= 1 << (pfn % 8);
  }
  return out;
}

/** A bitmap snapshot over some word runs (sorted, disjoint): is `pfn` still marked idle? */
export class IdleBits {
  constructor(private readonly runs: Array<{ first: number; words: Buffer }>) {}

  isIdle(pfn: number): boolean {
    const word = Math.floor(pfn / 64);
    let lo = 0;
    let hi = this.runs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = this.runs[mid]!;
      if (word < r.first) hi = mid - 1;
      else if (word >= r.first + r.words.length / 8) lo = mid + 1;
      else return ((r.words[(word - r.first) * 8 + ((pfn % 64) >> 3)] ?? 0) & (1 << (pfn % 8))) !== 0;
    }
    return false;
  }
}

interface PageCount {
  accessCount: number;
}

/** Counts, per page address, the scans in which the page was seen accessed. */
export class PageIdleCounter {
  private readonly counts = new Map<number, PageCount>();
  private marked = new Map<number, number>();
  private lastSnapshot = new Map<number, PagemapEntry>();

  /** The PFNs to mark idle after a pagemap snapshot (and remembers them). */
  mark(snapshot: Map<number, PagemapEntry>): number[] {
    this.marked = new Map();
    for (const [addr, e] of snapshot) if (e.present && e.pfn > 0) this.marked.set(addr, e.pfn);
    this.lastSnapshot = snapshot;
    return [...this.marked.values()];
  }

  /** Records one observation: pages present now, read against the bits marked last time. */
  observe(snapshot: Map<number, PagemapEntry>, bits: IdleBits): void {
    for (const [addr, e] of snapshot) {
      let c = this.counts.get(addr);
      if (!c) this.counts.set(addr, (c = { accessCount: 0 }));
      if (!e.present) continue;
      const markedPfn = this.marked.get(addr);
      const accessed = markedPfn !== e.pfn || !bits.isIdle(e.pfn);
      if (accessed) c.accessCount++;
    }
  }

  /** PFNs whose bits an observation of `snapshot` needs. */
  static pfnsOf(snapshot: Map<number, PagemapEntry>): number[] {
    const out: number[] = [];
    for (const e of snapshot.values()) if (e.present && e.pfn > 0) out.push(e.pfn);
    return out;
  }

  /** Addresses of the pages present in the last snapshot, ascending. */
  presentAddresses(): number[] {
    return [...this.lastSnapshot.entries()].filter(([, e]) => e.present).map(([a]) => a).sort((a, b) => a - b);
  }

  /** Present or swapped pages of the last snapshot as ranges (never-touched pages are left out). */
  toRanges(nodeOf: (address: number) => number): AccessRange[] {
    const ranges: AccessRange[] = [];
    const addrs = [...this.lastSnapshot.keys()].sort((a, b) => a - b);
    for (const addr of addrs) {
      const e = this.lastSnapshot.get(addr)!;
      if (!e.present && !e.swapped) continue;
      const accessCount = this.counts.get(addr)?.accessCount ?? 0;
      const node = e.present ? nodeOf(addr) : -1;
      const prev = ranges[ranges.length - 1];
      if (prev && prev.start + prev.pageCount * PAGE === addr && prev.accessCount === accessCount && prev.node === node && prev.present === e.present && prev.swapped === e.swapped) {
        prev.pageCount++;
      } else {
        ranges.push({ start: addr, pageCount: 1, pageSizeBytes: PAGE, accessCount, node, present: e.present, swapped: e.swapped });
      }
    }
    return ranges;
  }
}

export class PageIdleTracker implements Tracker {
  readonly name = 'page-idle';

  constructor(private readonly io: PageIdleIo, private readonly sleep: SleepFn = abortableSleep) {}

  private async snapshot(pid: number, vmas: readonly AccessMapVma[], maxParallel: number): Promise<Map<number, PagemapEntry>> {
    const snap = new Map<number, PagemapEntry>();
    // Ranges read max_threads at a time, decoded in address order: the snapshot is the same either way.
    const bufs = await boundedMap(vmas, maxParallel, (v) => this.io.readPagemap(pid, v.start, Math.floor((v.end - v.start) / PAGE)));
    for (const [k, v] of vmas.entries()) {
      const pages = Math.floor((v.end - v.start) / PAGE);
      const buf = bufs[k]!;
      const n = Math.min(pages, Math.floor(buf.length / 8));
      for (let i = 0; i < n; i++) {
        const e = decodePagemapEntry(buf, i);
        if (e.present || e.swapped) snap.set(v.start + i * PAGE, e);
      }
    }
    return snap;
  }

  private async markIdle(pfns: number[]): Promise<void> {
    for (const run of idleMarkWords(pfns)) await this.io.writeBitmap(run.first, run.words);
  }

  private async readBits(pfns: number[]): Promise<IdleBits> {
    const runs = wordRuns(pfns.map((p) => Math.floor(p / 64)));
    const out: Array<{ first: number; words: Buffer }> = [];
    for (const r of runs) out.push({ first: r.first, words: await this.io.readBitmap(r.first, r.count) });
    return new IdleBits(out);
  }

  async scanCycle(target: ScanTarget, opts: ScanCycleOptions): Promise<AccessMap> {
    const { pid } = target;
    const vmas = filterVmas(await this.io.readVmas(pid), target.filter).filter((v) => !v.vmFlags.includes('ht'));
    const counter = new PageIdleCounter();
    throwIfAborted(opts.signal);
    const maxParallel = target.maxParallelRanges ?? 1;
    const first = await this.snapshot(pid, vmas, maxParallel);
    const firstPfns = counter.mark(first);
    if (first.size > 0 && firstPfns.length === 0 && [...first.values()].some((e) => e.present)) {
      throw new SysError('EPERM', 1, 'read', `/proc/${pid}/pagemap shows no PFNs: page_idle needs CAP_SYS_ADMIN`);
    }
    await this.markIdle(firstPfns);
    for (let scan = 0; scan < opts.loop; scan++) {
      await this.sleep(opts.intervalMs, opts.signal);
      throwIfAborted(opts.signal);
      const snap = await this.snapshot(pid, vmas, maxParallel);
      counter.observe(snap, await this.readBits(PageIdleCounter.pfnsOf(snap)));
      await this.markIdle(counter.mark(snap));
    }
    const nodes = await nodesByAddress(this.io.pageNodes, pid, counter.presentAddresses());
    return { pid, loop: opts.loop, tracker: this.name, timeMs: Date.now(), vmas, ranges: counter.toRanges((a) => nodes.get(a) ?? -1) };
  }

  async close(): Promise<void> {
    // Nothing kept open between cycles.
  }
}

function gone(pid: number, err: unknown): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ESRCH' ? processGone(pid, { syscall: 'read', path: `/proc/${pid}/pagemap` }) : err;
}

export interface FilePageIdleIoOptions {
  pagemapPath?: (pid: number) => string;
  smapsPath?: (pid: number) => string;
  bitmapPath?: string;
  /** move_pages(pid, addrs, NULL); default: kernel.queryPageNodes */
  pageNodes?: PageIdleIo['pageNodes'];
  /** smaps and pagemap reads; default liveIO */
  io?: KernelFileIO;
  /** bitmap reads/writes and node queries; default liveKernel */
  kernel?: KernelOps;
}

/** PageIdleIo over files: the real /proc and /sys paths by default, a temp dir in fixture tests. */
export function filePageIdleIo(opts: FilePageIdleIoOptions = {}): PageIdleIo {
  const pagemapPath = opts.pagemapPath ?? ((pid: number) => `/proc/${pid}/pagemap`);
  const smapsPath = opts.smapsPath ?? ((pid: number) => `/proc/${pid}/smaps`);
  const bitmapPath = opts.bitmapPath ?? PAGE_IDLE_BITMAP;
  const io = opts.io ?? liveIO;
  const kernel = opts.kernel ?? liveKernel;
  return {
    readVmas: (pid) => readVmas(pid, io, smapsPath(pid)),
    async readPagemap(pid, startVa, pageCount) {
      try {
        return await io.readBytes(pagemapPath(pid), (startVa / PAGE) * 8, pageCount * 8);
      } catch (err) {
        throw gone(pid, err);
      }
    },
    async readBitmap(firstWord, wordCount) {
      const words = await kernel.readIdleBitmap(bitmapPath, firstWord, wordCount);
      const buf = Buffer.alloc(wordCount * 8);
      // Past the end of the bitmap, words read as 0 (accessed): only PFNs that exist have bits.
      buf.set(new Uint8Array(words.buffer, words.byteOffset, words.byteLength));
      return buf;
    },
    async writeBitmap(firstWord, words) {
      // A fresh, 8-byte aligned copy: a Buffer may sit at any offset of its pool.
      const aligned = new BigUint64Array(words.length / 8);
      new Uint8Array(aligned.buffer).set(words);
      await kernel.writeIdleBitmap(bitmapPath, firstWord, aligned);
    },
    pageNodes: opts.pageNodes ?? ((pid, addrs) => kernel.queryPageNodes(pid, addrs)),
  };
}

/**
 * True when this kernel has page_idle (CONFIG_IDLE_PAGE_TRACKING) and we
 * may read it: the bitmap is mode 0600 root, so the probe opens it for
 * reading (a zero-byte read), which fails with EACCES where an exists
 * check would not.
 */
export async function probePageIdle(bitmapPath = PAGE_IDLE_BITMAP, io: BinaryIO = liveIO): Promise<{ available: boolean; reason: string }> {
  try {
    await io.readBytes(bitmapPath, 0, 0);
    return { available: true, reason: '' };
  } catch (err) {
    return { available: false, reason: `${bitmapPath}: ${(err as NodeJS.ErrnoException).code ?? String(err)}: page_idle needs a kernel built with CONFIG_IDLE_PAGE_TRACKING, and root` };
  }
}

/** The registry entry (memtierd's TrackerRegister): probe and build the page_idle tracker over `io` and `kernel`. */
export const pageIdleTrackerEntry: TrackerEntry = {
  name: 'page-idle',
  // hugetlb pages are not on the LRU, so page_idle never reports them idle (mm/page_idle.c).
  engines: ['slide'],
  memory: 'LRU memory per 4 KiB page: anonymous, THP, shmem; not hugetlb (slide only)',
  async probe(io, _kernel) {
    const { available, reason } = await probePageIdle(PAGE_IDLE_BITMAP, io);
    return { name: 'page-idle', available, reason };
  },
  async create(io, kernel) {
    return new PageIdleTracker(filePageIdleIo({ io, kernel }));
  },
};
