/**
 * Which DAMON interfaces this kernel offers: the sysfs admin tree
 * (Documentation/admin-guide/mm/damon/usage.rst) and the operation sets
 * (vaddr, fvaddr, paddr) listed in a context's `avail_operations`.
 *
 * `avail_operations` exists only inside a context. When some kdamond
 * already has one, it is read as is. Otherwise, by default, the probe
 * writes nothing: it looks for the operation sets' functions in
 * /proc/kallsyms (damon_va_check_accesses is mm/damon/vaddr.c, which also
 * registers fvaddr; damon_pa_check_accesses is mm/damon/paddr.c). With
 * `createContext: true` it instead creates one kdamond with one context,
 * reads `avail_operations` and removes it again (nr_kdamonds back to 0):
 * exact, but it races with a tracker that starts at the same moment.
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
export async function probeDamon(io: PlatformIO, options: { createContext?: boolean } = {}): Promise<DamonFacts> {
  const kdamondsDir = `${DAMON_ADMIN}/kdamonds`;
  if (!(await io.exists(`${kdamondsDir}/nr_kdamonds`))) return { sysfs: false, operations: [], kdamonds: 0 };
  const kdamonds = Number((await io.readText(`${kdamondsDir}/nr_kdamonds`)).trim());
  for (let k = 0; k < kdamonds; k++) {
    const avail = `${kdamondsDir}/${k}/contexts/0/avail_operations`;
    if (await io.exists(avail)) return { sysfs: true, operations: splitOps(await io.readText(avail)), kdamonds };
  }
  if (kdamonds !== 0 || !options.createContext) return { sysfs: true, operations: await operationsFromKallsyms(io), kdamonds };
  await io.writeText(`${kdamondsDir}/nr_kdamonds`, '1');
  try {
    await io.writeText(`${kdamondsDir}/0/contexts/nr_contexts`, '1');
    return { sysfs: true, operations: splitOps(await io.readText(`${kdamondsDir}/0/contexts/0/avail_operations`)), kdamonds: 0 };
  } finally {
    await io.writeText(`${kdamondsDir}/nr_kdamonds`, '0');
  }
}

/** Operation sets whose code is in the running kernel, from /proc/kallsyms. */
export async function operationsFromKallsyms(io: PlatformIO): Promise<string[]> {
  if (!(await io.exists('/proc/kallsyms'))) return [];
  const syms = await io.readText('/proc/kallsyms');
  const ops: string[] = [];
  if (/ damon_va_check_accesses\b/.test(syms)) ops.push('vaddr', 'fvaddr');
  if (/ damon_pa_check_accesses\b/.test(syms)) ops.push('paddr');
  return ops;
}

function splitOps(text: string): string[] {
  return text.trim().split(/\s+/).filter((w) => w !== '');
}
