/**
 * DAMON's sysfs interface (Documentation/admin-guide/mm/damon/usage.rst,
 * mm/damon/sysfs.c, mm/damon/sysfs-schemes.c), reduced to what the vaddr
 * tracker needs: kdamond slots, one context with one target and fixed
 * regions, one `stat` scheme, the state commands and tried_regions.
 *
 * Every read and write goes through a PlatformIO, so unit tests check the
 * exact sequence against a recorded tree (test/unit/damon-sysfs.test.ts).
 *
 * Kdamond slots are handed out by one owner per daemon
 * (./damon-contexts.ts): writing `nr_kdamonds` removes and recreates every
 * kdamond directory and fails with EBUSY while any kdamond runs.
 */
import type { PlatformIO } from '../platform/io.js';
import { isErrno } from '../native/errors.js';

export const DAMON_ADMIN = '/sys/kernel/mm/damon/admin';
export const KDAMONDS = `${DAMON_ADMIN}/kdamonds`;

/** The largest values the pattern attributes accept (unsigned long / unsigned int, mm/damon/sysfs-schemes.c). */
const ULONG_MAX = '18446744073709551615';
const UINT_MAX = '4294967295';

export interface DamonRegion {
  start: number;
  end: number;
}

export interface DamonContextConfig {
  pid: number;
  sampleUs: number;
  aggrUs: number;
  /**
   * vaddr's ops update (mm/damon/vaddr.c, damon_va_update) resets the
   * regions to three ranges covering the whole address space, which would
   * stretch our first region over the libraries and the heap; set beyond
   * the cycle so it never runs while we monitor.
   */
  updateUs: number;
  minNrRegions: number;
  maxNrRegions: number;
  regions: DamonRegion[];
}

export interface TriedRegion {
  start: number;
  nrAccesses: number;
}

export function kdamondDir(slot: number): string {
  return `${KDAMONDS}/${slot}`;
}

function contextDir(slot: number): string {
  return `${kdamondDir(slot)}/contexts/0`;
}

function schemeDir(slot: number): string {
  return `${contextDir(slot)}/schemes/0`;
}

/** Writes a whole vaddr context with one wide `stat` scheme into a slot that is off. */
export async function writeContext(io: PlatformIO, slot: number, cfg: DamonContextConfig): Promise<void> {
  const k = kdamondDir(slot);
  const c = contextDir(slot);
  const s = schemeDir(slot);
  await io.writeText(`${k}/contexts/nr_contexts`, '1');
  await io.writeText(`${c}/operations`, 'vaddr');
  await io.writeText(`${c}/monitoring_attrs/intervals/sample_us`, String(cfg.sampleUs));
  await io.writeText(`${c}/monitoring_attrs/intervals/aggr_us`, String(cfg.aggrUs));
  await io.writeText(`${c}/monitoring_attrs/intervals/update_us`, String(cfg.updateUs));
  await io.writeText(`${c}/monitoring_attrs/nr_regions/min`, String(cfg.minNrRegions));
  await io.writeText(`${c}/monitoring_attrs/nr_regions/max`, String(cfg.maxNrRegions));
  await io.writeText(`${c}/targets/nr_targets`, '1');
  await io.writeText(`${c}/targets/0/pid_target`, String(cfg.pid));
  await io.writeText(`${c}/targets/0/regions/nr_regions`, String(cfg.regions.length));
  for (let i = 0; i < cfg.regions.length; i++) {
    const r = cfg.regions[i]!;
    // A region's start is written first: the kernel checks nothing until `on`.
    await io.writeText(`${c}/targets/0/regions/${i}/start`, String(r.start));
    await io.writeText(`${c}/targets/0/regions/${i}/end`, String(r.end));
  }
  await io.writeText(`${c}/schemes/nr_schemes`, '1');
  await io.writeText(`${s}/action`, 'stat');
  // The pattern defaults to min = max = 0 for all three: nothing would be tried.
  await io.writeText(`${s}/access_pattern/sz/min`, '0');
  await io.writeText(`${s}/access_pattern/sz/max`, ULONG_MAX);
  await io.writeText(`${s}/access_pattern/nr_accesses/min`, '0');
  await io.writeText(`${s}/access_pattern/nr_accesses/max`, UINT_MAX);
  await io.writeText(`${s}/access_pattern/age/min`, '0');
  await io.writeText(`${s}/access_pattern/age/max`, UINT_MAX);
}

