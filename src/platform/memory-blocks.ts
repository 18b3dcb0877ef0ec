/**
 * Physical address -> NUMA node through the memory-block map in sysfs
 * (Documentation/admin-guide/mm/memory-hotplug.rst): memory is split into
 * blocks of `block_size_bytes` (hex; 128 MiB on x86), and
 * /sys/devices/system/memory/memoryN holds a `nodeX` link for the node of
 * block N. One table read (a few hundred readdirs) replaces a move_pages(2)
 * query per page: the node of a PFN is then one array index. Done natively
 * over a pagemap read (the addon's pageStates), 2.9-4.5x cheaper than
 * move_pages(NULL) for the same answer on this host (bench/migrate-hints.ts).
 *
 * The table goes stale only when memory is hot-(un)plugged; callers reread
 * it when a PFN falls in a block it does not know.
 */
import type { PlatformIO } from './io.js';

export const MEMORY_BLOCKS = '/sys/devices/system/memory';

export interface MemoryBlockMap {
  blockBytes: number;
  /** node of block N, -1 where the block is absent (a hole) or has no node link */
  nodeByBlock: Int16Array;
}

export const NODES = '/sys/devices/system/node';

/**
 * The map from the node directories when they list their blocks
 * (nodeN/memoryM links: one readdir per node, 1-4 here, instead of one per
 * block, 192 for 24 GiB: 30 ms measured), else from each block's nodeX link.
 */
export async function readMemoryBlockMap(io: PlatformIO): Promise<MemoryBlockMap> {
  const blockBytes = parseInt((await io.readText(`${MEMORY_BLOCKS}/block_size_bytes`)).trim(), 16);
  if (!(blockBytes > 0)) throw new Error(`${MEMORY_BLOCKS}/block_size_bytes: not a hex size`);
  const byNodeDir = await blocksFromNodeDirs(io).catch(() => undefined);
  if (byNodeDir && byNodeDir.length > 0) {
    const nodeByBlock = new Int16Array(Math.max(...byNodeDir.map(([b]) => b)) + 1).fill(-1);
    for (const [block, node] of byNodeDir) nodeByBlock[block] = node;
    return { blockBytes, nodeByBlock };
  }
  const ids = (await io.readDir(MEMORY_BLOCKS)).map((n) => /^memory(\d+)$/.exec(n)).filter((m) => m !== null).map((m) => Number(m[1]));
  const nodeByBlock = new Int16Array(ids.length ? Math.max(...ids) + 1 : 0).fill(-1);
  for (const id of ids) {
    const node = (await io.readDir(`${MEMORY_BLOCKS}/memory${id}`)).map((n) => /^node(\d+)$/.exec(n)).find((m) => m !== null);
    if (node) nodeByBlock[id] = Number(node[1]);
  }
  return { blockBytes, nodeByBlock };
}

/** [block, node] pairs from /sys/devices/system/node/nodeN/memoryM. */
async function blocksFromNodeDirs(io: PlatformIO): Promise<Array<[number, number]>> {
  const nodes = (await io.readDir(NODES)).map((n) => /^node(\d+)$/.exec(n)).filter((m) => m !== null).map((m) => Number(m[1]));
  const lists = await Promise.all(nodes.map(async (node) => (await io.readDir(`${NODES}/node${node}`)).map((n) => /^memory(\d+)$/.exec(n)).filter((m) => m !== null).map((m) => [Number(m[1]), node] as [number, number])));
  return lists.flat();
}

/** Node of the page at PFN `pfn` (4 KiB frames), -1 when unknown. */
export function nodeOfPfn(map: MemoryBlockMap, pfn: number): number {
  const block = Math.floor((pfn * 4096) / map.blockBytes);
  return block < map.nodeByBlock.length ? map.nodeByBlock[block]! : -1;
}

/**
 * The first PFN past the memory block that holds `pfn`: every frame from
 * `pfn` up to it has `pfn`'s node, so a run of frames takes one lookup per
 * block (damon-paddr). Infinity past the map's last block, where every
 * frame reads -1. The same floor as nodeOfPfn, so the two agree on every
 * frame below 2^53 bytes of physical address.
 */
export function blockEndPfn(map: MemoryBlockMap, pfn: number): number {
  const block = Math.floor((pfn * 4096) / map.blockBytes);
  if (block >= map.nodeByBlock.length) return Infinity;
  return Math.ceil(((block + 1) * map.blockBytes) / 4096);
}
