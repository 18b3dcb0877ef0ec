/**
 * libvirt end to end with the real daemon: a guest started with a policy
 * in its domain XML is tiered with no other action (the qemu hook tells the
 * daemon, which reads the policy and adds its task to the host-wide project
 * of its settings group), guests of one group share that project's engine,
 * and stopping a guest removes its task (the project with the last one). A real libvirtd, a real TCG guest on hugepages,
 * the real hooks/qemu script, the real virt-tierd.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { createGuest, destroyGuest, ensureLibvirt, virsh, waitFor } from '../libvirt/guest.js';
import { repoRoot, startDaemon, type TestDaemon } from './helpers/daemon.js';

const NS = 'https://virt-tier.dev/xmlns/policy/1';

/** Runs the real hook as libvirtd would: `qemu NAME OP SUBOP -`, XML on stdin. */
function runHook(socket: string, name: string, op: string, subop: string, xml: string): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'hooks/qemu'), name, op, subop, '-'], {
    input: xml,
    encoding: 'utf8',
    env: { ...process.env, VIRT_TIER_HOOK_SOCKET: socket },
    timeout: 5000,
  });
  return { code: r.status, out: r.stdout + r.stderr };
}

interface ShownProject {
  name: string;
  started: boolean;
  tasks: Array<{ name: string; type: string; value: string; engine: string }>;
}

