import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { rootedIO, MemoryIO, RecordingIO } from '../../src/platform/io.js';
import { readSmaps, hasVmFlags, isAnonymous, parseSmaps } from '../../src/platform/smaps.js';
import { readNumaMaps } from '../../src/platform/numa-maps.js';
import { readNumaTopology, memoryOnlyNodes } from '../../src/platform/numa-topology.js';
import { readMeminfo } from '../../src/platform/meminfo.js';
import { readSwapFacts, parseSwaps } from '../../src/platform/swap.js';
import { probeDamon } from '../../src/platform/damon-probe.js';
import { parseCpuList } from '../../src/platform/cpulist.js';

function fixtureRoot(name: string): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!dir.endsWith('/dist') && dir !== '/') dir = path.dirname(dir);
  return path.join(path.dirname(dir), 'test', 'fixtures', 'platform', name);
}
const host = fixtureRoot('host-6.18');
const testbed = fixtureRoot('testbed-6.12');
const hostPid = Number(readFileSync(path.join(host, 'PID'), 'utf8'));
const testbedPid = Number(readFileSync(path.join(testbed, 'PID'), 'utf8'));
const MiB = 1024 * 1024;

describe('platform readers on captured fixtures', () => {
  test('fixture: smaps of the pattern child (256 pages, every other touched)', async () => {
    const vmas = await readSmaps(rootedIO(host), hostPid);
    assert.ok(vmas.length > 10);
    const pattern = vmas.find((v) => v.sizeBytes === 256 * 4096 && isAnonymous(v));
    assert.ok(pattern, 'the 1 MiB anonymous mapping');
    assert.equal(pattern.rssBytes, 128 * 4096);
    assert.equal(pattern.swapBytes, 0);
    assert.equal(pattern.kernelPageSizeBytes, 4096);
    assert.equal(pattern.perms, 'rw-p');
    assert.ok(hasVmFlags(pattern, ['rd', 'wr', 'nh']), `flags ${pattern.vmFlags.join(' ')}`);
    const exe = vmas.find((v) => v.pathname.endsWith('/pattern-child'));
    assert.ok(exe && exe.inode > 0 && !isAnonymous(exe));
    assert.equal(vmas.at(-1)!.pathname, '[vsyscall]');
  });

  test('fixture: numa_maps of the pattern child', async () => {
    const entries = await readNumaMaps(rootedIO(host), hostPid);
    const smaps = await readSmaps(rootedIO(host), hostPid);
    const pattern = smaps.find((v) => v.sizeBytes === 256 * 4096 && isAnonymous(v))!;
    const e = entries.find((x) => x.start === pattern.start);
    assert.ok(e);
    assert.equal(e.policy, 'default');
    assert.equal(e.fields.anon, 128);
    assert.deepEqual([...e.pagesByNode], [[0, 128]]);
    assert.equal(e.kernelPageSizeBytes, 4096);
    assert.ok(entries.some((x) => x.file?.endsWith('/pattern-child')));
  });

  test('fixture: host topology: one node with both CPUs, no memory-only nodes', async () => {
    const topo = await readNumaTopology(rootedIO(host));
    assert.equal(topo.nodes.length, 1);
    assert.deepEqual(topo.nodes[0]!.cpus, [0, 1]);
    assert.deepEqual(topo.nodes[0]!.distances, [10]);
    assert.ok(topo.nodes[0]!.memTotalBytes > 1024 * MiB);
    assert.deepEqual(topo.nodes[0]!.hugepages.map((h) => h.pageSizeBytes), [2 * MiB]);
    assert.deepEqual(memoryOnlyNodes(topo), []);
  });

  test('fixture: testbed topology: 4 nodes, 2 and 3 memory-only, distances and per-node hugepage pools', async () => {
    const topo = await readNumaTopology(rootedIO(testbed));
    assert.deepEqual(topo.nodes.map((n) => n.id), [0, 1, 2, 3]);
    assert.deepEqual(topo.nodes.map((n) => n.cpus), [[0], [1], [], []]);
    assert.deepEqual(memoryOnlyNodes(topo).map((n) => n.id), [2, 3]);
    assert.deepEqual(topo.nodes.map((n) => n.distances), [[10, 20, 30, 40], [20, 10, 40, 30], [30, 40, 10, 40], [40, 30, 40, 10]]);
    assert.deepEqual(topo.nodes.map((n) => n.hugepages[0]!.nr), [4, 0, 8, 0]);
    for (const n of topo.nodes) assert.ok(n.memTotalBytes > 400 * MiB && n.memTotalBytes <= 512 * MiB, `node ${n.id}`);
  });

  test('fixture: meminfo in bytes, hugepage counts as counts', async () => {
    const host618 = await readMeminfo(rootedIO(host));
    assert.ok(host618.MemTotal! > 1024 * MiB);
    assert.equal(host618.Hugepagesize, 2 * MiB);
    const tb = await readMeminfo(rootedIO(testbed));
    assert.equal(tb.HugePages_Total, 12);
  });

  test('fixture: swap facts: host has zram control and zswap, no active swap', async () => {
    const facts = await readSwapFacts(rootedIO(host));
    assert.deepEqual(facts.devices, []);
    assert.equal(facts.zramAvailable, true);
    assert.equal(facts.zswapAvailable, true);
    assert.equal(typeof facts.zswapEnabled, 'boolean');
    for (const z of facts.zramDevices) assert.match(z.compAlgorithm, /^[\w-]+$/);
  });

  test('fixture: DAMON on the host: paddr only, read from the running kdamond without writing', async () => {
    const rec = new RecordingIO(rootedIO(host), { applyWrites: false });
    const facts = await probeDamon(rec);
    assert.deepEqual(facts, { sysfs: true, operations: ['paddr'], kdamonds: 1 });
    assert.deepEqual(rec.writes(), []);
  });

  test('DAMON with no kdamond: creates one context, reads avail_operations, removes it (recorded sequence)', async () => {
    const admin = '/sys/kernel/mm/damon/admin/kdamonds';
    const mem = new MemoryIO({ [`${admin}/nr_kdamonds`]: '0\n' }, { createOnWrite: true });
    // The kernel creates the context tree when nr_contexts is written; emulate that.
    const io = new RecordingIO({
      ...mem,
      readText: (p: string) => mem.readText(p),
      readDir: (p: string) => mem.readDir(p),
      exists: (p: string) => mem.exists(p),
      writeText: async (p: string, t: string) => {
        await mem.writeText(p, t);
        if (p.endsWith('/contexts/nr_contexts')) mem.files.set(`${admin}/0/contexts/0/avail_operations`, 'vaddr\nfvaddr\npaddr\n');
      },
    });
    const facts = await probeDamon(io, { createContext: true });
    assert.deepEqual(facts, { sysfs: true, operations: ['vaddr', 'fvaddr', 'paddr'], kdamonds: 0 });
    assert.deepEqual(io.writes(), [
      [`${admin}/nr_kdamonds`, '1'],
      [`${admin}/0/contexts/nr_contexts`, '1'],
      [`${admin}/nr_kdamonds`, '0'],
    ]);
  });

  test('DAMON with no kdamond, by default: operations from /proc/kallsyms, nothing written', async () => {
    const admin = '/sys/kernel/mm/damon/admin/kdamonds';
    // Lines as in this host's /proc/kallsyms (paddr built in, vaddr not).
    const kallsyms = 'ffffffff816c1c70 t damon_pa_scheme_score\nffffffff816c1d50 t damon_pa_check_accesses\nffffffff816c1fe0 t damon_pa_prepare_access_checks\n';
    const rec = new RecordingIO(new MemoryIO({ [`${admin}/nr_kdamonds`]: '0\n', '/proc/kallsyms': kallsyms }));
    assert.deepEqual(await probeDamon(rec), { sysfs: true, operations: ['paddr'], kdamonds: 0 });
    assert.deepEqual(rec.writes(), []);
    const both = new MemoryIO({ [`${admin}/nr_kdamonds`]: '0\n', '/proc/kallsyms': kallsyms + 'ffffffff816c0000 t damon_va_check_accesses\n' });
    assert.deepEqual((await probeDamon(both)).operations, ['vaddr', 'fvaddr', 'paddr']);
  });

  test('fixture: no DAMON sysfs -> sysfs false', async () => {
    assert.deepEqual(await probeDamon(new MemoryIO({})), { sysfs: false, operations: [], kdamonds: 0 });
  });
});

