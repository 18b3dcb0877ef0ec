/**
 * etmem's `damon` engine (etmemd_damon.c), through DAMON's sysfs interface
 * (etmem wrote the debugfs files target_ids, attrs, schemes, monitor_on,
 * deprecated since Linux 6.9 and removed in 6.14). A `scan_type=region` project's started tasks
 * are the targets of one vaddr kdamond context with the project's
 * monitoring attributes, and one DAMOS scheme: the engine's action on the
 * regions whose size (bytes), access count (per aggregation interval) and
 * age (aggregation intervals) are within [min, max]. The kernel acts; the
 * engine only configures it and reports the scheme's counters.
 *
 * The kdamond comes from the daemon's one DAMON owner
 * (src/scan/damon-contexts.ts), shared with the DAMON trackers: a slot
 * that is off and holds no context, so a kdamond another DAMON user runs
 * is never touched. Each change of the task set rewrites the context
 * (off, write, on), since a vaddr target cannot be swapped while running.
 *
 * etmem's rules kept: every task's pid must be alive when the project
 * starts (etmemd_get_task_pids), else `project start` is OPT_INTER_ERR;
 * the engine has no private commands (eng_mgt_func NULL: OPT_INVAL).
 * Different on purpose: a task added to a started project joins the
 * running context (etmem's damon has no start_task, so the task waited
 * for the next project start).
 */
import type { DamonEngineConfig, EngineConfig, RegionScanConfig, TaskConfig } from '../config/types.js';
import { VirtTierError } from '../errors.js';
import { liveIO, type PlatformIO } from '../platform/io.js';
import { kdamondsFor, type DamonKdamonds } from '../scan/damon-contexts.js';
import { kdamondDir, readSchemeStats, readState, writeSchemeContext, type SchemeStats } from '../scan/damon-sysfs.js';
import type { Engine, EngineFactory, EngineFactoryContext, EngineTask } from './engine.js';

export interface DamonEngineDeps {
  /** DAMON sysfs and /proc; default the live kernel */
  io?: PlatformIO;
  /** the daemon's DAMON owner; default the one of `io` */
  kdamonds?: DamonKdamonds;
  /** ms between reports of the scheme's counters; default the aggregation interval, at least 1 s */
  reportMs?: number;
}

interface Running {
  task: EngineTask;
  pids: number[];
}

class DamonEngine implements Engine {
  readonly name = 'damon';
  private readonly running = new Map<string, Running>();
  private slot: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private generation = 0;
  /** serialises context changes: start and stop of tasks come one at a time */
  private chain: Promise<unknown> = Promise.resolve();
  private readonly io: PlatformIO;
  private readonly kdamonds: DamonKdamonds;
  private readonly region: RegionScanConfig;

  constructor(readonly config: DamonEngineConfig, private readonly deps: DamonEngineDeps, private readonly ctx: EngineFactoryContext) {
    this.io = deps.io ?? liveIO;
    this.kdamonds = deps.kdamonds ?? kdamondsFor(this.io);
    if (!ctx.project.region) throw new TypeError('damon engine: the project has no region attributes');
    this.region = ctx.project.region;
  }

