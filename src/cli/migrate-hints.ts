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
import { invalidField } from '../errors.js';
import { BITMAP_FLAGS, encodeBitmap, PageBitmap, type BitmapState } from '../migration/bitmap.js';
import { MIGRATION_ACCESS_COMMAND } from '../migration/access-handler.js';
import { measuredJson, precopyInputOf, zeroPagesByBlock, type BlockZeroPages } from '../migration/guest-inputs.js';
import { virshMigrationControl } from '../migration/libvirt-control.js';
import type { MemReader } from '../migration/measure.js';
import { stateBitmaps, stateRanges, type AccessData, type RamBlockPageStats } from '../migration/page-stats.js';
import { DEFAULT_MAX_DOWNTIME_MS, DEFAULT_MAX_ITERATIONS, estimatePrecopy, type PrecopyEstimate } from '../migration/precopy.js';
import type { CliCommand, CliIO } from './command.js';
import { ESTIMATE_KEYS, ESTIMATE_OPTIONS, estimateFlags, measure, numberOption, readGuest } from './migration-guest.js';
import { CONNECT_OPTION, HELP_OPTION, libvirtUri, PID_OPTION, SOCKET_OPTION, socketName, type ParsedOptions } from './options.js';
import { defineVerb } from './verb.js';
import { daemonCall } from './daemon-call.js';
import { hex, mibNumber, printJson } from './format.js';

const USAGE = `Usage: virt-tier migrate-hints DOMAIN|--pid PID [--format json|bitmap] [--out DIR]
                             [--estimate [--bandwidth MBps] [--downtime MS] [--max-iterations N]
                                         [--dirty-rate MBps] [--working-set MiB] [--dirty-sample N]
                                         [--zero-fraction F] [--swap-in-us US]]
                             [--zero-sample N] [--hot-threshold N] [--connect URI] [-s SOCKET]
  Per RAMBlock: present pages (NUMA node), zero pages, hot/cold (the daemon's latest cycle), swapped,
  never touched.
  --format bitmap   one <ramblock>.vtbm file per RAMBlock in --out DIR (default .), see docs/migration-hints.md
  --zero-sample N   present pages read (read-only, /proc/PID/mem) to find zero pages; default all of them
                    up to 262144 (1 GiB), else 32768 (the zero record then lists the sampled ones only);
                    0: none read (the zero record lists the untouched pages only)
  --estimate        pre-copy estimate with and without sending swapped pages (rates in MiB/s). Measured
                    unless given: the dirtying (sampled page contents over 2 s, --dirty-sample pages,
                    default 8192; 0: none), zero pages, the zero share of swapped pages (zram).
                    --bandwidth default: the domain's QEMU max-bandwidth, 1024 for --pid;
                    --downtime default ${DEFAULT_MAX_DOWNTIME_MS} ms; --max-iterations ${DEFAULT_MAX_ITERATIONS};
                    --dirty-rate/--working-set replace the measured dirtying
  --hot-threshold   access count (of the cycle's loop scans) from which a page is hot when the daemon
                    does not say (slide tasks carry T); default 1`;

const OPTIONS = [
  PID_OPTION,
  { key: 'format', long: '--format', takesValue: true, valueName: 'json|bitmap' },
  { key: 'out', short: '-o', long: '--out', takesValue: true, valueName: 'DIR' },
  { key: 'estimate', long: '--estimate', takesValue: false },
  ...ESTIMATE_OPTIONS,
  { key: 'zeroSample', long: '--zero-sample', takesValue: true, valueName: 'N' },
  { key: 'hotThreshold', long: '--hot-threshold', takesValue: true, valueName: 'N' },
  CONNECT_OPTION,
  SOCKET_OPTION,
  HELP_OPTION,
];

