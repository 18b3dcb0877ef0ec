/**
 * A task whose memory kind the chosen tracker cannot see (issue 15, "Bad
 * input"): a hugetlb guest under the damon-paddr tracker (paddr never sees
 * hugetlb pages accessed). Its cycles are refused with a clear error naming
 * the tracker and what it can see, visible in that task's stats, and the
 * engine's other guest is planned and moved exactly as it is alone.
 * The refusing tracker is the real DamonPaddrTracker over a recorded sysfs
 * and procfs tree (fixture: this host's kernel has no paddr kdamond to lend).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import type { ProjectConfig, TaskConfig } from '../../src/config/types.js';
import type { EngineTask } from '../../src/runner/engine.js';
import type { Mover, MoveResult } from '../../src/mover/types.js';
import type { Tracker } from '../../src/scan/tracker.js';
import type { KernelOps } from '../../src/native/kernel.js';
import { CslideEngine } from '../../src/runner/cslide.js';
import { PidClaims } from '../../src/runner/cycle-runner.js';
import { cslideEngineConfig, projectConfig } from '../../src/config/units.js';
import { DamonPaddrTracker } from '../../src/scan/damon-paddr.js';
import { DamonKdamonds } from '../../src/scan/damon-contexts.js';
import { KDAMONDS } from '../../src/scan/damon-sysfs.js';
import { MemoryIO } from '../../src/platform/io.js';
import { cloneMap, HUGEPAGE_2M, pagesOf, syntheticMap } from '../sim/synthetic.js';
import { nullLogger } from '../../src/log.js';

const P = HUGEPAGE_2M;
const HT_PID = 4321;
const THP_PID = 4400;
const project: ProjectConfig = projectConfig({ name: 'p', loop: 3, interval: 1, sleep: 1 });

function hugetlbGuestTree(): MemoryIO {
  const va = 0x7f0000000000;
  return new MemoryIO({
    [`${KDAMONDS}/nr_kdamonds`]: '1\n',
    [`${KDAMONDS}/0/state`]: 'off\n',
    [`${KDAMONDS}/0/pid`]: '-1\n',
    [`${KDAMONDS}/0/contexts/nr_contexts`]: '0\n',
    [`/proc/${HT_PID}/stat`]: `${HT_PID} (guest) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 777 0 0\n`,
    [`/proc/${HT_PID}/smaps`]: [`${va.toString(16)}-${(va + 4 * P).toString(16)} rw-s 00000000 00:10 1 /dev/hugepages/g`, 'KernelPageSize:     2048 kB', 'VmFlags: rd wr sh mr mw me ms de ht sd', ''].join('\n'),
  }, { createOnWrite: true });
}

function task(name: string, pid: number, params: Record<string, unknown>, stats: Array<Record<string, unknown>>, controller: AbortController): EngineTask {
  const config = { project: 'p', engine: 'cslide', name, type: 'pid', value: String(pid), params: { anon_only: false, ign_host: false, ...params } } as TaskConfig;
  return { config, project, resolvePids: async () => [pid], signal: controller.signal, reportStats: (s) => void stats.push(s), reportEnded: () => undefined, log: nullLogger() };
}

/** Runs `rounds` rounds of one engine over the THP guest, and the hugetlb guest under damon-paddr when `withBlind`. */
async function run(withBlind: boolean, rounds: number): Promise<{ thp: Array<Record<string, unknown>>; ht: Array<Record<string, unknown>>; moves: string[]; closed: boolean }> {
  const thpMap = syntheticMap(pagesOf(6, 3, 2), { loop: 3, pid: THP_PID, baseAddress: 0x7e0000000000 });
  const thpTracker: Tracker = { name: 'synthetic', scanCycle: async () => { await tick(); return cloneMap(thpMap); }, close: async () => undefined };
  const io = hugetlbGuestTree();
  const kernel = { readPagemap: async () => { throw new Error('paddr must refuse before reading pagemap'); } } as unknown as KernelOps;
  const blind = new DamonPaddrTracker({ io, kernel, kdamonds: new DamonKdamonds(io), mode: 'owned' });
  const moves: string[] = [];
  const mover: Mover = {
    async execute(plan): Promise<MoveResult> {
      for (const m of plan.moves) moves.push(`${plan.pid}:${m.start.toString(16)}x${m.pageCount} ${m.fromNode}->${m.toNode}`);
      const up = plan.moves.filter((m) => m.reason !== 'demote').reduce((n, m) => n + m.pageCount * m.pageSizeBytes, 0);
      return { pid: plan.pid, pagesMovedByNode: { 0: up / P }, bytesPromoted: up, bytesDemoted: 0, bytesSwappedOut: 0, errorsByErrno: {}, durationMs: 1 };
    },
  };
  const controllers = [new AbortController(), new AbortController()];
  const thp: Array<Record<string, unknown>> = [];
  const ht: Array<Record<string, unknown>> = [];
  let sleeps = 0;
  const engine = new CslideEngine(
    cslideEngineConfig({ name: 'cslide', project: 'p', node_pair: [{ dram: 0, aep: 2 }], hot_threshold: 2, node_mig_quota: 4, node_hot_reserve: 0 }),
    {
      pidClaims: new PidClaims(),
      trackerFactory: (_kind, t) => (t.config.name === 'ht' ? blind : thpTracker),
      mover,
      hostInfo: {
        hugePagePools: async () => ({ 0: { totalBytes: 64 * P, freeBytes: 64 * P }, 2: { totalBytes: 64 * P, freeBytes: 64 * P } }),
        nodeMemory: async () => ({ 0: { totalBytes: 1 << 30, freeBytes: 1 << 29 }, 2: { totalBytes: 1 << 30, freeBytes: 1 << 29 } }),
        memInfo: async () => ({ totalBytes: 1 << 30, availableBytes: 1 << 29 }),
        processRssBytes: async () => 1 << 27,
      },
      sleep: async (_ms, signal) => {
        await tick();
        if (++sleeps >= rounds) for (const c of controllers) c.abort();
        if (signal?.aborted) throw Object.assign(new Error('aborted'), { name: 'AbortError' });
      },
    },
    { project, log: nullLogger() },
  );
  const tasks = [task('thp', THP_PID, { vm_flags: [], ram: ['thp'] }, thp, controllers[0]!)];
  if (withBlind) tasks.push(task('ht', HT_PID, { vm_flags: ['ht'] }, ht, controllers[1]!));
  for (const t of tasks) engine.startTask(t);
  for (let i = 0; i < 4000 && (thp.length < rounds || (withBlind && ht.length < rounds)); i++) await tick();
  for (const t of tasks) await engine.stopTask(t.config.name);
  await engine.close();
  return { thp, ht, moves, closed: io.files.get(`${KDAMONDS}/0/state`)?.trim() === 'off' };
}

