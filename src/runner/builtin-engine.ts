/**
 * The shell every built-in engine shares: rounds over its started tasks
 * (src/runner/cycle-runner.ts, one group per task or one for the whole
 * engine), the last per-pid stats kept for `showtaskpages`, each task's
 * round stats summed over its pids, private commands dispatched by name,
 * stop and close. An engine is defined by what differs: what a task scans,
 * how a round's scans become moves (policy, mover), which figures it
 * reports (`defineBuiltinEngine`).
 */
import type { EngineConfig, ProjectConfig, SlideEngineConfig, CslideEngineConfig, TaskConfig } from '../config/types.js';
import { VirtTierError } from '../errors.js';
import type { ScanTarget } from '../scan/tracker.js';
import type { Engine, EngineFactory, EngineFactoryContext, EngineTask, TaskTarget } from './engine.js';
import { RoundGroup, type BuiltinEngineDeps, type RoundEntry, type RoundResult } from './cycle-runner.js';
import { addNodeStats, formatTaskPages, type NodePageStats, type TaskPagesReport } from './page-report.js';

/** What every built-in engine keeps per pid and round. */
export interface BuiltinPidStats {
  report: TaskPagesReport;
  /** NUMA nodes of the host when the stats were taken (rows of showtaskpages) */
  nodeIds: number[];
  errorsByErrno: Record<string, number>;
  tracker: string;
}

type BuiltinConfig = SlideEngineConfig | CslideEngineConfig;

export interface BuiltinEngineSpec<C extends BuiltinConfig, S extends BuiltinPidStats, T, E = undefined> {
  name: C['name'];
  /**
   * 'engine': every task of the engine is planned in one round together
   * (cslide, as etmem plans an engine's pids); 'task': each task on its own.
   */
  scope: 'engine' | 'task';
  /** Validates a task's keys against the project (throws VirtTierError naming the field). */
  checkTask(task: TaskConfig, project: ProjectConfig, target?: TaskTarget): void | Promise<void>;
  /** Validates the engine's tasks together after an add (Engine.checkTaskSet); may read host facts through deps. */
  checkTaskSet?(input: { config: C; deps: BuiltinEngineDeps; existing: readonly TaskConfig[]; added: readonly TaskConfig[] }): Promise<void>;
  /** What a task scans (VMA filter, ign_host). */
  scanTarget(task: EngineTask): Omit<ScanTarget, 'pid'>;
  /** The running totals of a task, fresh when it starts. */
  newTotals(): T;
  /** What the engine keeps across rounds (move history, pressure state), fresh per engine. */
  newEngineState?(): E;
  /** Plans and executes one round over the scanned entries; one result per entry, in order. */
  round(input: { config: C; deps: BuiltinEngineDeps; entries: readonly RoundEntry<T>[]; state: E }): Promise<Array<RoundResult<S>>>;
  /** The engine's own figures of a task's round, summed over its pids (placed between `nodes` and `errorsByErrno`). */
  roundFigures(perPid: readonly S[], totals: T): Record<string, unknown>;
  /** Private commands besides `showtaskpages`. */
  commands?: Record<string, (ctx: { config: C; deps: BuiltinEngineDeps; lastStats: ReadonlyMap<string, ReadonlyMap<number, S>>; startedTasks: ReadonlySet<string> }, args: CommandArgs) => Promise<unknown>>;
}

export interface CommandArgs {
  task?: string;
  json?: boolean;
}

/** Adds `from`'s counts into `into` (errno counts, bytes by node, ...). */
export function sumCounts<K extends string | number>(into: Record<K, number>, from: Record<K, number>): Record<K, number> {
  for (const [k, v] of Object.entries(from) as Array<[K, number]>) into[k] = (into[k] ?? 0) + v;
  return into;
}

class BuiltinEngine<C extends BuiltinConfig, S extends BuiltinPidStats, T, E> implements Engine {
  readonly name: string;
  /** 'engine' scope: the one group; 'task' scope: a group per task */
  private readonly groups = new Map<string, RoundGroup<S, T>>();
  /** last stats per task, per pid */
  private readonly lastStats = new Map<string, Map<number, S>>();
  /** the tasks started and not stopped (etmem's "working" tasks of an engine) */
  private readonly startedTasks = new Set<string>();

  private readonly state: E;

  constructor(readonly config: C, private readonly spec: BuiltinEngineSpec<C, S, T, E>, private readonly deps: BuiltinEngineDeps, readonly ctx: EngineFactoryContext) {
    this.name = spec.name;
    this.state = spec.newEngineState ? spec.newEngineState() : (undefined as E);
  }

  checkTask(task: TaskConfig, project: ProjectConfig, target?: TaskTarget): void | Promise<void> {
    return this.spec.checkTask(task, project, target);
  }

  async checkTaskSet(existing: readonly TaskConfig[], added: readonly TaskConfig[]): Promise<void> {
    await this.spec.checkTaskSet?.({ config: this.config, deps: this.deps, existing, added });
  }

