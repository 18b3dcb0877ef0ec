import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, openSync, writeSync, closeSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  IdleBits, PageIdleTracker, decodePagemapEntry, filePageIdleIo, idleMarkWords, wordRuns,
} from '../../src/scan/page-idle.js';
import { SysError } from '../../src/native/errors.js';

const PAGE = 4096;
const PRESENT = 1n << 63n;
const SWAPPED = 1n << 62n;

function entry(pfn: number | 'swapped' | 'none'): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(pfn === 'none' ? 0n : pfn === 'swapped' ? SWAPPED | 0x1234n : PRESENT | BigInt(pfn));
  return b;
}

describe('page_idle bookkeeping (fixture)', () => {
  test('pagemap entries: present, swapped, PFN bits 0..54 above 2^32', () => {
    const buf = Buffer.concat([entry(0x12_3456_789a), entry('swapped'), entry('none')]);
    assert.deepEqual(decodePagemapEntry(buf, 0), { present: true, swapped: false, pfn: 0x12_3456_789a });
    assert.deepEqual(decodePagemapEntry(buf, 1), { present: false, swapped: true, pfn: 0 });
    assert.deepEqual(decodePagemapEntry(buf, 2), { present: false, swapped: false, pfn: 0 });
  });

  test('PFNs map to word pfn/64, bit pfn%64 of a little-endian u64', () => {
    const pfn = 64 * 3 + 9;
    const runs = idleMarkWords([pfn, 0, 63]);
    assert.deepEqual(runs.map((r) => r.first), [0]);
    const words = runs[0]!.words;
    assert.equal(words.length, 4 * 8);
    assert.equal(words.readBigUInt64LE(0), (1n << 63n) | 1n);
    assert.equal(words.readBigUInt64LE(24), 1n << 9n);
    const bits = new IdleBits(runs);
    assert.ok(bits.isIdle(pfn) && bits.isIdle(0) && bits.isIdle(63));
    assert.ok(!bits.isIdle(pfn + 1) && !bits.isIdle(1) && !bits.isIdle(64 * 1000));
  });

  test('word runs merge near words and split far ones', () => {
    assert.deepEqual(wordRuns([5, 1, 2, 2, 100, 103]), [{ first: 1, count: 5 }, { first: 100, count: 4 }]);
  });
});

