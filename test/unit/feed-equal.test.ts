/**
 * The feed's per-task entries and the /metrics text are what 3da8ba8 made
 * (before issue 11's cuts in src/feed/snapshot.ts, metrics.ts,
 * task-entries.ts and scan-observer.ts: Object.keys walks, a sort only when
 * the nodes are out of order, one key per task, text appended without label
 * objects): the same TaskUpdate (deepStrictEqual and its JSON) and the same
 * /metrics text, on seeded random registries of tasks with odd names
 * (quotes, backslashes, newlines, "/" and "%"), every engine kind, and
 * stats with junk fields, non-index node keys out of order, and scan
 * records with errors and heat strips. The code of 3da8ba8 is kept below
 * as the reference, unchanged but for its names.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MoveErrorCounters, renderMetrics, type FeedCounters, type ProcessSample } from '../../src/feed/metrics.js';
import { taskUpdate, type NodeBytes, type TaskUpdate } from '../../src/feed/snapshot.js';
import { TaskEntries } from '../../src/feed/task-entries.js';
import { HeatHistory } from '../../src/feed/heat-history.js';
import type { ScanRecord } from '../../src/feed/scan-observer.js';
import type { ScanObserver } from '../../src/feed/scan-observer.js';
import type { TaskRuntime, TaskView } from '../../src/model/task-runtime.js';
import { seededRandom } from '../sim/synthetic.js';

// ---- reference: src/feed/scan-observer.ts taskKey as of 3da8ba8 ----
function keyPartReference(s: string): string {
  return s.replace(/%/g, '%25').replace(/\//g, '%2F');
}
function taskKeyReference(t: { project: string; engine: string; name: string }): string {
  return `${keyPartReference(t.project)}/${keyPartReference(t.engine)}/${keyPartReference(t.name)}`;
}

// ---- reference: src/feed/snapshot.ts as of 3da8ba8 ----
const MAX_ENGINE_STATS_JSON = 8192;

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function numberRecord(v: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (isObj(v)) for (const [k, x] of Object.entries(v)) if (isNum(x)) out[k] = x;
  return out;
}

function stringRecord(v: unknown): Record<string, string> | undefined {
  if (!isObj(v)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return Object.keys(out).length > 0 ? out : undefined;
}

function nodeBytes(v: unknown): NodeBytes[] {
  if (!isObj(v)) return [];
  const out: NodeBytes[] = [];
  for (const [k, s] of Object.entries(v)) {
    if (!/^-?\d+$/.test(k) || !isObj(s)) continue;
    out.push({ node: Number(k), usedBytes: isNum(s.usedBytes) ? s.usedBytes : 0, hotBytes: isNum(s.hotBytes) ? s.hotBytes : 0, coldBytes: isNum(s.coldBytes) ? s.coldBytes : 0 });
  }
  return out.sort((a, b) => a.node - b.node);
}

/** The update entry of one task. */
function taskUpdateReference(view: TaskView, scan: ScanRecord | undefined): TaskUpdate {
  const s = view.stats ?? {};
  const ended = view.ended !== undefined;
  const u: TaskUpdate = {
    key: taskKeyReference(view),
    project: view.project,
    engine: view.engine,
    name: view.name,
    type: view.type,
    value: view.value,
    state: ended ? 'ended' : view.started ? 'running' : 'stopped',
    nodes: nodeBytes(s.nodes),
    errors: { moverByErrno: numberRecord(s.errorsByErrno), trackerByCode: { ...(scan?.errorsByCode ?? {}) } },
  };
  if (view.type === 'domain') u.domain = view.value;
  if (ended) u.ended = view.ended;
  if (view.statsTimeMs !== undefined) u.statsTimeMs = view.statsTimeMs;
  if (isNum(s.round)) u.round = s.round;
  if (typeof s.tracker === 'string') u.tracker = s.tracker;
  else if (scan) u.tracker = scan.tracker;
  if (Array.isArray(s.pids)) u.pids = s.pids.filter(isNum);
  if (isNum(s.promotedBytes) || isNum(s.demotedBytes)) {
    u.moves = {
      promotedBytes: isNum(s.promotedBytes) ? s.promotedBytes : 0,
      demotedBytes: isNum(s.demotedBytes) ? s.demotedBytes : 0,
      movedInBytesByNode: numberRecord(s.movedInBytesByNode),
    };
    if (isNum(s.totalPromotedBytes)) u.moves.totalPromotedBytes = s.totalPromotedBytes;
    if (isNum(s.totalDemotedBytes)) u.moves.totalDemotedBytes = s.totalDemotedBytes;
    if (isNum(s.pingPongBytes)) u.moves.pingPongBytes = s.pingPongBytes;
    if (isNum(s.totalPingPongBytes)) u.moves.totalPingPongBytes = s.totalPingPongBytes;
    if (s.kernelCounters && typeof s.kernelCounters === 'object') u.moves.kernelCounters = numberRecord(s.kernelCounters);
  }
  if (isNum(s.plannedSwapBytes) || isNum(s.swappedOutBytes)) {
    u.swaps = { plannedSwapBytes: isNum(s.plannedSwapBytes) ? s.plannedSwapBytes : 0, swappedOutBytes: isNum(s.swappedOutBytes) ? s.swappedOutBytes : 0 };
    if (isNum(s.coldBytes)) u.swaps.coldBytes = s.coldBytes;
    if (isNum(s.totalSwappedOutBytes)) u.swaps.totalSwappedOutBytes = s.totalSwappedOutBytes;
    if (Array.isArray(s.limitedBy)) u.swaps.limitedBy = s.limitedBy.filter((x): x is string => typeof x === 'string');
  }
  const cycle = stringRecord(s.errors);
  if (cycle) u.errors.cycle = cycle;
  if (Array.isArray(s.skippedPids) && s.skippedPids.length > 0) u.errors.skippedPids = s.skippedPids.filter(isNum);
  const held = stringRecord(s.held);
  if (held) u.held = held;
  if (scan) {
    if (scan.lastError !== undefined) u.errors.lastTrackerError = scan.lastError;
    u.scan = { scans: scan.scans, scanSecondsTotal: scan.scanSecondsTotal };
    if (scan.lastScanMs !== undefined) u.scan.lastScanMs = scan.lastScanMs;
    if (scan.scans > 0) {
      u.presentBytes = scan.presentBytes;
      u.swappedBytes = scan.swappedBytes;
    }
    if (scan.heat) u.heat = scan.heat;
  }
  if (view.engine !== 'slide' && view.engine !== 'cslide' && view.stats !== undefined) {
    try {
      const json = JSON.stringify(view.stats);
      if (json.length <= MAX_ENGINE_STATS_JSON) u.engineStats = JSON.parse(json) as Record<string, unknown>;
    } catch {
      // stats that do not serialise (cycles, BigInt) are left out
    }
  }
  return u;
}

