/**
 * Page table state of another process, as ranges of pages with the same
 * PAGE_IS_* category bits. Prefers the PAGEMAP_SCAN ioctl (one call returns
 * ranges; Linux 6.7+) and falls back to bulk reads of /proc/PID/pagemap
 * decoded here when the kernel lacks the ioctl (ENOTTY) or one of the
 * requested category bits (EINVAL).
 *
 * Entry layout: Documentation/admin-guide/mm/pagemap.rst.
 */
import { liveKernel, type KernelOps, type ScanFilter } from './kernel.js';
import { isErrno } from './errors.js';

/** PAGEMAP_SCAN category bits (include/uapi/linux/fs.h). */
export const PAGE_IS = {
  WPALLOWED: 1 << 0,
  WRITTEN: 1 << 1,
  FILE: 1 << 2,
  PRESENT: 1 << 3,
  SWAPPED: 1 << 4,
  PFNZERO: 1 << 5,
  HUGE: 1 << 6,
  SOFT_DIRTY: 1 << 7,
} as const;

/** The bits the pagemap fallback can compute (no WRITTEN, PFNZERO, HUGE). */
export const PAGEMAP_FALLBACK_BITS = PAGE_IS.FILE | PAGE_IS.PRESENT | PAGE_IS.SWAPPED | PAGE_IS.SOFT_DIRTY;

export const PAGE_SIZE = 4096;

/** One decoded /proc/PID/pagemap entry. */
export interface PagemapEntry {
  present: boolean;
  swapped: boolean;
  /** bit 61: file page or shared anonymous */
  fileOrShared: boolean;
  /** bit 56: page exclusively mapped */
  exclusive: boolean;
  /** bit 55: PTE soft-dirty */
  softDirty: boolean;
  /** page frame number when present (0 without CAP_SYS_ADMIN) */
  pfn?: number;
  /** swap device index when swapped */
  swapType?: number;
  /** page offset in the swap device when swapped */
  swapOffset?: number;
}

// Bits of the high 32-bit word of an entry.
const HI_PRESENT = 1 << 31;
const HI_SWAPPED = 1 << 30;
const HI_FILE = 1 << 29;
const HI_EXCLUSIVE = 1 << 24;
const HI_SOFT_DIRTY = 1 << 23;
const HI_PFN_MASK = 0x7fffff; // bits 32..54

/** Decodes one entry from its low and high 32-bit halves. */
export function decodePagemapWords(lo: number, hi: number): PagemapEntry {
  const entry: PagemapEntry = {
    present: (hi & HI_PRESENT) !== 0,
    swapped: (hi & HI_SWAPPED) !== 0,
    fileOrShared: (hi & HI_FILE) !== 0,
    exclusive: (hi & HI_EXCLUSIVE) !== 0,
    softDirty: (hi & HI_SOFT_DIRTY) !== 0,
  };
  if (entry.present) {
    entry.pfn = (lo >>> 0) + (hi & HI_PFN_MASK) * 2 ** 32;
  } else if (entry.swapped) {
    entry.swapType = lo & 0x1f;
    entry.swapOffset = (lo >>> 5) + (hi & HI_PFN_MASK) * 2 ** 27;
  }
  return entry;
}

/** Decodes entry `index` of a readPagemap() result. */
export function decodePagemapEntry(entries: BigUint64Array, index: number): PagemapEntry {
  const words = new Uint32Array(entries.buffer, entries.byteOffset, entries.length * 2);
  return decodePagemapWords(words[2 * index]!, words[2 * index + 1]!);
}

/** PAGE_IS_* bits of one entry, from its high word (the fallback's view). */
export function categoriesOfHighWord(hi: number): number {
  let c = 0;
  if (hi & HI_PRESENT) c |= PAGE_IS.PRESENT;
  if (hi & HI_SWAPPED) c |= PAGE_IS.SWAPPED;
  if (hi & HI_FILE) c |= PAGE_IS.FILE;
  if (hi & HI_SOFT_DIRTY) c |= PAGE_IS.SOFT_DIRTY;
  return c;
}

/** Which pages a scan reports and which bits it returns (the PAGEMAP_SCAN filter). */
export type { ScanFilter } from './kernel.js';

/** Ranges as [start, end, categories] triples, plus where they came from. */
export interface PageScan {
  regions: Float64Array;
  source: 'PAGEMAP_SCAN' | 'pagemap';
}

/**
 * Builds [start, end, categories] triples from raw entries, applying the
 * same filter the kernel applies (fs/proc/task_mmu.c,
 * pagemap_scan_is_interesting_page). Pages outside any VMA read as 0 in
 * pagemap; PAGEMAP_SCAN skips them, so callers scan within VMAs.
 */
