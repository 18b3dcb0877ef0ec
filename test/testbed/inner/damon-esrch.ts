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
/**
 * A kdamond sysfs attribute. DAMON's sysfs answers EBUSY while its lock is
 * held (mm/damon/sysfs.c takes it without waiting), as it is while the
 * tracker sets the context up, so a read that races it is retried.
 */
function kdamond(slot: number, f: string): string {
  for (let attempt = 1; ; attempt++) {
    try {
      return readFileSync(`/sys/kernel/mm/damon/admin/kdamonds/${slot}/${f}`, 'utf8').trim();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EBUSY' || attempt >= 200) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
  }
}
const observed: Record<string, unknown> = {};
// A 5 s window: the exit must end the cycle long before the window would.
const cycle = tracker.scanCycle({ pid: guest.pid, filter: { vmFlags: ['ht'], anonOnly: false }, ignHost: false }, { loop: 50, intervalMs: 100 });
const settled = cycle.then(() => 'resolved', (err: unknown) => err);
// Wait until the kdamond runs (writing the context takes a while under TCG), then end the target.
const stateOf = (): string => (tracker.kdamondSlot === undefined ? 'none' : kdamond(tracker.kdamondSlot, 'state'));
for (const until = Date.now() + 60_000; stateOf() !== 'on' && Date.now() < until; ) await new Promise((r) => setTimeout(r, 50));
observed.stateWhileRunning = stateOf();
const killedAt = Date.now();
await guest.stop();
const outcome = await settled;
observed.rejectAfterKillMs = Date.now() - killedAt;
if (outcome === 'resolved') {
  observed.outcome = 'resolved';
} else {
  const e = outcome as { name: string; code?: string; message: string };
  observed.outcome = { name: e.name, code: e.code, message: e.message };
}
observed.stateAfter = kdamond(tracker.kdamondSlot!, 'state');
observed.nrContextsAfter = kdamond(tracker.kdamondSlot!, 'contexts/nr_contexts');
await tracker.close();
process.stdout.write(`${JSON.stringify(observed)}\n`);
