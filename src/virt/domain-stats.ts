/**
 * Guest RAM per NUMA node from /proc/PID/numa_maps of the guest-RAM VMAs:
 * present bytes per node (no access information without a tracker). The
 * hot/cold split comes from virt-tierd, which the CLI asks
 * (src/cli/domain-tiering.ts): this layer is below the daemon's API.
 */
import { liveIO, type PlatformIO } from '../platform/io.js';
import { readNumaMaps } from '../platform/numa-maps.js';
import type { GuestRamBlock } from './qemu-process.js';

/** One NUMA node's share of a guest's RAM; hot and cold only when virt-tierd tracks the guest. */
export interface NodeUsage {
  usedBytes: number;
  hotBytes?: number;
  coldBytes?: number;
}

export interface DomainNodeUsage {
  source: 'numa_maps' | 'none';
  nodes: Record<number, NodeUsage>;
  /** per RAMBlock id, from numa_maps */
  blocks: Record<string, Record<number, number>>;
}

/** Present bytes per node of each guest-RAM VMA, from numa_maps. */
export async function numaUsageOfBlocks(pid: number, blocks: readonly GuestRamBlock[], io: PlatformIO = liveIO): Promise<DomainNodeUsage> {
  const out: DomainNodeUsage = { source: 'numa_maps', nodes: {}, blocks: {} };
  let entries;
  try {
    entries = await readNumaMaps(io, pid);
  } catch {
    return { source: 'none', nodes: {}, blocks: {} };
  }
  for (const block of blocks) {
    if (!block.vma) continue;
    const perNode: Record<number, number> = {};
    for (const e of entries) {
      if (e.start < block.vma.start || e.start >= block.vma.end) continue;
      for (const [node, pages] of e.pagesByNode) {
        const bytes = pages * e.kernelPageSizeBytes;
        perNode[node] = (perNode[node] ?? 0) + bytes;
        (out.nodes[node] ??= { usedBytes: 0 }).usedBytes += bytes;
      }
    }
    out.blocks[block.id] = perNode;
  }
  return out;
}
