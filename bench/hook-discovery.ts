/**
 * Discovery cost with N running TCG guests: listRunningDomains (one
 * listing + per-domain lookups + pidfile/cmdline checks) and resolveDomain
 * (adds the smaps walk) — what the follower and the hook's `refresh` pay.
 *
 *   npx tsc -p . && node dist/bench/hook-discovery.js [N...]   (default 1 5)
 */
import { listRunningDomains, resolveDomain } from '../src/virt/discovery.js';
import { VirtConnection } from '../src/virt/connection.js';
import { createGuest, destroyAll, ensureLibvirt } from '../test/libvirt/guest.js';

const counts = process.argv.slice(2).map(Number);
if (counts.length === 0) counts.push(1, 5);
ensureLibvirt();
const reps = 20;

async function time(fn: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b)[Math.floor(reps / 2)]!;
}

console.log('| guests | listRunningDomains p50 ms (shared connection) | resolveDomain p50 ms | per guest list ms |');
console.log('|---|---|---|---|');
const names: string[] = [];
try {
  for (const n of counts.sort((a, b) => a - b)) {
    while (names.length < n) names.push(createGuest({ tag: 'bench', memoryMiB: 64 }).name);
    const connection = new VirtConnection();
    const list = await time(() => listRunningDomains({ connection }));
    const resolve = await time(() => resolveDomain(names[0]!, { connection }));
    await connection.close();
    console.log(`| ${n} | ${list.toFixed(1)} | ${resolve.toFixed(1)} | ${(list / n).toFixed(2)} |`);
  }
} finally {
  destroyAll();
}
