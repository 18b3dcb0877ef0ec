/**
 * The cslide move ledger as intervals answers what a ledger of one entry
 * per page answers (the model below, the shape the runner held before):
 * the ping-pong bytes of each recorded run, the last move of any page, and
 * forgetting old rounds, on random runs of 4 KiB and 2 MiB moves over
 * overlapping address ranges; and it holds intervals, not pages.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MoveLedger, type LedgerMove } from '../../src/runner/move-ledger.js';
import { seededRandom } from '../sim/synthetic.js';

const K4 = 4096;
const M2 = 2 * 1024 * 1024;

class PerPageModel {
  pages = new Map<number, Map<number, { round: number; toNode: number }>>();
  record(pid: number, run: readonly LedgerMove[], round: number, windowRounds: number): number {
    let pages = this.pages.get(pid);
    if (!pages) this.pages.set(pid, (pages = new Map()));
    let undone = 0;
    for (const m of run) {
      for (let k = 0; k < m.pageCount; k++) {
        const addr = m.start + k * m.pageSizeBytes;
        for (let b = 0; b < m.pageSizeBytes; b += K4) {
          // per 4 KiB, so 2 MiB and 4 KiB moves over one range compare
          const last = pages.get(addr + b);
          if (last && round - last.round <= windowRounds && last.toNode === m.fromNode) undone += K4;
          pages.set(addr + b, { round, toNode: m.toNode });
        }
      }
    }
    return undone;
  }
  lastMove(pid: number, addr: number, round: number) {
    const m = this.pages.get(pid)?.get(addr);
    return m ? { roundsAgo: round - m.round, toNode: m.toNode } : undefined;
  }
  forgetBefore(oldest: number): void {
    for (const [pid, pages] of this.pages) {
      for (const [a, m] of pages) if (m.round < oldest) pages.delete(a);
      if (pages.size === 0) this.pages.delete(pid);
    }
  }
}

/** Disjoint moves (as a plan's), in random order, over a 64 MiB window so rounds overlap each other. */
function randomRun(rand: () => number): LedgerMove[] {
  const int = (n: number): number => Math.floor(rand() * n);
  const base = 0x7f0000000000;
  const slots = new Set<number>();
  const run: LedgerMove[] = [];
  for (let i = 0, n = int(12); i < n; i++) {
    const huge = rand() < 0.3;
    const size = huge ? M2 : K4;
    const slot = int(32); // 2 MiB slots; a move stays inside its slot, one move per slot
    if (slots.has(slot)) continue;
    slots.add(slot);
    const first = huge ? 0 : int(400);
    const pageCount = huge ? 1 : 1 + int(512 - first - 1);
    run.push({ start: base + slot * M2 + first * size, pageCount, pageSizeBytes: size, fromNode: int(3), toNode: int(3) });
  }
  return run;
}

test('the interval ledger answers as a ledger per page: ping-pong bytes, last move, forgetting', () => {
  const rand = seededRandom(4242);
  for (let trial = 0; trial < 200; trial++) {
    const ledger = new MoveLedger();
    const model = new PerPageModel();
    const window = 1 + Math.floor(rand() * 3);
    let undoneSeen = 0;
    for (let round = 1; round <= 12; round++) {
      for (const pid of [1, 2]) {
        const run = randomRun(rand);
        const want = model.record(pid, run, round, window);
        assert.equal(ledger.record(pid, run, round, window), want, `trial ${trial} round ${round} pid ${pid}`);
        undoneSeen += want;
      }
      for (let q = 0; q < 50; q++) {
        const pid = 1 + Math.floor(rand() * 2);
        const addr = 0x7f0000000000 + Math.floor(rand() * 16384) * K4;
        assert.deepEqual(ledger.lastMove(pid, addr, round), model.lastMove(pid, addr, round), `trial ${trial} round ${round} addr ${addr.toString(16)}`);
      }
      ledger.forgetBefore(round - window);
      model.forgetBefore(round - window);
    }
    if (trial === 0) assert.ok(undoneSeen > 0, 'the runs move pages back and forth (a test of zero ping-pong would prove little)');
  }
});

test('a round that moves 1 GiB of 4 KiB pages in 512-page runs holds one interval per run, fewer when runs touch', () => {
  const ledger = new MoveLedger();
  const run: LedgerMove[] = [];
  for (let i = 0; i < 512; i++) run.push({ start: 0x7f0000000000 + i * M2, pageCount: 512, pageSizeBytes: K4, fromNode: 2, toNode: 0 });
  assert.equal(ledger.record(7, run, 1, 3), 0);
  assert.equal(ledger.intervalCount(), 1, 'touching runs of one round and node coalesce');
  const back = run.filter((_, i) => i % 2 === 0).map((m) => ({ ...m, fromNode: 0, toNode: 2 }));
  assert.equal(ledger.record(7, back, 2, 3), 256 * M2, 'half of it moved back: ping-pong');
  assert.equal(ledger.intervalCount(), 512);
  ledger.forgetBefore(2);
  assert.equal(ledger.intervalCount(), 256);
});
