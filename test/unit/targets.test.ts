import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryIO, RecordingIO } from '../../src/platform/io.js';
import { createTargetResolver, pidAlive, pidsByName } from '../../src/model/targets.js';

const stat = (pid: number, comm: string, state: string): string => `${pid} (${comm}) ${state} 1 ${pid} ${pid} 0 -1\n`;

const proc = new MemoryIO({
  '/proc/10/stat': stat(10, 'qemu-kvm', 'S'),
  '/proc/10/comm': 'qemu-kvm\n',
  '/proc/11/stat': stat(11, 'qemu kvm) x', 'R'),
  '/proc/11/comm': 'qemu-kvm\n',
  '/proc/12/stat': stat(12, 'qemu-kvm', 'Z'),
  '/proc/12/comm': 'qemu-kvm\n',
  '/proc/99/stat': stat(99, 'virt-tierd', 'S'),
  '/proc/99/comm': 'qemu-kvm\n',
  '/proc/self/stat': stat(99, 'virt-tierd', 'S'),
});

describe('target resolution over /proc through PlatformIO', () => {
  test('pidAlive: the state after the last ")" of stat; zombies and missing pids are not alive', async () => {
    assert.equal(await pidAlive(10, proc), true);
    assert.equal(await pidAlive(11, proc), true, 'a comm with ") " in it');
    assert.equal(await pidAlive(12, proc), false);
    assert.equal(await pidAlive(13, proc), false);
  });

  test('pidsByName: live pids with that comm, never the daemon itself, sorted', async () => {
    assert.deepEqual(await pidsByName('qemu-kvm', proc, 99), [10, 11]);
  });

  test('a resolver per type: pid, name, domain (injected lookup; none without libvirt)', async () => {
    const io = new RecordingIO(proc);
    const noLibvirt = createTargetResolver({ io, selfPid: 99 });
    assert.deepEqual(await noLibvirt.resolve({ type: 'pid', value: '10' }), [10]);
    assert.deepEqual(await noLibvirt.resolve({ type: 'pid', value: '99' }), [], 'never the daemon');
    assert.deepEqual(await noLibvirt.resolve({ type: 'pid', value: '12' }), []);
    assert.deepEqual(await noLibvirt.resolve({ type: 'name', value: 'qemu-kvm' }), [10, 11]);
    assert.deepEqual(await noLibvirt.resolve({ type: 'domain', value: 'vm1' }), []);
    const withLibvirt = createTargetResolver({ io, selfPid: 99, domainPid: async (d) => (d === 'vm1' ? 10 : d === 'dead' ? 12 : null) });
    assert.deepEqual(await withLibvirt.resolve({ type: 'domain', value: 'vm1' }), [10]);
    assert.deepEqual(await withLibvirt.resolve({ type: 'domain', value: 'dead' }), [], 'a zombie QEMU is not a target');
    assert.deepEqual(await withLibvirt.resolve({ type: 'domain', value: 'other' }), []);
    assert.deepEqual(io.mutations(), []);
    assert.ok(io.ops.some((o) => o.op === 'readDir' && o.path === '/proc'));
  });
});
