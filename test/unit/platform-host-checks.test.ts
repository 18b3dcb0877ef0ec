import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemoryIO, rootedIO } from '../../src/platform/io.js';
import { runHostChecks, type KernelProbes, type HostCheck } from '../../src/platform/host-checks.js';
import { SysError } from '../../src/native/index.js';
import { formatChecks, trackerFacts } from '../../src/cli/host-validate.js';

function fixtureRoot(name: string): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!dir.endsWith('/dist') && dir !== '/') dir = path.dirname(dir);
  return path.join(path.dirname(dir), 'test', 'fixtures', 'platform', name);
}

/** Loads a captured fixture tree into a MemoryIO. */
function loadTree(root: string): MemoryIO {
  const files: Record<string, string> = {};
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = path.join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else files['/' + path.relative(root, p)] = readFileSync(p, 'utf8');
    }
  };
  walk(root);
  return new MemoryIO(files);
}

const okProbes: KernelProbes = {
  pagemapScan: async () => undefined,
  movePages: async () => undefined,
  processMadvise: async () => undefined,
  libvirt: async () => '/run/libvirt/libvirt-sock',
};

const byName = (checks: HostCheck[]) => Object.fromEntries(checks.map((c) => [c.check, c]));

describe('host checks on captured fixtures', () => {
  test('fixture: this host (6.18): DAMON paddr only, one node, zram, no page_idle', async () => {
    const io = rootedIO(fixtureRoot('host-6.18'));
    const checks = byName(await runHostChecks(io, okProbes, await trackerFacts(io)));
    // Only virt-tier's own trackers, in the chooser's order, each with what it sees.
    assert.deepEqual(Object.keys(checks).filter((k) => k.startsWith('tracker: ')), ['tracker: idle-pages', 'tracker: damon-vaddr', 'tracker: page-idle', 'tracker: damon-paddr']);
    assert.equal(checks['tracker: damon-vaddr']!.status, 'WARN');
    assert.match(checks['tracker: damon-vaddr']!.reason, /^not usable: DAMON has no vaddr operations/);
    assert.equal(checks['tracker: damon-paddr']!.status, 'PASS');
    assert.match(checks['tracker: damon-paddr']!.reason, /^usable for slide, cslide; sees LRU memory .*hugetlb targets refused.*; shared, read-only: kdamond 0/);
    assert.equal(checks['tracker: page-idle']!.status, 'WARN');
    assert.equal(checks['tracker: idle-pages']!.status, 'WARN');
    assert.ok(checks['tracker: idle-pages']!.fix);
    assert.match(checks['access tracker for slide (auto)']!.reason, /^damon-paddr: the first usable of idle-pages > damon-vaddr > page-idle > damon-paddr/);
    assert.equal(checks['access tracker for cslide (auto)']!.status, 'PASS');
    assert.equal(checks['NUMA nodes']!.status, 'WARN');
    assert.equal(checks['memory-only nodes (AEP/CXL tier)']!.status, 'WARN');
    assert.equal(checks['zram']!.status, 'PASS');
    assert.equal(checks['swap devices']!.status, 'WARN');
    assert.ok(checks['swap devices']!.fix);
  });

  test('fixture: testbed (6.12, 4 nodes): vaddr, memory-only nodes 2 and 3, per-node hugepage pools', async () => {
    const io = loadTree(fixtureRoot('testbed-6.12'));
    // As seen in the testbed once a kdamond with one context exists.
    io.files.set('/sys/kernel/mm/damon/admin/kdamonds/nr_kdamonds', '1\n');
    io.files.set('/sys/kernel/mm/damon/admin/kdamonds/0/contexts/0/avail_operations', 'vaddr\nfvaddr\npaddr\n');
    io.files.set('/proc/kallsyms', 'ffffffff81234560 t damon_va_check_accesses\nffffffff81234990 t damon_pa_check_accesses\n');
    const checks = byName(await runHostChecks(io, okProbes, await trackerFacts(io)));
    assert.equal(checks['tracker: damon-vaddr']!.status, 'PASS');
    assert.match(checks['access tracker for cslide (auto)']!.reason, /^damon-vaddr: /);
    assert.equal(checks['NUMA nodes']!.status, 'PASS');
    assert.match(checks['NUMA nodes']!.reason, /^4 nodes/);
    assert.equal(checks['memory-only nodes (AEP/CXL tier)']!.reason, 'nodes without CPUs: 2, 3');
    assert.equal(checks['hugepages on node0']!.status, 'PASS');
    assert.match(checks['hugepages on node2']!.reason, /2048kB: 8 total/);
    assert.equal(checks['hugepages on node1']!.status, 'WARN');
  });

  test('failing syscalls and no tracker at all give FAIL with reason (errno + syscall) and fix', async () => {
    const probes: KernelProbes = {
      pagemapScan: async () => { throw new SysError('ENOTTY', 25, 'ioctl(PAGEMAP_SCAN)'); },
      movePages: async () => { throw new SysError('ENOSYS', 38, 'move_pages'); },
      processMadvise: async () => { throw new SysError('ENOSYS', 38, 'process_madvise'); },
      libvirt: async () => { throw new Error('connection refused'); },
    };
    const empty = new MemoryIO({});
    const checks = byName(await runHostChecks(empty, probes, await trackerFacts(empty)));
    assert.equal(checks['PAGEMAP_SCAN ioctl']!.status, 'WARN');
    assert.equal(checks['PAGEMAP_SCAN ioctl']!.reason, 'ioctl(PAGEMAP_SCAN): ENOTTY');
    assert.equal(checks['move_pages']!.status, 'FAIL');
    assert.equal(checks['access tracker for slide (auto)']!.status, 'FAIL');
    assert.equal(checks['access tracker for cslide (auto)']!.status, 'FAIL');
    assert.match(checks['tracker: damon-paddr']!.reason, /CONFIG_DAMON_SYSFS/);
    assert.equal(checks['libvirt (qemu:///system)']!.status, 'WARN');
    const text = formatChecks(Object.values(checks));
    assert.match(text, /virt-tier: Checking for move_pages +: FAIL \(move_pages: ENOSYS\)\n +fix: /);
  });
});
