/**
 * Pre-copy estimate against hand-computed cases. Units: MiB = 1048576 B,
 * bandwidth and dirty rate in MiB/s, so "100 MiB/s for 7.68 s = 768 MiB".
 * threshold = bandwidth x max downtime (what QEMU can send while stopped).
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { estimatePrecopy, simulatePrecopy } from '../../src/migration/precopy.js';
import { VirtTierError } from '../../src/errors.js';

const MIB = 1048576;
const PAGE = 4096;
const pagesOf = (mib: number): number => (mib * MIB) / PAGE;
const near = (actual: number, expected: number, what: string): void =>
  assert.ok(Math.abs(actual - expected) <= Math.abs(expected) * 1e-9 + 1e-6, `${what}: ${actual} != ${expected}`);

describe('pre-copy estimate', () => {
  test('two passes then stop-and-copy, with and without skipping swapped pages', () => {
    // RAM 1024 MiB: 512 present, 256 swapped, 256 never touched (zero, no payload).
    // bandwidth 100 MiB/s, dirty 10 MiB/s, downtime 300 ms -> threshold 30 MiB.
    // Without skip: pass 1 sends 512+256 = 768 MiB in 7680 ms; dirtied 10*7.68 = 76.8 MiB > 30
    //   pass 2 sends 76.8 MiB in 768 ms; dirtied 7.68 MiB <= 30 -> stop: downtime 7.68/100 s = 76.8 ms
    //   total time 7680+768+76.8 = 8524.8 ms; bytes 768+76.8+7.68 = 852.48 MiB; 2 iterations.
    // With skip: pass 1 512 MiB in 5120 ms; dirtied 51.2 > 30; pass 2 51.2 MiB in 512 ms; dirtied 5.12
    //   -> downtime 51.2 ms; total 5120+512+51.2 = 5683.2 ms; bytes 512+51.2+5.12 = 568.32 MiB.
    // Saved: 852.48-568.32 = 284.16 MiB, 8524.8-5683.2 = 2841.6 ms, 65536 swap-ins.
    const e = estimatePrecopy({
      ramSizeBytes: 1024 * MIB, pageSizeBytes: PAGE,
      presentPages: pagesOf(512), swappedPages: pagesOf(256),
      dirtyRateMBps: 10, bandwidthMBps: 100,
    });
    assert.equal(e.input.zeroPages, pagesOf(256));
    assert.equal(e.input.maxDowntimeMs, 300);
    assert.equal(e.withoutSkip.firstPassBytes, 768 * MIB);
    assert.equal(e.withoutSkip.firstPassPages, pagesOf(768));
    assert.equal(e.withoutSkip.iterations, 2);
    assert.equal(e.withoutSkip.converged, true);
    assert.equal(e.withoutSkip.stopReason, 'downtime-reached');
    near(e.withoutSkip.passes[0]!.timeMs, 7680, 'pass 1 time');
    near(e.withoutSkip.passes[1]!.bytes, 76.8 * MIB, 'pass 2 bytes');
    near(e.withoutSkip.downtimeMs, 76.8, 'downtime');
    near(e.withoutSkip.totalTimeMs, 8524.8, 'total time');
    near(e.withoutSkip.totalBytes, 852.48 * MIB, 'total bytes');
    assert.equal(e.withSkip.iterations, 2);
    near(e.withSkip.downtimeMs, 51.2, 'downtime (skip)');
    near(e.withSkip.totalTimeMs, 5683.2, 'total time (skip)');
    near(e.withSkip.totalBytes, 568.32 * MIB, 'total bytes (skip)');
    near(e.savedBytes, 284.16 * MIB, 'saved bytes');
    near(e.savedTimeMs, 2841.6, 'saved time');
    assert.equal(e.swapInsAvoided, 65536);
    // pages rounded up: 852.48 MiB = 218234.88 pages -> 218235
    assert.equal(e.withoutSkip.totalPages, 218235);
  });

  test('everything fits in the downtime: no live pass', () => {
    // 16 MiB present, threshold 100 MiB/s * 0.3 s = 30 MiB >= 16 -> stop at once, downtime 160 ms.
    const e = estimatePrecopy({ ramSizeBytes: 64 * MIB, pageSizeBytes: PAGE, presentPages: pagesOf(16), swappedPages: 0, dirtyRateMBps: 50, bandwidthMBps: 100 });
    assert.equal(e.withSkip.iterations, 0);
    near(e.withSkip.downtimeMs, 160, 'downtime');
    near(e.withSkip.totalTimeMs, 160, 'total');
    assert.equal(e.savedBytes, 0);
  });

  test('dirty rate >= bandwidth never converges: forced stop at max iterations', () => {
    // 512 MiB present, bw = dirty = 100 MiB/s: every pass takes 5120 ms and leaves 512 MiB dirty.
    // maxIterations 5 -> 5 passes (25600 ms) + forced stop-and-copy of 512 MiB = 5120 ms downtime.
    const e = estimatePrecopy({ ramSizeBytes: 1024 * MIB, pageSizeBytes: PAGE, presentPages: pagesOf(512), swappedPages: 0, dirtyRateMBps: 100, bandwidthMBps: 100, maxIterations: 5 });
    assert.equal(e.withSkip.converged, false);
    assert.equal(e.withSkip.stopReason, 'dirty-rate-exceeds-bandwidth');
    assert.equal(e.withSkip.iterations, 5);
    near(e.withSkip.downtimeMs, 5120, 'forced downtime');
    near(e.withSkip.totalTimeMs, 30720, 'total');
    near(e.withSkip.totalBytes, 6 * 512 * MIB, 'bytes');
  });

  test('the dirty set is capped at the guest RAM', () => {
    // RAM 100 MiB all present, bw 100, dirty 1000 MiB/s: pass 1 takes 1000 ms and would dirty
    // 1000 MiB, capped to 100 MiB; 3 passes of 100 MiB, forced downtime 1000 ms.
    const run = simulatePrecopy(100 * MIB, { pageSizeBytes: PAGE, ramSizeBytes: 100 * MIB, dirtyRateMBps: 1000, bandwidthMBps: 100, maxDowntimeMs: 300, maxIterations: 3 });
    assert.deepEqual(run.passes.map((p) => p.bytes), [100 * MIB, 100 * MIB, 100 * MIB]);
    near(run.downtimeMs, 1000, 'downtime');
    assert.equal(run.stopReason, 'dirty-rate-exceeds-bandwidth');
  });

  test('slow convergence stopped by max iterations', () => {
    // 1000 MiB, bw 100, dirty 90: pass 1 10000 ms -> 900 MiB; pass 2 9000 ms -> 810 MiB;
    // maxIterations 2 -> forced stop: downtime 8100 ms, total 27100 ms, reason max-iterations.
    const run = simulatePrecopy(1000 * MIB, { pageSizeBytes: PAGE, ramSizeBytes: 1024 * MIB, dirtyRateMBps: 90, bandwidthMBps: 100, maxDowntimeMs: 300, maxIterations: 2 });
    assert.equal(run.iterations, 2);
    assert.equal(run.stopReason, 'max-iterations');
    assert.equal(run.converged, false);
    near(run.downtimeMs, 8100, 'downtime');
    near(run.totalTimeMs, 27100, 'total');
  });

  test('a larger downtime limit converges earlier', () => {
    // Same as the first case without skip but downtime 1000 ms -> threshold 100 MiB:
    // pass 1 768 MiB (7680 ms) leaves 76.8 MiB <= 100 -> stop, downtime 768 ms, 1 iteration.
    const e = estimatePrecopy({ ramSizeBytes: 1024 * MIB, pageSizeBytes: PAGE, presentPages: pagesOf(512), swappedPages: pagesOf(256), dirtyRateMBps: 10, bandwidthMBps: 100, maxDowntimeMs: 1000 });
    assert.equal(e.withoutSkip.iterations, 1);
    near(e.withoutSkip.downtimeMs, 768, 'downtime');
  });

  test('bad input names the field', () => {
    const base = { ramSizeBytes: 64 * MIB, pageSizeBytes: PAGE, presentPages: 10, swappedPages: 0, dirtyRateMBps: 1, bandwidthMBps: 100 };
    const field = (fn: () => unknown): string | undefined => {
      try { fn(); } catch (err) { assert.ok(err instanceof VirtTierError); assert.equal(err.code, 'OPT_INVAL'); return err.field; }
      assert.fail('no error');
    };
    assert.equal(field(() => estimatePrecopy({ ...base, bandwidthMBps: 0 })), 'bandwidthMBps');
    assert.equal(field(() => estimatePrecopy({ ...base, dirtyRateMBps: -1 })), 'dirtyRateMBps');
    assert.equal(field(() => estimatePrecopy({ ...base, pageSizeBytes: 1000 })), 'pageSizeBytes');
    assert.equal(field(() => estimatePrecopy({ ...base, presentPages: 1.5 })), 'presentPages');
    assert.equal(field(() => estimatePrecopy({ ...base, maxIterations: 0 })), 'maxIterations');
    assert.equal(field(() => estimatePrecopy({ ...base, maxDowntimeMs: Number.NaN })), 'maxDowntimeMs');
    assert.equal(field(() => estimatePrecopy({ ...base, presentPages: pagesOf(64), swappedPages: 1 })), 'presentPages+swappedPages+zeroPages');
  });
});