test('a hugetlb guest under damon-paddr: its cycles refused with the tracker and what it can see, the other guest unchanged', async () => {
  const alone = await run(false, 2);
  const beside = await run(true, 2);
  assert.equal(beside.ht.length, 2, 'the refused task reports every round');
  for (const s of beside.ht) {
    const errors = Object.values((s.errors ?? {}) as Record<string, string>);
    assert.equal(errors.length, 1, JSON.stringify(s));
    assert.match(errors[0]!, /damon-paddr cannot see hugetlb memory \(pid 4321, VMA 7f0000000000-7f0000800000, 2048 KiB pages\).*use --tracker damon-vaddr or idle-pages, or select THP\/anonymous guest RAM/);
    assert.equal(s.promotedBytes, 0);
  }
  assert.ok(beside.closed, 'no kdamond was started for it');
  assert.ok(alone.moves.length > 0, 'the THP guest is tiered');
  assert.deepEqual(beside.moves, alone.moves, 'the THP guest moves exactly as it does alone');
  const figures = (s: Record<string, unknown>) => [s.round, s.plannedBytes, s.promotedBytes, s.demotedBytes, s.errorsByErrno, s.errors];
  assert.deepEqual(beside.thp.map(figures), alone.thp.map(figures), 'and reports the same rounds');
});
