import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import type { CslideEngineConfig, ProjectConfig, SlideEngineConfig, TaskConfig } from '../../src/config/types.js';
import { cslideEngineConfig, projectConfig } from '../../src/config/units.js';
import type { EngineTask } from '../../src/runner/engine.js';
import type { Plan } from '../../src/engines/plan.js';
import type { Mover, MoverLimits, MoveResult } from '../../src/mover/types.js';
import type { AccessMap } from '../../src/scan/access-map.js';
import type { Tracker, ScanTarget, ScanCycleOptions } from '../../src/scan/tracker.js';
import type { NodePools } from '../../src/engines/cslide-policy.js';
import { CslideEngine, createCslideEngineFactory } from '../../src/runner/cslide.js';
import { SlideEngine } from '../../src/runner/slide.js';
import { PidClaims, type BuiltinEngineDeps } from '../../src/runner/cycle-runner.js';
import { platformHostInfo, type HostInfo } from '../../src/runner/host-info.js';
import { HOST_PAGES_HEADER, TASK_PAGES_HEADER, formatReportTime } from '../../src/runner/page-report.js';
import { applyMoves, cloneMap, HUGEPAGE_2M, pagesOf, syntheticMap } from '../sim/synthetic.js';
import { MemoryIO } from '../../src/platform/io.js';
import { SysError } from '../../src/native/errors.js';
import { VirtTierError } from '../../src/errors.js';
import { nullLogger } from '../../src/log.js';

const P = HUGEPAGE_2M;
const MB = 1024 * 1024;
/** one daemon's pid claims, shared by the engines of these tests as the wiring shares them */
const pidClaims = new PidClaims();

/** A simulated host: one process's pages and the nodes' hugepage pools; moves change both. */
class World {
  constructor(public map: AccessMap, public pools: NodePools) {}
}

