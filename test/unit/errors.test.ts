/** The shared error factories of src/errors.ts and the error kinds built on VirtTierError. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { abortError, isAbortError, isProcessGone, processGone, SysError, VirtTierError } from '../../src/errors.js';
import { SysError as NativeSysError, isErrno } from '../../src/native/errors.js';
import { FeedProtocolError, parseClientMessage } from '../../src/feed/protocol.js';
import { FieldProblem, parseStrictInt } from '../../src/config/fields.js';

describe('abortError', () => {
  test('named AbortError, with the message and partial given', () => {
    const plain = abortError();
    assert.equal(plain.name, 'AbortError');
    assert.equal(plain.message, 'operation aborted');
    assert.equal('partial' in plain, false);
    const withPartial = abortError('move round aborted', { bytes: 3 });
    assert.equal(withPartial.message, 'move round aborted');
    assert.deepEqual(withPartial.partial, { bytes: 3 });
    assert.ok(withPartial instanceof Error);
  });
  test('isAbortError: ours and Node\'s own, nothing else', async () => {
    assert.ok(isAbortError(abortError()));
    const ac = new AbortController();
    ac.abort();
    const nodeErr = await sleep(10, undefined, { signal: ac.signal }).catch((e: unknown) => e);
    assert.ok(isAbortError(nodeErr));
    for (const other of [new Error('x'), null, undefined, 'AbortError', { name: 'Error' }]) assert.equal(isAbortError(other), false);
  });
});

describe('processGone', () => {
  test('a SysError ESRCH with or without a path', () => {
    const e = processGone(42, { syscall: 'open', path: '/proc/42/smaps' });
    assert.ok(e instanceof SysError && e instanceof NativeSysError, 'one SysError class, re-exported by src/native/errors.ts');
    assert.equal(e.name, 'SysError');
    assert.equal(e.code, 'ESRCH');
    assert.equal(e.errno, 3);
    assert.equal(e.syscall, 'open');
    assert.equal(e.message, '/proc/42/smaps: process 42 is gone');
    assert.equal(processGone(7, { syscall: 'damon' }).message, 'process 7 is gone');
    assert.ok(isErrno(e, 'ESRCH'));
  });
  test('isProcessGone: any ESRCH, and a VirtTierError mapped from ESRCH', () => {
    assert.ok(isProcessGone(processGone(1, { syscall: 'read' })));
    assert.ok(isProcessGone(Object.assign(new Error('x'), { code: 'ESRCH' })));
    assert.ok(isProcessGone(new VirtTierError('OPT_NOEXIST', 'gone', { errno: 'ESRCH' })));
    assert.equal(isProcessGone(new SysError('ENOENT', 2, 'open')), false);
    assert.equal(isProcessGone(new VirtTierError('OPT_NOEXIST', 'gone', { errno: 'ENOENT' })), false);
    assert.equal(isProcessGone(null), false);
  });
});

describe('one hierarchy', () => {
  test('feed protocol errors are VirtTierErrors with their wire form unchanged', () => {
    let err: unknown;
    try { parseClientMessage('{"type":"subscribe","all":"yes"}'); } catch (e) { err = e; }
    assert.ok(err instanceof FeedProtocolError && err instanceof VirtTierError);
    assert.deepEqual(err.toMessage(), { v: 1, type: 'error', code: 'OPT_INVAL', message: 'all must be true or false', field: 'all', allowed: 'true|false' });
  });
  test('config field problems are OPT_INVAL VirtTierErrors with the same message', () => {
    let err: unknown;
    try { parseStrictInt('11', 0, 10); } catch (e) { err = e; }
    assert.ok(err instanceof FieldProblem && err instanceof VirtTierError);
    assert.equal(err.code, 'OPT_INVAL');
    assert.equal(err.message, 'out of range; allowed: 0..10');
    assert.equal(err.why, 'out of range');
    assert.equal(err.allowed, '0..10');
  });
  test('errno only appears on the wire when set', () => {
    assert.equal('errno' in new VirtTierError('OPT_INVAL', 'm').toJSON(), false);
    assert.equal('errno' in new VirtTierError('OPT_INVAL', 'm'), false);
    assert.deepEqual(VirtTierError.fromJSON({ code: 'OPT_PERM', message: 'm', errno: 'EPERM' }).toJSON(), { code: 'OPT_PERM', message: 'm', errno: 'EPERM' });
  });
});
