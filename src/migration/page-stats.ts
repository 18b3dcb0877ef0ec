/**
 * Page state of each guest RAMBlock, one entry per 4 KiB target page from
 * the RAMBlock's start: present (with its NUMA node), swapped, resident in
 * the swap/page cache without a mapping, or never touched; and, when the
 * daemon has access counts from its latest cycle, hot or cold.
 *
 * How each kind of mapping is read (docs/migration-hints.md):
 * - private anonymous: PAGEMAP_SCAN (pagemap on old kernels) PRESENT and
 *   SWAPPED bits.
 * - shared (memfd, shmem, file-backed guest RAM): a swapped-out shmem page
 *   leaves no swap entry in the page table (the PTE is simply cleared,
 *   mm/shmem.c keeps the swap entry in the file's xarray), so pagemap shows
 *   it as never touched. For pages the page table does not show present,
 *   the backing object is asked through /proc/PID/map_files/START-END:
 *   lseek(SEEK_DATA/SEEK_HOLE) says whether the page holds data and
 *   mincore(2) whether it is in memory. Data + not in memory = swapped (or,
 *   for a disk file, written back to it); data + in memory = `swapCache`:
 *   mincore counts the swap cache as resident (mm/mincore.c:
 *   mincore_page -> filemap_get_incore_folio), so such a page is either on
 *   its way out, just read back, or in the page cache but not mapped by
 *   this process; it is reported apart, never as present or swapped.
 * - hugetlb: present from the page table; never swapped (hugetlb folios
 *   are not on the LRU, reclaim never sees them): reported as such, not
 *   as zero swapped pages.
 * Nodes come, inside the same native call as the walk, from the PFNs of a
 * pagemap read through the sysfs memory-block-to-node map when the caller
 * passes it (no syscall per page), else from move_pages(2) with a NULL
 * node list, one query per page of the mapping's page size.
 */
import { liveKernel, type KernelOps } from '../native/kernel.js';
import { PAGE_SIZE } from '../native/pagemap.js';
import { PageBitmap } from './bitmap.js';
import type { MemoryBlockMap } from '../platform/memory-blocks.js';

export const PAGE_STATE = { untouched: 0, present: 1, swapped: 2, swapCache: 3 } as const;
export type PageStateName = keyof typeof PAGE_STATE;
const STATE_NAMES: PageStateName[] = ['untouched', 'present', 'swapped', 'swapCache'];

export type RamBlockKind = 'anon' | 'shared' | 'hugetlb';

/** A RAMBlock and the VMA (part) that holds it in the target process. */
export interface RamBlockTarget {
  id: string;
  /** first and end address in the process (page aligned) */
  start: number;
  end: number;
  kind: RamBlockKind;
  /** page size of the mapping (4096, 2097152, ...) */
  pageSizeBytes: number;
  /** shared: the VMA whose map_files entry to open, and the file offset of `start` */
  vmaStart?: number;
  vmaEnd?: number;
  fileOffset?: number;
  pathname?: string;
}

/** Access counts of the task's latest cycle (from the daemon), for hot/cold. */
export interface AccessData {
  loop: number;
  /** accessCount >= this is hot */
  hotThreshold: number;
  timeMs: number;
  tracker: string;
  /** [start, pageCount, pageSizeBytes, accessCount] per range */
  ranges: Array<[number, number, number, number]>;
}

export interface RamBlockPageStats {
  target: RamBlockTarget;
  lengthBytes: number;
  /** PAGE_STATE per 4 KiB page */
  states: Uint8Array;
  /** NUMA node per 4 KiB page (-1: not present or unknown) */
  nodes: Int16Array;
  /** per 4 KiB page: 1 hot, 0 cold, 255 no access data (only when access data was given) */
  temperature?: Uint8Array;
  swapSource: 'pagemap' | 'backing-object' | 'never (hugetlb)';
  counts: Record<PageStateName, number> & { hot: number; cold: number };
  presentPagesByNode: Record<number, number>;
  scanSource: 'PAGEMAP_SCAN' | 'pagemap';
}

const TEMP_UNKNOWN = 255;

