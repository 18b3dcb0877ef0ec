/**
 * `virt-tier migrate-hints DOMAIN|--pid PID [--format json|bitmap] [--out DIR]
 *  [--estimate [--bandwidth MBps] [--dirty-rate MBps] [--downtime MS] [--max-iterations N]]`:
 * per guest RAMBlock, which pages are present (NUMA node), hot/cold (the
 * daemon's latest cycle, when it has one), swapped or never touched, as
 * JSON or as VTBM bitmaps, with an optional pre-copy estimate
 * (docs/migration-hints.md). Reads the kernel directly; asks the daemon
 * only for access counts.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { VirtTierError, invalidField } from '../errors.js';
import { isErrno } from '../native/errors.js';
import { liveIO } from '../platform/io.js';
import { readSmaps } from '../platform/smaps.js';
import { BITMAP_FLAGS, encodeBitmap, PageBitmap, type BitmapState } from '../migration/bitmap.js';
import { MIGRATION_ACCESS_COMMAND } from '../migration/access-handler.js';
import { ramBlockPageStats, stateBitmaps, stateRanges, type AccessData, type RamBlockPageStats, type RamBlockTarget } from '../migration/page-stats.js';
import { DEFAULT_MAX_DOWNTIME_MS, DEFAULT_MAX_ITERATIONS, estimatePrecopy, type PrecopyEstimate } from '../migration/precopy.js';
import { processRamBlockTargets, qemuRamBlockTargets } from '../migration/targets.js';
import type { CliCommand, CliIO } from './command.js';
import { CONNECT_OPTION, HELP_OPTION, libvirtUri, parsePid, PID_OPTION, SOCKET_OPTION, socketName, type ParsedOptions } from './options.js';
import { defineVerb } from './verb.js';
import { daemonCall } from './daemon-call.js';
import { hex, mibNumber, printJson } from './format.js';

const USAGE = `Usage: virt-tier migrate-hints DOMAIN|--pid PID [--format json|bitmap] [--out DIR]
                             [--estimate [--bandwidth MBps] [--dirty-rate MBps] [--downtime MS] [--max-iterations N]]
                             [--hot-threshold N] [--connect URI] [-s SOCKET]
  Per RAMBlock: present pages (NUMA node), hot/cold (the daemon's latest cycle), swapped, never touched.
  --format bitmap   one <ramblock>.vtbm file per RAMBlock in --out DIR (default .), see docs/migration-hints.md
  --estimate        pre-copy estimate with and without sending swapped pages (rates in MiB/s;
                    defaults: bandwidth 1024, dirty rate 0, downtime ${DEFAULT_MAX_DOWNTIME_MS} ms, ${DEFAULT_MAX_ITERATIONS} iterations)
  --hot-threshold   access count (of the cycle's loop scans) from which a page is hot when the daemon
                    does not say (slide tasks carry T); default 1`;

const OPTIONS = [
  PID_OPTION,
  { key: 'format', long: '--format', takesValue: true, valueName: 'json|bitmap' },
  { key: 'out', short: '-o', long: '--out', takesValue: true, valueName: 'DIR' },
  { key: 'estimate', long: '--estimate', takesValue: false },
  { key: 'bandwidth', long: '--bandwidth', takesValue: true, valueName: 'MBps' },
  { key: 'dirtyRate', long: '--dirty-rate', takesValue: true, valueName: 'MBps' },
  { key: 'downtime', long: '--downtime', takesValue: true, valueName: 'MS' },
  { key: 'maxIterations', long: '--max-iterations', takesValue: true, valueName: 'N' },
  { key: 'hotThreshold', long: '--hot-threshold', takesValue: true, valueName: 'N' },
  CONNECT_OPTION,
  SOCKET_OPTION,
  HELP_OPTION,
];

function numberOption(opts: ParsedOptions, key: string, flag: string, allowed: string, check: (n: number) => boolean): number | undefined {
  const v = opts.values[key];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n) || !check(n)) throw invalidField(flag, v, allowed);
  return n;
}

export interface MigrateHintsOptions {
  /** daemon access counts; tests pass a function, production asks the daemon */
  accessFor?: (pid: number) => Promise<AccessData | undefined>;
}

/** Asks the daemon for the latest access counts of `pid`; undefined when there is no daemon or no data. */
async function daemonAccess(socket: string, pid: number, fallbackThreshold: number): Promise<AccessData | undefined> {
  try {
    const r = (await daemonCall(socket, MIGRATION_ACCESS_COMMAND, { pid }, 3000)) as (Omit<AccessData, 'hotThreshold'> & { hotThreshold?: number }) | null;
    if (!r || !Array.isArray(r.ranges)) return undefined;
    return { ...r, hotThreshold: r.hotThreshold ?? fallbackThreshold };
  } catch {
    return undefined;
  }
}

