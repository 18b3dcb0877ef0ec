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
function labelText(l: Record<string, string>): string {
  let out = '';
  for (const k in l) out += `${out === '' ? '' : ','}${k}="${escapeLabel(String(l[k]))}"`;
  return out;
}

/**
 * The lines, joined once at the end, with no label object or closure per
 * sample: /metrics writes some 16 lines per task and a scrape may come
 * every second (issue 11, bench/scale.ts). Joined rather than appended to
 * one string: appends make a rope that costs as much to flatten when the
 * body is written out, and bench/scale.ts, which never writes it, would
 * not see that cost. Labels arrive as text: a task's id labels made once
 * by labelText, the rest written at the call, numbers as they are (a
 * number's text has nothing to escape), strings through escapeLabel.
 */
class Writer {
  private readonly lines: string[] = [];
  private readonly declared = new Set<string>();

  /** HELP and TYPE lines, once per metric name. */
  declare(name: string, type: 'gauge' | 'counter', help: string): void {
    if (this.declared.has(name)) return;
    this.declared.add(name);
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  }

  /** A sample: `labels` the text between the braces ('' for none). */
  sample(name: string, labels: string, value: number): void {
    this.lines.push(`${name}${labels === '' ? '' : `{${labels}}`} ${Number.isFinite(value) ? value : 'NaN'}`);
  }

