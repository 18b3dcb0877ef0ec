/**
 * The libvirt-managed destination of a real live migration
 * (`virsh migrate --live --p2p`) between this host's libvirtd and a second
 * libvirtd in its own mount namespace (test/libvirt/second-libvirtd.ts),
 * each with its own real virt-tierd (`--auto-domains --sync-interval 3600`:
 * within the test only the qemu hook, or the first sync at start, adds a
 * domain's project). The guest is a 128 MiB TCG domain on anonymous memory
 * (slide can swap it: a zram swap device is made here) whose domain XML
 * carries a slide policy; the policy travels with the domain.
 *
 * Asserted:
 *   - source: the host daemon's first sync adds the guest's task; while QEMU
 *     migrates out its rounds are held `migrating-out` and its swapped
 *     bytes do not change;
 *   - destination: its daemon gets the hook's `migrate begin` and resyncs
 *     (lists libvirt's domains after it); the domain XML's policy adds the
 *     project; the task exists while the guest is still incoming (libvirt
 *     keeps it paused until its Finish step) and its rounds are held
 *     `paused` with 0 bytes swapped; once the guest runs there, its rounds
 *     tier it (swap-outs).
 * The test prints the hook events the destination daemon got and its sync
 * log, which shows the event whose resync added the project.
 *
 * Holding the migration open: the guest rewrites 16 MiB every second, so at
 * 4 MiB/s pre-copy cannot converge (it stops the guest only when what is
 * left fits into the 300 ms downtime: about 1.2 MiB). The test raises the
 * bandwidth only after it has seen what it checks mid-migration, so a slow
 * daemon on a loaded host cannot miss the window, and no assertion is
 * about time. The access tracker is the daemon's own (DAMON paddr on this
 * host, platform-facts.md).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { call } from '../../src/api/client.js';
import { createGuest, destroyAll, ensureLibvirt, qemuPidOf, virsh, waitFor } from '../libvirt/guest.js';
import { startSecondLibvirtd, type SecondLibvirtd } from '../libvirt/second-libvirtd.js';
import { startDaemon, type TestDaemon } from './helpers/daemon.js';
import { addZramSwap, type ZramSwap } from './native-zram.js';

const execFileAsync = promisify(execFile);
const NS = 'https://virt-tier.dev/xmlns/policy/1';
const MEM_MIB = 128;
const COLD_MIB = 24;
const WARM_MIB = 16;
/** TCG boot and the first rounds take minutes on a loaded 2-core host */
const SLOW_MS = 600_000;

/**
 * The guest: COLD_MIB written once (left cold: what the destination's rounds
 * swap once it runs there), then WARM_MIB rewritten in place every second
 * (same bytes: QEMU tracks writes, not content), which keeps pre-copy
 * from converging at the test's bandwidth.
 */
const INIT = `#!/bin/busybox sh
/bin/busybox mkdir -p /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t tmpfs -o size=100m tmpfs /tmp
dd if=/dev/urandom of=/tmp/seed bs=1M count=1 2>/dev/null
i=0; while [ $i -lt ${COLD_MIB} ]; do cat /tmp/seed >> /tmp/cold; i=$((i + 1)); done
i=0; while [ $i -lt ${WARM_MIB} ]; do cat /tmp/seed >> /tmp/src; i=$((i + 1)); done
cp /tmp/src /tmp/warm
echo virt-tier-test-dirtying > /dev/console
while :; do dd if=/tmp/src of=/tmp/warm bs=1M conv=notrunc 2>/dev/null; sleep 1; done
`;

interface TaskView {
  name: string;
  value: string;
  started: boolean;
  ended?: string;
  stats?: { round?: number; held?: Record<string, string>; totalSwappedOutBytes?: number; [k: string]: unknown };
}

/** The task tiering domain `uuid` on daemon `socket`, if any. */
async function taskOf(socket: string, uuid: string): Promise<TaskView | undefined> {
  const projects = (await call(socket, 'project.show', {})) as Array<{ tasks: TaskView[] }>;
  return projects.flatMap((p) => p.tasks).find((t) => t.value === uuid);
}