describe('libvirt guests tiered by their domain XML policy (real libvirtd)', () => {
  let d: TestDaemon;
  before(async () => {
    ensureLibvirt();
    // A sync interval of an hour: within this test only the hook (and the first sync) can add or remove projects.
    d = await startDaemon(['--auto-domains', '--sync-interval', '3600']);
  });
  after(async () => {
    await d?.stop();
  });

  const projects = (): ShownProject[] => JSON.parse(d.cli(['project', 'show', '--json']).stdout) as ShownProject[];

  test('started with a policy: a started project follows; stopped: it is gone', async () => {
    const guest = createGuest({ tag: 'auto', metadata: `<tier:policy xmlns:tier="${NS}" enabled="yes" engine="slide" T="1" loop="2"/>` });
    try {
      const xml = virsh('dumpxml', guest.name);
      const hook = runHook(d.socket, guest.name, 'started', 'begin', xml);
      assert.equal(hook.code, 0);
      assert.equal(hook.out, '', 'the hook prints nothing');
      const p = (await waitFor(() => projects().find((x) => x.tasks.some((t) => t.value === guest.uuid)), 3000, "the domain's task"))!;
      // loop=2 is not the default: the guest's group is a host-wide project named after its settings
      assert.match(p.name, /^auto-slide-[0-9a-f]{8}$/);
      assert.equal(p.started, true);
      assert.deepEqual(p.tasks.map((t) => [t.type, t.value, t.engine]), [['domain', guest.uuid, 'slide']]);

      virsh('destroy', guest.name);
      assert.equal(runHook(d.socket, guest.name, 'stopped', 'end', xml).code, 0);
      await waitFor(() => !projects().some((x) => x.tasks.some((t) => t.value === guest.uuid)), 3000, 'the task to go').catch((err: Error) => {
        throw new Error(`${err.message}; daemon log:\n${d.stderr()}`);
      });
    } finally {
      destroyGuest(guest.name);
    }
  });

  test('two guests with the same settings share one host-wide project and engine; one stopping leaves the other running', async () => {
    const policy = `<tier:policy xmlns:tier="${NS}" enabled="yes" engine="slide"/>`;
    const g1 = createGuest({ tag: 'share1', metadata: policy });
    const g2 = createGuest({ tag: 'share2', metadata: policy });
    try {
      for (const g of [g1, g2]) assert.equal(runHook(d.socket, g.name, 'started', 'begin', virsh('dumpxml', g.name)).code, 0);
      const p = (await waitFor(() => projects().find((x) => x.name === 'auto-slide' && x.tasks.length === 2) ?? null, 5000, 'both guests in auto-slide'))!;
      assert.equal(p.started, true);
      assert.deepEqual(p.tasks.map((t) => [t.name, t.value, t.engine]).sort(), [g1, g2].map((g) => [`domain-${g.uuid}`, g.uuid, 'slide']).sort());

      const xml1 = virsh('dumpxml', g1.name);
      virsh('destroy', g1.name);
      assert.equal(runHook(d.socket, g1.name, 'stopped', 'end', xml1).code, 0);
      const left = (await waitFor(() => projects().find((x) => x.name === 'auto-slide' && x.tasks.length === 1) ?? null, 5000, 'one guest left'))!;
      assert.deepEqual(left.tasks.map((t) => t.value), [g2.uuid]);
      assert.equal(left.started, true);
    } finally {
      destroyGuest(g1.name);
      destroyGuest(g2.name);
    }
  });

  test('a guest without a policy, or with policy off, is left alone', async () => {
    const off = createGuest({ tag: 'off', metadata: `<tier:policy xmlns:tier="${NS}" enabled="no"/>` });
    const none = createGuest({ tag: 'none' });
    try {
      for (const g of [off, none]) assert.equal(runHook(d.socket, g.name, 'started', 'begin', virsh('dumpxml', g.name)).code, 0);
      await new Promise((r) => setTimeout(r, 1500));
      const values = projects().flatMap((p) => p.tasks.map((t) => t.value));
      assert.ok(!values.includes(off.uuid) && !values.includes(none.uuid), values.join(','));
    } finally {
      destroyGuest(off.name);
      destroyGuest(none.name);
    }
  });

  test('policy --set --live: the CLI has the daemon resync, so the edit is in effect when it returns (the poll is an hour away)', async () => {
    const guest = createGuest({ tag: 'edit', metadata: `<tier:policy xmlns:tier="${NS}" enabled="no" engine="slide"/>` });
    try {
      assert.equal(runHook(d.socket, guest.name, 'started', 'begin', virsh('dumpxml', guest.name)).code, 0);
      await new Promise((r) => setTimeout(r, 1000));
      const tiered = (): boolean => projects().some((x) => x.tasks.some((t) => t.value === guest.uuid));
      assert.equal(tiered(), false, 'enabled="no": not tiered');
      const on = d.cli(['policy', guest.name, '--set', 'enabled=yes', '--live']);
      assert.equal(on.code, 0, on.stderr);
      assert.match(on.stdout, /virt-tierd resynced: the policy is in effect/);
      assert.equal(tiered(), true, `tiered as soon as the CLI returned: ${on.stdout}`);
      const off = d.cli(['policy', guest.name, '--set', 'enabled=no', '--live', '--json']);
      assert.equal(off.code, 0, off.stderr);
      assert.deepEqual(JSON.parse(off.stdout).daemon, { synced: true });
      assert.equal(tiered(), false, 'untiered as soon as the CLI returned');
      // No daemon on the socket: the edit is still written, and the CLI says the next poll takes it.
      const lone = spawnSync(process.execPath, [path.join(repoRoot, 'bin/virt-tier.js'), 'policy', guest.name, '--set', 'enabled=yes', '--live', '-s', `${d.socket}-none`], { encoding: 'utf8' });
      assert.equal(lone.status, 0, lone.stderr);
      assert.match(lone.stdout, /virt-tierd not resynced: virt-tierd not reached on socket .*-none .*next sync picks the change up/);
      assert.match(virsh('metadata', guest.name, '--uri', NS, '--live'), /enabled="yes"/);
    } finally {
      destroyGuest(guest.name);
    }
  });

  test('hostile metadata is refused naming the domain and key; the daemon lives on', async () => {
    const bad = createGuest({ tag: 'bad', metadata: `<tier:policy xmlns:tier="${NS}" enabled="yes" engine="slide" T="99999999999"/>` });
    try {
      assert.equal(runHook(d.socket, bad.name, 'started', 'begin', virsh('dumpxml', bad.name)).code, 0);
      const status = await waitFor(() => {
        const r = JSON.parse(d.cli(['project', 'show', '--json']).stdout) as ShownProject[];
        return r.some((p) => p.tasks.some((t) => t.value === bad.uuid)) ? 'added' : null;
      }, 1500, 'never', 100).catch(() => 'not added');
      assert.equal(status, 'not added');
      assert.equal(d.alive(), true);
      assert.match(d.stderr(), new RegExp(`domain policy not applied.*${bad.name}.*T`));
    } finally {
      destroyGuest(bad.name);
    }
  });

  test('a malformed hook event gets a clear error naming the field', async () => {
    const { call } = await import('../../src/api/client.js');
    await assert.rejects(call(d.socket, 'hook.event', { domain: 'x', op: 'explode' }), /hook\.event\.op.*allowed: prepare\|start/);
    await assert.rejects(call(d.socket, 'hook.event', { domain: 'a/b', op: 'started' }), /hook\.event\.domain/);
    assert.equal(d.alive(), true);
  });
});
