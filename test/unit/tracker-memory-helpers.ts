/**
 * A synthetic kernel for the per-page memory of the page_idle, idle_pages
 * and damon-paddr trackers (test/unit/tracker-memory.test.ts and
 * bench/tracker-memory.ts): one VMA, every page present, frames in runs of
 * 64 spread over four times the physical space, one page in five accessed
 * in every scan. No fixture file: the point is size, and the shapes are
 * those the recorded fixtures pin (test/unit/page-idle*.test.ts,
 * test/unit/idle-pages.test.ts).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { AccessMapVma } from '../../src/scan/access-map.js';
import { IdlePageType, type IdlePagesIo } from '../../src/scan/idle-pages.js';
import type { PageIdleIo } from '../../src/scan/page-idle.js';
import type { AggregatedSource } from '../../src/scan/damon-paddr.js';
import { KDAMONDS } from '../../src/scan/damon-sysfs.js';
import { MemoryIO } from '../../src/platform/io.js';
import type { MemoryBlockMap } from '../../src/platform/memory-blocks.js';
import type { AggregatedEvent } from '../../src/platform/tracefs.js';
import type { KernelOps } from '../../src/native/kernel.js';

const PAGE = 4096;
const M2 = 2 * 1024 * 1024;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Live bytes (V8 heap + array buffers) after full collections: what is held, not garbage. */
export function liveBytes(): number {
  // Twice: array buffers freed by the first collection are only counted off after it.
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

/** Frame of page i: runs of 64 contiguous frames, the runs spread over four times the space. */
export const pfnOf = (i: number): number => 0x10000 + Math.floor(i / 64) * 256 + (i % 64);

/** Nodes in 2 MiB blocks, alternating between 0 and 1. */
export const syntheticPageNodes = async (_pid: number, addrs: Float64Array): Promise<Int32Array> => Int32Array.from(addrs, (a) => Math.floor(a / M2) % 2);

/** The page_idle kernel: pagemap entries and an in-memory idle bitmap; `touch` is the guest's accesses between scans. */
export function syntheticPageIdle(vma: AccessMapVma, pageNodes = syntheticPageNodes): { io: PageIdleIo; touch(): void } {
  const pages = (vma.end - vma.start) / PAGE;
  const bitmap = Buffer.alloc((Math.ceil(pfnOf(pages) / 64) + 8) * 8);
  return {
    touch() {
      for (let i = 0; i < pages; i += 5) bitmap[pfnOf(i) >> 3]! &= ~(1 << (pfnOf(i) & 7));
    },
    io: {
      readVmas: async () => [{ ...vma }],
      readPagemap: async (_pid, startVa, count) => {
        const buf = Buffer.alloc(count * 8);
        const first = (startVa - vma.start) / PAGE;
        for (let k = 0; k < count; k++) {
          buf.writeUInt32LE(pfnOf(first + k), k * 8);
          buf.writeUInt32LE(0x80000000, k * 8 + 4);
        }
        return buf;
      },
      readBitmap: async (firstWord, wordCount) => Buffer.from(bitmap.subarray(firstWord * 8, (firstWord + wordCount) * 8)),
      writeBitmap: async (firstWord, words) => {
        for (let b = 0; b < words.length; b++) bitmap[firstWord * 8 + b]! |= words[b]!;
      },
      pageNodes,
    },
  };
}

/** etmem's idle_pages: per five pages one accessed, four idle; 2 MiB entries in an `ht` VMA (SCAN_AS_HUGE). */
export function syntheticIdlePages(vma: AccessMapVma, pageNodes = syntheticPageNodes): IdlePagesIo {
  const huge = vma.vmFlags.includes('ht');
  return {
    readVmas: async () => [{ ...vma }],
    readIdlePages: async (_pid, startVa, endVa) => {
      const n = (endVa - startVa) / (huge ? M2 : PAGE);
      const [accessed, idle] = huge ? [IdlePageType.PMD_ACCESSED, IdlePageType.PMD_IDLE] : [IdlePageType.PTE_ACCESSED, IdlePageType.PTE_IDLE];
      const out = new Uint8Array(Math.ceil(n / 5) * 2);
      let o = 0;
      for (let i = 0; i < n; i += 5) {
        out[o++] = (accessed << 4) | 1;
        if (n - i - 1 > 0) out[o++] = (idle << 4) | Math.min(4, n - i - 1);
      }
      return out.subarray(0, o);
    },
    pageNodes,
  };
}

// ---- damon-paddr: a shared (or our own) kdamond, pagemap PFNs and tracepoint windows. ----

/** Frames of the damon-paddr kernel start at 4 GiB and spread over four times the target. */
const PADDR_BASE_PFN = (4 * 2 ** 30) / PAGE;

/**
 * Frame of page i of the damon-paddr kernel:
 * - 'thp': each 2 MiB of the VMA is one 2 MiB-aligned run of 512 frames,
 *   the runs in shuffled order (THP-backed guest RAM);
 * - '4k': every page a frame of its own, no two neighbours contiguous
 *   (scattered 4 KiB memory, the worst case for runs).
 * Both are one-to-one: slot k * 7919 mod 4n, 7919 prime to the power-of-two n.
 */
export function paddrPfnOf(layout: 'thp' | '4k', pages: number, i: number): number {
  if (layout === 'thp') return PADDR_BASE_PFN + ((Math.floor(i / 512) * 7919) % (4 * Math.ceil(pages / 512))) * 512 + (i % 512);
  return PADDR_BASE_PFN + ((i * 7919) % (4 * pages));
}

/** DAMON sysfs in memory, except each region's start and end: kept as numbers (16 bytes a region), so the kernel's copy weighs little beside the tracker. */
class PaddrSysfs extends MemoryIO {
  regionStarts: number[] = [];
  regionEnds: number[] = [];
  override async writeText(p: string, text: string): Promise<void> {
    const m = /\/targets\/0\/regions\/(\d+)\/(start|end)$/.exec(p);
    if (m) (m[2] === 'start' ? this.regionStarts : this.regionEnds)[Number(m[1])] = Number(text);
    else return super.writeText(p, text);
  }
}

export interface SyntheticPaddr {
  io: MemoryIO;
  kernel: KernelOps;
  source: AggregatedSource;
  blocks: MemoryBlockMap;
  /** called with each pagemap read's arrays, each drain, and the first node lookup of a cycle (when `measure` is on) */
  hooks: { read(): void; drain(): void; node(): void };
  /** before each cycle: the windows are the next cycle's */
  beginCycle(): void;
  /** a MemoryBlockMap whose first read of nodeByBlock in a cycle calls hooks.node */
  watchedBlocks(): MemoryBlockMap;
}

/**
 * The damon-paddr kernel: one VMA, every page present at paddrPfnOf's
 * frames; shared mode: another user's kdamond over all of the frames,
 * 1000 regions a window that move from window to window (as DAMON's
 * adaptive regions do), three windows a cycle; owned mode: one window
 * over the regions the tracker wrote. Counts are seeded random, 10
 * samples a window; nodes in 128 MiB blocks, alternating 0 and 1.
 */
export function syntheticPaddr(vma: AccessMapVma, layout: 'thp' | '4k', mode: 'shared' | 'owned'): SyntheticPaddr {
  const pages = (vma.end - vma.start) / PAGE;
  const pfns = Float64Array.from({ length: pages }, (_, i) => paddrPfnOf(layout, pages, i));
  const framesBytes = 4 * pages * PAGE;
  const io = new PaddrSysfs(mode === 'shared' ? {
    [`${KDAMONDS}/nr_kdamonds`]: '1\n', [`${KDAMONDS}/0/state`]: 'on\n', [`${KDAMONDS}/0/pid`]: '78\n', [`${KDAMONDS}/0/contexts/nr_contexts`]: '1\n',
    [`${KDAMONDS}/0/contexts/0/operations`]: 'paddr\n',
    [`${KDAMONDS}/0/contexts/0/monitoring_attrs/intervals/sample_us`]: '100000\n', [`${KDAMONDS}/0/contexts/0/monitoring_attrs/intervals/aggr_us`]: '1000000\n',
    [`${KDAMONDS}/0/contexts/0/targets/nr_targets`]: '1\n', [`${KDAMONDS}/0/contexts/0/targets/0/regions/nr_regions`]: '1\n',
    [`${KDAMONDS}/0/contexts/0/targets/0/regions/0/start`]: `${PADDR_BASE_PFN * PAGE}\n`, [`${KDAMONDS}/0/contexts/0/targets/0/regions/0/end`]: `${PADDR_BASE_PFN * PAGE + framesBytes}\n`,
  } : {
    [`${KDAMONDS}/nr_kdamonds`]: '1\n', [`${KDAMONDS}/0/state`]: 'off\n', [`${KDAMONDS}/0/pid`]: '555\n', [`${KDAMONDS}/0/contexts/nr_contexts`]: '0\n',
  }, { createOnWrite: true });
  io.files.set('/proc/filesystems', 'nodev\ttracefs\n');
  io.files.set(`/proc/1/smaps`, [`${vma.start.toString(16)}-${vma.end.toString(16)} rw-p 00000000 00:00 0 `, 'KernelPageSize:        4 kB', 'VmFlags: rd wr mr mw me ac', ''].join('\n'));
  const hooks = { read() {}, drain() {}, node() {} };
  let seed = 12345;
  const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) % n);
  let drains = 0;
  let cycleTime = 0;
  const windowEvents = (starts: readonly number[], ends: readonly number[]): AggregatedEvent[] =>
    starts.map((start, k) => ({ timeNs: ++cycleTime, targetId: 0, nrRegions: starts.length, start, end: ends[k]!, nrAccesses: rnd(11), age: 0 }));
  const sharedWindow = (): AggregatedEvent[] => {
    // 1000 regions over all of the frames, their edges page-aligned at random
    const edges = Array.from({ length: 999 }, () => PADDR_BASE_PFN * PAGE + rnd(framesBytes / PAGE) * PAGE).sort((a, b) => a - b);
    const starts = [PADDR_BASE_PFN * PAGE, ...edges];
    const ends = [...edges, PADDR_BASE_PFN * PAGE + framesBytes];
    const keep = starts.map((s, k) => ends[k]! > s);
    return windowEvents(starts.filter((_, k) => keep[k]), ends.filter((_, k) => keep[k]));
  };
  const source: AggregatedSource = {
    setKdamondPid() {},
    drain() {
      hooks.drain();
      if (mode === 'shared') {
        // the cycle's first drain drops what came before; the next brings three windows
        return ++drains === 2 ? [...sharedWindow(), ...sharedWindow(), ...sharedWindow()] : [];
      }
      if ((io.files.get(`${KDAMONDS}/0/state`) ?? '').trim() !== 'on' || drains++ > 0) return [];
      return windowEvents(io.regionStarts.slice(0, Number(io.files.get(`${KDAMONDS}/0/contexts/0/targets/0/regions/nr_regions`))), io.regionEnds);
    },
    close() {},
  };
  const kernel = {
    async readPagemapPfns(_pid: number, start: number, count: number) {
      const from = (start - vma.start) / PAGE;
      const out = { pfn: pfns.slice(from, from + count), flags: new Uint8Array(Math.min(count, pages - from)).fill(1) };
      hooks.read();
      return out;
    },
  } as unknown as KernelOps;
  const nodeByBlock = Int16Array.from({ length: Math.ceil(((PADDR_BASE_PFN * PAGE) + framesBytes) / (128 << 20)) + 1 }, (_, b) => b % 2);
  const blocks: MemoryBlockMap = { blockBytes: 128 << 20, nodeByBlock };
  let nodeSeen = false;
  return {
    io, kernel, source, blocks, hooks,
    beginCycle() {
      drains = 0;
      nodeSeen = false;
    },
    watchedBlocks() {
      return {
        blockBytes: 128 << 20,
        get nodeByBlock() {
          if (!nodeSeen) {
            nodeSeen = true;
            hooks.node();
          }
          return nodeByBlock;
        },
      };
    },
  };
}
