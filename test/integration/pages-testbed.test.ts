// `virt-tier pages` on hugetlb memory bound to a memory-only node, inside
// the 4-node QEMU testbed (docs/testbed.md): this host has one node and no
// hugepages reserved, so node reporting for 2 MiB pages is checked there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runInTestbed, testbedAvailability } from '../testbed/harness.js';

const availability = testbedAvailability();

interface JsonVma { vmFlags: string[]; pageSizeBytes: number; presentPages4k: number; presentPages4kByNode: Record<string, number>; ranges: Array<{ start: string; end: string; node: number }> }

test('testbed: pages --vma-flags ht reports 2 MiB pages on node 2 for a process bound there', { skip: !availability.available && availability.reason, timeout: 180_000 }, async () => {
  // 16 MiB of hugetlb (8 pages), one 4 KiB touch every 4 MiB: huge pages 0, 2, 4, 6.
  const command = [
    'set -e',
    'cc -O2 -o /tmp/pc test/fixtures/platform/pattern-child.c',
    'sleep 120 | numactl --membind=2 /tmp/pc hugetlb 4096 1024 > /tmp/pc.out &',
    'pid=$!',
    'i=0; while [ ! -s /tmp/pc.out ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done',
    'node bin/virt-tier.js pages --pid $pid --vma-flags ht --json',
    'kill $pid',
  ].join('\n');
  const r = await runInTestbed({ command, hugepagesPerNode: { 2: 16 }, timeoutMs: 150_000 });
  assert.equal(r.exitCode, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { source: string; vmas: JsonVma[] };
  assert.equal(out.source, 'PAGEMAP_SCAN', '6.12 has PAGEMAP_SCAN');
  assert.equal(out.vmas.length, 1, 'exactly the hugetlb VMA');
  const vma = out.vmas[0]!;
  assert.ok(vma.vmFlags.includes('ht'));
  assert.equal(vma.pageSizeBytes, 2 * 1024 * 1024);
  assert.equal(vma.presentPages4k, 4 * 512);
  assert.deepEqual(vma.presentPages4kByNode, { 2: 2048 });
  assert.equal(vma.ranges.length, 4);
  for (const range of vma.ranges) {
    assert.equal(range.node, 2);
    assert.equal(parseInt(range.end, 16) - parseInt(range.start, 16), 2 * 1024 * 1024);
  }
});
