import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { native } from '../../src/native/index.js';
import { PAGE_IS, scanPages, scanPagesByPagemap, countPages, decodePagemapEntry } from '../../src/native/pagemap.js';
import { liveIO } from '../../src/platform/io.js';
import { readSmaps } from '../../src/platform/smaps.js';
import { readSwapFacts } from '../../src/platform/swap.js';
import { vmaPageStats } from '../../src/platform/page-stats.js';
import { startPatternChild } from './native-child.js';
import { addZramSwap, reapLeakedZram, type ZramSwap } from './native-zram.js';

const MADV_PAGEOUT = 21;

describe('swapped pages after MADV_PAGEOUT into a zram swap device', () => {
  let zram: ZramSwap;
  before(() => {
    zram = addZramSwap(128);
  });
  after(() => zram.remove());

  test('the zram device shows up in /proc/swaps', async () => {
    const facts = await readSwapFacts(liveIO);
    assert.ok(facts.devices.some((d) => d.filename === zram.device), 'our device is an active swap device');
  });

  test('anonymous pages: PAGEMAP_SCAN and pagemap both report SWAPPED with the swap type of our device', async () => {
    const child = await startPatternChild('anon', 1024, 1);
    try {
      const end = child.start + 1024 * 4096;
      // Page out the first half only.
      const advised = await native.processMadvise(child.pid, new Float64Array([child.start, 512 * 4096]), MADV_PAGEOUT);
      assert.equal(advised, 512 * 4096);
      const filter = { returnMask: PAGE_IS.PRESENT | PAGE_IS.SWAPPED };
      const viaScan = await scanPages(child.pid, child.start, end, filter);
      const viaRead = await scanPagesByPagemap(child.pid, child.start, end, filter);
      assert.deepEqual([...viaScan.regions], [...viaRead.regions]);
      const swapped = countPages(viaScan.regions, PAGE_IS.SWAPPED);
      assert.ok(swapped >= 500, `${swapped} of 512 paged-out pages swapped`);
      assert.equal(countPages(viaScan.regions, PAGE_IS.PRESENT) + swapped, 1024);
      const entries = await native.readPagemap(child.pid, child.start, 1);
      const e = decodePagemapEntry(entries, 0);
      assert.equal(e.swapped, true);
      assert.ok((e.swapOffset ?? 0) > 0);
      // The NUMA query agrees: swapped pages have no node (-ENOENT).
      const nodes = await native.movePages(child.pid, new Float64Array([child.start, child.start + 600 * 4096]), null, 0);
      assert.equal(nodes[0], -2);
      assert.equal(nodes[1], 0);
      // Page stats (the `pages` command's engine) count the same.
      const vma = (await readSmaps(liveIO, child.pid)).find((v) => v.start === child.start)!;
      assert.equal(vma.swapBytes, swapped * 4096, 'smaps Swap agrees');
      const { stats } = await vmaPageStats(child.pid, vma);
      assert.equal(stats.swappedPages4k, swapped);
      assert.equal(stats.presentPages4kByNode[0], 1024 - swapped);
    } finally {
      await child.stop();
    }
  });

  test('shared memory (memfd): pagemap shows neither present nor swapped; mincore + SEEK_DATA find the swapped pages', async () => {
    const child = await startPatternChild('memfd', 256, 1);
    try {
      await native.processMadvise(child.pid, new Float64Array([child.start, 256 * 4096]), MADV_PAGEOUT);
      const scan = await scanPages(child.pid, child.start, child.start + 256 * 4096, { returnMask: PAGE_IS.PRESENT | PAGE_IS.SWAPPED });
      const swappedInPageTable = countPages(scan.regions, PAGE_IS.SWAPPED);
      const vma = (await readSmaps(liveIO, child.pid)).find((v) => v.start === child.start)!;
      const { stats } = await vmaPageStats(child.pid, vma);
      assert.ok((stats.notResidentPages4k ?? 0) >= 200, `${stats.notResidentPages4k} of 256 shmem pages allocated but not resident`);
      assert.ok(swappedInPageTable < (stats.notResidentPages4k ?? 0), 'the page table alone under-reports shared swap');
    } finally {
      await child.stop();
    }
  });
});

test('a zram device of a test run that was killed is removed by the next one, and a live run\'s is kept', async () => {
  const helper = new URL('./native-zram.js', import.meta.url).href;
  // A test process that adds its device, says which, and is then killed before it removes it.
  const child = spawn(process.execPath, ['--input-type=module', '-e', `const { addZramSwap } = await import(${JSON.stringify(helper)}); const z = addZramSwap(16); process.stdout.write(z.device + '\\n'); setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const device = await new Promise<string>((resolve, reject) => {
    child.stdout!.once('data', (b: Buffer) => resolve(b.toString().trim()));
    child.once('exit', (code) => reject(new Error(`helper exited ${code}`)));
  });
  const id = device.replace('/dev/zram', '');
  const mine = addZramSwap(16);
  try {
    assert.ok(existsSync(`/sys/block/zram${id}`), `${device} was added`);
    assert.deepEqual(reapLeakedZram(), [], 'nothing reaped while its owner runs');
    assert.ok(existsSync(`/sys/block/zram${id}`));
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    assert.deepEqual(reapLeakedZram(), [id]);
    assert.equal(existsSync(`/sys/block/zram${id}`), false, `${device} removed`);
    assert.ok(existsSync(`/sys/block/${mine.device.replace('/dev/', '')}`), 'the live run\'s device stays');
  } finally {
    child.kill('SIGKILL');
    mine.remove();
  }
});