/** The QEMU pid of `name` on the second libvirtd: its pidfile, seen through the namespace holder's root. */
function destQemuPid(dest: SecondLibvirtd, name: string): number {
  return qemuPidOf(name, `/proc/${dest.holderPid}/root`);
}

/** The daemon's log lines about hook events and the resyncs they caused, as `message {meta}`. */
function syncLog(stderr: string): string[] {
  return stderr
    .split('\n')
    .map((l) => /(?:debug|info|warn): (qemu hook event|domains listed|domain tiered by its policy|domain policy not applied)( \{.*\})?$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => `${m[1]}${m[2] ?? ''}`);
}

describe('a libvirt-managed migration destination (two libvirtds, real migration)', () => {
  let dest: SecondLibvirtd | undefined;
  let src: TestDaemon | undefined;
  let dst: TestDaemon | undefined;
  let zram: ZramSwap | undefined;
  before(() => ensureLibvirt());
  after(async () => {
    await src?.stop();
    await dst?.stop();
    await dest?.stop();
    destroyAll();
    zram?.remove();
  });

  test('source held while migrating out; destination: the hook adds the project, held paused while incoming, tiered once it runs', { timeout: 1_800_000 }, async () => {
    zram = addZramSwap(MEM_MIB * 2);
    dest = await startSecondLibvirtd({ hook: true });
    // the destination's daemon runs inside the namespace: it reads that libvirtd's pidfiles under /run/libvirt
    dst = await startDaemon(['--no-config', '--connect', dest.uri, '--auto-domains', '--sync-interval', '3600'], { wrap: dest.inside([]) });
    dest.setHookSocket(dst.socket);

    const policy = `<tier:policy xmlns:tier="${NS}" enabled="yes" engine="slide" loop="1" interval="1" sleep="1" T="1"/>`;
    const g = createGuest({ tag: 'mdest', memoryMiB: MEM_MIB, hugepages: false, metadata: policy, init: INIT });
    const consoleLog = `/var/log/libvirt/qemu/${g.name}.console`;
    await waitFor(() => existsSync(consoleLog) && readFileSync(consoleLog, 'utf8').includes('virt-tier-test-dirtying'), SLOW_MS, 'the guest up and dirtying', 250);
    const srcPid = qemuPidOf(g.name);
    // the source's first sync (at start) adds the running guest
    src = await startDaemon(['--no-config', '--auto-domains', '--sync-interval', '3600']);
    await waitFor(async () => (await taskOf(src!.socket, g.uuid))?.stats?.round !== undefined, SLOW_MS, 'a source round', 250);

    const migration = execFileAsync(
      'virsh',
      ['-q', '-c', 'qemu:///system', 'migrate', '--live', '--p2p', g.name, dest.uri, '--migrateuri', 'tcp://127.0.0.1', '--bandwidth', '4'],
      { timeout: SLOW_MS },
    );
    let migrationDone = false;
    const migrationResult = migration.then(
      () => ((migrationDone = true), undefined),
      (err: Error) => ((migrationDone = true), err),
    );

    // Mid-migration: sample both daemons until each showed two rounds (the migration waits: see the top).
    const destRounds = new Map<number, TaskView['stats']>();
    const srcRounds = new Map<number, TaskView['stats']>();
    const destStates = new Set<string>();
    await waitFor(async () => {
      if (migrationDone) throw new Error(`the migration ended before the checks: ${String(await migrationResult)}\n${dest!.logTail()}`);
      const s = await taskOf(src!.socket, g.uuid);
      // from the first held round on, every source round until the end of the migration
      if (s?.stats?.round !== undefined && (s.stats.held || srcRounds.size > 0)) srcRounds.set(s.stats.round, s.stats);
      const d = await taskOf(dst!.socket, g.uuid);
      if (d) {
        const state = await execFileAsync('virsh', ['-q', '-c', dest!.uri, 'domstate', '--reason', g.name]).then((r) => r.stdout.trim(), () => 'unknown');
        destStates.add(state);
        // libvirt keeps an incoming domain paused until its Finish step; the migration job still runs
        if (state.startsWith('paused') && !migrationDone && d.stats?.round !== undefined) destRounds.set(d.stats.round, d.stats);
      }
      return destRounds.size >= 2 && srcRounds.size >= 2;
    }, SLOW_MS, 'two destination and two source rounds during the migration', 250).catch((err: Error) => {
      throw new Error(`${err.message}\ndestination daemon:\n${syncLog(dst!.stderr()).join('\n')}`);
    });
    const destPid = destQemuPid(dest, g.name);
    process.stderr.write(`# destination states seen while its task existed: ${[...destStates].join(', ')}\n`);
    for (const [round, s] of destRounds) {
      const seen = { held: s!.held, totalSwappedOutBytes: s!.totalSwappedOutBytes ?? 0 };
      assert.deepEqual(seen, { held: { [destPid]: 'paused' }, totalSwappedOutBytes: 0 }, `destination round ${round}: held as paused, nothing swapped while incoming`);
    }
    for (const [round, s] of srcRounds) assert.deepEqual(s!.held, { [srcPid]: 'migrating-out' }, `source round ${round}: held while migrating out`);
    const srcBytesHeld = [...srcRounds.values()].map((s) => s!.totalSwappedOutBytes ?? 0);
    assert.equal(new Set(srcBytesHeld).size, 1, `the source swapped nothing while held: ${srcBytesHeld.join(', ')}`);

    // Now let pre-copy converge: at this bandwidth the rewritten 16 MiB fit into the downtime.
    virsh('migrate-setspeed', g.name, '8192');
    const err = await migrationResult;
    assert.equal(err, undefined, `virsh migrate: ${String(err)}\n${dest.logTail()}`);
    assert.equal(dest.virsh('domstate', g.name).trim(), 'running');
    assert.equal(destQemuPid(dest, g.name), destPid, 'the same destination QEMU');

    // Once it runs there: the hold lifts (the daemon re-reads libvirt's states every 2 s) and the rounds swap.
    const tiered = (await waitFor(async () => {
      const d = await taskOf(dst!.socket, g.uuid);
      return d?.stats && d.stats.held === undefined && (d.stats.totalSwappedOutBytes ?? 0) > 0 ? d : undefined;
    }, SLOW_MS, 'the destination tiering the guest once it runs', 250).catch(async (e: Error) => {
      throw new Error(`${e.message}; its task: ${JSON.stringify(await taskOf(dst!.socket, g.uuid))}`);
    }))!;

    const log = syncLog(dst.stderr());
    const events = log.filter((l) => l.startsWith('qemu hook event')).map((l) => JSON.parse(l.slice('qemu hook event '.length)) as { op: string; subop: string; action: string; domain: string });
    const mine = events.filter((e) => e.domain === g.name);
    process.stderr.write(`# destination hook events: ${mine.map((e) => `${e.op} ${e.subop} -> ${e.action}`).join(', ')}\n`);
    process.stderr.write(`# destination sync log:\n${log.map((l) => `#   ${l}`).join('\n')}\n`);
    process.stderr.write(`# rounds held: destination ${[...destRounds.keys()].join(',')} (paused), source ${[...srcRounds.keys()].join(',')} (migrating-out); destination swapped ${tiered.stats!.totalSwappedOutBytes} B once running (round ${tiered.stats!.round})\n`);
    const lost = existsSync(dest.hookLostLog) ? readFileSync(dest.hookLostLog, 'utf8') : '';
    if (lost !== '') process.stderr.write(`# hook events lost:\n${lost}`);
    assert.ok(mine.some((e) => e.op === 'migrate' && e.subop === 'begin' && e.action === 'refresh'), `the hook's migrate begin reached the destination daemon: ${JSON.stringify(mine)}`);
    // a refresh of an event is a resync: the daemon listed libvirt's domains after it
    const migrateAt = log.findIndex((l) => l.startsWith('qemu hook event') && l.includes('"op":"migrate"'));
    assert.ok(log.slice(migrateAt + 1).some((l) => l.startsWith('domains listed')), 'the destination resynced after migrate begin');
    assert.ok(log.some((l) => l.startsWith('domain tiered by its policy') && l.includes(g.name)), 'the domain XML policy added the project');
  });
});
