/**
 * Tiering around a real live migration (real libvirtd, TCG guest, QEMU's
 * own pre-copy over TCP to an `-incoming` QEMU, test/libvirt/migration.ts):
 * the slide engine (this host has one NUMA node: swap-outs are its moves)
 * runs with the daemon's migration holds (src/virt/migration-holds.ts) and
 * the real mover into a private zram device. Asserted:
 *   - source: while QEMU's migration runs, every round of the guest's task
 *     is held ('migrating-out'), the task's swapped-out bytes do not grow
 *     and no page of the guest RAM is swapped out (pagemap: the swapped
 *     count only falls, as QEMU reads pages back); after a cancel the
 *     rounds tier it again;
 *   - destination: its task is held ('migrating-in') while QEMU receives,
 *     and tiered once the guest runs there; the source, paused by the
 *     completed migration, is then held ('paused', from libvirt's state).
 * The access map is a fixture (the "cold tracker" below: the upper half of
 * guest RAM reads idle, the rest accessed) because this host's kernel has
 * no tracker for process pages (no DAMON vaddr, no page_idle,
 * platform-facts.md); everything else is real.
 * Also here: migrate-plan and migrate-hints refuse a guest that is not running.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { projectConfig } from '../../src/config/units.js';
import type { TaskConfig } from '../../src/config/types.js';
import { nullLogger } from '../../src/log.js';
import { PageMover } from '../../src/mover/mover.js';
import { countPages, PAGE_IS, scanPages } from '../../src/native/pagemap.js';
import { liveIO } from '../../src/platform/io.js';
import { readSmaps } from '../../src/platform/smaps.js';
import { PidClaims } from '../../src/runner/cycle-runner.js';
import type { Engine, EngineTask } from '../../src/runner/engine.js';
import { platformHostInfo } from '../../src/runner/host-info.js';
import { SlideEngine } from '../../src/runner/slide.js';
import type { AccessMap } from '../../src/scan/access-map.js';
import type { ScanTarget, Tracker } from '../../src/scan/tracker.js';
import { listRunningDomains } from '../../src/virt/discovery.js';
import { hasMigrationThread, MigrationHolds } from '../../src/virt/migration-holds.js';
import { runMigrateHints } from '../../src/cli/migrate-hints.js';
import { runMigratePlan } from '../../src/cli/migrate-plan.js';
import { createGuest, destroyAll, destroyGuest, ensureLibvirt, qemuPidOf, TEST_URI, waitFor } from '../libvirt/guest.js';
import { qmp, startIncoming, WORKLOAD_INIT, type IncomingQemu } from '../libvirt/migration.js';
import { addZramSwap, type ZramSwap } from './native-zram.js';
import { AccessRanges } from '../../src/scan/access-ranges.js';

const MIB = 1048576;
const MEM_MIB = 256;

async function guestRam(pid: number): Promise<{ start: number; end: number; vmFlags: string[] }> {
  const vma = (await readSmaps(liveIO, pid)).find((v) => v.sizeBytes >= MEM_MIB * MIB && v.sizeBytes <= (MEM_MIB + 2) * MIB && v.pathname === '');
  assert.ok(vma, `pid ${pid}: the anonymous ${MEM_MIB} MiB guest RAM VMA`);
  return vma;
}

async function swappedPages(pid: number): Promise<number> {
  const ram = await guestRam(pid);
  return countPages((await scanPages(pid, ram.start, ram.end, { returnMask: PAGE_IS.PRESENT | PAGE_IS.SWAPPED })).regions, PAGE_IS.SWAPPED);
}

/** The access-map fixture: present pages of the upper half of guest RAM idle, the lower half accessed. */
class ColdUpperHalfTracker implements Tracker {
  readonly name = 'cold-upper-half (fixture)';
  async scanCycle(target: ScanTarget): Promise<AccessMap> {
    const ram = await guestRam(target.pid);
    const half = ram.start + (MEM_MIB / 2) * MIB;
    const scan = await scanPages(target.pid, ram.start, ram.end, { returnMask: PAGE_IS.PRESENT });
    const ranges = new AccessRanges();
    for (let i = 0; i < scan.regions.length; i += 3) {
      if ((scan.regions[i + 2]! & PAGE_IS.PRESENT) === 0) continue;
      for (const [a, b] of [[scan.regions[i]!, Math.min(scan.regions[i + 1]!, half)], [Math.max(scan.regions[i]!, half), scan.regions[i + 1]!]] as const) {
        if (b > a) ranges.push(a, (b - a) / 4096, 4096, a >= half ? 0 : 1, 0, true, false);
      }
    }
    return { pid: target.pid, loop: 1, tracker: this.name, timeMs: Date.now(), vmas: [{ start: ram.start, end: ram.end, vmFlags: ram.vmFlags, pathname: '' }], ranges };
  }
  async close(): Promise<void> {}
}

