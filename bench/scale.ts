/**
 * Scale curve: the daemon's user-space CPU and RSS per cycle as tracked
 * guest RAM grows x1, x4, x16, x64 (16 GiB .. 1 TiB) over 50 guests, half
 * on 2 MiB hugetlb, half on 4 KiB pages. No real memory: each guest's
 * tracker input is a recorded-shape AccessMap (synthetic access counts and
 * nodes), and one cycle drives the real per-cycle code after the tracker:
 *   - src/feed/scan-observer.ts: the stats wrapper around each guest's
 *     tracker (totals, heat strip, the access ranges migrate-hints reads);
 *   - src/engines/cslide-policy.ts planHostCslide: one engine-wide plan
 *     over all 50 guests (2 DRAM + 2 AEP nodes, both pool kinds);
 *   - src/runner/page-report.ts nodePageStats: the per-node used/hot/cold
 *     bytes the cslide engine reports for each pid every round;
 *   - src/feed/task-entries.ts TaskEntries.refresh (taskUpdate + JSON of
 *     every task: what the feed server's timer runs every second while a
 *     websocket client is connected; with --feed-clients 0 refreshUpdates,
 *     what it runs with none) over tasks whose stats have the cslide report's shape, and
 *     src/feed/metrics-endpoint.ts metricsPage (a /metrics scrape: a
 *     refresh and renderMetrics) every --scrape-every cycles (default 1:
 *     a scrape every second, the worst case; Prometheus scrapes every
 *     15-60 s).
 * Not driven: the tracker itself (kernel reads; see bench/damon-paddr.ts
 * and bench/migrate-hints.ts), the mover (it acts on the plan's few moves),
 * the websocket sends (per client), the registry's timers.
 *
 * Two region models, because CPU should follow regions, not bytes:
 *   damon  - each guest's map has DAMON's default max_nr_regions (1000)
 *            ranges whatever its size (vaddr and an owned paddr context
 *            adapt regions; their number is the knob);
 *   2mib   - one range per 2 MiB of guest RAM (the worst case: every
 *            2 MiB region with its own count, as hugetlb tracked per page).
 * Each point runs in a fresh child process (its RSS is that point's only).
 *
 *   npx tsc -p . && node dist/bench/scale.js [--cycles 5] [--scrape-every 1]
 *     [--cycle-interval-ms 0] [--node-flags '--max-semi-space-size=2'] [--only damon:64 ...] [--feed-clients 1]
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import type { AccessMap } from '../src/scan/access-map.js';
import { GiB, GUESTS, guestMap, guestShape, planInput } from './scale-input.js';
import type { ScanTarget, Tracker } from '../src/scan/tracker.js';
import { ScanObserver } from '../src/feed/scan-observer.js';
import { planHostCslide, type CslideGuest } from '../src/engines/cslide-policy.js';
import { TaskEntries } from '../src/feed/task-entries.js';
import { metricsPage } from '../src/feed/metrics-endpoint.js';
import type { FeedSessions } from '../src/feed/sessions.js';
import type { TaskRuntime, TaskView } from '../src/model/task-runtime.js';
import { nodePageStats, type NodePageStats } from '../src/runner/page-report.js';
import type { EngineTask } from '../src/runner/engine.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => (args.includes(name) ? args[args.indexOf(name) + 1]! : dflt);
const cycles = Number(opt('--cycles', '5'));
const scrapeEvery = Number(opt('--scrape-every', '1'));
// 0: no websocket client, so the feed timer makes no JSON (src/feed/server.ts)
const feedClients = Number(opt('--feed-clients', '1'));
// a pause between cycles (outside the timed part), as a daemon at interval=1 s has: V8's idle-time GC runs in it
const cycleIntervalMs = Number(opt('--cycle-interval-ms', '0'));
// V8 flags for each point's process, e.g. --node-flags --max-semi-space-size=2 (the RSS lever virt-tierd uses)
const nodeFlags = opt('--node-flags', '').split(' ').filter((f) => f !== '');

/** FNV-1a over every move's fields, in plan order: equal digests mean the same moves in the same order. */
function digestMoves(h: number, moves: ReadonlyArray<{ start: number; pageCount: number; pageSizeBytes: number; fromNode: number; toNode: number; reason: string; accessCount: number }>): number {
  const mix = (x: number): void => {
    // addresses exceed 2^32: fold both halves (no array per call: this runs untimed, but its garbage would be collected in the timed part)
    h = Math.imul(h ^ ((x % 2 ** 32) >>> 0), 16777619) >>> 0;
    h = Math.imul(h ^ (Math.floor(x / 2 ** 32) >>> 0), 16777619) >>> 0;
  };
  for (const m of moves) {
    mix(m.start); mix(m.pageCount); mix(m.pageSizeBytes); mix(m.fromNode); mix(m.toNode); mix(m.accessCount); mix(m.reason.length + m.reason.charCodeAt(0));
  }
  return h;
}

