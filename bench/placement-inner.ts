/**
 * Placement benchmark, inside the testbed (driven by bench/placement.ts).
 *
 * Part 1, convergence: the real daemon runs cslide on a synthetic hugetlb
 * guest with a known hot/cold split (part of the hot set starting on the
 * AEP node); after each round, pages per node (hot and cold, from
 * move_pages queries) are recorded next to what the pure policy predicts
 * for the same split (test/testbed/inner/e2e-model.ts).
 *
 * Part 2, tracking cost: for guests of two sizes, the daemon's CPU
 * (/proc/PID/stat utime+stime, all threads) over several cycles of a cslide
 * task with node_mig_quota=0 (track and plan, never move), minus the same
 * daemon's CPU over the same wall time with no task (the baseline: timers,
 * the stats poll); and the kdamond threads' CPU (/proc/PID/schedstat,
 * polled every 50 ms: each cycle's kdamond ends when the cycle does, so its
 * last reading is kept).
 *
 * Prints one JSON line.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { native } from '../src/native/index.js';
import { startSyntheticGuest, type SyntheticGuest } from '../test/testbed/inner/synthetic-guest.js';
import { cslideConfigText, hugepagePools, progress, startE2eDaemon, taskView, watchRounds, writeConfigFile, type E2eDaemon } from '../test/testbed/inner/e2e-daemon.js';
import { countByNode, modelRounds } from '../test/testbed/inner/e2e-model.js';

const MPOL_MF_MOVE = 2;
const DRAM = 0;
const AEP = 2;
const PAGE_MIB = 2;
const args = process.argv.slice(2);
const opt = (name: string, dflt: number): number => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
const hotMiB = opt('--hot-mib', 32);
const coldMiB = opt('--cold-mib', 96);
const quotaMiB = opt('--quota-mib', 64);
const cpuSizesMiB = [opt('--small-mib', 64), opt('--large-mib', 320)];
const cpuCycles = opt('--cycles', 4);
const loop = 2;
const TICK_MS = 10; // USER_HZ = 100 (proc(5): utime/stime in clock ticks)

function config(project: string, pid: number, quota: number, reserve: number): string {
  return cslideConfigText({ project, task: 't', pid, loop, dramNode: DRAM, aepNode: AEP, hotThreshold: loop, quotaMiB: quota, reserveMiB: reserve });
}

async function perPageNodes(guest: SyntheticGuest): Promise<number[]> {
  return [...(await native.movePages(guest.pid, Float64Array.from(guest.pageAddrs()), null, 0))];
}

function split(guest: SyntheticGuest, nodes: number[]): { hot: Record<number, number>; cold: Record<number, number> } {
  const hot = new Set(guest.hotPages);
  return {
    hot: countByNode(nodes.filter((_, i) => hot.has(i))),
    cold: countByNode(nodes.filter((_, i) => !hot.has(i))),
  };
}

async function convergence(daemon: E2eDaemon): Promise<unknown> {
  const guest = await startSyntheticGuest({ hotMiB, coldMiB, node: DRAM });
  const hot = guest.hotAddrs();
  const misplaced = hot.slice(hot.length - hot.length / 4);
  await native.movePages(guest.pid, Float64Array.from(misplaced), Int32Array.from(misplaced.map(() => AEP)), MPOL_MF_MOVE);
  const pools = hugepagePools([DRAM, AEP]);
  const reserveMiB = pools[DRAM]!.total * PAGE_MIB - hotMiB;
  const initialNodes = await perPageNodes(guest);
  const hotIdx = new Set(guest.hotPages);
  const model = modelRounds({
    pages: initialNodes.map((node, i) => ({ addr: guest.start + i * guest.pageSizeBytes, hot: hotIdx.has(i), node })),
    pools, nodePairs: [{ dram: DRAM, aep: AEP }], loop, hotThreshold: loop, quotaMiB, reserveMiB,
  });
  daemon.cli(['obj', 'add', '-f', writeConfigFile('placement.ini', config('placement', guest.pid, quotaMiB, reserveMiB))]);
  daemon.cli(['project', 'start', '-n', 'placement']);
  const rounds: unknown[] = [];
  await watchRounds(daemon, 'placement', 't', {
    timeoutMs: 90_000,
    onRound: async (stats) => {
      const nodes = await perPageNodes(guest);
      const planned = stats.plannedBytes as { promote: number; prefetch: number; demote: number };
      rounds.push({ round: stats.round, ...split(guest, nodes), promotedBytes: stats.promotedBytes, demotedBytes: stats.demotedBytes });
      progress('placement round', rounds.at(-1));
      return planned.promote + planned.prefetch + planned.demote === 0 || rounds.length >= 8;
    },
  });
  daemon.cli(['project', 'stop', '-n', 'placement']);
  await guest.stop();
  return { hotMiB, coldMiB, quotaMiB, reserveMiB, pools, initial: split(guest, initialNodes), rounds, model };
}

function daemonCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS; // utime, stime (fields 14, 15)
}

/** Polls the kdamond threads' CPU time; each one's last reading counts once it is gone. */
function kdamondWatch(): { stop(): number } {
  const last = new Map<number, number>();
  const timer = setInterval(() => {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        if (!readFileSync(`/proc/${entry}/comm`, 'utf8').startsWith('kdamond')) continue;
        last.set(Number(entry), Number(readFileSync(`/proc/${entry}/schedstat`, 'utf8').split(' ')[0]));
      } catch {
        // gone
      }
    }
  }, 50);
  return { stop: () => (clearInterval(timer), [...last.values()].reduce((a, b) => a + b, 0) / 1e6) };
}

