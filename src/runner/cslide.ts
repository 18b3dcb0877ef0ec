/**
 * The built-in cslide engine: for each task, every cycle scans the task's
 * hugetlb VMAs (`vm_flags=ht`) with the injected tracker, reads the nodes'
 * 2 MiB hugepage pools, plans moves between each node pair's DRAM and AEP
 * node (src/engines/cslide-policy.ts) and has the mover execute them within
 * `node_mig_quota`. Private commands: `showtaskpages`, `showhostpages`
 * (etmem's text, or JSON).
 */
import type { CslideEngineConfig, CslideTaskParams, TaskConfig } from '../config/types.js';
import { invalidField, VirtTierError } from '../errors.js';
import { checkMinimaFit, engineDramBudget, type MemoryKinds, type MinimumTask } from '../engines/cslide-minima.js';
import type { EngineFactory } from './engine.js';
import { CSLIDE_PAGE_SIZE_BYTES, hugetlbPool, planHostCslide, toPageMove, type NodePools, type PoolKind } from '../engines/cslide-policy.js';
import type { AccessMap } from '../scan/access-map.js';
import type { BuiltinEngineDeps, RoundResult } from './cycle-runner.js';
import { defineBuiltinEngine, sumCounts, type BuiltinPidStats } from './builtin-engine.js';
import { MoveLedger } from './move-ledger.js';
import { addNodeStats, formatHostPages, hostPagesRows, nodePageStats, type NodePageStats } from './page-report.js';

export { showTaskPages } from './builtin-engine.js';

/** Undone moves are counted within this many rounds even when the thrash guard is off. */
export const PING_PONG_WINDOW_ROUNDS = 3;
/** The kernel's own migration counters reported beside the daemon's bytes (/proc/vmstat). */
const KERNEL_COUNTERS = /^(pgmigrate_success|pgmigrate_fail|numa_pages_migrated|pgdemote_\w+|pgpromote_\w+)$/;

/** What a cslide engine keeps across rounds. */
interface CslideState {
  round: number;
  /** where the engine moved memory recently (intervals per pid: round and target node) */
  moves: MoveLedger;
  /** DRAM nodes under memory pressure (below the low watermark, until above the high one) */
  pressured: Set<number>;
}

interface CslidePidStats extends BuiltinPidStats {
  /** bytes moved back where they were moved from within the ping-pong window */
  pingPongBytes: number;
  /** the kernel's migration counters over this round's moves (the whole host; the same for every task) */
  kernelCounters?: Record<string, number>;
  /** DRAM nodes held under pressure this round */
  pressuredNodes?: number[];
  plannedBytes: { promote: number; prefetch: number; demote: number };
  promotedBytes: number;
  demotedBytes: number;
  /** bytes that reached each node this round (from the mover's per-page status) */
  movedInBytesByNode: Record<number, number>;
}

/** Validates the cslide task keys (the parser checked their forms; this checks what cslide supports). */
export function checkCslideTask(task: TaskConfig): void {
  const p = task.params as Partial<CslideTaskParams>;
  const field = (k: string): string => `task "${task.name}".${k}`;
  if (!Array.isArray(p.vm_flags) || (p.vm_flags.length === 0 && !(p.ram && p.ram.length > 0))) throw invalidField(field('vm_flags'), p.vm_flags ?? '', 'ht (or a `ram` list)', 'required');
  for (const f of p.vm_flags) if (f !== 'ht') throw invalidField(field('vm_flags'), p.vm_flags.join(' '), 'ht', 'unsupported flag');
  if (typeof p.anon_only !== 'boolean') throw invalidField(field('anon_only'), String(p.anon_only), 'yes|no');
  if (typeof p.ign_host !== 'boolean') throw invalidField(field('ign_host'), String(p.ign_host), 'yes|no');
}

/** The memory kinds a cslide task selects: `vm_flags=ht` or `ram=hugetlb` hugetlb, `ram=thp|anon|shared` regular memory. */
export function cslideTaskKinds(params: CslideTaskParams): MemoryKinds {
  const ram = params.ram ?? [];
  return { hugetlb: params.vm_flags.includes('ht') || ram.includes('hugetlb'), regular: ram.some((k) => k !== 'hugetlb') };
}

const GIB = 1 << 30;
const MB = 1 << 20;

/**
 * Refuses an add whose DRAM minima do not fit in the DRAM the engine can
 * use (src/engines/cslide-minima.ts: hugepage pools of its DRAM nodes for
 * hugetlb guests, their MemTotal less those pools for regular memory),
 * naming the first added task that does not fit and the room left for it.
 */
