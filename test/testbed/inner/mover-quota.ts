/**
 * Inside the testbed: the mover executes real plans on a synthetic guest's
 * 32 hugetlb pages: demote all to node 2 with a 20-page quota, then promote
 * all back with an 8-page quota. numa_maps must show exactly what the
 * results claim. Prints one JSON line of observations.
 */
import { PageMover } from '../../../src/mover/mover.js';
import type { Plan } from '../../../src/engines/plan.js';
import { numaMapsAt } from './numa-maps.js';
import { startSyntheticGuest } from './synthetic-guest.js';

const HUGE = 2 << 20;
const guest = await startSyntheticGuest({ hotMiB: 0, coldMiB: 64, node: 0, companion: false });
try {
  const mover = new PageMover();
  const allowedPids = new Set([guest.pid]);
  const demote: Plan = {
    pid: guest.pid,
    moves: [{ start: guest.start, pageCount: 32, pageSizeBytes: HUGE, fromNode: 0, toNode: 2, reason: 'demote', accessCount: 0 }],
    swapOuts: [],
  };
  const demoted = await mover.execute(demote, { allowedPids, quotaBytesPerDirection: 20 * HUGE, pagesPerCall: 8 });
  const afterDemote = numaMapsAt(guest.pid, guest.start).pagesByNode;
  const promote: Plan = {
    pid: guest.pid,
    moves: [{ start: guest.start, pageCount: 32, pageSizeBytes: HUGE, fromNode: 2, toNode: 0, reason: 'promote', accessCount: 5 }],
    swapOuts: [],
  };
  const promoted = await mover.execute(promote, { allowedPids, quotaBytesPerDirection: 8 * HUGE });
  const afterPromote = numaMapsAt(guest.pid, guest.start).pagesByNode;
  process.stdout.write(`${JSON.stringify({ demoted, afterDemote, promoted, afterPromote })}\n`);
} finally {
  await guest.stop();
}
