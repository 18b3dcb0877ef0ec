/**
 * Pre-copy model against hand-computed cases. Units: MiB = 1048576 B,
 * bandwidth in MiB/s (64 MiB/s = 67108.864 B/ms); a normal page is
 * 4096 + 8 bytes on the wire, a zero page 9; threshold = bandwidth x
 * downtime limit, compared with dirty pages x 4096.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { dirtiedWithin, estimatePrecopy, requiredBandwidthMBps, type PrecopyInput } from '../../src/migration/precopy.js';
import { planMigration } from '../../src/migration/plan.js';
import { VirtTierError } from '../../src/errors.js';

const MIB = 1048576;
const PAGE = 4096;
const pagesOf = (mib: number): number => (mib * MIB) / PAGE;
const near = (actual: number, expected: number, what: string, tol = 1e-9): void =>
  assert.ok(Math.abs(actual - expected) <= Math.abs(expected) * tol + 1e-6, `${what}: ${actual} != ${expected}`);

const base = (over: Partial<PrecopyInput> = {}): PrecopyInput => ({
  ramSizeBytes: 256 * MIB, pageSizeBytes: PAGE, dataPages: 21459, zeroPages: 65536 - 21459, swappedPages: 0,
  dirty: { ratePagesPerSec: 0 }, bandwidthMBps: 64, ...over,
});

describe('pre-copy model', () => {
  test('a mostly-zero guest: one pass, zero pages as 9-byte headers, 3 dirty syncs', () => {
    // 21459 * 4104 + 44077 * 9 = 88067736 + 396693 = 88464429 bytes (QEMU reported 88465986 for this guest)
    const e = estimatePrecopy(base());
    const r = e.withoutSkip;
    assert.equal(r.iterations, 1);
    assert.equal(r.normalPages, 21459);
    assert.equal(r.zeroPages, 44077);
    assert.equal(r.totalBytes, 88464429);
    // Nothing dirtied. QEMU checks what is unsent each time the 100 ms quota (6710886.4 B) is used up:
    // after 12 quotas 7933792.2 B = 5877.4 pages of the pass's mix (1349.86 B a page: no walk given) are
    // left, not below the threshold (4915.2 pages); after 13, 1222905.8 B = 905.95 pages: the switch-over.
    // Those 906 pages, round(906 * 21459/65536) = 297 payload and 609 zero = 1224369 B, go after the stop
    // at 600 MiB/s (629145.6 B/ms).
    assert.deepEqual([r.tail.normalPages, r.tail.zeroPages, r.tail.bytes], [297, 609, 1224369]);
    near(r.passes[0]!.timeMs, 1300, 'pass 1 without its tail: 13 quota windows');
    near(r.downtimeMs, 3 + 1224369 / 629145.6, 'downtime: the stop overhead and the tail');
    near(r.totalTimeMs, 1300 + 3 + 1224369 / 629145.6, 'total');
    assert.equal(r.dirtySyncCount, 3);
    assert.equal(r.converged, true);
    assert.deepEqual(e.withSkip.totalBytes, r.totalBytes, 'nothing swapped: nothing saved');
  });

  test('a working set below the threshold: sent once more in the stop, unthrottled', () => {
    // 16 MiB = 4096 pages rewritten (rate far above), bandwidth 100 MiB/s: threshold 30 MiB = 7680 pages > 4096
    const e = estimatePrecopy(base({ ramSizeBytes: 1024 * MIB, dataPages: pagesOf(512), zeroPages: pagesOf(512), bandwidthMBps: 100, dirty: { ratePagesPerSec: 1e6, workingSetPages: 4096 } }));
    const r = e.withoutSkip;
    assert.equal(r.iterations, 1);
    assert.equal(r.stopCopyPages, 4096);
    // QEMU switches over when the unsent end of pass 1 and the 4096 dirtied pages are below 7680 pages. The
    // quota is 10485760 B; the pass 539099136 B (2056.5 B a page). After 50 quotas 14811136 B = 7202 pages
    // are left (+ 4096: no), after 51 4325376 B = 2103.3 pages: half payload, half zero, after the stop.
    assert.deepEqual([r.tail.normalPages, r.tail.zeroPages], [1052, 1051]);
    assert.equal(r.tail.bytes, 1052 * 4104 + 1051 * 9);
    near(r.passes[0]!.timeMs, 5100, '51 quota windows');
    near(r.downtimeMs, 3 + (r.tail.bytes + 4096 * 4104) / ((600 * MIB) / 1000), 'downtime at the 600 MiB/s stop-copy speed');
    assert.equal(r.normalPages, pagesOf(512) + 4096, 'the tail is sent once');
    assert.equal(r.dirtySyncCount, 3);
  });

  test('a working set above the threshold: passes until it fits, each pass counted as a sync', () => {
    // bandwidth 64: threshold 19.2 MiB = 4915.2 pages. Rate 2000 pages/s, no cap.
    // pass 1: 21459*4104+44077*9 = 88464429 B -> 1318.2 ms -> 2636 pages dirty (< 4915): stop. One pass.
    // rate 8000 pages/s: pass 1 dirties 10546 pages -> pass 2: 10546*4104/67108.864 = 644.9 ms -> 5159 pages
    //   -> pass 3 (2524 pages dirtied over all of it < 4915.2: the final pass). The quota windows run on
    //   across passes: passes 1 and 2 sent 131745213 B, 4238371.4 B into a window, so the first check of
    //   pass 3 comes 2472515 B = 602.5 pages into it (36.84 ms): 4556.5 unsent + 294.7 dirtied < 4915.2:
    //   4557 pages go after the stop with the 295 dirtied. 3 passes, 5 syncs.
    const r = estimatePrecopy(base({ dirty: { ratePagesPerSec: 8000 } })).withoutSkip;
    assert.equal(r.iterations, 3);
    assert.deepEqual(r.passes.map((p) => p.dirtiedPages), [10546, 5159, 295]);
    assert.deepEqual([r.tail.pass, r.tail.normalPages, r.tail.zeroPages], [2, 4557, 0]);
    assert.equal(r.passes[2]!.normalPages, 602);
    assert.equal(r.dirtySyncCount, 5);
    assert.equal(r.normalPages, 21459 + 10546 + 5159 + 295);
    assert.equal(r.converged, true);
  });

  test('dirtying faster than the bandwidth never converges', () => {
    // 64 MiB working set rewritten at once, 16 MiB/s: threshold 4.8 MiB. Every pass leaves 64 MiB dirty.
    const input = base({ bandwidthMBps: 16, dirty: { ratePagesPerSec: 1e6, workingSetPages: pagesOf(64) }, maxIterations: 5 });
    const r = estimatePrecopy(input).withoutSkip;
    assert.equal(r.converged, false);
    assert.equal(r.stopReason, 'max-iterations');
    assert.equal(r.iterations, 5);
    assert.deepEqual(r.passes.slice(1).map((p) => p.normalPages), [16384, 16384, 16384, 16384]);
    // converges once bandwidth x 300 ms > 64 MiB: above 213.33 MiB/s
    const need = requiredBandwidthMBps({ ...input, maxIterations: 30 })!;
    assert.ok(need > 213.33 && need < 213.33 * 1.02, `required bandwidth ${need}`);
    const plan = planMigration({ ...input, maxIterations: 30 });
    assert.equal(plan.precopy.converged, false);
    assert.equal(plan.advice, 'postcopy', 'a throttle cannot shrink a working set rewritten at once');
    assert.equal(plan.throttleNeeded, null);
    assert.equal(planMigration({ ...input, maxIterations: 30 }, 1000).advice, 'raise-bandwidth');
  });

  test('a rate a moderate throttle tames: auto-converge, with the throttle that suffices', () => {
    // 6000 pages/s (23.4 MiB/s) against 16 MiB/s = 4096 pages/s: grows unthrottled; below ~ 4096/6000 it shrinks
    const input = base({ bandwidthMBps: 16, dirty: { ratePagesPerSec: 6000 } });
    const plan = planMigration(input);
    assert.equal(plan.advice, 'auto-converge');
    const t = plan.throttleNeeded!;
    assert.ok(t > 0.2 && t < 0.5, `throttle ${t}`);
    const at = (th: number): boolean => estimatePrecopy({ ...input, dirty: { ratePagesPerSec: 6000 * (1 - th) } }).withoutSkip.converged;
    assert.equal(at(t), true);
    assert.equal(at(t - 0.02), false);
  });

  test('swapped pages: read back (swap-ins) and sent unless skipped; zero ones as headers', () => {
    // 1000 swapped, 400 of them zero-filled in zram; 50 µs each: 50 ms of swap-ins, far under the wire time
    const e = estimatePrecopy(base({ dataPages: 20459, swappedPages: 1000, swappedZeroPages: 400, swapInUs: 50 }));
    assert.equal(e.withoutSkip.normalPages, 20459 + 600);
    assert.equal(e.withoutSkip.zeroPages, 44077 + 400);
    assert.equal(e.withSkip.normalPages, 20459);
    assert.equal(e.savedBytes, 600 * 4104 + 400 * 9 - 0);
    near(e.withoutSkip.swapInMs, 50, 'swap-in time');
    assert.equal(e.swapInsAvoided, 1000);
    const plan = planMigration(base({ dataPages: 20459, swappedPages: 1000, swappedZeroPages: 400, swapInUs: 50 }));
    assert.equal(plan.swapped.advice, 'leave');
    // slow swap (10 ms a page, a disk): the swap-ins outlast the wire time
    assert.equal(planMigration(base({ dataPages: 20459, swappedPages: 1000, swapInUs: 10000 })).swapped.advice, 'bring-back-first');
  });

  test('a measured curve: linear between points, flat past a settled plateau, else the last slope', () => {
    const ws = { curve: [[100, 1000], [1000, 5000], [2000, 5010]] as Array<[number, number]> };
    near(dirtiedWithin(ws, 550, 1e6), 3000, 'between points');
    near(dirtiedWithin(ws, 50, 1e6), 500, 'before the first point');
    near(dirtiedWithin(ws, 5000, 1e6), 5010, 'plateau');
    const growing = { curve: [[1000, 1000], [2000, 3000]] as Array<[number, number]> };
    near(dirtiedWithin(growing, 3000, 1e6), 5000, 'last slope');
    near(dirtiedWithin(growing, 1e6, 65536), 65536, 'capped at the guest');
  });

  test('bad input names the field and its range', () => {
    const bad: Array<[Partial<PrecopyInput>, string]> = [
      [{ bandwidthMBps: 0 }, 'bandwidthMBps'],
      [{ bandwidthMBps: -5 }, 'bandwidthMBps'],
      [{ maxDowntimeMs: 0 }, 'maxDowntimeMs'],
      [{ maxDowntimeMs: 3_000_000 }, 'maxDowntimeMs'],
      [{ swappedPages: 1, swappedZeroPages: 2 }, 'swappedZeroPages'],
      [{ dataPages: 70000 }, 'dataPages+zeroPages+swappedPages'],
      [{ dirty: { curve: [[100, 5], [50, 6]] } }, 'dirty.curve'],
      [{ maxIterations: 0 }, 'maxIterations'],
    ];
    for (const [over, field] of bad) {
      assert.throws(() => estimatePrecopy(base(over)), (e: unknown) => e instanceof VirtTierError && e.field === field, field);
    }
  });
});
