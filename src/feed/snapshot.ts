/**
 * One task's entry in a feed update (schema version 1, docs/feed.md), built
 * from the registry's TaskView and the scan observer's record. Engine stats
 * are whatever the engine reported: fields are read when they have the
 * expected type and left out otherwise, so a thirdparty engine's stats or
 * a stats record from a failed resolve never break the feed.
 */
import type { TaskView } from '../model/task-runtime.js';
import type { HeatStrip } from './heat.js';
import type { ScanRecord } from './scan-observer.js';
import { taskKey } from './scan-observer.js';

export interface NodeBytes {
  node: number;
  usedBytes: number;
  hotBytes: number;
  coldBytes: number;
}

export interface TaskUpdate {
  key: string;
  project: string;
  engine: string;
  name: string;
  type: string;
  value: string;
  /** the libvirt domain for type=domain tasks */
  domain?: string;
  state: 'running' | 'stopped' | 'ended';
  ended?: string;
  /** when the engine last reported stats (ms since epoch) */
  statsTimeMs?: number;
  round?: number;
  tracker?: string;
  pids?: number[];
  /** per NUMA node, from the last cycle */
  nodes: NodeBytes[];
  /** present / swapped bytes the last scan saw (scan observer) */
  presentBytes?: number;
  swappedBytes?: number;
  /** cslide: bytes moved this round and in total, bytes that reached each node this round */
  moves?: { promotedBytes: number; demotedBytes: number; totalPromotedBytes?: number; totalDemotedBytes?: number; movedInBytesByNode: Record<string, number>; pingPongBytes?: number; totalPingPongBytes?: number; kernelCounters?: Record<string, number> };
  /** slide: cold bytes, planned and done swap-outs this round, total */
  swaps?: { coldBytes?: number; plannedSwapBytes: number; swappedOutBytes: number; totalSwappedOutBytes?: number; limitedBy?: string[] };
  errors: {
    /** mover per-page failures this round by errno name */
    moverByErrno: Record<string, number>;
    /** tracker failures (all cycles so far) by code */
    trackerByCode: Record<string, number>;
    /** cycle failures this round (pid -> message, or "resolve" -> message) */
    cycle?: Record<string, string>;
    lastTrackerError?: string;
    skippedPids?: number[];
  };
  /** pids left alone this round, and why ('migrating-out', 'migrating-in', 'paused'): nothing was scanned or moved for them */
  held?: Record<string, string>;
  scan?: { scans: number; lastScanMs?: number; scanSecondsTotal: number };
  heat?: HeatStrip;
  /** a thirdparty engine's own stats, when their JSON is at most 8 KiB */
  engineStats?: Record<string, unknown>;
}

const MAX_ENGINE_STATS_JSON = 8192;

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

// The readers below walk Object.keys (the own enumerable keys, in the order Object.entries
// gives them) rather than Object.entries: no [key, value] pair per field. The feed reads every
// task every second and a /metrics scrape reads them again (issue 11, bench/scale.ts).

function numberRecord(v: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (!isObj(v)) return out;
  for (const k of Object.keys(v)) {
    const x = v[k];
    if (isNum(x)) out[k] = x;
  }
  return out;
}

function stringRecord(v: unknown): Record<string, string> | undefined {
  if (!isObj(v)) return undefined;
  const out: Record<string, string> = {};
  let n = 0;
  for (const k of Object.keys(v)) {
    const x = v[k];
    if (typeof x === 'string') {
      out[k] = x;
      n++;
    }
  }
  return n > 0 ? out : undefined;
}

const NODE_KEY = /^-?\d+$/;

function nodeBytes(v: unknown): NodeBytes[] {
  if (!isObj(v)) return [];
  const out: NodeBytes[] = [];
  let ordered = true;
  for (const k of Object.keys(v)) {
    const s = v[k];
    if (!NODE_KEY.test(k) || !isObj(s)) continue;
    const node = Number(k);
    if (out.length > 0 && node < out[out.length - 1]!.node) ordered = false;
    out.push({ node, usedBytes: isNum(s.usedBytes) ? s.usedBytes : 0, hotBytes: isNum(s.hotBytes) ? s.hotBytes : 0, coldBytes: isNum(s.coldBytes) ? s.coldBytes : 0 });
  }
  // Index keys come in ascending order already: sorting (stable) would change nothing then.
  return ordered ? out : out.sort((a, b) => a.node - b.node);
}

/** The update entry of one task; `key` is taskKey(view), when the caller has it already. */
export function taskUpdate(view: TaskView, scan: ScanRecord | undefined, key = taskKey(view)): TaskUpdate {
  const s = view.stats ?? {};
  const ended = view.ended !== undefined;
  const u: TaskUpdate = {
    key,
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