async function checkMinima(config: CslideEngineConfig, deps: BuiltinEngineDeps, existing: readonly TaskConfig[], added: readonly TaskConfig[]): Promise<void> {
  const minimum = (t: TaskConfig): MinimumTask => {
    const p = t.params as CslideTaskParams;
    return { label: t.name, dramMinBytes: p.dram_min_bytes ?? 0, kinds: cslideTaskKinds(p) };
  };
  const adding = added.map(minimum);
  if (!adding.some((t) => t.dramMinBytes > 0)) return;
  const hugePools = [await deps.hostInfo.hugePagePools(CSLIDE_PAGE_SIZE_BYTES), await deps.hostInfo.hugePagePools(GIB)];
  // Without per-node memory figures (a HostInfo that lacks them) regular memory is not limited here.
  const nodeMemory = deps.hostInfo.nodeMemory ? await deps.hostInfo.nodeMemory() : undefined;
  const budget = engineDramBudget(config.node_pair, hugePools, nodeMemory ?? {});
  if (!nodeMemory) budget.regularBytes = Number.MAX_SAFE_INTEGER;
  const verdict = checkMinimaFit(existing.map(minimum), adding, budget);
  if (verdict.ok) return;
  const { task, roomBytes, heldBytes } = verdict;
  const dramNodes = [...new Set(config.node_pair.map((p) => p.dram))].join(',');
  const kind = task.kinds.hugetlb && task.kinds.regular ? 'hugetlb and regular memory' : task.kinds.hugetlb ? 'hugetlb' : 'regular memory';
  const field = `task "${task.label}".dram_min`;
  const allowed = `0..${Math.floor(roomBytes / MB)} (MB left of the engine's DRAM for ${kind})`;
  throw new VirtTierError(
    'OPT_INVAL',
    `${field}: ${task.dramMinBytes / MB} MB does not fit: the engine's DRAM nodes ${dramNodes} have ${Math.floor(budget.hugetlbBytes / MB)} MB in hugepage pools` +
      (nodeMemory ? ` and ${Math.floor(budget.regularBytes / MB)} MB of regular memory` : '') +
      `, of which the minima of the engine's other guests hold ${Math.ceil(heldBytes / MB)} MB; allowed: ${allowed}`,
    { field, value: String(task.dramMinBytes / MB), allowed },
  );
}

/**
 * The pools the guests' pages draw from: the hugepage pool of each hugetlb
 * page size seen, and the nodes' free memory when any page is not hugetlb
 * (THP, 4 KiB, shmem).
 */
async function poolsFor(deps: BuiltinEngineDeps, maps: readonly AccessMap[]): Promise<Partial<Record<PoolKind, NodePools>>> {
  const hugeSizes = new Set<number>([CSLIDE_PAGE_SIZE_BYTES]);
  let regular = false;
  for (const map of maps) {
    let hugetlb = false;
    for (const vma of map.vmas) {
      if (!vma.vmFlags.includes('ht')) regular = true;
      else hugetlb = true;
    }
    // Only ranges in hugetlb VMAs add sizes, and a size already in the set needs no VMA search (2 MiB
    // always is): this searched the VMAs for every range of every map each round.
    if (!hugetlb) continue;
    const { starts, pageSizes } = map.ranges;
    for (let i = 0; i < map.ranges.length; i++) {
      const size = pageSizes[i]!;
      const start = starts[i]!;
      if (size > 4096 && !hugeSizes.has(size) && map.vmas.some((v) => v.vmFlags.includes('ht') && start >= v.start && start < v.end)) hugeSizes.add(size);
    }
  }
  const pools: Partial<Record<PoolKind, NodePools>> = {};
  for (const size of hugeSizes) pools[hugetlbPool(size)] = await deps.hostInfo.hugePagePools(size);
  if (regular && deps.hostInfo.nodeMemory) pools.regular = await deps.hostInfo.nodeMemory();
  return pools;
}

function counterDelta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) if (KERNEL_COUNTERS.test(k)) out[k] = v - (before[k] ?? 0);
  return out;
}

/**
 * The DRAM nodes under memory pressure, with hysteresis: a node enters
 * below `dram_free_low_wmark` MB of MemFree and leaves above
 * `dram_free_high_wmark`. Under pressure the policy promotes nothing to the
 * node and demotes regular memory until MemFree is back at the high mark.
 * Returns node -> high watermark bytes.
 */
async function pressureOf(config: CslideEngineConfig, deps: BuiltinEngineDeps, state: CslideState): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  if (config.dram_free_low_wmark === undefined || config.dram_free_high_wmark === undefined || !deps.hostInfo.nodeMemory) return out;
  const MB = 1 << 20;
  const mem = await deps.hostInfo.nodeMemory();
  for (const { dram } of config.node_pair) {
    const free = mem[dram]?.freeBytes;
    if (free === undefined) continue;
    if (free < config.dram_free_low_wmark * MB) state.pressured.add(dram);
    else if (free > config.dram_free_high_wmark * MB) state.pressured.delete(dram);
    if (state.pressured.has(dram)) out.set(dram, config.dram_free_high_wmark * MB);
  }
  return out;
}