  private groupFor(taskName: string): RoundGroup<S, T> {
    const key = this.spec.scope === 'engine' ? '' : taskName;
    let group = this.groups.get(key);
    if (!group) {
      const now = this.deps.now ?? Date.now;
      group = new RoundGroup<S, T>(this.spec.name, this.deps, {
        scanTarget: (task) => this.spec.scanTarget(task),
        newTotals: () => this.spec.newTotals(),
        round: async (entries) => {
          const results = await this.spec.round({ config: this.config, deps: this.deps, entries, state: this.state });
          entries.forEach((e, i) => {
            const r = results[i];
            if (r && 'stats' in r) this.lastStats.get(e.task.config.name)?.set(e.pid, r.stats);
          });
          return results;
        },
        report: (_task, round, perPid, extra, totals) => {
          const all = [...perPid.values()];
          const nodes: Record<number, NodePageStats> = {};
          const errorsByErrno: Record<string, number> = {};
          for (const s of all) {
            addNodeStats(nodes, s.report.nodes);
            sumCounts(errorsByErrno, s.errorsByErrno);
          }
          return {
            engine: this.spec.name,
            round,
            timeMs: now(),
            pids: [...perPid.keys()],
            tracker: all[0]?.tracker,
            nodes,
            ...this.spec.roundFigures(all, totals),
            errorsByErrno,
            ...(extra.skippedPids.length > 0 ? { skippedPids: extra.skippedPids } : {}),
            // pid -> why it was left alone this round ('migrating-out', ...): nothing was scanned or moved for it
            ...(Object.keys(extra.held).length > 0 ? { held: extra.held } : {}),
            ...(Object.keys(extra.errors).length > 0 ? { errors: extra.errors } : {}),
          };
        },
      });
      this.groups.set(key, group);
    }
    return group;
  }

  startTask(task: EngineTask): void {
    this.lastStats.set(task.config.name, new Map());
    this.startedTasks.add(task.config.name);
    this.groupFor(task.config.name).add(task);
  }

  async stopTask(taskName: string): Promise<void> {
    const key = this.spec.scope === 'engine' ? '' : taskName;
    this.startedTasks.delete(taskName);
    const group = this.groups.get(key);
    if (!group) return;
    await group.remove(taskName);
    if (group.size === 0 && this.groups.get(key) === group) this.groups.delete(key);
  }

  async command(cmd: string, args: CommandArgs): Promise<unknown> {
    if (cmd === 'showtaskpages') return showTaskPages(this.lastStats, args);
    const own = this.spec.commands?.[cmd];
    if (own) return own({ config: this.config, deps: this.deps, lastStats: this.lastStats, startedTasks: this.startedTasks }, args);
    const allowed = ['showtaskpages', ...Object.keys(this.spec.commands ?? {})].join('|');
    throw new VirtTierError('OPT_INVAL', `engine ${this.spec.name} has no command "${cmd}"`, { field: 'cmd', value: cmd, allowed });
  }

  async close(): Promise<void> {
    await Promise.all([...this.groups.values()].map((g) => g.removeAll()));
    this.groups.clear();
    this.lastStats.clear();
    this.startedTasks.clear();
  }
}

/** `showtaskpages` over an engine's last stats: etmem's text per pid, or JSON. */
export function showTaskPages(lastStats: ReadonlyMap<string, ReadonlyMap<number, BuiltinPidStats>>, args: CommandArgs): unknown {
  if (args.task === undefined) throw new VirtTierError('OPT_INVAL', 'showtaskpages needs a task (-t TASK)', { field: '-t', value: '', allowed: 'a task name of this engine' });
  const perPid = lastStats.get(args.task);
  const reports = perPid ? [...perPid.values()] : [];
  if (args.json) {
    return { task: args.task, pids: reports.map((s) => ({ pid: s.report.pid, timeMs: s.report.timeMs, nodes: s.nodeIds.map((node) => ({ node, ...(s.report.nodes[node] ?? { usedBytes: 0, hotBytes: 0, coldBytes: 0 }) })) })) };
  }
  if (reports.length === 0) return `task ${args.task}: no pages info yet (its first cycle has not finished)\n`;
  return reports.map((s) => formatTaskPages(s.report, s.nodeIds)).join('');
}

/** The engine class a spec defines (tests construct it directly). */
export type BuiltinEngineClass<C extends BuiltinConfig> = new (config: C, deps: BuiltinEngineDeps, ctx: EngineFactoryContext) => Engine;

/**
 * Defines a built-in engine from its spec: the class (constructed with the
 * engine config, the daemon's deps and the factory context) and the
 * factory the daemon registers for it.
 */
export function defineBuiltinEngine<C extends BuiltinConfig, S extends BuiltinPidStats, T, E = undefined>(spec: BuiltinEngineSpec<C, S, T, E>): { Engine: BuiltinEngineClass<C>; factory(deps: BuiltinEngineDeps): EngineFactory } {
  const Engine = class extends BuiltinEngine<C, S, T, E> {
    constructor(config: C, deps: BuiltinEngineDeps, ctx: EngineFactoryContext) {
      super(config, spec, deps, ctx);
    }
  };
  return {
    Engine,
    factory: (deps) => (config: EngineConfig, ctx: EngineFactoryContext) => {
      if (config.name !== spec.name) throw new TypeError(`${spec.name} factory: not a ${spec.name} engine config`);
      return new Engine(config as C, deps, ctx);
    },
  };
}