// ---- reference: src/feed/metrics.ts renderMetrics as of 3da8ba8 ----
// Most label values (project, engine and task names, nodes) need no escaping: test once, replace only then.
const NEEDS_ESCAPE = /[\\"\n]/;
const escapeLabel = (v: string): string => (NEEDS_ESCAPE.test(v) ? v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : v);

/** `k="v",...` of `l`, values escaped; '' for none. */
function labelText(l: Record<string, string | number>): string {
  let out = '';
  for (const k in l) out += `${out === '' ? '' : ','}${k}="${escapeLabel(String(l[k]))}"`;
  return out;
}

/**
 * A metric's sample: labels as an object, or as text already made by
 * labelText (a task's id labels are made once and shared by its lines:
 * /metrics writes several lines per task, issue 11), plus labels to append.
 */
type Sample = (l: Record<string, string | number> | string, value: number, more?: Record<string, string | number>) => void;

class Writer {
  private readonly lines: string[] = [];
  private readonly declared = new Set<string>();

  metric(name: string, type: 'gauge' | 'counter', help: string): Sample {
    if (!this.declared.has(name)) {
      this.declared.add(name);
      this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    }
    return (l, value, more) => {
      let text = typeof l === 'string' ? l : labelText(l);
      if (more !== undefined) {
        const m = labelText(more);
        if (m !== '') text = text === '' ? m : `${text},${m}`;
      }
      this.lines.push(`${name}${text === '' ? '' : `{${text}}`} ${Number.isFinite(value) ? value : 'NaN'}`);
    };
  }

  text(): string {
    return this.lines.join('\n') + '\n';
  }
}

/** The whole /metrics body. */
function renderMetricsReference(tasks: readonly TaskUpdate[], moveErrors: MoveErrorCounters, feed: FeedCounters, proc: ProcessSample): string {
  const w = new Writer();
  // project, engine and task labels of each task, escaped once
  const ids = tasks.map((t) => labelText({ project: t.project, engine: t.engine, task: t.name }));
  const info = w.metric('virt_tier_task_info', 'gauge', 'A task of the daemon (1), with its target.');
  const state = w.metric('virt_tier_task_running', 'gauge', '1 when the task runs, 0 when stopped or ended.');
  tasks.forEach((t, i) => {
    info(ids[i]!, 1, { type: t.type, value: t.value, state: t.state });
    state(ids[i]!, t.state === 'running' ? 1 : 0);
  });
  const mem = w.metric('virt_tier_task_memory_bytes', 'gauge', 'Bytes of the task by NUMA node and temperature (last cycle); node="swap" holds swapped-out bytes.');
  tasks.forEach((t, i) => {
    const id = ids[i]!;
    for (const n of t.nodes) {
      mem(id, n.hotBytes, { node: n.node, state: 'hot' });
      mem(id, n.coldBytes, { node: n.node, state: 'cold' });
    }
    if (t.swappedBytes !== undefined) mem(id, t.swappedBytes, { node: 'swap', state: 'swapped' });
  });
  const moved = w.metric('virt_tier_task_moved_bytes_total', 'counter', 'Bytes the mover moved for the task since it started, by direction (promote: AEP->DRAM, demote: DRAM->AEP, swap_out: pageout).');
  tasks.forEach((t, i) => {
    const id = ids[i]!;
    if (t.moves?.totalPromotedBytes !== undefined) moved(id, t.moves.totalPromotedBytes, { direction: 'promote' });
    if (t.moves?.totalDemotedBytes !== undefined) moved(id, t.moves.totalDemotedBytes, { direction: 'demote' });
    if (t.swaps?.totalSwappedOutBytes !== undefined) moved(id, t.swaps.totalSwappedOutBytes, { direction: 'swap_out' });
  });
  const pingPong = w.metric('virt_tier_task_ping_pong_bytes_total', 'counter', 'Bytes moved back to the node they had been moved from within a few rounds (undone moves), since the task started.');
  tasks.forEach((t, i) => {
    if (t.moves?.totalPingPongBytes !== undefined) pingPong(ids[i]!, t.moves.totalPingPongBytes);
  });
  const movedIn = w.metric('virt_tier_task_round_moved_in_bytes', 'gauge', 'Bytes that reached each node in the task\'s last round.');
  tasks.forEach((t, i) => {
    for (const [node, bytes] of Object.entries(t.moves?.movedInBytesByNode ?? {})) movedIn(ids[i]!, bytes, { node });
  });
  const moveErr = w.metric('virt_tier_task_move_errors_total', 'counter', 'Pages the mover could not move or page out, by errno, over the rounds the feed observed.');
  tasks.forEach((t, i) => {
    for (const [errno, n] of Object.entries(moveErrors.get(t.key))) moveErr(ids[i]!, n, { errno });
  });
  const scanErr = w.metric('virt_tier_task_scan_errors_total', 'counter', 'Failed scan cycles by error code.');
  const scanLast = w.metric('virt_tier_task_scan_duration_seconds', 'gauge', 'Duration of the task\'s last scan cycle (loop scans spaced interval apart).');
  const scanSum = w.metric('virt_tier_task_scan_seconds_total', 'counter', 'Time spent in scan cycles.');
  const scans = w.metric('virt_tier_task_scans_total', 'counter', 'Completed scan cycles.');
  tasks.forEach((t, i) => {
    const id = ids[i]!;
    for (const [code, n] of Object.entries(t.errors.trackerByCode)) scanErr(id, n, { code });
    if (!t.scan) return;
    if (t.scan.lastScanMs !== undefined) scanLast(id, t.scan.lastScanMs / 1000);
    scanSum(id, t.scan.scanSecondsTotal);
    scans(id, t.scan.scans);
  });
  w.metric('virt_tier_feed_clients', 'gauge', 'Connected feed websocket clients.')({}, feed.clients);
  w.metric('virt_tier_feed_dropped_updates_total', 'counter', 'Updates not sent to a client because its send buffer was over the bound.')({}, feed.droppedUpdates);
  w.metric('virt_tier_feed_clients_dropped_total', 'counter', 'Clients disconnected by the feed, by reason.')({ reason: 'slow' }, feed.slowClientsDropped);
  w.metric('virt_tier_feed_clients_dropped_total', 'counter', '')({ reason: 'dead' }, feed.deadClientsDropped);
  w.metric('virt_tier_feed_client_buffered_bytes_max', 'gauge', 'The largest send buffer of any feed client, bytes.')({}, feed.maxClientBufferedBytes);
  w.metric('virt_tier_feed_rejected_upgrades_total', 'counter', 'Websocket upgrades refused (bad token, bad origin, bad path).')({}, feed.rejectedUpgrades);
  w.metric('process_cpu_seconds_total', 'counter', 'Total user and system CPU time spent in seconds.')({}, proc.cpuSecondsTotal);
  w.metric('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.')({}, proc.residentMemoryBytes);
  w.metric('process_start_time_seconds', 'gauge', 'Start time of the process since unix epoch in seconds.')({}, proc.startTimeSeconds);
  w.metric('nodejs_heap_used_bytes', 'gauge', 'V8 heap in use, bytes.')({}, proc.heapUsedBytes);
  return w.text();
}

// ---- random registries ----

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

test('taskUpdate: the entries of 3da8ba8 (objects and JSON), on 20000 seeded random tasks', () => {
  const rand = seededRandom(41);
  for (let i = 0; i < 20000; i++) {
    const view = randomView(rand, i);
    const scan = randomScan(rand, i);
    const want = taskUpdateReference(view, scan);
    const got = taskUpdate(view, scan);
    assert.deepStrictEqual(got, want, `task ${i}`);
    assert.equal(JSON.stringify(got), JSON.stringify(want), `task ${i}`);
  }
});

test('TaskEntries and renderMetrics: the updates, entries and /metrics text of 3da8ba8, on 500 seeded random registries', () => {
  const rand = seededRandom(43);
  for (let set = 0; set < 500; set++) {
    const n = Math.floor(rand() * 12);
    const views = Array.from({ length: n }, (_, i) => randomView(rand, set * 100 + i));
    const records = new Map<string, ScanRecord | undefined>(views.map((v, i) => [taskKeyReference(v), randomScan(rand, set * 100 + i)]));
    const scans = { get: (key: string) => records.get(key), retain: () => undefined } as unknown as ScanObserver;
    let live = views;
    const entries = new TaskEntries({ tasks: () => live.map((v) => ({ view: () => v }) as unknown as TaskRuntime) }, { debug() {}, info() {}, warn() {}, error() {} }, scans);
    const reference = new MoveErrorCounters();
    // rounds: the move error counters add a round's counts (or not, for a task whose stats time stayed);
    // in the third some tasks are gone (their counters dropped), in the fourth they are back
    for (let round = 0; round < 4; round++) {
      live = round === 2 ? views.filter(() => rand() < 0.5) : views;
      entries.refresh();
      const want = live.map((v) => taskUpdateReference(v, records.get(taskKeyReference(v))));
      const keys = new Set(want.map((u) => u.key));
      for (const u of want) reference.observe(u);
      reference.retain(keys);
      assert.deepStrictEqual(entries.lastUpdates, want, `set ${set}`);
      for (const u of want) assert.equal(entries.entries.get(u.key)?.json, JSON.stringify(u), `set ${set}`);
      assert.equal(entries.entries.size, keys.size, `set ${set}`);
      assert.equal(renderMetrics(entries.lastUpdates, entries.moveErrors, feed, proc), renderMetricsReference(want, reference, feed, proc), `set ${set}`);
      for (const v of views) if (v.stats && rand() < 0.5) v.statsTimeMs = (v.statsTimeMs ?? 0) + 1000;
    }
  }
});

test('renderMetrics: no tasks, and the feed lines alone', () => {
  assert.equal(renderMetrics([], new MoveErrorCounters(), feed, proc), renderMetricsReference([], new MoveErrorCounters(), feed, proc));
});
