/**
 * The end of the final pre-copy pass, which QEMU 7.2 sends after the stop
 * at stream speed (ram_save_pending counts every unsent page; issue 12,
 * docs/benchmarks.md "Pre-copy estimate", Run 3), and the measured walk
 * profile that says what that end holds. Synthetic page maps; units as in
 * precopy.test.ts (64 MiB/s = 67108.864 B/ms, threshold at 300 ms =
 * 4915.2 pages, stop-copy 600 MiB/s = 629145.6 B/ms).
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { estimatePrecopy, type PrecopyInput, type WalkProfile } from '../../src/migration/precopy.js';
import { walkChunksOf, walkProfileOf } from '../../src/migration/guest-inputs.js';
import { presentPageAddresses, type ZeroSample } from '../../src/migration/measure.js';
import { PAGE_STATE } from '../../src/migration/page-stats.js';
import { VirtTierError } from '../../src/errors.js';

const MIB = 1048576;
const PAGE = 4096;
const BW = 67108.864;
const STREAM = 629145.6;
const near = (actual: number, expected: number, what: string): void =>
  assert.ok(Math.abs(actual - expected) <= Math.abs(expected) * 1e-9 + 1e-6, `${what}: ${actual} != ${expected}`);

/** A walk profile from one letter per page in walk order: d data, z zero, s swapped. */
function walkOf(pages: string, chunkPages = 256): WalkProfile {
  const w: WalkProfile = { chunkPages, dataPages: [], zeroPages: [], swappedPages: [] };
  for (let i = 0; i < pages.length; i += chunkPages) {
    const c = pages.slice(i, i + chunkPages);
    w.dataPages.push(c.split('d').length - 1);
    w.zeroPages.push(c.split('z').length - 1);
    w.swappedPages.push(c.split('s').length - 1);
  }
  return w;
}

/** 256 MiB, 21459 payload pages and 44077 zero ones, nothing dirtied, 64 MiB/s. */
const guest = (over: Partial<PrecopyInput> = {}): PrecopyInput => ({
  ramSizeBytes: 256 * MIB, pageSizeBytes: PAGE, dataPages: 21459, zeroPages: 44077, swappedPages: 0,
  dirty: { ratePagesPerSec: 0 }, bandwidthMBps: 64, ...over,
});
const PASS_BYTES = 21459 * 4104 + 44077 * 9; // 88464429

