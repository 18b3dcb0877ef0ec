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
 *   So a scan reads the bits of the frames it marked first, then the
 *   pagemap, and checks each page as its entry is decoded: one PFN per
 *   page is all it keeps (PageIdleState, typed arrays, 6 bytes per 4 KiB
 *   page; issue 11 "memory bounded").
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
import type { AccessMap, AccessMapVma } from './access-map.js';
import { AccessRanges } from './access-ranges.js';
import type { ScanCycleOptions, ScanTarget, Tracker } from './tracker.js';
import { filterVmas, readVmas } from './proc-vmas.js';
import { abortableSleep, throwIfAborted, type SleepFn } from './idle-pages.js';
import { pageNodeLookup, type PageNodesFn, type PresentCursor } from './page-nodes.js';
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

/** Decodes entry `index` of a pagemap buffer (little-endian u64) without BigInt (the tracker decodes in place: PageIdleState.decode). */
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
  pageNodes: PageNodesFn;
}

/** One run of bitmap words: `count` u64 words from word `first`. */
interface WordRun { first: number; count: number }

/** Runs over the words of ascending PFNs: merged when at most WORD_GAP_MERGE apart. */
function wordRunsOfSorted(sortedPfns: ArrayLike<number>): WordRun[] {
  const runs: WordRun[] = [];
  for (let k = 0; k < sortedPfns.length; k++) {
    const w = Math.floor(sortedPfns[k]! / 64);
    const last = runs[runs.length - 1];
    if (last && w < last.first + last.count) continue;
    if (last && w - (last.first + last.count) < WORD_GAP_MERGE) last.count = w - last.first + 1;
    else runs.push({ first: w, count: 1 });
  }
  return runs;
}

/** Runs of word indexes to read or write: sorted, merged when at most WORD_GAP_MERGE apart. */
export function wordRuns(words: Iterable<number>): WordRun[] {
  // Word w holds PFNs 64w..64w+63: the runs of words are those of PFN 64w.
  return wordRunsOfSorted(Float64Array.from(words, (w) => w * 64).sort());
}

/** Builds the words that mark ascending `sortedPfns` idle (only their bits set), grouped in runs. */
function idleMarkWordsOfSorted(sortedPfns: ArrayLike<number>): Array<{ first: number; words: Buffer }> {
  const out = wordRunsOfSorted(sortedPfns).map((r) => ({ first: r.first, words: Buffer.alloc(r.count * 8) }));
  let run = 0;
  for (let k = 0; k < sortedPfns.length; k++) {
    const pfn = sortedPfns[k]!;
    const word = Math.floor(pfn / 64);
    while (word >= out[run]!.first + out[run]!.words.length / 8) run++;
    // Little-endian u64: bit b of word w is bit (b % 8) of byte 8w + b/8.
    out[run]!.words[(word - out[run]!.first) * 8 + ((pfn % 64) >> 3)]! |= 1 << (pfn % 8);
  }
  return out;
}

