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
const U5 = '55555555-5555-5555-5555-555555555555';
const opts = { host, defaultNodePair: '0,2;1,3', defaultHotReserveMb: 4096 };

test('enabled policies become a task (type=domain, value=UUID) in a host-wide project; off/absent add nothing; invalid ones are reported', () => {
  const res = domainTasksFromPolicy(
    [
      dom('a', U1, `<policy xmlns="${POLICY_NAMESPACE}" hot_threshold="3" loop="2"/>`),
      dom('b', U2, `<policy xmlns="${POLICY_NAMESPACE}" enabled="no"/>`),
      dom('c', U3, ''),
      dom('d', U4, `<policy xmlns="${POLICY_NAMESPACE}" engine="slide" T="99"/>`),
    ],
    opts,
  );
  assert.equal(res.objects.length, 1);
  const o = res.objects[0]!;
  // Not the default settings: the group's name carries a hash of them.
  assert.match(o.project.name, /^auto-cslide-[0-9a-f]{8}$/);
  assert.equal(o.project.loop, 2);
  assert.equal(o.engine.name, 'cslide');
  assert.deepEqual(o.engine.name === 'cslide' && o.engine.node_pair, [{ dram: 0, aep: 2 }, { dram: 1, aep: 3 }]);
  assert.equal(o.engine.name === 'cslide' && o.engine.hot_threshold, 3);
  // The engine's reserve is the host's (the largest DRAM node), not one guest's size: every cold page goes.
  assert.equal(o.engine.name === 'cslide' && o.engine.node_hot_reserve, 4096);
  assert.deepEqual({ name: o.task.name, type: o.task.type, value: o.task.value, engine: o.task.engine, project: o.task.project }, { name: `domain-${U1}`, type: 'domain', value: U1, engine: 'cslide', project: o.project.name });
  assert.deepEqual(o.task.params, { vm_flags: ['ht'], anon_only: false, ign_host: false });
  assert.equal(res.errors.length, 1);
  assert.equal(res.errors[0]!.domain, 'd');
  assert.equal(res.errors[0]!.error.field, 'domain "d" policy.T');
});

test('guests with the same project and engine settings share one project and engine; per-guest keys do not split them', () => {
  const res = domainTasksFromPolicy(
    [
      dom('a', U1, `<policy xmlns="${POLICY_NAMESPACE}"/>`),
      // the default values written out, and a per-guest share: still the default group
      dom('b', U2, `<policy xmlns="${POLICY_NAMESPACE}" engine="cslide" loop="3" hot_threshold="2" node_pair="0,2;1,3" weight="3" dram_min="16"/>`),
      dom('c', U3, `<policy xmlns="${POLICY_NAMESPACE}" node_mig_quota="64"/>`),
      dom('d', U4, `<policy xmlns="${POLICY_NAMESPACE}" engine="slide" T="1"/>`),
      dom('e', U5, `<policy xmlns="${POLICY_NAMESPACE}" engine="slide"/>`),
    ],
    opts,
  );
  assert.deepEqual(res.errors, []);
  const [a, b, c, d, e] = res.objects;
  assert.equal(a!.project.name, 'auto-cslide');
  assert.equal(b!.project.name, 'auto-cslide');
  assert.equal(a!.groupKey, b!.groupKey);
  assert.deepEqual(b!.task.params, { vm_flags: ['ht'], anon_only: false, ign_host: false, weight: 3, dram_min_bytes: 16 << 20 });
  assert.match(c!.project.name, /^auto-cslide-[0-9a-f]{8}$/);
  assert.notEqual(c!.groupKey, a!.groupKey);
  assert.equal(d!.project.name, 'auto-slide');
  assert.equal(e!.project.name, 'auto-slide');
  assert.deepEqual([a, b, c, d, e].map((o) => o!.task.name), [U1, U2, U3, U4, U5].map((u) => `domain-${u}`));
});

test('cslide without node_pair on a host without memory-only nodes is an error naming the key', () => {
  const res = domainTasksFromPolicy([dom('a', U1, `<policy xmlns="${POLICY_NAMESPACE}"/>`)], { host: { numaNodes: [0], cpuCount: 2 } });
  assert.equal(res.objects.length, 0);
  assert.equal(res.errors[0]!.error.field, 'domain "a" policy.node_pair');
});
