/**
 * The cslide engine plans all of its tasks together each round (etmem's
 * cslide plans an engine's pids together): three guests as three tasks of
 * one engine share one node_mig_quota, where a per-task engine would move
 * three quotas' worth.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import type { ProjectConfig, TaskConfig } from '../../src/config/types.js';
import type { EngineTask } from '../../src/runner/engine.js';
import type { Plan } from '../../src/engines/plan.js';
import type { Mover, MoverLimits, MoveResult } from '../../src/mover/types.js';
import type { AccessMap } from '../../src/scan/access-map.js';
import type { ScanCycleOptions, ScanTarget, Tracker } from '../../src/scan/tracker.js';
import { CslideEngine } from '../../src/runner/cslide.js';
import { PidClaims } from '../../src/runner/cycle-runner.js';
import { cslideEngineConfig, projectConfig } from '../../src/config/units.js';
import { cloneMap, HUGEPAGE_2M, pagesOf, syntheticMap } from '../sim/synthetic.js';
import { nullLogger } from '../../src/log.js';
import { AccessRanges } from '../../src/scan/access-ranges.js';

const P = HUGEPAGE_2M;
const project: ProjectConfig = projectConfig({ name: 'p', loop: 3, interval: 1, sleep: 1 });

class PerPidTracker implements Tracker {
  readonly name = 'synthetic';
  constructor(private readonly maps: Map<number, AccessMap>) {}
  async scanCycle(target: ScanTarget, _opts: ScanCycleOptions): Promise<AccessMap> {
    await tick();
    return cloneMap(this.maps.get(target.pid)!);
  }
  async close(): Promise<void> {}
}

class CountingMover implements Mover {
  readonly calls: Array<{ plan: Plan; limits: MoverLimits }> = [];
  async execute(plan: Plan, limits: MoverLimits): Promise<MoveResult> {
    this.calls.push({ plan, limits });
    const up = plan.moves.filter((m) => m.reason !== 'demote').reduce((n, m) => n + m.pageCount * m.pageSizeBytes, 0);
    return { pid: plan.pid, pagesMovedByNode: { 0: up / P }, bytesPromoted: up, bytesDemoted: 0, bytesSwappedOut: 0, errorsByErrno: {}, durationMs: 1 };
  }
}

function fakeTask(name: string, pid: number, stats: Array<Record<string, unknown>>, controller: AbortController): EngineTask {
  const config = { project: 'p', engine: 'cslide', name, type: 'pid', value: String(pid), params: { vm_flags: ['ht'], anon_only: false, ign_host: false } } as TaskConfig;
  return { config, project, resolvePids: async () => [pid], signal: controller.signal, reportStats: (s) => void stats.push(s), reportEnded: () => undefined, log: nullLogger() };
}

/** Tasks for pids 1..3 on `engine`, run until each reported a round, then stopped and the engine closed. */
async function oneRoundEach(engine: { startTask(t: EngineTask): void; stopTask(name: string): Promise<void>; close(): Promise<void> }, stats: Array<Array<Record<string, unknown>>>, controllers: AbortController[]): Promise<void> {
  const tasks = [1, 2, 3].map((pid, i) => fakeTask(`vm${pid}`, pid, stats[i]!, controllers[i]!));
  for (const t of tasks) engine.startTask(t);
  for (let i = 0; i < 2000 && stats.some((s) => s.length === 0); i++) await tick();
  for (const t of tasks) await engine.stopTask(t.config.name);
  await engine.close();
}