const cslide = defineBuiltinEngine<CslideEngineConfig, CslidePidStats, { promotedBytes: number; demotedBytes: number; pingPongBytes: number }, CslideState>({
  name: 'cslide',
  // etmem plans an engine's pids together: one quota and one reserve for all of its guests.
  scope: 'engine',
  checkTask(task, _project, target) {
    checkCslideTask(task);
    // etmem's cslide_fill_task looks the task's pid up (etmemd_get_task_pids) and refuses the task when the
    // process is not alive: OPT_INTER_ERR. type=domain (virt-tier's own) waits for its guest instead.
    if (!target || (task.type !== 'pid' && task.type !== 'name')) return undefined;
    return target.resolvePids().then((pids) => {
      if (pids.length > 0) return;
      throw new VirtTierError('OPT_INTER_ERR', `task "${task.name}".value: no live process ${task.type === 'pid' ? `with pid ${task.value}` : `named "${task.value}"`}: a cslide task needs its target running when it is added, as etmem`, {
        field: `task "${task.name}".value`,
        value: task.value,
        allowed: task.type === 'pid' ? 'the pid of a live process' : 'the name of a running process',
      });
    });
  },
  checkTaskSet: ({ config, deps, existing, added }) => checkMinima(config, deps, existing, added),
  scanTarget(task) {
    const params = task.config.params as CslideTaskParams;
    return { filter: { vmFlags: params.vm_flags, anonOnly: params.anon_only, ...(params.ram ? { ramKinds: params.ram } : {}) }, ignHost: params.ign_host };
  },
  newTotals: () => ({ promotedBytes: 0, demotedBytes: 0, pingPongBytes: 0 }),
  newEngineState: () => ({ round: 0, moves: new MoveLedger(), pressured: new Set() }),
  async round({ config, deps, entries, state }) {
    const round = ++state.round;
    const quotaBytes = config.nodeMigQuotaBytes;
    const now = deps.now ?? Date.now;
    const pools = await poolsFor(deps, entries.map((e) => e.map));
    // Every task of an engine is in one project: one loop count.
    const loop = entries[0]!.task.project.loop;
    const pressure = await pressureOf(config, deps, state);
    const thrashRounds = config.thrash_rounds ?? 0;
    const thrash = thrashRounds > 0
      ? {
          rounds: thrashRounds,
          margin: config.thrash_margin ?? 1,
          lastMove: (pid: number, start: number) => state.moves.lastMove(pid, start, round),
          movedIn: (pid: number, start: number, end: number) => state.moves.movedIn(pid, start, end, round),
        }
      : undefined;
    const plan = planHostCslide({
      thrash,
      ...(pressure.size > 0 ? { pressure } : {}),
      guests: entries.map((e) => {
        const p = e.task.config.params as CslideTaskParams;
        const share = p.weight !== undefined || p.dram_min_bytes !== undefined || p.dram_max_bytes !== undefined
          ? { weight: p.weight, dramMinBytes: p.dram_min_bytes, dramMaxBytes: p.dram_max_bytes }
          : undefined;
        return { key: `${e.task.config.name}/${e.pid}`, accessMap: e.map, ...(share ? { share } : {}) };
      }),
      nodePairs: config.node_pair,
      hotThreshold: config.hot_threshold,
      quotaBytes,
      hotReserveBytes: config.nodeHotReserveBytes,
      pools,
      loop,
    });
    // Execute in plan order: runs of one pid's moves, one mover call each, all under one quota ledger.
    const quotaUsedBytes = new Map<string, number>();
    const results = entries.map(() => ({ promoted: 0, demoted: 0, pingPong: 0, movedInBytesByNode: {} as Record<number, number>, errorsByErrno: {} as Record<string, number>, ended: undefined as string | undefined, error: undefined as unknown }));
    const countersBefore = plan.moves.length > 0 && deps.hostInfo.vmstat ? await deps.hostInfo.vmstat().catch(() => undefined) : undefined;
    const planned = entries.map(() => ({ promote: 0, prefetch: 0, demote: 0 }));
    for (const m of plan.moves) planned[m.guest]![m.reason] += m.pageCount * m.pageSizeBytes;
    for (let i = 0; i < plan.moves.length; ) {
      const guest = plan.moves[i]!.guest;
      let j = i;
      while (j < plan.moves.length && plan.moves[j]!.guest === guest) j++;
      const entry = entries[guest]!;
      const r = results[guest]!;
      const run = plan.moves.slice(i, j).map(toPageMove);
      i = j;
      if (r.ended !== undefined || r.error !== undefined || entry.task.signal.aborted) continue;
      try {
        const result = await deps.mover.execute({ pid: entry.pid, moves: run, swapOuts: [] }, { quotaBytesPerDirection: quotaBytes, quotaUsedBytes, allowedPids: entry.allPids, signal: entry.task.signal });
        r.promoted += result.bytesPromoted;
        r.demoted += result.bytesDemoted;
        sumCounts(r.movedInBytesByNode, result.bytesMovedByNode ?? Object.fromEntries(Object.entries(result.pagesMovedByNode).map(([node, pages]) => [node, pages * CSLIDE_PAGE_SIZE_BYTES])));
        sumCounts(r.errorsByErrno, result.errorsByErrno);
        r.ended = result.ended;
        r.pingPong += state.moves.record(entry.pid, run, round, Math.max(thrashRounds, PING_PONG_WINDOW_ROUNDS));
      } catch (error) {
        r.error = error;
      }
    }
    state.moves.forgetBefore(round - Math.max(thrashRounds, PING_PONG_WINDOW_ROUNDS));
    const countersAfter = countersBefore && deps.hostInfo.vmstat ? await deps.hostInfo.vmstat().catch(() => undefined) : undefined;
    const kernelCounters = countersBefore && countersAfter ? counterDelta(countersBefore, countersAfter) : undefined;
    const nodeIds = [...new Set(Object.values(pools).flatMap((p) => Object.keys(p ?? {}).map(Number)))].sort((a, b) => a - b);
    return entries.map((e, i): RoundResult<CslidePidStats> => {
      const r = results[i]!;
      if (r.error !== undefined) return { error: r.error };
      e.totals.promotedBytes += r.promoted;
      e.totals.demotedBytes += r.demoted;
      e.totals.pingPongBytes += r.pingPong;
      return {
        stats: {
          report: { pid: e.pid, timeMs: e.map.timeMs || now(), nodes: nodePageStats(e.map, config.hot_threshold) },
          nodeIds,
          plannedBytes: planned[i]!,
          promotedBytes: r.promoted,
          demotedBytes: r.demoted,
          movedInBytesByNode: r.movedInBytesByNode,
          pingPongBytes: r.pingPong,
          ...(kernelCounters ? { kernelCounters } : {}),
          ...(pressure.size > 0 ? { pressuredNodes: [...pressure.keys()] } : {}),
          errorsByErrno: r.errorsByErrno,
          tracker: e.map.tracker,
        },
        ended: r.ended,
      };
    });
  },
  roundFigures(perPid, totals) {
    const planned = { promote: 0, prefetch: 0, demote: 0 };
    const movedInBytesByNode: Record<number, number> = {};
    let promoted = 0;
    let demoted = 0;
    let pingPong = 0;
    for (const s of perPid) {
      sumCounts(planned, s.plannedBytes);
      sumCounts(movedInBytesByNode, s.movedInBytesByNode);
      promoted += s.promotedBytes;
      demoted += s.demotedBytes;
      pingPong += s.pingPongBytes;
    }
    const kernelCounters = perPid.find((s) => s.kernelCounters)?.kernelCounters;
    const pressuredNodes = perPid.find((s) => s.pressuredNodes)?.pressuredNodes;
    return {
      plannedBytes: planned,
      promotedBytes: promoted,
      demotedBytes: demoted,
      movedInBytesByNode,
      totalPromotedBytes: totals.promotedBytes,
      totalDemotedBytes: totals.demotedBytes,
      pingPongBytes: pingPong,
      totalPingPongBytes: totals.pingPongBytes,
      ...(kernelCounters ? { kernelCounters } : {}),
      ...(pressuredNodes ? { pressuredNodes } : {}),
    };
  },
  commands: {
    async showhostpages({ deps, lastStats, startedTasks }, args) {
      // etmem's cslide answers every command with an error while it has no working pid (cslide_engine_do_cmd).
      if (startedTasks.size === 0) {
        throw new VirtTierError('OPT_INVAL', 'showhostpages: no working pid under this cslide engine (it has no started task)', { field: '-e', value: 'cslide', allowed: 'a cslide engine with a started task' });
      }
      const pools = await deps.hostInfo.hugePagePools(CSLIDE_PAGE_SIZE_BYTES);
      const tasks: Record<number, NodePageStats> = {};
      for (const perPid of lastStats.values()) for (const s of perPid.values()) addNodeStats(tasks, s.report.nodes);
      const timeMs = (deps.now ?? Date.now)();
      const rows = hostPagesRows(pools, tasks);
      return args.json ? { timeMs, pageSizeBytes: CSLIDE_PAGE_SIZE_BYTES, nodes: rows } : formatHostPages(timeMs, rows);
    },
  },
});

export const CslideEngine = cslide.Engine;

/** The factory the daemon registers for `cslide` (EngineFactories.register('cslide', ...)). */
export function createCslideEngineFactory(deps: BuiltinEngineDeps): EngineFactory {
  return cslide.factory(deps);
}
