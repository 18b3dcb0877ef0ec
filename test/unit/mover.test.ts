/**
 * The mover on this host (one NUMA node): real move_pages and
 * process_madvise on a real child process, observed through a wrapper that
 * records each call. Moves target node 0, where the pages already are: the
 * kernel reports them as on their target node, which is what the mover
 * counts. Cross-node moves run in test/testbed/mover.test.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { liveKernel } from '../../src/native/kernel.js';
import { VirtTierError } from '../../src/errors.js';
import type { PageMove, Plan } from '../../src/engines/plan.js';
import { PageMover, truncateMovesToQuota, BYTES_PER_MB, BURST_MS, errnoName, type PageMoverOptions } from '../../src/mover/mover.js';

const PAGE = 4096;
const HUGE = 2 << 20;
const SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/testbed/inner/synthetic-guest.py');

interface Call {
  kind: 'movePages' | 'processMadvise';
  pid: number;
  count: number;
}

/** The real addon, with each call recorded. */
function recordingNative(calls: Call[]): NonNullable<PageMoverOptions['kernel']> {
  return {
    movePages: (pid, addrs, nodes) => {
      calls.push({ kind: 'movePages', pid, count: addrs.length });
      return liveKernel.movePages(pid, addrs, nodes);
    },
    pageout: (pid, ranges) => {
      calls.push({ kind: 'processMadvise', pid, count: ranges.length / 2 });
      return liveKernel.pageout(pid, ranges);
    },
  };
}

/** A virtual clock: sleeping advances it, nothing waits. */
function virtualTime(): { now: () => number; sleep: (ms: number, signal?: AbortSignal) => Promise<void>; slept: number[] } {
  let t = 0;
  const slept: number[] = [];
  return {
    now: () => t,
    sleep: async (ms, signal) => {
      if (signal?.aborted) throw Object.assign(new Error('aborted'), { name: 'AbortError' });
      slept.push(ms);
      t += ms;
    },
    slept,
  };
}

const move = (start: number, pageCount: number, reason: PageMove['reason'], pageSizeBytes = PAGE, toNode = 0): PageMove => ({
  start, pageCount, pageSizeBytes, fromNode: 0, toNode, reason, accessCount: 0,
});

let child: ChildProcess;
let childPid = 0;
let childStart = 0;
const CHILD_PAGES = 64;

