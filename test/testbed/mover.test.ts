/**
 * The mover on real NUMA nodes (testbed): hugetlb pages demoted 0 -> 2 and
 * promoted back under per-direction quotas; the kernel's numa_maps must
 * agree with the mover's accounting.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runInTestbed, testbedAvailability } from './harness.js';
import type { MoveResult } from '../../src/mover/types.js';

const availability = testbedAvailability();
const skip = availability.available ? false : availability.reason;
const HUGE = 2 << 20;

test('testbed: mover moves hugetlb pages 0 -> 2 and back within the quota; numa_maps agrees', { skip }, async () => {
  const r = await runInTestbed({
    command: 'node dist/test/testbed/inner/mover-quota.js',
    hugepagesPerNode: { 0: 40, 2: 40 },
    timeoutMs: 180_000,
  });
  assert.equal(r.exitCode, 0, `inner run failed:\n${r.stdout}\n${r.stderr}`);
  const seen = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
    demoted: MoveResult;
    afterDemote: Record<string, number>;
    promoted: MoveResult;
    afterPromote: Record<string, number>;
  };
  assert.deepEqual(seen.demoted.pagesMovedByNode, { 2: 20 });
  assert.equal(seen.demoted.bytesDemoted, 20 * HUGE);
  assert.equal(seen.demoted.bytesPromoted, 0);
  assert.deepEqual(seen.demoted.errorsByErrno, {});
  assert.deepEqual(seen.afterDemote, { 0: 12, 2: 20 });

  // The promote plan names all 32 pages; the 8-page quota cuts it to the
  // first 8, which are among the 20 on node 2.
  assert.equal(seen.promoted.bytesPromoted, 8 * HUGE);
  assert.deepEqual(seen.promoted.pagesMovedByNode, { 0: 8 });
  assert.deepEqual(seen.afterPromote, { 0: 20, 2: 12 });
});
