import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MemoryIO, RecordingIO, rootedIO } from '../../src/platform/io.js';
import { SysError } from '../../src/native/index.js';

describe('platform io', () => {
  test('rootedIO reads, lists and writes under its root; missing files are SysError ENOENT', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'vt-io-'));
    try {
      mkdirSync(path.join(root, 'sys/kernel/mm/damon/admin'), { recursive: true });
      writeFileSync(path.join(root, 'sys/kernel/mm/damon/admin/nr_kdamonds'), '0\n');
      const io = rootedIO(root);
      assert.equal(await io.readText('/sys/kernel/mm/damon/admin/nr_kdamonds'), '0\n');
      assert.deepEqual(await io.readDir('/sys/kernel/mm/damon/admin'), ['nr_kdamonds']);
      await io.writeText('/sys/kernel/mm/damon/admin/nr_kdamonds', '1');
      assert.equal(readFileSync(path.join(root, 'sys/kernel/mm/damon/admin/nr_kdamonds'), 'utf8'), '1');
      assert.equal(await io.exists('/sys/kernel/mm/damon'), true);
      assert.equal(await io.exists('/sys/kernel/mm/page_idle'), false);
      await assert.rejects(io.readText('/proc/nope'), (e: unknown) => e instanceof SysError && e.code === 'ENOENT');
      // Like sysfs: writing an attribute that does not exist does not create it.
      await assert.rejects(io.writeText('/sys/kernel/mm/damon/admin/new', '1'), (e: unknown) => e instanceof SysError && e.code === 'ENOENT');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test('MemoryIO implies directories and refuses to create attributes', async () => {
    const io = new MemoryIO({ '/sys/a/b/c': 'x', '/sys/a/d': 'y' });
    assert.deepEqual(await io.readDir('/sys/a'), ['b', 'd']);
    assert.equal(await io.exists('/sys/a/b'), true);
    await assert.rejects(io.writeText('/sys/a/e', '1'), (e: unknown) => e instanceof SysError && e.code === 'ENOENT');
    await assert.rejects(io.readText('/sys/a/b'), (e: unknown) => e instanceof SysError && e.code === 'EISDIR');
  });

  test('RecordingIO logs the sequence and can dry-run writes', async () => {
    const inner = new MemoryIO({ '/sys/x/state': 'off' });
    const rec = new RecordingIO(inner, { applyWrites: false });
    await rec.readText('/sys/x/state');
    await rec.writeText('/sys/x/state', 'on');
    await rec.readDir('/sys/x');
    await rec.readText('/sys/x/missing').catch(() => undefined);
    assert.deepEqual(rec.ops, [
      { op: 'readText', path: '/sys/x/state' },
      { op: 'writeText', path: '/sys/x/state', text: 'on' },
      { op: 'readDir', path: '/sys/x' },
      { op: 'readText', path: '/sys/x/missing', error: 'ENOENT' },
    ]);
    assert.deepEqual(rec.writes(), [['/sys/x/state', 'on']]);
    assert.equal(await inner.readText('/sys/x/state'), 'off', 'dry run left the file alone');
  });
});
