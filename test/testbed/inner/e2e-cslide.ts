/**
 * Inside the testbed: cslide end to end. The real daemon, the real CLI, a
 * synthetic hugetlb guest on node 0 (a hot set written every 20 ms, a cold
 * set written once, a context-switching companion on its CPU), with part
 * of the hot set first moved to node 2 so that the policy has to promote
 * as well as demote. Every round the daemon reports is recorded with the
 * kernel's own view (numa_maps, move_pages queries, hugepage pools); at the
 * fixed point the engine commands are run through the CLI; finally the
 * guest is killed in the middle of a cycle. Prints one JSON line of
 * observations; the host-side test (test/testbed/e2e-cslide.test.ts)
 * judges them.
 *
 * Options (all optional): --hot-mib 16 --cold-mib 48 --start-on-aep 4
 * --quota-mib 8 --reserve-mib 64 --hot-threshold 2 --loop 3
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { readFileSync } from 'node:fs';
import { native } from '../../../src/native/index.js';
import { numaMapsAt } from './numa-maps.js';
import { startSyntheticGuest } from './synthetic-guest.js';
import { cslideConfigText, hugepagePools, numberOption, progress, roundAccess, startE2eDaemon, taskView, watchRounds, writeConfigFile } from './e2e-daemon.js';
import { countByNode } from './e2e-model.js';

const MPOL_MF_MOVE = 2;
const DRAM = 0;
const AEP = 2;


const hotMiB = numberOption('hot-mib', 16);
const coldMiB = numberOption('cold-mib', 48);
const startOnAep = numberOption('start-on-aep', 4);
const quotaMiB = numberOption('quota-mib', 8);
const reserveMiB = numberOption('reserve-mib', 64);
const hotThreshold = numberOption('hot-threshold', 2);
const loop = numberOption('loop', 3);
const PROJECT = 'e2e';
const TASK = 'guest';
const socket = `vt-e2e-cslide-${process.pid}`;

async function pageNodes(pid: number, addrs: number[]): Promise<number[]> {
  return [...(await native.movePages(pid, Float64Array.from(addrs), null, 0))];
}

// The daemon (node, slow to start under TCG) and the guest start side by side.
const daemonStarting = startE2eDaemon(socket);
const guest = await startSyntheticGuest({ hotMiB, coldMiB, node: DRAM });
const hot = guest.hotAddrs();
const cold = guest.coldAddrs();
// The last `startOnAep` hot pages start on the AEP node: the policy must bring them back.
const misplaced = hot.slice(hot.length - startOnAep);
const movedToAep = misplaced.length > 0 ? [...(await native.movePages(guest.pid, Float64Array.from(misplaced), Int32Array.from(misplaced.map(() => AEP)), MPOL_MF_MOVE))] : [];
const initial = {
  pageNodesEach: await pageNodes(guest.pid, guest.pageAddrs()),
  hotNodes: countByNode(await pageNodes(guest.pid, hot)),
  coldNodes: countByNode(await pageNodes(guest.pid, cold)),
  numaMaps: numaMapsAt(guest.pid, guest.start).pagesByNode,
  pools: hugepagePools([DRAM, AEP]),
};
progress('guest ready', initial);
const daemon = await daemonStarting;
progress('daemon ready');
const out: Record<string, unknown> = {
  guest: { pid: guest.pid, start: guest.start, pageCount: guest.pageCount, hotPageIndices: guest.hotPages, hotPages: hot.length, coldPages: cold.length, misplaced: misplaced.length },
  config: { hotMiB, coldMiB, quotaMiB, reserveMiB, hotThreshold, loop },
  movedToAep,
  initial,
};
try {
  // Written mode 0600, root-owned: etmem's file rule.
  const configText = cslideConfigText({ project: PROJECT, task: TASK, pid: guest.pid, loop, dramNode: DRAM, aepNode: AEP, hotThreshold, quotaMiB, reserveMiB });
  const file = writeConfigFile('cslide.ini', configText);
  out.add = daemon.cli(['obj', 'add', '-f', file]);
  out.start = daemon.cli(['project', 'start', '-n', PROJECT]);
  progress('added and started', { add: out.add, start: out.start });

  const rounds: unknown[] = [];
  await watchRounds(daemon, PROJECT, TASK, {
    timeoutMs: 120_000,
    onRound: async (stats) => {
      // first, before the next cycle's map replaces it
      const access = await roundAccess(daemon, guest.pid, stats.timeMs as number);
      const numaMaps = numaMapsAt(guest.pid, guest.start).pagesByNode;
      const pools = hugepagePools([DRAM, AEP]);
      // Every page's node, in address order (the guest's hot pages come first).
      const pageNodesEach = await pageNodes(guest.pid, guest.pageAddrs());
      const hotIndex = new Set(guest.hotPages);
      const hotNodes = countByNode(pageNodesEach.filter((_, i) => hotIndex.has(i)));
      const coldNodes = countByNode(pageNodesEach.filter((_, i) => !hotIndex.has(i)));
      progress('round', { round: stats.round, nodes: stats.nodes, planned: stats.plannedBytes, numaMaps });
      rounds.push({ stats, access, numaMaps, pools, hotNodes, coldNodes, pageNodesEach });
      const planned = stats.plannedBytes as { promote: number; prefetch: number; demote: number } | undefined;
      const movedNothing = planned !== undefined && planned.promote + planned.prefetch + planned.demote === 0;
      // The first round that plans nothing: the fixed point (the checks
      // below span more rounds and show that nothing moves after it).
      return movedNothing || rounds.length >= 12;
    },
  });
  out.rounds = rounds;

  // At the fixed point nothing moves: the engine commands must agree with the kernel.
  const before = { numaMaps: numaMapsAt(guest.pid, guest.start).pagesByNode, pools: hugepagePools([0, 1, 2, 3]) };
  const [taskPagesText, taskPagesJson, hostPagesText, hostPagesJson, projectShowText] = await Promise.all([
    daemon.cliAsync(['engine', 'showtaskpages', '-t', TASK, '-n', PROJECT, '-e', 'cslide']),
    daemon.cliAsync(['engine', 'showtaskpages', '-t', TASK, '-n', PROJECT, '-e', 'cslide', '--json']),
    daemon.cliAsync(['engine', 'showhostpages', '-n', PROJECT, '-e', 'cslide']),
    daemon.cliAsync(['engine', 'showhostpages', '-n', PROJECT, '-e', 'cslide', '--json']),
    daemon.cliAsync(['project', 'show']),
  ]);
  const after = { numaMaps: numaMapsAt(guest.pid, guest.start).pagesByNode, pools: hugepagePools([0, 1, 2, 3]) };
  const roundAfter = (await taskView(daemon, PROJECT, TASK))?.stats as Record<string, unknown> | undefined;
  out.fixedPoint = { before, after, roundAfter, taskPagesText, taskPagesJson, hostPagesText, hostPagesJson, projectShowText };
  progress('fixed point checked', { after, round: roundAfter?.round });

  // Kill the guest in the middle of a cycle: right after a round's report
  // the task sleeps 1 s, then scans for `loop` s; 2 s in is mid-scan.
  const lastRound = (await taskView(daemon, PROJECT, TASK))?.stats?.round as number;
  const roundSeenAt = Date.now();
  for (;;) {
    const r = (await taskView(daemon, PROJECT, TASK))?.stats?.round as number;
    if (r !== lastRound) break;
    if (Date.now() - roundSeenAt > 30_000) throw new Error('no new round within 30 s');
    await sleep(50);
  }
  await sleep(2000);
  const killedAt = Date.now();
  await guest.stop();
  let endedAfterMs = -1;
  let view = await taskView(daemon, PROJECT, TASK);
  while (!view?.ended && Date.now() - killedAt < 30_000) {
    await sleep(100);
    view = await taskView(daemon, PROJECT, TASK);
  }
  if (view?.ended) endedAfterMs = Date.now() - killedAt;
  const kdamondState = (() => {
    try {
      return readFileSync('/sys/kernel/mm/damon/admin/kdamonds/0/state', 'utf8').trim();
    } catch {
      return 'none';
    }
  })();
  progress('guest killed mid-cycle', { endedAfterMs, ended: view?.ended });
  out.exit = {
    endedAfterMs,
    roundWhenKilled: view?.stats?.round,
    projectShowJson: daemon.cli(['project', 'show', '--json']),
    daemonAlive: daemon.alive(),
    kdamondState,
  };
} finally {
  await guest.stop();
  out.daemonExit = await daemon.stop();
  out.daemonLog = daemon.log().split('\n').filter((l) => /error|warn/i.test(l)).slice(-20);
  process.stdout.write(`${JSON.stringify(out)}\n`);
}
