import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync, ftruncateSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { native, SysError } from '../../src/native/index.js';
import { startPatternChild } from './native-child.js';

const PAGE = 4096;

function mapFilesPath(pid: number, start: number, lengthBytes: number): string {
  return `/proc/${pid}/map_files/${start.toString(16)}-${(start + lengthBytes).toString(16)}`;
}

describe('mincoreFile and seekDataHole', () => {
  test('memfd of a child through map_files: mincore shows exactly the touched pages, SEEK_DATA the same extents', async () => {
    const child = await startPatternChild('memfd', 64, 4);
    try {
      const p = mapFilesPath(child.pid, child.start, child.lengthBytes);
      const resident = await native.mincoreFile(p, 0, child.lengthBytes);
      assert.ok(resident instanceof Uint8Array);
      assert.equal(resident.length, 64);
      for (let i = 0; i < 64; i++) assert.equal(resident[i], i % 4 === 0 ? 1 : 0, `page ${i}`);
      await child.touch(5);
      const after = await native.mincoreFile(p, 0, child.lengthBytes);
      assert.equal(after[5], 1, 'touching page 5 made it resident');

      const extents = await native.seekDataHole(p, 0, child.lengthBytes);
      const expected: number[] = [];
      for (let i = 0; i < 64; i++) {
        if (i % 4 === 0) expected.push(i * PAGE, (i + 1) * PAGE);
        if (i === 4) expected[expected.length - 1] = 6 * PAGE; // pages 4 and 5 form one extent
      }
      assert.deepEqual([...extents], expected);
      // A window inside the object is clipped to it.
      assert.deepEqual([...(await native.seekDataHole(p, PAGE, 5 * PAGE))], [4 * PAGE, 5 * PAGE]);
    } finally {
      await child.stop();
    }
  });

  test('a sparse tmp file: data extents by path and by fd, and mincore on the written pages', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vt-sparse-'));
    const file = path.join(dir, 'sparse');
    const fd = openSync(file, 'w+');
    try {
      const page = Buffer.alloc(PAGE, 7);
      writeSync(fd, page, 0, PAGE, 0);
      writeSync(fd, page, 0, PAGE, 256 * PAGE);
      writeSync(fd, page, 0, PAGE, 257 * PAGE);
      ftruncateSync(fd, 1024 * PAGE);
      const byPath = await native.seekDataHole(file, 0, 1024 * PAGE);
      assert.deepEqual([...byPath], [0, PAGE, 256 * PAGE, 258 * PAGE]);
      const byFd = await native.seekDataHole(fd, 0, 1024 * PAGE);
      assert.deepEqual([...byFd], [...byPath]);
      const resident = await native.mincoreFile(file, 0, 1024 * PAGE);
      assert.equal(resident[0], 1);
      assert.equal(resident[256], 1);
      assert.equal(resident[100], 0, 'a hole is not in the page cache');
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('OS failures carry code and syscall', async () => {
    await assert.rejects(native.mincoreFile('/nonexistent/x', 0, PAGE), (e: unknown) => e instanceof SysError && e.code === 'ENOENT' && e.syscall === 'open');
    await assert.rejects(native.seekDataHole(2147483000, 0, PAGE), (e: unknown) => e instanceof SysError && e.code === 'EBADF');
    // /proc/self/status cannot be mmapped.
    await assert.rejects(native.mincoreFile('/proc/self/status', 0, PAGE), (e: unknown) => e instanceof SysError && e.syscall === 'mmap');
  });

  test('bad arguments throw TypeError ERR_INVALID_ARG', () => {
    const call = (fn: unknown, ...args: unknown[]) => (fn as (...a: unknown[]) => unknown)(...args);
    const isUsage = (name: string) => (err: unknown) =>
      err instanceof TypeError && (err as { code?: string }).code === 'ERR_INVALID_ARG' && err.message.includes(`usage: ${name}`);
    assert.throws(() => call(native.mincoreFile, '/tmp', 1, PAGE), isUsage('mincoreFile'));
    assert.throws(() => call(native.mincoreFile, '/tmp', 0, 100), isUsage('mincoreFile'));
    assert.throws(() => call(native.mincoreFile, '', 0, PAGE), isUsage('mincoreFile'));
    assert.throws(() => call(native.seekDataHole, '/tmp', 10, 10), isUsage('seekDataHole'));
    assert.throws(() => call(native.seekDataHole, -1, 0, 10), isUsage('seekDataHole'));
    assert.throws(() => call(native.seekDataHole, {}, 0, 10), isUsage('seekDataHole'));
  });
});