  checkTask(task: TaskConfig): void {
    if (task.type === 'domain') {
      // A domain task resolves its pid each cycle; DAMON's target is one pid, fixed while it runs.
      throw new VirtTierError('OPT_INTER_ERR', `task "${task.name}".type: a damon task targets a pid or a process name`, { field: `task "${task.name}".type`, value: task.type, allowed: 'pid|name' });
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  async startTask(task: EngineTask): Promise<void> {
    const name = task.config.name;
    await this.serial(async () => {
      const pids = await task.resolvePids();
      if (pids.length === 0) {
        throw new VirtTierError('OPT_INTER_ERR', `task "${name}": no live process for ${task.config.type} ${task.config.value}: a damon target must be running when it starts (etmemd_get_task_pids)`, {
          field: `task "${name}".value`,
          value: task.config.value,
          allowed: task.config.type === 'pid' ? 'the pid of a live process' : 'the name of a running process',
        });
      }
      this.running.set(name, { task, pids });
      try {
        await this.apply();
      } catch (err) {
        this.running.delete(name);
        await this.apply().catch(() => undefined);
        throw err instanceof VirtTierError ? err : new VirtTierError('OPT_INTER_ERR', `damon engine: cannot start DAMON for task "${name}": ${err instanceof Error ? err.message : String(err)}`, { field: `task "${name}"` });
      }
    });
  }

  async stopTask(taskName: string): Promise<void> {
    await this.serial(async () => {
      if (!this.running.delete(taskName)) return;
      await this.apply().catch((err: unknown) => this.ctx.log.error('damon engine: cannot rewrite DAMON after a task stopped', { error: err instanceof Error ? err.message : String(err) }));
    });
  }

  /** The context for the running tasks: off, rewritten, on; or off and released when none is left. */
  private async apply(): Promise<void> {
    this.generation++;
    if (this.running.size === 0) {
      this.stopReports();
      if (this.slot !== undefined) {
        const slot = this.slot;
        this.slot = undefined;
        await this.kdamonds.release(slot);
      }
      return;
    }
    if (this.slot === undefined) this.slot = await this.kdamonds.acquire();
    const slot = this.slot;
    const pids = [...new Set([...this.running.values()].flatMap((r) => r.pids))].sort((a, b) => a - b);
    const c = this.config;
    await this.kdamonds.stop(slot);
    const key = `damon-engine ${this.generation} ${pids.join(',')}`;
    await this.kdamonds.start(slot, key, () =>
      writeSchemeContext(this.kdamonds.sysfs, slot, {
        pids,
        sampleUs: this.region.sample_interval,
        aggrUs: this.region.aggr_interval,
        updateUs: this.region.update_interval,
        minNrRegions: this.region.min_nr_regions,
        maxNrRegions: this.region.max_nr_regions,
        scheme: { action: c.action, sizeBytes: { min: c.min_size, max: c.max_size }, nrAccesses: { min: c.min_acc, max: c.max_acc }, age: { min: c.min_age, max: c.max_age } },
      }),
    );
    this.ctx.log.info('damon engine: DAMON on', { slot, pids, action: c.action });
    this.startReports(slot, pids);
  }

  private startReports(slot: number, pids: number[]): void {
    this.stopReports();
    const everyMs = this.deps.reportMs ?? Math.max(1000, Math.ceil(this.region.aggr_interval / 1000));
    const generation = this.generation;
    const report = async (): Promise<void> => {
      let stats: SchemeStats | undefined;
      let state = 'off';
      try {
        state = await readState(this.kdamonds.sysfs, slot);
        if (state === 'on') stats = await readSchemeStats(this.kdamonds.sysfs, slot);
      } catch (err) {
        this.ctx.log.warn('damon engine: cannot read the scheme counters', { error: err instanceof Error ? err.message : String(err) });
      }
      if (generation !== this.generation) return;
      const kdamondPid = state === 'on' ? Number((await this.kdamonds.sysfs.readText(`${kdamondDir(slot)}/pid`).catch(() => '-1')).trim()) : -1;
      for (const r of this.running.values()) {
        r.task.reportStats({ engine: 'damon', timeMs: Date.now(), action: this.config.action, pids, kdamond: { slot, pid: kdamondPid, state }, ...(stats ? { scheme: stats } : {}) });
        // vaddr's kdamond stops by itself once every target has exited.
        if (state !== 'on') r.task.reportEnded(`DAMON stopped: the kdamond is ${state} (its targets exited)`);
      }
      if (state !== 'on') this.stopReports();
    };
    const tick = (): void => {
      void report().finally(() => {
        if (generation === this.generation && this.timer !== undefined) this.timer = setTimeout(tick, everyMs).unref();
      });
    };
    this.timer = setTimeout(tick, Math.min(everyMs, 1000)).unref();
  }

  private stopReports(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  async command(cmd: string): Promise<unknown> {
    // etmem's damon ops have no eng_mgt_func: every engine command is OPT_INVAL.
    throw new VirtTierError('OPT_INVAL', `engine damon has no commands ("${cmd}")`, { field: 'cmd', value: cmd, allowed: 'none (the damon engine has no private commands)' });
  }

  async close(): Promise<void> {
    await this.serial(async () => {
      this.running.clear();
      await this.apply();
    });
  }
}

/** The factory the daemon registers for `damon` (EngineFactories.register('damon', ...)). */
export function createDamonEngineFactory(deps: DamonEngineDeps = {}): EngineFactory {
  return (config: EngineConfig, ctx: EngineFactoryContext) => {
    if (config.name !== 'damon') throw new TypeError('damon factory: not a damon engine config');
    return new DamonEngine(config, deps, ctx);
  };
}
