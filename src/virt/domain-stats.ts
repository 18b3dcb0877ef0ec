/**
 * Guest RAM per NUMA node for `virt-tier list` and `stats`: hot and cold
 * bytes from the daemon when it tiers the domain (its showtaskpages
 * report), else present bytes per node from /proc/PID/numa_maps of the
 * guest-RAM VMAs (no access information without a tracker).
 */
import { call } from '../api/client.js';
import { liveIO, type PlatformIO } from '../platform/io.js';
import { readNumaMaps } from '../platform/numa-maps.js';
import type { GuestRamBlock } from './qemu-process.js';
import { domainProjectName } from './domain-tasks.js';

export interface NodeUsage {
  usedBytes: number;
  hotBytes?: number;
  coldBytes?: number;
}

export interface DomainNodeUsage {
  source: 'daemon' | 'numa_maps' | 'none';
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

/** Finds `{nodes: {N: {usedBytes, hotBytes, coldBytes}}}` reports anywhere in a daemon reply and sums them. */
function nodesFromReply(reply: unknown): Record<number, NodeUsage> | undefined {
  let found: Record<number, NodeUsage> | undefined;
  const visit = (v: unknown, depth: number): void => {
    if (depth > 6 || typeof v !== 'object' || v === null) return;
    if (Array.isArray(v)) {
      for (const x of v) visit(x, depth + 1);
      return;
    }
    const o = v as Record<string, unknown>;
    if (typeof o.nodes === 'object' && o.nodes !== null && !Array.isArray(o.nodes)) {
      for (const [node, s] of Object.entries(o.nodes as Record<string, unknown>)) {
        const st = s as Record<string, unknown>;
        if (!/^\d+$/.test(node) || typeof st?.usedBytes !== 'number') continue;
        found ??= {};
        const t = (found[Number(node)] ??= { usedBytes: 0, hotBytes: 0, coldBytes: 0 });
        t.usedBytes += st.usedBytes;
        t.hotBytes! += typeof st.hotBytes === 'number' ? st.hotBytes : 0;
        t.coldBytes! += typeof st.coldBytes === 'number' ? st.coldBytes : 0;
      }
      return;
    }
    for (const x of Object.values(o)) visit(x, depth + 1);
  };
  visit(reply, 0);
  return found;
}

/**
 * Hot/cold per node from virt-tierd for a domain it tiers through its
 * policy (project and task `domain-<uuid>`), or undefined when the daemon
 * is not reachable or does not tier it.
 */
export async function daemonDomainUsage(socket: string, uuid: string, engine: string, timeoutMs = 1000): Promise<Record<number, NodeUsage> | undefined> {
  const name = domainProjectName(uuid);
  try {
    const reply = await call(socket, 'engine.cmd', { project: name, engine, cmd: 'showtaskpages', task: name, json: true }, { timeoutMs });
    return nodesFromReply(reply);
  } catch {
    return undefined;
  }
}
