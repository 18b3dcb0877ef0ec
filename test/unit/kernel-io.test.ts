import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MemoryIO, RecordingIO, rootedIO } from '../../src/platform/io.js';
import { SysError } from '../../src/native/errors.js';
import { kernelOver, recordingKernel, MPOL_MF_MOVE, MADV_COLD, MADV_PAGEOUT } from '../../src/native/kernel.js';
import type { NativeBinding } from '../../src/native/native.js';

describe('binary I/O beside PlatformIO', () => {
  test('rootedIO: positioned reads (short at end of file), positioned writes that change only their bytes, ENOENT without creating', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'vt-bin-'));
    try {
      writeFileSync(path.join(root, 'bitmap'), Buffer.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
      const io = rootedIO(root);
      assert.deepEqual([...(await io.readBytes('/bitmap', 2, 4))], [2, 3, 4, 5]);
      assert.deepEqual([...(await io.readBytes('/bitmap', 8, 8))], [8, 9]);
      assert.equal((await io.readBytes('/bitmap', 0, 0)).length, 0);
      await io.writeBytes('/bitmap', 4, Uint8Array.from([0xff, 0xee]));
      assert.deepEqual([...readFileSync(path.join(root, 'bitmap'))], [0, 1, 2, 3, 0xff, 0xee, 6, 7, 8, 9]);
      await assert.rejects(io.readBytes('/nope', 0, 8), (e: unknown) => e instanceof SysError && e.code === 'ENOENT');
      await assert.rejects(io.writeBytes('/nope', 0, new Uint8Array(8)), (e: unknown) => e instanceof SysError && e.code === 'ENOENT');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test('MemoryIO blobs and a RecordingIO that logs text and binary operations in one sequence (dry run keeps writes out)', async () => {
    const mem = new MemoryIO({ '/sys/a': '1\n' }, { blobs: { '/sys/kernel/mm/page_idle/bitmap': new Uint8Array(16) } });
    const rec = new RecordingIO(mem, { applyWrites: false });
    assert.equal(await rec.readText('/sys/a'), '1\n');
    await rec.writeBytes('/sys/kernel/mm/page_idle/bitmap', 8, Uint8Array.from([1, 2]));
    assert.deepEqual([...(await rec.readBytes('/sys/kernel/mm/page_idle/bitmap', 6, 4))], [0, 0, 0, 0], 'dry run');
    await mem.writeBytes('/sys/kernel/mm/page_idle/bitmap', 8, Uint8Array.from([1, 2]));
    assert.deepEqual([...(await mem.readBytes('/sys/kernel/mm/page_idle/bitmap', 6, 4))], [0, 0, 1, 2]);
    await assert.rejects(rec.readBytes('/sys/none', 0, 8), (e: unknown) => e instanceof SysError && e.code === 'ENOENT');
    assert.deepEqual(rec.ops, [
      { op: 'readText', path: '/sys/a' },
      { op: 'writeBytes', path: '/sys/kernel/mm/page_idle/bitmap', positionBytes: 8, lengthBytes: 2 },
      { op: 'readBytes', path: '/sys/kernel/mm/page_idle/bitmap', positionBytes: 6, lengthBytes: 4 },
      { op: 'readBytes', path: '/sys/none', positionBytes: 0, lengthBytes: 8, error: 'ENOENT' },
    ]);
    assert.deepEqual(rec.mutations().map((o) => o.op), ['writeBytes']);
    assert.deepEqual(await mem.readDir('/sys/kernel/mm/page_idle'), ['bitmap']);
  });
});

describe('KernelOps over a binding', () => {
  const seen: unknown[][] = [];
  const binding = new Proxy({}, {
    get: (_t, name) => (...args: unknown[]) => {
      seen.push([name, ...args]);
      if (name === 'getPeerCred') return { pid: 1, uid: 0, gid: 0 };
      if (name === 'movePages' && (args[0] as number) === 4242) return Promise.reject(new SysError('ESRCH', 3, 'move_pages'));
      return Promise.resolve(new Int32Array(0));
    },
  }) as NativeBinding;
  const kernel = kernelOver(() => binding);

  test('plain positional arguments to the addon: flags and advice are fixed per wrapper (MPOL_MF_MOVE=2)', async () => {
    seen.length = 0;
    const addrs = new Float64Array([4096]);
    await kernel.queryPageNodes(7, addrs);
    await kernel.movePages(7, addrs, new Int32Array([1]));
    await kernel.pageout(7, new Float64Array([4096, 4096]));
    await kernel.adviseCold(7, new Float64Array([4096, 4096]));
    await kernel.pagemapScan(7, 4096, 8192, { categoryMask: 8, returnMask: 24 });
    assert.deepEqual(seen.map((c) => [c[0], ...c.slice(3)]), [
      ['movePages', null, 0],
      ['movePages', new Int32Array([1]), MPOL_MF_MOVE],
      ['processMadvise', MADV_PAGEOUT],
      ['processMadvise', MADV_COLD],
      ['pagemapScan', 8192, 0, 8, 0, 24, 0],
    ]);
    assert.equal(MPOL_MF_MOVE, 2);
  });

  test('bad arguments are TypeError ERR_INVALID_ARG before the addon is reached', () => {
    seen.length = 0;
    const bad = (e: unknown): boolean => e instanceof TypeError && (e as { code?: string }).code === 'ERR_INVALID_ARG';
    assert.throws(() => kernel.queryPageNodes(0, new Float64Array(1)), bad);
    assert.throws(() => kernel.movePages(7, new Float64Array(2), new Int32Array(1)), bad);
    assert.throws(() => kernel.pageout(7, new Float64Array(3)), bad);
    assert.throws(() => kernel.readPagemap(7, 100, 1), bad);
    assert.throws(() => kernel.pagemapScan(7, 8192, 4096, { returnMask: 8 }), bad);
    assert.throws(() => kernel.readIdleBitmap('', 0, 1), bad);
    assert.throws(() => kernel.writeIdleBitmap('/b', -1, new BigUint64Array(1)), bad);
    assert.throws(() => kernel.mincoreFile('/f', 0.5, 4096), bad);
    assert.throws(() => kernel.getPeerCred(-1), bad);
    assert.deepEqual(seen, []);
  });

  test('recordingKernel logs each call with plain arguments and the errno of a failure', async () => {
    const { kernel: rec, calls } = recordingKernel(kernel);
    await rec.queryPageNodes(7, new Float64Array(3));
    await assert.rejects(rec.movePages(4242, new Float64Array(1), new Int32Array(1)), (e: unknown) => e instanceof SysError && e.code === 'ESRCH');
    assert.deepEqual(rec.getPeerCred(5), { pid: 1, uid: 0, gid: 0 });
    assert.deepEqual(calls, [
      { op: 'queryPageNodes', args: [7, 'Float64Array(3)'] },
      { op: 'movePages', args: [4242, 'Float64Array(1)', 'Int32Array(1)'], error: 'ESRCH' },
      { op: 'getPeerCred', args: [5] },
    ]);
  });
});
