/**
 * Which DAMON interfaces this kernel offers: the sysfs admin tree
 * (Documentation/admin-guide/mm/damon/usage.rst) and the operation sets
 * (vaddr, fvaddr, paddr) listed in a context's `avail_operations`.
 *
 * `avail_operations` exists only inside a context. When some kdamond
 * already has one, it is read as is. Only when there is no kdamond at all
 * does the probe create one with one context, read, and remove it again
 * (nr_kdamonds back to 0), so it never disturbs a running tracker.
 */
import type { PlatformIO } from './io.js';

export const DAMON_ADMIN = '/sys/kernel/mm/damon/admin';

export interface DamonFacts {
  sysfs: boolean;
  /** e.g. ['paddr'] on this host, ['vaddr', 'fvaddr', 'paddr'] on stock 6.12 */
  operations: string[];
  /** kdamonds that exist now (someone may be using DAMON) */
  kdamonds: number;
}

/** Probes DAMON sysfs and its operation sets. */
export async function probeDamon(io: PlatformIO): Promise<DamonFacts> {
  const kdamondsDir = `${DAMON_ADMIN}/kdamonds`;
  if (!(await io.exists(`${kdamondsDir}/nr_kdamonds`))) return { sysfs: false, operations: [], kdamonds: 0 };
  const kdamonds = Number((await io.readText(`${kdamondsDir}/nr_kdamonds`)).trim());
  for (let k = 0; k < kdamonds; k++) {
    const avail = `${kdamondsDir}/${k}/contexts/0/avail_operations`;
    if (await io.exists(avail)) return { sysfs: true, operations: splitOps(await io.readText(avail)), kdamonds };
  }
  if (kdamonds !== 0) return { sysfs: true, operations: [], kdamonds };
  await io.writeText(`${kdamondsDir}/nr_kdamonds`, '1');
  try {
    await io.writeText(`${kdamondsDir}/0/contexts/nr_contexts`, '1');
    return { sysfs: true, operations: splitOps(await io.readText(`${kdamondsDir}/0/contexts/0/avail_operations`)), kdamonds: 0 };
  } finally {
    await io.writeText(`${kdamondsDir}/nr_kdamonds`, '0');
  }
}

function splitOps(text: string): string[] {
  return text.trim().split(/\s+/).filter((w) => w !== '');
}
