/**
 * A synthetic kernel for the per-page memory of the page_idle and
 * idle_pages trackers (test/unit/tracker-memory.test.ts and
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
