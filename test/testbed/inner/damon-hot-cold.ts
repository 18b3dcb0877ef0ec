/**
 * Inside the testbed: the DAMON vaddr tracker over a synthetic guest whose
 * hot and cold hugepages alternate. Prints one JSON line: per page, its
 * accessCount and node, and which pages are hot, for the host test
 * (test/testbed/damon.test.ts) to assert on.
 *
 * usage: node damon-hot-cold.js [--loop 5] [--interval-ms 100] [--no-companion] [--cycles 1]
 */
import { DamonVaddrTracker } from '../../../src/scan/damon.js';
import { startSyntheticGuest } from './synthetic-guest.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number): number => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
const loop = opt('--loop', 5);
const intervalMs = opt('--interval-ms', 100);
const cycles = opt('--cycles', 1);

const guest = await startSyntheticGuest({
  hotMiB: 16, coldMiB: 48, node: 0, touchMs: 10, interleave: true, companion: !args.includes('--no-companion'),
});
const tracker = new DamonVaddrTracker();
try {
  const results = [];
  for (let c = 0; c < cycles; c++) {
    const t0 = Date.now();
    const map = await tracker.scanCycle({ pid: guest.pid, filter: { vmFlags: ['ht'], anonOnly: false }, ignHost: false }, { loop, intervalMs });
    const elapsedMs = Date.now() - t0;
    const byPage: Array<{ count: number; node: number }> = [];
    for (const r of map.ranges) {
      for (let i = 0; i < r.pageCount; i++) {
        const idx = (r.start + i * r.pageSizeBytes - guest.start) / guest.pageSizeBytes;
        byPage[idx] = { count: r.accessCount, node: r.node };
      }
    }
    results.push({ elapsedMs, counts: byPage.map((p) => p.count), nodes: byPage.map((p) => p.node), ranges: map.ranges.length, vmas: map.vmas });
  }
  process.stdout.write(`${JSON.stringify({ loop, intervalMs, hotPages: guest.hotPages, pageCount: guest.pageCount, slot: tracker.kdamondSlot, results })}\n`);
} finally {
  await tracker.close();
  await guest.stop();
}
