/**
 * `virt-tier pages --pid PID [--vma-flags ht] [--json]`: per VMA and per
 * range of a process, which pages are present (on which NUMA node, with
 * which page size) and which are swapped out. Read directly from the
 * kernel (PAGEMAP_SCAN, else pagemap; move_pages for nodes); no daemon.
 */
import type { CliCommand, CliIO } from './command.js';
import { JSON_OPTION, parsePid, PID_OPTION, requireOption } from './options.js';
import { defineVerb } from './verb.js';
import { hex, kib, printJson, table } from './format.js';
import { VirtTierError, invalidField } from '../errors.js';
import { isErrno } from '../native/errors.js';
import { liveIO, type PlatformIO } from '../platform/io.js';
import { processPageStats, type ProcessPageStats } from '../platform/page-stats.js';

const USAGE = `Usage: virt-tier pages --pid PID [--vma-flags FLAGS] [--json]
  Present/swapped pages per VMA and range, with NUMA node and page size.
  --vma-flags  only VMAs with all these smaps VmFlags, comma-separated (e.g. ht for hugetlb guest RAM)`;

/** Validates --vma-flags: two-letter smaps VmFlags mnemonics. */
export function parseVmaFlags(value: string): string[] {
  const flags = value.split(/[,\s]+/).filter((f) => f !== '');
  for (const f of flags) if (!/^[a-z0-9]{2}$/.test(f)) throw invalidField('--vma-flags', value, 'comma-separated two-letter VmFlags, e.g. ht or rd,wr');
  if (flags.length === 0) throw invalidField('--vma-flags', value, 'at least one two-letter VmFlag, e.g. ht');
  return flags;
}

/** A count of 4 KiB pages in KiB, as a bare number for the KiB columns. */
const kibOfPages4k = (pages4k: number): string => String(pages4k * 4);

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
    const nodes = Object.entries(v.presentPages4kByNode).map(([n, p]) => `N${n}=${kibOfPages4k(p)}K`).join(' ') || '-';
    rows.push([`${hex(v.vma.start)}-${hex(v.vma.end)}`, v.vma.perms, kib(v.pageSizeBytes), kibOfPages4k(v.presentPages4k), kibOfPages4k(v.swappedPages4k), nodes, v.vma.pathname || '[anon]']);
    for (const r of v.ranges) {
      rows.push([`  ${hex(r.start)}-${hex(r.end)}`, '', '', r.present ? kibOfPages4k((r.end - r.start) / 4096) : '', r.swapped ? kibOfPages4k((r.end - r.start) / 4096) : '', r.present ? `N${r.node}` : '', '']);
    }
  }
  return `pid ${stats.pid} (${stats.source})\n` + table(['range', 'perms', 'pagesize', 'present KiB', 'swapped KiB', 'nodes', 'mapping'], rows);
}

/** The verb over the given I/O: liveIO in production. */
function pagesVerb(platform: PlatformIO): CliCommand {
  return defineVerb({
    name: 'pages',
    summary: 'present/swapped pages of a process per VMA and range, with NUMA node and page size',
    usage: USAGE,
    options: [PID_OPTION, { key: 'vmaFlags', long: '--vma-flags', takesValue: true, valueName: 'FLAGS' }, JSON_OPTION],
    async run(_action, opts, io) {
      const pidText = requireOption(opts, 'pid', '--pid', 'a process id');
      const pid = parsePid(pidText);
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
    },
  });
}

export const command = pagesVerb(liveIO);

/** Runs the verb against `platform` (liveIO in production). */
export function runPages(args: string[], io: CliIO, platform: PlatformIO = liveIO): Promise<number> {
  return pagesVerb(platform).run(args, io);
}