describe('PageIdleTracker on files in a temp dir (fixture)', () => {
  let dir = '';
  const pid = 4321;
  const heap = 0x600000000;
  const pfns = [100, 101, 164, 1000, 1001, 5000, 70];
  let paths: { smaps: string; pagemap: string; bitmap: string };

  function writePagemapEntry(pageIndex: number, e: Buffer): void {
    const fd = openSync(paths.pagemap, 'r+');
    writeSync(fd, e, 0, 8, ((heap + pageIndex * PAGE) / PAGE) * 8);
    closeSync(fd);
  }

  /** The kernel's side of an access: the page's idle bit is cleared. */
  function access(pfn: number): void {
    const fd = openSync(paths.bitmap, 'r+');
    const byte = Buffer.alloc(1);
    const pos = Math.floor(pfn / 64) * 8 + ((pfn % 64) >> 3);
    const cur = readFileSync(paths.bitmap)[pos]!;
    byte[0] = cur & ~(1 << (pfn % 8));
    writeSync(fd, byte, 0, 1, pos);
    closeSync(fd);
  }

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'vt-page-idle-'));
    paths = { smaps: path.join(dir, 'smaps'), pagemap: path.join(dir, 'pagemap'), bitmap: path.join(dir, 'bitmap') };
    writeFileSync(paths.smaps, [
      `${heap.toString(16)}-${(heap + 8 * PAGE).toString(16)} rw-p 00000000 00:00 0    [heap]`,
      'VmFlags: rd wr mr mw me ac',
      '7f4000000000-7f4000400000 rw-s 00000000 00:2f 9   /dev/hugepages/vm-ram (deleted)',
      'VmFlags: rd wr sh mr mw me ms ht',
      '',
    ].join('\n'));
    writeFileSync(paths.pagemap, Buffer.alloc(0));
    pfns.forEach((pfn, i) => writePagemapEntry(i, entry(pfn)));
    writePagemapEntry(7, entry('none'));
    writeFileSync(paths.bitmap, Buffer.alloc(128 * 8));
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  test('loop scans of set-idle then read-back give per-page counts; migrated and swapped pages are handled', async () => {
    const accessedPerInterval = [[0, 1, 3], [0, 3], [0]];
    const sleeps: number[] = [];
    const writes: number[][] = [];
    const base = filePageIdleIo({ smapsPath: () => paths.smaps, pagemapPath: () => paths.pagemap, bitmapPath: paths.bitmap, pageNodes: async (_p, addrs) => Int32Array.from(addrs, (a) => (a === heap + 3 * PAGE ? 1 : 0)) });
    const io = { ...base, writeBitmap: async (first: number, words: Buffer) => { writes.push([first, words.length / 8]); return base.writeBitmap(first, words); } };
    const sleep = async (ms: number): Promise<void> => {
      const interval = sleeps.length;
      sleeps.push(ms);
      if (interval === 1) {
        pfns[5] = 6000; // page 5 migrated: a frame that was never marked
        writePagemapEntry(5, entry(6000));
      }
      if (interval === 2) writePagemapEntry(6, entry('swapped'));
      for (const page of accessedPerInterval[interval]!) access(pfns[page]!);
    };
    const map = await new PageIdleTracker(io, sleep).scanCycle({ pid, filter: { vmFlags: [], anonOnly: false }, ignHost: false }, { loop: 3, intervalMs: 500 });
    assert.deepEqual(sleeps, [500, 500, 500]);
    assert.equal(map.tracker, 'page-idle');
    assert.deepEqual(map.vmas.map((v) => v.start), [heap], 'the ht VMA is skipped');
    const perPage = map.ranges.toArray().flatMap((r) => Array.from({ length: r.pageCount }, (_, i) => [(r.start - heap) / PAGE + i, r.accessCount, r.node, r.present, r.swapped]));
    assert.deepEqual(perPage, [
      [0, 3, 0, true, false],
      [1, 1, 0, true, false],
      [2, 0, 0, true, false],
      [3, 2, 1, true, false],
      [4, 0, 0, true, false],
      [5, 1, 0, true, false],
      [6, 0, -1, false, true],
    ]);
    // Every cycle writes idle marks: the first for the 7 pages, then after each scan.
    assert.ok(writes.length >= 4);
    assert.ok(writes.every(([first]) => first! <= 6000 / 64));
  });

  test('the ht VMA is never read (page_idle cannot see hugetlb pages)', async () => {
    const reads: number[] = [];
    const base = filePageIdleIo({ smapsPath: () => paths.smaps, pagemapPath: () => paths.pagemap, bitmapPath: paths.bitmap, pageNodes: async (_p, a) => new Int32Array(a.length) });
    const io = { ...base, readPagemap: (p: number, start: number, n: number) => { reads.push(start); return base.readPagemap(p, start, n); } };
    const map = await new PageIdleTracker(io, async () => undefined).scanCycle({ pid, filter: { vmFlags: ['ht'], anonOnly: false }, ignHost: false }, { loop: 1, intervalMs: 1 });
    assert.deepEqual(reads, []);
    assert.deepEqual(map.ranges.toArray(), []);
  });

  test('a vanished process: ESRCH', async () => {
    const io = filePageIdleIo({ smapsPath: () => path.join(dir, 'no-such-smaps'), bitmapPath: paths.bitmap });
    await assert.rejects(new PageIdleTracker(io).scanCycle({ pid, filter: { vmFlags: [], anonOnly: false }, ignHost: false }, { loop: 1, intervalMs: 1 }), (e: unknown) => e instanceof SysError && e.code === 'ESRCH');
  });

  test('pagemap without PFNs (no CAP_SYS_ADMIN): EPERM naming the cause', async () => {
    const hidden = path.join(dir, 'pagemap-hidden');
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(PRESENT);
    writeFileSync(hidden, Buffer.alloc(0));
    const fd = openSync(hidden, 'r+');
    writeSync(fd, b, 0, 8, (heap / PAGE) * 8);
    closeSync(fd);
    const io = filePageIdleIo({ smapsPath: () => paths.smaps, pagemapPath: () => hidden, bitmapPath: paths.bitmap });
    await assert.rejects(new PageIdleTracker(io, async () => undefined).scanCycle({ pid, filter: { vmFlags: [], anonOnly: true }, ignHost: false }, { loop: 1, intervalMs: 1 }), /CAP_SYS_ADMIN/);
  });
});

describe('PageIdleTracker on this process\'s real pagemap, fake bitmap (fixture)', () => {
  test('reads real PFNs as root; with no access clearing the fake bits, stable pages read idle', async (t) => {
    if (process.getuid?.() !== 0) {
      t.skip('pagemap PFNs need CAP_SYS_ADMIN: run as root (CI does)');
      return;
    }
    const dir = mkdtempSync(path.join(tmpdir(), 'vt-page-idle-real-'));
    try {
      const bitmap = path.join(dir, 'bitmap');
      writeFileSync(bitmap, Buffer.alloc(0));
      const ballast = Buffer.alloc(16 * 1024 * 1024, 1); // 16 MiB of touched anonymous memory
      const io = filePageIdleIo({ bitmapPath: bitmap, pageNodes: async (_p, a) => new Int32Array(a.length) });
      const map = await new PageIdleTracker(io, async () => undefined).scanCycle({ pid: process.pid, filter: { vmFlags: [], anonOnly: true }, ignHost: false }, { loop: 2, intervalMs: 0 });
      const presentPages = map.ranges.toArray().filter((r) => r.present).reduce((n, r) => n + r.pageCount, 0);
      const idlePages = map.ranges.toArray().filter((r) => r.present && r.accessCount === 0).reduce((n, r) => n + r.pageCount, 0);
      assert.ok(presentPages >= 4096, `at least the 16 MiB ballast is present (${presentPages} pages)`);
      // The ballast is not touched during the cycle, its PFNs stay and its fake bits stay set: idle.
      // (Other pages may churn: the heap grows and new frames count as accessed.)
      assert.ok(idlePages >= 4000, `the untouched ballast reads idle (${idlePages} idle of ${presentPages})`);
      assert.ok(map.ranges.toArray().every((r) => r.pageSizeBytes === 4096 && (r.present || r.swapped)));
      assert.ok(ballast[12345] === 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