describe('small parsers', () => {
  test('cpu lists', () => {
    assert.deepEqual(parseCpuList('0-2,5,7-8\n'), [0, 1, 2, 5, 7, 8]);
    assert.deepEqual(parseCpuList('\n'), []);
    assert.throws(() => parseCpuList('a-b'), RangeError);
  });

  test('/proc/swaps with a zram device', () => {
    const text = 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/dev/zram1                              partition\t65532\t\t1024\t\t100\n';
    assert.deepEqual(parseSwaps(text), [{ filename: '/dev/zram1', type: 'partition', sizeBytes: 65532 * 1024, usedBytes: 1024 * 1024, priority: 100 }]);
  });

  test('smaps header with a deleted hugetlbfs file keeps the whole name', () => {
    const text = '7f0000000000-7f000c000000 rw-s 00000000 00:2f 1234    /dev/hugepages/libvirt/qemu/1-vm/qemu_back_mem.pc.ram.Ab12 (deleted)\nKernelPageSize:     2048 kB\nVmFlags: rd wr sh mr mw me ms de ht sd\n';
    const [v] = parseSmaps(text);
    assert.equal(v!.pathname, '/dev/hugepages/libvirt/qemu/1-vm/qemu_back_mem.pc.ram.Ab12 (deleted)');
    assert.equal(v!.kernelPageSizeBytes, 2 * MiB);
    assert.ok(hasVmFlags(v!, ['ht']));
  });
});
