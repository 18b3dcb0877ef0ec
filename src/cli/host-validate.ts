/**
 * `virt-tier host-validate [--json]`: like virt-host-validate, one line per
 * capability virt-tier can use on this host (tracker backends, page-table
 * and migration syscalls, NUMA layout, hugepage pools, swap, libvirt) with
 * PASS/WARN/FAIL, the reason and a fix. Exit status 1 when any check FAILs.
 */
import type { CliCommand, CliIO } from './command.js';
import { HELP_OPTION, JSON_OPTION, parseOptions } from './options.js';
import { printJson, reportError } from './daemon-call.js';
import { liveIO, type PlatformIO } from '../platform/io.js';
import { liveKernelProbes, runHostChecks, type HostCheck, type KernelProbes } from '../platform/host-checks.js';

const USAGE = `Usage: virt-tier host-validate [--json]
  Checks what this host offers virt-tier: PASS, WARN (works with less) or FAIL (exit 1).`;

/** virt-host-validate's layout: "virt-tier: Checking for X ......: PASS" then the reason and fix. */
export function formatChecks(checks: HostCheck[]): string {
  const width = Math.max(...checks.map((c) => c.check.length)) + 24;
  return checks.map((c) => {
    const head = `virt-tier: Checking for ${c.check}`.padEnd(width) + `: ${c.status}`;
    if (c.status === 'PASS') return `${head} (${c.reason})\n`;
    return `${head} (${c.reason})\n${''.padEnd(11)}fix: ${c.fix ?? '-'}\n`;
  }).join('');
}

/** Runs the verb with injectable I/O and probes (live by default). */
export async function runHostValidate(args: string[], io: CliIO, platform: PlatformIO = liveIO, probes?: KernelProbes): Promise<number> {
  try {
    const opts = parseOptions(args, [JSON_OPTION, HELP_OPTION]);
    if (opts.values.help) {
      io.out(USAGE + '\n');
      return 0;
    }
    const checks = await runHostChecks(platform, probes ?? liveKernelProbes());
    if (opts.values.json) printJson(io, checks);
    else io.out(formatChecks(checks));
    return checks.some((c) => c.status === 'FAIL') ? 1 : 0;
  } catch (err) {
    return reportError(io, err);
  }
}

export const command: CliCommand = {
  name: 'host-validate',
  summary: 'check what this host offers virt-tier (trackers, syscalls, NUMA, hugepages, swap, libvirt)',
  usage: USAGE,
  run: (args, io) => runHostValidate(args, io),
};