export function regionsFromPagemap(entries: BigUint64Array, startAddr: number, filter: ScanFilter): Float64Array {
  const words = new Uint32Array(entries.buffer, entries.byteOffset, entries.length * 2);
  const inverted = filter.categoryInverted ?? 0;
  const mask = filter.categoryMask ?? 0;
  const anyOf = filter.categoryAnyOfMask ?? 0;
  const ret = filter.returnMask;
  const out: number[] = [];
  let runStart = -1;
  let runCats = 0;
  const n = entries.length;
  for (let i = 0; i < n; i++) {
    const cats = categoriesOfHighWord(words[2 * i + 1]!);
    const flipped = cats ^ inverted;
    const match = (flipped & mask) === mask && (anyOf === 0 || (flipped & anyOf) !== 0);
    const reported = cats & ret;
    if (match && runStart >= 0 && reported === runCats) continue;
    if (runStart >= 0) out.push(startAddr + runStart * PAGE_SIZE, startAddr + i * PAGE_SIZE, runCats);
    runStart = match ? i : -1;
    runCats = reported;
  }
  if (runStart >= 0) out.push(startAddr + runStart * PAGE_SIZE, startAddr + n * PAGE_SIZE, runCats);
  return Float64Array.from(out);
}

// Pages per pagemap read in the fallback: 128 Ki pages = 1 MiB of entries.
const FALLBACK_CHUNK_PAGES = 131072;

/** The pagemap-read path of scanPages, exported so tests can compare the two. */
export async function scanPagesByPagemap(
  pid: number, start: number, end: number, filter: ScanFilter, binding: Pick<KernelOps, 'readPagemap'> = liveKernel,
): Promise<PageScan> {
  const parts: Float64Array[] = [];
  for (let addr = start; addr < end; addr += FALLBACK_CHUNK_PAGES * PAGE_SIZE) {
    const count = Math.min(FALLBACK_CHUNK_PAGES, (end - addr) / PAGE_SIZE);
    const entries = await binding.readPagemap(pid, addr, count);
    parts.push(regionsFromPagemap(entries, addr, filter));
  }
  return { regions: mergeRegionParts(parts), source: 'pagemap' };
}

/** Concatenates triples, merging a part's first range into the previous part's last when they touch. */
function mergeRegionParts(parts: Float64Array[]): Float64Array {
  const out: number[] = [];
  for (const part of parts) {
    for (let i = 0; i < part.length; i += 3) {
      const k = out.length;
      if (k >= 3 && out[k - 2] === part[i] && out[k - 1] === part[i + 2]) out[k - 2] = part[i + 1]!;
      else out.push(part[i]!, part[i + 1]!, part[i + 2]!);
    }
  }
  return Float64Array.from(out);
}

/**
 * Ranges of [start, end) (page-aligned) with their PAGE_IS_* bits, through
 * PAGEMAP_SCAN, or pagemap reads when the kernel refuses the ioctl.
 * `binding` is the kernel; tests pass one whose ioctl fails like an old kernel's.
 */
export async function scanPages(
  pid: number, start: number, end: number, filter: ScanFilter,
  binding: Pick<KernelOps, 'pagemapScan' | 'readPagemap'> = liveKernel,
): Promise<PageScan> {
  if (start % PAGE_SIZE !== 0 || end % PAGE_SIZE !== 0 || end <= start) {
    throw new RangeError(`scanPages: start and end must be page-aligned with start < end (got ${start}, ${end})`);
  }
  try {
    const r = await binding.pagemapScan(pid, start, end, filter);
    return { regions: r.regions, source: 'PAGEMAP_SCAN' };
  } catch (err) {
    if (!isErrno(err, 'ENOTTY', 'EINVAL')) throw err;
    const fallbackBits = filter.returnMask | (filter.categoryMask ?? 0) | (filter.categoryAnyOfMask ?? 0);
    if ((fallbackBits & ~PAGEMAP_FALLBACK_BITS) !== 0) throw err;
    return scanPagesByPagemap(pid, start, end, filter, binding);
  }
}

/** Page counts per category over scan results (e.g. present and swapped 4 KiB pages). */
export function countPages(regions: Float64Array, bit: number): number {
  let pages = 0;
  for (let i = 0; i < regions.length; i += 3) {
    if ((regions[i + 2]! & bit) !== 0) pages += (regions[i + 1]! - regions[i]!) / PAGE_SIZE;
  }
  return pages;
}
