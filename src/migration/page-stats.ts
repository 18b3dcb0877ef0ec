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
 * Nodes come from move_pages(2) with a NULL node list, one query per page
 * of the mapping's page size.
 */
import { liveKernel, type KernelOps } from '../native/kernel.js';
import { PAGE_IS, PAGE_SIZE, scanPages } from '../native/pagemap.js';
import { PageBitmap } from './bitmap.js';

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

/** Reads the page state of one RAMBlock of `pid`. */
export async function ramBlockPageStats(pid: number, target: RamBlockTarget, access?: AccessData, kernel: KernelOps = liveKernel): Promise<RamBlockPageStats> {
  const lengthBytes = target.end - target.start;
  const pages = Math.ceil(lengthBytes / PAGE_SIZE);
  const states = new Uint8Array(pages);
  const nodes = new Int16Array(pages).fill(-1);
  const scan = await scanPages(pid, target.start, target.end, { categoryAnyOfMask: PAGE_IS.PRESENT | PAGE_IS.SWAPPED, returnMask: PAGE_IS.PRESENT | PAGE_IS.SWAPPED }, kernel);
  const r = scan.regions;
  for (let i = 0; i < r.length; i += 3) {
    const first = (r[i]! - target.start) / PAGE_SIZE;
    const last = (r[i + 1]! - target.start) / PAGE_SIZE;
    states.fill((r[i + 2]! & PAGE_IS.PRESENT) !== 0 ? PAGE_STATE.present : PAGE_STATE.swapped, first, last);
  }
  if (target.kind === 'shared') await classifySharedHoles(kernel, pid, target, states);
  await fillNodes(kernel, pid, target, r, nodes);

  let temperature: Uint8Array | undefined;
  if (access) temperature = classifyAccess(target, states, access);
  const { counts, presentPagesByNode } = countStates(states, nodes, temperature);
  return {
    target,
    lengthBytes,
    states,
    nodes,
    temperature,
    swapSource: target.kind === 'hugetlb' ? 'never (hugetlb)' : target.kind === 'shared' ? 'backing-object' : 'pagemap',
    counts,
    presentPagesByNode,
    scanSource: scan.source,
  };
}

/** Page counts per state (and temperature), present pages per node: one pass over typed arrays. */
function countStates(states: Uint8Array, nodes: Int16Array, temperature: Uint8Array | undefined): { counts: RamBlockPageStats['counts']; presentPagesByNode: Record<number, number> } {
  const byState = new Float64Array(4);
  // nodes are 0..MAX_NUMNODES-1 (at most 1024 on x86_64), -1 unknown: index node + 1
  const byNode = new Float64Array(1026);
  let hot = 0;
  let cold = 0;
  for (let i = 0; i < states.length; i++) {
    const st = states[i]!;
    byState[st]!++;
    if (st === PAGE_STATE.present) byNode[Math.min(nodes[i]!, 1024) + 1]!++;
  }
  if (temperature) {
    for (let i = 0; i < temperature.length; i++) {
      const t = temperature[i];
      if (t === 1) hot++;
      else if (t === 0) cold++;
    }
  }
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

/**
 * move_pages(pid, addrs, NULL): the node of each mapping page holding
 * present pages, from the scan's present regions. Addresses go straight
 * into one exactly-sized Float64Array: at 4 GiB that is a million entries,
 * and on this kind of machine fresh memory (page faults) costs more than
 * the loops.
 */
async function fillNodes(kernel: KernelOps, pid: number, target: RamBlockTarget, regions: Float64Array, nodes: Int16Array): Promise<void> {
  const ps = Math.max(PAGE_SIZE, target.pageSizeBytes);
  if (ps === PAGE_SIZE) return fillNodes4k(kernel, pid, target, regions, nodes);
  const alignDown = (a: number): number => a - ((a - target.start) % ps);
  let n = 0;
  let lastMappingPage = -1;
  for (let i = 0; i < regions.length; i += 3) {
    if ((regions[i + 2]! & PAGE_IS.PRESENT) === 0) continue;
    for (let a = alignDown(regions[i]!); a < regions[i + 1]!; a += ps) {
      if (a !== lastMappingPage) n++;
      lastMappingPage = a;
    }
  }
  if (n === 0) return;
  const addrs = new Float64Array(n);
  n = 0;
  lastMappingPage = -1;
  for (let i = 0; i < regions.length; i += 3) {
    if ((regions[i + 2]! & PAGE_IS.PRESENT) === 0) continue;
    for (let a = alignDown(regions[i]!); a < regions[i + 1]!; a += ps) {
      if (a !== lastMappingPage) addrs[n++] = a;
      lastMappingPage = a;
    }
  }
  const status = await kernel.queryPageNodes(pid, addrs);
  // Give each present 4 KiB page its mapping page's node (regions and addrs are both in address order).
  let k = 0;
  for (let i = 0; i < regions.length; i += 3) {
    if ((regions[i + 2]! & PAGE_IS.PRESENT) === 0) continue;
    const end = regions[i + 1]!;
    for (let a = regions[i]!; a < end; ) {
      while (k < n - 1 && addrs[k + 1]! <= a) k++;
      const node = status[k]!;
      let stop = Math.min(end, addrs[k]! + ps);
      // extend over following mapping pages on the same node: one fill per run
      while (stop < end && k < n - 1 && addrs[k + 1] === stop && status[k + 1] === node) {
        k++;
        stop = Math.min(end, stop + ps);
      }
      if (node >= 0) nodes.fill(node, (a - target.start) / PAGE_SIZE, (stop - target.start) / PAGE_SIZE);
      a = stop;
    }
  }
}

/** fillNodes for 4 KiB mappings: one address per present page, tight loops only. */
async function fillNodes4k(kernel: KernelOps, pid: number, target: RamBlockTarget, regions: Float64Array, nodes: Int16Array): Promise<void> {
  let n = 0;
  for (let i = 0; i < regions.length; i += 3) if ((regions[i + 2]! & PAGE_IS.PRESENT) !== 0) n += (regions[i + 1]! - regions[i]!) / PAGE_SIZE;
  if (n === 0) return;
  const addrs = new Float64Array(n);
  let k = 0;
  for (let i = 0; i < regions.length; i += 3) {
    if ((regions[i + 2]! & PAGE_IS.PRESENT) === 0) continue;
    for (let a = regions[i]!, end = regions[i + 1]!; a < end; a += PAGE_SIZE) addrs[k++] = a;
  }
  const status = await kernel.queryPageNodes(pid, addrs);
  k = 0;
  for (let i = 0; i < regions.length; i += 3) {
    if ((regions[i + 2]! & PAGE_IS.PRESENT) === 0) continue;
    const first = (regions[i]! - target.start) / PAGE_SIZE;
    const last = (regions[i + 1]! - target.start) / PAGE_SIZE;
    for (let p = first; p < last; p++, k++) {
      const node = status[k]!;
      if (node >= 0) nodes[p] = node;
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
