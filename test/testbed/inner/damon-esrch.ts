/**
 * Inside the testbed: the synthetic guest exits in the middle of a DAMON
 * cycle. The cycle must reject with SysError ESRCH and leave the kdamond
 * off with its context dropped. Prints one JSON line of observations.
 */
import { readFileSync } from 'node:fs';
import { DamonVaddrTracker } from '../../../src/scan/damon.js';
import { startSyntheticGuest } from './synthetic-guest.js';

const guest = await startSyntheticGuest({ hotMiB: 4, coldMiB: 4, node: 0 });
const tracker = new DamonVaddrTracker();
const kdamond = (slot: number, f: string): string => readFileSync(`/sys/kernel/mm/damon/admin/kdamonds/${slot}/${f}`, 'utf8').trim();
const observed: Record<string, unknown> = {};
const cycle = tracker.scanCycle({ pid: guest.pid, filter: { vmFlags: ['ht'], anonOnly: false }, ignHost: false }, { loop: 20, intervalMs: 100 });
setTimeout(() => {
  observed.stateWhileRunning = kdamond(tracker.kdamondSlot!, 'state');
  void guest.stop();
}, 700);
const t0 = Date.now();
try {
  await cycle;
  observed.outcome = 'resolved';
} catch (err) {
  const e = err as { name: string; code?: string; message: string };
  observed.outcome = { name: e.name, code: e.code, message: e.message };
}
observed.rejectAfterMs = Date.now() - t0;
observed.stateAfter = kdamond(tracker.kdamondSlot!, 'state');
observed.nrContextsAfter = kdamond(tracker.kdamondSlot!, 'contexts/nr_contexts');
await tracker.close();
process.stdout.write(`${JSON.stringify(observed)}\n`);
