/**
 * libvirt end to end with the real daemon: a guest started with a policy
 * in its domain XML is tiered with no other action (the qemu hook tells the
 * daemon, which reads the policy and adds a started project), and stopping
 * it removes the project. A real libvirtd, a real TCG guest on hugepages,
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
  tasks: Array<{ type: string; value: string; engine: string }>;
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
      const p = (await waitFor(() => projects().find((x) => x.name === `domain-${guest.uuid}`), 3000, "the domain project"))!;
      assert.equal(p.started, true);
      assert.deepEqual(p.tasks.map((t) => [t.type, t.value, t.engine]), [['domain', guest.uuid, 'slide']]);

      virsh('destroy', guest.name);
      assert.equal(runHook(d.socket, guest.name, 'stopped', 'end', xml).code, 0);
      await waitFor(() => !projects().some((x) => x.name === `domain-${guest.uuid}`), 3000, 'the project to go').catch((err: Error) => {
        throw new Error(`${err.message}; daemon log:\n${d.stderr()}`);
      });
    } finally {
      destroyGuest(guest.name);
    }
  });

  test('a guest without a policy, or with policy off, is left alone', async () => {
    const off = createGuest({ tag: 'off', metadata: `<tier:policy xmlns:tier="${NS}" enabled="no"/>` });
    const none = createGuest({ tag: 'none' });
    try {
      for (const g of [off, none]) assert.equal(runHook(d.socket, g.name, 'started', 'begin', virsh('dumpxml', g.name)).code, 0);
      await new Promise((r) => setTimeout(r, 1500));
      const names = projects().map((p) => p.name);
      assert.ok(!names.includes(`domain-${off.uuid}`) && !names.includes(`domain-${none.uuid}`), names.join(','));
    } finally {
      destroyGuest(off.name);
      destroyGuest(none.name);
    }
  });

  test('hostile metadata is refused naming the domain and key; the daemon lives on', async () => {
    const bad = createGuest({ tag: 'bad', metadata: `<tier:policy xmlns:tier="${NS}" enabled="yes" engine="slide" T="99999999999"/>` });
    try {
      assert.equal(runHook(d.socket, bad.name, 'started', 'begin', virsh('dumpxml', bad.name)).code, 0);
      const status = await waitFor(() => {
        const r = JSON.parse(d.cli(['project', 'show', '--json']).stdout) as ShownProject[];
        return r.some((p) => p.name === `domain-${bad.uuid}`) ? 'added' : null;
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
