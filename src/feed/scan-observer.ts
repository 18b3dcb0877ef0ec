/**
 * Watches the trackers the engines use, for the feed and /metrics: how long
 * each scan cycle took, how many failed and why, how much memory was
 * present or swapped, and the heat strip of the last cycle. Engine stats
 * carry per-node totals only; the address-ordered picture (the live view's
 * heat map) and scan timing come from here.
 *
 * The daemon's wiring puts it between the engines and their trackers:
 *
 *   trackerFactory: (engine, task) => scans.wrapTracker(task, createTracker(choice, engine))
 *
 * Records are keyed like the feed's tasks (`project/engine/name`).
 */
import type { EngineTask } from '../runner/engine.js';
import type { AccessMap } from '../scan/access-map.js';
import type { AccessRanges } from '../scan/access-ranges.js';
import type { ScanCycleOptions, ScanTarget, Tracker } from '../scan/tracker.js';
import { DEFAULT_HEAT_BUCKETS, summarizeMap, type HeatStrip } from './heat.js';
import { HeatHistory } from './heat-history.js';
import { isAbortError } from '../errors.js';

export interface ScanRecord {
  tracker: string;
  scans: number;
  /** sum of all cycle durations */
  scanSecondsTotal: number;
  /** the last successful cycle */
  lastScanMs?: number;
  lastScanTimeMs?: number;
  /** failed cycles by error code (errno name, or the error's name); aborts (task stopped) are not failures */
  errorsByCode: Record<string, number>;
  lastError?: string;
  presentBytes: number;
  swappedBytes: number;
  heat?: HeatStrip;
  /** the heat strips of the last HEAT_HISTORY_CYCLES cycles (for `virt-tier report`): `strips()`, oldest first */
  heatHistory: HeatHistory;
  /** the last cycle's access counts per pid (for migrate-hints hot/cold); read them with ScanObserver.accessForPid */
  accessByPid: Map<number, KeptAccess>;
}

/** What migrate-hints reads for a pid: the present ranges as [start, pageCount, pageSizeBytes, accessCount]. */
export interface PidAccess {
  loop: number;
  timeMs: number;
  tracker: string;
  hotThreshold?: number;
  ranges: Array<[number, number, number, number]>;
}

/**
 * A PidAccess as it is kept between cycles: the cycle's map's own ranges
 * (columns, never changed once the tracker returns them), read only when
 * migrate-hints asks, so the cycle copies nothing (issue 11,
 * bench/scale.ts).
 */
interface KeptAccess extends Omit<PidAccess, 'ranges'> {
  ranges: AccessRanges;
}

function presentRanges(a: KeptAccess): PidAccess {
  const out: Array<[number, number, number, number]> = [];
  const { starts, pageCounts, pageSizes, accessCounts } = a.ranges;
  for (let i = 0; i < a.ranges.length; i++) if (a.ranges.isPresent(i)) out.push([starts[i]!, pageCounts[i]!, pageSizes[i]!, accessCounts[i]!]);
  return { loop: a.loop, timeMs: a.timeMs, tracker: a.tracker, hotThreshold: a.hotThreshold, ranges: out };
}

