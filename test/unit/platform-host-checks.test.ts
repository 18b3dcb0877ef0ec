import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemoryIO, rootedIO } from '../../src/platform/io.js';
import { runHostChecks, type KernelProbes, type HostCheck } from '../../src/platform/host-checks.js';
import { SysError } from '../../src/native/index.js';
import { formatChecks } from '../../src/cli/host-validate.js';

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
    const checks = byName(await runHostChecks(rootedIO(fixtureRoot('host-6.18')), okProbes));
    assert.equal(checks['tracker: DAMON vaddr']!.status, 'WARN');
    assert.equal(checks['tracker: DAMON paddr']!.status, 'PASS');
    assert.equal(checks['tracker: page_idle']!.status, 'WARN');
    assert.equal(checks['tracker: etmem idle_pages']!.status, 'WARN');
    assert.equal(checks['any access tracker for guest RAM']!.status, 'WARN');
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
    const checks = byName(await runHostChecks(io, okProbes));
    assert.equal(checks['tracker: DAMON vaddr']!.status, 'PASS');
    assert.equal(checks['any access tracker for guest RAM']!.status, 'PASS');
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
    const checks = byName(await runHostChecks(new MemoryIO({}), probes));
    assert.equal(checks['PAGEMAP_SCAN ioctl']!.status, 'WARN');
    assert.equal(checks['PAGEMAP_SCAN ioctl']!.reason, 'ioctl(PAGEMAP_SCAN): ENOTTY');
    assert.equal(checks['move_pages']!.status, 'FAIL');
    assert.equal(checks['any access tracker for guest RAM']!.status, 'FAIL');
    assert.equal(checks['libvirt (qemu:///system)']!.status, 'WARN');
    const text = formatChecks(Object.values(checks));
    assert.match(text, /virt-tier: Checking for move_pages +: FAIL \(move_pages: ENOSYS\)\n +fix: /);
  });
});
