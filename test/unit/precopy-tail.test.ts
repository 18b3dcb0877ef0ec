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
  test('data at the end of the walk crosses after the stop: the same bytes, 178 ms sooner than data at the start', () => {
    const atEnd = estimatePrecopy(guest({ walk: walkOf('z'.repeat(44077) + 'd'.repeat(21459)) })).withoutSkip;
    const atStart = estimatePrecopy(guest({ walk: walkOf('d'.repeat(21459) + 'z'.repeat(44077)) })).withoutSkip;
    assert.equal(atEnd.totalBytes, PASS_BYTES);
    assert.equal(atStart.totalBytes, PASS_BYTES);
    assert.equal(atEnd.normalPages, 21459);
    assert.equal(atEnd.zeroPages, 44077);
    // Data at the end: after 11 quota windows (73819750.4 B) 14644678.6 B = 3568.4 payload pages are
    // unsent, below the threshold: they go after the stop.
    assert.deepEqual([atEnd.tail.normalPages, atEnd.tail.zeroPages, atEnd.tail.bytes], [3568, 0, 3568 * 4104]);
    near(atEnd.passes[0]!.timeMs, 1100, 'live: 11 windows');
    near(atEnd.downtimeMs, 3 + (3568 * 4104) / STREAM, 'downtime: 14.6 MB of tail at stream speed');
    near(atEnd.totalTimeMs, 1100 + 3 + (3568 * 4104) / STREAM, 'data at the end');
    // Data at the start: the last window holds all 44077 zero pages (9 B each), so no check finds fewer
    // than the threshold unsent; the pass ends inside its 14th window, whose 1222905.8 B go without a wait.
    assert.deepEqual([atStart.tail.normalPages, atStart.tail.zeroPages], [0, 0]);
    near(atStart.tail.liveUnthrottledBytes, PASS_BYTES - 13 * 6710886.4, 'the last window');
    near(atStart.totalTimeMs, 1300 + (PASS_BYTES - 13 * 6710886.4) / STREAM + 3, 'data at the start');
    assert.ok(atStart.totalTimeMs - atEnd.totalTimeMs > 178);
    assert.equal(atEnd.dirtySyncCount, 3);
  });

  test('on hugetlb QEMU looks only every 64 host pages (128 MiB of 2 MiB pages): no tail inside the block', () => {
    const walk = { ...walkOf('z'.repeat(44077) + 'd'.repeat(21459)), hugetlb: [{ startPage: 0, pages: 65536, hostPagePages: 512 }] };
    const r = estimatePrecopy(guest({ walk })).withoutSkip;
    assert.deepEqual([r.tail.normalPages, r.tail.zeroPages], [0, 0]);
    near(r.totalTimeMs, 1300 + (PASS_BYTES - 13 * 6710886.4) / STREAM + 3, 'the whole pass live');
    // the check at 128 MiB of a 160 MiB block: 32 MiB unsent = 8192 pages, above the threshold at 64 MiB/s,
    // below it at 128 MiB/s (9830.4 pages): there the last 8192 pages go after the stop
    const big = { chunkPages: 256, dataPages: new Array(160).fill(256), zeroPages: new Array(160).fill(0), swappedPages: new Array(160).fill(0), hugetlb: [{ startPage: 0, pages: 40960, hostPagePages: 512 }] };
    const at = (bw: number) => estimatePrecopy({ ramSizeBytes: 160 * MIB, pageSizeBytes: PAGE, dataPages: 40960, zeroPages: 0, swappedPages: 0, dirty: { ratePagesPerSec: 0 }, bandwidthMBps: bw, walk: big }).withoutSkip;
    assert.equal(at(64).tail.normalPages, 0);
    assert.equal(at(128).tail.normalPages, 8192);
    near(at(128).passes[0]!.timeMs, (32768 * 4104) / (2 * BW), 'live up to the check');
  });

  test('the guest\'s writes during the pass count against the threshold: tail + dirtied stay below it', () => {
    // 1000 pages rewritten at once: 3568.4 + 1000 < 4915.2 still after 11 windows; after 10 it is 5203.6 + 1000
    const r = estimatePrecopy(guest({ walk: walkOf('z'.repeat(44077) + 'd'.repeat(21459)), dirty: { ratePagesPerSec: 1e9, workingSetPages: 1000 } })).withoutSkip;
    assert.deepEqual([r.tail.normalPages, r.tail.zeroPages, r.stopCopyPages], [3568, 0, 1000]);
    near(r.downtimeMs, 3 + ((3568 + 1000) * 4104) / STREAM, 'downtime: tail and rewritten pages');
    assert.equal(r.normalPages, 21459 + 1000);
    // 2000 rewritten: 3568.4 + 2000 is above; the next check, a window later, finds 1933.2 + 2000
    const w = estimatePrecopy(guest({ walk: walkOf('z'.repeat(44077) + 'd'.repeat(21459)), dirty: { ratePagesPerSec: 1e9, workingSetPages: 2000 } })).withoutSkip;
    assert.deepEqual([w.tail.normalPages, w.stopCopyPages], [1933, 2000]);
    near(w.passes[0]!.timeMs, 1200, '12 windows');
  });

  test('swapped pages at the end: swapped in during the downtime; skipped, the walk ends in zero pages', () => {
    // 8192 swapped pages at the end of the walk, a quarter of them zero-filled in zram, 20 µs a swap-in:
    // 3080.25 B a swapped page on the wire; after 10 windows 12969005 B = 4210.3 of them are unsent
    const walk = walkOf('d'.repeat(13267) + 'z'.repeat(44077) + 's'.repeat(8192));
    const e = estimatePrecopy(guest({ dataPages: 13267, swappedPages: 8192, swappedZeroPages: 2048, swapInUs: 20, walk }));
    const w = e.withoutSkip;
    assert.deepEqual([w.tail.swapIns, w.tail.normalPages, w.tail.zeroPages], [4210, 3158, 1052]);
    near(w.tail.timeMs, 4210 * 0.02 + (3158 * 4104 + 1052 * 9) / STREAM, 'tail: swap-ins, then the wire');
    near(w.downtimeMs, 3 + w.tail.timeMs, 'downtime');
    // skipped pages are not in QEMU's bitmap: the walk ends in the 44077 zero pages, as above: no tail
    assert.deepEqual([e.withSkip.tail.normalPages, e.withSkip.tail.zeroPages, e.withSkip.tail.swapIns], [0, 0, 0]);
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
      [{ ...walkOf('d'.repeat(21459) + 'z'.repeat(44077)), hugetlb: [{ startPage: 65000, pages: 1024, hostPagePages: 512 }] }, 'walk.hugetlb'],
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
    // the model takes it: at 8 MiB/s (threshold 614.4 pages, quota 838860.8 B) the check after 6 windows
    // finds 2332723 B = 568.4 pages unsent, all the small block's payload
    const e = estimatePrecopy({ ramSizeBytes: 3072 * PAGE, pageSizeBytes: PAGE, dataPages: 1280, zeroPages: 1280, swappedPages: 512, dirty: { ratePagesPerSec: 0 }, bandwidthMBps: 8, walk: p });
    assert.deepEqual([e.withoutSkip.tail.normalPages, e.withoutSkip.tail.zeroPages], [568, 0]);
    assert.equal(p.hugetlb, undefined, 'no hugetlb block');
    // the same blocks on 2 MiB pages: listed as such, in walk positions
    const huge = walkChunksOf(blocks.map((b) => ({ ...b, pageSizeBytes: 2 * MIB })), present, zero);
    assert.deepEqual(huge.hugetlb, [{ startPage: 0, pages: 2048, hostPagePages: 512 }, { startPage: 2048, pages: 1024, hostPagePages: 512 }]);
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
