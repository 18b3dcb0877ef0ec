/**
 * Synthetic access maps and a simulated host, for policy and engine tests:
 * a seeded PRNG (results reproduce from the seed), a builder that turns a
 * list of pages into an AccessMap, and `applyMoves`, which executes a
 * Plan's moves against the map and per-node hugepage pools the way the
 * kernel would (a move to a node without a free page fails, like
 * move_pages(2) with ENOMEM on an exhausted hugetlb pool).
 *
 * Nothing here touches the kernel; the 'synthetic' tracker name marks maps
 * built here.
 */
import type { AccessMap, AccessRange } from '../../src/scan/access-map.js';
import { AccessRanges } from '../../src/scan/access-ranges.js';
import type { Plan } from '../../src/engines/plan.js';
import type { HostPlan, NodePools, PoolKind } from '../../src/engines/cslide-policy.js';

/** mulberry32: a small, fast, seeded PRNG returning floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SyntheticPage {
  accessCount: number;
  node: number;
  present?: boolean;
  swapped?: boolean;
}

export interface SyntheticMapOptions {
  pid?: number;
  loop: number;
  pageSizeBytes?: number;
  /** first page's address; pages follow contiguously */
  baseAddress?: number;
  vmFlags?: string[];
  pathname?: string;
  timeMs?: number;
}

export const HUGEPAGE_2M = 2 * 1024 * 1024;

/** One range per page, contiguous from `baseAddress`, inside a single VMA. */
export function syntheticMap(pages: SyntheticPage[], opts: SyntheticMapOptions): AccessMap {
  const pageSizeBytes = opts.pageSizeBytes ?? HUGEPAGE_2M;
  const base = opts.baseAddress ?? 0x7f0000000000;
  const ranges: AccessRange[] = pages.map((p, i) => ({
    start: base + i * pageSizeBytes,
    pageCount: 1,
    pageSizeBytes,
    accessCount: p.accessCount,
    node: p.node,
    present: p.present ?? true,
    swapped: p.swapped ?? false,
  }));
  return {
    pid: opts.pid ?? 4242,
    loop: opts.loop,
    tracker: 'synthetic',
    timeMs: opts.timeMs ?? 0,
    vmas: [{ start: base, end: base + pages.length * pageSizeBytes, vmFlags: opts.vmFlags ?? ['rd', 'wr', 'mr', 'mw', 'me', 'ht'], pathname: opts.pathname ?? '' }],
    ranges: AccessRanges.of(ranges),
  };
}

/** A deep copy of a map (structuredClone would turn its ranges into a plain object). */
export function cloneMap(map: AccessMap): AccessMap {
  return { ...map, vmas: structuredClone(map.vmas), ranges: map.ranges.clone() };
}

/** `n` pages with the same count and node (shorthand for tests). */
export function pagesOf(n: number, accessCount: number, node: number): SyntheticPage[] {
  return Array.from({ length: n }, () => ({ accessCount, node }));
}

export interface ApplyResult {
  map: AccessMap;
  pools: NodePools;
  /** pages moved, and pages refused because the target node had no free page */
  movedPages: number;
  failedPages: number;
}

/**
 * Executes `plan.moves` in order against a copy of `map` and `pools`, page
 * by page: a page moves only when it is on `fromNode` and `toNode` has a
 * free page; the source node gets the page back. Swap-outs mark the pages
 * swapped and not present.
 */
export function applyMoves(map: AccessMap, pools: NodePools, plan: Plan): ApplyResult {
  const byAddress = new Map<number, AccessRange>();
  // Split into single pages so partial-range moves are exact.
  for (const r of map.ranges) {
    for (let i = 0; i < r.pageCount; i++) {
      const page = { ...r, start: r.start + i * r.pageSizeBytes, pageCount: 1 };
      byAddress.set(page.start, page);
    }
  }
  const nextPools: NodePools = {};
  for (const [node, pool] of Object.entries(pools)) nextPools[Number(node)] = { ...pool };
  let movedPages = 0;
  let failedPages = 0;
  for (const m of plan.moves) {
    for (let i = 0; i < m.pageCount; i++) {
      const page = byAddress.get(m.start + i * m.pageSizeBytes);
      const to = nextPools[m.toNode];
      if (!page || page.node !== m.fromNode || !to || to.freeBytes < m.pageSizeBytes) {
        failedPages++;
        continue;
      }
      to.freeBytes -= m.pageSizeBytes;
      const from = nextPools[m.fromNode];
      if (from) from.freeBytes += m.pageSizeBytes;
      page.node = m.toNode;
      movedPages++;
    }
  }
  for (const s of plan.swapOuts) {
    for (const page of byAddress.values()) {
      if (page.start >= s.start && page.start < s.start + s.lengthBytes) {
        page.present = false;
        page.swapped = true;
        page.node = -1;
      }
    }
  }
  const ranges = [...byAddress.values()].sort((a, b) => a.start - b.start);
  return { map: { ...map, ranges: AccessRanges.of(ranges) }, pools: nextPools, movedPages, failedPages };
}

/** Host-wide form: several guests' maps and per-kind pools; moves carry their pid and pool. */
export interface HostWorld {
  maps: AccessMap[];
  pools: Partial<Record<PoolKind, NodePools>>;
}

/**
 * Executes a host plan in order against copies of the guests' maps and the
 * pools, page by page, as applyMoves does for one map: a page moves only
 * when it is on `fromNode` and its pool on `toNode` has room.
 */
export function applyHostMoves(world: HostWorld, plan: HostPlan): HostWorld & { movedPages: number; failedPages: number } {
  const pools: Partial<Record<PoolKind, NodePools>> = structuredClone(world.pools);
  const pages = world.maps.map((map) => {
    const byAddress = new Map<number, AccessRange>();
    for (const r of map.ranges) for (let i = 0; i < r.pageCount; i++) byAddress.set(r.start + i * r.pageSizeBytes, { ...r, start: r.start + i * r.pageSizeBytes, pageCount: 1 });
    return byAddress;
  });
  const guestOfPid = new Map(world.maps.map((m, i) => [m.pid, i]));
  let movedPages = 0;
  let failedPages = 0;
  for (const m of plan.moves) {
    const byAddress = pages[guestOfPid.get(m.pid) ?? -1];
    const nodes = pools[m.pool];
    for (let i = 0; i < m.pageCount; i++) {
      const page = byAddress?.get(m.start + i * m.pageSizeBytes);
      const to = nodes?.[m.toNode];
      if (!page || page.node !== m.fromNode || !to || to.freeBytes < m.pageSizeBytes) {
        failedPages++;
        continue;
      }
      to.freeBytes -= m.pageSizeBytes;
      const from = nodes?.[m.fromNode];
      if (from) from.freeBytes += m.pageSizeBytes;
      page.node = m.toNode;
      movedPages++;
    }
  }
  const maps = world.maps.map((map, i) => ({ ...map, ranges: AccessRanges.of([...pages[i]!.values()].sort((a, b) => a.start - b.start)) }));
  return { maps, pools, movedPages, failedPages };
}
