/**
 * move_pages(2) of hugetlb pages between a DRAM node and an AEP node, in
 * the testbed, through the addon (native.movePages), checked against the
 * kernel's numa_maps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runInTestbed, testbedAvailability } from './harness.js';
import type { NumaMapsEntry } from './inner/numa-maps.js';

const availability = testbedAvailability();
const skip = availability.available ? false : availability.reason;

interface Step {
  status: number[];
  query: number[];
  numaMaps: NumaMapsEntry;
}

for (const backing of ['hugetlbfs', 'anon-huge'] as const) {
  test(`testbed: movePages moves ${backing} 2 MiB pages 0 -> 2 -> 0, numa_maps agrees`, { skip }, async () => {
    const r = await runInTestbed({
      command: `node dist/test/testbed/inner/move-pages.js --backing ${backing} --pages 32`,
      hugepagesPerNode: { 0: 40, 2: 40 },
      timeoutMs: 180_000,
    });
    assert.equal(r.exitCode, 0, `inner test failed:\n${r.stdout}\n${r.stderr}`);
    const seen = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
      before: { status: number[]; numaMaps: NumaMapsEntry };
      toNode2: Step;
      toNode0: Step;
    };
    assert.deepEqual(seen.before.status, new Array(32).fill(0));
    assert.deepEqual(seen.before.numaMaps.pagesByNode, { 0: 32 });
    assert.equal(seen.before.numaMaps.kernelPageSizeKiB, 2048);
    assert.deepEqual(seen.toNode2.status, new Array(32).fill(2));
    assert.deepEqual(seen.toNode2.query, new Array(32).fill(2));
    assert.deepEqual(seen.toNode2.numaMaps.pagesByNode, { 2: 32 });
    assert.deepEqual(seen.toNode0.status, new Array(32).fill(0));
    assert.deepEqual(seen.toNode0.numaMaps.pagesByNode, { 0: 32 });
  });
}
