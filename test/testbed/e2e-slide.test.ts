/**
 * slide end to end in the testbed: a zram swap device made inside, the real
 * daemon and CLI, a slide task (T=2 of loop 3, DAMON vaddr) on a process
 * with plain anonymous memory. The cold set is swapped out (pagemap swap
 * bits, smaps Swap:, pswpout), the hot set stays present and was never
 * swapped out and back in (same PFNs as before the task started). One boot
 * (inner/e2e-slide.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runInTestbed, testbedAvailability } from './harness.js';
import type { CliResult } from './inner/e2e-daemon.js';

const availability = testbedAvailability();
const skip = availability.available ? false : availability.reason;

const PAGE = 4096;
/** DAMON tracks 4 KiB memory in 2 MiB regions (src/scan/damon.ts): a window mixing hot and cold pages is judged as a whole. */
const WINDOW = 2 << 20;

interface Observations {
  zram: { device: string; swaps: string };
  guest: { pid: number; start: number; pageCount: number; pageSizeBytes: number; hotPageIndices: [number, number] };
  config: { hotMiB: number; coldMiB: number; T: number; loop: number };
  add: CliResult;
  start: CliResult;
  rounds: Array<{ round: number; tracker: string; coldBytes: number; swappedOutBytes: number; totalSwappedOutBytes: number; errorsByErrno: Record<string, number>; nodes: Record<string, { usedBytes: number; hotBytes: number; coldBytes: number }> }>;
  countersBefore: { pswpin: number; pswpout: number };
  countersAfter: { pswpin: number; pswpout: number };
  vma: { start: number; end: number; swapBytes: number; rssBytes: number };
  before: string;
  after: string;
  samePfn: string;
  taskPagesJson: CliResult;
  showJson: CliResult;
  ended?: string;
  daemonExit: number | null;
  daemonLog: string[];
}

test('testbed e2e: slide via the real daemon and CLI swaps the cold anonymous pages to zram, the hot ones stay', { skip, timeout: 540_000 }, async () => {
  const r = await runInTestbed({
    command: 'node dist/test/testbed/inner/e2e-slide.js --hot-mib 8 --cold-mib 32 --t 2 --loop 3',
    // room for a loaded host, as e2e-cslide (which ran past 240 s under two CPU hogs)
    timeoutMs: 480_000,
  });
  assert.equal(r.exitCode, 0, `inner run failed:\n${r.stdout}\n${r.stderr}`);
  const o = JSON.parse(r.stdout.trim().split('\n').pop()!) as Observations;
  assert.match(o.zram.swaps, /^\/dev\/zram0\s+partition/m, 'zram swap device on');
  assert.equal(o.add.code, 0, o.add.stderr);
  assert.equal(o.start.code, 0, o.start.stderr);
  assert.equal(o.guest.pageSizeBytes, PAGE);
  assert.equal(o.before, 'P'.repeat(o.guest.pageCount), 'every page present before the task starts');

  // Pages by temperature, and by 2 MiB window (only windows wholly hot or
  // wholly cold are judged: a mixed one is one DAMON region, sampled).
  const hotEnd = o.guest.hotPageIndices[1] + 1; // hot pages are 0..hotEnd-1
  const windowOf = (i: number): number => Math.floor((o.guest.start + i * PAGE) / WINDOW);
  const mixed = new Set([windowOf(hotEnd - 1), windowOf(hotEnd)]);
  const hotJudged: number[] = [];
  const coldJudged: number[] = [];
  for (let i = 0; i < o.guest.pageCount; i++) {
    if (mixed.has(windowOf(i)) && windowOf(hotEnd - 1) === windowOf(hotEnd)) continue;
    (i < hotEnd ? hotJudged : coldJudged).push(i);
  }
  assert.ok(hotJudged.length >= 1024 && coldJudged.length >= 6144, `judged ${hotJudged.length} hot, ${coldJudged.length} cold pages`);

  // Cold pages: swapped (pagemap bit 62), every one.
  const coldNotSwapped = coldJudged.filter((i) => o.after[i] !== 'S');
  assert.deepEqual(coldNotSwapped.slice(0, 10), [], `${coldNotSwapped.length} of ${coldJudged.length} cold pages not swapped`);
  // Hot pages: present, and with the PFN they had before: never swapped out and faulted back.
  const hotMissing = hotJudged.filter((i) => o.after[i] !== 'P' || o.samePfn[i] !== '1');
  assert.deepEqual(hotMissing.slice(0, 10), [], `${hotMissing.length} of ${hotJudged.length} hot pages swapped or replaced`);

  // The kernel's own counters agree: smaps Swap: of the mapping and pswpout.
  assert.ok(o.vma.swapBytes >= coldJudged.length * PAGE, `smaps Swap: ${o.vma.swapBytes} B`);
  assert.ok(o.countersAfter.pswpout - o.countersBefore.pswpout >= coldJudged.length, 'pswpout counted the cold pages');

  // The daemon's stats: DAMON, swapped in round 0 (cold set and the
  // interpreter's own cold pages), little or nothing after.
  const [first, ...rest] = o.rounds;
  assert.equal(first!.tracker, 'damon-vaddr');
  assert.deepEqual(first!.errorsByErrno, {});
  assert.ok(first!.swappedOutBytes >= coldJudged.length * PAGE, `round 0 swapped ${first!.swappedOutBytes} B`);
  assert.ok(first!.nodes['0']!.hotBytes >= hotJudged.length * PAGE, 'the hot set counted hot');
  for (const round of rest) assert.ok(round.swappedOutBytes < first!.swappedOutBytes / 4, `round ${round.round} swapped ${round.swappedOutBytes} B again`);
  const last = o.rounds.at(-1)!;
  assert.ok(last.totalSwappedOutBytes >= first!.swappedOutBytes);

  // showtaskpages (slide answers it too) after the swap-out: node 0 holds about the hot set.
  assert.equal(o.taskPagesJson.code, 0, o.taskPagesJson.stderr);
  const pages = JSON.parse(o.taskPagesJson.stdout) as { pids: Array<{ pid: number; nodes: Array<{ node: number; usedBytes: number; hotBytes: number }> }> };
  assert.equal(pages.pids[0]!.pid, o.guest.pid);
  const node0 = pages.pids[0]!.nodes.find((n) => n.node === 0)!;
  assert.ok(node0.hotBytes >= hotJudged.length * PAGE);
  assert.ok(node0.usedBytes < (o.config.hotMiB + o.config.coldMiB / 2) * (1 << 20), `node 0 still holds ${node0.usedBytes} B of the task`);

  assert.equal(o.ended, undefined, 'the task still runs');
  assert.equal(o.daemonExit, 0);
  assert.deepEqual(o.daemonLog.filter((l) => /\] error:/.test(l)), []);
});
