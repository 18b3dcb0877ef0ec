/**
 * The feed's view of the registry: every `refresh()` reads each task once
 * and keeps its JSON entry with a version that grows when the JSON changes,
 * so each client is sent only what changed since it last heard (docs/feed.md).
 */
import type { EngineLogger } from '../runner/engine.js';
import type { TaskRuntime } from '../model/task-runtime.js';
import { MoveErrorCounters } from './metrics.js';
import { taskKey, type ScanObserver } from './scan-observer.js';
import { taskUpdate, type TaskUpdate } from './snapshot.js';

export interface TaskEntry {
  key: string;
  name: string;
  domain?: string;
  /** the task's TaskUpdate as JSON text */
  json: string;
  version: number;
}

export class TaskEntries {
  /** move errors per task over observed rounds, for /metrics */
  readonly moveErrors = new MoveErrorCounters();
  private readonly byKey = new Map<string, TaskEntry>();
  private updates: TaskUpdate[] = [];

  constructor(
    private readonly registry: { tasks(): TaskRuntime[] },
    private readonly log: EngineLogger,
    private readonly scans?: ScanObserver,
  ) {}

  /** entries by task key, in registry order */
  get entries(): ReadonlyMap<string, TaskEntry> {
    return this.byKey;
  }

  /** the TaskUpdates of the last refresh */
  get lastUpdates(): readonly TaskUpdate[] {
    return this.updates;
  }

  /** Reads the registry once; a new version for an entry whose JSON changed; tasks gone are dropped. */
  refresh(): void {
    const updates = this.refreshUpdates();
    const keys = new Set(updates.map((u) => u.key));
    for (const u of updates) {
      const json = JSON.stringify(u);
      const old = this.byKey.get(u.key);
      if (!old) this.byKey.set(u.key, { key: u.key, name: u.name, domain: u.domain, json, version: 1 });
      else if (old.json !== json) {
        old.json = json;
        old.version++;
      }
    }
    for (const k of this.byKey.keys()) if (!keys.has(k)) this.byKey.delete(k);
  }

  /**
   * Reads the registry once into `lastUpdates` (and the move error
   * counters), leaving the entries' JSON to the next `refresh`: what a
   * /metrics scrape needs. The JSON is for feed clients, who are sent
   * entries only at the update timer's refresh, and it was most of a
   * scrape's CPU (issue 11, bench/scale.ts).
   */
  refreshUpdates(): readonly TaskUpdate[] {
    const updates: TaskUpdate[] = [];
    const keys = new Set<string>();
    for (const runtime of this.registry.tasks()) {
      try {
        const view = runtime.view();
        const key = taskKey(view);
        updates.push(taskUpdate(view, this.scans?.get(key), key));
        keys.add(key);
      } catch (err) {
        this.log.warn('feed: cannot read a task', { error: err instanceof Error ? err.message : String(err) });
      }
    }
    for (const u of updates) this.moveErrors.observe(u);
    this.moveErrors.retain(keys);
    this.scans?.retain(keys);
    this.updates = updates;
    return updates;
  }
}
