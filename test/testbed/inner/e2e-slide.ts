/**
 * Inside the testbed: slide end to end. A zram swap device, the real daemon
 * and CLI, and a process with plain anonymous memory: a hot set written
 * every 20 ms and a cold set written once (a context-switching companion on
 * its CPU: the TLB caveat). A slide task with T=2 of loop 3 runs until a
 * round swaps nothing more; then the process's pagemap (swap bit, PFN),
 * smaps and the kernel's swap counters say what happened. Prints one JSON
 * line of observations for test/testbed/e2e-slide.test.ts.
 *
 * Options: --hot-mib 8 --cold-mib 32 --t 2 --loop 3
 */
import { readFileSync } from 'node:fs';
import { native } from '../../../src/native/index.js';
import { decodePagemapEntry } from '../../../src/native/pagemap.js';
import { parseSmaps } from '../../../src/platform/smaps.js';
import { startSyntheticGuest } from './synthetic-guest.js';
import { numberOption, progress, startE2eDaemon, taskView, watchRounds, writeConfigFile } from './e2e-daemon.js';
import { setupZramSwap, swapCounters } from './e2e-zram.js';


const hotMiB = numberOption('hot-mib', 8);
const coldMiB = numberOption('cold-mib', 32);
const T = numberOption('t', 2);
const loop = numberOption('loop', 3);
const PROJECT = 'e2e-slide';
const TASK = 'anon';
const socket = `vt-e2e-slide-${process.pid}`;

interface PageState {
  present: boolean;
  swapped: boolean;
  pfn: number;
}

async function pageStates(pid: number, start: number, count: number): Promise<PageState[]> {
  const entries = await native.readPagemap(pid, start, count);
  return Array.from({ length: entries.length }, (_, i) => {
    const e = decodePagemapEntry(entries, i);
    return { present: e.present, swapped: e.swapped, pfn: e.pfn ?? 0 };
  });
}

const zram = setupZramSwap(128);
progress('zram swap on', zram);
const daemonStarting = startE2eDaemon(socket);
const guest = await startSyntheticGuest({ hotMiB, coldMiB, node: 0, backing: 'anon' });
const before = await pageStates(guest.pid, guest.start, guest.pageCount);
const countersBefore = swapCounters();
progress('guest ready', { pid: guest.pid, start: guest.start, pages: guest.pageCount });
const daemon = await daemonStarting;
const out: Record<string, unknown> = {
  zram,
  guest: { pid: guest.pid, start: guest.start, pageCount: guest.pageCount, pageSizeBytes: guest.pageSizeBytes, hotPageIndices: [guest.hotPages[0], guest.hotPages.at(-1)] },
  config: { hotMiB, coldMiB, T, loop },
};
try {
  const file = writeConfigFile('slide.ini', `[project]
name=${PROJECT}
loop=${loop}
interval=1
sleep=1

[engine]
project=${PROJECT}
name=slide

[task]
project=${PROJECT}
engine=slide
name=${TASK}
type=pid
value=${guest.pid}
T=${T}
`);
  out.add = daemon.cli(['obj', 'add', '-f', file]);
  out.start = daemon.cli(['project', 'start', '-n', PROJECT]);
  progress('added and started', { add: out.add, start: out.start });
  const rounds: unknown[] = [];
  await watchRounds(daemon, PROJECT, TASK, {
    timeoutMs: 120_000,
    onRound: (stats) => {
      rounds.push(stats);
      progress('round', { round: stats.round, swapped: stats.swappedOutBytes, cold: stats.coldBytes, nodes: stats.nodes });
      // Done once a round after the first swaps (next to) nothing more.
      return (rounds.length >= 2 && (stats.swappedOutBytes as number) < (1 << 20)) || rounds.length >= 6;
    },
  });
  out.rounds = rounds;
  const after = await pageStates(guest.pid, guest.start, guest.pageCount);
  out.countersAfter = swapCounters();
  out.countersBefore = countersBefore;
  const vma = parseSmaps(readFileSync(`/proc/${guest.pid}/smaps`, 'utf8')).find((v) => v.start <= guest.start && guest.start < v.end)!;
  out.vma = { start: vma.start, end: vma.end, swapBytes: vma.swapBytes, rssBytes: vma.rssBytes };
  // Compact per-page record: 'P' present, 'S' swapped, '-' neither; and whether the PFN is unchanged.
  out.before = before.map((p) => (p.present ? 'P' : p.swapped ? 'S' : '-')).join('');
  out.after = after.map((p) => (p.present ? 'P' : p.swapped ? 'S' : '-')).join('');
  out.samePfn = after.map((p, i) => (p.present && before[i]!.present && p.pfn === before[i]!.pfn ? '1' : '0')).join('');
  const [taskPagesJson, showJson] = await Promise.all([
    daemon.cliAsync(['engine', 'showtaskpages', '-t', TASK, '-n', PROJECT, '-e', 'slide', '--json']),
    daemon.cliAsync(['project', 'show', '--json']),
  ]);
  out.taskPagesJson = taskPagesJson;
  out.showJson = showJson;
  out.ended = (await taskView(daemon, PROJECT, TASK))?.ended;
} finally {
  await guest.stop();
  out.daemonExit = await daemon.stop();
  out.daemonLog = daemon.log().split('\n').filter((l) => /error|warn/i.test(l)).slice(-20);
  process.stdout.write(`${JSON.stringify(out)}\n`);
}
