/**
 * The feed's per-task entries and the /metrics text are what 3da8ba8 made
 * (before issue 11's cuts in src/feed/snapshot.ts, metrics.ts,
 * task-entries.ts and scan-observer.ts: Object.keys walks, a sort only when
 * the nodes are out of order, one key per task, text without label
 * objects), on seeded random registries of tasks with odd names (quotes,
 * backslashes, newlines, "/" and "%"), every engine kind, and stats with
 * junk fields, non-index node keys out of order, and scan records with
 * errors and heat strips. 3da8ba8's answers are kept as SHA-256 digests of
 * its JSON and text, in order (computed from that code when this test was
 * written, as test/unit/cslide-policy-equal.test.ts keeps its plans), not
 * as a copy of the code.
 */
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MoveErrorCounters, renderMetrics, type FeedCounters, type ProcessSample } from '../../src/feed/metrics.js';
import { taskUpdate } from '../../src/feed/snapshot.js';
import { TaskEntries } from '../../src/feed/task-entries.js';
import { HeatHistory } from '../../src/feed/heat-history.js';
import { taskKey, type ScanRecord } from '../../src/feed/scan-observer.js';
import type { ScanObserver } from '../../src/feed/scan-observer.js';
import type { TaskRuntime, TaskView } from '../../src/model/task-runtime.js';
import { seededRandom } from '../sim/synthetic.js';

const ODD = ['', 'a', 'vm1', 'we"ird', 'back\\slash', 'new\nline', 'a/b', '100%', '%2F', 'ü-ß', ' sp ace '];

function randomView(rand: () => number, i: number): TaskView {
  const int = (k: number): number => Math.floor(rand() * k);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const name = rand() < 0.7 ? `vm${i}` : `${pick(ODD)}${i}`;
  const engine = pick(['cslide', 'cslide', 'slide', 'damon', 'watch', 'we"ird/engine']);
  const project = rand() < 0.8 ? 'p' : pick(ODD);
  const type = pick(['pid', 'domain', 'name']);
  const v: TaskView = { number: i, project, engine, name, type, value: rand() < 0.8 ? String(1000 + i) : pick(ODD), started: rand() < 0.8 };
  if (rand() < 0.1) v.ended = pick(['target exited (ESRCH)', 'a "quoted"\nreason']);
  if (rand() < 0.1) return v;
  v.statsTimeMs = 1_700_000_000_000 + int(5) * 1000;
  const num = (): unknown => (rand() < 0.9 ? int(1 << 30) : pick(['x', null, NaN, Infinity, -0, 1.5, {}]));
  const rec = (keys: readonly string[]): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (let k = 0, n = int(5); k < n; k++) out[pick(keys)] = num();
    return out;
  };
  const s: Record<string, unknown> = { engine, round: rand() < 0.9 ? int(100) : 'x', timeMs: v.statsTimeMs };
  if (rand() < 0.8) s.tracker = pick(['damon-vaddr', 'idle_pages', 'recorded']);
  if (rand() < 0.9) s.pids = rand() < 0.9 ? [1000 + i] : [1000 + i, 'x', 7];
  if (rand() < 0.9) {
    // integer keys come out ascending whatever the insertion; "-1", "007" and "4294967295" after them, in insertion order
    const nodes: Record<string, unknown> = {};
    for (const k of ['3', '-1', '0', '007', '4294967295', '2', 'x', '1'].filter(() => rand() < 0.5)) {
      nodes[k] = rand() < 0.9 ? { usedBytes: num(), hotBytes: num(), coldBytes: num() } : pick(['junk', null, [1]]);
    }
    s.nodes = rand() < 0.95 ? nodes : 'junk';
  }
  if (rand() < 0.8) {
    s.promotedBytes = num();
    s.demotedBytes = num();
    s.movedInBytesByNode = rec(['0', '1', '2', 'we"ird', 'a\\b']);
    if (rand() < 0.8) s.totalPromotedBytes = num();
    if (rand() < 0.8) s.totalDemotedBytes = num();
    if (rand() < 0.5) s.pingPongBytes = num();
    if (rand() < 0.5) s.totalPingPongBytes = num();
    if (rand() < 0.2) s.kernelCounters = rec(['pgmigrate_success', 'numa_pages_migrated']);
  }
  if (rand() < 0.3) {
    s.plannedSwapBytes = num();
    s.swappedOutBytes = num();
    if (rand() < 0.5) s.coldBytes = num();
    if (rand() < 0.5) s.totalSwappedOutBytes = num();
    if (rand() < 0.3) s.limitedBy = ['quota', 3, 'swap'];
  }
  if (rand() < 0.5) s.errorsByErrno = rec(['ENOMEM', 'EBUSY', 'EACCES', 'we"ird']);
  if (rand() < 0.2) s.errors = rand() < 0.3 ? { resolve: 3 } : { [String(1000 + i)]: 'boom', resolve: rand() < 0.5 ? 'gone' : 3 };
  if (rand() < 0.2) s.skippedPids = rand() < 0.5 ? [] : [1, 'x', 2];
  if (rand() < 0.2) s.held = rand() < 0.3 ? { 7: 3 } : { [String(1000 + i)]: 'migrating-out', 7: 3 };
  if (rand() < 0.1) s.big = 'x'.repeat(rand() < 0.5 ? 100 : 9000);
  v.stats = s;
  return v;
}

