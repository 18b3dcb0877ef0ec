import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryIO, RecordingIO } from '../../src/platform/io.js';
import { kernelOver, recordingKernel } from '../../src/native/kernel.js';
import type { NativeBinding } from '../../src/native/native.js';
import { PAGE_IDLE_BITMAP, PageIdleTracker, filePageIdleIo } from '../../src/scan/page-idle.js';

const PAGE = 4096;
const pid = 4321;
const heap = 16 * PAGE;

test('page-idle through the doors: smaps and pagemap as recorded reads, the bitmap only through KernelOps', async () => {
  const pagemap = Buffer.alloc((heap / PAGE + 2) * 8);
  [100, 101].forEach((pfn, i) => pagemap.writeBigUInt64LE((1n << 63n) | BigInt(pfn), (heap / PAGE + i) * 8));
  const io = new RecordingIO(new MemoryIO(
    { [`/proc/${pid}/smaps`]: `${heap.toString(16)}-${(heap + 2 * PAGE).toString(16)} rw-p 00000000 00:00 0    [heap]\nVmFlags: rd wr mr mw me ac\n` },
    { blobs: { [`/proc/${pid}/pagemap`]: pagemap } },
  ));
  // An in-memory bitmap behind a stand-in addon (mm/page_idle.c semantics: writes only set bits).
  const bitmap = new BigUint64Array(4);
  const addon = {
    readIdleBitmap: async (_p: string, first: number, count: number) => bitmap.slice(first, first + count),
    writeIdleBitmap: async (_p: string, first: number, words: BigUint64Array) => {
      words.forEach((w, i) => (bitmap[first + i]! |= w));
      return words.length * 8;
    },
    movePages: async (_pid: number, addrs: Float64Array) => new Int32Array(addrs.length),
  } as unknown as NativeBinding;
  const { kernel, calls } = recordingKernel(kernelOver(() => addon));
  const sleep = async (): Promise<void> => {
    bitmap[1]! &= ~(1n << 37n); // the guest touched PFN 101 (word 1, bit 37)
  };
  const map = await new PageIdleTracker(filePageIdleIo({ io, kernel }), sleep).scanCycle({ pid, filter: { vmFlags: [], anonOnly: false }, ignHost: false }, { loop: 1, intervalMs: 10 });
  assert.deepEqual(map.ranges.toArray().map((r) => [(r.start - heap) / PAGE, r.pageCount, r.accessCount]), [[0, 1, 0], [1, 1, 1]]);
  assert.deepEqual(io.ops, [
    { op: 'readText', path: `/proc/${pid}/smaps` },
    { op: 'readBytes', path: `/proc/${pid}/pagemap`, positionBytes: (heap / PAGE) * 8, lengthBytes: 16 },
    { op: 'readBytes', path: `/proc/${pid}/pagemap`, positionBytes: (heap / PAGE) * 8, lengthBytes: 16 },
  ]);
  assert.deepEqual(calls, [
    { op: 'writeIdleBitmap', args: [PAGE_IDLE_BITMAP, 1, 'BigUint64Array(1)'] },
    { op: 'readIdleBitmap', args: [PAGE_IDLE_BITMAP, 1, 1] },
    { op: 'writeIdleBitmap', args: [PAGE_IDLE_BITMAP, 1, 'BigUint64Array(1)'] },
    { op: 'queryPageNodes', args: [pid, 'Float64Array(2)'] },
  ]);
});
