/**
 * Inside the testbed (stock 6.12: DAMON vaddr and paddr, no kdamond of
 * anyone else): many DAMON trackers at once through the one kdamond owner.
 * Three synthetic guests (THP, 4 KiB anonymous, hugetlb) are tracked by
 * three damon-vaddr trackers started together, then the two LRU guests by
 * two damon-paddr trackers in owned mode at once, and the hugetlb guest by
 * damon-paddr (refused). Prints one JSON line: per tracker the slots,
 * errors, and hot-set recall / precision, for test/testbed/damon-concurrent.test.ts.
 *
 * usage: node damon-concurrent.js [--loop 3] [--interval-ms 200] [--cycles 2]
 */
import { DamonVaddrTracker } from '../../../src/scan/damon.js';
import { DamonPaddrTracker } from '../../../src/scan/damon-paddr.js';
import { kdamondsFor } from '../../../src/scan/damon-contexts.js';
import { liveIO } from '../../../src/platform/io.js';
import type { AccessMap } from '../../../src/scan/access-map.js';
import type { Tracker } from '../../../src/scan/tracker.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { startSyntheticGuest } from './synthetic-guest.js';

interface Span { addr: number; len: number }
interface Target { pid: number; hot: Span; cold: Span; stop(): void }

/** test/integration/helpers/hotcold.c (built by the host test: $VIRT_TIER_HOTCOLD) on `cpu`, with a companion that context-switches there (the TLB caveat). */
async function startHotcold(hotMiB: number, coldMiB: number, thp: boolean, cpu: number): Promise<Target> {
  const companion: ChildProcess = spawn('taskset', ['-c', String(cpu), 'sh', '-c', 'while :; do sleep 0.001; done'], { stdio: 'ignore' });
  const child = spawn('taskset', ['-c', String(cpu), process.env.VIRT_TIER_HOTCOLD!, String(hotMiB), String(coldMiB), ...(thp ? ['thp'] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
  const header = await new Promise<string>((resolve, reject) => {
    let text = '';
    child.stdout!.on('data', (d: Buffer) => { text += d.toString(); if (text.split('\n').length > 2) resolve(text); });
    child.once('exit', (code) => reject(new Error(`hotcold exited ${code}`)));
  });
  const sets = Object.fromEntries(header.trim().split('\n').map((l) => l.split(' ')).map(([k, a, n]) => [k, { addr: Number(a), len: Number(n) }]));
  return { pid: child.pid!, hot: sets.hot!, cold: sets.cold!, stop: () => { child.kill('SIGKILL'); companion.kill('SIGKILL'); } };
}

const args = process.argv.slice(2);
const opt = (name: string, dflt: number): number => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
const loop = opt('--loop', 3);
const intervalMs = opt('--interval-ms', 200);
const cycles = opt('--cycles', 2);

interface Score { recall: number; precision: number; hotPages: number; coldPages: number; cpuMs: number }

/** Hot-set recall and precision, 4 KiB at a time; a page is "hot" when seen in at least one scan. */
function score(map: AccessMap, t: Target): Omit<Score, 'cpuMs'> {
  const inSpan = (a: number, s: Span): boolean => a >= s.addr && a < s.addr + s.len;
  let tp = 0, fp = 0, hotPages = 0, coldPages = 0;
  for (const r of map.ranges) {
    if (!r.present) continue;
    for (let a = r.start; a < r.start + r.pageCount * r.pageSizeBytes; a += 4096) {
      const isHot = inSpan(a, t.hot);
      if (!isHot && !inSpan(a, t.cold)) continue;
      if (isHot) hotPages++; else coldPages++;
      if (r.accessCount >= 1) { if (isHot) tp++; else fp++; }
    }
  }
  return { recall: hotPages ? tp / hotPages : 0, precision: tp + fp ? tp / (tp + fp) : 0, hotPages, coldPages };
}

async function run(tracker: Tracker, guest: Target, filter: { vmFlags: string[]; anonOnly: boolean }): Promise<{ scores: Score[]; error?: string }> {
  const scores: Score[] = [];
  try {
    for (let c = 0; c < cycles; c++) {
      const u0 = process.cpuUsage();
      const map = await tracker.scanCycle({ pid: guest.pid, filter, ignHost: false }, { loop, intervalMs });
      const u = process.cpuUsage(u0);
      scores.push({ ...score(map, guest), cpuMs: (u.user + u.system) / 1000 });
    }
    return { scores };
  } catch (err) {
    return { scores, error: `${(err as { code?: string }).code ?? ''}: ${(err as Error).message}` };
  }
}

// hugetlb (a shared hugetlbfs file, hot pages first), THP, 4 KiB anonymous.
const hugeGuest = await startSyntheticGuest({ hotMiB: 4, coldMiB: 12, node: 0, cpu: 0, touchMs: 10, backing: 'hugetlbfs' });
const huge: Target = {
  pid: hugeGuest.pid,
  hot: { addr: hugeGuest.start, len: hugeGuest.hotPages.length * hugeGuest.pageSizeBytes },
  cold: { addr: hugeGuest.start + hugeGuest.hotPages.length * hugeGuest.pageSizeBytes, len: (hugeGuest.pageCount - hugeGuest.hotPages.length) * hugeGuest.pageSizeBytes },
  stop: () => void hugeGuest.stop(),
};
const thp = await startHotcold(8, 24, true, 1);
const small = await startHotcold(4, 12, false, 1);
const anon = { vmFlags: [], anonOnly: true };
const ht = { vmFlags: ['ht'], anonOnly: false };
const owner = kdamondsFor(liveIO);
try {
  // Three tasks' trackers started together: the race of issue 15 (EINVAL/ENOENT/EBUSY) happened here.
  const vaddr = [new DamonVaddrTracker(), new DamonVaddrTracker(), new DamonVaddrTracker()];
  const vaddrRuns = await Promise.all([run(vaddr[0]!, thp, anon), run(vaddr[1]!, small, anon), run(vaddr[2]!, huge, ht)]);
  const vaddrSlots = vaddr.map((t) => t.kdamondSlot);
  for (const t of vaddr) await t.close();

  const paddr = [new DamonPaddrTracker({ mode: 'owned' }), new DamonPaddrTracker({ mode: 'owned' })];
  const paddrRuns = await Promise.all([run(paddr[0]!, thp, anon), run(paddr[1]!, small, anon)]);
  const paddrHeld = owner.heldSlots;
  const hugeUnderPaddr = await run(new DamonPaddrTracker({ mode: 'owned' }), huge, ht);
  for (const t of paddr) await t.close();

  process.stdout.write(`${JSON.stringify({
    loop, intervalMs, cycles,
    vaddr: { slots: vaddrSlots, runs: vaddrRuns },
    paddr: { held: paddrHeld, runs: paddrRuns, modes: paddr.map((t) => t.mode) },
    hugeUnderPaddr,
    heldAfter: owner.heldSlots,
    resizes: owner.generation,
  })}\n`);
} finally {
  thp.stop();
  small.stop();
  await hugeGuest.stop();
}
