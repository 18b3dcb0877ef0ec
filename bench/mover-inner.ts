/**
 * Inside the testbed (driven by bench/mover.ts): moves one synthetic guest's
 * hugetlb pages between node 0 and node 2, alternately with the mover
 * (several pages-per-call settings) and with numactl's `migratepages`, the
 * baseline, checking numa_maps after every move. Prints one JSON line of
 * timings (ms).
 *
 * usage: node bench/mover-inner.js --pages 128 --reps 5 --ppc 8,64,512
 */
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PageMover } from '../src/mover/mover.js';
import { numaMapsAt } from '../test/testbed/inner/numa-maps.js';
import { startSyntheticGuest } from '../test/testbed/inner/synthetic-guest.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => (args.includes(name) ? args[args.indexOf(name) + 1]! : dflt);
const pages = Number(opt('--pages', '128'));
const reps = Number(opt('--reps', '5'));
const pagesPerCallList = opt('--ppc', '8,64,512').split(',').map(Number);
const HUGE = 2 << 20;

const guest = await startSyntheticGuest({ hotMiB: 0, coldMiB: pages * 2, node: 0, companion: false });
const mover = new PageMover();
const allowedPids = new Set([guest.pid]);

function expectAllOn(node: number, what: string): void {
  const byNode = numaMapsAt(guest.pid, guest.start).pagesByNode;
  if (byNode[node] !== pages) throw new Error(`${what}: numa_maps ${JSON.stringify(byNode)}, expected all ${pages} on node ${node}`);
}

async function moverMs(pagesPerCall: number, from: number, to: number): Promise<number> {
  const t0 = performance.now();
  const r = await mover.execute(
    { pid: guest.pid, moves: [{ start: guest.start, pageCount: pages, pageSizeBytes: HUGE, fromNode: from, toNode: to, reason: to === 0 ? 'promote' : 'demote', accessCount: 0 }], swapOuts: [] },
    { allowedPids, pagesPerCall },
  );
  const ms = performance.now() - t0;
  if ((r.pagesMovedByNode[to] ?? 0) !== pages) throw new Error(`mover ${from}->${to}: ${JSON.stringify(r)}`);
  expectAllOn(to, `mover ${from}->${to}`);
  return ms;
}

function migratepagesMs(from: number, to: number, check = true): number {
  const t0 = performance.now();
  const r = spawnSync('migratepages', [String(guest.pid), String(from), String(to)], { stdio: 'inherit' });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`migratepages ${from} ${to}: exit ${r.status}`);
  if (check) expectAllOn(to, `migratepages ${from}->${to}`);
  return ms;
}

// migrate_pages(2) from a long-lived helper: the kernel's own cost, no exec.
const helper = spawn('python3', [path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bench/mover-migrate-pages.py')], {
  stdio: ['pipe', 'pipe', 'inherit'],
});
const helperLines = createInterface({ input: helper.stdout! })[Symbol.asyncIterator]();
async function migratePagesSyscallMs(from: number, to: number): Promise<number> {
  helper.stdin!.write(`${guest.pid} ${from} ${to}\n`);
  const { value } = await helperLines.next();
  const ms = Number(value);
  if (!Number.isFinite(ms)) throw new Error(`migrate_pages ${from} ${to}: ${value}`);
  expectAllOn(to, `migrate_pages ${from}->${to}`);
  return ms;
}

const timings: Record<string, { toAep: number[]; toDram: number[] }> = {
  migratepages: { toAep: [], toDram: [] },
  'migrate_pages(2) in-process': { toAep: [], toDram: [] },
};
for (const ppc of pagesPerCallList) timings[`mover ppc=${ppc}`] = { toAep: [], toDram: [] };
const execOverheadMs: number[] = [];
try {
  expectAllOn(0, 'start');
  for (let rep = 0; rep < reps; rep++) {
    timings.migratepages!.toAep.push(migratepagesMs(0, 2));
    timings.migratepages!.toDram.push(migratepagesMs(2, 0));
    timings['migrate_pages(2) in-process']!.toAep.push(await migratePagesSyscallMs(0, 2));
    timings['migrate_pages(2) in-process']!.toDram.push(await migratePagesSyscallMs(2, 0));
    for (const ppc of pagesPerCallList) {
      timings[`mover ppc=${ppc}`]!.toAep.push(await moverMs(ppc, 0, 2));
      timings[`mover ppc=${ppc}`]!.toDram.push(await moverMs(ppc, 2, 0));
    }
    // The cost of starting migratepages itself: a call with nothing to move (no page of the guest is on node 3).
    execOverheadMs.push(migratepagesMs(3, 1, false));
  }
  process.stdout.write(`${JSON.stringify({ pages, pageSizeBytes: HUGE, reps, timings, execOverheadMs })}\n`);
} finally {
  helper.stdin!.end();
  await once(helper, 'exit');
  await guest.stop();
}