test('three tasks of one cslide engine share one quota per round, hottest first across guests', async () => {
  const maps = new Map([1, 2, 3].map((pid) => [pid, syntheticMap(pagesOf(8, pid === 2 ? 3 : 2, 2), { loop: 3, pid, baseAddress: 0x7f0000000000 + pid * 0x1000000000 })]));
  const mover = new CountingMover();
  const controllers = [1, 2, 3].map(() => new AbortController());
  const stats: Array<Array<Record<string, unknown>>> = [[], [], []];
  let sleeps = 0;
  const engine = new CslideEngine(
    cslideEngineConfig({ name: 'cslide', project: 'p', node_pair: [{ dram: 0, aep: 2 }], hot_threshold: 2, node_mig_quota: 16, node_hot_reserve: 0 }),
    {
      pidClaims: new PidClaims(),
      trackerFactory: () => new PerPidTracker(maps),
      mover,
      hostInfo: {
        hugePagePools: async () => ({ 0: { totalBytes: 64 * P, freeBytes: 64 * P }, 2: { totalBytes: 64 * P, freeBytes: 40 * P } }),
        memInfo: async () => ({ totalBytes: 1 << 30, availableBytes: 1 << 29 }),
        processRssBytes: async () => 1 << 27,
      },
      sleep: async (_ms, signal) => {
        await tick();
        if (++sleeps >= 1) for (const c of controllers) c.abort();
        if (signal?.aborted) throw Object.assign(new Error('aborted'), { name: 'AbortError' });
      },
    },
    { project, log: nullLogger() },
  );
  await oneRoundEach(engine, stats, controllers);

  const promoted = stats.map((s) => s[0]!.promotedBytes as number);
  assert.equal(promoted.reduce((a, b) => a + b, 0), 16 << 20, 'the engine moved one quota (8 pages) in all, not 24 pages');
  assert.deepEqual(promoted, [0, 16 << 20, 0], 'the hottest guest (count 3) went first');
  assert.ok(mover.calls.every((c) => c.limits.quotaBytesPerDirection === 16 << 20 && c.limits.quotaUsedBytes !== undefined), 'every call shares one quota ledger');
  assert.equal(new Set(mover.calls.map((c) => c.limits.quotaUsedBytes)).size, 1, 'one ledger for the round');
});

test('engine rounds: per-task weights from the config, ping-pong counted, the kernel\'s counters beside the daemon\'s bytes', async () => {
  // Round 1: guests 1 and 2 each have 20 hot pages on AEP, 20 free DRAM pages: weights 1:3 -> 5 and 15.
  // Round 2: guest 1's first page is back on DRAM but cold, DRAM below the reserve: it goes back (ping-pong).
  let round = 0;
  const maps = (pid: number): AccessMap => {
    const base = 0x7f0000000000 + pid * 0x1000000000;
    if (round <= 1) return syntheticMap(pagesOf(20, 3, 2), { loop: 3, pid, baseAddress: base });
    return syntheticMap(pid === 1 ? [{ accessCount: 0, node: 0 }] : [], { loop: 3, pid, baseAddress: base });
  };
  const tracker: Tracker = { name: 'synthetic', scanCycle: async (t) => { await tick(); return maps(t.pid); }, close: async () => undefined };
  const mover = new CountingMover();
  let vm = 0;
  const controllers = [new AbortController(), new AbortController()];
  const stats: Array<Array<Record<string, unknown>>> = [[], []];
  const engine = new CslideEngine(
    cslideEngineConfig({ name: 'cslide', project: 'p', node_pair: [{ dram: 0, aep: 2 }], hot_threshold: 2, node_mig_quota: 1024, node_hot_reserve: 4 }),
    {
      pidClaims: new PidClaims(),
      trackerFactory: () => tracker,
      mover: {
        execute: async (plan, limits) => {
          const r = await mover.execute(plan, limits);
          const down = plan.moves.filter((m) => m.reason === 'demote').reduce((n, m) => n + m.pageCount * m.pageSizeBytes, 0);
          return { ...r, bytesDemoted: down };
        },
      },
      hostInfo: {
        hugePagePools: async () => ({ 0: { totalBytes: 64 * P, freeBytes: round <= 1 ? 20 * P : 0 }, 2: { totalBytes: 64 * P, freeBytes: 24 * P } }),
        memInfo: async () => ({ totalBytes: 1 << 30, availableBytes: 1 << 29 }),
        processRssBytes: async () => 1 << 27,
        vmstat: async () => ({ pgmigrate_success: (vm += 7), nr_free_pages: 1 }),
      },
      sleep: async (_ms, signal) => {
        await tick();
        if (round >= 2) for (const c of controllers) c.abort();
        if (signal?.aborted) throw Object.assign(new Error('aborted'), { name: 'AbortError' });
      },
    },
    { project, log: nullLogger() },
  );
  const tasks = [1, 2].map((pid, i) => {
    const t = fakeTask(`vm${pid}`, pid, stats[i]!, controllers[i]!);
    (t.config.params as { weight?: number }).weight = pid === 1 ? 1 : 3;
    return t;
  });
  const origScan = tracker.scanCycle;
  let seen = 0;
  tracker.scanCycle = async (t, o) => {
    if (seen++ % 2 === 0) round++;
    return origScan(t, o);
  };
  for (const t of tasks) engine.startTask(t);
  for (let i = 0; i < 4000 && stats.some((s) => s.length < 2); i++) await tick();
  for (const t of tasks) await engine.stopTask(t.config.name);
  await engine.close();

  assert.deepEqual(stats.map((s) => s[0]!.promotedBytes), [5 * P, 15 * P], 'DRAM by weight 1:3');
  assert.equal(stats[0]![1]!.pingPongBytes, P, 'the page promoted in round 1 and demoted in round 2 is one undone move');
  assert.equal(stats[0]![1]!.totalPingPongBytes, P);
  assert.equal(stats[1]![1]!.pingPongBytes, 0);
  assert.deepEqual(stats[0]![0]!.kernelCounters, { pgmigrate_success: 7 }, 'the kernel counters over the round\'s moves, non-migration counters left out');
});

