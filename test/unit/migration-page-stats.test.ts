import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { classifyAccess, PAGE_STATE, stateBitmaps, stateRanges, type RamBlockPageStats, type RamBlockTarget } from '../../src/migration/page-stats.js';
import { pseudoRamBlockTargets, qemuRamBlockTargets } from '../../src/migration/targets.js';
import { migrationHandlers, MIGRATION_ACCESS_COMMAND } from '../../src/migration/access-handler.js';
import { ScanObserver } from '../../src/feed/scan-observer.js';
import { syntheticMap } from '../sim/synthetic.js';
import type { SmapsVma } from '../../src/platform/smaps.js';
import type { EngineTask } from '../../src/runner/engine.js';
import { nullLogger } from '../../src/log.js';

const target: RamBlockTarget = { id: 'pc.ram', start: 0x10000000, end: 0x10000000 + 8 * 4096, kind: 'anon', pageSizeBytes: 4096 };
const U = PAGE_STATE.untouched, P = PAGE_STATE.present, S = PAGE_STATE.swapped, C = PAGE_STATE.swapCache;

function stats(states: number[], nodes: number[], temperature?: number[]): RamBlockPageStats {
  return {
    target, lengthBytes: states.length * 4096, states: Uint8Array.from(states), nodes: Int16Array.from(nodes),
    temperature: temperature ? Uint8Array.from(temperature) : undefined, swapSource: 'pagemap', scanSource: 'PAGEMAP_SCAN',
    counts: { untouched: 0, present: 0, swapped: 0, swapCache: 0, hot: 0, cold: 0 }, presentPagesByNode: {},
  };
}

const vma = (over: Partial<SmapsVma>): SmapsVma => ({
  start: 0x1000000, end: 0x1000000 + (4 << 20), perms: 'rw-p', offset: 0, dev: '00:00', inode: 0, pathname: '', sizesBytes: {}, vmFlags: ['rd', 'wr'],
  sizeBytes: 4 << 20, rssBytes: 0, swapBytes: 0, kernelPageSizeBytes: 4096, ...over,
});

describe('migration page stats (pure parts)', () => {
  test('ranges: runs of state, node and temperature, offsets from the RAMBlock start', () => {
    const s = stats([P, P, P, S, S, U, C, P], [0, 0, 1, -1, -1, -1, -1, 1], [1, 1, 1, 255, 255, 255, 255, 0]);
    assert.deepEqual(stateRanges(s), [
      { offset: 0, pages: 2, state: 'present', node: 0, temperature: 'hot' },
      { offset: 8192, pages: 1, state: 'present', node: 1, temperature: 'hot' },
      { offset: 12288, pages: 2, state: 'swapped' },
      { offset: 20480, pages: 1, state: 'untouched' },
      { offset: 24576, pages: 1, state: 'swapCache' },
      { offset: 28672, pages: 1, state: 'present', node: 1, temperature: 'cold' },
    ]);
  });

  test('bitmaps per state; swapCache only when present; cold/hot only with access data', () => {
    const s = stats([P, P, S, S, U, C, P, P], [0, 0, -1, -1, -1, -1, 0, 0]);
    s.counts.swapCache = 1;
    const b = stateBitmaps(s);
    assert.deepEqual(b.present!.runs(), [[0, 2], [6, 2]]);
    assert.deepEqual(b.swapped!.runs(), [[2, 2]]);
    assert.deepEqual(b.untouched!.runs(), [[4, 1]]);
    assert.deepEqual(b.swapCache!.runs(), [[5, 1]]);
    assert.equal(b.cold, undefined);
    const t = stateBitmaps(stats([P, P, S, P], [0, 0, -1, 0], [1, 0, 255, 0]));
    assert.deepEqual(t.hot!.runs(), [[0, 1]]);
    assert.deepEqual(t.cold!.runs(), [[1, 1], [3, 1]]);
    assert.equal(t.swapCache, undefined);
  });

  test('access ranges mark present pages only, clipped to the RAMBlock; 2 MiB ranges cover their 4 KiB pages', () => {
    const states = Uint8Array.from([P, P, S, P, P, U, P, P]);
    const temp = classifyAccess(target, states, {
      loop: 3, hotThreshold: 2, timeMs: 0, tracker: 't',
      ranges: [[target.start - 4096, 3, 4096, 3], [target.start + 2 * 4096, 4, 4096, 1], [target.start + 6 * 4096, 1, 2 * 1024 * 1024, 2]],
    });
    assert.deepEqual([...temp], [1, 1, 255, 0, 0, 255, 1, 1]);
  });
});

