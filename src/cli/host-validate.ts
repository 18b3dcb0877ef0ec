/**
 * `virt-tier host-validate [--json]`: like virt-host-validate, one line per
 * capability virt-tier can use on this host (tracker backends, page-table
 * and migration syscalls, NUMA layout, hugepage pools, swap, libvirt) with
 * PASS/WARN/FAIL, the reason and a fix. Exit status 1 when any check FAILs.
 */
import type { CliCommand, CliIO } from './command.js';
import { JSON_OPTION } from './options.js';
import { defineVerb } from './verb.js';
import { printJson } from './format.js';
import { liveIO, type KernelFileIO } from '../platform/io.js';
import { liveKernelProbes, runHostChecks, type HostCheck, type KernelProbes, type TrackerFact } from '../platform/host-checks.js';
import { probeTrackers } from '../scan/choose-tracker.js';
import { DEFAULT_TRACKERS } from '../scan/trackers.js';
import { liveKernel } from '../native/kernel.js';

/** The chooser's own probes (reads only), with what each entry serves and sees. */
export async function trackerFacts(io: KernelFileIO): Promise<TrackerFact[]> {
  const probes = await probeTrackers({ trackers: DEFAULT_TRACKERS, io, kernel: liveKernel });
  return DEFAULT_TRACKERS.map((entry, i) => ({ ...probes[i]!, engines: entry.engines, memory: entry.memory }));
}

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

/** The verb over the given I/O and probes: live in production, fixtures in tests. */
function hostValidateVerb(platform: KernelFileIO, probes?: KernelProbes): CliCommand {
  return defineVerb({
    name: 'host-validate',
    summary: 'check what this host offers virt-tier (trackers, syscalls, NUMA, hugepages, swap, libvirt)',
    usage: USAGE,
    options: [JSON_OPTION],
    async run(_action, opts, io) {
      const checks = await runHostChecks(platform, probes ?? liveKernelProbes(), await trackerFacts(platform));
      if (opts.values.json) printJson(io, checks);
      else io.out(formatChecks(checks));
      return checks.some((c) => c.status === 'FAIL') ? 1 : 0;
    },
  });
}

export const command = hostValidateVerb(liveIO);

/** Runs the verb with injectable I/O and probes (live by default). */
export function runHostValidate(args: string[], io: CliIO, platform: KernelFileIO = liveIO, probes?: KernelProbes): Promise<number> {
  return hostValidateVerb(platform, probes).run(args, io);
}