/** One part of a task key: `%` and `/` percent-encoded, so a `/` inside a name cannot fake a separator. */
function keyPart(s: string): string {
  // most names have neither: one scan instead of two replaces (the feed keys every task every second)
  return s.includes('%') || s.includes('/') ? s.replace(/%/g, '%25').replace(/\//g, '%2F') : s;
}

/**
 * `project/engine/name`: how the feed, metrics and the observer name a task.
 * Each part has `%` and `/` percent-encoded (docs/feed.md), so the key is
 * unambiguous ("a/b" in project "p" and project "p/a" with task "b" differ)
 * and a key without those characters reads as it always did.
 */
export function taskKey(t: { project: string; engine: string; name: string }): string {
  return `${keyPart(t.project)}/${keyPart(t.engine)}/${keyPart(t.name)}`;
}

function errorCode(err: unknown): string {
  const e = err as { code?: unknown; name?: unknown };
  if (typeof e?.code === 'string' && e.code !== '') return e.code;
  if (typeof e?.name === 'string' && e.name !== '') return e.name;
  return 'Error';
}

/** slide's T (task key); cslide's hot_threshold is an engine key the task does not carry. */
function hotThresholdOf(task: EngineTask): number | undefined {
  const t = (task.config.params as { T?: unknown } | undefined)?.T;
  return typeof t === 'number' && Number.isFinite(t) ? t : undefined;
}

/** How many cycles of heat strips a task keeps: 3 bytes per bucket, 128 buckets x 120 cycles is 45 KiB a task (src/feed/heat-history.ts). */
export const HEAT_HISTORY_CYCLES = 120;

export class ScanObserver {
  private readonly records = new Map<string, ScanRecord>();

  constructor(private readonly opts: { heatBuckets?: number; now?: () => number } = {}) {}

  /** A tracker that does what `tracker` does and records each cycle under the task's key. */
  async wrapTracker(task: EngineTask, tracker: Tracker | Promise<Tracker>): Promise<Tracker> {
    const inner = await tracker;
    const key = taskKey(task.config);
    const now = this.opts.now ?? (() => performance.now());
    const record = (): ScanRecord => {
      let r = this.records.get(key);
      if (!r) {
        r = { tracker: inner.name, scans: 0, scanSecondsTotal: 0, errorsByCode: {}, presentBytes: 0, swappedBytes: 0, accessByPid: new Map(), heatHistory: new HeatHistory(HEAT_HISTORY_CYCLES, this.opts.heatBuckets ?? DEFAULT_HEAT_BUCKETS) };
        this.records.set(key, r);
      }
      return r;
    };
    record();
    const buckets = this.opts.heatBuckets ?? DEFAULT_HEAT_BUCKETS;
    return {
      name: inner.name,
      scanCycle: async (target: ScanTarget, opts: ScanCycleOptions): Promise<AccessMap> => {
        const t0 = now();
        try {
          const map = await inner.scanCycle(target, opts);
          const r = record();
          const ms = now() - t0;
          r.tracker = map.tracker || inner.name;
          r.scans++;
          r.scanSecondsTotal += ms / 1000;
          r.lastScanMs = ms;
          r.lastScanTimeMs = Date.now();
          // one pass over the ranges: totals and heat strip
          const summary = summarizeMap(map, buckets);
          r.presentBytes = summary.presentBytes;
          r.swappedBytes = summary.swappedBytes;
          r.heat = summary.heat;
          r.heatHistory.push(r.heat);
          r.accessByPid.set(map.pid, {
            loop: map.loop,
            timeMs: map.timeMs,
            tracker: map.tracker,
            hotThreshold: hotThresholdOf(task),
            ranges: map.ranges,
          });
          return map;
        } catch (err) {
          const aborted = opts.signal?.aborted || isAbortError(err);
          if (!aborted) {
            const r = record();
            const code = errorCode(err);
            r.errorsByCode[code] = (r.errorsByCode[code] ?? 0) + 1;
            r.lastError = err instanceof Error ? err.message : String(err);
          }
          throw err;
        }
      },
      close: () => inner.close(),
    };
  }

  /** The latest access counts the daemon has for `pid` (any task), or undefined. */
  accessForPid(pid: number): PidAccess | undefined {
    let best: KeptAccess | undefined;
    for (const r of this.records.values()) {
      const a = r.accessByPid.get(pid);
      if (a && (!best || a.timeMs > best.timeMs)) best = a;
    }
    return best && presentRanges(best);
  }

  get(key: string): ScanRecord | undefined {
    return this.records.get(key);
  }

  /** Forgets tasks that no longer exist. */
  retain(keys: ReadonlySet<string>): void {
    for (const k of this.records.keys()) if (!keys.has(k)) this.records.delete(k);
  }
}
