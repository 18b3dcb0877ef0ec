/**
 * Host memory facts the built-in engines need each cycle: per-node hugepage
 * pools (cslide), free memory and a process's RSS (slide gates). Read
 * through a PlatformIO, so tests run them on an in-memory tree.
 *
 * Sources: /sys/devices/system/node/nodeN/hugepages/hugepages-<kB>kB/
 * {nr_hugepages,free_hugepages} (Documentation/admin-guide/mm/hugetlbpage.rst),
 * /proc/meminfo MemTotal and MemAvailable, /proc/PID/status VmRSS (proc(5)).
 */
import { liveIO, type PlatformIO } from '../platform/io.js';
import type { NodePools } from '../engines/cslide-policy.js';
import { SysError } from '../native/errors.js';
import { parseMeminfo, readMeminfo } from '../platform/meminfo.js';
import { readHugepagePools, readOnlineNodeIds } from '../platform/numa-topology.js';
import { parseCpuList } from '../platform/cpulist.js';

export interface HostMemInfo {
  totalBytes: number;
  /** MemAvailable: what can be allocated without swapping */
  availableBytes: number;
}

export interface HostInfo {
  /** hugepage pools of `pageSizeBytes` on every NUMA node (nodes without that page size: total 0) */
  hugePagePools(pageSizeBytes: number): Promise<NodePools>;
  memInfo(): Promise<HostMemInfo>;
  /** /proc/vmstat as numbers (migration counters: pgmigrate_success, numa_pages_migrated, pgdemote_*, pgpromote_*) */
  vmstat?(): Promise<Record<string, number>>;
  /** each NUMA node's memory (MemTotal, MemFree of /sys/devices/system/node/nodeN/meminfo): where THP and 4 KiB pages land */
  nodeMemory?(): Promise<NodePools>;
  /** VmRSS in bytes; rejects with SysError ESRCH when the process is gone */
  processRssBytes(pid: number): Promise<number>;
}

const NODE_DIR = '/sys/devices/system/node';

/** NUMA node ids; none without node sysfs (no per-node pools). */
const nodeIds = (io: PlatformIO): Promise<number[]> => readOnlineNodeIds(io, []);

export function platformHostInfo(io: PlatformIO = liveIO): HostInfo {
  return {
    async hugePagePools(pageSizeBytes) {
      const pools: NodePools = {};
      for (const node of await nodeIds(io)) {
        const pool = (await readHugepagePools(io, `${NODE_DIR}/node${node}/hugepages`)).find((p) => p.pageSizeBytes === pageSizeBytes);
        pools[node] = { totalBytes: (pool?.nr ?? 0) * pageSizeBytes, freeBytes: (pool?.free ?? 0) * pageSizeBytes };
      }
      return pools;
    },
    async vmstat() {
      const out: Record<string, number> = {};
      for (const line of (await io.readText('/proc/vmstat')).split('\n')) {
        const [key, value] = line.split(' ');
        if (key && value !== undefined && /^\d+$/.test(value)) out[key] = Number(value);
      }
      return out;
    },
    async nodeMemory() {
      const pools: NodePools = {};
      for (const node of await nodeIds(io)) {
        // "Node 0 MemTotal:  16384 kB": the per-node meminfo carries a "Node N" prefix.
        const text = await io.readText(`${NODE_DIR}/node${node}/meminfo`).catch(() => '');
        const kb = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(text)?.[1] ?? 0) * 1024;
        pools[node] = { totalBytes: kb('MemTotal'), freeBytes: kb('MemFree') };
      }
      return pools;
    },
    async memInfo() {
      const mem = await readMeminfo(io);
      return { totalBytes: mem.MemTotal ?? 0, availableBytes: mem.MemAvailable ?? mem.MemFree ?? 0 };
    },
    async processRssBytes(pid) {
      let text: string;
      try {
        text = await io.readText(`/proc/${pid}/status`);
      } catch (err) {
        if ((err as { code?: string }).code === 'ENOENT') throw new SysError('ESRCH', 3, 'open', `/proc/${pid}/status: process ${pid} is gone`);
        throw err;
      }
      return parseMeminfo(text).VmRSS ?? 0;
    },
  };
}