/** The kdamond's state: 'on' or 'off'. */
export async function readState(io: PlatformIO, slot: number): Promise<string> {
  return (await io.readText(`${kdamondDir(slot)}/state`)).trim();
}

export async function turnOn(io: PlatformIO, slot: number): Promise<void> {
  await io.writeText(`${kdamondDir(slot)}/state`, 'on');
}

/** Off, tolerating a kdamond that already stopped (its target exited): the kernel then says EINVAL or it is off already. */
export async function turnOff(io: PlatformIO, slot: number): Promise<void> {
  try {
    if ((await readState(io, slot)) === 'off') return;
    await io.writeText(`${kdamondDir(slot)}/state`, 'off');
  } catch (err) {
    if (!isErrno(err, 'EINVAL', 'ENOENT')) throw err;
  }
}

/**
 * Asks the running kdamond to record the regions its schemes are tried on
 * at their next application (the end of the current aggregation window):
 * the write returns once that happened (mm/damon/sysfs.c polls every 100 ms).
 */
export async function updateTriedRegions(io: PlatformIO, slot: number): Promise<void> {
  await io.writeText(`${kdamondDir(slot)}/state`, 'update_schemes_tried_regions');
}

/**
 * Reads schemes/0/tried_regions/N/{start,nr_accesses}, in address order.
 * `end` and `age` are not read: the regions are ours and fixed, so a start
 * identifies one, and every sysfs read costs a few syscalls (the bulk of the
 * tracker's own CPU time, see docs/benchmarks.md "Trackers").
 */
export async function readTriedRegions(io: PlatformIO, slot: number): Promise<TriedRegion[]> {
  const dir = `${schemeDir(slot)}/tried_regions`;
  const names = (await io.readDir(dir)).filter((n) => /^\d+$/.test(n)).sort((a, b) => Number(a) - Number(b));
  const out: TriedRegion[] = new Array(names.length);
  // A bounded number of reads in flight keeps the threadpool usable by others.
  const BATCH = 32;
  for (let i = 0; i < names.length; i += BATCH) {
    await Promise.all(
      names.slice(i, i + BATCH).map(async (name, j) => {
        const at = (f: string): Promise<number> => io.readText(`${dir}/${name}/${f}`).then((t) => Number(t.trim()));
        const [start, nrAccesses] = await Promise.all([at('start'), at('nr_accesses')]);
        out[i + j] = { start, nrAccesses };
      }),
    );
  }
  return out.sort((a, b) => a.start - b.start);
}

export interface PaddrContextConfig {
  sampleUs: number;
  aggrUs: number;
  minNrRegions: number;
  maxNrRegions: number;
  /** physical byte ranges, sorted, disjoint */
  regions: DamonRegion[];
}

/**
 * Writes a paddr context without schemes into a slot that is off: the
 * counts are read from the damon_aggregated tracepoint (bulk), so no
 * `stat` scheme and no tried_regions walk is needed.
 */
export async function writePaddrContext(io: PlatformIO, slot: number, cfg: PaddrContextConfig): Promise<void> {
  const k = kdamondDir(slot);
  const c = contextDir(slot);
  await io.writeText(`${k}/contexts/nr_contexts`, '1');
  await io.writeText(`${c}/operations`, 'paddr');
  await io.writeText(`${c}/monitoring_attrs/intervals/sample_us`, String(cfg.sampleUs));
  await io.writeText(`${c}/monitoring_attrs/intervals/aggr_us`, String(cfg.aggrUs));
  // paddr has no ops update that resets regions; keep it out of the window anyway.
  await io.writeText(`${c}/monitoring_attrs/intervals/update_us`, String(cfg.aggrUs * 4 + 60_000_000));
  await io.writeText(`${c}/monitoring_attrs/nr_regions/min`, String(cfg.minNrRegions));
  await io.writeText(`${c}/monitoring_attrs/nr_regions/max`, String(cfg.maxNrRegions));
  await io.writeText(`${c}/targets/nr_targets`, '1');
  await io.writeText(`${c}/targets/0/regions/nr_regions`, String(cfg.regions.length));
  for (let i = 0; i < cfg.regions.length; i++) {
    await io.writeText(`${c}/targets/0/regions/${i}/start`, String(cfg.regions[i]!.start));
    await io.writeText(`${c}/targets/0/regions/${i}/end`, String(cfg.regions[i]!.end));
  }
  await io.writeText(`${c}/schemes/nr_schemes`, '0');
}

