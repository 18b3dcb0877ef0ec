/**
 * What the cslide policy alone would do, round by round, to a guest whose
 * hot and cold pages are known exactly: the reference the end-to-end tests,
 * the demo and the placement benchmark compare the real daemon against.
 * Pure: it runs planCslide on an ideal access map (hot pages counted in
 * every scan, cold ones in none) and applies each plan to a model of the
 * pages and the nodes' hugepage pools.
 */
import type { NodePair } from '../../../src/config/types.js';
import { CSLIDE_PAGE_SIZE_BYTES, planCslide, type NodePools } from '../../../src/engines/cslide-policy.js';
import type { AccessMap } from '../../../src/scan/access-map.js';

export interface ModelPage {
  addr: number;
  hot: boolean;
  node: number;
}

export interface ModelInput {
  pages: readonly ModelPage[];
  /** 2 MiB pages per node, total and free, before round 0 */
  pools: Record<number, { total: number; free: number }>;
  nodePairs: readonly NodePair[];
  loop: number;
  hotThreshold: number;
  quotaMiB: number;
  reserveMiB: number;
}

export interface ModelRound {
  /** the task's pages per node after this round's moves */
  pagesByNode: Record<number, number>;
  promotedPages: number;
  demotedPages: number;
}

const MiB = 1 << 20;

/** Rounds until a round moves nothing (that round included), at most `maxRounds`. */
export function modelRounds(input: ModelInput, maxRounds = 50): ModelRound[] {
  const pages = input.pages.map((p) => ({ ...p }));
  const pools: NodePools = {};
  for (const [node, p] of Object.entries(input.pools)) {
    pools[Number(node)] = { totalBytes: p.total * CSLIDE_PAGE_SIZE_BYTES, freeBytes: p.free * CSLIDE_PAGE_SIZE_BYTES };
  }
  const rounds: ModelRound[] = [];
  for (let round = 0; round < maxRounds; round++) {
    const map: AccessMap = {
      pid: 1,
      loop: input.loop,
      tracker: 'model',
      timeMs: 0,
      vmas: [],
      ranges: [...pages].sort((a, b) => a.addr - b.addr).map((p) => ({
        start: p.addr, pageCount: 1, pageSizeBytes: CSLIDE_PAGE_SIZE_BYTES,
        accessCount: p.hot ? input.loop : 0, node: p.node, present: true, swapped: false,
      })),
    };
    const plan = planCslide({
      accessMap: map,
      nodePairs: input.nodePairs,
      hotThreshold: input.hotThreshold,
      quotaBytes: input.quotaMiB * MiB,
      hotReserveBytes: input.reserveMiB * MiB,
      pools,
      loop: input.loop,
    });
    let promoted = 0;
    let demoted = 0;
    for (const move of plan.moves) {
      for (let i = 0; i < move.pageCount; i++) {
        const page = pages.find((p) => p.addr === move.start + i * CSLIDE_PAGE_SIZE_BYTES)!;
        page.node = move.toNode;
        pools[move.fromNode]!.freeBytes += CSLIDE_PAGE_SIZE_BYTES;
        pools[move.toNode]!.freeBytes -= CSLIDE_PAGE_SIZE_BYTES;
        if (move.reason === 'demote') demoted++;
        else promoted++;
      }
    }
    rounds.push({ pagesByNode: countByNode(pages.map((p) => p.node)), promotedPages: promoted, demotedPages: demoted });
    if (plan.moves.length === 0) break;
  }
  return rounds;
}

/** {node: count} of a list of node ids (negative ids, i.e. errors, included as they are). */
export function countByNode(nodes: Iterable<number>): Record<number, number> {
  const out: Record<number, number> = {};
  for (const n of nodes) out[n] = (out[n] ?? 0) + 1;
  return out;
}
