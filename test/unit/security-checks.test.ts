/**
 * The pure checks behind docs/security.md, one by one (the attacks
 * themselves run in test/security/): Host names that cannot be rebound,
 * error excerpts, the inspector refusal, pidfile directories, and error
 * messages that name only flags that exist.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { excerpt, EXCERPT_CHARS } from '../../src/config/raw.js';
import { DAEMON_USAGE } from '../../src/daemon/args.js';
import { refuseInspector } from '../../src/daemon/main.js';
import { checkPidFileDir, removePidFile, writePidFile } from '../../src/daemon/pidfile.js';
import { hostAllowed, hostnameAllowed, originAllowed } from '../../src/feed/access.js';
import { checkListen } from '../../src/feed/listen-check.js';

const req = (headers: Record<string, string>): IncomingMessage => ({ headers }) as unknown as IncomingMessage;

describe('feed Host allow-list', () => {
  test('loopback names and address literals pass; other names, empty and odd Hosts do not', () => {
    for (const h of ['localhost', '127.0.0.1', '[::1]', '10.1.2.3', '[fe80::1]']) assert.equal(hostnameAllowed(h, ['127.0.0.1']), true, h);
    for (const h of ['rebind.test', 'localhost.', 'evil.localhost.example', 'example.com']) assert.equal(hostnameAllowed(h, ['127.0.0.1']), false, h);
    assert.equal(hostAllowed(req({ host: '127.0.0.1:8080' }), ['127.0.0.1']), true);
    assert.equal(hostAllowed(req({ host: 'LOCALHOST:8080' }), ['127.0.0.1']), true);
    for (const h of ['rebind.test:8080', '', 'a b', 'x@127.0.0.1', '127.0.0.1/x']) assert.equal(hostAllowed(req({ host: h }), ['127.0.0.1']), false, h);
    assert.equal(hostAllowed(req({}), ['127.0.0.1']), false, 'no Host');
    assert.equal(hostAllowed(req({ host: 'metrics.example:9100' }), ['10.0.0.5', 'metrics.example']), true, '--http-allow-host');
  });
  test('Origin: absent passes; it must be http(s), allowed and equal to the Host', () => {
    assert.equal(originAllowed(req({ host: '127.0.0.1:1' }), ['127.0.0.1']), true);
    assert.equal(originAllowed(req({ host: '127.0.0.1:1', origin: 'http://127.0.0.1:1' }), ['127.0.0.1']), true);
    assert.equal(originAllowed(req({ host: 'rebind.test:1', origin: 'http://rebind.test:1' }), ['127.0.0.1']), false, 'equal but rebindable');
    assert.equal(originAllowed(req({ host: '127.0.0.1:1', origin: 'null' }), ['127.0.0.1']), false);
    assert.equal(originAllowed(req({ host: '127.0.0.1:1', origin: 'http://127.0.0.1:2' }), ['127.0.0.1']), false);
  });
});

describe('config error excerpts', () => {
  test(`at most ${EXCERPT_CHARS} characters, control and format characters as ?`, () => {
    assert.equal(excerpt('short'), 'short');
    assert.equal(excerpt('a\u0000b\u001bc\u200bd'), 'a?b?c?d');
    const long = 'S'.repeat(100);
    assert.equal(excerpt(long), `${'S'.repeat(EXCERPT_CHARS)}...(100 characters)`);
    assert.equal(excerpt('é'.repeat(50)).startsWith('é'.repeat(EXCERPT_CHARS)), true, 'counts characters, not UTF-16 units');
  });
});

describe('the inspector refusal', () => {
  test('refuses --inspect* and --debug-port in execArgv or NODE_OPTIONS; other flags pass', () => {
    for (const flags of ['--inspect', '--inspect=0', '--inspect-brk', '--inspect-port=9230', '--debug-port=1', '--inspect-wait']) {
      assert.match(refuseInspector({}, [flags]) ?? '', /OPT_PERM/, flags);
      assert.match(refuseInspector({ NODE_OPTIONS: `--max-old-space-size=100 ${flags}` }, []) ?? '', /OPT_PERM/, flags);
    }
    assert.equal(refuseInspector({ NODE_OPTIONS: '--max-old-space-size=100' }, ['--enable-source-maps']), undefined);
  });
});

describe('pidfile directories', () => {
  test('root-owned directory under sticky /tmp: allowed; owned by a user or writable by others: refused', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vt-unit-pid-'));
    try {
      chmodSync(dir, 0o755);
      assert.equal(checkPidFileDir(path.join(dir, 'x.pid')), path.join(dir, 'x.pid'));
      chmodSync(dir, 0o777);
      assert.throws(() => checkPidFileDir(path.join(dir, 'x.pid')), /writable by others/);
      chmodSync(dir, 0o755);
      chownSync(dir, 65534, 65534);
      assert.throws(() => checkPidFileDir(path.join(dir, 'x.pid')), /owned by uid 65534/);
      assert.throws(() => checkPidFileDir('relative.pid'), /not an absolute path/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  test('write: a symlink is refused and not followed; remove: only a file naming our pid', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vt-unit-pid-'));
    try {
      chmodSync(dir, 0o755);
      const target = path.join(dir, 'target');
      writeFileSync(target, 'keep');
      symlinkSync(target, path.join(dir, 'link.pid'));
      assert.throws(() => writePidFile(path.join(dir, 'link.pid'), 42), /symbolic link/);
      assert.equal(readFileSync(target, 'utf8'), 'keep');
      const pidFile = path.join(dir, 'd.pid');
      writePidFile(pidFile, 42);
      assert.equal(readFileSync(pidFile, 'utf8'), '42\n');
      removePidFile(pidFile, 43);
      assert.equal(readFileSync(pidFile, 'utf8'), '42\n', 'not ours: kept');
      removePidFile(pidFile, 42);
      assert.throws(() => readFileSync(pidFile));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('listen errors name flags that exist', () => {
  test('every --flag in the messages of checkListen is in virt-tierd --help', () => {
    const messages: string[] = [];
    for (const [host, token] of [['0.0.0.0', undefined], ['0.0.0.0', 'short'], ['nope', undefined]] as const) {
      try {
        checkListen({ host, port: 1 }, token);
      } catch (err) {
        messages.push((err as Error).message, (err as { field: string }).field);
      }
    }
    assert.equal(messages.length, 6);
    for (const flag of messages.join(' ').match(/--[a-z][a-z-]*/g) ?? []) assert.ok(DAEMON_USAGE.includes(flag + ' '), `${flag} is not a virt-tierd flag`);
  });
});
