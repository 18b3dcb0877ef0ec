import { test } from 'node:test';
import assert from 'node:assert/strict';
import { domainTasksFromPolicy } from '../../src/virt/domain-tasks.js';
import { POLICY_NAMESPACE } from '../../src/virt/policy.js';

const host = { numaNodes: [0, 1, 2, 3], cpuCount: 2 };
const dom = (name: string, uuid: string, policy: string) => ({
  name,
  uuid,
  memoryBytes: 192 << 20,
  xml: `<domain type='qemu'><name>${name}</name><uuid>${uuid}</uuid><metadata>${policy}</metadata></domain>`,
});
const U1 = '11111111-1111-1111-1111-111111111111';
const U2 = '22222222-2222-2222-2222-222222222222';
const U3 = '33333333-3333-3333-3333-333333333333';
const U4 = '44444444-4444-4444-4444-444444444444';

test('enabled policies become project + engine + task (type=domain, value=UUID); off/absent add nothing; invalid ones are reported', () => {
  const res = domainTasksFromPolicy(
    [
      dom('a', U1, `<policy xmlns="${POLICY_NAMESPACE}" hot_threshold="3" loop="2"/>`),
      dom('b', U2, `<policy xmlns="${POLICY_NAMESPACE}" enabled="no"/>`),
      dom('c', U3, ''),
      dom('d', U4, `<policy xmlns="${POLICY_NAMESPACE}" engine="slide" T="99"/>`),
    ],
    { host, defaultNodePair: '0,2;1,3' },
  );
  assert.equal(res.objects.length, 1);
  const o = res.objects[0]!;
  assert.equal(o.project.name, `domain-${U1}`);
  assert.equal(o.project.loop, 2);
  assert.equal(o.engine.name, 'cslide');
  assert.deepEqual(o.engine.name === 'cslide' && o.engine.node_pair, [{ dram: 0, aep: 2 }, { dram: 1, aep: 3 }]);
  assert.equal(o.engine.name === 'cslide' && o.engine.hot_threshold, 3);
  assert.equal(o.engine.name === 'cslide' && o.engine.node_hot_reserve, 192);
  assert.deepEqual({ type: o.task.type, value: o.task.value, engine: o.task.engine }, { type: 'domain', value: U1, engine: 'cslide' });
  assert.deepEqual(o.task.params, { vm_flags: ['ht'], anon_only: false, ign_host: false });
  assert.equal(res.errors.length, 1);
  assert.equal(res.errors[0]!.domain, 'd');
  assert.equal(res.errors[0]!.error.field, 'domain "d" policy.T');
});

test('cslide without node_pair on a host without memory-only nodes is an error naming the key', () => {
  const res = domainTasksFromPolicy([dom('a', U1, `<policy xmlns="${POLICY_NAMESPACE}"/>`)], { host: { numaNodes: [0], cpuCount: 2 } });
  assert.equal(res.objects.length, 0);
  assert.equal(res.errors[0]!.error.field, 'domain "a" policy.node_pair');
});