describe('pre-copy: the final pass\'s tail', () => {
  test('data at the end of the walk crosses after the stop: the same bytes, 268 ms sooner than data at the start', () => {
    const atEnd = estimatePrecopy(guest({ walk: walkOf('z'.repeat(44077) + 'd'.repeat(21459)) })).withoutSkip;
    const atStart = estimatePrecopy(guest({ walk: walkOf('d'.repeat(21459) + 'z'.repeat(44077)) })).withoutSkip;
    assert.equal(atEnd.totalBytes, PASS_BYTES);
    assert.equal(atStart.totalBytes, PASS_BYTES);
    assert.equal(atEnd.normalPages, 21459);
    assert.equal(atEnd.zeroPages, 44077);
    // the last 4915 pages of the walk: payload for one, zero pages for the other
    assert.deepEqual([atEnd.tail.normalPages, atEnd.tail.zeroPages, atEnd.tail.bytes], [4915, 0, 4915 * 4104]);
    assert.deepEqual([atStart.tail.normalPages, atStart.tail.zeroPages, atStart.tail.bytes], [0, 4915, 4915 * 9]);
    near(atEnd.totalTimeMs, (PASS_BYTES - 4915 * 4104) / BW + 3 + (4915 * 4104) / STREAM, 'data at the end');
    near(atStart.totalTimeMs, (PASS_BYTES - 4915 * 9) / BW + 3 + (4915 * 9) / STREAM, 'data at the start');
    near(atEnd.downtimeMs, 3 + (4915 * 4104) / STREAM, 'downtime: 20 MB of tail at stream speed');
    // 4915 * 4095 bytes more in the tail: at the limit instead of at stream speed
    near(atStart.totalTimeMs - atEnd.totalTimeMs, 4915 * 4095 * (1 / BW - 1 / STREAM), 'the difference');
    assert.ok(atStart.totalTimeMs - atEnd.totalTimeMs > 267);
    assert.equal(atEnd.dirtySyncCount, 3);
  });

  test('the guest\'s writes during the pass shorten the tail: tail + dirtied stay below the threshold', () => {
    // 1000 pages rewritten at once: tail < 4915.2 - 1000 -> 3915 pages, all payload at the end
    const r = estimatePrecopy(guest({ walk: walkOf('z'.repeat(44077) + 'd'.repeat(21459)), dirty: { ratePagesPerSec: 1e9, workingSetPages: 1000 } })).withoutSkip;
    assert.deepEqual([r.tail.normalPages, r.tail.zeroPages, r.stopCopyPages], [3915, 0, 1000]);
    near(r.downtimeMs, 3 + ((3915 + 1000) * 4104) / STREAM, 'downtime: tail and rewritten pages');
    assert.equal(r.normalPages, 21459 + 1000);
  });

  test('swapped pages at the end: swapped in during the downtime; skipped, the tail reaches back past them', () => {
    // 8192 swapped pages at the end of the walk, a quarter of them zero-filled in zram, 20 µs a swap-in
    const walk = walkOf('d'.repeat(13267) + 'z'.repeat(44077) + 's'.repeat(8192));
    const e = estimatePrecopy(guest({ dataPages: 13267, swappedPages: 8192, swappedZeroPages: 2048, swapInUs: 20, walk }));
    const w = e.withoutSkip;
    assert.equal(w.tail.swapIns, 4915);
    assert.deepEqual([w.tail.normalPages, w.tail.zeroPages], [Math.round(4915 * 0.75), 4915 - Math.round(4915 * 0.75)]);
    near(w.tail.timeMs, 4915 * 0.02 + w.tail.bytes / STREAM, 'tail: swap-ins, then the wire');
    near(w.downtimeMs, 3 + w.tail.timeMs, 'downtime');
    // skipped pages are not in QEMU's bitmap: the last 4915 sent pages are zero ones
    assert.deepEqual([e.withSkip.tail.normalPages, e.withSkip.tail.zeroPages, e.withSkip.tail.swapIns], [0, 4915, 0]);
  });

  test('a pass that does not converge is stopped at its end: no tail', () => {
    const r = estimatePrecopy(guest({ bandwidthMBps: 16, dirty: { ratePagesPerSec: 1e6, workingSetPages: 16384 }, maxIterations: 3, walk: walkOf('z'.repeat(44077) + 'd'.repeat(21459)) })).withoutSkip;
    assert.equal(r.converged, false);
    assert.deepEqual([r.tail.normalPages, r.tail.zeroPages, r.tail.bytes], [0, 0, 0]);
    assert.equal(r.stopCopyPages, 16384);
  });

  test('a walk that does not cover the guest, or chunks that overflow, is refused by field', () => {
    const bad: Array<[WalkProfile, string]> = [
      [walkOf('d'.repeat(21459) + 'z'.repeat(44076)), 'walk'],
      [{ chunkPages: 256, dataPages: [300], zeroPages: [0], swappedPages: [0] }, 'walk chunk 0'],
      [{ chunkPages: 256, dataPages: [1, 2], zeroPages: [0], swappedPages: [0, 0] }, 'walk'],
      [{ chunkPages: 0, dataPages: [], zeroPages: [], swappedPages: [] }, 'walk.chunkPages'],
    ];
    for (const [walk, field] of bad) {
      assert.throws(() => estimatePrecopy(guest({ walk })), (e: unknown) => e instanceof VirtTierError && e.field === field, field);
    }
  });
});