  /** A metric of one sample: declared and written. */
  single(name: string, type: 'gauge' | 'counter', help: string, labels: string, value: number): void {
    this.declare(name, type, help);
    this.sample(name, labels, value);
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
  const info = 'virt_tier_task_info';
  const running = 'virt_tier_task_running';
  w.declare(info, 'gauge', 'A task of the daemon (1), with its target.');
  w.declare(running, 'gauge', '1 when the task runs, 0 when stopped or ended.');
  for (let i = 0; i < tasks.length; i++) {
    const t = tasks[i]!;
    w.sample(info, `${ids[i]!},type="${escapeLabel(String(t.type))}",value="${escapeLabel(String(t.value))}",state="${escapeLabel(String(t.state))}"`, 1);
    w.sample(running, ids[i]!, t.state === 'running' ? 1 : 0);
  }
  const mem = 'virt_tier_task_memory_bytes';
  w.declare(mem, 'gauge', 'Bytes of the task by NUMA node and temperature (last cycle); node="swap" holds swapped-out bytes.');
  for (let i = 0; i < tasks.length; i++) {
    const t = tasks[i]!;
    const id = ids[i]!;
    for (const n of t.nodes) {
      w.sample(mem, `${id},node="${n.node}",state="hot"`, n.hotBytes);
      w.sample(mem, `${id},node="${n.node}",state="cold"`, n.coldBytes);
    }
    if (t.swappedBytes !== undefined) w.sample(mem, `${id},node="swap",state="swapped"`, t.swappedBytes);
  }
  const moved = 'virt_tier_task_moved_bytes_total';
  w.declare(moved, 'counter', 'Bytes the mover moved for the task since it started, by direction (promote: AEP->DRAM, demote: DRAM->AEP, swap_out: pageout).');
  for (let i = 0; i < tasks.length; i++) {
    const t = tasks[i]!;
    const id = ids[i]!;
    if (t.moves?.totalPromotedBytes !== undefined) w.sample(moved, `${id},direction="promote"`, t.moves.totalPromotedBytes);
    if (t.moves?.totalDemotedBytes !== undefined) w.sample(moved, `${id},direction="demote"`, t.moves.totalDemotedBytes);
    if (t.swaps?.totalSwappedOutBytes !== undefined) w.sample(moved, `${id},direction="swap_out"`, t.swaps.totalSwappedOutBytes);
  }
  const pingPong = 'virt_tier_task_ping_pong_bytes_total';
  w.declare(pingPong, 'counter', 'Bytes moved back to the node they had been moved from within a few rounds (undone moves), since the task started.');
  for (let i = 0; i < tasks.length; i++) {
    const t = tasks[i]!;
    if (t.moves?.totalPingPongBytes !== undefined) w.sample(pingPong, ids[i]!, t.moves.totalPingPongBytes);
  }
  const movedIn = 'virt_tier_task_round_moved_in_bytes';
  w.declare(movedIn, 'gauge', 'Bytes that reached each node in the task\'s last round.');
  for (let i = 0; i < tasks.length; i++) {
    const byNode = tasks[i]!.moves?.movedInBytesByNode;
    if (byNode === undefined) continue;
    for (const node of Object.keys(byNode)) w.sample(movedIn, `${ids[i]!},node="${escapeLabel(node)}"`, byNode[node]!);
  }
  const moveErr = 'virt_tier_task_move_errors_total';
  w.declare(moveErr, 'counter', 'Pages the mover could not move or page out, by errno, over the rounds the feed observed.');
  for (let i = 0; i < tasks.length; i++) {
    const byErrno = moveErrors.get(tasks[i]!.key);
    for (const errno of Object.keys(byErrno)) w.sample(moveErr, `${ids[i]!},errno="${escapeLabel(errno)}"`, byErrno[errno]!);
  }
  const scanErr = 'virt_tier_task_scan_errors_total';
  const scanLast = 'virt_tier_task_scan_duration_seconds';
  const scanSum = 'virt_tier_task_scan_seconds_total';
  const scans = 'virt_tier_task_scans_total';
  w.declare(scanErr, 'counter', 'Failed scan cycles by error code.');
  w.declare(scanLast, 'gauge', 'Duration of the task\'s last scan cycle (loop scans spaced interval apart).');
  w.declare(scanSum, 'counter', 'Time spent in scan cycles.');
  w.declare(scans, 'counter', 'Completed scan cycles.');
  for (let i = 0; i < tasks.length; i++) {
    const t = tasks[i]!;
    const id = ids[i]!;
    const byCode = t.errors.trackerByCode;
    for (const code of Object.keys(byCode)) w.sample(scanErr, `${id},code="${escapeLabel(code)}"`, byCode[code]!);
    if (!t.scan) continue;
    if (t.scan.lastScanMs !== undefined) w.sample(scanLast, id, t.scan.lastScanMs / 1000);
    w.sample(scanSum, id, t.scan.scanSecondsTotal);
    w.sample(scans, id, t.scan.scans);
  }
  w.single('virt_tier_feed_clients', 'gauge', 'Connected feed websocket clients.', '', feed.clients);
  w.single('virt_tier_feed_dropped_updates_total', 'counter', 'Updates not sent to a client because its send buffer was over the bound.', '', feed.droppedUpdates);
  w.single('virt_tier_feed_clients_dropped_total', 'counter', 'Clients disconnected by the feed, by reason.', 'reason="slow"', feed.slowClientsDropped);
  w.single('virt_tier_feed_clients_dropped_total', 'counter', '', 'reason="dead"', feed.deadClientsDropped);
  w.single('virt_tier_feed_client_buffered_bytes_max', 'gauge', 'The largest send buffer of any feed client, bytes.', '', feed.maxClientBufferedBytes);
  w.single('virt_tier_feed_rejected_upgrades_total', 'counter', 'Websocket upgrades refused (bad token, bad origin, bad path).', '', feed.rejectedUpgrades);
  w.single('process_cpu_seconds_total', 'counter', 'Total user and system CPU time spent in seconds.', '', proc.cpuSecondsTotal);
  w.single('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.', '', proc.residentMemoryBytes);
  w.single('process_start_time_seconds', 'gauge', 'Start time of the process since unix epoch in seconds.', '', proc.startTimeSeconds);
  w.single('nodejs_heap_used_bytes', 'gauge', 'V8 heap in use, bytes.', '', proc.heapUsedBytes);
  return w.text();
}