/** One DAMOS scheme: an action on regions within the access pattern (Documentation/admin-guide/mm/damon/usage.rst, "schemes"). */
export interface DamosScheme {
  action: string;
  sizeBytes: { min: number; max: number };
  /** nr_accesses per aggregation interval */
  nrAccesses: { min: number; max: number };
  /** aggregation intervals */
  age: { min: number; max: number };
}

export interface SchemeContextConfig {
  /** the target processes; vaddr sets each one's regions from its address space itself */
  pids: number[];
  sampleUs: number;
  aggrUs: number;
  updateUs: number;
  minNrRegions: number;
  maxNrRegions: number;
  scheme: DamosScheme;
}

/**
 * Writes a vaddr context that acts (etmem's damon engine): every pid a
 * target with no initial regions (vaddr's init derives them from the
 * mappings), one scheme with the access pattern and action. No quota and
 * no watermarks (their defaults: unlimited, always active), as etmem's
 * debugfs scheme line had none.
 */
export async function writeSchemeContext(io: PlatformIO, slot: number, cfg: SchemeContextConfig): Promise<void> {
  const k = kdamondDir(slot);
  const c = contextDir(slot);
  const s = schemeDir(slot);
  await io.writeText(`${k}/contexts/nr_contexts`, '1');
  await io.writeText(`${c}/operations`, 'vaddr');
  await io.writeText(`${c}/monitoring_attrs/intervals/sample_us`, String(cfg.sampleUs));
  await io.writeText(`${c}/monitoring_attrs/intervals/aggr_us`, String(cfg.aggrUs));
  await io.writeText(`${c}/monitoring_attrs/intervals/update_us`, String(cfg.updateUs));
  await io.writeText(`${c}/monitoring_attrs/nr_regions/min`, String(cfg.minNrRegions));
  await io.writeText(`${c}/monitoring_attrs/nr_regions/max`, String(cfg.maxNrRegions));
  await io.writeText(`${c}/targets/nr_targets`, String(cfg.pids.length));
  for (let i = 0; i < cfg.pids.length; i++) {
    await io.writeText(`${c}/targets/${i}/pid_target`, String(cfg.pids[i]));
    await io.writeText(`${c}/targets/${i}/regions/nr_regions`, '0');
  }
  await io.writeText(`${c}/schemes/nr_schemes`, '1');
  await io.writeText(`${s}/action`, cfg.scheme.action);
  await io.writeText(`${s}/access_pattern/sz/min`, String(cfg.scheme.sizeBytes.min));
  await io.writeText(`${s}/access_pattern/sz/max`, String(cfg.scheme.sizeBytes.max));
  await io.writeText(`${s}/access_pattern/nr_accesses/min`, String(cfg.scheme.nrAccesses.min));
  await io.writeText(`${s}/access_pattern/nr_accesses/max`, String(cfg.scheme.nrAccesses.max));
  await io.writeText(`${s}/access_pattern/age/min`, String(cfg.scheme.age.min));
  await io.writeText(`${s}/access_pattern/age/max`, String(cfg.scheme.age.max));
}

/** The scheme's counters (schemes/0/stats), refreshed by `update_schemes_stats` first. */
export interface SchemeStats {
  nrTried: number;
  szTriedBytes: number;
  nrApplied: number;
  szAppliedBytes: number;
}

export async function readSchemeStats(io: PlatformIO, slot: number): Promise<SchemeStats> {
  await io.writeText(`${kdamondDir(slot)}/state`, 'update_schemes_stats');
  const at = (f: string): Promise<number> => io.readText(`${schemeDir(slot)}/stats/${f}`).then((t) => Number(t.trim()));
  const [nrTried, szTriedBytes, nrApplied, szAppliedBytes] = await Promise.all([at('nr_tried'), at('sz_tried'), at('nr_applied'), at('sz_applied')]);
  return { nrTried, szTriedBytes, nrApplied, szAppliedBytes };
}
