import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { liveIO, RecordingIO } from '../../src/platform/io.js';
import { readSmaps, isAnonymous } from '../../src/platform/smaps.js';
import { readNumaMaps } from '../../src/platform/numa-maps.js';
import { readNumaTopology } from '../../src/platform/numa-topology.js';
import { readMeminfo } from '../../src/platform/meminfo.js';
import { readSwapFacts } from '../../src/platform/swap.js';
import { probeDamon } from '../../src/platform/damon-probe.js';
import { startPatternChild } from './native-child.js';
import { SysError } from '../../src/native/index.js';

describe('platform readers on the live host', () => {
  test('smaps and numa_maps of a child with a known mapping', async () => {
    const child = await startPatternChild('anon', 512, 4);
    try {
      const vma = (await readSmaps(liveIO, child.pid)).find((v) => v.start === child.start);
      assert.ok(vma && isAnonymous(vma));
      assert.equal(vma.sizeBytes, 512 * 4096);
      assert.equal(vma.rssBytes, 128 * 4096);
      assert.ok(vma.vmFlags.includes('nh'), 'MADV_NOHUGEPAGE shows as nh');
      const nm = (await readNumaMaps(liveIO, child.pid)).find((e) => e.start === child.start);
      assert.equal(nm?.pagesByNode.get(0), 128);
    } finally {
      await child.stop();
    }
  });

  test('topology agrees with numactl -H and the CPU count', async () => {
    const topo = await readNumaTopology(liveIO);
    const numactl = execFileSync('numactl', ['-H'], { encoding: 'utf8' });
    const available = /available: (\d+) nodes/.exec(numactl);
    assert.equal(topo.nodes.length, Number(available![1]));
    assert.equal(topo.nodes.flatMap((n) => n.cpus).length, os.cpus().length);
    for (const n of topo.nodes) {
      const size = new RegExp(`node ${n.id} size: (\\d+) MB`).exec(numactl);
      assert.equal(Math.floor(n.memTotalBytes / 1024 / 1024), Number(size![1]), `node ${n.id} size`);
    }
  });

  test('liveIO writes write-only sysfs attributes; the kernel\'s refusal surfaces as SysError', async () => {
    // hot_remove is mode 0200: opening it read-write would be EACCES. No zram
    // device has this id, so the write itself fails with the driver's errno.
    await assert.rejects(liveIO.writeText('/sys/class/zram-control/hot_remove', '999999'), (e: unknown) =>
      e instanceof SysError && e.code === 'ENODEV');
    await assert.rejects(liveIO.writeText('/sys/kernel/mm/no_such_attribute', '1'), (e: unknown) =>
      e instanceof SysError && e.code === 'ENOENT');
  });

  test('meminfo MemTotal equals os.totalmem()', async () => {
    assert.equal((await readMeminfo(liveIO)).MemTotal, os.totalmem());
  });

  test('swap facts: zram control and zswap exist on this host (platform-facts.md)', async () => {
    const facts = await readSwapFacts(liveIO);
    assert.equal(facts.zramAvailable, true);
    assert.equal(facts.zswapAvailable, true);
  });

  test('DAMON probe: sysfs present, paddr only (platform-facts.md), nothing written by default', async () => {
    const rec = new RecordingIO(liveIO);
    const facts = await probeDamon(rec);
    assert.equal(facts.sysfs, true);
    assert.deepEqual(facts.operations, ['paddr']);
    assert.deepEqual(rec.writes(), []);
  });
});
