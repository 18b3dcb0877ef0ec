/** Host facts config validation needs: NUMA node ids and the CPU count. */
import { readdirSync } from 'node:fs';
import os from 'node:os';
import type { HostFacts } from '../config/types.js';

export function readHostFacts(sysNodeDir = '/sys/devices/system/node'): HostFacts {
  let numaNodes: number[];
  try {
    numaNodes = readdirSync(sysNodeDir)
      .map((n) => /^node(\d+)$/.exec(n))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
  } catch {
    numaNodes = [0]; // kernels without CONFIG_NUMA have a single implicit node 0
  }
  return { numaNodes: numaNodes.length > 0 ? numaNodes : [0], cpuCount: os.availableParallelism() };
}
