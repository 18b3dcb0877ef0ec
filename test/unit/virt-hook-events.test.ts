import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtTierError } from '../../src/errors.js';
import { handleHookEvent } from '../../src/virt/hook-events.js';

const uuid = '3cead87f-c9e1-43c3-8d77-f848bbcff52f';

test('lifecycle ops map to add / refresh / remove / ignore', () => {
  const act = (op: string, subop: string) => handleHookEvent({ domain: 'vm1', uuid, op, subop, extra: '-' }).action;
  assert.equal(act('started', 'begin'), 'add');
  assert.equal(act('reconnect', 'begin'), 'refresh');
  assert.equal(act('restore', 'begin'), 'refresh');
  assert.equal(act('migrate', 'begin'), 'refresh');
  assert.equal(act('stopped', 'end'), 'remove');
  assert.equal(act('release', 'end'), 'remove');
  assert.equal(act('prepare', 'begin'), 'ignore');
  assert.equal(handleHookEvent({ domain: 'vm1', op: 'started', subop: 'begin' }, { auto: false }).action, 'refresh');
  assert.deepEqual(handleHookEvent({ domain: 'vm1', uuid: uuid.toUpperCase(), op: 'stopped', subop: 'end', extra: '-' }), {
    action: 'remove', domain: 'vm1', uuid, op: 'stopped', subop: 'end',
  });
});

test('bad hook calls get a clear error naming the field', () => {
  const bad = (args: Record<string, unknown>, field: string) =>
    assert.throws(() => handleHookEvent(args), (e: unknown) => e instanceof VirtTierError && e.code === 'OPT_INVAL' && e.field === field);
  bad({ op: 'started' }, 'hook.event.domain');
  bad({ domain: '', op: 'started' }, 'hook.event.domain');
  bad({ domain: 'a/b', op: 'started' }, 'hook.event.domain');
  bad({ domain: 'x'.repeat(300), op: 'started' }, 'hook.event.domain');
  bad({ domain: 'vm1', op: 'explode' }, 'hook.event.op');
  bad({ domain: 'vm1', op: 42 }, 'hook.event.op');
  bad({ domain: 'vm1', op: 'started', subop: 'middle' }, 'hook.event.subop');
  bad({ domain: 'vm1', op: 'started', uuid: 'not-a-uuid' }, 'hook.event.uuid');
  bad({ domain: 'vm1', op: 'started', extra: 'a\nb' }, 'hook.event.extra');
});
