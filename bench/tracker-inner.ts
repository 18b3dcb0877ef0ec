/**
 * Inside the testbed (driven by bench/tracker.ts): CPU cost of the DAMON
 * vaddr tracker. Runs `--cycles` cycles over a synthetic guest and measures,
 * per cycle, the kdamond thread's CPU time (/proc/PID/schedstat, read just
 * before the tracker turns it off) and this process's CPU time
 * (process.cpuUsage). Prints one JSON line.
 *
 * usage: node bench/tracker-inner.js --mib 256 --backing hugetlbfs|anon --loop 5 --interval-ms 200 --cycles 3 [--hot-mib N]
 *
 * --hot-mib: the hot set kept touched (default 10% of --mib). A fixed one keeps
 * the workload's own CPU the same across sizes; DAMON samples one address per
 * region per scan whatever the hot share.
 */
import { readFileSync } from 'node:fs';
import { liveIO, type PlatformIO } from '../src/platform/io.js';
import { DamonVaddrTracker } from '../src/scan/damon.js';
import { startSyntheticGuest, type SyntheticBacking } from '../test/testbed/inner/synthetic-guest.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => (args.includes(name) ? args[args.indexOf(name) + 1]! : dflt);
const mib = Number(opt('--mib', '256'));
const backing = opt('--backing', 'hugetlbfs') as SyntheticBacking;
const loop = Number(opt('--loop', '5'));
const intervalMs = Number(opt('--interval-ms', '200'));
const cycles = Number(opt('--cycles', '3'));

let kdamondNs = 0;
/** liveIO, but reads the kdamond's CPU time right before it is turned off (the thread ends with it). */
const io: PlatformIO = {
  ...liveIO,
  async writeText(p, text) {
    if (p.endsWith('/state') && text === 'off') {
      try {
        const pid = (await liveIO.readText(p.replace(/state$/, 'pid'))).trim();
        kdamondNs += Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // already stopped
      }
    }
    return liveIO.writeText(p, text);
  },
};

const hotMiB = args.includes('--hot-mib') ? Number(opt('--hot-mib', '0')) : Math.max(2, Math.round(mib / 10));
const faultStartMs = performance.now();
const guest = await startSyntheticGuest({ hotMiB, coldMiB: mib - hotMiB, node: 0, backing, touchMs: backing === 'anon' ? 50 : 10 });
const faultMs = performance.now() - faultStartMs;
// Progress on stderr: a run that times out leaves it in the kept run directory.
process.stderr.write(`tracker-inner: ${mib} MiB ${backing} faulted in in ${Math.round(faultMs)} ms\n`);
const tracker = new DamonVaddrTracker({ io });
const filter = backing === 'anon' ? { vmFlags: [], anonOnly: true } : { vmFlags: ['ht'], anonOnly: false };
const perCycle: Array<{ wallMs: number; kdamondCpuMs: number; selfCpuMs: number; trackedBytes: number; hotPagesSeen: number }> = [];
try {
  for (let c = 0; c < cycles; c++) {
    kdamondNs = 0;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const map = await tracker.scanCycle({ pid: guest.pid, filter, ignHost: false }, { loop, intervalMs });
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const trackedBytes = map.vmas.reduce((n, v) => n + (v.end - v.start), 0);
    const hotPagesSeen = map.ranges.toArray().filter((r) => r.accessCount > 0).reduce((n, r) => n + r.pageCount, 0);
    perCycle.push({ wallMs, kdamondCpuMs: kdamondNs / 1e6, selfCpuMs: (cpu.user + cpu.system) / 1000, trackedBytes, hotPagesSeen });
    process.stderr.write(`tracker-inner: cycle ${c + 1}/${cycles} ${JSON.stringify(perCycle.at(-1))}\n`);
  }
  process.stdout.write(`${JSON.stringify({ mib, hotMiB, backing, loop, intervalMs, faultMs, perCycle })}\n`);
} finally {
  await tracker.close();
  await guest.stop();
}