/** Tracker over the world: every cycle returns the current map (counts do not change). */
class SyntheticTracker implements Tracker {
  readonly name = 'synthetic';
  cycles = 0;
  closed = false;
  targets: ScanTarget[] = [];
  constructor(private readonly world: World, private readonly hook?: (t: ScanTarget, o: ScanCycleOptions) => Promise<void>) {}
  async scanCycle(target: ScanTarget, opts: ScanCycleOptions): Promise<AccessMap> {
    this.cycles++;
    this.targets.push(target);
    await this.hook?.(target, opts);
    return { ...cloneMap(this.world.map), pid: target.pid, loop: opts.loop, timeMs: Date.UTC(2026, 10, 24, 12, 0, 0) };
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

/** A recording mover: checks the limits, then applies the plan to the world as the kernel would. */
class RecordingMover implements Mover {
  readonly calls: Array<{ plan: Plan; limits: MoverLimits }> = [];
  constructor(private readonly world: World) {}
  async execute(plan: Plan, limits: MoverLimits): Promise<MoveResult> {
    this.calls.push({ plan, limits });
    if (!limits.allowedPids.has(plan.pid)) throw new Error(`pid ${plan.pid} not allowed`);
    const applied = applyMoves(this.world.map, this.world.pools, plan);
    this.world.map = applied.map;
    this.world.pools = applied.pools;
    const bytes = (dir: 'up' | 'down'): number =>
      plan.moves.filter((m) => (dir === 'up' ? m.reason !== 'demote' : m.reason === 'demote')).reduce((n, m) => n + m.pageCount * m.pageSizeBytes, 0);
    const pagesMovedByNode: Record<number, number> = {};
    for (const m of plan.moves) pagesMovedByNode[m.toNode] = (pagesMovedByNode[m.toNode] ?? 0) + m.pageCount;
    return {
      pid: plan.pid, pagesMovedByNode, bytesPromoted: bytes('up'), bytesDemoted: bytes('down'),
      bytesSwappedOut: plan.swapOuts.reduce((n, s) => n + s.lengthBytes, 0), errorsByErrno: {}, durationMs: 1,
    };
  }
}

function hostInfoOf(world: World, mem = { totalBytes: 100 * MB, availableBytes: 10 * MB }, rssBytes = 64 * MB): HostInfo {
  return {
    hugePagePools: async () => structuredClone(world.pools),
    memInfo: async () => mem,
    processRssBytes: async () => rssBytes,
  };
}

const project: ProjectConfig = projectConfig({ name: 'p', loop: 3, interval: 1, sleep: 1 });

interface FakeTask extends EngineTask {
  stats: Array<Record<string, unknown>>;
  ended: string[];
  controller: AbortController;
}

function fakeTask(config: TaskConfig, pids: () => number[], proj: ProjectConfig = project): FakeTask {
  const controller = new AbortController();
  const t: FakeTask = {
    config,
    project: proj,
    resolvePids: async () => pids(),
    signal: controller.signal,
    stats: [],
    ended: [],
    controller,
    reportStats: (s) => void t.stats.push(s),
    reportEnded: (r) => void t.ended.push(r),
    log: nullLogger(),
  };
  return t;
}

/** A sleep that yields, and aborts the task after `rounds` sleeps. */
function roundsSleep(task: () => FakeTask, rounds: number): BuiltinEngineDeps['sleep'] {
  let n = 0;
  return async (_ms, signal) => {
    await tick();
    if (++n >= rounds) task().controller.abort();
    if (signal?.aborted) throw Object.assign(new Error('aborted'), { name: 'AbortError' });
  };
}

const cslideConfig: CslideEngineConfig = cslideEngineConfig({ name: 'cslide', project: 'p', node_pair: [{ dram: 0, aep: 2 }], hot_threshold: 1, node_mig_quota: 4, node_hot_reserve: 20 });
const cslideTask = (name = 't1', value = '4242'): TaskConfig => ({ project: 'p', engine: 'cslide', name, type: 'pid', value, params: { vm_flags: ['ht'], anon_only: false, ign_host: false } });
const ctx = { project, log: nullLogger() };

async function waitFor(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await tick();
  assert.ok(cond(), `timed out waiting for ${what}`);
}

describe('cslide engine', () => {
  test('cold pages on a DRAM node below its reserve are demoted within quota across rounds, then it converges', async () => {
    // DRAM: 10 task pages (cold), pool 12 pages, 2 free; reserve 20 MB = 10 pages: 8 pages must go, 2 per round (quota 4 MB).
    const world = new World(syntheticMap([...pagesOf(8, 0, 0), ...pagesOf(2, 3, 0)], { loop: 3 }), { 0: { totalBytes: 12 * P, freeBytes: 2 * P }, 2: { totalBytes: 64 * P, freeBytes: 64 * P } });
    const tracker = new SyntheticTracker(world);
    const mover = new RecordingMover(world);
    let task!: FakeTask;
    const engine = new CslideEngine(cslideConfig, { pidClaims, trackerFactory: () => tracker, mover, hostInfo: hostInfoOf(world), sleep: roundsSleep(() => task, 7), now: () => Date.UTC(2026, 10, 24, 12, 0, 5) }, ctx);
    task = fakeTask(cslideTask(), () => [4242]);
    engine.startTask(task);
    await waitFor(() => task.signal.aborted, 'seven rounds');
    // The rounds are over; the task is still the engine's (not stopped), so the host pages show.
    const host = (await engine.command('showhostpages', {})) as string;
    assert.equal(host, [
      `[${formatReportTime(Date.UTC(2026, 10, 24, 12, 0, 5))}] host pages info (KB):`,
      ' node      total       used        hot       cold',
      '    0      24576       4096       4096          0',
      '    2     131072      16384          0      16384',
      '',
    ].join('\n'));
    const hostJson = (await engine.command('showhostpages', { json: true })) as { nodes: Array<{ node: number; totalBytes: number; usedBytes: number }> };
    assert.deepEqual(hostJson.nodes.map((n) => [n.node, n.totalBytes, n.usedBytes]), [[0, 12 * P, 2 * P], [2, 64 * P, 8 * P]]);
    await engine.stopTask('t1');

    assert.equal(tracker.cycles, 7);
    assert.deepEqual(tracker.targets[0], { pid: 4242, filter: { vmFlags: ['ht'], anonOnly: false }, ignHost: false });
    assert.equal(mover.calls.length, 4, 'four rounds with moves, then nothing to do');
    for (const { plan, limits } of mover.calls) {
      assert.deepEqual([...limits.allowedPids], [4242]);
      assert.equal(limits.quotaBytesPerDirection, 4 * MB);
      const demoted = plan.moves.filter((m) => m.reason === 'demote').reduce((n, m) => n + m.pageCount * m.pageSizeBytes, 0);
      assert.equal(demoted, 4 * MB);
      assert.ok(plan.moves.every((m) => m.accessCount === 0 && m.fromNode === 0 && m.toNode === 2), 'only the cold pages go');
    }
    assert.equal(world.pools[0]!.freeBytes, 10 * P, 'DRAM free is back at the reserve');
    assert.deepEqual(task.stats.map((s) => s.demotedBytes), [4 * MB, 4 * MB, 4 * MB, 4 * MB, 0, 0, 0]);
    const first = task.stats[0]!;
    assert.equal(first.engine, 'cslide');
    assert.deepEqual(first.pids, [4242]);
    assert.deepEqual(first.nodes, { 0: { usedBytes: 10 * P, hotBytes: 2 * P, coldBytes: 8 * P } });
    assert.deepEqual(task.stats[6]!.nodes, { 0: { usedBytes: 2 * P, hotBytes: 2 * P, coldBytes: 0 }, 2: { usedBytes: 8 * P, hotBytes: 0, coldBytes: 8 * P } });
    assert.equal(task.stats[6]!.totalDemotedBytes, 16 * MB);
    assert.deepEqual(first.movedInBytesByNode, { 2: 4 * MB });
    assert.ok(tracker.closed, 'the tracker is closed when the task stops');
    assert.deepEqual(task.ended, []);

    // etmem's showtaskpages text, a row per NUMA node with a pool, in KB.
    const text = (await engine.command('showtaskpages', { task: 't1' })) as string;
    assert.equal(text, [
      `[${formatReportTime(Date.UTC(2026, 10, 24, 12, 0, 0))}] task 4242 pages info (KB):`,
      ' node       used        hot       cold',
      '    0       4096       4096          0',
      '    2      16384          0      16384',
      '',
    ].join('\n'));
    const json = (await engine.command('showtaskpages', { task: 't1', json: true })) as { pids: Array<{ pid: number; nodes: Array<{ node: number; usedBytes: number }> }> };
    assert.deepEqual(json.pids[0]!.nodes.map((n) => [n.node, n.usedBytes]), [[0, 2 * P], [2, 8 * P]]);

    // etmem's cslide answers its commands with an error once it has no working pid (cslide_engine_do_cmd).
    await assert.rejects(engine.command('showhostpages', {}), (e: unknown) => e instanceof VirtTierError && e.code === 'OPT_INVAL');
    await engine.close();
  });

  test('hot pages on AEP are promoted (factory path)', async () => {
    const world = new World(syntheticMap(pagesOf(3, 3, 2), { loop: 3 }), { 0: { totalBytes: 32 * P, freeBytes: 32 * P }, 2: { totalBytes: 8 * P, freeBytes: 5 * P } });
    const mover = new RecordingMover(world);
    let task!: FakeTask;
    const engine = await createCslideEngineFactory({ pidClaims, trackerFactory: () => new SyntheticTracker(world), mover, hostInfo: hostInfoOf(world), sleep: roundsSleep(() => task, 2) })(cslideEngineConfig({ ...cslideConfig, node_hot_reserve: 0, node_mig_quota: 1024 }), ctx);
    task = fakeTask(cslideTask(), () => [4242]);
    engine.startTask(task);
    await waitFor(() => task.signal.aborted, 'two rounds');
    await engine.stopTask('t1');
    assert.deepEqual(task.stats.map((s) => s.promotedBytes), [3 * P, 0]);
    assert.ok(world.map.ranges.toArray().every((r) => r.node === 0));
    await engine.close();
  });

  test('ESRCH from the tracker ends the task, visibly, and releases the pid', async () => {
    let alive = true;
    const world = new World(syntheticMap([], { loop: 3 }), {});
    const tracker = new SyntheticTracker(world, async () => {
      alive = false;
      throw new SysError('ESRCH', 3, 'read');
    });
    const engine = new CslideEngine(cslideConfig, { pidClaims, trackerFactory: () => tracker, mover: new RecordingMover(world), hostInfo: hostInfoOf(world) }, ctx);
    const task = fakeTask(cslideTask(), () => (alive ? [4242] : []));
    engine.startTask(task);
    await waitFor(() => task.ended.length > 0, 'the task to end');
    await engine.stopTask('t1');
    assert.deepEqual(task.ended, ['target exited (ESRCH)']);
    assert.ok(tracker.closed);
    assert.deepEqual(pidClaims.list(), []);
  });

  test('a tracker that cannot be created ends the task with the reason', async () => {
    const world = new World(syntheticMap([], { loop: 3 }), {});
    const engine = new CslideEngine(cslideConfig, { pidClaims,
      trackerFactory: () => { throw new VirtTierError('OPT_UNSUPPORTED', 'no access tracker on this host: DAMON vaddr missing'); },
      mover: new RecordingMover(world), hostInfo: hostInfoOf(world),
    }, ctx);
    const task = fakeTask(cslideTask(), () => [4242]);
    engine.startTask(task);
    await waitFor(() => task.ended.length > 0, 'the task to end');
    assert.deepEqual(task.ended, ['failed: no access tracker on this host: DAMON vaddr missing']);
    await engine.close();
  });

  test('a pid task whose process does not exist ends at once', async () => {
    const world = new World(syntheticMap([], { loop: 3 }), {});
    const engine = new CslideEngine(cslideConfig, { pidClaims, trackerFactory: () => new SyntheticTracker(world), mover: new RecordingMover(world), hostInfo: hostInfoOf(world) }, ctx);
    const task = fakeTask(cslideTask(), () => []);
    engine.startTask(task);
    await waitFor(() => task.ended.length > 0, 'the task to end');
    assert.match(task.ended[0]!, /not running/);
    await engine.close();
  });

  test('a domain task with its domain down waits instead of ending', async () => {
    const world = new World(syntheticMap([], { loop: 3 }), {});
    let task!: FakeTask;
    const engine = new CslideEngine(cslideConfig, { pidClaims, trackerFactory: () => new SyntheticTracker(world), mover: new RecordingMover(world), hostInfo: hostInfoOf(world), sleep: roundsSleep(() => task, 3) }, ctx);
    task = fakeTask({ ...cslideTask(), type: 'domain', value: 'vm1' }, () => []);
    engine.startTask(task);
    await waitFor(() => task.signal.aborted, 'three rounds');
    await engine.stopTask('t1');
    assert.deepEqual(task.ended, []);
    assert.equal(task.stats.length, 3);
    assert.deepEqual(task.stats[0]!.pids, []);
  });

  test('a failed target lookup is retried next cycle, not fatal', async () => {
    const world = new World(syntheticMap(pagesOf(1, 3, 0), { loop: 3 }), { 0: { totalBytes: 4 * P, freeBytes: 4 * P }, 2: { totalBytes: 4 * P, freeBytes: 4 * P } });
    let task!: FakeTask;
    const tracker = new SyntheticTracker(world);
    const engine = new CslideEngine(cslideConfig, { pidClaims, trackerFactory: () => tracker, mover: new RecordingMover(world), hostInfo: hostInfoOf(world), sleep: roundsSleep(() => task, 2) }, ctx);
    let calls = 0;
    task = fakeTask({ ...cslideTask(), type: 'domain', value: 'vm1' }, () => {
      if (calls++ === 0) throw new Error('libvirt: connection reset');
      return [4242];
    });
    engine.startTask(task);
    await waitFor(() => task.signal.aborted, 'two rounds');
    await engine.stopTask('t1');
    assert.deepEqual(task.ended, []);
    assert.deepEqual(task.stats[0]!.errors, { resolve: 'libvirt: connection reset' });
    assert.equal(tracker.cycles, 1, 'the second cycle scanned');
  });

  test('two tasks never scan one pid at once: the second skips it while the first holds it', async () => {
    const world = new World(syntheticMap(pagesOf(1, 0, 0), { loop: 3 }), { 0: { totalBytes: 4 * P, freeBytes: 4 * P }, 2: { totalBytes: 4 * P, freeBytes: 4 * P } });
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let scanning = 0;
    let maxConcurrent = 0;
    const slowTracker = new SyntheticTracker(world, async () => {
      maxConcurrent = Math.max(maxConcurrent, ++scanning);
      await held;
      scanning--;
    });
    const fastTracker = new SyntheticTracker(world, async () => {
      maxConcurrent = Math.max(maxConcurrent, ++scanning);
      scanning--;
    });
    let t2!: FakeTask;
    const e1 = new CslideEngine(cslideConfig, { pidClaims, trackerFactory: () => slowTracker, mover: new RecordingMover(world), hostInfo: hostInfoOf(world) }, ctx);
    const e2 = new CslideEngine(cslideConfig, { pidClaims, trackerFactory: () => fastTracker, mover: new RecordingMover(world), hostInfo: hostInfoOf(world), sleep: roundsSleep(() => t2, 1) }, ctx);
    const t1 = fakeTask(cslideTask('a'), () => [777]);
    t2 = fakeTask(cslideTask('b'), () => [777]);
    e1.startTask(t1);
    await waitFor(() => slowTracker.cycles === 1, 'the first scan to start');
    assert.deepEqual(pidClaims.list(), [777]);
    e2.startTask(t2);
    await waitFor(() => t2.stats.length === 1, 'the second task to report');
    assert.equal(fastTracker.cycles, 0, 'the second task did not scan');
    assert.deepEqual(t2.stats[0]!.skippedPids, [777]);
    t1.controller.abort();
    release();
    await e1.stopTask('a');
    await e2.stopTask('b');
    assert.equal(maxConcurrent, 1);
    assert.deepEqual(pidClaims.list(), []);
  });

  test('stopTask resolves promptly while the loop sleeps project.sleep seconds', async () => {
    const world = new World(syntheticMap([], { loop: 3 }), { 0: { totalBytes: 0, freeBytes: 0 } });
    const engine = new CslideEngine(cslideConfig, { pidClaims, trackerFactory: () => new SyntheticTracker(world), mover: new RecordingMover(world), hostInfo: hostInfoOf(world) }, ctx);
    const task = fakeTask(cslideTask(), () => [4242], projectConfig({ ...project, sleep: 1200 }));
    engine.startTask(task);
    await waitFor(() => task.stats.length === 1, 'the first round');
    const t0 = Date.now();
    task.controller.abort();
    await engine.stopTask('t1');
    assert.ok(Date.now() - t0 < 1000, 'the 1200 s sleep was cut short');
  });

  test('checkTask and commands reject bad input naming the field', async () => {
    const world = new World(syntheticMap([], { loop: 3 }), {});
    const engine = new CslideEngine(cslideConfig, { pidClaims, trackerFactory: () => new SyntheticTracker(world), mover: new RecordingMover(world), hostInfo: hostInfoOf(world) }, ctx);
    assert.throws(() => engine.checkTask({ ...cslideTask(), params: { vm_flags: ['sh'], anon_only: false, ign_host: false } }, project), (e: unknown) => e instanceof VirtTierError && e.code === 'OPT_INVAL' && e.field === 'task "t1".vm_flags' && e.allowed === 'ht');
    assert.throws(() => engine.checkTask({ ...cslideTask(), params: { vm_flags: [], anon_only: false, ign_host: false } }, project), /vm_flags/);
    engine.checkTask(cslideTask(), project);
    await assert.rejects(engine.command('showtaskpages', {}), (e: unknown) => e instanceof VirtTierError && e.field === '-t');
    await assert.rejects(engine.command('bogus', {}), (e: unknown) => e instanceof VirtTierError && e.code === 'OPT_INVAL' && e.allowed === 'showtaskpages|showhostpages');
    assert.match((await engine.command('showtaskpages', { task: 'nope' })) as string, /no pages info yet/);
  });
});

describe('slide engine', () => {
  const slideConfig: SlideEngineConfig = { name: 'slide', project: 'p' };
  const slideTask = (params: Record<string, unknown> = {}): TaskConfig => ({ project: 'p', engine: 'slide', name: 's1', type: 'pid', value: '5151', params: { T: 2, ...params } as TaskConfig['params'] });
  const anonMap = (): AccessMap => syntheticMap([...pagesOf(4, 0, 0), ...pagesOf(2, 1, 0), ...pagesOf(2, 3, 0)], { loop: 3, pageSizeBytes: 4096, vmFlags: ['rd', 'wr', 'mr', 'mw', 'me', 'ac'] });

  test('cold anonymous pages are swapped out, coldest first, then nothing is left to swap', async () => {
    const world = new World(anonMap(), {});
    const mover = new RecordingMover(world);
    let task!: FakeTask;
    const engine = new SlideEngine(slideConfig, { pidClaims, trackerFactory: (kind) => { assert.equal(kind, 'slide'); return new SyntheticTracker(world); }, mover, hostInfo: hostInfoOf(world), sleep: roundsSleep(() => task, 2) }, ctx);
    task = fakeTask(slideTask(), () => [5151]);
    engine.startTask(task);
    await waitFor(() => task.signal.aborted, 'two rounds');
    await engine.stopTask('s1');
    assert.equal(mover.calls.length, 1);
    const { plan, limits } = mover.calls[0]!;
    assert.deepEqual([...limits.allowedPids], [5151]);
    assert.deepEqual(plan.swapOuts.map((s) => s.accessCount), [0, 0, 0, 0, 1, 1]);
    assert.deepEqual(task.stats.map((s) => s.swappedOutBytes), [6 * 4096, 0]);
    assert.equal(task.stats[0]!.engine, 'slide');
    assert.equal(task.stats[1]!.totalSwappedOutBytes, 6 * 4096);
    assert.deepEqual(task.stats[0]!.plannedSwapBytesByNode, { 0: 6 * 4096 });
    const text = (await engine.command('showtaskpages', { task: 's1' })) as string;
    // The 2 count-3 pages stay resident (8 KB, hot); the swapped pages are no longer on any node.
    assert.equal(text, `[${formatReportTime(Date.UTC(2026, 10, 24, 12, 0, 0))}] task 5151 pages info (KB):\n node       used        hot       cold\n    0          8          8          0\n`);
    await engine.close();
  });

  test('a held pid (its guest migrating) is neither scanned nor moved, and the stats say why; it is tiered once released', async () => {
    const world = new World(anonMap(), {});
    const mover = new RecordingMover(world);
    const tracker = new SyntheticTracker(world);
    let task!: FakeTask;
    const asked: number[] = [];
    let migrating = true;
    const heldPids = { heldReason: async (pid: number) => (asked.push(pid), migrating ? 'migrating-out' : undefined) };
    const engine = new SlideEngine(slideConfig, { pidClaims, heldPids, trackerFactory: () => tracker, mover, hostInfo: hostInfoOf(world), sleep: async (_ms, signal) => {
      await tick();
      migrating = false;
      if (task.stats.length >= 2) task.controller.abort();
      if (signal?.aborted) throw Object.assign(new Error('aborted'), { name: 'AbortError' });
    } }, ctx);
    task = fakeTask(slideTask(), () => [5151]);
    engine.startTask(task);
    await waitFor(() => task.signal.aborted, 'two rounds');
    await engine.stopTask('s1');
    assert.deepEqual(task.stats[0]!.held, { 5151: 'migrating-out' });
    assert.deepEqual(task.stats[0]!.pids, []);
    assert.equal(tracker.cycles, 1, 'scanned only in the round after the hold');
    assert.equal(mover.calls.length, 1, 'moved only in the round after the hold');
    assert.equal(task.stats[1]!.held, undefined);
    assert.equal(task.stats[1]!.swappedOutBytes, 6 * 4096);
    assert.ok(asked.length >= 3, 'asked at the claim step and again before the moves');
    assert.deepEqual(pidClaims.list(), []);
    await engine.close();
  });

  test('a migration that starts while the group scans: the scan is dropped, nothing moves', async () => {
    const world = new World(anonMap(), {});
    const mover = new RecordingMover(world);
    let migrating = false;
    const tracker = new SyntheticTracker(world, async () => void (migrating = true));
    let task!: FakeTask;
    const heldPids = { heldReason: async () => (migrating ? 'migrating-out' : undefined) };
    const engine = new SlideEngine(slideConfig, { pidClaims, heldPids, trackerFactory: () => tracker, mover, hostInfo: hostInfoOf(world), sleep: roundsSleep(() => task, 1) }, ctx);
    task = fakeTask(slideTask(), () => [5151]);
    engine.startTask(task);
    await waitFor(() => task.signal.aborted, 'one round');
    await engine.stopTask('s1');
    assert.equal(tracker.cycles, 1);
    assert.equal(mover.calls.length, 0);
    assert.deepEqual(task.stats[0]!.held, { 5151: 'migrating-out' });
    await engine.close();
  });

  test('sysmem_threshold: no swap while free memory is at or above it', async () => {
    const world = new World(anonMap(), {});
    const mover = new RecordingMover(world);
    let task!: FakeTask;
    const engine = new SlideEngine(slideConfig, { pidClaims, trackerFactory: () => new SyntheticTracker(world), mover, hostInfo: hostInfoOf(world, { totalBytes: 100 * MB, availableBytes: 50 * MB }), sleep: roundsSleep(() => task, 1) }, ctx);
    task = fakeTask(slideTask(), () => [5151], projectConfig({ ...project, sysmem_threshold: 50 }));
    engine.startTask(task);
    await waitFor(() => task.signal.aborted, 'one round');
    await engine.stopTask('s1');
    assert.equal(mover.calls.length, 0);
    assert.deepEqual(task.stats[0]!.limitedBy, ['sysmem_threshold']);
    assert.equal(task.stats[0]!.coldBytes, 6 * 4096);
  });

  test('checkTask: T within 0..loop*3, dram_percent within (0,100]', () => {
    const world = new World(anonMap(), {});
    const engine = new SlideEngine(slideConfig, { pidClaims, trackerFactory: () => new SyntheticTracker(world), mover: new RecordingMover(world), hostInfo: hostInfoOf(world) }, ctx);
    engine.checkTask(slideTask({ T: 9 }), project);
    engine.checkTask(slideTask({ T: 0 }), project);
    assert.throws(() => engine.checkTask(slideTask({ T: 10 }), project), (e: unknown) => e instanceof VirtTierError && e.field === 'task "s1".T' && e.allowed === '0..9 (loop 3 * 3)' && e.value === '10');
    assert.throws(() => engine.checkTask(slideTask({ T: -1 }), project), /task "s1".T/);
    assert.throws(() => engine.checkTask(slideTask({ T: undefined }), project), /required/);
    assert.throws(() => engine.checkTask(slideTask({ dram_percent: 0 }), project), (e: unknown) => e instanceof VirtTierError && e.allowed === '(0,100]');
    engine.checkTask(slideTask({ dram_percent: 100, swap_threshold_bytes: 1 << 30, swap_flag: true, max_threads: 3 }), project);
  });
});

describe('page reports and host info', () => {
  test('headers are etmem\'s, byte for byte', () => {
    assert.equal(TASK_PAGES_HEADER, ' node       used        hot       cold');
    assert.equal(HOST_PAGES_HEADER, ' node      total       used        hot       cold');
  });

  test('host info reads per-node hugepage pools, meminfo and VmRSS through PlatformIO', async () => {
    const io = new MemoryIO({
      '/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages': '64\n',
      '/sys/devices/system/node/node0/hugepages/hugepages-2048kB/free_hugepages': '10\n',
      '/sys/devices/system/node/node2/hugepages/hugepages-2048kB/nr_hugepages': '32\n',
      '/sys/devices/system/node/node2/hugepages/hugepages-2048kB/free_hugepages': '32\n',
      '/sys/devices/system/node/node1/cpulist': '1\n',
      '/sys/devices/system/node/online': '0-2\n',
      '/proc/meminfo': 'MemTotal:       24000000 kB\nMemFree:         1000000 kB\nMemAvailable:    6000000 kB\n',
      '/proc/77/status': 'Name:\tqemu\nVmRSS:\t  204800 kB\n',
    });
    const info = platformHostInfo(io);
    assert.deepEqual(await info.hugePagePools(P), { 0: { totalBytes: 64 * P, freeBytes: 10 * P }, 1: { totalBytes: 0, freeBytes: 0 }, 2: { totalBytes: 32 * P, freeBytes: 32 * P } });
    // MemFree and SwapCached too: etmem's sysmem_threshold and swap-cache marks compare them.
    assert.deepEqual(await info.memInfo(), { totalBytes: 24000000 * 1024, availableBytes: 6000000 * 1024, freeBytes: 1000000 * 1024, swapCachedBytes: 0 });
    assert.equal(await info.processRssBytes(77), 200 * MB);
    assert.equal(await info.processSwapBytes!(77), 0);
    await assert.rejects(info.processRssBytes(78), (e: unknown) => e instanceof SysError && e.code === 'ESRCH');
  });

  test('host info on this machine: node0 exists, meminfo parses, own RSS is positive', async () => {
    const info = platformHostInfo();
    const pools = await info.hugePagePools(P);
    assert.ok(0 in pools, 'node0 is listed');
    const mem = await info.memInfo();
    assert.ok(mem.totalBytes > 0 && mem.availableBytes > 0 && mem.availableBytes <= mem.totalBytes);
    assert.ok((await info.processRssBytes(process.pid)) > 0);
  });
});