async function trackingCost(daemon: E2eDaemon, sizeMiB: number, index: number): Promise<unknown> {
  const guest = await startSyntheticGuest({ hotMiB: sizeMiB / 4, coldMiB: (sizeMiB * 3) / 4, node: AEP });
  const project = `cost${index}`;
  // Baseline: the same daemon, no task, polled the same way, for a comparable time.
  const baseStart = daemonCpuMs(daemon.pid);
  const baseT0 = performance.now();
  for (let i = 0; i < 40; i++) {
    await daemon.call('project.show', {});
    await sleep(250);
  }
  const baseline = { cpuMs: daemonCpuMs(daemon.pid) - baseStart, wallMs: performance.now() - baseT0 };
  daemon.cli(['obj', 'add', '-f', writeConfigFile(`${project}.ini`, config(project, guest.pid, 0, 0))]);
  daemon.cli(['project', 'start', '-n', project]);
  let cpuAtFirst = 0;
  let t0 = 0;
  let kd: { stop(): number } | undefined;
  let kdamondMs = 0;
  let firstRound = -1;
  let lastRound = -1;
  await watchRounds(daemon, project, 't', {
    timeoutMs: 120_000,
    pollMs: 250,
    onRound: (stats) => {
      // Round 0 writes the DAMON context and warms up the JIT: measure from its end.
      if (firstRound < 0) {
        firstRound = stats.round as number;
        cpuAtFirst = daemonCpuMs(daemon.pid);
        t0 = performance.now();
        kd = kdamondWatch();
        return false;
      }
      lastRound = stats.round as number;
      if (lastRound - firstRound < cpuCycles) return false;
      kdamondMs = kd!.stop();
      return true;
    },
  });
  const cycles = lastRound - firstRound;
  const wallMs = performance.now() - t0;
  const cpuMs = daemonCpuMs(daemon.pid) - cpuAtFirst;
  const view = await taskView(daemon, project, 't');
  daemon.cli(['project', 'stop', '-n', project]);
  await guest.stop();
  const baselineMs = (baseline.cpuMs * wallMs) / baseline.wallMs;
  const result = { sizeMiB, regions: sizeMiB / 2, cycles, wallMs, daemonCpuMs: cpuMs, baselineCpuMs: baselineMs, kdamondCpuMs: kdamondMs, lastStats: view?.stats };
  progress('tracking cost', result);
  return result;
}

const daemon = await startE2eDaemon(`vt-bench-placement-${process.pid}`);
try {
  const placement = await convergence(daemon);
  const cost = [];
  for (const [i, size] of cpuSizesMiB.entries()) cost.push(await trackingCost(daemon, size!, i));
  process.stdout.write(`${JSON.stringify({ placement, cost, loop })}\n`);
} finally {
  await daemon.stop();
}
