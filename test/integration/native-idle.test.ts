// page_idle and etmem's idle_pages are absent from this host's kernel
// (platform-facts.md), so these run the native readers against fixture files
// with the same access rules; the tracker tests own the stream decoding.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { native, SysError } from '../../src/native/index.js';

const SCAN_AS_HUGE = 0x1000000;

describe('page_idle bitmap and etmem idle_pages (fixture files)', () => {
  test('fixture: readIdleBitmap / writeIdleBitmap move whole 8-byte words at word offsets', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vt-idle-'));
    const bitmap = path.join(dir, 'bitmap');
    try {
      const words = new BigUint64Array([0n, 0xffn, 1n << 63n, 0x5555n]);
      writeFileSync(bitmap, Buffer.from(words.buffer));
      const read = await native.readIdleBitmap(bitmap, 1, 2);
      assert.ok(read instanceof BigUint64Array);
      assert.deepEqual([...read], [0xffn, 1n << 63n]);
      assert.deepEqual([...(await native.readIdleBitmap(bitmap, 3, 10))], [0x5555n], 'short at end of file (past max_pfn)');
      const written = await native.writeIdleBitmap(bitmap, 2, new BigUint64Array([0xaaaan]));
      assert.equal(written, 8);
      const after = new BigUint64Array(new Uint8Array(readFileSync(bitmap)).buffer);
      assert.deepEqual([...after], [0n, 0xffn, 0xaaaan, 0x5555n]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('fixture: readIdlePages seeks to the VA, reads up to maxBytes and reports the next VA', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vt-etmem-'));
    const file = path.join(dir, 'idle_pages');
    try {
      const content = Buffer.alloc(3 * 4096);
      content.fill(0x50, 4096, 4096 + 10); // PTE_IDLE x0 bytes at "VA" 4096
      writeFileSync(file, content);
      const r = await native.readIdlePages(file, 4096, 10, 0);
      assert.ok(Buffer.isBuffer(r.data));
      assert.deepEqual([...r.data], new Array(10).fill(0x50));
      assert.equal(r.nextVa, 4096 + 10);
      const rest = await native.readIdlePages(file, 8192, 1 << 20, 0);
      assert.equal(rest.data.length, 4096, 'stops at EOF');
      // Flags go through ioctl(IDLE_SCAN_ADD_FLAGS): a plain file refuses it,
      // which shows the ioctl is issued before any read.
      await assert.rejects(native.readIdlePages(file, 0, 16, SCAN_AS_HUGE), (e: unknown) =>
        e instanceof SysError && e.code === 'ENOTTY' && e.syscall === 'ioctl(IDLE_SCAN_ADD_FLAGS)');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the live page_idle bitmap is absent on this host: ENOENT with the syscall', async () => {
    await assert.rejects(native.readIdleBitmap('/sys/kernel/mm/page_idle/bitmap', 0, 1), (e: unknown) =>
      e instanceof SysError && e.code === 'ENOENT' && e.syscall === 'open(page_idle)');
    await assert.rejects(native.readIdlePages(`/proc/${process.pid}/idle_pages`, 0, 16, 0), (e: unknown) =>
      e instanceof SysError && e.code === 'ENOENT' && e.syscall === 'open(idle_pages)');
  });

  test('bad arguments throw TypeError ERR_INVALID_ARG', () => {
    const call = (fn: unknown, ...args: unknown[]) => (fn as (...a: unknown[]) => unknown)(...args);
    const isUsage = (name: string) => (err: unknown) =>
      err instanceof TypeError && (err as { code?: string }).code === 'ERR_INVALID_ARG' && err.message.includes(`usage: ${name}`);
    assert.throws(() => call(native.readIdleBitmap, '/x', -1, 1), isUsage('readIdleBitmap'));
    assert.throws(() => call(native.readIdleBitmap, 5, 0, 1), isUsage('readIdleBitmap'));
    assert.throws(() => call(native.writeIdleBitmap, '/x', 0, new Uint32Array(2)), isUsage('writeIdleBitmap'));
    assert.throws(() => call(native.readIdlePages, '/x', 100, 16, 0), isUsage('readIdlePages'));
    assert.throws(() => call(native.readIdlePages, '/x', 0, 0, 0), isUsage('readIdlePages'));
    assert.throws(() => call(native.readIdlePages, '/x', 0, 16, -1), isUsage('readIdlePages'));
  });
});
