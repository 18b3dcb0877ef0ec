/**
 * Per-VMA page state of a process: which ranges are present (and on which
 * NUMA node), which are swapped out. Anonymous private memory shows swap in
 * the page table (PAGEMAP_SCAN / pagemap); shared memory does not (a
 * swapped shmem page leaves a hole in the page table, fs/proc/task_mmu.c),
 * so for shared file-backed VMAs the backing object is asked too:
 * allocated (SEEK_DATA) but not in the page cache (mincore) means swapped
 * or written back.
 */
import { liveKernel, type KernelOps } from '../native/kernel.js';
import { PAGE_IS, PAGE_SIZE, scanPages } from '../native/pagemap.js';
import type { PlatformIO } from './io.js';
import { readSmaps, hasVmFlags, type SmapsVma } from './smaps.js';

/** One run of pages in the same state. */
export interface PageRange {
  start: number;
  end: number;
  present: boolean;
  swapped: boolean;
  /** NUMA node of present pages (-1 when unknown) */
  node: number;
}

export interface VmaPageStats {
  vma: SmapsVma;
  pageSizeBytes: number;
  presentPages4k: number;
  swappedPages4k: number;
  /** node -> present 4 KiB pages */
  presentPages4kByNode: Record<number, number>;
  /** shared file-backed VMAs only: allocated in the backing object but not resident (4 KiB pages) */
  notResidentPages4k?: number;
  ranges: PageRange[];
}

export interface ProcessPageStats {
  pid: number;
  source: 'PAGEMAP_SCAN' | 'pagemap';
  vmas: VmaPageStats[];
}

/** Largest address a JS number holds exactly; [vsyscall] lies above it and is skipped. */
const MAX_EXACT_ADDR = Number.MAX_SAFE_INTEGER;

/** The VMAs that can be scanned (below 2^53) and carry all `vmFlags`. */
export function selectVmas(vmas: SmapsVma[], vmFlags: readonly string[]): SmapsVma[] {
  return vmas.filter((v) => v.end <= MAX_EXACT_ADDR && hasVmFlags(v, vmFlags));
}

/** Scans one VMA: present/swapped ranges, split by node for present pages. */
export async function vmaPageStats(pid: number, vma: SmapsVma, kernel: KernelOps = liveKernel): Promise<{ stats: VmaPageStats; source: ProcessPageStats['source'] }> {
  const scan = await scanPages(pid, vma.start, vma.end, {
    categoryAnyOfMask: PAGE_IS.PRESENT | PAGE_IS.SWAPPED,
    returnMask: PAGE_IS.PRESENT | PAGE_IS.SWAPPED,
  }, kernel);
  const pageSize = Math.max(vma.kernelPageSizeBytes, PAGE_SIZE);
  const r = scan.regions;
  // One move_pages query per page of the VMA's page size within present ranges.
  const queryAddrs: number[] = [];
  for (let i = 0; i < r.length; i += 3) {
    if ((r[i + 2]! & PAGE_IS.PRESENT) === 0) continue;
    for (let a = r[i]! - (r[i]! % pageSize); a < r[i + 1]!; a += pageSize) queryAddrs.push(a);
  }
  const nodes = queryAddrs.length > 0 ? await kernel.queryPageNodes(pid, Float64Array.from(queryAddrs)) : new Int32Array(0);
  const stats: VmaPageStats = { vma, pageSizeBytes: pageSize, presentPages4k: 0, swappedPages4k: 0, presentPages4kByNode: {}, ranges: [] };
  let q = 0;
  const push = (range: PageRange): void => {
    const last = stats.ranges.at(-1);
    if (last && last.end === range.start && last.present === range.present && last.swapped === range.swapped && last.node === range.node) last.end = range.end;
    else stats.ranges.push(range);
  };
  for (let i = 0; i < r.length; i += 3) {
    const start = r[i]!;
    const end = r[i + 1]!;
    const cats = r[i + 2]!;
    const pages = (end - start) / PAGE_SIZE;
    if ((cats & PAGE_IS.PRESENT) === 0) {
      stats.swappedPages4k += pages;
      push({ start, end, present: false, swapped: true, node: -1 });
      continue;
    }
    stats.presentPages4k += pages;
    for (let a = start - (start % pageSize); a < end; a += pageSize) {
      const status = nodes[q++] ?? -1;
      const node = status >= 0 ? status : -1;
      const lo = Math.max(a, start);
      const hi = Math.min(a + pageSize, end);
      stats.presentPages4kByNode[node] = (stats.presentPages4kByNode[node] ?? 0) + (hi - lo) / PAGE_SIZE;
      push({ start: lo, end: hi, present: true, swapped: false, node });
    }
  }
  if (vma.perms[3] === 's' && vma.inode !== 0 && !hasVmFlags(vma, ['ht'])) {
    stats.notResidentPages4k = await sharedNotResidentPages(pid, vma, kernel);
  }
  return { stats, source: scan.source };
}

/** Pages of a shared VMA's backing object that hold data but are not in the page cache. */
export async function sharedNotResidentPages(pid: number, vma: SmapsVma, kernel: Pick<KernelOps, 'mincoreFile' | 'seekDataHole'> = liveKernel): Promise<number> {
  const mapFile = `/proc/${pid}/map_files/${vma.start.toString(16)}-${vma.end.toString(16)}`;
  const length = vma.end - vma.start;
  const [resident, extents] = await Promise.all([
    kernel.mincoreFile(mapFile, vma.offset, length),
    kernel.seekDataHole(mapFile, vma.offset, vma.offset + length),
  ]);
  let count = 0;
  for (let i = 0; i < extents.length; i += 2) {
    for (let off = extents[i]!; off < extents[i + 1]!; off += PAGE_SIZE) {
      if (resident[(off - vma.offset) / PAGE_SIZE] === 0) count++;
    }
  }
  return count;
}

/** Page stats of every selected VMA of `pid`. */
export async function processPageStats(io: PlatformIO, pid: number, vmFlags: readonly string[] = [], kernel: KernelOps = liveKernel): Promise<ProcessPageStats> {
  const vmas = selectVmas(await readSmaps(io, pid), vmFlags);
  const out: ProcessPageStats = { pid, source: 'PAGEMAP_SCAN', vmas: [] };
  for (const vma of vmas) {
    const { stats, source } = await vmaPageStats(pid, vma, kernel);
    out.source = source;
    out.vmas.push(stats);
  }
  return out;
}
