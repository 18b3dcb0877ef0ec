/**
 * Where cold pages can go besides a slower node: swap devices
 * (/proc/swaps), zram (compressed RAM block devices,
 * Documentation/admin-guide/blockdev/zram.rst) and zswap (a compressed
 * cache in front of swap, Documentation/admin-guide/mm/zswap.rst).
 */
import type { PlatformIO } from './io.js';

export interface SwapDevice {
  filename: string;
  /** "partition" or "file" */
  type: string;
  sizeBytes: number;
  usedBytes: number;
  priority: number;
}

/** Parses /proc/swaps (sizes are in kB there). */
export function parseSwaps(text: string): SwapDevice[] {
  const out: SwapDevice[] = [];
  for (const line of text.split('\n').slice(1)) {
    const w = line.trim().split(/\s+/);
    if (w.length < 5) continue;
    out.push({ filename: w[0]!, type: w[1]!, sizeBytes: Number(w[2]) * 1024, usedBytes: Number(w[3]) * 1024, priority: Number(w[4]) });
  }
  return out;
}

export interface ZramDevice {
  name: string;
  disksizeBytes: number;
  /** the selected algorithm (the one in brackets) */
  compAlgorithm: string;
}

export interface SwapFacts {
  devices: SwapDevice[];
  /** zram module loaded (the hot_add control exists) */
  zramAvailable: boolean;
  zramDevices: ZramDevice[];
  /** zswap present in the kernel */
  zswapAvailable: boolean;
  zswapEnabled: boolean;
}

/** Reads swap, zram and zswap state. */
export async function readSwapFacts(io: PlatformIO): Promise<SwapFacts> {
  const devices = (await io.exists('/proc/swaps')) ? parseSwaps(await io.readText('/proc/swaps')) : [];
  const zramDevices: ZramDevice[] = [];
  if (await io.exists('/sys/block')) {
    for (const name of await io.readDir('/sys/block')) {
      if (!/^zram\d+$/.test(name)) continue;
      const disksize = Number((await io.readText(`/sys/block/${name}/disksize`)).trim());
      const algs = await io.readText(`/sys/block/${name}/comp_algorithm`);
      zramDevices.push({ name, disksizeBytes: disksize, compAlgorithm: /\[(\S+)\]/.exec(algs)?.[1] ?? algs.trim() });
    }
  }
  const zswapParam = '/sys/module/zswap/parameters/enabled';
  const zswapAvailable = await io.exists(zswapParam);
  const zswapEnabled = zswapAvailable && /^[Y1]/.test((await io.readText(zswapParam)).trim());
  return { devices, zramAvailable: await io.exists('/sys/class/zram-control'), zramDevices, zswapAvailable, zswapEnabled };
}
