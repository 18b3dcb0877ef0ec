import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { native, SysError } from '../../src/native/index.js';
import { PAGE_IS, decodePagemapEntry, scanPages, scanPagesByPagemap, countPages } from '../../src/native/pagemap.js';
import { startPatternChild } from './native-child.js';

describe('pagemap (real child process)', () => {
  test('readPagemap: every 3rd page present with a PFN, the rest neither present nor swapped', async () => {
    const child = await startPatternChild('anon', 300, 3);
    try {
      const entries = await native.readPagemap(child.pid, child.start, 300);
      assert.ok(entries instanceof BigUint64Array);
      assert.equal(entries.length, 300);
      for (let i = 0; i < 300; i++) {
        const e = decodePagemapEntry(entries, i);
        assert.equal(e.present, i % 3 === 0, `page ${i}`);
        if (e.present) {
          assert.ok((e.pfn ?? 0) > 0, 'root sees PFNs');
          assert.equal(e.exclusive, true, 'private anon page touched once is exclusive');
        }
        assert.equal(e.swapped, false);
      }
    } finally {
      await child.stop();
    }
  });

  test('PAGEMAP_SCAN and pagemap reads agree on a known pattern', async () => {
    const pages = 5000;
    const child = await startPatternChild('anon', pages, 7);
    try {
      await child.touch(1);
      await child.touch(2); // pages 0-2 present as one run
      const filter = { returnMask: PAGE_IS.PRESENT | PAGE_IS.SWAPPED | PAGE_IS.FILE };
      const end = child.start + pages * 4096;
      const viaScan = await scanPages(child.pid, child.start, end, filter);
      assert.equal(viaScan.source, 'PAGEMAP_SCAN', 'this host (6.18) has PAGEMAP_SCAN');
      const viaRead = await scanPagesByPagemap(child.pid, child.start, end, filter);
      assert.equal(viaRead.source, 'pagemap');
      assert.deepEqual([...viaScan.regions], [...viaRead.regions]);
      const expectedPresent = Math.ceil(pages / 7) + 2;
      assert.equal(countPages(viaScan.regions, PAGE_IS.PRESENT), expectedPresent);
      assert.deepEqual([...viaScan.regions.subarray(0, 3)], [child.start, child.start + 3 * 4096, PAGE_IS.PRESENT]);
    } finally {
      await child.stop();
    }
  });

  test('more regions than one ioctl returns (65536): resumed at walk_end, no overlap, agrees with pagemap', async () => {
    const pages = 140000; // every other page present: 140000 regions
    const child = await startPatternChild('anon', pages, 2);
    try {
      const end = child.start + pages * 4096;
      const filter = { returnMask: PAGE_IS.PRESENT };
      const viaScan = await scanPages(child.pid, child.start, end, filter);
      assert.equal(viaScan.regions.length / 3, pages);
      const viaRead = await scanPagesByPagemap(child.pid, child.start, end, filter);
      assert.deepEqual([...viaScan.regions], [...viaRead.regions]);
    } finally {
      await child.stop();
    }
  });

  test('pagemapScan with categoryMask returns only present ranges; maxPages stops the walk early', async () => {
    const child = await startPatternChild('anon', 100, 2);
    try {
      const end = child.start + 100 * 4096;
      const all = await native.pagemapScan(child.pid, child.start, end, 0, PAGE_IS.PRESENT, 0, PAGE_IS.PRESENT, 0);
      assert.equal(all.regions.length / 3, 50);
      assert.equal(all.walkEnd, end);
      const some = await native.pagemapScan(child.pid, child.start, end, 0, PAGE_IS.PRESENT, 0, PAGE_IS.PRESENT, 10);
      assert.equal(countPages(some.regions, PAGE_IS.PRESENT), 10);
      assert.ok(some.walkEnd < end);
    } finally {
      await child.stop();
    }
  });

  test('pagemapScanCounts: page counts per category equal the sums over pagemapScan regions', async () => {
    const child = await startPatternChild('anon', 20000, 5, 2);
    try {
      const end = child.start + 20000 * 4096;
      const mask = PAGE_IS.PRESENT | PAGE_IS.SWAPPED;
      const counts = await native.pagemapScanCounts(child.pid, child.start, end, 0, 0, 0, mask);
      const scan = await native.pagemapScan(child.pid, child.start, end, 0, 0, 0, mask, 0);
      const byCats = new Map<number, number>();
      for (let i = 0; i < counts.pagesByCategories.length; i += 2) byCats.set(counts.pagesByCategories[i]!, counts.pagesByCategories[i + 1]!);
      assert.equal(byCats.get(PAGE_IS.PRESENT), 8000);
      assert.equal(byCats.get(0), 12000);
      assert.equal(counts.regions, scan.regions.length / 3);
      assert.equal(counts.walkEnd, end);
      assert.throws(() => (native.pagemapScanCounts as (...a: unknown[]) => unknown)(child.pid, child.start, end, 0, 0, 0, 0),
        (e: unknown) => e instanceof TypeError && (e as { code?: string }).code === 'ERR_INVALID_ARG' && e.message.includes('usage: pagemapScanCounts'));
    } finally {
      await child.stop();
    }
  });

  test('fallback: a kernel without PAGEMAP_SCAN (ENOTTY) or with fewer category bits (EINVAL) gets the same ranges from pagemap', async () => {
    const child = await startPatternChild('anon', 1000, 3);
    try {
      const end = child.start + 1000 * 4096;
      const filter = { categoryAnyOfMask: PAGE_IS.PRESENT, returnMask: PAGE_IS.PRESENT | PAGE_IS.SWAPPED };
      const modern = await scanPages(child.pid, child.start, end, filter);
      for (const [code, errno] of [['ENOTTY', 25], ['EINVAL', 22]] as const) {
        // The real addon, except that the ioctl fails the way older kernels fail it.
        const oldKernel = {
          readPagemap: native.readPagemap,
          pagemapScan: () => Promise.reject(new SysError(code, errno, 'ioctl(PAGEMAP_SCAN)')),
        };
        const old = await scanPages(child.pid, child.start, end, filter, oldKernel);
        assert.equal(old.source, 'pagemap');
        assert.deepEqual([...old.regions], [...modern.regions]);
      }
      // Bits pagemap cannot compute (HUGE) are not faked: the error stands.
      const noHuge = { readPagemap: native.readPagemap, pagemapScan: () => Promise.reject(new SysError('ENOTTY', 25, 'ioctl(PAGEMAP_SCAN)')) };
      await assert.rejects(scanPages(child.pid, child.start, end, { returnMask: PAGE_IS.HUGE }, noHuge), (e: unknown) => e instanceof SysError && e.code === 'ENOTTY');
      // Other errors are not swallowed.
      const gone = { readPagemap: native.readPagemap, pagemapScan: () => Promise.reject(new SysError('ESRCH', 3, 'ioctl(PAGEMAP_SCAN)')) };
      await assert.rejects(scanPages(child.pid, child.start, end, filter, gone), (e: unknown) => e instanceof SysError && e.code === 'ESRCH');
    } finally {
      await child.stop();
    }
  });

  test('unknown category bits: the ioctl rejects EINVAL', async () => {
    await assert.rejects(
      native.pagemapScan(process.pid, 0, 4096, 0, 1 << 30, 0, 1, 0),
      (err: unknown) => err instanceof SysError && err.code === 'EINVAL' && err.syscall === 'ioctl(PAGEMAP_SCAN)',
    );
  });

  test('a process that does not exist: ENOENT from open(pagemap)', async () => {
    await assert.rejects(native.readPagemap(2147483000, 0, 1), (err: unknown) => err instanceof SysError && err.code === 'ENOENT' && err.syscall === 'open(pagemap)');
    await assert.rejects(scanPages(2147483000, 0, 4096, { returnMask: 8 }), (err: unknown) => err instanceof SysError && err.code === 'ENOENT');
  });

  test('bad arguments throw TypeError ERR_INVALID_ARG', () => {
    const isUsage = (name: string) => (err: unknown) =>
      err instanceof TypeError && (err as { code?: string }).code === 'ERR_INVALID_ARG' && err.message.includes(`usage: ${name}`);
    const call = (fn: unknown, ...args: unknown[]) => (fn as (...a: unknown[]) => unknown)(...args);
    assert.throws(() => call(native.readPagemap, 1, 4097, 1), isUsage('readPagemap'));
    assert.throws(() => call(native.readPagemap, 1, 0, -1), isUsage('readPagemap'));
    assert.throws(() => call(native.readPagemap, 'self', 0, 1), isUsage('readPagemap'));
    assert.throws(() => call(native.pagemapScan, 1, 8192, 4096, 0, 0, 0, 8, 0), isUsage('pagemapScan'));
    assert.throws(() => call(native.pagemapScan, 1, 0, 4096, 0, 0, 0, 0, 0), isUsage('pagemapScan'));
    assert.throws(() => call(native.pagemapScan, 1, 0, 4096), isUsage('pagemapScan'));
  });
});
