/**
 * A task's runtime state: whether it runs, its abort controller, the stats
 * its engine last reported, and why it ended if it ended on its own (its
 * target exited). The engine does the work; this is the bookkeeping.
 */
import type { ProjectConfig, TaskConfig } from '../config/types.js';
import type { Engine, EngineTask } from '../runner/engine.js';
import type { Logger } from '../log.js';
import type { TargetResolver } from './targets.js';

export interface TaskView {
  number: number;
  project: string;
  engine: string;
  name: string;
  type: string;
  value: string;
  started: boolean;
  /** why the task stopped on its own, e.g. "target exited (ESRCH)" */
  ended?: string;
  stats?: Record<string, unknown>;
  statsTimeMs?: number;
}

export class TaskRuntime {
  private controller: AbortController | null = null;
  private lastStats: Record<string, unknown> | undefined;
  private lastStatsTimeMs: number | undefined;
  private endedReason: string | undefined;

  constructor(readonly config: TaskConfig, readonly project: ProjectConfig, private readonly engine: Engine, private readonly targets: TargetResolver, private readonly log: Logger) {}

  get running(): boolean {
    return this.controller !== null;
  }

  /**
   * Starts the task in its engine; resolves once it runs. Rejects when the
   * engine could not start it: nothing is left running and `ended` says
   * why. An engine without a start operation leaves the task not started,
   * as etmem leaves a task of an ops table without start_task.
   */
  async start(): Promise<void> {
    if (this.controller || this.engine.canStart === false) return;
    const controller = new AbortController();
    this.controller = controller;
    this.endedReason = undefined;
    const task: EngineTask = {
      config: this.config,
      project: this.project,
      resolvePids: () => this.targets.resolve(this.config),
      signal: controller.signal,
      reportStats: (stats) => {
        this.lastStats = stats;
        this.lastStatsTimeMs = Date.now();
      },
      reportEnded: (reason) => {
        if (this.controller !== controller) return;
        this.endedReason = reason;
        this.log.info('task ended', { reason });
      },
      log: this.log,
    };
    try {
      await this.engine.startTask(task);
    } catch (err) {
      if (this.controller === controller) this.controller = null;
      controller.abort();
      this.endedReason = err instanceof Error ? err.message : String(err);
      throw err;
    }
  }

  async stop(): Promise<void> {
    const controller = this.controller;
    if (!controller) return;
    this.controller = null;
    controller.abort();
    await this.engine.stopTask(this.config.name);
  }

  view(): TaskView {
    return {
      number: 0,
      project: this.config.project,
      engine: this.config.engine,
      name: this.config.name,
      type: this.config.type,
      value: this.config.value,
      started: this.running && this.endedReason === undefined,
      ended: this.endedReason,
      stats: this.lastStats,
      statsTimeMs: this.lastStatsTimeMs,
    };
  }
}
