/**
 * NUMA topology from /sys/devices/system/node: which nodes are online,
 * which have CPUs (DRAM) and which are memory-only (the AEP/CXL shape), how
 * much memory each has, the distance table and each node's hugepage pools.
 * (Documentation/ABI/stable/sysfs-devices-node.)
 */
import type { PlatformIO } from './io.js';
import { parseCpuList } from './cpulist.js';
import { parseMeminfo } from './meminfo.js';

const NODE_ROOT = '/sys/devices/system/node';

/** One hugepage pool of one node (or of the whole host). */
export interface HugepagePool {
  pageSizeBytes: number;
  nr: number;
  free: number;
  surplus: number;
}

export interface NumaNode {
  id: number;
  cpus: number[];
  memTotalBytes: number;
  memFreeBytes: number;
  /** distance to node `nodes[i].id`, in the order of NumaTopology.nodes */
  distances: number[];
  hugepages: HugepagePool[];
}

export interface NumaTopology {
  nodes: NumaNode[];
}

/** Reads the hugepage pools under `dir` (…/hugepages/hugepages-2048kB/{nr,free,surplus}_hugepages). */
export async function readHugepagePools(io: PlatformIO, dir: string): Promise<HugepagePool[]> {
  if (!(await io.exists(dir))) return [];
  const pools: HugepagePool[] = [];
  for (const name of await io.readDir(dir)) {
    const m = /^hugepages-(\d+)kB$/.exec(name);
    if (!m) continue;
    const read = async (file: string): Promise<number> => {
      const p = `${dir}/${name}/${file}`;
      return (await io.exists(p)) ? Number((await io.readText(p)).trim()) : 0;
    };
    pools.push({
      pageSizeBytes: Number(m[1]) * 1024,
      nr: await read('nr_hugepages'),
      free: await read('free_hugepages'),
      surplus: await read('surplus_hugepages'),
    });
  }
  return pools.sort((a, b) => a.pageSizeBytes - b.pageSizeBytes);
}

/**
 * The ids of the node directories under /sys/devices/system/node (nodeN),
 * ascending: the nodes config validation accepts. [0] when the directory
 * is missing or lists none (a kernel without CONFIG_NUMA has a single
 * implicit node 0).
 */
export async function readNodeIds(io: PlatformIO): Promise<number[]> {
  let names: string[];
  try {
    names = await io.readDir(NODE_ROOT);
  } catch {
    return [0];
  }
  const ids = names
    .map((n) => /^node(\d+)$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
  return ids.length > 0 ? ids : [0];
}

/**
 * The online NUMA nodes: `online`, else the nodeN directories, else
 * `whenNone` (a kernel without CONFIG_NUMA has no node sysfs: the whole
 * machine is node 0 for topology, and there are no per-node pools).
 */
export async function readOnlineNodeIds(io: PlatformIO, whenNone: number[] = [0]): Promise<number[]> {
  if (await io.exists(`${NODE_ROOT}/online`)) return parseCpuList(await io.readText(`${NODE_ROOT}/online`));
  try {
    const ids = (await io.readDir(NODE_ROOT)).map((n) => /^node(\d+)$/.exec(n)).filter((m): m is RegExpExecArray => m !== null).map((m) => Number(m[1]));
    return ids.length > 0 ? ids.sort((a, b) => a - b) : whenNone;
  } catch {
    return whenNone;
  }
}

/** Reads the topology of every online node. */
export async function readNumaTopology(io: PlatformIO): Promise<NumaTopology> {
  const ids = await readOnlineNodeIds(io);
  const nodes: NumaNode[] = [];
  for (const id of ids) {
    const dir = `${NODE_ROOT}/node${id}`;
    const mem = parseMeminfo(await io.readText(`${dir}/meminfo`));
    nodes.push({
      id,
      cpus: parseCpuList(await io.readText(`${dir}/cpulist`)),
      memTotalBytes: mem.MemTotal ?? 0,
      memFreeBytes: mem.MemFree ?? 0,
      distances: (await io.readText(`${dir}/distance`)).trim().split(/\s+/).map(Number),
      hugepages: await readHugepagePools(io, `${dir}/hugepages`),
    });
  }
  return { nodes };
}

/** Nodes without CPUs: the slow tier (AEP/PMEM, CXL) on tiered hosts. */
export function memoryOnlyNodes(topology: NumaTopology): NumaNode[] {
  return topology.nodes.filter((n) => n.cpus.length === 0);
}
