/**
 * `virt-tier pages --pid PID [--vma-flags ht] [--json]`: per VMA and per
 * range of a process, which pages are present (on which NUMA node, with
 * which page size) and which are swapped out. Read directly from the
 * kernel (PAGEMAP_SCAN, else pagemap; move_pages for nodes); no daemon.
 */
import type { CliCommand, CliIO } from './command.js';
import { HELP_OPTION, JSON_OPTION, parseOptions, requireOption } from './options.js';
import { printJson, reportError } from './daemon-call.js';
import { table } from './format.js';
import { VirtTierError, invalidField } from '../errors.js';
import { isErrno } from '../native/errors.js';
import { liveIO, type PlatformIO } from '../platform/io.js';
import { processPageStats, type ProcessPageStats } from '../platform/page-stats.js';

const USAGE = `Usage: virt-tier pages --pid PID [--vma-flags FLAGS] [--json]
  Present/swapped pages per VMA and range, with NUMA node and page size.
  --vma-flags  only VMAs with all these smaps VmFlags, comma-separated (e.g. ht for hugetlb guest RAM)`;

/** pid_max, the upper bound of a valid PID (proc(5)); 4194304 when unreadable. */
async function pidMax(io: PlatformIO): Promise<number> {
  try {
    return Number((await io.readText('/proc/sys/kernel/pid_max')).trim()) || 4194304;
  } catch {
    return 4194304;
  }
}

/** Validates --pid: a decimal integer in 1..pid_max. */
export async function parsePid(value: string, io: PlatformIO = liveIO): Promise<number> {
  const max = await pidMax(io);
  const allowed = `a running process id, 1..${max}`;
  if (!/^\d+$/.test(value)) throw invalidField('--pid', value, allowed, 'not a process id');
  const pid = Number(value);
  if (pid < 1 || pid > max) throw invalidField('--pid', value, allowed, 'out of range');
  return pid;
}

/** Validates --vma-flags: two-letter smaps VmFlags mnemonics. */
export function parseVmaFlags(value: string): string[] {
  const flags = value.split(/[,\s]+/).filter((f) => f !== '');
  for (const f of flags) if (!/^[a-z0-9]{2}$/.test(f)) throw invalidField('--vma-flags', value, 'comma-separated two-letter VmFlags, e.g. ht or rd,wr');
  if (flags.length === 0) throw invalidField('--vma-flags', value, 'at least one two-letter VmFlag, e.g. ht');
  return flags;
}

const hex = (n: number): string => '0x' + n.toString(16);
const kib = (pages4k: number): string => String(pages4k * 4);

function toJson(stats: ProcessPageStats): unknown {
  return {
    pid: stats.pid,
    source: stats.source,
    vmas: stats.vmas.map((v) => ({
      start: hex(v.vma.start),
      end: hex(v.vma.end),
      perms: v.vma.perms,
      pathname: v.vma.pathname,
      vmFlags: v.vma.vmFlags,
      pageSizeBytes: v.pageSizeBytes,
      presentPages4k: v.presentPages4k,
      swappedPages4k: v.swappedPages4k,
      presentPages4kByNode: v.presentPages4kByNode,
      ...(v.notResidentPages4k !== undefined ? { notResidentPages4k: v.notResidentPages4k } : {}),
      ranges: v.ranges.map((r) => ({ start: hex(r.start), end: hex(r.end), present: r.present, swapped: r.swapped, node: r.node })),
    })),
  };
}

function toText(stats: ProcessPageStats): string {
  const rows: string[][] = [];
  for (const v of stats.vmas) {
    const nodes = Object.entries(v.presentPages4kByNode).map(([n, p]) => `N${n}=${kib(p)}K`).join(' ') || '-';
    rows.push([`${hex(v.vma.start)}-${hex(v.vma.end)}`, v.vma.perms, `${v.pageSizeBytes / 1024}K`, kib(v.presentPages4k), kib(v.swappedPages4k), nodes, v.vma.pathname || '[anon]']);
    for (const r of v.ranges) {
      rows.push([`  ${hex(r.start)}-${hex(r.end)}`, '', '', r.present ? kib((r.end - r.start) / 4096) : '', r.swapped ? kib((r.end - r.start) / 4096) : '', r.present ? `N${r.node}` : '', '']);
    }
  }
  return `pid ${stats.pid} (${stats.source})\n` + table(['range', 'perms', 'pagesize', 'present KiB', 'swapped KiB', 'nodes', 'mapping'], rows);
}

/** Runs the verb against `io` (liveIO in production). */
export async function runPages(args: string[], io: CliIO, platform: PlatformIO = liveIO): Promise<number> {
  try {
    const opts = parseOptions(args, [
      { key: 'pid', short: '-p', long: '--pid', takesValue: true, valueName: 'PID' },
      { key: 'vmaFlags', long: '--vma-flags', takesValue: true, valueName: 'FLAGS' },
      JSON_OPTION,
      HELP_OPTION,
    ]);
    if (opts.values.help) {
      io.out(USAGE + '\n');
      return 0;
    }
    const pidText = requireOption(opts, 'pid', '--pid', 'a process id');
    const pid = await parsePid(pidText);
    const flags = typeof opts.values.vmaFlags === 'string' ? parseVmaFlags(opts.values.vmaFlags) : [];
    let stats: ProcessPageStats;
    try {
      stats = await processPageStats(platform, pid, flags);
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ESRCH')) throw invalidField('--pid', pidText, 'a running process id', 'no such process');
      if (isErrno(err, 'EACCES', 'EPERM')) throw new VirtTierError('OPT_PERM', `--pid ${pid}: permission denied reading its page tables (run as root)`, { field: '--pid', value: pidText });
      throw err;
    }
    if (opts.values.json) printJson(io, toJson(stats));
    else io.out(toText(stats));
    return 0;
  } catch (err) {
    return reportError(io, err);
  }
}

export const command: CliCommand = {
  name: 'pages',
  summary: 'present/swapped pages of a process per VMA and range, with NUMA node and page size',
  usage: USAGE,
  run: (args, io) => runPages(args, io),
};
