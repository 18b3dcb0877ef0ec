/**
 * A real daemon registry producing real engine stats for the feed tests:
 * the built-in cslide engine (src/runner/cslide.ts) runs its real task
 * loop over real target processes (`sleep` children, one per task, since a
 * pid is scanned by one task at a time), with the scan observer between it
 * and its tracker, exactly as the daemon wires it. What is simulated is the
 * NUMA host this one-node machine lacks: the tracker reports a 4-node
 * guest-RAM picture whose access counts change every cycle, and the mover
 * applies plans to that picture (test/sim/synthetic.ts), failing moves to
 * a full node with ENOMEM like move_pages(2) on an empty hugetlb pool.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { ConfigDocument, CslideEngineConfig, ProjectConfig, TaskConfig } from '../../src/config/types.js';
import { cslideEngineConfig, projectConfig } from '../../src/config/units.js';
import { createCslideEngineFactory } from '../../src/runner/cslide.js';
import type { NodePools } from '../../src/engines/cslide-policy.js';
import type { HostInfo } from '../../src/runner/host-info.js';
import type { Plan } from '../../src/engines/plan.js';
import { EngineFactories } from '../../src/runner/registry.js';
import { PidClaims } from '../../src/runner/cycle-runner.js';
import { nullLogger } from '../../src/log.js';
import { Registry } from '../../src/model/registry.js';
import { createTargetResolver, pidAlive } from '../../src/model/targets.js';
import type { Mover, MoverLimits, MoveResult } from '../../src/mover/types.js';
import { SysError } from '../../src/native/errors.js';
import type { AccessMap } from '../../src/scan/access-map.js';
import { abortableSleep } from '../../src/scan/idle-pages.js';
import { applyMoves, cloneMap, HUGEPAGE_2M, seededRandom, syntheticMap } from '../sim/synthetic.js';
import { AccessRanges } from '../../src/scan/access-ranges.js';
import type { ScanCycleOptions, ScanTarget, Tracker } from '../../src/scan/tracker.js';
import { ScanObserver } from '../../src/feed/scan-observer.js';

const LOOP = 3;

/** One simulated guest per target pid. */
class Guest {
  map: AccessMap;
  pools: NodePools = { 0: { totalBytes: 96 * HUGEPAGE_2M, freeBytes: 40 * HUGEPAGE_2M }, 1: { totalBytes: 0, freeBytes: 0 }, 2: { totalBytes: 128 * HUGEPAGE_2M, freeBytes: 100 * HUGEPAGE_2M }, 3: { totalBytes: 0, freeBytes: 0 } };
  private readonly random: () => number;
  constructor(pid: number, pages: number) {
    this.random = seededRandom(pid);
    this.map = syntheticMap(
      Array.from({ length: pages }, (_, i) => ({ accessCount: 0, node: i % 17 === 16 ? -1 : i % 3 === 0 ? 2 : 0, swapped: i % 17 === 16, present: i % 17 !== 16 })),
      { pid, loop: LOOP },
    );
  }
  /** New access counts every cycle: a hot band that drifts through the address space. */
  cycle(round: number): AccessMap {
    // mutable copies: the harness edits each cycle's counts in place
    const ranges = this.map.ranges.toArray();
    const n = ranges.length;
    const centre = (round * 7) % n;
    for (const [i, r] of ranges.entries()) {
      const d = Math.min(Math.abs(i - centre), n - Math.abs(i - centre));
      r.accessCount = r.present ? (d < n / 6 ? LOOP : Math.floor(this.random() * 2)) : 0;
    }
    this.map = { ...this.map, ranges: AccessRanges.of(ranges) };
    return { ...cloneMap(this.map), timeMs: Date.now() };
  }
}

export interface Harness {
  registry: Registry;
  scans: ScanObserver;
  children: ChildProcess[];
  taskKeys: string[];
  /** pid of task i's target */
  pids: number[];
  stop(): Promise<void>;
}

/**
 * `tasks` cslide tasks in project "feedtest" (task i named `vm<i>`; task 0
 * is `type=domain` for domain "dom-0" when `domainTask`), all started.
 */
