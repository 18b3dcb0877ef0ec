/**
 * Inside the testbed: a zram swap device. The testbed's 6.12 kernel has
 * zram as a module (CONFIG_ZRAM=m, depending on lz4_compress and
 * lz4hc_compress, also modules), shipped xz-compressed in
 * .cache/kernel/lib/modules/<release>/, loaded by kernel-modules.ts. Then
 * Documentation/admin-guide/blockdev/zram.rst: disksize, mkswap, swapon.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { loadModules } from './kernel-modules.js';

/** Module paths under kernel/, in load order. */
const ZRAM_MODULES = ['lib/lz4/lz4_compress', 'lib/lz4/lz4hc_compress', 'drivers/block/zram/zram'];

export interface ZramSwapInfo {
  device: string;
  sizeMiB: number;
  /** /proc/swaps after swapon */
  swaps: string;
}

/** Loads zram (one device) and swaps on /dev/zram0 at high priority. */
export function setupZramSwap(sizeMiB: number): ZramSwapInfo {
  loadModules(ZRAM_MODULES, { zram: ['num_devices=1'] });
  const device = '/dev/zram0';
  writeFileSync('/sys/block/zram0/disksize', `${sizeMiB}M`);
  execFileSync('mkswap', [device], { stdio: 'ignore' });
  execFileSync('swapon', ['-p', '32000', device]);
  return { device, sizeMiB, swaps: readFileSync('/proc/swaps', 'utf8') };
}

/** Counters from /proc/vmstat by key (NaN for a key this kernel lacks). */
export function vmstatCounters<K extends string>(keys: readonly K[]): Record<K, number> {
  const text = readFileSync('/proc/vmstat', 'utf8');
  const out = {} as Record<K, number>;
  for (const key of keys) out[key] = Number(new RegExp(`^${key} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
  return out;
}

/** pswpin / pswpout from /proc/vmstat (pages swapped in / out since boot). */
export function swapCounters(): { pswpin: number; pswpout: number } {
  return vmstatCounters(['pswpin', 'pswpout']);
}
