/**
 * Inside the testbed: native.movePages moves a synthetic guest's hugetlb
 * pages from node 0 to node 2 and back; numa_maps must agree at each step.
 * Asserts here, and prints the observations as one JSON line for the host
 * test (test/testbed/move-pages.test.ts) to assert on again.
 *
 * usage: node move-pages.js [--backing hugetlbfs|anon-huge] [--pages N]
 */
import assert from 'node:assert/strict';
import { native } from '../../../src/native/index.js';
import { numaMapsAt } from './numa-maps.js';
import { startSyntheticGuest, type SyntheticBacking } from './synthetic-guest.js';

const MPOL_MF_MOVE = 2;
const args = process.argv.slice(2);
const backing = (args.includes('--backing') ? args[args.indexOf('--backing') + 1] : 'hugetlbfs') as SyntheticBacking;
const pages = args.includes('--pages') ? Number(args[args.indexOf('--pages') + 1]) : 32;

const guest = await startSyntheticGuest({ hotMiB: 0, coldMiB: pages * 2, node: 0, backing, companion: false });
try {
  const addrs = Float64Array.from(guest.pageAddrs());
  const where = async (): Promise<number[]> => Array.from(await native.movePages(guest.pid, addrs, null, 0));
  const observed: Record<string, unknown> = { pid: guest.pid, pages, backing };

  observed.before = { status: await where(), numaMaps: numaMapsAt(guest.pid, guest.start) };
  assert.deepEqual(new Set(await where()), new Set([0]));

  const t0 = process.hrtime.bigint();
  const toAep = await native.movePages(guest.pid, addrs, new Int32Array(addrs.length).fill(2), MPOL_MF_MOVE);
  const moveMs = Number(process.hrtime.bigint() - t0) / 1e6;
  observed.toNode2 = { status: Array.from(toAep), moveMs, query: await where(), numaMaps: numaMapsAt(guest.pid, guest.start) };
  assert.deepEqual(new Set(toAep), new Set([2]));
  assert.deepEqual(numaMapsAt(guest.pid, guest.start).pagesByNode, { 2: pages });

  const back = await native.movePages(guest.pid, addrs, new Int32Array(addrs.length).fill(0), MPOL_MF_MOVE);
  observed.toNode0 = { status: Array.from(back), query: await where(), numaMaps: numaMapsAt(guest.pid, guest.start) };
  assert.deepEqual(new Set(back), new Set([0]));
  assert.deepEqual(numaMapsAt(guest.pid, guest.start).pagesByNode, { 0: pages });

  process.stdout.write(`${JSON.stringify(observed)}\n`);
} finally {
  await guest.stop();
}
