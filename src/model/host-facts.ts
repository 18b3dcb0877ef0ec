/** Host facts config validation needs: NUMA node ids (src/platform/numa-topology.ts, the one NUMA reader) and the CPU count. */
import os from 'node:os';
import type { HostFacts } from '../config/types.js';
import { liveIO, type PlatformIO } from '../platform/io.js';
import { readNodeIds } from '../platform/numa-topology.js';

export async function readHostFacts(io: PlatformIO = liveIO): Promise<HostFacts> {
  return { numaNodes: await readNodeIds(io), cpuCount: os.availableParallelism() };
}
