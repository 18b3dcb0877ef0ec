import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { native, SysError } from '../../src/native/index.js';
import { liveKernel } from '../../src/native/kernel.js';
import { liveIO } from '../../src/platform/io.js';
import { readMemoryBlockMap } from '../../src/platform/memory-blocks.js';
import { decodePagemapEntry } from '../../src/native/pagemap.js';
import { startPatternChild } from './native-child.js';

const PAGE = 4096;

// pageStates (native/page_states.cc) on a real child process: the page
// table walk, both node sources and the pagemap fallback must agree with
// what the child touched and with move_pages itself.
describe('pageStates (real child process)', () => {
  test('every 3rd page present with its node; PFN map, move_pages and the pagemap fallback agree', async () => {
    const pages = 3000;
    const child = await startPatternChild('anon', pages, 3);
    try {
      const end = child.start + pages * PAGE;
      const map = await readMemoryBlockMap(liveIO);
      const viaScan = await liveKernel.pageStates(child.pid, child.start, end, PAGE);
      const viaPfn = await liveKernel.pageStates(child.pid, child.start, end, PAGE, { nodeMap: map });
      const viaRead = await liveKernel.pageStates(child.pid, child.start, end, PAGE, { readMode: 'pagemap' });
      assert.equal(viaScan.source, 'PAGEMAP_SCAN', 'this host (6.18) has PAGEMAP_SCAN');
      assert.equal(viaPfn.source, 'pagemap', 'PFNs come only from pagemap reads');
      assert.equal(viaRead.source, 'pagemap');
      // the nodes move_pages reports for the touched pages, asked the old way
      const touched = Float64Array.from({ length: pages / 3 }, (_, k) => child.start + 3 * k * PAGE);
      const truth = await liveKernel.queryPageNodes(child.pid, touched);
      for (const r of [viaScan, viaPfn, viaRead]) {
        assert.equal(r.states.length, pages);
        assert.equal(r.nodes.length, pages);
        for (let i = 0; i < pages; i++) {
          assert.equal(r.states[i], i % 3 === 0 ? 1 : 0, `state of page ${i}`);
          assert.equal(r.nodes[i], i % 3 === 0 ? truth[i / 3] : -1, `node of page ${i}`);
        }
        assert.deepEqual([...r.counts], [pages - pages / 3, pages / 3, 0]);
        const byNode = new Map<number, number>();
        for (const n of truth) byNode.set(n, (byNode.get(n) ?? 0) + 1);
        const pairs: number[] = [];
        for (const [n, c] of [...byNode].sort((a, b) => a[0] - b[0])) pairs.push(n, c);
        assert.deepEqual([...r.presentPagesByNode], pairs);
      }
    } finally {
      await child.stop();
    }
  });

  test('a block map that cannot place the pages: move_pages answers for them', async () => {
    const child = await startPatternChild('anon', 64, 1);
    try {
      const end = child.start + 64 * PAGE;
      const truth = await liveKernel.pageStates(child.pid, child.start, end, PAGE);
      // one block of 128 MiB at PFN 0 with no node: every page's PFN falls past or on "unknown"
      const r = await liveKernel.pageStates(child.pid, child.start, end, PAGE, { nodeMap: { blockBytes: 128 << 20, nodeByBlock: Int16Array.of(-1) } });
      assert.deepEqual([...r.nodes], [...truth.nodes]);
      assert.ok(r.nodes.every((n) => n >= 0), 'every touched page got a node');
    } finally {
      await child.stop();
    }
  });

  test('2 MiB mapping pages: one query per mapping page, its node on each present 4 KiB page', async () => {
    const pages = 2048;
    const child = await startPatternChild('anon', pages, 512); // pages 0, 512, 1024, 1536
    try {
      const end = child.start + pages * PAGE;
      const r = await liveKernel.pageStates(child.pid, child.start, end, 2 * 1024 * 1024);
      for (let i = 0; i < pages; i++) {
        assert.equal(r.states[i], i % 512 === 0 ? 1 : 0);
        assert.equal(r.nodes[i] >= 0, i % 512 === 0, `page ${i}`);
      }
    } finally {
      await child.stop();
    }
  });

  test('readPagemapPfns: the PFN and flags readPagemap\'s raw entries hold, decoded natively', async () => {
    const pages = 700;
    const child = await startPatternChild('anon', pages, 5);
    try {
      const raw = await native.readPagemap(child.pid, child.start, pages);
      const got = await liveKernel.readPagemapPfns(child.pid, child.start, pages);
      assert.equal(got.pfn.length, pages);
      for (let i = 0; i < pages; i++) {
        const e = decodePagemapEntry(raw, i);
        assert.equal(got.flags[i], (e.present ? 1 : 0) | (e.swapped ? 2 : 0), `flags of page ${i}`);
        assert.equal(got.pfn[i], e.present ? e.pfn : 0, `pfn of page ${i}`);
        assert.equal(e.present, i % 5 === 0);
      }
      assert.ok(got.pfn[0]! > 0, 'root sees PFNs');
      assert.throws(() => native.readPagemapPfns(child.pid, 1, 1), (e: unknown) => e instanceof TypeError && (e as { code?: string }).code === 'ERR_INVALID_ARG');
    } finally {
      await child.stop();
    }
  });

  test('bad arguments: TypeError ERR_INVALID_ARG from the wrapper and from the addon', () => {
    const bad = (e: unknown): boolean => e instanceof TypeError && (e as { code?: string }).code === 'ERR_INVALID_ARG';
    assert.throws(() => liveKernel.pageStates(0, 0, PAGE, PAGE), bad);
    assert.throws(() => liveKernel.pageStates(1, 1, PAGE, PAGE), bad);
    assert.throws(() => liveKernel.pageStates(1, PAGE, PAGE, PAGE), bad);
    assert.throws(() => liveKernel.pageStates(1, 0, PAGE, 3 * PAGE), bad);
    assert.throws(() => liveKernel.pageStates(1, 0, PAGE, PAGE, { readMode: 'x' as 'auto' }), bad);
    assert.throws(() => liveKernel.pageStates(1, 0, PAGE, PAGE, { nodeMap: { blockBytes: 3 << 20, nodeByBlock: Int16Array.of(0) } }), bad);
    assert.throws(() => liveKernel.pageStates(1, 0, PAGE, PAGE, { nodeMap: { blockBytes: 128 << 20, nodeByBlock: new Int16Array(0) } }), bad);
    assert.throws(() => native.pageStates(1, 0, PAGE, PAGE, 2, null, 0), bad);
    assert.throws(() => native.pageStates(1, 0, PAGE, PAGE, 0, new Int32Array(1) as unknown as Int16Array, 128 << 20), bad);
    assert.throws(() => native.pageStates(1, 0, PAGE, PAGE, 0, Int16Array.of(0), 5000), bad);
  });

  test('a process that is gone: SysError naming the errno and the syscall', async () => {
    const child = await startPatternChild('anon', 4, 1);
    const pid = child.pid;
    await child.stop();
    await assert.rejects(liveKernel.pageStates(pid, child.start, child.start + 4 * PAGE, PAGE), (e: unknown) => {
      assert.ok(e instanceof SysError, String(e));
      assert.equal(e.code, 'ENOENT');
      assert.equal(e.syscall, 'open(pagemap)');
      return true;
    });
  });
});
