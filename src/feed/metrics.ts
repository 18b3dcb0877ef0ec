/**
 * `/metrics` in the Prometheus text exposition format (version 0.0.4),
 * written by hand: HELP/TYPE lines, label values escaped (\\, \", \n).
 * Metric names and labels are listed in docs/feed.md.
 *
 * Move errors arrive per engine round; `MoveErrorCounters` adds each round's
 * counts once (a round is identified by its stats time), so the exported
 * counter covers the rounds the feed observed. The feed polls at its update
 * interval (default 1 s) and rounds last at least `sleep` >= 1 s, so no
 * round is missed at the defaults.
 */
import type { TaskUpdate } from './snapshot.js';

export interface FeedCounters {
  clients: number;
  droppedUpdates: number;
  slowClientsDropped: number;
  deadClientsDropped: number;
  rejectedUpgrades: number;
  /** the largest send buffer of any client right now (bytes queued in the daemon) */
  maxClientBufferedBytes: number;
}

/** Accumulates per-round mover errors into counters, once per round. */
export class MoveErrorCounters {
  private readonly totals = new Map<string, { lastStatsTimeMs: number | undefined; byErrno: Record<string, number> }>();

  observe(u: TaskUpdate): void {
    let t = this.totals.get(u.key);
    if (!t) {
      t = { lastStatsTimeMs: undefined, byErrno: {} };
      this.totals.set(u.key, t);
    }
    if (u.statsTimeMs === undefined || u.statsTimeMs === t.lastStatsTimeMs) return;
    t.lastStatsTimeMs = u.statsTimeMs;
    for (const [errno, n] of Object.entries(u.errors.moverByErrno)) t.byErrno[errno] = (t.byErrno[errno] ?? 0) + n;
  }

  get(key: string): Record<string, number> {
    return this.totals.get(key)?.byErrno ?? {};
  }

  retain(keys: ReadonlySet<string>): void {
    for (const k of this.totals.keys()) if (!keys.has(k)) this.totals.delete(k);
  }
}

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

export interface ProcessSample {
  cpuSecondsTotal: number;
  residentMemoryBytes: number;
  heapUsedBytes: number;
  startTimeSeconds: number;
}

export function sampleProcess(): ProcessSample {
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  return {
    cpuSecondsTotal: (cpu.user + cpu.system) / 1e6,
    residentMemoryBytes: mem.rss,
    heapUsedBytes: mem.heapUsed,
    startTimeSeconds: Math.round(Date.now() / 1000 - process.uptime()),
  };
}

/** The whole /metrics body. */
export function renderMetrics(tasks: readonly TaskUpdate[], moveErrors: MoveErrorCounters, feed: FeedCounters, proc: ProcessSample): string {
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
