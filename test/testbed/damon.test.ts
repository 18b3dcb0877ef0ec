/**
 * The DAMON vaddr tracker on the testbed's stock 6.12 kernel: hot and cold
 * hugetlb pages interleaved page by page are told apart exactly (regions
 * never span two hugepages), and a target that exits mid-cycle ends the
 * cycle with ESRCH and a stopped, emptied kdamond.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runInTestbed, testbedAvailability } from './harness.js';

const availability = testbedAvailability();
const skip = availability.available ? false : availability.reason;

test('testbed: damon-vaddr separates interleaved hot and cold hugepages, counts in 0..loop', { skip }, async () => {
  const r = await runInTestbed({
    command: 'node dist/test/testbed/inner/damon-hot-cold.js --loop 5 --interval-ms 100 --cycles 2',
    hugepagesPerNode: { 0: 40 },
    timeoutMs: 240_000,
  });
  assert.equal(r.exitCode, 0, `inner run failed:\n${r.stdout}\n${r.stderr}`);
  const seen = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
    loop: number;
    hotPages: number[];
    pageCount: number;
    results: Array<{ counts: number[]; nodes: number[] }>;
  };
  assert.equal(seen.pageCount, 32);
  assert.equal(seen.hotPages.length, 8);
  for (const cycle of seen.results) {
    assert.equal(cycle.counts.length, 32);
    const hot = new Set(seen.hotPages);
    cycle.counts.forEach((count, page) => {
      if (hot.has(page)) assert.ok(count >= seen.loop - 1, `hot page ${page} counted ${count} of ${seen.loop}`);
      else assert.equal(count, 0, `cold page ${page} counted ${count}`);
    });
    assert.deepEqual(new Set(cycle.nodes), new Set([0]));
  }
});

test('testbed: damon-vaddr rejects with ESRCH when the target exits mid-cycle, kdamond off and emptied', { skip }, async () => {
  const r = await runInTestbed({
    command: 'node dist/test/testbed/inner/damon-esrch.js',
    hugepagesPerNode: { 0: 8 },
    timeoutMs: 180_000,
  });
  assert.equal(r.exitCode, 0, `inner run failed:\n${r.stdout}\n${r.stderr}`);
  const seen = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
    stateWhileRunning: string;
    outcome: { name: string; code: string };
    rejectAfterKillMs: number;
    stateAfter: string;
    nrContextsAfter: string;
  };
  assert.equal(seen.stateWhileRunning, 'on');
  assert.equal(seen.outcome.name, 'SysError');
  assert.equal(seen.outcome.code, 'ESRCH');
  // The window is 5 s long; the exit must end the cycle within a liveness slice or two, not at the window's end.
  assert.ok(seen.rejectAfterKillMs < 4000, `rejected ${seen.rejectAfterKillMs} ms after the exit`);
  assert.equal(seen.stateAfter, 'off');
  assert.equal(seen.nrContextsAfter, '0');
});