interface RecordedTask extends EngineTask {
  stats: Array<Record<string, any>>;
  ended: string[];
  controller: AbortController;
}

const project = projectConfig({ name: 'mig', loop: 1, interval: 1, sleep: 1 });

function pidTask(name: string, pid: number): RecordedTask {
  const controller = new AbortController();
  const config: TaskConfig = { project: 'mig', engine: 'slide', name, type: 'pid', value: String(pid), params: { T: 1 } as TaskConfig['params'] };
  const t: RecordedTask = {
    config, project, signal: controller.signal, controller, stats: [], ended: [], log: nullLogger(),
    resolvePids: async () => (existsSync(`/proc/${pid}`) ? [pid] : []),
    reportStats: (s) => void t.stats.push(s),
    reportEnded: (r) => void t.ended.push(r),
  };
  return t;
}

const last = (t: RecordedTask): Record<string, any> | undefined => t.stats[t.stats.length - 1];
const rounds = async (t: RecordedTask, n: number, what: string): Promise<void> => {
  const from = t.stats.length;
  await waitFor(() => t.stats.length >= from + n || t.ended.length > 0, 180_000, what, 100);
};

describe('tiering around a real live migration (real libvirtd)', () => {
  let zram: ZramSwap | undefined;
  const dests: IncomingQemu[] = [];
  let engine: Engine | undefined;
  before(() => ensureLibvirt());
  after(async () => {
    await engine?.close();
    for (const d of dests) await d.stop();
    destroyAll();
    zram?.remove();
  });

  test('source: no moves while it migrates out, tiered again after a cancel; destination: held while receiving, tiered once it runs', async () => {
    zram = addZramSwap(MEM_MIB);
    const g = createGuest({ tag: 'migtier', init: WORKLOAD_INIT, memoryMiB: MEM_MIB, hugepages: false, cmdlineExtra: 'vt_fill_mib=64' });
    const log = `/var/log/libvirt/qemu/${g.name}.console`;
    await waitFor(() => existsSync(log) && /virt-tier-test-fill-done/.test(readFileSync(log, 'utf8')), 480_000, 'guest filled', 250);
    const pid = qemuPidOf(g.name);
    // the migrating-out check reads QEMU's thread names, which libvirt turns on
    assert.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /debug-threads=on/);

    const holds = new MigrationHolds({ listDomains: () => listRunningDomains({ uri: TEST_URI }) });
    engine = new SlideEngine({ name: 'slide', project: 'mig' }, { pidClaims: new PidClaims(), heldPids: holds, trackerFactory: () => new ColdUpperHalfTracker(), mover: new PageMover(), hostInfo: platformHostInfo() }, { project, log: nullLogger() });
    const src = pidTask('source', pid);
    engine.startTask(src);
    await waitFor(() => (last(src)?.totalSwappedOutBytes ?? 0) > 0, 180_000, 'the source tiered (swap-outs)', 100);
    assert.equal(last(src)!.held, undefined);

    // 1. a slow migration (4 MiB/s: ~20 s for this guest's data), cancelled after several held rounds
    const dest1 = await startIncoming(pid);
    dests.push(dest1);
    const d1 = pidTask('dest1', dest1.pid);
    engine.startTask(d1);
    await rounds(d1, 1, 'a round of the waiting destination');
    assert.deepEqual(last(d1)!.held, { [dest1.pid]: 'migrating-in' }, 'a listening -incoming QEMU is held');
    await qmp(g.name, 'migrate-set-parameters', { 'max-bandwidth': 4 * MIB, 'downtime-limit': 300 });
    await qmp(g.name, 'migrate', { uri: `tcp:127.0.0.1:${dest1.port}` });
    await waitFor(() => hasMigrationThread(pid), 60_000, 'QEMU\'s migration thread', 50);
    await waitFor(() => last(src)?.held?.[pid] === 'migrating-out', 60_000, 'a held source round', 50);
    const from = src.stats.length;
    const bytesAtStart = last(src)!.totalSwappedOutBytes;
    const swappedAtStart = await swappedPages(pid);
    await rounds(src, 3, 'three source rounds during the migration');
    // QEMU reads the swapped (upper) half back as it sends it: those pages are present and cold again
    await waitFor(async () => (await swappedPages(pid)) < swappedAtStart, 120_000, 'QEMU reading swapped pages back', 250);
    const during = await qmp(g.name, 'query-migrate');
    assert.equal(during.status, 'active', 'the migration still runs');
    for (const s of src.stats.slice(from)) {
      assert.deepEqual(s.held, { [pid]: 'migrating-out' }, `round ${s.round} held`);
      assert.equal(s.totalSwappedOutBytes, bytesAtStart, `round ${s.round}: nothing swapped out`);
    }
    const swappedDuring = await swappedPages(pid);
    assert.ok(swappedDuring <= swappedAtStart, `no page swapped out while migrating (${swappedAtStart} -> ${swappedDuring}; QEMU reads pages back)`);
    assert.deepEqual(last(d1)!.held, { [dest1.pid]: 'migrating-in' }, 'the receiving destination is held');
    process.stderr.write(`# held: ${src.stats.length - from} source rounds, swapped ${swappedAtStart} -> ${swappedDuring}, ${during.ram?.transferred} B sent\n`);
    await qmp(g.name, 'migrate_cancel');
    await waitFor(async () => (await qmp(g.name, 'query-migrate')).status === 'cancelled', 60_000, 'cancelled', 100);
    await waitFor(async () => !(await hasMigrationThread(pid)), 60_000, 'the migration thread gone', 50);
    await waitFor(() => last(src)!.held === undefined && last(src)!.totalSwappedOutBytes > bytesAtStart, 180_000, 'the source tiered again after the cancel', 100);

    // 2. a migration that completes: the destination is tiered once the guest runs there
    await engine.stopTask('dest1');
    const dest2 = await startIncoming(pid);
    dests.push(dest2);
    const d2 = pidTask('dest2', dest2.pid);
    engine.startTask(d2);
    await rounds(d2, 1, 'a round of the second destination');
    assert.deepEqual(last(d2)!.held, { [dest2.pid]: 'migrating-in' });
    await qmp(g.name, 'migrate-set-parameters', { 'max-bandwidth': 64 * MIB, 'downtime-limit': 300 });
    await qmp(g.name, 'migrate', { uri: `tcp:127.0.0.1:${dest2.port}` });
    await waitFor(async () => (await qmp(g.name, 'query-migrate')).status === 'completed', 180_000, 'migration completed', 100);
    await waitFor(() => (last(d2)?.totalSwappedOutBytes ?? 0) > 0, 180_000, 'the destination tiered once its guest runs', 100);
    assert.ok(d2.stats.some((s) => s.held?.[dest2.pid] === 'migrating-in'), 'held before');
    assert.equal(last(d2)!.held, undefined);
    // the source stands paused after the completed migration: held by libvirt's state
    await holds.refresh();
    await waitFor(() => last(src)?.held?.[pid] === 'paused', 60_000, 'the paused source held', 100);
    const pausedBytes = last(src)!.totalSwappedOutBytes;
    await rounds(src, 2, 'two rounds of the paused source');
    assert.equal(last(src)!.totalSwappedOutBytes, pausedBytes, 'nothing moved for the paused source');
    await engine.close();
    engine = undefined;
    destroyGuest(g.name);
  });

  test('migrate-plan and migrate-hints refuse a guest that is not running, naming it', async () => {
    const off = createGuest({ tag: 'migoff', start: false, memoryMiB: 64, hugepages: false });
    try {
      for (const run of [
        (io: { out: (t: string) => void; err: (t: string) => void }) => runMigratePlan([off.name, '--bandwidth', '64'], io),
        (io: { out: (t: string) => void; err: (t: string) => void }) => runMigrateHints([off.name, '--estimate', '--bandwidth', '64'], io, { accessFor: async () => undefined }),
      ]) {
        let err = '';
        assert.equal(await run({ out: () => undefined, err: (t) => void (err += t) }), 1);
        assert.match(err, /not running/);
        assert.match(err, new RegExp(off.name));
      }
    } finally {
      destroyGuest(off.name);
    }
  });
});