/** Builds the words that mark `pfns` idle (only their bits set), grouped in runs. */
export function idleMarkWords(pfns: Iterable<number>): Array<{ first: number; words: Buffer }> {
  return idleMarkWordsOfSorted(Float64Array.from(pfns).sort());
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

const PRESENT = 1;
const SWAPPED = 2;

/**
 * The per-page state of one page_idle cycle, in typed arrays: page i of
 * the cycle's VMAs (ascending) lives at index i, its address is its
 * segment's start + (i - firstIndex) * 4096 (no address stored), and:
 * - `pfnLow` (+ `pfnHigh` once a PFN needs more than 32 bits, i.e. above
 *   16 TiB of physical space): the frame of the latest snapshot, 0 when
 *   not present. It is also the frame marked idle after that snapshot,
 *   so the next snapshot is checked against it as it is decoded;
 * - `flags`: bit 0 present, bit 1 swapped;
 * - `counts`: scans in which the page was seen accessed.
 * 6 bytes per 4 KiB page (10 above 16 TiB), 1.5 MiB per tracked GiB.
 */
export class PageIdleState {
  /** [firstIndex0, start0, firstIndex1, start1, ...], ascending */
  readonly segments: Float64Array;
  readonly pageCount: number;
  private readonly pfnLow: Uint32Array;
  private pfnHigh?: Uint32Array;
  private readonly flags: Uint8Array;
  private readonly counts: Uint8Array | Uint16Array;
  private readonly countMax: number;

  /** `vmas` ascending and disjoint (as smaps lists them); `loop` bounds the counts. */
  constructor(vmas: ReadonlyArray<{ start: number; end: number }>, loop: number) {
    this.segments = new Float64Array(vmas.length * 2);
    let at = 0;
    vmas.forEach((v, k) => {
      this.segments[2 * k] = at;
      this.segments[2 * k + 1] = v.start;
      at += Math.floor((v.end - v.start) / PAGE);
    });
    this.pageCount = at;
    this.pfnLow = new Uint32Array(at);
    this.flags = new Uint8Array(at);
    this.counts = loop <= 0xff ? new Uint8Array(at) : new Uint16Array(at);
    this.countMax = loop <= 0xff ? 0xff : 0xffff;
  }

  /** Bytes of per-page state held (the typed arrays and the segment table). */
  stateBytes(): number {
    return this.segments.byteLength + this.pfnLow.byteLength + (this.pfnHigh?.byteLength ?? 0) + this.flags.byteLength + this.counts.byteLength;
  }

  pfn(i: number): number {
    return this.pfnLow[i]! + (this.pfnHigh ? this.pfnHigh[i]! * TWO_32 : 0);
  }

  /**
   * Takes the pagemap entries of pages [firstIndex, firstIndex + n) (a
   * little-endian u64 each: bit 63 present, bit 62 swapped, bits 0..54
   * PFN). With `bits`, each present page is counted accessed unless it
   * kept the frame marked idle and that frame's bit is still set (a new
   * frame was never marked: accessed).
   */
  decode(buf: Buffer, firstIndex: number, n: number, bits?: IdleBits): void {
    for (let k = 0; k < n; k++) {
      const i = firstIndex + k;
      const low = buf.readUInt32LE(k * 8);
      const high = buf.readUInt32LE(k * 8 + 4);
      const present = (high & 0x80000000) !== 0;
      const flags = (present ? PRESENT : 0) | ((high & 0x40000000) !== 0 ? SWAPPED : 0);
      const pfnLow = present ? low : 0;
      const pfnHigh = present ? high & 0x7fffff : 0;
      if (bits && present) {
        const pfn = pfnHigh * TWO_32 + pfnLow;
        const accessed = pfn === 0 || pfn !== this.pfn(i) || !bits.isIdle(pfn);
        if (accessed && this.counts[i]! < this.countMax) this.counts[i]!++;
      }
      this.pfnLow[i] = pfnLow;
      if (pfnHigh !== 0 && !this.pfnHigh) this.pfnHigh = new Uint32Array(this.pageCount);
      if (this.pfnHigh) this.pfnHigh[i] = pfnHigh;
      this.flags[i] = flags;
    }
  }

  /** Pages [firstIndex, firstIndex + n) as absent (past a short pagemap read). */
  clear(firstIndex: number, n: number): void {
    this.pfnLow.fill(0, firstIndex, firstIndex + n);
    this.pfnHigh?.fill(0, firstIndex, firstIndex + n);
    this.flags.fill(0, firstIndex, firstIndex + n);
  }

  /** Present pages in the latest snapshot, and how many of them show a PFN. */
  presence(): { present: number; withPfn: number } {
    let present = 0;
    let withPfn = 0;
    for (let i = 0; i < this.pageCount; i++) {
      if ((this.flags[i]! & PRESENT) === 0) continue;
      present++;
      if (this.pfnLow[i] !== 0 || (this.pfnHigh?.[i] ?? 0) !== 0) withPfn++;
    }
    return { present, withPfn };
  }

  /** The frames of the latest snapshot, ascending (sorted natively): those to mark idle, then to read back. */
  sortedFrames(): Uint32Array | Float64Array {
    let n = 0;
    for (let i = 0; i < this.pageCount; i++) if (this.pfn(i) > 0) n++;
    const out = this.pfnHigh ? new Float64Array(n) : new Uint32Array(n);
    for (let i = 0, k = 0; i < this.pageCount; i++) {
      const pfn = this.pfn(i);
      if (pfn > 0) out[k++] = pfn;
    }
    return out.sort();
  }

  /** How many pages the latest snapshot found present (the node query's size). */
  presentCount(): number {
    let n = 0;
    for (let i = 0; i < this.pageCount; i++) if ((this.flags[i]! & PRESENT) !== 0) n++;
    return n;
  }

  /** The present pages' addresses, ascending, one at a time (the node query walks them; nothing per page is built). */
  presentCursor(): PresentCursor {
    const segs = this.segments;
    let k = 0;
    let i = 0;
    return {
      next: () => {
        for (; k < segs.length; k += 2) {
          const first = segs[k]!;
          const end = k + 2 < segs.length ? segs[k + 2]! : this.pageCount;
          if (i < first) i = first;
          while (i < end) {
            const at = i++;
            if ((this.flags[at]! & PRESENT) !== 0) return segs[k + 1]! + (at - first) * PAGE;
          }
        }
        return NaN;
      },
    };
  }

  private forEachPage(fn: (i: number, addr: number) => void): void {
    const segs = this.segments;
    for (let k = 0; k < segs.length; k += 2) {
      const first = segs[k]!;
      const end = k + 2 < segs.length ? segs[k + 2]! : this.pageCount;
      for (let i = first; i < end; i++) fn(i, segs[k + 1]! + (i - first) * PAGE);
    }
  }

  /** Present or swapped pages of the latest snapshot as ranges (never-touched pages are left out). */
  toRanges(nodeOf: (address: number) => number): AccessRanges {
    const ranges = new AccessRanges();
    this.forEachPage((i, addr) => {
      const f = this.flags[i]!;
      if (f === 0) return;
      const present = (f & PRESENT) !== 0;
      const swapped = (f & SWAPPED) !== 0;
      ranges.appendPage(addr, PAGE, this.counts[i]!, present ? nodeOf(addr) : -1, present, swapped);
    });
    return ranges;
  }
}

/** Pagemap entries read at a time: 1 MiB buffers, so a 64 GiB VMA never needs one of 128 MiB. */
export const PAGEMAP_READ_PAGES = 128 * 1024;

export class PageIdleTracker implements Tracker {
  readonly name = 'page-idle';
  /** per-page state bytes of the last cycle (for tests and the memory bench) */
  lastStateBytes = 0;

  constructor(private readonly io: PageIdleIo, private readonly sleep: SleepFn = abortableSleep) {}

  /** Reads a snapshot into `state` (with `bits`: counting accesses against the frames marked). */
  private async snapshot(pid: number, vmas: readonly AccessMapVma[], state: PageIdleState, maxParallel: number, bits?: IdleBits): Promise<void> {
    // Ranges read max_threads at a time, each into its own indexes: the snapshot is the same in any order.
    await boundedMap(vmas, maxParallel, async (v, k) => {
      const first = state.segments[2 * k]!;
      const pages = Math.floor((v.end - v.start) / PAGE);
      for (let done = 0; done < pages;) {
        const want = Math.min(PAGEMAP_READ_PAGES, pages - done);
        const buf = await this.io.readPagemap(pid, v.start + done * PAGE, want);
        const n = Math.min(want, Math.floor(buf.length / 8));
        state.decode(buf, first + done, n, bits);
        done += n;
        if (n < want) {
          // A short read (the end of the address space): the rest of the range is not present.
          state.clear(first + done, pages - done);
          break;
        }
      }
    });
  }

  private async markIdle(sortedPfns: ArrayLike<number>): Promise<void> {
    for (const run of idleMarkWordsOfSorted(sortedPfns)) await this.io.writeBitmap(run.first, run.words);
  }

  private async readBits(sortedPfns: ArrayLike<number>): Promise<IdleBits> {
    const out: Array<{ first: number; words: Buffer }> = [];
    for (const r of wordRunsOfSorted(sortedPfns)) out.push({ first: r.first, words: await this.io.readBitmap(r.first, r.count) });
    return new IdleBits(out);
  }

  async scanCycle(target: ScanTarget, opts: ScanCycleOptions): Promise<AccessMap> {
    const { pid } = target;
    const vmas = filterVmas(await this.io.readVmas(pid), target.filter).filter((v) => !v.vmFlags.includes('ht'));
    // Pages by index in address order (smaps lists VMAs ascending; sorted here all the same).
    const ordered = [...vmas].sort((a, b) => a.start - b.start);
    const state = new PageIdleState(ordered, opts.loop);
    throwIfAborted(opts.signal);
    const maxParallel = target.maxParallelRanges ?? 1;
    await this.snapshot(pid, ordered, state, maxParallel);
    const { present, withPfn } = state.presence();
    if (present > 0 && withPfn === 0) {
      throw new SysError('EPERM', 1, 'read', `/proc/${pid}/pagemap shows no PFNs: page_idle needs CAP_SYS_ADMIN`);
    }
    await this.markIdle(state.sortedFrames());
    for (let scan = 0; scan < opts.loop; scan++) {
      await this.sleep(opts.intervalMs, opts.signal);
      throwIfAborted(opts.signal);
      // The bits of the frames marked last, read before the pages are: a
      // page whose frame changed is accessed whatever its new frame's bit says.
      const bits = await this.readBits(state.sortedFrames());
      await this.snapshot(pid, ordered, state, maxParallel, bits);
      await this.markIdle(state.sortedFrames());
    }
    this.lastStateBytes = state.stateBytes();
    const nodeOf = await pageNodeLookup(this.io.pageNodes, pid, state.presentCount(), () => state.presentCursor());
    return { pid, loop: opts.loop, tracker: this.name, timeMs: Date.now(), vmas, ranges: state.toRanges(nodeOf) };
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
