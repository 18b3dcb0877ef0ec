/**
 * slide's etmem keys change what slide does: sysmem_threshold as etmem
 * applies it (MemFree, and the per-process cap without swap_threshold),
 * the swap-cache watermarks (a pause with hysteresis), swap_flag (only the
 * VMAs the process named for swapping) and max_threads (pids decided and
 * swapped that many at a time). Synthetic access maps (test/sim), the real
 * SlideEngine and its round, a recording mover.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import type { ProjectConfig, SlideEngineConfig, SlideTaskParams, TaskConfig } from '../../src/config/types.js';
import { projectConfig } from '../../src/config/units.js';
import type { Plan } from '../../src/engines/plan.js';
import { nullLogger } from '../../src/log.js';
import type { Mover, MoverLimits, MoveResult } from '../../src/mover/types.js';
import { PidClaims, type BuiltinEngineDeps } from '../../src/runner/cycle-runner.js';
import type { EngineTask } from '../../src/runner/engine.js';
import type { HostInfo, HostMemInfo } from '../../src/runner/host-info.js';
import { boundedMap, designatedOnly, SlideEngine, swapcachePaused, sysmemAllowsSwap } from '../../src/runner/slide.js';
import type { AccessMap } from '../../src/scan/access-map.js';
import type { ScanCycleOptions, ScanTarget, Tracker } from '../../src/scan/tracker.js';
import { cloneMap, pagesOf, syntheticMap } from '../sim/synthetic.js';

const MB = 1024 * 1024;
const ANON = ['rd', 'wr', 'mr', 'mw', 'me', 'ac'];

describe('the rules, pure', () => {
  test('sysmem_threshold: MemFree as a whole percentage below the threshold', () => {
    const base = { thresholdPercent: 50, totalBytes: 100 * MB, swapThresholdSet: true, rssBytes: 10 * MB };
    assert.equal(sysmemAllowsSwap({ ...base, freeBytes: 49 * MB }), true);
    assert.equal(sysmemAllowsSwap({ ...base, freeBytes: 50 * MB }), false);
    assert.equal(sysmemAllowsSwap({ ...base, freeBytes: 50.9 * MB }), false, 'etmem truncates 50.9 to 50');
    assert.equal(sysmemAllowsSwap({ ...base, thresholdPercent: 0, freeBytes: 0 }), false, '0 never swaps');
  });
  test('sysmem_threshold without swap_threshold caps the swapped share of the process', () => {
    const base = { thresholdPercent: 50, totalBytes: 100 * MB, freeBytes: 10 * MB, swapThresholdSet: false };
    assert.equal(sysmemAllowsSwap({ ...base, rssBytes: 60 * MB, swapBytes: 40 * MB }), true, '40 of 100 swapped < 50 %');
    assert.equal(sysmemAllowsSwap({ ...base, rssBytes: 50 * MB, swapBytes: 50 * MB }), false, '50 of 100 swapped: not below');
    assert.equal(sysmemAllowsSwap({ ...base, swapThresholdSet: true, rssBytes: 10 * MB, swapBytes: 90 * MB }), true, 'with swap_threshold, no cap');
  });
  test('swap-cache watermarks: pause above high, resume at or below low, keep the state between', () => {
    const t = 100 * MB;
    assert.equal(swapcachePaused(false, 5 * MB, t, 10, 5), false);
    assert.equal(swapcachePaused(false, 11 * MB, t, 10, 5), true);
    assert.equal(swapcachePaused(true, 7 * MB, t, 10, 5), true, 'between the marks: still paused');
    assert.equal(swapcachePaused(false, 7 * MB, t, 10, 5), false, 'between the marks: still running');
    assert.equal(swapcachePaused(true, 5 * MB, t, 10, 5), false);
  });
  test('swap_flag: only VMAs named swap or swap:... stay in the map', () => {
    const map = syntheticMap([...pagesOf(4, 0, 0)], { loop: 3, pageSizeBytes: 4096, vmFlags: ANON });
    const vma = map.vmas[0]!;
    const half = vma.start + 2 * 4096;
    const split: AccessMap = { ...map, vmas: [{ ...vma, end: half, pathname: '[anon:swap]' }, { ...vma, start: half, pathname: '[anon:other]' }] };
    const kept = designatedOnly(split);
    assert.deepEqual(kept.vmas.map((v) => v.pathname), ['[anon:swap]']);
    assert.ok(kept.ranges.length > 0 && kept.ranges.toArray().every((r) => r.start < half));
    assert.equal(designatedOnly({ ...map, vmas: [{ ...vma, pathname: '[anon:swapx]' }] }).ranges.length, 0);
  });
  test('boundedMap runs at most `limit` at once and keeps the order', async () => {
    let running = 0;
    let peak = 0;
    const out = await boundedMap([1, 2, 3, 4, 5, 6, 7], 3, async (x) => {
      peak = Math.max(peak, ++running);
      await tick();
      await tick();
      running--;
      return x * 10;
    });
    assert.deepEqual(out, [10, 20, 30, 40, 50, 60, 70]);
    assert.equal(peak, 3);
  });
});

/** Every scan returns `map` for the pid asked. */
class MapTracker implements Tracker {
  readonly name = 'synthetic';
  constructor(private readonly map: () => AccessMap) {}
  async scanCycle(target: ScanTarget, opts: ScanCycleOptions): Promise<AccessMap> {
    return { ...cloneMap(this.map()), pid: target.pid, loop: opts.loop, timeMs: Date.UTC(2026, 11, 1) };
  }
  async close(): Promise<void> {}
}

