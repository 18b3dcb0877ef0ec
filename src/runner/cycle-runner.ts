/**
 * The task loop shared by the built-in engines: for each started task,
 * resolve its pids, run one engine cycle per pid (scan, plan, move), report
 * stats, sleep `project.sleep` seconds, repeat until the task's signal
 * aborts. A target that is gone (ESRCH) ends a pid or name task, visibly;
 * a domain task waits for its domain to come back.
 *
 * Reading access bits clears them, so two scanners of one process steal
 * each other's data: a pid is scanned by one task at a time, across every
 * engine and project of this daemon (`PidClaims`).
 */
import type { EngineTask } from './engine.js';
import type { Tracker } from '../scan/tracker.js';
import type { Mover } from '../mover/types.js';
import type { HostInfo } from './host-info.js';
import { abortableSleep, type SleepFn } from '../scan/idle-pages.js';
import { isAbortError, isProcessGone } from '../errors.js';

/** What the daemon's wiring gives the built-in engines. */
export interface BuiltinEngineDeps {
  /** The tracker for one task (the daemon picks DAMON, page_idle or idle_pages by probing). */
  trackerFactory(engine: 'slide' | 'cslide', task: EngineTask): Tracker | Promise<Tracker>;
  mover: Mover;
  hostInfo: HostInfo;
  /** the daemon's pid claims, shared by all its engines */
  pidClaims: PidClaims;
  /** default: a timer that rejects with AbortError on the task's signal */
  sleep?: SleepFn;
  /** default: Date.now */
  now?: () => number;
}

/**
 * Which pids are being scanned right now. Reading access bits clears them,
 * so two scanners of one process steal each other's data: one claim set is
 * shared by every engine of a daemon (injected, never process-wide).
 */
export class PidClaims {
  private readonly busy = new Set<number>();

  /** Claims `pid` for one scanner; false when another task holds it. */
  claim(pid: number): boolean {
    if (this.busy.has(pid)) return false;
    this.busy.add(pid);
    return true;
  }

  release(pid: number): void {
    this.busy.delete(pid);
  }

  /** Pids being scanned right now (for tests and `show`). */
  list(): number[] {
    return [...this.busy].sort((a, b) => a - b);
  }
}

/** One engine cycle for one pid: returns that pid's stats, or `ended` when the target went away mid-round. */
export type PidCycle<S> = (pid: number, allPids: ReadonlySet<number>, tracker: Tracker) => Promise<{ stats: S; ended?: string }>;

export interface TaskLoopHooks<S> {
  cycle: PidCycle<S>;
  /** Builds the task's stats record from this round's per-pid results. */
  report(round: number, perPid: Map<number, S>, extra: { skippedPids: number[]; errors: Record<number, string> }): Record<string, unknown>;
}

/** Runs a task's cycles until its signal aborts or its target is gone for good. */
export async function runTaskLoop<S>(task: EngineTask, deps: BuiltinEngineDeps, engine: 'slide' | 'cslide', hooks: TaskLoopHooks<S>): Promise<void> {
  const sleep = deps.sleep ?? abortableSleep;
  const { signal } = task;
  let tracker: Tracker | undefined;
  /** Sleeps `project.sleep` s; false when the task was stopped meanwhile. */
  const sleepOrStop = async (): Promise<boolean> => {
    try {
      await sleep(task.project.sleep * 1000, signal);
      return !signal.aborted;
    } catch (err) {
      if (isAbortError(err) || signal.aborted) return false;
      throw err;
    }
  };
  try {
    tracker = await deps.trackerFactory(engine, task);
    for (let round = 0; !signal.aborted; round++) {
      let pids: number[];
      try {
        pids = await task.resolvePids();
      } catch (err) {
        // A lookup that failed (libvirt restarting, ...) is retried next cycle.
        if (signal.aborted) return;
        const why = err instanceof Error ? err.message : String(err);
        task.log.warn('cannot resolve the task target; retrying next cycle', { error: why });
        task.reportStats({ engine, round, timeMs: (deps.now ?? Date.now)(), pids: [], errors: { resolve: why } });
        if (!(await sleepOrStop())) return;
        continue;
      }
      if (pids.length === 0 && task.config.type !== 'domain') {
        task.reportEnded(`target ${task.config.type} ${task.config.value} is not running`);
        return;
      }
      const allPids = new Set(pids);
      const perPid = new Map<number, S>();
      const skippedPids: number[] = [];
      const errors: Record<number, string> = {};
      let gone = 0;
      for (const pid of pids) {
        if (signal.aborted) return;
        if (!deps.pidClaims.claim(pid)) {
          task.log.warn('another task is scanning this process: skipped this cycle', { pid });
          skippedPids.push(pid);
          continue;
        }
        try {
          const { stats, ended } = await hooks.cycle(pid, allPids, tracker);
          perPid.set(pid, stats);
          if (ended) gone++;
        } catch (err) {
          if (isAbortError(err) || signal.aborted) return;
          if (isProcessGone(err)) gone++;
          else {
            errors[pid] = err instanceof Error ? err.message : String(err);
            task.log.error('cycle failed', { pid, error: errors[pid] });
          }
        } finally {
          deps.pidClaims.release(pid);
        }
      }
      task.reportStats(hooks.report(round, perPid, { skippedPids, errors }));
      if (gone > 0 && task.config.type !== 'domain' && (await task.resolvePids()).length === 0) {
        task.reportEnded('target exited (ESRCH)');
        return;
      }
      if (!(await sleepOrStop())) return;
    }
  } catch (err) {
    // Anything unexpected ends this task, visibly, never the daemon.
    if (!signal.aborted) {
      const why = err instanceof Error ? err.message : String(err);
      task.log.error('task failed', { error: why });
      task.reportEnded(`failed: ${why}`);
    }
  } finally {
    await tracker?.close().catch(() => undefined);
  }
}

/** Book-keeping of the running loops of one engine: start returns at once, stop waits for the loop to end. */
export class TaskLoops {
  private readonly loops = new Map<string, Promise<void>>();

  start(task: EngineTask, run: () => Promise<void>): void {
    const name = task.config.name;
    const done = run().finally(() => {
      if (this.loops.get(name) === done) this.loops.delete(name);
    });
    this.loops.set(name, done);
  }

  /** Waits for the task's loop (its signal is already aborted by the task runtime). */
  async stop(name: string): Promise<void> {
    await this.loops.get(name);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.loops.values()]);
  }

  has(name: string): boolean {
    return this.loops.has(name);
  }
}
