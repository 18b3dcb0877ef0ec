/**
 * Pre-copy estimate accuracy against real migrations, side by side: for
 * each scenario a real libvirt guest (test/libvirt/guest.ts) is measured by
 * `virt-tier migrate-hints --estimate` (only the bandwidth and downtime
 * limit given; zero pages, dirtying and the zram zero share measured) and
 * then migrated by QEMU over TCP to an `-incoming` QEMU
 * (test/libvirt/migration.ts); the table compares the prediction with
 * `query-migrate`. One guest at a time (a busy TCG guest takes a core).
 * "CPU share" is what a spinning thread of the bench got of one CPU just
 * before the migration: the scheduler's offer to QEMU's migration thread.
 * "predicted tail" is the end of the final pass the model sends after the
 * stop at stream speed (src/migration/precopy.ts), and its payload pages.
 * Run as root, on a machine as quiet as you can get it, after `npx tsc -p .`:
 *   node dist/bench/migration-accuracy.js [--mib 512] [--runs 1]
 */
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { runMigrateHints } from '../src/cli/migrate-hints.js';
import { planSlide } from '../src/engines/slide-policy.js';
import { PageMover } from '../src/mover/mover.js';
import { liveIO } from '../src/platform/io.js';
import { readSmaps } from '../src/platform/smaps.js';
import type { PrecopyRun } from '../src/migration/precopy.js';
import { createGuest, destroyAll, destroyGuest, ensureLibvirt, waitFor, type GuestOptions } from '../test/libvirt/guest.js';
import { migrate, qmp, startIncoming, WORKLOAD_INIT, type MigrationFigures } from '../test/libvirt/migration.js';
import { addZramSwap } from '../test/integration/native-zram.js';
import { AccessRanges } from '../src/scan/access-ranges.js';

const MIB = 1048576;
function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

interface Scenario {
  name: string;
  guest: GuestOptions;
  marker: RegExp;
  bandwidthMBps: number;
  /** before the estimate (e.g. swap part of the guest out) */
  prepare?: (pid: number, memMiB: number) => Promise<void>;
  /** cancel after this many syncs: a guest that is not meant to converge */
  cancelAfterSyncs?: number;
}

async function swapUpperHalf(pid: number, memMiB: number): Promise<void> {
  const ram = (await readSmaps(liveIO, pid)).find((v) => v.sizeBytes >= memMiB * MIB && v.sizeBytes <= (memMiB + 2) * MIB && v.pathname === '')!;
  const half = ram.start + (memMiB / 2) * MIB;
  const pages = (memMiB / 2) * 256;
  const plan = planSlide({
    T: 1, loop: 1, gates: { freeMemPercent: 50, processRssBytes: 0 },
    accessMap: {
      pid, loop: 1, tracker: 'synthetic', timeMs: Date.now(), vmas: [{ start: ram.start, end: ram.end, vmFlags: ram.vmFlags, pathname: '' }],
      ranges: AccessRanges.of([
        { start: ram.start, pageCount: pages, pageSizeBytes: 4096, accessCount: 1, node: 0, present: true, swapped: false },
        { start: half, pageCount: pages, pageSizeBytes: 4096, accessCount: 0, node: 0, present: true, swapped: false },
      ]),
    },
  });
  await new PageMover().execute(plan, { allowedPids: new Set([pid]) });
}

/**
 * The share of one CPU a busy thread of this process gets right now (300 ms
 * of spinning, CPU time over wall time): what a newly runnable thread, such
 * as QEMU's migration thread, can expect from the scheduler at this load.
 */
function cpuShareNow(): number {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  let x = 0;
  while (performance.now() - t0 < 300) x += Math.sqrt(x + 1);
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000 / (performance.now() - t0);
}

async function runScenario(s: Scenario, memMiB: number): Promise<{ run: PrecopyRun; real: MigrationFigures; cpuShare: number }> {
  const g = createGuest({ tag: 'bench', init: WORKLOAD_INIT, memoryMiB: memMiB, ...s.guest });
  try {
    const log = `/var/log/libvirt/qemu/${g.name}.console`;
    await waitFor(() => existsSync(log) && s.marker.test(readFileSync(log, 'utf8')), 300_000, `${g.name} up`, 250);
    const pid = Number(readFileSync(`/run/libvirt/qemu/${g.name}.pid`, 'utf8'));
    await s.prepare?.(pid, memMiB);
    let out = '';
    const code = await runMigrateHints([g.name, '--estimate', '--bandwidth', String(s.bandwidthMBps), '--downtime', '300'], { out: (t) => (out += t), err: (t) => process.stderr.write(t) }, { accessFor: async () => undefined });
    if (code !== 0) throw new Error('migrate-hints failed');
    const run = JSON.parse(out).estimate.withoutSkip as PrecopyRun;
    const dest = await startIncoming(pid);
    const cpuShare = cpuShareNow();
    try {
      if (s.cancelAfterSyncs) {
        await qmp(g.name, 'migrate-set-parameters', { 'max-bandwidth': s.bandwidthMBps * MIB, 'downtime-limit': 300 });
        await qmp(g.name, 'migrate', { uri: `tcp:127.0.0.1:${dest.port}` });
        const q = await waitFor(async () => {
          const r = await qmp(g.name, 'query-migrate');
          if (r.status === 'setup') return null;
          return r.status !== 'active' || r.ram?.['dirty-sync-count'] >= s.cancelAfterSyncs! ? r : null;
        }, 300_000, 'syncs', 250);
        await qmp(g.name, 'migrate_cancel');
        return { run, cpuShare, real: { status: q.status, totalTimeMs: NaN, downtimeMs: NaN, setupTimeMs: NaN, transferredBytes: NaN, normalPages: NaN, zeroPages: NaN, dirtySyncCount: q.ram?.['dirty-sync-count'], totalBytes: NaN, raw: q } };
      }
      return { run, cpuShare, real: await migrate(g.name, dest, { maxBandwidthBytesPerSec: s.bandwidthMBps * MIB }) };
    } finally {
      await dest.stop();
    }
  } finally {
    destroyGuest(g.name);
  }
}