function randomScan(rand: () => number, i: number): ScanRecord | undefined {
  const int = (k: number): number => Math.floor(rand() * k);
  if (rand() < 0.2) return undefined;
  const scans = rand() < 0.1 ? 0 : 1 + int(1000);
  const r: ScanRecord = {
    tracker: 'damon-vaddr', scans, scanSecondsTotal: rand() * 100, errorsByCode: {}, presentBytes: int(1 << 30) * 4096, swappedBytes: int(1000) * 4096,
    heatHistory: new HeatHistory(1, 1), accessByPid: new Map(),
  };
  if (rand() < 0.8) r.lastScanMs = rand() * 50;
  if (rand() < 0.3) r.errorsByCode = { ESRCH: 1 + int(3), 'we"ird\ncode': 2 };
  if (rand() < 0.2) r.lastError = 'read "x"\nfailed';
  if (rand() < 0.8) {
    const n = 1 + int(128);
    const pct = (): number => int(101);
    r.heat = { pid: 1000 + i, timeMs: 5, totalBytes: n * 4096, bucketBytes: 4096, present: Array.from({ length: n }, pct), swapped: Array.from({ length: n }, pct), access: Array.from({ length: n }, () => (rand() < 0.2 ? -1 : pct())) };
  }
  return r;
}

const feed: FeedCounters = { clients: 1, droppedUpdates: 2, slowClientsDropped: 3, deadClientsDropped: 4, rejectedUpgrades: 5, maxClientBufferedBytes: 6 };
const proc: ProcessSample = { cpuSecondsTotal: 1.25, residentMemoryBytes: 1000, heapUsedBytes: 10, startTimeSeconds: 5 };

/** SHA-256 of 3da8ba8's answers to the inputs below, each JSON or text followed by a newline. */
const TASKS_DIGEST = '961e4ed5041b99c476a8571a517998ad14ac5eb5508f002eafc21728451e6c75';
const REGISTRIES_DIGEST = '3c50ea2444adaa69561985fa9a839ec6a814e751e5aafc95bb6860878986a4b6';
const EMPTY_METRICS_DIGEST = '0e40298026cd99dd45e0d12716d9fc5b3482665d49a567e4d5455933b8960dfb';

test('taskUpdate: the entries of 3da8ba8 (JSON), on 20000 seeded random tasks', () => {
  const rand = seededRandom(41);
  const digest = createHash('sha256');
  for (let i = 0; i < 20000; i++) {
    const view = randomView(rand, i);
    const scan = randomScan(rand, i);
    digest.update(JSON.stringify(taskUpdate(view, scan)) + '\n');
  }
  assert.equal(digest.digest('hex'), TASKS_DIGEST);
});

test('TaskEntries and renderMetrics: the updates, entries and /metrics text of 3da8ba8, on 500 seeded random registries', () => {
  const rand = seededRandom(43);
  const digest = createHash('sha256');
  for (let set = 0; set < 500; set++) {
    const n = Math.floor(rand() * 12);
    const views = Array.from({ length: n }, (_, i) => randomView(rand, set * 100 + i));
    const records = new Map<string, ScanRecord | undefined>(views.map((v, i) => [taskKey(v), randomScan(rand, set * 100 + i)]));
    const scans = { get: (key: string) => records.get(key), retain: () => undefined } as unknown as ScanObserver;
    let live = views;
    const entries = new TaskEntries({ tasks: () => live.map((v) => ({ view: () => v }) as unknown as TaskRuntime) }, { debug() {}, info() {}, warn() {}, error() {} }, scans);
    // rounds: the move error counters add a round's counts (or not, for a task whose stats time stayed);
    // in the third some tasks are gone (their counters dropped), in the fourth they are back
    for (let round = 0; round < 4; round++) {
      live = round === 2 ? views.filter(() => rand() < 0.5) : views;
      entries.refresh();
      digest.update(JSON.stringify(entries.lastUpdates) + '\n');
      for (const u of entries.lastUpdates) digest.update(`${entries.entries.get(u.key)?.json}\n`);
      digest.update(`${entries.entries.size}\n`);
      digest.update(renderMetrics(entries.lastUpdates, entries.moveErrors, feed, proc) + '\n');
      for (const v of views) if (v.stats && rand() < 0.5) v.statsTimeMs = (v.statsTimeMs ?? 0) + 1000;
    }
  }
  assert.equal(digest.digest('hex'), REGISTRIES_DIGEST);
});

test('renderMetrics: no tasks, and the feed lines alone', () => {
  assert.equal(createHash('sha256').update(renderMetrics([], new MoveErrorCounters(), feed, proc)).digest('hex'), EMPTY_METRICS_DIGEST);
});
