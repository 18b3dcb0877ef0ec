/**
 * The testbed itself: topology, hugepage pools, exit code and output
 * passing, and that a timeout leaves no QEMU behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { repoRoot, runInTestbed, testbedAvailability, TestbedError } from './harness.js';

const availability = testbedAvailability();
const skip = availability.available ? false : availability.reason;

/** Host processes whose command line mentions `needle` (a run dir). */
function processesMentioning(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(needle)) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

test('testbed: four NUMA nodes, 2 and 3 memory-only, distances, per-node hugepages, exit code and output', { skip }, async () => {
  const result = await runInTestbed({
    command: [
      'for n in /sys/devices/system/node/node[0-9]*; do echo "$(basename $n) cpus=$(cat $n/cpulist) dist=$(cat $n/distance)"; done',
      'echo to-stderr >&2',
      'exit 7',
    ].join('; '),
    hugepagesPerNode: { 0: 8, 2: 16 },
    timeoutMs: 180_000,
  });
  assert.equal(result.exitCode, 7);
  assert.equal(result.stderr.trim(), 'to-stderr');
  const lines = result.stdout.trim().split('\n');
  assert.deepEqual(lines, [
    'node0 cpus=0 dist=10 20 30 40',
    'node1 cpus=1 dist=20 10 40 30',
    'node2 cpus= dist=30 40 10 40',
    'node3 cpus= dist=40 30 40 10',
  ]);
  assert.deepEqual(result.hugepagesPerNode, { 0: 8, 1: 0, 2: 16, 3: 0 });
});

test('testbed: node and the host tree run inside (dist/ over 9p)', { skip }, async () => {
  const result = await runInTestbed({
    command: 'node -e "console.log(JSON.stringify({v: process.version, cwd: process.cwd(), tb: process.env.VIRT_TIER_TESTBED}))"',
    timeoutMs: 180_000,
  });
  assert.equal(result.exitCode, 0, result.stderr);
  const seen = JSON.parse(result.stdout) as { v: string; cwd: string; tb: string };
  assert.equal(seen.v, process.version);
  assert.equal(seen.tb, '1');
  assert.equal(seen.cwd, repoRoot());
});

test('testbed: a timeout kills QEMU and reports it', { skip }, async () => {
  const started = Date.now();
  await assert.rejects(
    runInTestbed({ command: 'sleep 600', timeoutMs: 12_000 }),
    (err: unknown) => {
      assert.ok(err instanceof TestbedError);
      assert.match(err.message, /timed out after 12000 ms/);
      assert.ok(err.runDir);
      assert.deepEqual(processesMentioning(err.runDir), [], 'no QEMU left running');
      return true;
    },
  );
  assert.ok(Date.now() - started < 30_000);
});

test('testbed: an abort signal kills QEMU', { skip }, async () => {
  const controller = new AbortController();
  const run = runInTestbed({ command: 'sleep 600', timeoutMs: 180_000, signal: controller.signal });
  setTimeout(() => controller.abort(), 3000);
  await assert.rejects(run, (err: unknown) => {
    assert.ok(err instanceof TestbedError);
    assert.match(err.message, /aborted/);
    assert.deepEqual(processesMentioning(err.runDir!), []);
    return true;
  });
});