/**
 * Reads the page state of one RAMBlock of `pid`. The per-page work (page
 * table walk, node of every present page, counts) is one native call,
 * kernel.pageStates (native/page_states.cc): no JS address list, no copies,
 * no per-page arrays beyond the states and nodes it returns.
 */
export async function ramBlockPageStats(pid: number, target: RamBlockTarget, access?: AccessData, kernel: KernelOps = liveKernel, nodeMap?: MemoryBlockMap): Promise<RamBlockPageStats> {
  const lengthBytes = target.end - target.start;
  const mappingPageBytes = Math.max(PAGE_SIZE, target.pageSizeBytes);
  const r = await kernel.pageStates(pid, target.start, target.end, mappingPageBytes, { nodeMap: nodeMap && nodeMap.nodeByBlock.length > 0 ? nodeMap : undefined });
  const { states, nodes } = r;
  let temperature: Uint8Array | undefined;
  let counts: RamBlockPageStats['counts'];
  let presentPagesByNode: Record<number, number>;
  if (target.kind === 'shared') {
    // holes of the page table are asked of the backing object: states change, count again
    await classifySharedHoles(kernel, pid, target, states);
    if (access) temperature = classifyAccess(target, states, access);
    ({ counts, presentPagesByNode } = countStates(states, nodes, temperature));
  } else {
    if (access) temperature = classifyAccess(target, states, access);
    const { hot, cold } = countTemperature(temperature);
    counts = { untouched: r.counts[PAGE_STATE.untouched]!, present: r.counts[PAGE_STATE.present]!, swapped: r.counts[PAGE_STATE.swapped]!, swapCache: 0, hot, cold };
    presentPagesByNode = {};
    for (let k = 0; k < r.presentPagesByNode.length; k += 2) presentPagesByNode[r.presentPagesByNode[k]!] = r.presentPagesByNode[k + 1]!;
  }
  return {
    target,
    lengthBytes,
    states,
    nodes,
    temperature,
    swapSource: target.kind === 'hugetlb' ? 'never (hugetlb)' : target.kind === 'shared' ? 'backing-object' : 'pagemap',
    counts,
    presentPagesByNode,
    scanSource: r.source,
  };
}

function countTemperature(temperature: Uint8Array | undefined): { hot: number; cold: number } {
  let hot = 0;
  let cold = 0;
  if (temperature) {
    for (let i = 0; i < temperature.length; i++) {
      const t = temperature[i];
      if (t === 1) hot++;
      else if (t === 0) cold++;
    }
  }
  return { hot, cold };
}

/** Page counts per state (and temperature), present pages per node: one pass over typed arrays. */
function countStates(states: Uint8Array, nodes: Int16Array, temperature: Uint8Array | undefined): { counts: RamBlockPageStats['counts']; presentPagesByNode: Record<number, number> } {
  const byState = new Float64Array(4);
  // nodes are 0..MAX_NUMNODES-1 (at most 1024 on x86_64), -1 unknown: index node + 1
  const byNode = new Float64Array(1026);
  for (let i = 0; i < states.length; i++) {
    const st = states[i]!;
    byState[st]!++;
    if (st === PAGE_STATE.present) byNode[Math.min(nodes[i]!, 1024) + 1]!++;
  }
  const { hot, cold } = countTemperature(temperature);
  const presentPagesByNode: Record<number, number> = {};
  for (let k = 0; k < byNode.length; k++) if (byNode[k]! > 0) presentPagesByNode[k - 1] = byNode[k]!;
  return {
    counts: { untouched: byState[PAGE_STATE.untouched]!, present: byState[PAGE_STATE.present]!, swapped: byState[PAGE_STATE.swapped]!, swapCache: byState[PAGE_STATE.swapCache]!, hot, cold },
    presentPagesByNode,
  };
}

