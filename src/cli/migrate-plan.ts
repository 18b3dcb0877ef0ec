/**
 * `virt-tier migrate-plan DOMAIN --bandwidth MBps [--downtime MS] [--link MBps] [--apply] [--json]`:
 * for a target bandwidth and downtime, whether pre-copy converges (the
 * model of src/migration/precopy.ts over the guest's measured pages and
 * dirtying), the bandwidth it would need, whether auto-converge or
 * post-copy is advised, and what to do about swapped pages
 * (src/migration/plan.ts). `--apply` sets the downtime limit and the
 * bandwidth through libvirt (`migrate-setmaxdowntime`, `migrate-setspeed`),
 * reads both back and reports them; it never starts a migration. Without
 * `--apply` nothing of the guest changes: its memory is only read.
 */
import { VirtTierError, invalidField } from '../errors.js';
import { measuredJson, precopyInputOf } from '../migration/guest-inputs.js';
import { ACTIVE_MIGRATION_STATES, virshMigrationControl, type MigrationControl } from '../migration/libvirt-control.js';
import type { MemReader } from '../migration/measure.js';
import { planMigration, type MigrationPlan } from '../migration/plan.js';
import type { CliCommand, CliIO } from './command.js';
import { ESTIMATE_OPTIONS, estimateFlags, measure, numberOption, readGuest } from './migration-guest.js';
import { CONNECT_OPTION, HELP_OPTION, JSON_OPTION, libvirtUri, type ParsedOptions } from './options.js';
import { defineVerb } from './verb.js';
import { mibNumber, printJson } from './format.js';

const USAGE = `Usage: virt-tier migrate-plan DOMAIN --bandwidth MBps [--downtime MS] [--link MBps] [--apply] [--json]
                            [--max-iterations N] [--dirty-rate MBps] [--working-set MiB] [--dirty-sample N]
                            [--zero-fraction F] [--swap-in-us US] [--connect URI]
  Whether pre-copy converges at MBps (MiB/s) within the downtime (default: the domain's current
  limit), the bandwidth it needs, whether auto-converge or post-copy is advised, what to do about
  swapped pages. Measures the guest read-only (zero pages, 2 s of dirtying).
  --link MBps   what the link could give (default: the target bandwidth)
  --apply       set the downtime limit and bandwidth through libvirt (virsh migrate-setmaxdowntime,
                migrate-setspeed); never starts a migration`;

const OPTIONS = [
  ...ESTIMATE_OPTIONS,
  { key: 'link', long: '--link', takesValue: true, valueName: 'MBps' },
  { key: 'apply', long: '--apply', takesValue: false },
  JSON_OPTION,
  CONNECT_OPTION,
  HELP_OPTION,
];

export interface MigratePlanOptions {
  control?: (uri: string) => MigrationControl;
  openMem?: (pid: number) => MemReader;
}

function planText(domain: string, plan: MigrationPlan, applied: Record<string, number> | undefined): string {
  const p = plan.precopy;
  const lines = [
    `${domain}: pre-copy at ${plan.bandwidthMBps} MiB/s, downtime limit ${plan.maxDowntimeMs} ms`,
    `  ${p.converged ? 'converges' : 'does not converge'}: ${mibNumber(p.totalBytes, 1)} MiB (${p.normalPages} normal + ${p.zeroPages} zero pages), ` +
      `${p.iterations} pass(es)${p.converged ? `, total ${(p.totalTimeMs / 1000).toFixed(2)} s, downtime ${p.downtimeMs.toFixed(0)} ms` : ''}`,
    `  bandwidth needed: ${plan.requiredBandwidthMBps === null ? 'none suffices' : `${plan.requiredBandwidthMBps.toFixed(1)} MiB/s`}`,
    `  advice: ${plan.advice}${plan.throttleNeeded ? ` (vCPU throttle needed: ${(plan.throttleNeeded * 100).toFixed(0)}%)` : ''}`,
    ...plan.reasons.map((r) => `    ${r}`),
  ];
  if (plan.swapped.pages > 0) lines.push(`  swapped pages: ${plan.swapped.pages}, ${plan.swapped.advice}`);
  if (applied) lines.push(`  applied: downtime limit ${applied.maxDowntimeMs} ms, bandwidth ${applied.bandwidthMBps} MiB/s`);
  return lines.join('\n') + '\n';
}

async function migratePlan(opts: ParsedOptions, io: CliIO, options: MigratePlanOptions): Promise<number> {
  const domain = opts.positionals[0];
  if (domain === undefined) throw invalidField('DOMAIN', '', 'a running domain name or UUID', 'missing');
  if (opts.values.pid !== undefined) throw invalidField('--pid', String(opts.values.pid), 'a domain (migrate-plan reads and sets libvirt migration parameters)');
  const flags = estimateFlags(opts);
  if (flags.bandwidthMBps === undefined) throw invalidField('--bandwidth', '', 'MiB/s > 0 (the target bandwidth)', 'missing');
  const link = numberOption(opts, 'link', '--link', 'MiB/s > 0', (n) => n > 0);
  const uri = libvirtUri(opts);
  const control = (options.control ?? virshMigrationControl)(uri);
  // all checks before anything is measured or set
  const g = await readGuest(opts, undefined, true);
  const name = g.domainName!;
  const state = await control.queryMigrate(name);
  if (ACTIVE_MIGRATION_STATES.has(state.status)) {
    throw new VirtTierError('OPT_INVAL', `domain "${name}" is already migrating (QEMU migration status ${state.status})`, { field: 'DOMAIN', value: domain, allowed: 'a domain that is not migrating' });
  }
  const params = await control.queryParameters(name);
  const maxDowntimeMs = flags.maxDowntimeMs ?? params.downtimeLimitMs;
  const m = await measure(g, { dirtySamplePages: flags.dirtySamplePages, openMem: options.openMem, swapInUs: flags.swapInUs });
  const plan = planMigration(precopyInputOf(m, { ...flags, bandwidthMBps: flags.bandwidthMBps, maxDowntimeMs }), link);
  let applied: { maxDowntimeMs: number; bandwidthMBps: number } | undefined;
  if (opts.values.apply === true) {
    await control.setMaxDowntime(name, maxDowntimeMs);
    await control.setSpeed(name, flags.bandwidthMBps);
    applied = { maxDowntimeMs: await control.getMaxDowntime(name), bandwidthMBps: await control.getSpeed(name) };
  }
  if (opts.values.json === true) printJson(io, { domain: name, pid: g.pid, plan, measured: measuredJson(m), ...(applied ? { applied } : {}) });
  else io.out(planText(name, plan, applied));
  return 0;
}

function migratePlanVerb(options: MigratePlanOptions): CliCommand {
  return defineVerb({
    name: 'migrate-plan',
    summary: 'for a target bandwidth and downtime: does pre-copy converge, what bandwidth it needs, auto-converge or post-copy, swapped pages; --apply sets the parameters',
    usage: USAGE,
    options: OPTIONS,
    positionals: 1,
    run: (_action, opts, io) => migratePlan(opts, io, options),
  });
}

export const command = migratePlanVerb({});

/** Runs the verb with injected parts (tests). */
export function runMigratePlan(args: string[], io: CliIO, options: MigratePlanOptions = {}): Promise<number> {
  return migratePlanVerb(options).run(args, io);
}