describe('migration targets', () => {
  test('pseudo RAMBlocks: writable anon, shared (memfd named), hugetlb of >= 1 MiB; not stacks, small or private file maps', () => {
    const t = pseudoRamBlockTargets([
      vma({}),
      vma({ start: 0x2000000, end: 0x2400000, perms: 'rw-s', inode: 5, pathname: '/memfd:guest (deleted)', offset: 4096 }),
      vma({ start: 0x3000000, end: 0x3400000, vmFlags: ['rd', 'wr', 'ht'], kernelPageSizeBytes: 2 << 20, inode: 7, pathname: '/anon_hugepage (deleted)', perms: 'rw-p' }),
      vma({ start: 0x4000000, end: 0x4400000, pathname: '[stack]' }),
      vma({ start: 0x5000000, end: 0x5010000, sizeBytes: 65536 }),
      vma({ start: 0x6000000, end: 0x6400000, inode: 9, pathname: '/usr/lib/libfoo.so' }),
      vma({ start: 0x7000000, end: 0x7400000, perms: 'r--p' }),
    ]);
    assert.deepEqual(t.map((x) => [x.id, x.kind, x.pageSizeBytes, x.fileOffset]), [
      ['anon@0x1000000', 'anon', 4096, 0],
      ['memfd@0x2000000', 'shared', 4096, 4096],
      ['hugetlb@0x3000000', 'hugetlb', 2 << 20, 0],
    ]);
  });

  test('QEMU RAMBlocks keep their ids; unmatched backends are listed', () => {
    const smaps = [vma({ start: 0x40000000, end: 0x48000000, vmFlags: ['ht'], kernelPageSizeBytes: 2 << 20, perms: 'rw-s', inode: 3, pathname: '/dev/hugepages/x/qemu_back_mem.pc.ram.abc (deleted)' })];
    const { targets, unmatched } = qemuRamBlockTargets([
      { id: 'pc.ram', qomType: 'memory-backend-file', sizeBytes: 128 << 20, vma: { start: 0x40000000, end: 0x48000000, pathname: '', hugetlb: true, kernelPageSizeBytes: 2 << 20, rssBytes: 0, swapBytes: 0, hugetlbBytes: 0 } },
      { id: 'ram-extra', qomType: 'memory-backend-ram', sizeBytes: 1 << 20 },
    ], smaps);
    assert.deepEqual(targets.map((t) => [t.id, t.kind]), [['pc.ram', 'hugetlb']]);
    assert.deepEqual(unmatched, ['ram-extra']);
  });
});

describe('daemon access handler', () => {
  test('returns the latest cycle of a pid, recorded by the scan observer', async () => {
    const scans = new ScanObserver();
    const task = { config: { project: 'p', engine: 'slide', name: 't', type: 'pid', value: '42', params: { T: 2 } }, log: nullLogger() } as unknown as EngineTask;
    const map = syntheticMap([{ accessCount: 3, node: 0 }, { accessCount: 0, node: 0, present: false, swapped: true }], { pid: 42, loop: 3, pageSizeBytes: 4096, baseAddress: 0x1000, timeMs: 5 });
    const tracker = await scans.wrapTracker(task, { name: 'synthetic', scanCycle: async () => map, close: async () => {} });
    const handler = migrationHandlers(scans)[MIGRATION_ACCESS_COMMAND]!;
    assert.equal(handler({ pid: 42 }), null);
    await tracker.scanCycle({ pid: 42, filter: { vmFlags: [], anonOnly: false }, ignHost: false }, { loop: 3, intervalMs: 1 });
    assert.deepEqual(handler({ pid: 42 }), { loop: 3, timeMs: 5, tracker: 'synthetic', hotThreshold: 2, ranges: [[0x1000, 1, 4096, 3]] });
    assert.throws(() => handler({ pid: 'x' }), /pid/);
  });
});
