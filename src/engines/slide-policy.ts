/**
 * slide policy: which pages of one process to swap out this cycle. Pure:
 * an AccessMap plus the host's and the process's memory figures in, a Plan
 * of swap-outs (process_madvise(MADV_PAGEOUT)) out. docs/engines.md states
 * it; in short:
 *
 * - cold: present, not swapped, accessCount < T;
 * - never swapped: hugetlb (pageSizeBytes > 4096, or VMA flag `ht`), shared
 *   (`sh`) or non-anonymous VMAs, locked (`lo`), VM_IO/VM_PFNMAP (`io`,
 *   `pf`): MADV_PAGEOUT skips VM_LOCKED|VM_PFNMAP|VM_HUGETLB
 *   (mm/madvise.c, can_madv_lru_vma) and would only drop shared page cache;
 * - gates: sysmem_threshold (only while free memory % < it), swap_threshold
 *   (only while RSS > it, and at most RSS - threshold bytes), dram_percent
 *   (at most until resident / (resident + swapped) is down to the percentage);
 * - coldest first (count ascending, then address), so a capped round takes
 *   the coldest pages.
 */
import type { AccessMap, AccessMapVma, AccessRange } from '../scan/access-map.js';
import type { Plan, SwapOut } from './plan.js';

export const BASE_PAGE_SIZE_BYTES = 4096;

export interface SlideGates {
  /** project sysmem_threshold, 0..100 */
  sysmemThreshold?: number;
  /** host free memory, percent of total (MemAvailable / MemTotal) */
  freeMemPercent: number;
  /** task swap_threshold in bytes */
  swapThresholdBytes?: number;
  /** the process's VmRSS in bytes */
  processRssBytes: number;
  /** task dram_percent, (0,100] */
  dramPercent?: number;
  /** task swap_flag; see docs/engines.md: no effect on mainline kernels */
  swapFlag?: boolean;
}

export interface SlideInput {
  accessMap: AccessMap;
  /** pages accessed in fewer than T scans are cold */
  T: number;
  loop: number;
  gates: SlideGates;
}

export type SlideGate = 'sysmem_threshold' | 'swap_threshold' | 'dram_percent';

export interface SlideDecision {
  plan: Plan;
  /** cold, swappable bytes before any gate */
  coldBytes: number;
  /** the gate that stopped or capped the round, if any */
  limitedBy?: SlideGate;
  /** bytes the gates allow this round (Infinity when no gate applies) */
  allowedBytes: number;
}

const EXCLUDED_VM_FLAGS = ['ht', 'sh', 'lo', 'io', 'pf'];
/** Pseudo-paths in smaps that are not anonymous process memory. */
const SPECIAL_MAPPINGS = new Set(['[vdso]', '[vvar]', '[vvar_vclock]', '[vsyscall]', '[uprobes]', '[sigpage]', '[vectors]']);

/** Anonymous private memory: no backing path, or the heap, a stack, or a named anonymous mapping. */
export function isAnonymousPathname(pathname: string): boolean {
  if (pathname === '') return true;
  if (SPECIAL_MAPPINGS.has(pathname)) return false;
  return pathname === '[heap]' || pathname.startsWith('[stack') || pathname.startsWith('[anon:');
}

/** True when MADV_PAGEOUT can swap this VMA's pages out. */
export function isSwappableVma(vma: AccessMapVma): boolean {
  return !vma.vmFlags.some((f) => EXCLUDED_VM_FLAGS.includes(f)) && isAnonymousPathname(vma.pathname);
}

function vmaOf(vmas: readonly AccessMapVma[], address: number): AccessMapVma | undefined {
  let lo = 0;
  let hi = vmas.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const v = vmas[mid]!;
    if (address < v.start) hi = mid - 1;
    else if (address >= v.end) lo = mid + 1;
    else return v;
  }
  return undefined;
}

/** Plans one slide cycle, with the reason when a gate limited it. */
export function decideSlide(input: SlideInput): SlideDecision {
  const { accessMap: map, T, gates } = input;
  const vmas = [...map.vmas].sort((a, b) => a.start - b.start);
  const candidates: AccessRange[] = [];
  let residentBytes = 0;
  let swappedBytes = 0;
  for (const r of map.ranges) {
    const bytes = r.pageCount * r.pageSizeBytes;
    if (r.present) residentBytes += bytes;
    else if (r.swapped) swappedBytes += bytes;
    if (!r.present || r.swapped || r.pageSizeBytes > BASE_PAGE_SIZE_BYTES || r.accessCount >= T) continue;
    const vma = vmaOf(vmas, r.start);
    // Without its VMA a range cannot be shown anonymous and private: leave it.
    if (!vma || !isSwappableVma(vma)) continue;
    candidates.push(r);
  }
  candidates.sort((a, b) => a.accessCount - b.accessCount || a.start - b.start);
  const coldBytes = candidates.reduce((n, r) => n + r.pageCount * r.pageSizeBytes, 0);

  let allowedBytes = Infinity;
  let limitedBy: SlideGate | undefined;
  const limit = (bytes: number, gate: SlideGate): void => {
    const b = Math.max(0, bytes);
    if (b < allowedBytes) {
      allowedBytes = b;
      if (b < coldBytes) limitedBy = gate;
    }
  };
  if (gates.sysmemThreshold !== undefined && !(gates.freeMemPercent < gates.sysmemThreshold)) limit(0, 'sysmem_threshold');
  if (gates.swapThresholdBytes !== undefined) limit(gates.processRssBytes - gates.swapThresholdBytes, 'swap_threshold');
  if (gates.dramPercent !== undefined) {
    // Swap while the share is above the percentage: round up to whole pages.
    const excess = residentBytes - ((residentBytes + swappedBytes) * gates.dramPercent) / 100;
    limit(Math.ceil(excess / BASE_PAGE_SIZE_BYTES) * BASE_PAGE_SIZE_BYTES, 'dram_percent');
  }

  const swapOuts: SwapOut[] = [];
  let left = allowedBytes;
  for (const r of candidates) {
    if (left < r.pageSizeBytes) break;
    const pages = Math.min(r.pageCount, Math.floor(left / r.pageSizeBytes));
    swapOuts.push({ start: r.start, lengthBytes: pages * r.pageSizeBytes, accessCount: r.accessCount });
    left -= pages * r.pageSizeBytes;
  }
  return { plan: { pid: map.pid, moves: [], swapOuts }, coldBytes, limitedBy, allowedBytes };
}

/** Plans one slide cycle: swap-outs of cold anonymous private 4 KiB pages, coldest first, within the gates. */
export function planSlide(input: SlideInput): Plan {
  return decideSlide(input).plan;
}