test('the pools a round asks for: each hugetlb page size in an ht VMA, regular memory when a VMA is not hugetlb', async () => {
  // pid 1: a 1 GiB hugetlb VMA (ht) and a 2 MiB range in a VMA without ht; pid 2: 4 KiB pages only;
  // pid 3: a 1 GiB-page range outside every VMA (no pool for it)
  const G1 = 2 ** 30;
  const base = 0x7f0000000000;
  const range = (start: number, pageSizeBytes: number) => ({ start, pageCount: 1, pageSizeBytes, accessCount: 1, node: 0, present: true, swapped: false });
  const maps = new Map<number, AccessMap>([
    [1, { pid: 1, loop: 3, tracker: 'synthetic', timeMs: 1, vmas: [{ start: base, end: base + 2 * G1, vmFlags: ['rd', 'wr', 'ht'], pathname: '' }, { start: base + 4 * G1, end: base + 4 * G1 + 4 * P, vmFlags: ['rd', 'wr'], pathname: '' }], ranges: AccessRanges.of([range(base, G1), range(base + G1, G1), range(base + 4 * G1, P)]) }],
    [2, { pid: 2, loop: 3, tracker: 'synthetic', timeMs: 1, vmas: [{ start: base, end: base + 1 << 20, vmFlags: ['rd', 'wr'], pathname: '' }], ranges: AccessRanges.of([range(base, 4096)]) }],
    [3, { pid: 3, loop: 3, tracker: 'synthetic', timeMs: 1, vmas: [{ start: base, end: base + 4 * P, vmFlags: ['rd', 'wr', 'ht'], pathname: '' }], ranges: AccessRanges.of([range(base + 8 * G1, 4 * G1)]) }],
  ]);
  const asked: number[] = [];
  let regularAsked = 0;
  const controllers = [1, 2, 3].map(() => new AbortController());
  const stats: Array<Array<Record<string, unknown>>> = [[], [], []];
  const engine = new CslideEngine(
    cslideEngineConfig({ name: 'cslide', project: 'p', node_pair: [{ dram: 0, aep: 2 }], hot_threshold: 2, node_mig_quota: 16, node_hot_reserve: 0 }),
    {
      pidClaims: new PidClaims(),
      trackerFactory: () => new PerPidTracker(maps),
      mover: new CountingMover(),
      hostInfo: {
        hugePagePools: async (size: number) => {
          asked.push(size);
          return { 0: { totalBytes: 64 * size, freeBytes: 64 * size }, 2: { totalBytes: 64 * size, freeBytes: 64 * size } };
        },
        nodeMemory: async () => {
          regularAsked++;
          return { 0: { totalBytes: 1 << 30, freeBytes: 1 << 29 }, 2: { totalBytes: 1 << 30, freeBytes: 1 << 29 } };
        },
        memInfo: async () => ({ totalBytes: 1 << 30, availableBytes: 1 << 29 }),
        processRssBytes: async () => 1 << 27,
      },
      sleep: async (_ms, signal) => {
        await tick();
        for (const c of controllers) c.abort();
        if (signal?.aborted) throw Object.assign(new Error('aborted'), { name: 'AbortError' });
      },
    },
    { project, log: nullLogger() },
  );
  await oneRoundEach(engine, stats, controllers);
  assert.ok(asked.length > 0, 'a round ran');
  // per round: 2 MiB (always), 1 GiB (pid 1's ht VMA); never 4 GiB (pid 3's range is in no VMA)
  assert.deepEqual([...new Set(asked)].sort((a, b) => a - b), [P, G1]);
  assert.ok(regularAsked > 0, 'regular memory: pid 1 and 2 have VMAs without ht');
});