/** Shared mappings: pages the page table does not show present, told apart through the backing object. */
async function classifySharedHoles(kernel: KernelOps, pid: number, target: RamBlockTarget, states: Uint8Array): Promise<void> {
  const vmaStart = target.vmaStart ?? target.start;
  const vmaEnd = target.vmaEnd ?? target.end;
  const mapFile = `/proc/${pid}/map_files/${vmaStart.toString(16)}-${vmaEnd.toString(16)}`;
  const offset = target.fileOffset ?? 0;
  const length = target.end - target.start;
  const [resident, extents] = await Promise.all([kernel.mincoreFile(mapFile, offset, length), kernel.seekDataHole(mapFile, offset, offset + length)]);
  for (let e = 0; e < extents.length; e += 2) {
    const first = Math.max(0, Math.floor((extents[e]! - offset) / PAGE_SIZE));
    const last = Math.min(states.length, Math.ceil((extents[e + 1]! - offset) / PAGE_SIZE));
    for (let i = first; i < last; i++) {
      if (states[i] === PAGE_STATE.present) continue;
      states[i] = resident[i] ? PAGE_STATE.swapCache : PAGE_STATE.swapped;
    }
  }
}

/** Hot (1) / cold (0) for present pages covered by the access ranges; 255 elsewhere. */
export function classifyAccess(target: RamBlockTarget, states: Uint8Array, access: AccessData): Uint8Array {
  const temperature = new Uint8Array(states.length).fill(TEMP_UNKNOWN);
  for (const [start, pageCount, pageSizeBytes, accessCount] of access.ranges) {
    const end = start + pageCount * pageSizeBytes;
    if (end <= target.start || start >= target.end) continue;
    const first = Math.max(0, Math.floor((start - target.start) / PAGE_SIZE));
    const last = Math.min(states.length, Math.ceil((end - target.start) / PAGE_SIZE));
    const t = accessCount >= access.hotThreshold ? 1 : 0;
    for (let i = first; i < last; i++) if (states[i] === PAGE_STATE.present) temperature[i] = t;
  }
  return temperature;
}

/** One bitmap per state (and cold/hot when known). */
export function stateBitmaps(stats: RamBlockPageStats): Partial<Record<'present' | 'swapped' | 'swapCache' | 'untouched' | 'cold' | 'hot', PageBitmap>> {
  const n = stats.states.length;
  const out: Partial<Record<'present' | 'swapped' | 'swapCache' | 'untouched' | 'cold' | 'hot', PageBitmap>> = {
    present: new PageBitmap(n),
    swapped: new PageBitmap(n),
    untouched: new PageBitmap(n),
  };
  if (stats.counts.swapCache > 0) out.swapCache = new PageBitmap(n);
  if (stats.temperature) {
    out.cold = new PageBitmap(n);
    out.hot = new PageBitmap(n);
  }
  const byState = [out.untouched!, out.present!, out.swapped!, out.swapCache];
  // Runs of equal state, set a range at a time.
  let runStart = 0;
  for (let i = 1; i <= n; i++) {
    if (i < n && stats.states[i] === stats.states[runStart]) continue;
    byState[stats.states[runStart]!]?.setRange(runStart, i - runStart);
    runStart = i;
  }
  const temp = stats.temperature;
  if (temp) {
    runStart = 0;
    for (let i = 1; i <= n; i++) {
      if (i < n && temp[i] === temp[runStart]) continue;
      if (temp[runStart] === 1) out.hot!.setRange(runStart, i - runStart);
      else if (temp[runStart] === 0) out.cold!.setRange(runStart, i - runStart);
      runStart = i;
    }
  }
  return out;
}

export interface StateRange {
  /** byte offset from the RAMBlock start */
  offset: number;
  pages: number;
  state: PageStateName;
  node?: number;
  temperature?: 'hot' | 'cold';
}

/** Runs of pages with equal state, node and temperature. */
export function stateRanges(stats: RamBlockPageStats): StateRange[] {
  const out: StateRange[] = [];
  const { states, nodes, temperature } = stats;
  let runStart = 0;
  const same = (a: number, b: number): boolean => states[a] === states[b] && nodes[a] === nodes[b] && (!temperature || temperature[a] === temperature[b]);
  for (let i = 1; i <= states.length; i++) {
    if (i < states.length && same(i, runStart)) continue;
    const r: StateRange = { offset: runStart * PAGE_SIZE, pages: i - runStart, state: STATE_NAMES[states[runStart]!]! };
    if (states[runStart] === PAGE_STATE.present) {
      r.node = nodes[runStart]!;
      const t = temperature?.[runStart];
      if (t === 1) r.temperature = 'hot';
      else if (t === 0) r.temperature = 'cold';
    }
    out.push(r);
    runStart = i;
  }
  return out;
}