export async function startHarness(opts: { tasks: number; pagesPerTask?: number; cycleSleepMs?: number; heatBuckets?: number; domainTask?: boolean }): Promise<Harness> {
  const children: ChildProcess[] = [];
  for (let i = 0; i < opts.tasks; i++) {
    const child = spawn('sleep', ['600'], { stdio: 'ignore' });
    await once(child, 'spawn');
    children.push(child);
  }
  const pids = children.map((c) => c.pid!);
  const guests = new Map(pids.map((pid) => [pid, new Guest(pid, opts.pagesPerTask ?? 64)]));
  const targets = createTargetResolver({ domainPid: opts.domainTask ? async (name) => (name === 'dom-0' && (await pidAlive(pids[0]!)) ? pids[0]! : null) : null });

  const scans = new ScanObserver({ heatBuckets: opts.heatBuckets ?? 64 });
  let round = 0;
  const tracker = (): Tracker => ({
    name: 'synthetic',
    async scanCycle(target: ScanTarget, o: ScanCycleOptions): Promise<AccessMap> {
      await abortableSleep(2, o.signal);
      const g = guests.get(target.pid);
      if (!g || !(await pidAlive(target.pid))) throw new SysError('ESRCH', 3, 'open', `process ${target.pid} is gone`);
      return g.cycle(round++);
    },
    async close() {},
  });
  const mover: Mover = {
    async execute(plan: Plan, limits: MoverLimits): Promise<MoveResult> {
      const g = guests.get(plan.pid)!;
      if (!limits.allowedPids.has(plan.pid)) throw new Error('pid not allowed');
      const applied = applyMoves(g.map, g.pools, plan);
      g.map = applied.map;
      g.pools = applied.pools;
      const pagesMovedByNode: Record<number, number> = {};
      let up = 0;
      let down = 0;
      for (const m of plan.moves) {
        pagesMovedByNode[m.toNode] = (pagesMovedByNode[m.toNode] ?? 0) + m.pageCount;
        if (m.reason === 'demote') down += m.pageCount * m.pageSizeBytes;
        else up += m.pageCount * m.pageSizeBytes;
      }
      return { pid: plan.pid, pagesMovedByNode, bytesPromoted: up, bytesDemoted: down, bytesSwappedOut: 0, errorsByErrno: applied.failedPages > 0 ? { ENOMEM: applied.failedPages } : {}, durationMs: 1 };
    },
  };
  const hostInfo: HostInfo = {
    hugePagePools: async () => structuredClone(guests.values().next().value!.pools),
    memInfo: async () => ({ totalBytes: 1 << 30, availableBytes: 1 << 29 }),
    processRssBytes: async () => 1 << 27,
  };
  const sleepMs = opts.cycleSleepMs ?? 50;
  const engines = new EngineFactories({
    cslide: createCslideEngineFactory({
      trackerFactory: (_engine, task) => scans.wrapTracker(task, tracker()),
      mover,
      hostInfo,
      pidClaims: new PidClaims(),
      sleep: (_ms, signal) => abortableSleep(sleepMs, signal),
    }),
  });

  const project: ProjectConfig = projectConfig({ name: 'feedtest', loop: LOOP, interval: 1, sleep: 1 });
  const engine: CslideEngineConfig = cslideEngineConfig({ name: 'cslide', project: 'feedtest', node_pair: [{ dram: 0, aep: 2 }], hot_threshold: 2, node_mig_quota: 8, node_hot_reserve: 64 });
  const tasks: TaskConfig[] = pids.map((pid, i) => ({
    project: 'feedtest', engine: 'cslide', name: `vm${i}`,
    type: i === 0 && opts.domainTask ? 'domain' : 'pid', value: i === 0 && opts.domainTask ? 'dom-0' : String(pid),
    params: { vm_flags: ['ht'], anon_only: false, ign_host: false },
  } as TaskConfig));
  const registry = new Registry(nullLogger(), { engines, targets });
  const doc: ConfigDocument = { projects: [project], engines: [engine], tasks };
  await registry.add(doc);
  await registry.start('feedtest');
  return {
    registry,
    scans,
    children,
    pids,
    taskKeys: tasks.map((t) => `feedtest/cslide/${t.name}`),
    async stop() {
      await registry.shutdown();
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    },
  };
}