/** Records plans and how many ran at once; each call takes a few ticks, as a real pageout does. */
class CountingMover implements Mover {
  readonly plans: Plan[] = [];
  running = 0;
  peak = 0;
  async execute(plan: Plan, _limits: MoverLimits): Promise<MoveResult> {
    this.plans.push(plan);
    this.peak = Math.max(this.peak, ++this.running);
    for (let i = 0; i < 5; i++) await tick();
    this.running--;
    const bytes = plan.swapOuts.reduce((n, s) => n + s.lengthBytes, 0);
    return { pid: plan.pid, pagesMovedByNode: {}, bytesPromoted: 0, bytesDemoted: 0, bytesSwappedOut: bytes, errorsByErrno: {}, durationMs: 1 };
  }
}

interface Run {
  mover: CountingMover;
  stats: Array<Record<string, unknown>>;
}

async function oneRound(opts: { params?: Partial<SlideTaskParams>; project?: Partial<ProjectConfig>; mem?: HostMemInfo; swapBytes?: number; pids?: number[]; map?: AccessMap; rounds?: number }): Promise<Run> {
  const map = opts.map ?? syntheticMap([...pagesOf(4, 0, 0), ...pagesOf(2, 3, 0)], { loop: 3, pageSizeBytes: 4096, vmFlags: ANON });
  const mover = new CountingMover();
  const hostInfo: HostInfo = {
    hugePagePools: async () => ({}),
    memInfo: async () => opts.mem ?? { totalBytes: 100 * MB, availableBytes: 10 * MB, freeBytes: 10 * MB, swapCachedBytes: 0 },
    processRssBytes: async () => 64 * MB,
    processSwapBytes: async () => opts.swapBytes ?? 0,
  };
  const controller = new AbortController();
  let sleeps = 0;
  const sleep: BuiltinEngineDeps['sleep'] = async (_ms, signal) => {
    await tick();
    if (++sleeps >= (opts.rounds ?? 1)) controller.abort();
    if (signal?.aborted) throw Object.assign(new Error('aborted'), { name: 'AbortError' });
  };
  const project = projectConfig({ name: 'p', loop: 3, interval: 1, sleep: 1, ...opts.project });
  const config: TaskConfig = { project: 'p', engine: 'slide', name: 's1', type: 'name', value: 'x', params: { T: 2, ...opts.params } as SlideTaskParams };
  const stats: Array<Record<string, unknown>> = [];
  const task: EngineTask = {
    config,
    project,
    resolvePids: async () => opts.pids ?? [5151],
    signal: controller.signal,
    reportStats: (s) => void stats.push(s),
    reportEnded: () => undefined,
    log: nullLogger(),
  };
  const engine = new SlideEngine({ name: 'slide', project: 'p' } as SlideEngineConfig, { pidClaims: new PidClaims(), trackerFactory: () => new MapTracker(() => map), mover, hostInfo, sleep }, { project, log: nullLogger() });
  engine.startTask(task);
  for (let i = 0; i < 5000 && !controller.signal.aborted; i++) await tick();
  await engine.stopTask('s1');
  await engine.close();
  return { mover, stats };
}