describe('pre-copy: the walk profile from page states and the zero sample', () => {
  // two RAMBlocks as page-stats gives them: a small one first (1024 pages, present), a larger one
  // (2048 pages: 512 present, 512 swapped, 1024 untouched)
  const small = { start: 0x7f0000000000, states: new Uint8Array(1024).fill(PAGE_STATE.present) };
  const large = { start: 0x7f1000000000, states: new Uint8Array(2048) };
  large.states.fill(PAGE_STATE.present, 0, 512);
  large.states.fill(PAGE_STATE.swapped, 512, 1024);
  const blocks = [small, large];
  const present = presentPageAddresses(blocks);

  const zeroSample = (zeroAddresses: number[], sampledPages: number): ZeroSample => ({
    populationPages: present.length, sampledPages, zeroSampled: zeroAddresses.length, zeroPages: 0, standardErrorPages: 0, elapsedMs: 0,
    zeroIndices: Uint32Array.from(zeroAddresses.map((a) => present.indexOf(a))).sort(), // ascending, as sampleZeroPages gives them
  });

  test('QEMU\'s order: the larger RAMBlock first; every page counted once; zero finds placed where they are', () => {
    // every present page read: the first 256 of the small block are zero
    const zero = zeroSample(Array.from({ length: 256 }, (_, i) => small.start + i * PAGE), present.length);
    const w = walkChunksOf(blocks, present, zero);
    assert.equal(w.chunkPages, 256);
    assert.equal(w.present.length, 12);
    assert.deepEqual(w.present, [256, 256, 0, 0, 0, 0, 0, 0, 256, 256, 256, 256]);
    assert.deepEqual(w.swapped, [0, 0, 256, 256, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual(w.untouched, [0, 0, 0, 0, 256, 256, 256, 256, 0, 0, 0, 0]);
    assert.deepEqual(w.presentZero, [0, 0, 0, 0, 0, 0, 0, 0, 256, 0, 0, 0]);
    const p = walkProfileOf(w);
    assert.deepEqual(p.dataPages, [256, 256, 0, 0, 0, 0, 0, 0, 0, 256, 256, 256]);
    assert.deepEqual(p.zeroPages, [0, 0, 0, 0, 256, 256, 256, 256, 256, 0, 0, 0]);
    // a --zero-fraction flag splits every chunk's present pages by it instead
    assert.deepEqual(walkProfileOf(w, 0.5).zeroPages, [128, 128, 0, 0, 256, 256, 256, 256, 128, 128, 128, 128]);
    // the model takes it: the tail (the last 4915 pages, here more than the guest at 1 GiB/s) ...
    const e = estimatePrecopy({ ramSizeBytes: 3072 * PAGE, pageSizeBytes: PAGE, dataPages: 1280, zeroPages: 1280, swappedPages: 512, dirty: { ratePagesPerSec: 0 }, bandwidthMBps: 8, walk: p });
    // ... at 8 MiB/s: threshold 614.4 pages: the last 614 are the small block's payload
    assert.deepEqual([e.withoutSkip.tail.normalPages, e.withoutSkip.tail.zeroPages], [614, 0]);
  });

  test('a sample of the present pages: the finds in a chunk scaled by population / sampled, capped at the chunk', () => {
    // half the 1536 present pages sampled; 100 zero finds in the large block's first chunk, 200 in the small block's last
    const finds = [...Array.from({ length: 100 }, (_, i) => large.start + i * PAGE), ...Array.from({ length: 200 }, (_, i) => small.start + (768 + i) * PAGE)];
    const w = walkChunksOf(blocks, present, zeroSample(finds, present.length / 2));
    assert.equal(w.presentZero[0], 200);
    assert.equal(w.presentZero[11], 256, '400 estimated, capped at the 256 present');
    assert.equal(w.presentZero.reduce((a, b) => a + b, 0), 456);
  });
});