async function main(): Promise<void> {
  const memMiB = arg('--mib', 512);
  const runs = arg('--runs', 1);
  ensureLibvirt();
  const zram = addZramSwap(memMiB);
  const scenarios: Scenario[] = [
    { name: 'mostly-zero hugetlb (idle)', guest: {}, marker: /guest-up/, bandwidthMBps: 64 },
    { name: 'write-heavy hugetlb (12 MiB rewritten)', guest: { cmdlineExtra: 'vt_ws_mib=12' }, marker: /workload-up/, bandwidthMBps: 64 },
    { name: 'anonymous, half swapped to zram', guest: { hugepages: false, cmdlineExtra: 'vt_fill_mib=32' }, marker: /fill-done/, bandwidthMBps: 64, prepare: swapUpperHalf },
    { name: 'dirties faster than bandwidth (16 MiB at copy speed, 32 MiB/s)', guest: { hugepages: false, cmdlineExtra: 'vt_fast_mib=16' }, marker: /workload-up/, bandwidthMBps: 32, cancelAfterSyncs: 5 },
  ];
  const rows: string[] = [];
  const byteErr: number[] = [];
  const timeErr: number[] = [];
  const pct = (p: number, r: number): number => (100 * (p - r)) / r;
  try {
    for (let i = 0; i < runs; i++) {
      for (const s of scenarios) {
        const { run, real, cpuShare } = await runScenario(s, memMiB);
        const load = os.loadavg()[0]!.toFixed(1);
        if (s.cancelAfterSyncs) {
          rows.push(`| ${s.name} | ${run.converged ? 'yes' : 'no'} / ${real.status === 'completed' ? 'yes' : `no (${real.status} after ${real.dirtySyncCount} syncs)`} | - | - | - | - | - | - | - | ${cpuShare.toFixed(2)} | ${load} |`);
          process.stderr.write(rows[rows.length - 1] + '\n');
          continue;
        }
        // QEMU 7.2 was seen to report total-time 0 for completed migrations here: the wall time then (marked *)
        const realMs = real.totalTimeMs > 0 ? real.totalTimeMs : real.wallMs!;
        const mark = real.totalTimeMs > 0 ? '' : '*';
        const eb = pct(run.totalBytes, real.transferredBytes);
        const et = pct(run.totalTimeMs, realMs);
        byteErr.push(Math.abs(eb));
        timeErr.push(Math.abs(et));
        rows.push(`| ${s.name} | ${run.converged ? 'yes' : 'no'} / ${real.status === 'completed' ? 'yes' : 'no'} | ${(run.totalBytes / 1e6).toFixed(1)} / ${(real.transferredBytes / 1e6).toFixed(1)} (${eb.toFixed(1)}%) | ` +
          `${run.normalPages} + ${run.zeroPages} / ${real.normalPages} + ${real.zeroPages} | ${run.totalTimeMs.toFixed(0)} / ${realMs}${mark} (${et.toFixed(1)}%) | ` +
          `${run.downtimeMs.toFixed(0)} / ${real.downtimeMs} | ${run.dirtySyncCount} / ${real.dirtySyncCount} | ` +
          // what the stream achieved against the limit: below it, the migration thread was short of CPU, not of bandwidth
          `${(real.transferredBytes / MIB / (realMs / 1000)).toFixed(1)} / ${s.bandwidthMBps} | ${(run.tail.bytes / 1e6).toFixed(1)} (${run.tail.normalPages}) | ${cpuShare.toFixed(2)} | ${load} |`);
        process.stderr.write(rows[rows.length - 1] + '\n');
      }
    }
  } finally {
    destroyAll();
    zram.remove();
  }
  process.stdout.write(
    `${memMiB} MiB TCG guests, downtime limit 300 ms, predicted / QEMU query-migrate (${os.cpus().length} CPUs, kernel ${os.release()})\n\n` +
    '| scenario | converges (pred / real) | MB transferred | normal + zero pages | total time ms | downtime ms | dirty syncs | achieved / limit MiB/s | predicted tail MB (payload pages) | CPU share | load |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n' +
    rows.join('\n') + '\n\n' +
    `median |error|: bytes ${median(byteErr).toFixed(1)}%, time ${median(timeErr).toFixed(1)}%; worst: bytes ${Math.max(...byteErr).toFixed(1)}%, time ${Math.max(...timeErr).toFixed(1)}%\n`,
  );
}

await main();
