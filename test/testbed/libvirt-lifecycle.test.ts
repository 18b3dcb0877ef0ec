/**
 * The lifecycle of real libvirt guests under `virt-tierd --auto-domains` in
 * the testbed (libvirtd inside): two TCG guests running the hot-loop
 * program, tiered by the cslide policies in their domain XML (the chain
 * itself is libvirt-chain.test.ts), then:
 * - `virt-tier policy GUEST --set enabled=no --live`: the guest's task goes
 *   within one sync interval; its hot pages, moved to the AEP node behind
 *   the daemon's back, stay there; `--set enabled=yes --live`: the task is
 *   back within one sync interval and promotes them;
 * - libvirtd stopped, the other guest's QEMU killed meanwhile, libvirtd
 *   started again: the daemon lives on, keeps tiering the survivor (its
 *   QEMU found through libvirt's pid file while libvirtd is away), and
 *   reconcile removes the dead guest's task;
 * - `virsh destroy`: the task goes (the hook's stopped event, or the next
 *   sync when the hook lost it), the guest's hugepages are back in the pools.
 * One boot (inner/libvirt-chain.ts --part lifecycle).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runInTestbed, testbedAvailability } from './harness.js';
import { keepObservations } from './observations.js';

const availability = testbedAvailability();
const skip = availability.available ? false : availability.reason;

const PAGE = 2 << 20;
const DRAM = 0;
const AEP = 2;
const POOL_PAGES = 72;

interface Stats { round: number; pids: number[]; promotedBytes: number; demotedBytes: number; errorsByErrno: Record<string, number> }
interface RoundRecord { guest: string; project: string; phase: string; stats: Stats; nodes: number[] }

test('testbed + libvirtd: policy --live off/on in effect when the CLI returns, libvirtd restart healed by reconcile, virsh destroy removes the task', { skip, timeout: 900_000 }, async () => {
  const r = await runInTestbed({
    command: 'node dist/test/testbed/inner/libvirt-chain.js --part lifecycle --quota-mib 32 --sync-s 3 --loop 2',
    hugepagesPerNode: { [DRAM]: POOL_PAGES, [AEP]: POOL_PAGES },
    libvirt: true,
    // About 6 min on a quiet host; a run at load 4.5 (other QEMU work beside it) took over 9 min.
    timeoutMs: 860_000,
  });
  assert.equal(r.exitCode, 0, `inner run failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-5000)}`);
  keepObservations('libvirt-lifecycle', r.stdout);
  const o = JSON.parse(r.stdout.trim().split('\n').pop()!);
  // the daemon's state and log with the error: a reset connection says no more than that the daemon closed it
  assert.equal(o.error, undefined, `${o.error}\ndaemon alive: ${o.daemonAlive}, exit: ${o.daemonExit}, death: ${JSON.stringify(o.daemonDeath ?? null, null, 1)}\n--- daemon log (errors, warnings, tiering) ---\n${(o.daemonLog ?? []).join('\n')}\n${r.stderr.slice(-5000)}`);
  const { quotaMiB, syncS } = o.config as { quotaMiB: number; syncS: number };
  const rounds = o.rounds as RoundRecord[];
  const discovery = o.discovery as Record<string, { hotPages: number[] }>;
  const taskOf = (name: string): string => `domain-${(o.config.specs as Array<{ name: string; uuid: string }>).find((s) => s.name === name)!.uuid}`;
  for (const rec of rounds) {
    assert.deepEqual(rec.stats.errorsByErrno, {}, `${rec.guest} round ${rec.stats.round}`);
    assert.ok(rec.stats.promotedBytes <= quotaMiB << 20 && rec.stats.demotedBytes <= quotaMiB << 20);
  }

  // policy --live: off, then on. The CLI asks the daemon to resync once it has written the metadata, so
  // each edit is in effect when the CLI returns: within one sync interval of it (the interval bounds
  // the first project.show poll that sees it), and the CLI says the daemon resynced.
  const pe = o.policyEdit;
  assert.equal(o.policyOff.code, 0, o.policyOff.stderr);
  assert.equal(o.policyOn.code, 0, o.policyOn.stderr);
  assert.match(o.policyOff.stdout, /virt-tierd resynced/, o.policyOff.stdout);
  assert.match(o.policyOn.stdout, /virt-tierd resynced/, o.policyOn.stdout);
  assert.ok(pe.offAfterMs <= syncS * 1000, `enabled=no took ${pe.offAfterMs} ms after the CLI returned, sync interval ${syncS} s`);
  assert.ok(pe.onAfterMs <= syncS * 1000, `enabled=yes took ${pe.onAfterMs} ms after the CLI returned, sync interval ${syncS} s`);
  const fileHot = discovery['vt-file']!.hotPages;
  assert.deepEqual(pe.movedStatus, fileHot.map(() => AEP));
  assert.ok(fileHot.every((i: number) => pe.whileOff[i] === AEP), 'while tiering is off nobody brings the hot pages back');
  assert.ok(fileHot.every((i: number) => pe.nodesAfter[i] === DRAM), 'tiering back on: the hot pages are promoted');
  assert.ok(rounds.filter((x) => x.guest === 'vt-file' && x.phase === 'policy-on').reduce((a, x) => a + x.stats.promotedBytes, 0) >= fileHot.length * PAGE);
  assert.match(pe.metadata, /enabled="yes"/);


  // libvirtd restart with a guest killed while it was down: the daemon lives on and keeps both tasks
  // meanwhile; after the restart the dead guest's task is gone, the other one still rounds.
  const rs = o.restart;
  assert.equal(rs.daemonAliveWhileDown, true);
  assert.ok(rs.tasksWhileDown.find((t: { guest: string }) => t.guest === 'vt-file').task, 'the survivor keeps its task while libvirtd is down');
  // ... and is tiered: its QEMU found through libvirt's pid file and scanned; the killed guest is not.
  const down = rounds.filter((x) => x.phase === 'libvirtd-down');
  const survivorPid = (o.discovery as Record<string, { pid: number }>)['vt-file']!.pid;
  assert.ok(down.some((x) => x.guest === 'vt-file' && x.stats.pids.includes(survivorPid)), JSON.stringify(down.map((x) => [x.guest, x.stats.pids])));
  assert.equal(rs.survivorTask?.task.name, taskOf('vt-file'));
  assert.equal(rs.survivorTask?.task.started, true);
  assert.doesNotMatch(rs.virshList, /vt-numa\s+running/);
  assert.deepEqual(rs.syncStatus.errors, {});

  // virsh destroy: the task goes (the hook's stopped event, or the next sync when the hook lost it under load); the guest's 32 hugepages are back in the pools.
  assert.equal(o.destroy.code, 0);
  const freeSum = (p: Record<string, { free: number }>): number => Object.values(p).reduce((a, x) => a + x.free, 0);
  assert.equal(freeSum(o.destroy.freeAfter) - freeSum(o.destroy.freeBefore), 32);
  assert.ok(o.destroy.goneAfterMs <= 2 * syncS * 1000, `the task went ${o.destroy.goneAfterMs} ms after virsh destroy returned`);

  assert.equal(o.daemonAlive, true, `the daemon died: ${JSON.stringify(o.daemonDeath ?? null, null, 1)}`);
  assert.equal(o.daemonExit, 0, 'SIGTERM: the daemon exits 0');
  assert.deepEqual((o.daemonLog as string[]).filter((l) => /\] error:/.test(l)), []);
});