before(async () => {
  // 64 anonymous 4 KiB pages, all touched: a real process with present memory at a known address.
  child = spawn('python3', [SCRIPT, 'anon', String(CHILD_PAGES), '', '1000'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  const ready = JSON.parse(line) as { pid: number; start: number };
  childPid = ready.pid;
  childStart = ready.start;
});

after(() => {
  child.kill('SIGKILL');
});

describe('mover', () => {
  test('refuses a plan for a pid that is not a target, touching nothing', async () => {
    const calls: Call[] = [];
    const mover = new PageMover({ kernel: recordingNative(calls) });
    const plan: Plan = { pid: childPid, moves: [move(childStart, 4, 'demote')], swapOuts: [{ start: childStart, lengthBytes: PAGE, accessCount: 0 }] };
    await assert.rejects(mover.execute(plan, { allowedPids: new Set([childPid + 100000]) }), (err: unknown) => {
      assert.ok(err instanceof VirtTierError);
      assert.equal(err.code, 'OPT_PERM');
      assert.equal(err.field, 'plan.pid');
      assert.equal(err.value, String(childPid));
      return true;
    });
    assert.deepEqual(calls, []);
  });

  test('never exceeds the quota in either direction: the plan is truncated in order', async () => {
    const calls: Call[] = [];
    const mover = new PageMover({ kernel: recordingNative(calls) });
    const plan: Plan = {
      pid: childPid,
      moves: [move(childStart, 10, 'promote'), move(childStart + 10 * PAGE, 30, 'demote'), move(childStart + 40 * PAGE, 24, 'demote')],
      swapOuts: [],
    };
    const quota = 40 * PAGE;
    const result = await mover.execute(plan, { allowedPids: new Set([childPid]), quotaBytesPerDirection: quota });
    assert.equal(result.bytesPromoted, 10 * PAGE);
    assert.equal(result.bytesDemoted, quota);
    assert.deepEqual(result.pagesMovedByNode, { 0: 50 });
    assert.deepEqual(result.errorsByErrno, {});
    assert.equal(calls.reduce((n, c) => n + c.count, 0), 50, 'pages asked of the kernel');
    assert.equal(result.ended, undefined);
  });

  test('the quota is one owner\'s, with one meaning: per node pair and direction (etmem node_mig_quota)', () => {
    const pair = (fromNode: number, toNode: number, pageCount: number, reason: PageMove['reason']): PageMove => ({ ...move(0, pageCount, reason), fromNode, toNode });
    // Two pairs (0<->2, 1<->3): each demotes and promotes within its own quota of 5 pages.
    const cut = truncateMovesToQuota([pair(0, 2, 8, 'demote'), pair(1, 3, 8, 'demote'), pair(2, 0, 3, 'promote'), pair(3, 1, 9, 'prefetch'), pair(0, 2, 4, 'demote')], 5 * PAGE);
    assert.deepEqual(cut.map((m) => [m.fromNode, m.toNode, m.pageCount]), [[0, 2, 5], [1, 3, 5], [2, 0, 3], [3, 1, 5]]);
  });

  test('truncation keeps later moves that still fit and never splits a page', () => {
    const moves = [move(0, 3, 'demote', HUGE), move(10 * HUGE, 100, 'demote', PAGE), move(20 * HUGE, 1, 'promote', HUGE)];
    const cut = truncateMovesToQuota(moves, HUGE + 8 * PAGE);
    assert.deepEqual(cut.map((m) => [m.reason, m.pageCount, m.pageSizeBytes]), [
      ['demote', 1, HUGE],
      ['demote', 8, PAGE],
      ['promote', 1, HUGE],
    ]);
    assert.deepEqual(truncateMovesToQuota(moves, 0), []);
  });

  test('EBUSY for a page of a THP that the same call moved whole: asked again, counted as moved when it reached its node', async () => {
    const asked: number[][] = [];
    const kernel = {
      movePages: async (_pid: number, addrs: Float64Array, nodes: Int32Array) => Int32Array.from(addrs, (_a, i) => (i % 2 === 1 ? -16 : nodes[i]!)),
      pageout: async () => 0,
      queryPageNodes: async (_pid: number, addrs: Float64Array) => {
        asked.push([...addrs]);
        // the first busy page did reach node 0 (its THP moved); the second stayed on node 1
        return Int32Array.from(addrs, (_a, k) => (k === 0 ? 0 : 1));
      },
    };
    const result = await new PageMover({ kernel }).execute({ pid: childPid, moves: [move(childStart, 4, 'demote')], swapOuts: [] }, { allowedPids: new Set([childPid]) });
    assert.deepEqual(asked, [[childStart + PAGE, childStart + 3 * PAGE]], 'only the busy pages are asked about');
    assert.equal(result.bytesDemoted, 3 * PAGE);
    assert.deepEqual(result.errorsByErrno, { EBUSY: 1 });
  });

  test('pages per call: calls carry at most pagesPerCall pages', async () => {
    const calls: Call[] = [];
    const result = await new PageMover({ kernel: recordingNative(calls) }).execute(
      { pid: childPid, moves: [move(childStart, CHILD_PAGES, 'demote')], swapOuts: [] },
      { allowedPids: new Set([childPid]), pagesPerCall: 16 },
    );
    assert.deepEqual(calls.map((c) => c.count), [16, 16, 16, 16]);
    assert.deepEqual(result.pagesMovedByNode, { 0: CHILD_PAGES });
  });

  test('bandwidth: calls shrink to one burst and the mover waits until the bytes so far fit the rate', async () => {
    const calls: Call[] = [];
    const clock = virtualTime();
    const bandwidthMBps = 0.4;
    const bytesPerMs = (bandwidthMBps * BYTES_PER_MB) / 1000;
    const pagesPerBurst = Math.floor((bytesPerMs * BURST_MS) / PAGE);
    const result = await new PageMover({ kernel: recordingNative(calls), ...clock }).execute(
      { pid: childPid, moves: [move(childStart, CHILD_PAGES, 'demote')], swapOuts: [] },
      { allowedPids: new Set([childPid]), bandwidthMBps, pagesPerCall: 1000 },
    );
    assert.equal(result.bytesDemoted, CHILD_PAGES * PAGE);
    assert.ok(calls.every((c) => c.count <= pagesPerBurst), `calls ${calls.map((c) => c.count)} within ${pagesPerBurst} pages`);
    assert.equal(calls.length, Math.ceil(CHILD_PAGES / pagesPerBurst));
    // Before the last call, all earlier bytes must have been given their time at the rate.
    const bytesBeforeLast = (CHILD_PAGES - calls[calls.length - 1]!.count) * PAGE;
    const sleptMs = clock.slept.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sleptMs - bytesBeforeLast / bytesPerMs) < 1e-6, `slept ${sleptMs} ms`);

    const unpaced = virtualTime();
    const unpacedCalls: Call[] = [];
    await new PageMover({ kernel: recordingNative(unpacedCalls), ...unpaced }).execute(
      { pid: childPid, moves: [move(childStart, CHILD_PAGES, 'demote')], swapOuts: [] },
      { allowedPids: new Set([childPid]), pagesPerCall: 1000 },
    );
    assert.deepEqual(unpacedCalls.map((c) => c.count), [CHILD_PAGES]);
    assert.deepEqual(unpaced.slept, []);
  });

  test('per-page failures are counted by errno name', async () => {
    // Page 0 of the address space is never mapped: move_pages reports -EFAULT or -ENOENT for it.
    const result = await new PageMover().execute(
      { pid: childPid, moves: [move(childStart, 2, 'demote'), move(0x1000, 3, 'demote')], swapOuts: [] },
      { allowedPids: new Set([childPid]) },
    );
    assert.deepEqual(result.pagesMovedByNode, { 0: 2 });
    const names = Object.keys(result.errorsByErrno);
    assert.equal(names.length, 1);
    assert.ok(['EFAULT', 'ENOENT'].includes(names[0]!), names[0]);
    assert.equal(result.errorsByErrno[names[0]!], 3);
    assert.equal(errnoName(-16), 'EBUSY');
  });

  test('a whole call the kernel refuses (no such node) counts every page of it', async () => {
    const result = await new PageMover().execute(
      { pid: childPid, moves: [move(childStart, 4, 'demote', PAGE, 63)], swapOuts: [] },
      { allowedPids: new Set([childPid]) },
    );
    assert.deepEqual(result.pagesMovedByNode, {});
    const entries = Object.entries(result.errorsByErrno);
    assert.equal(entries.length, 1);
    assert.equal(entries[0]![1], 4);
  });

  test('swap-outs go through process_madvise(MADV_PAGEOUT) in batches', async () => {
    const calls: Call[] = [];
    const swapOuts = Array.from({ length: 8 }, (_, i) => ({ start: childStart + i * 8 * PAGE, lengthBytes: 8 * PAGE, accessCount: 0 }));
    const result = await new PageMover({ kernel: recordingNative(calls) }).execute(
      { pid: childPid, moves: [], swapOuts },
      { allowedPids: new Set([childPid]) },
    );
    assert.equal(result.bytesSwappedOut, CHILD_PAGES * PAGE);
    assert.deepEqual(calls.map((c) => [c.kind, c.count]), [['processMadvise', 8]]);
  });

  test('a target that exited (a real reaped child) ends the round with `ended`, no throw', async () => {
    const dead = spawn('sleep', ['30']);
    const deadPid = dead.pid!;
    dead.kill('SIGKILL');
    await once(dead, 'exit');
    const result = await new PageMover().execute(
      { pid: deadPid, moves: [move(0x400000, 4, 'demote')], swapOuts: [{ start: 0x400000, lengthBytes: PAGE, accessCount: 0 }] },
      { allowedPids: new Set([deadPid]) },
    );
    assert.match(result.ended ?? '', /ESRCH/);
    assert.deepEqual(result.pagesMovedByNode, {});
    assert.equal(result.bytesSwappedOut, 0);
  });

  test('abort: between calls, AbortError with the partial result', async () => {
    const controller = new AbortController();
    const calls: Call[] = [];
    const clock = virtualTime();
    const mover = new PageMover({
      kernel: recordingNative(calls),
      now: clock.now,
      sleep: async (ms, signal) => {
        controller.abort(); // the first pacing wait is where the task gets stopped
        return clock.sleep(ms, signal);
      },
    });
    await assert.rejects(
      mover.execute(
        { pid: childPid, moves: [move(childStart, CHILD_PAGES, 'demote')], swapOuts: [] },
        { allowedPids: new Set([childPid]), bandwidthMBps: 0.4, signal: controller.signal },
      ),
      (err: unknown) => {
        assert.equal((err as Error).name, 'AbortError');
        const partial = (err as { partial: { pagesMovedByNode: Record<number, number>; errorsByErrno: Record<string, number> } }).partial;
        // The partial result accounts for exactly the first call's pages. Each
        // page is counted moved or failed by the kernel's own status; which of
        // the two is the kernel's business (on a loaded host a page can be
        // busy), not the abort's.
        const sum = (r: Record<string | number, number>): number => Object.values(r).reduce((a, b) => a + b, 0);
        assert.equal(sum(partial.pagesMovedByNode) + sum(partial.errorsByErrno), calls[0]!.count, JSON.stringify(partial));
        return true;
      },
    );
    assert.equal(calls.length, 1);
  });

  test('bad limits are refused naming the field', async () => {
    const plan: Plan = { pid: childPid, moves: [], swapOuts: [] };
    await assert.rejects(new PageMover().execute(plan, { allowedPids: new Set([childPid]), pagesPerCall: 0 }), { code: 'OPT_INVAL', field: 'pagesPerCall' });
    await assert.rejects(new PageMover().execute(plan, { allowedPids: new Set([childPid]), bandwidthMBps: -1 }), { code: 'OPT_INVAL', field: 'bandwidthMBps' });
  });
});