async function inner(scale: number, model: 'damon' | '2mib'): Promise<void> {
  const { guestBytes, rangesPerGuest } = guestShape(scale, model);
  const totalBytes = guestBytes * GUESTS;
  const observer = new ScanObserver();
  const tasks: EngineTask[] = [];
  const trackers: Tracker[] = [];
  let cycle = 0;
  let inputs: AccessMap[] = [];
  for (let g = 0; g < GUESTS; g++) {
    const task = { config: { project: 'p', engine: 'cslide', name: `vm${g}`, type: 'pid', value: String(10000 + g), params: {} } } as unknown as EngineTask;
    tasks.push(task);
    // the recorded input, built before the timed part of each cycle
    const recorded: Tracker = { name: 'recorded', scanCycle: async () => inputs[g]!, close: async () => undefined };
    trackers.push(await observer.wrapTracker(task, recorded));
  }
  const nodeBytes = totalBytes / 2;
  // the registry as the feed reads it: each task's view with the stats its last round reported
  const views: TaskView[] = tasks.map((t, g) => ({ number: g, project: 'p', engine: 'cslide', name: `vm${g}`, type: 'pid', value: String(10000 + g), started: true }));
  const runtimes = views.map((v) => ({ view: () => v }) as unknown as TaskRuntime);
  const log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
  const entries = new TaskEntries({ tasks: () => runtimes }, log, observer);
  const feed = { clients: 1, droppedUpdates: 0, slowClientsDropped: 0, deadClientsDropped: 0, rejectedUpgrades: 0, maxClientBufferedBytes: 0 };
  const sessions = { maxBufferedBytes: () => 0 } as unknown as FeedSessions;
  const totals = tasks.map(() => ({ promotedBytes: 0, demotedBytes: 0 }));
  const cpuMs: number[] = [];
  let moves = 0;
  let regions = 0;
  let rssPeak = 0;
  let planError: string | undefined;
  // every cycle's moves folded into one number: before/after runs must print the same
  let planDigest = 0;
  // stats: the observer (inside each scanCycle) and nodePageStats
  const stageMs = { observe: [] as number[], plan: [] as number[], feed: [] as number[] };
  for (cycle = 0; cycle < cycles + 1; cycle++) {
    inputs = [];
    for (let g = 0; g < GUESTS; g++) inputs.push(guestMap(g, guestBytes, g % 2 === 0, rangesPerGuest, cycle));
    const u0 = process.cpuUsage();
    const guests: CslideGuest[] = [];
    const pageStats: Array<Record<number, NodePageStats>> = [];
    for (let g = 0; g < GUESTS; g++) {
      const map = await trackers[g]!.scanCycle({ pid: 10000 + g } as ScanTarget, { loop: 1, intervalMs: 1000 });
      guests.push({ key: `vm${g}`, accessMap: map });
      pageStats.push(nodePageStats(map, 1));
    }
    const u1 = process.cpuUsage();
    regions = guests.reduce((n, g) => n + g.accessMap.ranges.length, 0);
    let plan: ReturnType<typeof planHostCslide> | undefined;
    try {
      plan = planHostCslide(planInput(guests, nodeBytes));
      moves = plan.moves.length;
    } catch (err) {
      // reported, not hidden: the point then measures everything but the plan
      planError = `${(err as Error).name}: ${(err as Error).message}`;
      moves = -1;
    }
    const u2 = process.cpuUsage();
    // each task's round report, the shape builtin-engine.ts gives cslide's (bytes as planned: no mover here)
    const promoted = tasks.map(() => 0);
    const demoted = tasks.map(() => 0);
    for (const m of plan?.moves ?? []) (m.reason === 'demote' ? demoted : promoted)[m.guest]! += m.pageCount * m.pageSizeBytes;
    views.forEach((v, g) => {
      totals[g]!.promotedBytes += promoted[g]!;
      totals[g]!.demotedBytes += demoted[g]!;
      v.statsTimeMs = Date.now();
      v.stats = {
        engine: 'cslide', round: cycle, timeMs: v.statsTimeMs, pids: [10000 + g], tracker: 'recorded', nodes: pageStats[g],
        plannedBytes: { promote: promoted[g], prefetch: 0, demote: demoted[g] }, promotedBytes: promoted[g], demotedBytes: demoted[g],
        movedInBytesByNode: {}, totalPromotedBytes: totals[g]!.promotedBytes, totalDemotedBytes: totals[g]!.demotedBytes,
        pingPongBytes: 0, totalPingPongBytes: 0, errorsByErrno: {},
      };
    });
    if (feedClients > 0) entries.refresh();
    else entries.refreshUpdates();
    // byteLength, as the endpoint's write does: a text built by appending is flattened only when written
    if (cycle % scrapeEvery === 0) void Buffer.byteLength(metricsPage(entries, feed, sessions));
    const u = process.cpuUsage(u0);
    const u3 = process.cpuUsage();
    // outside the timed part: the bench's own check
    if (plan) planDigest = digestMoves(planDigest, plan.moves);
    if (cycle > 0) {
      // the first cycle JIT-compiles
      cpuMs.push(u.user / 1000);
      stageMs.observe.push((u1.user - u0.user) / 1000);
      stageMs.plan.push((u2.user - u1.user) / 1000);
      stageMs.feed.push((u3.user - u2.user) / 1000);
    }
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    if (cycleIntervalMs > 0) await new Promise((resolve) => setTimeout(resolve, cycleIntervalMs));
  }
  // what stays once garbage is collected: the daemon's state plus this cycle's inputs
  (globalThis as { gc?: () => void }).gc?.();
  const liveHeapMiB = process.memoryUsage().heapUsed / 2 ** 20;
  // Read after the collection, so that what a daemon keeps (the observer's records with the
  // heat history and packed ranges, the feed's entries) counts in the figure: nothing used
  // them past the loop, and the runs before 2026-12-03 13:00 UTC measured without them.
  const held = { tasks: entries.lastUpdates.length, heatHistoryCycles: observer.get('p/cslide/vm0')?.heatHistory.length ?? 0 };
  const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const sorted = [...cpuMs].sort((a, b) => a - b);
  process.stdout.write(JSON.stringify({ scale, model, totalGiB: totalBytes / GiB, regions, moves, cpuMsMedian: sorted[Math.floor(sorted.length / 2)], rssMiB: rssPeak / 2 ** 20, liveHeapMiB, observeMs: med(stageMs.observe), planMs: med(stageMs.plan), feedMs: med(stageMs.feed), planDigest: planDigest.toString(16).padStart(8, '0'), planError, held }) + '\n');
}

