/**
 * The control socket's error boundary: errno -> result code in the server,
 * back in the client (src/api/wire-error.ts), and one round trip through a
 * real ControlServer on an abstract socket.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { call } from '../../src/api/client.js';
import { ControlServer } from '../../src/api/server.js';
import { fromWireError, resultCodeForErrno, toWireError } from '../../src/api/wire-error.js';
import { isProcessGone, processGone, SysError, VirtTierError } from '../../src/errors.js';
import { nullLogger } from '../../src/log.js';

describe('errno -> result code', () => {
  test('each mapped errno, and the rest as OPT_INTER_ERR', () => {
    const cases: Array<[string, string]> = [
      ['EACCES', 'OPT_PERM'], ['EPERM', 'OPT_PERM'],
      ['ENOENT', 'OPT_NOEXIST'], ['ESRCH', 'OPT_NOEXIST'],
      ['EINVAL', 'OPT_INVAL'], ['ETIMEDOUT', 'OPT_TIMEOUT'],
      ['ENOSYS', 'OPT_UNSUPPORTED'], ['ENOTTY', 'OPT_UNSUPPORTED'], ['EOPNOTSUPP', 'OPT_UNSUPPORTED'], ['ENOTSUP', 'OPT_UNSUPPORTED'],
      ['ENOMEM', 'OPT_INTER_ERR'], ['EBUSY', 'OPT_INTER_ERR'], ['E999', 'OPT_INTER_ERR'],
      ['toString', 'OPT_INTER_ERR'], ['__proto__', 'OPT_INTER_ERR'],
    ];
    for (const [errno, code] of cases) assert.equal(resultCodeForErrno(errno), code, errno);
  });

  test('toWireError: SysError and fs errors keep their message and errno; others are OPT_INTER_ERR', () => {
    const sys = toWireError(new SysError('EACCES', 13, 'open', 'open /proc/1/pagemap: permission denied'));
    assert.deepEqual(sys.toJSON(), { code: 'OPT_PERM', message: 'open /proc/1/pagemap: permission denied', errno: 'EACCES' });
    const fsErr = Object.assign(new Error("ENOENT: no such file or directory, open '/x'"), { code: 'ENOENT', errno: -2, syscall: 'open' });
    assert.deepEqual(toWireError(fsErr).toJSON(), { code: 'OPT_NOEXIST', message: fsErr.message, errno: 'ENOENT' });
    // the addon's usage TypeError is a bug in the caller, not an OS failure
    const usage = Object.assign(new TypeError('usage: movePages(pid, addrs, nodes, flags)'), { code: 'ERR_INVALID_ARG' });
    assert.deepEqual(toWireError(usage).toJSON(), { code: 'OPT_INTER_ERR', message: usage.message });
    assert.deepEqual(toWireError('boom').toJSON(), { code: 'OPT_INTER_ERR', message: 'boom' });
    const own = new VirtTierError('OPT_PRO_NOEXIST', 'project "p" does not exist', { field: '-n', value: 'p' });
    assert.equal(toWireError(own), own);
  });

  test('fromWireError: known codes as sent; an unknown code falls back to the errno, then OPT_INTER_ERR', () => {
    const known = fromWireError({ code: 'OPT_PERM', message: 'm', errno: 'EACCES' });
    assert.equal(known.code, 'OPT_PERM');
    assert.equal(known.errno, 'EACCES');
    assert.equal(fromWireError({ code: 'OPT_FROM_THE_FUTURE', message: 'm', errno: 'EPERM' }).code, 'OPT_PERM');
    assert.equal(fromWireError({ code: 'OPT_FROM_THE_FUTURE', message: 'm' }).code, 'OPT_INTER_ERR');
    assert.equal(fromWireError(null).code, 'OPT_INTER_ERR');
    assert.equal(fromWireError({ code: 'OPT_INVAL', message: 'm' }).errno, undefined);
  });
});

describe('errors through a real control socket', () => {
  const socketName = `vt-api-errors-${process.pid}-${Date.now()}`;
  let server: ControlServer;
  before(async () => {
    server = new ControlServer({
      socketName,
      log: nullLogger(),
      allowedGid: process.getgid?.(),
      handlers: {
        denied: () => { throw new SysError('EACCES', 13, 'open', 'open /proc/1/pagemap: permission denied'); },
        gone: () => { throw processGone(4242, { syscall: 'read', path: '/proc/4242/pagemap' }); },
        unsupported: async () => { throw new SysError('ENOTTY', 25, 'ioctl', 'ioctl(PAGEMAP_SCAN) failed: ENOTTY'); },
        oops: () => { throw new Error('something broke'); },
        own: () => { throw new VirtTierError('OPT_TASK_NOEXIST', 'task "t" does not exist', { field: '-t', value: 't' }); },
      },
    });
    await server.listen();
  });
  after(() => server.close());

  test('an OS failure arrives as its result code with the errno name; others as before', async () => {
    await assert.rejects(call(socketName, 'denied'), (err: unknown) => {
      assert.ok(err instanceof VirtTierError);
      assert.equal(err.code, 'OPT_PERM');
      assert.equal(err.errno, 'EACCES');
      assert.equal(err.message, 'open /proc/1/pagemap: permission denied');
      return true;
    });
    await assert.rejects(call(socketName, 'gone'), (err: unknown) => {
      assert.ok(err instanceof VirtTierError);
      assert.equal(err.code, 'OPT_NOEXIST');
      assert.equal(err.message, '/proc/4242/pagemap: process 4242 is gone');
      assert.ok(isProcessGone(err), 'the CLI tells a gone process as the daemon does');
      return true;
    });
    await assert.rejects(call(socketName, 'unsupported'), { name: 'VirtTierError', code: 'OPT_UNSUPPORTED', errno: 'ENOTTY' });
    await assert.rejects(call(socketName, 'oops'), (err: unknown) => err instanceof VirtTierError && err.code === 'OPT_INTER_ERR' && err.errno === undefined && err.message === 'something broke');
    await assert.rejects(call(socketName, 'own'), (err: unknown) => err instanceof VirtTierError && err.code === 'OPT_TASK_NOEXIST' && err.field === '-t' && err.errno === undefined);
  });
});