export interface MigrateHintsOptions {
  /** daemon access counts; tests pass a function, production asks the daemon */
  accessFor?: (pid: number) => Promise<AccessData | undefined>;
  /** opens guest memory for the zero and dirty samples; default /proc/PID/mem */
  openMem?: (pid: number) => MemReader;
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

function blockJson(s: RamBlockPageStats, zero: BlockZeroPages): Record<string, unknown> {
  return {
    id: s.target.id,
    start: hex(s.target.start),
    lengthBytes: s.lengthBytes,
    pageSizeBytes: s.target.pageSizeBytes,
    kind: s.target.kind,
    ...(s.target.pathname ? { mapping: s.target.pathname } : {}),
    swap: s.swapSource,
    accessData: s.temperature !== undefined,
    // zero: present pages found all zero (zeroComplete false: among the sampled pages only)
    pages: { ...s.counts, zero: zero.presentZeroPages },
    zeroComplete: zero.complete,
    presentPagesByNode: s.presentPagesByNode,
    ranges: stateRanges(s).map((r) => ({ ...r, offset: hex(r.offset) })),
  };
}

/** Writes `<id>.vtbm` per block; returns the paths. */
function writeBitmaps(dir: string, stats: RamBlockPageStats[], zero: BlockZeroPages[], snapshotId: bigint, timeMs: number): string[] {
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  stats.forEach((s, b) => {
    const maps = stateBitmaps(s);
    let flags = 0;
    if (s.target.kind === 'hugetlb') flags |= BITMAP_FLAGS.hugetlb;
    if (s.target.kind === 'shared') flags |= BITMAP_FLAGS.shared;
    const common = { ramBlockId: s.target.id, ramBlockLengthBytes: s.lengthBytes, mappingPageSizeBytes: s.target.pageSizeBytes, snapshotId, snapshotTimeMs: timeMs };
    const records: Array<[BitmapState, number]> = [['present', flags], ['swapped', flags], ['cold', flags | (s.temperature ? 0 : BITMAP_FLAGS.noAccessData)]];
    if (maps.swapCache) records.push(['swapCache', flags]);
    records.push(['zero', flags | (zero[b]!.complete ? 0 : BITMAP_FLAGS.zeroSampled)]);
    // A cold record without access data has no bits set and says so in its flags.
    const bitmapOf = (state: BitmapState): PageBitmap => (state === 'zero' ? zero[b]!.bitmap : maps[state as keyof typeof maps] ?? new PageBitmap(s.states.length));
    const buf = Buffer.concat(records.map(([state, f]) => encodeBitmap({ ...common, state, flags: f, bitmap: bitmapOf(state) })));
    const file = path.join(dir, `${safeFileName(s.target.id)}.vtbm`);
    writeFileSync(file, buf);
    files.push(file);
  });
  return files;
}

/** The verb, asking `options.accessFor` for access counts (the daemon in production). */
function migrateHintsVerb(options: MigrateHintsOptions): CliCommand {
  return defineVerb({
    name: 'migrate-hints',
    summary: 'per-RAMBlock page state (present/node, zero, hot/cold, swapped) for live migration, JSON or bitmaps, with a pre-copy estimate',
    usage: USAGE,
    options: OPTIONS,
    positionals: 1,
    run: (_action, opts, io) => migrateHints(opts, io, options),
  });
}

/** The bandwidth to estimate with: the flag, else the domain QEMU's max-bandwidth, else 1024 MiB/s. */
async function defaultBandwidthMBps(opts: ParsedOptions, domainName: string | undefined): Promise<number> {
  if (domainName === undefined) return 1024;
  const p = await virshMigrationControl(libvirtUri(opts)).queryParameters(domainName);
  return p.maxBandwidthBytesPerSec / 1048576;
}

async function migrateHints(opts: ParsedOptions, io: CliIO, options: MigrateHintsOptions): Promise<number> {
  const format = opts.values.format ?? 'json';
  if (format !== 'json' && format !== 'bitmap') throw invalidField('--format', format, 'json|bitmap');
  const hotThreshold = numberOption(opts, 'hotThreshold', '--hot-threshold', 'an integer 0..2147483647', (n) => Number.isInteger(n) && n >= 0 && n <= 2147483647) ?? 1;
  const zeroSamplePages = numberOption(opts, 'zeroSample', '--zero-sample', 'an integer >= 0 (pages; 0: do not read guest memory)', (n) => Number.isInteger(n) && n >= 0);
  const flags = estimateFlags(opts);
  const wantsEstimate = opts.values.estimate === true;
  if (!wantsEstimate) {
    for (const [k, flag] of ESTIMATE_KEYS) {
      if (opts.values[k] !== undefined) throw invalidField(flag, String(opts.values[k]), 'only with --estimate', 'estimate option without --estimate');
    }
  }
  const access = options.accessFor ?? ((pid: number) => daemonAccess(socketName(opts), pid, hotThreshold));
  const g = await readGuest(opts, access);
  const { pid, domainName, unmatched, stats } = g;
  const timeMs = Date.now();
  // dirtying is only sampled for an estimate: it takes two seconds
  const m = await measure(g, { zeroSamplePages, dirtySamplePages: wantsEstimate ? flags.dirtySamplePages : 0, openMem: options.openMem, swapInUs: wantsEstimate ? flags.swapInUs : 0 });
  const zero = zeroPagesByBlock(m, stats);
  let estimate: PrecopyEstimate | undefined;
  if (wantsEstimate) {
    const bandwidthMBps = flags.bandwidthMBps ?? (await defaultBandwidthMBps(opts, domainName));
    estimate = estimatePrecopy(precopyInputOf(m, { ...flags, bandwidthMBps }));
  }
  const snapshotId = randomBytes(8).readBigUInt64LE();

  if (format === 'bitmap') {
    const dir = typeof opts.values.out === 'string' ? opts.values.out : '.';
    const files = writeBitmaps(dir, stats, zero, snapshotId, timeMs);
    for (const f of files) io.out(`${f}\n`);
    if (estimate) io.out(estimateText(estimate));
    return 0;
  }
  const doc = {
    version: 2,
    pid,
    ...(domainName !== undefined ? { domain: domainName } : {}),
    snapshotId: snapshotId.toString(),
    timeMs,
    source: stats[0]?.scanSource,
    targetPageSizeBytes: 4096,
    ...(g.access ? { access: { tracker: g.access.tracker, loop: g.access.loop, hotThreshold: g.access.hotThreshold, timeMs: g.access.timeMs } } : {}),
    ...(unmatched.length > 0 ? { unmatchedRamBlocks: unmatched } : {}),
    ramBlocks: stats.map((s, b) => blockJson(s, zero[b]!)),
    measured: measuredJson(m),
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

export function estimateText(e: PrecopyEstimate): string {
  const row = (label: string, r: PrecopyEstimate['withSkip']): string =>
    `  ${label}: ${mib(r.totalBytes)} MiB (${r.normalPages} normal + ${r.zeroPages} zero pages) in ${r.iterations} pass(es) + stop, ` +
    `total ${(r.totalTimeMs / 1000).toFixed(2)} s, downtime ${r.downtimeMs.toFixed(0)} ms, ${r.dirtySyncCount} dirty syncs` +
    `${r.converged ? '' : ` (does not converge: forced stop after ${r.iterations} passes)`}\n`;
  return `pre-copy estimate (bandwidth ${e.input.bandwidthMBps} MiB/s, max downtime ${e.input.maxDowntimeMs} ms):\n` +
    row('sending swapped pages', e.withoutSkip) + row('skipping swapped pages', e.withSkip) +
    `  saved: ${mib(e.savedBytes)} MiB, ${(e.savedTimeMs / 1000).toFixed(2)} s, ${e.swapInsAvoided} swap-ins\n`;
}

export const command = migrateHintsVerb({});

/** Runs the verb; tests pass `accessFor` instead of a daemon. */
export function runMigrateHints(args: string[], io: CliIO, options: MigrateHintsOptions = {}): Promise<number> {
  return migrateHintsVerb(options).run(args, io);
}
