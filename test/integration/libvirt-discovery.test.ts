/**
 * Discovery against a real libvirtd (qemu:///system, started through
 * scripts/setup-libvirt.sh when not running) with small TCG guests on
 * hugepages: running domains, QEMU PID checks, RAMBlocks and their VMAs,
 * the polling follower, and policy metadata written live and config.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { VirtTierError } from '../../src/errors.js';
import { listRunningDomains, resolveDomain } from '../../src/virt/discovery.js';
import { qemuProcessIfGuest } from '../../src/virt/qemu-process.js';
import { watchDomains, type DomainChange } from '../../src/virt/watch.js';
import { policyFromDomainXml, POLICY_NAMESPACE } from '../../src/virt/policy.js';
import { command as policyCommand } from '../../src/cli/policy.js';
import { command as statsCommand } from '../../src/cli/stats.js';
import { command as listCommand } from '../../src/cli/list.js';
import { createGuest, destroyAll, destroyGuest, ensureLibvirt, qemuPidOf, virsh, waitFor } from '../libvirt/guest.js';

const host = { numaNodes: [0], cpuCount: 2 };
function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) }, out, err };
}

describe('libvirt discovery (real libvirtd, TCG guests)', () => {
  before(() => ensureLibvirt());
  after(() => destroyAll());

  test('running domains with verified QEMU PIDs; RAMBlocks pc.ram and ram-node0/1 on hugetlb VMAs', async () => {
    const plain = createGuest({ tag: 'disc' });
    const numa = createGuest({ tag: 'disc', numaCells: 2 });
    const all = await listRunningDomains();
    for (const g of [plain, numa]) {
      const d = all.find((x) => x.name === g.name);
      assert.ok(d, `${g.name} listed`);
      assert.equal(d.uuid, g.uuid);
      assert.equal(d.state, 'running');
      assert.equal(d.pid, qemuPidOf(g.name));
      assert.match(readFileSync(`/proc/${d.pid}/cmdline`, 'utf8'), new RegExp(`guest=${g.name}`));
    }
    const byName = await resolveDomain(plain.name);
    assert.deepEqual(byName.ramBlocks.map((b) => b.id), ['pc.ram']);
    const vma = byName.ramBlocks[0]!.vma!;
    assert.ok(vma.hugetlb, 'ht in VmFlags');
    assert.equal(vma.end - vma.start, 128 << 20);
    assert.equal(vma.kernelPageSizeBytes, 2 << 20);
    const byUuid = await resolveDomain(numa.uuid.toUpperCase());
    assert.equal(byUuid.name, numa.name);
    assert.deepEqual(byUuid.ramBlocks.map((b) => [b.id, b.guestNode, b.vma?.hugetlb]), [['ram-node0', 0, true], ['ram-node1', 1, true]]);
    // the smaps line really is QEMU's backing file of that RAMBlock
    const smaps = readFileSync(`/proc/${byUuid.pid}/smaps`, 'utf8');
    assert.match(smaps, new RegExp(`^${byUuid.ramBlocks[1]!.vma!.start.toString(16)}-.*qemu_back_mem\\.ram-node1\\.`, 'm'));
  });

  test('a PID that is not the guest\'s QEMU is refused; unknown and stopped domains give clear errors', async () => {
    assert.equal(await qemuProcessIfGuest(process.pid, 'anything'), null);
    const stopped = createGuest({ tag: 'disc', start: false });
    await assert.rejects(resolveDomain(stopped.name), (e: unknown) => e instanceof VirtTierError && e.code === 'OPT_INVAL' && /not running/.test(e.message));
    await assert.rejects(resolveDomain('vt-test-no-such-domain'), (e: unknown) => e instanceof VirtTierError && e.code === 'OPT_INVAL' && /no such domain/.test(e.message));
    await assert.rejects(resolveDomain('x', { uri: 'qemu:///nonexistent' }), (e: unknown) => e instanceof VirtTierError && e.code === 'OPT_UNAVAILABLE');
  });

  test('the follower reports start, restart with a new PID, and stop', async () => {
    const changes: DomainChange[] = [];
    const g = createGuest({ tag: 'watch', start: false });
    const watcher = watchDomains({ intervalMs: 200, onChange: (c) => changes.push(c) });
    try {
      await watcher.poll();
      const mine = () => changes.filter((c) => ('domain' in c ? c.domain.name : 'name' in c ? c.name : '') === g.name);
      virsh('start', g.name);
      const started = (await waitFor(() => mine().find((c) => c.kind === 'started'), 15_000, 'started'))!;
      const pid1 = started.kind === 'started' ? started.domain.pid : null;
      assert.ok(pid1);
      virsh('destroy', g.name);
      virsh('start', g.name);
      // a fast restart may fall between two polls: seen as restarted (new pid) or stopped+started
      await waitFor(() => mine().some((c) => (c.kind === 'restarted' || c.kind === 'started') && c.domain.pid !== pid1), 15_000, 'restart');
      destroyGuest(g.name);
      await waitFor(() => mine().some((c) => c.kind === 'stopped'), 15_000, 'stopped');
    } finally {
      await watcher.stop();
    }
  });

  test('policy metadata: set live and config through virsh, read back, bad values write nothing', async () => {
    const g = createGuest({ tag: 'meta' });
    const c = capture();
    assert.equal(await policyCommand.run([g.name, '--set', 'engine=slide', 'T=2', 'loop=2'], c.io), 0, c.err.join(''));
    assert.match(c.out.join(''), /written \(live and config\)/);
    const live = virsh('dumpxml', g.name);
    const config = virsh('dumpxml', '--inactive', g.name);
    for (const xml of [live, config]) {
      assert.deepEqual(policyFromDomainXml(xml, host), { present: true, enabled: true, engine: 'slide', settings: { loop: '2', T: '2' } });
    }
    assert.match(virsh('metadata', g.name, '--uri', POLICY_NAMESPACE), /T="2"/);
    // --live only: the persistent definition keeps the old value
    assert.equal(await policyCommand.run([g.name, '--set', 'T=1', '--live'], c.io), 0);
    assert.equal(policyFromDomainXml(virsh('dumpxml', g.name), host).settings.T, '1');
    assert.equal(policyFromDomainXml(virsh('dumpxml', '--inactive', g.name), host).settings.T, '2');
    // invalid: refused before virsh runs, nothing changes
    const before = virsh('dumpxml', g.name);
    const bad = capture();
    assert.equal(await policyCommand.run([g.name, '--set', 'T=7'], bad.io), 1);
    assert.match(bad.err.join(''), /domain ".*" policy\.T: .*0\.\.6/);
    assert.equal(await policyCommand.run([g.name, '--set', 'loop=<x/>'], bad.io), 1);
    assert.equal(virsh('dumpxml', g.name), before);
    const show = capture();
    assert.equal(await policyCommand.run([g.name, '--json'], show.io), 0);
    assert.equal(JSON.parse(show.out.join('')).policy.T, '1');
  });

  test('hostile metadata defined into a domain is reported by name, not applied', async () => {
    const g = createGuest({ tag: 'hostile', metadata: `<tier:policy xmlns:tier="${POLICY_NAMESPACE}" enabled="yes" node_mig_quota="99999999999"/>` });
    const c = capture();
    assert.equal(await listCommand.run(['--json'], c.io), 0, c.err.join(''));
    const row = (JSON.parse(c.out.join('')) as Array<{ name: string; tiering: string; policyError?: string }>).find((r) => r.name === g.name);
    assert.equal(row?.tiering, 'invalid');
    assert.match(row!.policyError!, new RegExp(`domain "${g.name}" policy.node_mig_quota`));
    const s = capture();
    assert.equal(await statsCommand.run([g.name, '--json'], s.io), 0);
    const stats = JSON.parse(s.out.join(''));
    assert.equal(stats.ramBlocks[0].id, 'pc.ram');
    assert.equal(stats.nodesSource, 'numa_maps');
  });
});

describe('libvirt: auto tasks and the PID resolver (real libvirtd)', () => {
  before(() => ensureLibvirt());
  after(() => destroyAll());

  test('running domains with an enabled policy become type=domain tasks; the resolver follows the QEMU PID', async () => {
    const { domainTasksFromPolicy } = await import('../../src/virt/domain-tasks.js');
    const { domainPidResolver } = await import('../../src/virt/discovery.js');
    const { VirtConnection } = await import('../../src/virt/connection.js');
    const on = createGuest({ tag: 'auto', metadata: `<tier:policy xmlns:tier="${POLICY_NAMESPACE}" engine="slide" T="2"/>` });
    const off = createGuest({ tag: 'auto', metadata: `<tier:policy xmlns:tier="${POLICY_NAMESPACE}" enabled="no"/>` });
    const running = (await listRunningDomains()).filter((d) => d.name === on.name || d.name === off.name);
    assert.equal(running.length, 2);
    const res = domainTasksFromPolicy(running, { host });
    assert.deepEqual(res.errors, []);
    assert.deepEqual(res.objects.map((o) => [o.domain.name, o.task.type, o.task.value, o.engine.name]), [[on.name, 'domain', on.uuid, 'slide']]);
    const connection = new VirtConnection();
    try {
      const resolve = domainPidResolver(connection);
      const pid1 = await resolve(on.uuid);
      assert.equal(pid1, qemuPidOf(on.name));
      assert.equal(await resolve(on.name), pid1);
      virsh('destroy', on.name);
      assert.equal(await resolve(on.uuid), null);
      virsh('start', on.name);
      const pid2 = await resolve(on.uuid);
      assert.ok(pid2 !== null && pid2 !== pid1, 'new QEMU PID after restart');
      assert.equal(await resolve('vt-test-no-such-domain'), null);
    } finally {
      await connection.close();
    }
  });
});
