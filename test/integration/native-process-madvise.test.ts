import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { native, SysError } from '../../src/native/index.js';
import { startPatternChild } from './native-child.js';

const MADV_COLD = 20;
const MADV_PAGEOUT = 21;

describe('processMadvise', () => {
  test('MADV_COLD over many ranges (more than one IOV_MAX batch) advises every byte', async () => {
    const pages = 3000;
    const child = await startPatternChild('anon', pages, 1);
    try {
      // One range per page: 3000 iovecs, three batches of at most 1024.
      const ranges = new Float64Array(pages * 2);
      for (let i = 0; i < pages; i++) {
        ranges[2 * i] = child.start + i * 4096;
        ranges[2 * i + 1] = 4096;
      }
      const bytes = await native.processMadvise(child.pid, ranges, MADV_COLD);
      assert.equal(bytes, pages * 4096);
    } finally {
      await child.stop();
    }
  });

  test('MADV_PAGEOUT of an unmapped range rejects with ENOMEM and the bytes done so far', async () => {
    const child = await startPatternChild('anon', 16, 1);
    try {
      // First range is valid; the second is page 1 of the address space,
      // below mmap_min_addr, never mapped (mm/madvise.c returns ENOMEM).
      const ranges = new Float64Array([child.start, 16 * 4096, 4096, 4096]);
      await assert.rejects(native.processMadvise(child.pid, ranges, MADV_PAGEOUT), (err: unknown) => {
        return err instanceof SysError && err.code === 'ENOMEM' && err.syscall === 'process_madvise' && err.bytesAdvised === 16 * 4096;
      });
    } finally {
      await child.stop();
    }
  });

  test('a pid that does not exist rejects with ESRCH from pidfd_open', async () => {
    await assert.rejects(native.processMadvise(2147483000, new Float64Array([4096, 4096]), MADV_COLD), (err: unknown) => {
      return err instanceof SysError && err.code === 'ESRCH' && err.syscall === 'pidfd_open';
    });
  });

  test('bad arguments throw TypeError ERR_INVALID_ARG', () => {
    const bad: unknown[][] = [
      [-1, new Float64Array(2), 20],
      [1, new Float64Array(3), 20],
      [1, new Int32Array(2), 20],
      [1, new Float64Array([NaN, 4096]), 20],
      [1, new Float64Array(2), 'cold'],
      [1, new Float64Array(2), 20, 'extra'],
    ];
    for (const args of bad) {
      assert.throws(
        () => (native.processMadvise as (...a: unknown[]) => unknown)(...args),
        (err: unknown) => err instanceof TypeError && (err as { code?: string }).code === 'ERR_INVALID_ARG' && /usage: processMadvise/.test(err.message),
        `args ${String(args)}`,
      );
    }
  });
});
