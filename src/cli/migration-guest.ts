/**
 * What migrate-hints and migrate-plan share: the estimate flags and their
 * checks, and reading a guest (domain or pid) into page stats plus the
 * measured pre-copy inputs. Not a verb.
 */
import { VirtTierError, invalidField } from '../errors.js';
import { isErrno } from '../native/errors.js';
import { liveIO } from '../platform/io.js';
import { readMemoryBlockMap } from '../platform/memory-blocks.js';
import { readSmaps } from '../platform/smaps.js';
import { measureGuest, type EstimateOverrides, type MeasuredGuest } from '../migration/guest-inputs.js';
import { ramBlockPageStats, type AccessData, type RamBlockPageStats, type RamBlockTarget } from '../migration/page-stats.js';
import { MAX_DOWNTIME_LIMIT_MS } from '../migration/precopy.js';
import { processRamBlockTargets, qemuRamBlockTargets } from '../migration/targets.js';
import type { MemReader } from '../migration/measure.js';
import { measureSwapInCost } from '../migration/swap-cost.js';
import { liveKernel } from '../native/kernel.js';
import { libvirtUri, parsePid, type OptionSpec, type ParsedOptions } from './options.js';

export const ESTIMATE_OPTIONS: OptionSpec[] = [
  { key: 'bandwidth', long: '--bandwidth', takesValue: true, valueName: 'MBps' },
  { key: 'downtime', long: '--downtime', takesValue: true, valueName: 'MS' },
  { key: 'maxIterations', long: '--max-iterations', takesValue: true, valueName: 'N' },
  { key: 'dirtyRate', long: '--dirty-rate', takesValue: true, valueName: 'MBps' },
  { key: 'workingSet', long: '--working-set', takesValue: true, valueName: 'MiB' },
  { key: 'dirtySample', long: '--dirty-sample', takesValue: true, valueName: 'N' },
  { key: 'zeroFraction', long: '--zero-fraction', takesValue: true, valueName: 'F' },
  { key: 'swapInUs', long: '--swap-in-us', takesValue: true, valueName: 'US' },
];

export const ESTIMATE_KEYS: Array<[string, string]> = ESTIMATE_OPTIONS.map((o) => [o.key, o.long!]);

export function numberOption(opts: ParsedOptions, key: string, flag: string, allowed: string, check: (n: number) => boolean): number | undefined {
  const v = opts.values[key];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n) || !check(n)) throw invalidField(flag, v, allowed);
  return n;
}

/** The estimate flags, checked; bandwidth may still be undefined (the caller picks its default). */
export function estimateFlags(opts: ParsedOptions): Omit<EstimateOverrides, 'bandwidthMBps'> & { bandwidthMBps?: number; dirtySamplePages?: number } {
  return {
    bandwidthMBps: numberOption(opts, 'bandwidth', '--bandwidth', 'MiB/s > 0', (n) => n > 0),
    maxDowntimeMs: numberOption(opts, 'downtime', '--downtime', `ms in 1..${MAX_DOWNTIME_LIMIT_MS}`, (n) => n >= 1 && n <= MAX_DOWNTIME_LIMIT_MS),
    maxIterations: numberOption(opts, 'maxIterations', '--max-iterations', 'an integer 1..100000', (n) => Number.isInteger(n) && n >= 1 && n <= 100000),
    dirtyRateMBps: numberOption(opts, 'dirtyRate', '--dirty-rate', 'MiB/s >= 0', (n) => n >= 0),
    workingSetMiB: numberOption(opts, 'workingSet', '--working-set', 'MiB >= 0', (n) => n >= 0),
    dirtySamplePages: numberOption(opts, 'dirtySample', '--dirty-sample', 'an integer >= 0 (pages; 0: do not measure)', (n) => Number.isInteger(n) && n >= 0),
    zeroFraction: numberOption(opts, 'zeroFraction', '--zero-fraction', '0..1', (n) => n >= 0 && n <= 1),
    swapInUs: numberOption(opts, 'swapInUs', '--swap-in-us', 'µs >= 0', (n) => n >= 0),
  };
}