describe('slide engine: the keys change what is swapped', () => {
  test('sysmem_threshold without swap_threshold: a process that swapped its share is left alone', async () => {
    const open = await oneRound({ project: { sysmem_threshold: 50 }, swapBytes: 0 });
    assert.equal(open.mover.plans.length, 1, 'MemFree 10 % < 50 %, nothing swapped yet: swaps');
    const capped = await oneRound({ project: { sysmem_threshold: 50 }, swapBytes: 64 * MB });
    assert.equal(capped.mover.plans.length, 0, '64 of 128 MB swapped: not below 50 %');
    assert.deepEqual(capped.stats[0]!.limitedBy, ['sysmem_threshold']);
    const withThreshold = await oneRound({ project: { sysmem_threshold: 50 }, swapBytes: 64 * MB, params: { swap_threshold_bytes: 1 * MB } });
    assert.equal(withThreshold.mover.plans.length, 1, 'swap_threshold set: the share cap does not apply');
  });
  test('sysmem_threshold compares MemFree, not MemAvailable', async () => {
    const r = await oneRound({ project: { sysmem_threshold: 50 }, mem: { totalBytes: 100 * MB, availableBytes: 10 * MB, freeBytes: 60 * MB, swapCachedBytes: 0 } });
    assert.equal(r.mover.plans.length, 0);
  });
  test('swap-cache watermarks: SwapCached above high% of MemTotal stops the swap-outs', async () => {
    const wm = { swapcache_high_wmark: 10, swapcache_low_wmark: 5 };
    const high = await oneRound({ project: wm, mem: { totalBytes: 100 * MB, availableBytes: 10 * MB, freeBytes: 10 * MB, swapCachedBytes: 11 * MB } });
    assert.equal(high.mover.plans.length, 0);
    assert.deepEqual(high.stats[0]!.limitedBy, ['swapcache_wmark']);
    const low = await oneRound({ project: wm, mem: { totalBytes: 100 * MB, availableBytes: 10 * MB, freeBytes: 10 * MB, swapCachedBytes: 4 * MB } });
    assert.equal(low.mover.plans.length, 1);
    const unset = await oneRound({ mem: { totalBytes: 100 * MB, availableBytes: 10 * MB, freeBytes: 10 * MB, swapCachedBytes: 90 * MB } });
    assert.equal(unset.mover.plans.length, 1, 'no marks: no pause');
  });
  test('swap_flag=yes swaps only the VMA the process named for it', async () => {
    const base = syntheticMap([...pagesOf(4, 0, 0)], { loop: 3, pageSizeBytes: 4096, vmFlags: ANON });
    const vma = base.vmas[0]!;
    const half = vma.start + 2 * 4096;
    const map: AccessMap = { ...base, vmas: [{ ...vma, end: half, pathname: '[anon:swap]' }, { ...vma, start: half, pathname: '' }] };
    const flagged = await oneRound({ map, params: { swap_flag: true } });
    const swapped = flagged.mover.plans[0]!.swapOuts;
    assert.ok(swapped.every((s) => s.start + s.lengthBytes <= half), 'nothing outside [anon:swap]');
    assert.equal(swapped.reduce((n, s) => n + s.lengthBytes, 0), 2 * 4096);
    const plain = await oneRound({ map, params: { swap_flag: false } });
    assert.equal(plain.mover.plans[0]!.swapOuts.reduce((n, s) => n + s.lengthBytes, 0), 4 * 4096);
  });
  test('max_threads bounds how many of a task\'s pids are swapped at once', async () => {
    const pids = [11, 12, 13, 14, 15, 16];
    const one = await oneRound({ pids, params: { max_threads: 1 } });
    assert.equal(one.mover.plans.length, 6);
    assert.equal(one.mover.peak, 1);
    const three = await oneRound({ pids, params: { max_threads: 3 } });
    assert.equal(three.mover.plans.length, 6);
    assert.equal(three.mover.peak, 3);
  });
});
