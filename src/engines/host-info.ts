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
import type { NodePools } from './cslide-policy.js';
import { SysError } from '../native/errors.js';

export interface HostMemInfo {
  totalBytes: number;
  /** MemAvailable: what can be allocated without swapping */
  availableBytes: number;
}

export interface HostInfo {
  /** hugepage pools of `pageSizeBytes` on every NUMA node (nodes without that page size: total 0) */
  hugePagePools(pageSizeBytes: number): Promise<NodePools>;
  memInfo(): Promise<HostMemInfo>;
  /** VmRSS in bytes; rejects with SysError ESRCH when the process is gone */
  processRssBytes(pid: number): Promise<number>;
}

const NODE_DIR = '/sys/devices/system/node';

function meminfoKb(text: string, key: string): number | undefined {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

export function platformHostInfo(io: PlatformIO = liveIO): HostInfo {
  return {
    async hugePagePools(pageSizeBytes) {
      const kb = pageSizeBytes / 1024;
      let nodes: number[];
      try {
        nodes = (await io.readDir(NODE_DIR)).map((n) => /^node(\d+)$/.exec(n)).filter((m): m is RegExpExecArray => m !== null).map((m) => Number(m[1]));
      } catch {
        nodes = []; // no NUMA sysfs: no per-node pools
      }
      const pools: NodePools = {};
      for (const node of nodes.sort((a, b) => a - b)) {
        const dir = `${NODE_DIR}/node${node}/hugepages/hugepages-${kb}kB`;
        try {
          const total = Number((await io.readText(`${dir}/nr_hugepages`)).trim());
          const free = Number((await io.readText(`${dir}/free_hugepages`)).trim());
          pools[node] = { totalBytes: total * pageSizeBytes, freeBytes: free * pageSizeBytes };
        } catch {
          pools[node] = { totalBytes: 0, freeBytes: 0 };
        }
      }
      return pools;
    },
    async memInfo() {
      const text = await io.readText('/proc/meminfo');
      const total = meminfoKb(text, 'MemTotal') ?? 0;
      const available = meminfoKb(text, 'MemAvailable') ?? meminfoKb(text, 'MemFree') ?? 0;
      return { totalBytes: total * 1024, availableBytes: available * 1024 };
    },
    async processRssBytes(pid) {
      let text: string;
      try {
        text = await io.readText(`/proc/${pid}/status`);
      } catch (err) {
        if ((err as { code?: string }).code === 'ENOENT') throw new SysError('ESRCH', 3, 'open', `/proc/${pid}/status: process ${pid} is gone`);
        throw err;
      }
      return (meminfoKb(text, 'VmRSS') ?? 0) * 1024;
    },
  };
}
