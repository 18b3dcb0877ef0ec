/**
 * The engine interface. An engine owns the tasks of one project that name
 * it, runs their cycles while the project is started, and answers private
 * commands (`engine showtaskpages`, ...). Built-ins: slide, cslide;
 * thirdparty engines are JS modules implementing the same interface
 * (src/runner/thirdparty.ts).
 */
import type { EngineConfig, ProjectConfig, TaskConfig } from '../config/types.js';
import type { EngineLogger } from '../log.js';

/** The logger an engine gets: the daemon's, scoped to its project and engine. */
export type { EngineLogger };

/** A task as the engine sees it once the project is started. */
export interface EngineTask {
  readonly config: TaskConfig;
  readonly project: ProjectConfig;
  /** Current target pids, resolved afresh (type=name/domain may change between cycles). */
  resolvePids(): Promise<number[]>;
  /** Aborted when the task is stopped or removed; cycles must end promptly. */
  readonly signal: AbortSignal;
  /** Records per-task stats shown by `project show --json`, the feed and metrics. */
  reportStats(stats: Record<string, unknown>): void;
  /** Records that the task ended on its own (target exited): visible in stats. */
  reportEnded(reason: string): void;
  readonly log: EngineLogger;
}

/** A task's target before the task exists: its pids as they are now. */
export interface TaskTarget {
  resolvePids(): Promise<number[]>;
}

export interface Engine {
  /** 'slide', 'cslide' or the thirdparty eng_name */
  readonly name: string;
  readonly config: EngineConfig;
  /**
   * Validates a task before it is added (throws or rejects with VirtTierError naming the field). Must not keep
   * state. `target` resolves the task's pids now, for an engine that needs its target alive at add (cslide, as
   * etmem's cslide_fill_task).
   */
  checkTask(task: TaskConfig, project: ProjectConfig, target?: TaskTarget): void | Promise<void>;
  /**
   * Optional: validates what the engine's tasks ask of it together, once
   * every task of an add passed `checkTask`: `existing` are its tasks now
   * (less those the same change removes), `added` the new ones in document
   * order (cslide: the guests' DRAM minima must fit). Throws or rejects
   * with VirtTierError naming the field. Must not keep state.
   */
  checkTaskSet?(existing: readonly TaskConfig[], added: readonly TaskConfig[], project: ProjectConfig): void | Promise<void>;
  /**
   * false for an engine that has no start operation (a thirdparty plugin
   * without `startTask`, as etmem's ops table may lack `start_task`): its
   * tasks are added but never started, and `project start` of its project
   * fails (etmemd_project.c project_start_engine). Absent means true.
   */
  readonly canStart?: boolean;
  /**
   * Starts running cycles for a task and returns once it runs (cycles go on
   * in the background). Rejects, with nothing left running, when the task
   * could not start: `project start` and an add to a started project then
   * answer OPT_INTER_ERR, as etmem's failing start_task does.
   */
  startTask(task: EngineTask): void | Promise<void>;
  /** Stops a task's cycles; resolves when nothing more will touch its target. */
  stopTask(taskName: string): Promise<void>;
  /** A private command (`showtaskpages`, `showhostpages`, plugin-defined). */
  command(cmd: string, args: { task?: string; json?: boolean }): Promise<unknown>;
  /** Releases everything; called when the engine or its project is removed. */
  close(): Promise<void>;
}

export interface EngineFactoryContext {
  project: ProjectConfig;
  log: EngineLogger;
}

export type EngineFactory = (config: EngineConfig, ctx: EngineFactoryContext) => Promise<Engine> | Engine;