if (args.includes('--inner')) {
  await inner(Number(opt('--scale', '1')), opt('--model', 'damon') as 'damon' | '2mib');
} else {
  const self = fileURLToPath(import.meta.url);
  const rows: string[] = [];
  const errors: string[] = [];
  // --only damon:64 (repeatable) runs just those points
  const only = args.flatMap((a, i) => (args[i - 1] === '--only' ? [a] : []));
  for (const model of ['damon', '2mib'] as const) {
    for (const scale of [1, 4, 16, 64]) {
      if (only.length > 0 && !only.includes(`${model}:${scale}`)) continue;
      const out = execFileSync(process.execPath, ['--max-old-space-size=4096', '--expose-gc', ...nodeFlags, self, '--inner', '--scale', String(scale), '--model', model, '--cycles', String(cycles), '--scrape-every', String(scrapeEvery), '--feed-clients', String(feedClients), '--cycle-interval-ms', String(cycleIntervalMs)], { encoding: 'utf8' });
      const r = JSON.parse(out.trim()) as { totalGiB: number; regions: number; moves: number; cpuMsMedian: number; rssMiB: number; liveHeapMiB: number; observeMs: number; planMs: number; feedMs: number; planDigest: string; planError?: string };
      if (r.planError) errors.push(`${model} x${scale}: planHostCslide failed: ${r.planError}`);
      const budgetMiB = (64 + r.totalGiB).toFixed(0);
      rows.push(`| ${model} | x${scale} | ${r.totalGiB.toFixed(0)} | ${r.regions} | ${r.moves < 0 ? 'plan failed' : r.moves} | ${r.cpuMsMedian.toFixed(1)} | ${r.observeMs.toFixed(1)} / ${r.planMs.toFixed(1)} / ${r.feedMs.toFixed(1)} | ${((r.cpuMsMedian / 1000) * 100).toFixed(2)}% | ${(r.cpuMsMedian / r.regions * 1000).toFixed(2)} | ${r.rssMiB.toFixed(0)} | ${r.liveHeapMiB.toFixed(0)} | ${budgetMiB} | ${r.planDigest} |`);
    }
  }
  process.stdout.write(
    `${GUESTS} guests (half 2 MiB hugetlb, half 4 KiB), ${cycles} cycles per point after one warm-up, a /metrics scrape every ${scrapeEvery} cycle(s), ${feedClients > 0 ? 'a feed client connected' : 'no feed client'}, ${cycleIntervalMs} ms between cycles, node flags '${nodeFlags.join(' ')}', median user CPU per cycle (${os.cpus().length} CPUs, Node ${process.version})\n\n` +
    '| regions model | scale | tracked GiB | regions / cycle | planned moves | user CPU ms / cycle | of which stats / plan / feed+metrics | of one core at loop=1 interval=1 s | us / region | RSS peak MiB | live heap after GC MiB | RSS goal MiB (64 + 1/GiB) | plan digest |\n' +
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n' + rows.join('\n') + '\n' + (errors.length ? '\n' + errors.map((e) => `- ${e}`).join('\n') + '\n' : ''),
  );
}
