/**
 * The rounds the built-in engines run (RoundGroup): resolve each task's
 * pids, scan them, plan and move, report stats, sleep `project.sleep`
 * seconds, until the tasks stop.
 *
 * Reading access bits clears them, so two scanners of one process steal
 * each other's data: a pid is scanned by one task at a time, across every
 * engine and project of this daemon (`PidClaims`).
 */
import type { EngineTask } from './engine.js';
import type { ScanTarget, Tracker } from '../scan/tracker.js';
import type { AccessMap } from '../scan/access-map.js';
import type { Mover } from '../mover/types.js';
import type { HostInfo } from './host-info.js';
import { abortableSleep, type SleepFn } from '../sleep.js';
import { isAbortError, isProcessGone } from '../errors.js';

/** What the daemon's wiring gives the built-in engines. */
export interface BuiltinEngineDeps {
  /** The tracker for one task (the daemon picks DAMON, page_idle or idle_pages by probing). */
  trackerFactory(engine: 'slide' | 'cslide', task: EngineTask): Tracker | Promise<Tracker>;
  mover: Mover;
  hostInfo: HostInfo;
  /** the daemon's pid claims, shared by all its engines */
  pidClaims: PidClaims;
  /** pids to leave alone this round (a guest migrating); default: none */
  heldPids?: HeldPids;
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

/**
 * Pids the daemon must not scan or move right now, with why: a guest that
 * migrates (moves would compete with the migration for memory bandwidth),
 * src/virt/migration-holds.ts. Asked at the claim step and again before the
 * round moves anything, since a migration may start while the group scans.
 */
export interface HeldPids {
  heldReason(pid: number): Promise<string | undefined>;
}

/** One pid of one task, scanned this round. */
export interface RoundEntry<T> {
  task: EngineTask;
  pid: number;
  /** the task's target pids this round: the only ones the mover may touch for it */
  allPids: ReadonlySet<number>;
  map: AccessMap;
  /** the task's running totals */
  totals: T;
}

/** What a round gives back for one entry: its stats, or why it failed. */
export type RoundResult<S> = { stats: S; ended?: string } | { error: unknown };

export interface RoundHooks<S, T> {
  /** The task's scan target (filter, ign_host), without the pid. */
  scanTarget(task: EngineTask): Omit<ScanTarget, 'pid'>;
  newTotals(): T;
  /** Plans and executes one round over every scanned entry of the group; one result per entry, in order. */
  round(entries: readonly RoundEntry<T>[]): Promise<Array<RoundResult<S>>>;
  /** Builds a task's stats record from this round's per-pid results. */
  report(task: EngineTask, round: number, perPid: Map<number, S>, extra: { skippedPids: number[]; errors: Record<number, string>; held: Record<number, string> }, totals: T): Record<string, unknown>;
}

interface Member<T> {
  task: EngineTask;
  tracker?: Tracker;
  totals: T;
  round: number;
}

const why = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * Runs rounds over a set of tasks that are planned together: every round
 * resolves each task's pids, scans them (tasks side by side, a task's pids
 * one after another), hands every scan to `round` at once, reports each
 * task's stats, sleeps `project.sleep` seconds. A slide engine keeps one
 * group per task; a cslide engine one group for all its tasks (etmem plans
 * an engine's pids together). A target that is gone (ESRCH) ends a pid or
 * name task, visibly; a domain task waits for its domain to come back.
 * Anything unexpected ends that task, visibly, never the daemon or the
 * group's other tasks.
 */
export class RoundGroup<S, T> {
  private readonly members = new Map<string, Member<T>>();
  private loop: Promise<void> | undefined;
  private current: Promise<void> | undefined;
  private wake = new AbortController();
  private joinedDuringRound = false;

  constructor(private readonly engine: 'slide' | 'cslide', private readonly deps: BuiltinEngineDeps, private readonly hooks: RoundHooks<S, T>) {}

  get size(): number {
    return this.members.size;
  }

  has(name: string): boolean {
    return this.members.has(name);
  }

  /** Adds a started task; its first round starts at once (a sleeping group wakes up). */
  add(task: EngineTask): void {
    this.members.set(task.config.name, { task, totals: this.hooks.newTotals(), round: 0 });
    if (this.current) this.joinedDuringRound = true;
    else this.wake.abort();
    this.loop ??= this.run().finally(() => (this.loop = undefined));
  }

  /** Removes a task (its signal is already aborted): resolves once nothing more will touch its target. */
  async remove(name: string): Promise<void> {
    const member = this.members.get(name);
    if (!member) return;
    await this.current;
    if (this.members.get(name) !== member) return;
    this.members.delete(name);
    await member.tracker?.close().catch(() => undefined);
    if (this.members.size === 0) {
      this.wake.abort();
      await this.loop;
    }
  }

  async removeAll(): Promise<void> {
    await Promise.all([...this.members.keys()].map((n) => this.remove(n)));
    await this.loop;
  }

  private end(member: Member<T>, reason: string): void {
    member.task.reportEnded(reason);
    if (this.members.get(member.task.config.name) === member) this.members.delete(member.task.config.name);
    void member.tracker?.close().catch(() => undefined);
  }

  private async run(): Promise<void> {
    const sleep: SleepFn = this.deps.sleep ?? abortableSleep;
    // Tasks started together (a project start starts them one after another) join the first round together.
    await new Promise<void>((resolve) => setImmediate(resolve));
    for (;;) {
      const active = [...this.members.values()].filter((m) => !m.task.signal.aborted);
      if (active.length === 0) return;
      this.joinedDuringRound = false;
      this.current = this.runRound(active);
      await this.current;
      this.current = undefined;
      const next = [...this.members.values()].filter((m) => !m.task.signal.aborted);
      if (next.length === 0) return;
      if (this.joinedDuringRound) continue;
      this.wake = new AbortController();
      const only = next.length === 1 ? next[0]!.task.signal : undefined;
      const signal = only ? AbortSignal.any([this.wake.signal, only]) : this.wake.signal;
      try {
        await sleep(next[0]!.task.project.sleepMs, signal);
      } catch (err) {
        if (!isAbortError(err) && !signal.aborted) throw err;
      }
    }
  }

  /** A hold check that fails counts as no hold: a broken check must not stop tiering for good. */
  private async heldReason(pid: number): Promise<string | undefined> {
    return this.deps.heldPids?.heldReason(pid).catch(() => undefined);
  }

  private async runRound(active: Member<T>[]): Promise<void> {
    const now = this.deps.now ?? Date.now;
    interface Scanned { member: Member<T>; claimed: number[]; skipped: number[]; held: Record<number, string>; errors: Record<number, string>; gone: number; aborted: boolean; entries: RoundEntry<T>[] }
    const scanned: Scanned[] = [];
    await Promise.all(active.map(async (member) => {
      const { task } = member;
      const state: Scanned = { member, claimed: [], skipped: [], held: {}, errors: {}, gone: 0, aborted: false, entries: [] };
      try {
        member.tracker ??= await this.deps.trackerFactory(this.engine, task);
        let pids: number[];
        try {
          pids = await task.resolvePids();
        } catch (err) {
          // A lookup that failed (libvirt restarting, ...) is retried next round.
          if (task.signal.aborted) return;
          task.log.warn('cannot resolve the task target; retrying next cycle', { error: why(err) });
          task.reportStats({ engine: this.engine, round: member.round++, timeMs: now(), pids: [], errors: { resolve: why(err) } });
          return;
        }
        if (pids.length === 0 && task.config.type !== 'domain') {
          this.end(member, `target ${task.config.type} ${task.config.value} is not running`);
          return;
        }
        const allPids = new Set(pids);
        const target = this.hooks.scanTarget(task);
        scanned.push(state);
        for (const pid of pids) {
          if (task.signal.aborted) break;
          const held = await this.heldReason(pid);
          if (held) {
            state.held[pid] = held;
            continue;
          }
          if (!this.deps.pidClaims.claim(pid)) {
            task.log.warn('another task is scanning this process: skipped this cycle', { pid });
            state.skipped.push(pid);
            continue;
          }
          state.claimed.push(pid);
          try {
            const map = await member.tracker.scanCycle({ ...target, pid }, { loop: task.project.loop, intervalMs: task.project.intervalMs, signal: task.signal });
            state.entries.push({ task, pid, allPids, map, totals: member.totals });
          } catch (err) {
            if (isAbortError(err) || task.signal.aborted) break;
            if (isProcessGone(err)) state.gone++;
            else {
              state.errors[pid] = why(err);
              task.log.error('cycle failed', { pid, error: state.errors[pid] });
            }
          }
        }
      } catch (err) {
        if (!task.signal.aborted) {
          task.log.error('task failed', { error: why(err) });
          this.end(member, `failed: ${why(err)}`);
        }
        state.aborted = true;
      }
    }));
    try {
      const entries: RoundEntry<T>[] = [];
      for (const s of scanned) {
        if (s.aborted || s.member.task.signal.aborted) continue;
        for (const e of s.entries) {
          // a migration that started while the group scanned: nothing moves for it
          const held = await this.heldReason(e.pid);
          if (held) s.held[e.pid] = held;
          else entries.push(e);
        }
      }
      let results: Array<RoundResult<S>> = [];
      try {
        results = entries.length > 0 ? await this.hooks.round(entries) : [];
      } catch (err) {
        results = entries.map(() => ({ error: err }));
      }
      const perTask = new Map<Member<T>, Map<number, S>>();
      entries.forEach((e, i) => {
        const s = scanned.find((x) => x.member.task === e.task)!;
        const r = results[i]!;
        if ('error' in r) {
          if (isAbortError(r.error) || e.task.signal.aborted) return;
          if (isProcessGone(r.error)) s.gone++;
          else {
            s.errors[e.pid] = why(r.error);
            e.task.log.error('cycle failed', { pid: e.pid, error: s.errors[e.pid] });
          }
          return;
        }
        let perPid = perTask.get(s.member);
        if (!perPid) perTask.set(s.member, (perPid = new Map()));
        perPid.set(e.pid, r.stats);
        if (r.ended) s.gone++;
      });
      for (const s of scanned) {
        const { member } = s;
        const { task } = member;
        if (s.aborted || task.signal.aborted) continue;
        try {
          task.reportStats(this.hooks.report(task, member.round++, perTask.get(member) ?? new Map(), { skippedPids: s.skipped, errors: s.errors, held: s.held }, member.totals));
          if (s.gone > 0 && task.config.type !== 'domain' && (await task.resolvePids()).length === 0) this.end(member, 'target exited (ESRCH)');
        } catch (err) {
          if (!task.signal.aborted) {
            task.log.error('task failed', { error: why(err) });
            this.end(member, `failed: ${why(err)}`);
          }
        }
      }
    } finally {
      for (const s of scanned) for (const pid of s.claimed) this.deps.pidClaims.release(pid);
    }
  }
}