export interface GuestRead {
  pid: number;
  domainName?: string;
  targets: RamBlockTarget[];
  unmatched: string[];
  stats: RamBlockPageStats[];
  access?: AccessData;
}

/** Resolves DOMAIN or --pid and reads each RAMBlock's page state. */
export async function readGuest(opts: ParsedOptions, access: ((pid: number) => Promise<AccessData | undefined>) | undefined, requireRunningDomain = false): Promise<GuestRead & { state?: string }> {
  const domain = opts.positionals[0];
  const pidText = opts.values.pid;
  if ((domain === undefined) === (pidText === undefined)) {
    throw invalidField('DOMAIN|--pid', domain ?? String(pidText ?? ''), 'a domain name/UUID or --pid PID (one of them)', domain === undefined ? 'missing' : 'both given');
  }
  let pid: number;
  let targets: RamBlockTarget[];
  let unmatched: string[] = [];
  let domainName: string | undefined;
  let state: string | undefined;
  if (domain !== undefined) {
    const { resolveDomain } = await import('../virt/discovery.js');
    const d = await resolveDomain(domain, { uri: libvirtUri(opts) });
    if (requireRunningDomain && d.state !== 'running') {
      throw new VirtTierError('OPT_INVAL', `domain "${d.name}" is ${d.state}, not running`, { field: 'DOMAIN', value: domain, allowed: 'a running domain' });
    }
    pid = d.pid;
    domainName = d.name;
    state = d.state;
    ({ targets, unmatched } = qemuRamBlockTargets(d.ramBlocks, await readSmaps(liveIO, pid)));
  } else {
    pid = parsePid(String(pidText));
    ({ targets, unmatched } = await processRamBlockTargets(liveIO, pid));
  }
  const field = domain !== undefined ? 'DOMAIN' : '--pid';
  const value = domain ?? String(pid);
  if (targets.length === 0) throw new VirtTierError('OPT_INVAL', `pid ${pid}: no guest RAM found (no RAMBlock matched a mapping)`, { field, value });
  const accessData = access ? await access(pid) : undefined;
  // nodes by PFN through the sysfs memory-block map (no move_pages per page); without it, move_pages
  const nodeMap = await readMemoryBlockMap(liveIO).catch(() => undefined);
  const stats: RamBlockPageStats[] = [];
  for (const t of targets) {
    try {
      stats.push(await ramBlockPageStats(pid, t, accessData, liveKernel, nodeMap));
    } catch (err) {
      throw guestReadError(err, pid, field, value);
    }
  }
  return { pid, domainName, targets, unmatched, stats, state, access: accessData };
}

function guestReadError(err: unknown, pid: number, field: string, value: string): unknown {
  if (isErrno(err, 'ESRCH', 'ENOENT')) return new VirtTierError('OPT_INVAL', `pid ${pid} exited while its pages were read`, { field, value });
  if (isErrno(err, 'EACCES', 'EPERM')) return new VirtTierError('OPT_PERM', `pid ${pid}: permission denied reading its memory (run as root)`, { field: '--pid', value: String(pid) });
  return err;
}

/** Measures the inputs, mapping OS errors to the same clear messages. */
export async function measure(g: GuestRead, opts: { zeroSamplePages?: number; dirtySamplePages?: number; openMem?: (pid: number) => MemReader; swapInUs?: number }): Promise<MeasuredGuest> {
  try {
    return await measureGuest(g.pid, g.stats, {
      io: liveIO, zeroSamplePages: opts.zeroSamplePages, dirtySamplePages: opts.dirtySamplePages, openMem: opts.openMem,
      // a flag replaces the measurement, so it is not taken
      swapInCost: opts.swapInUs === undefined ? () => measureSwapInCost(liveKernel) : undefined,
    });
  } catch (err) {
    throw guestReadError(err, g.pid, g.domainName !== undefined ? 'DOMAIN' : '--pid', g.domainName ?? String(g.pid));
  }
}