const safeFileName = (id: string): string => id.replace(/\//g, '_').replace(/^\.+/, '_');

function blockJson(s: RamBlockPageStats): Record<string, unknown> {
  return {
    id: s.target.id,
    start: hex(s.target.start),
    lengthBytes: s.lengthBytes,
    pageSizeBytes: s.target.pageSizeBytes,
    kind: s.target.kind,
    ...(s.target.pathname ? { mapping: s.target.pathname } : {}),
    swap: s.swapSource,
    accessData: s.temperature !== undefined,
    pages: s.counts,
    presentPagesByNode: s.presentPagesByNode,
    ranges: stateRanges(s).map((r) => ({ ...r, offset: hex(r.offset) })),
  };
}

/** Writes `<id>.vtbm` per block; returns the paths. */
function writeBitmaps(dir: string, stats: RamBlockPageStats[], snapshotId: bigint, timeMs: number): string[] {
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  for (const s of stats) {
    const maps = stateBitmaps(s);
    let flags = 0;
    if (s.target.kind === 'hugetlb') flags |= BITMAP_FLAGS.hugetlb;
    if (s.target.kind === 'shared') flags |= BITMAP_FLAGS.shared;
    const common = { ramBlockId: s.target.id, ramBlockLengthBytes: s.lengthBytes, mappingPageSizeBytes: s.target.pageSizeBytes, snapshotId, snapshotTimeMs: timeMs };
    const records: Array<[BitmapState, number]> = [['present', flags], ['swapped', flags], ['cold', flags | (s.temperature ? 0 : BITMAP_FLAGS.noAccessData)]];
    if (maps.swapCache) records.push(['swapCache', flags]);
    // A cold record without access data has no bits set and says so in its flags.
    const bitmapOf = (state: BitmapState): PageBitmap => maps[state as keyof typeof maps] ?? new PageBitmap(s.states.length);
    const buf = Buffer.concat(records.map(([state, f]) => encodeBitmap({ ...common, state, flags: f, bitmap: bitmapOf(state) })));
    const file = path.join(dir, `${safeFileName(s.target.id)}.vtbm`);
    writeFileSync(file, buf);
    files.push(file);
  }
  return files;
}

/** The pre-copy estimate over all RAMBlocks. */
export function estimateFor(stats: RamBlockPageStats[], rates: { bandwidthMBps: number; dirtyRateMBps: number; maxDowntimeMs?: number; maxIterations?: number }): PrecopyEstimate {
  let present = 0;
  let swapped = 0;
  let untouched = 0;
  let ram = 0;
  for (const s of stats) {
    // swap-cache pages are in memory: QEMU reads them without a swap-in
    present += s.counts.present + s.counts.swapCache;
    swapped += s.counts.swapped;
    untouched += s.counts.untouched;
    ram += s.states.length * 4096;
  }
  return estimatePrecopy({ ramSizeBytes: ram, pageSizeBytes: 4096, presentPages: present, swappedPages: swapped, zeroPages: untouched, ...rates });
}

/** The verb, asking `options.accessFor` for access counts (the daemon in production). */
function migrateHintsVerb(options: MigrateHintsOptions): CliCommand {
  return defineVerb({
    name: 'migrate-hints',
    summary: 'per-RAMBlock page state (present/node, hot/cold, swapped) for live migration, JSON or bitmaps, with a pre-copy estimate',
    usage: USAGE,
    options: OPTIONS,
    positionals: 1,
    run: (_action, opts, io) => migrateHints(opts, io, options),
  });
}

async function migrateHints(opts: ParsedOptions, io: CliIO, options: MigrateHintsOptions): Promise<number> {
  const domain = opts.positionals[0];
  const pidText = opts.values.pid;
  if ((domain === undefined) === (pidText === undefined)) {
    throw invalidField('DOMAIN|--pid', domain ?? String(pidText ?? ''), 'a domain name/UUID or --pid PID (one of them)', domain === undefined ? 'missing' : 'both given');
  }
  const format = opts.values.format ?? 'json';
  if (format !== 'json' && format !== 'bitmap') throw invalidField('--format', format, 'json|bitmap');
  const hotThreshold = numberOption(opts, 'hotThreshold', '--hot-threshold', 'an integer 0..2147483647', (n) => Number.isInteger(n) && n >= 0 && n <= 2147483647) ?? 1;
  const bandwidthMBps = numberOption(opts, 'bandwidth', '--bandwidth', 'MiB/s > 0', (n) => n > 0) ?? 1024;
  const dirtyRateMBps = numberOption(opts, 'dirtyRate', '--dirty-rate', 'MiB/s >= 0', (n) => n >= 0) ?? 0;
  const maxDowntimeMs = numberOption(opts, 'downtime', '--downtime', 'ms > 0', (n) => n > 0);
  const maxIterations = numberOption(opts, 'maxIterations', '--max-iterations', 'an integer 1..100000', (n) => Number.isInteger(n) && n >= 1 && n <= 100000);
  const wantsEstimate = opts.values.estimate === true;
  if (!wantsEstimate) {
    for (const [k, flag] of [['bandwidth', '--bandwidth'], ['dirtyRate', '--dirty-rate'], ['downtime', '--downtime'], ['maxIterations', '--max-iterations']] as const) {
      if (opts.values[k] !== undefined) throw invalidField(flag, String(opts.values[k]), 'only with --estimate', 'estimate option without --estimate');
    }
  }

  // Targets: a domain through libvirt, or a pid directly.
  let pid: number;
  let targets: RamBlockTarget[];
  let unmatched: string[] = [];
  let domainName: string | undefined;
  if (domain !== undefined) {
    const { resolveDomain } = await import('../virt/discovery.js');
    const d = await resolveDomain(domain, { uri: libvirtUri(opts) });
    pid = d.pid;
    domainName = d.name;
    ({ targets, unmatched } = qemuRamBlockTargets(d.ramBlocks, await readSmaps(liveIO, pid)));
  } else {
    pid = parsePid(String(pidText));
    ({ targets, unmatched } = await processRamBlockTargets(liveIO, pid));
  }
  if (targets.length === 0) throw new VirtTierError('OPT_INVAL', `pid ${pid}: no guest RAM found (no RAMBlock matched a mapping)`, { field: domain !== undefined ? 'DOMAIN' : '--pid', value: domain ?? String(pid) });

  const access = options.accessFor ? await options.accessFor(pid) : await daemonAccess(socketName(opts), pid, hotThreshold);
  const timeMs = Date.now();
  const stats: RamBlockPageStats[] = [];
  for (const t of targets) {
    try {
      stats.push(await ramBlockPageStats(pid, t, access));
    } catch (err) {
      if (isErrno(err, 'ESRCH', 'ENOENT')) throw new VirtTierError('OPT_INVAL', `pid ${pid} exited while its pages were read`, { field: domain !== undefined ? 'DOMAIN' : '--pid', value: domain ?? String(pid) });
      if (isErrno(err, 'EACCES', 'EPERM')) throw new VirtTierError('OPT_PERM', `pid ${pid}: permission denied reading its page tables (run as root)`, { field: '--pid', value: String(pid) });
      throw err;
    }
  }
  const estimate = wantsEstimate ? estimateFor(stats, { bandwidthMBps, dirtyRateMBps, maxDowntimeMs, maxIterations }) : undefined;
  const snapshotId = randomBytes(8).readBigUInt64LE();

  if (format === 'bitmap') {
    const dir = typeof opts.values.out === 'string' ? opts.values.out : '.';
    const files = writeBitmaps(dir, stats, snapshotId, timeMs);
    for (const f of files) io.out(`${f}\n`);
    if (estimate) io.out(estimateText(estimate));
    return 0;
  }
  const doc = {
    version: 1,
    pid,
    ...(domainName !== undefined ? { domain: domainName } : {}),
    snapshotId: snapshotId.toString(),
    timeMs,
    source: stats[0]?.scanSource,
    targetPageSizeBytes: 4096,
    ...(access ? { access: { tracker: access.tracker, loop: access.loop, hotThreshold: access.hotThreshold, timeMs: access.timeMs } } : {}),
    ...(unmatched.length > 0 ? { unmatchedRamBlocks: unmatched } : {}),
    ramBlocks: stats.map(blockJson),
    ...(estimate ? { estimate } : {}),
  };
  if (typeof opts.values.out === 'string') {
    mkdirSync(opts.values.out, { recursive: true });
    const file = path.join(opts.values.out, `migrate-hints-${domainName ?? pid}.json`);
    writeFileSync(file, JSON.stringify(doc, null, 2) + '\n');
    io.out(`${file}\n`);
  } else printJson(io, doc);
  return 0;
}

const mib = (bytes: number): string => mibNumber(bytes, 1);

function estimateText(e: PrecopyEstimate): string {
  const row = (label: string, r: PrecopyEstimate['withSkip']): string =>
    `  ${label}: ${mib(r.totalBytes)} MiB in ${r.iterations} pass(es) + stop, total ${(r.totalTimeMs / 1000).toFixed(2)} s, downtime ${r.downtimeMs.toFixed(0)} ms${r.converged ? '' : ` (does not converge: ${r.stopReason})`}\n`;
  return `pre-copy estimate (bandwidth ${e.input.bandwidthMBps} MiB/s, dirty rate ${e.input.dirtyRateMBps} MiB/s, max downtime ${e.input.maxDowntimeMs} ms):\n` +
    row('sending swapped pages', e.withoutSkip) + row('skipping swapped pages', e.withSkip) +
    `  saved: ${mib(e.savedBytes)} MiB, ${(e.savedTimeMs / 1000).toFixed(2)} s, ${e.swapInsAvoided} swap-ins\n`;
}

export const command = migrateHintsVerb({});

/** Runs the verb; tests pass `accessFor` instead of a daemon. */
export function runMigrateHints(args: string[], io: CliIO, options: MigrateHintsOptions = {}): Promise<number> {
  return migrateHintsVerb(options).run(args, io);
}
