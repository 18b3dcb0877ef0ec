/**
 * Inside the testbed: etmem's damon engine end to end (6.12, DAMON vaddr
 * through sysfs). A zram swap device, the real daemon and CLI, synthetic
 * anonymous guests (a hot set written every 20 ms with a context-switching
 * companion, a cold set written once), and a kdamond of "another DAMON
 * user" (slot 0, a context, off) that must be left as it was.
 * - pageout: a region project whose damon engine pages out regions with
 *   no access for 1 s; the cold set is swapped out (pagemap swap bits),
 *   the hot set stays;
 * - the keys change what happens: action=stat, and pageout with a min_age
 *   no region reaches, run as long beside each other: nothing swapped,
 *   while the stat scheme was tried on regions;
 * - project stop turns DAMON off and gives the kdamond back.
 * Prints one JSON line; test/testbed/etmem-damon.test.ts judges it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { native } from '../../../src/native/index.js';
import { decodePagemapEntry } from '../../../src/native/pagemap.js';
import { progress, startE2eDaemon, taskView, writeConfigFile, type CliResult } from './e2e-daemon.js';
import { setupZramSwap, vmstatCounters } from './e2e-zram.js';
import { startSyntheticGuest, type SyntheticGuest } from './synthetic-guest.js';

const ADMIN = '/sys/kernel/mm/damon/admin/kdamonds';
const read = (p: string): string => readFileSync(p, 'utf8').trim();
const write = (p: string, v: string): void => writeFileSync(p, v);

/** Fractions of the hot and the cold set swapped out, from the guest's pagemap. */
async function swappedShare(g: SyntheticGuest): Promise<{ hot: number; cold: number }> {
  const kernelPages = (g.pageCount * g.pageSizeBytes) / 4096;
  const entries = await native.readPagemap(g.pid, g.start, kernelPages);
  const hot = new Set(g.hotPages);
  let hotSwapped = 0;
  let coldSwapped = 0;
  for (let i = 0; i < entries.length; i++) {
    if (!decodePagemapEntry(entries, i).swapped) continue;
    if (hot.has(Math.floor((i * 4096) / g.pageSizeBytes))) hotSwapped++;
    else coldSwapped++;
  }
  const hotPages = (hot.size * g.pageSizeBytes) / 4096;
  return { hot: hotSwapped / hotPages, cold: coldSwapped / (kernelPages - hotPages) };
}

function regionProject(name: string): string {
  // Sample every 10 ms, aggregate over 200 ms (nr_accesses 0..20): TCG runs the kdamond slowly.
  return `[project]\nname=${name}\nscan_type=region\nsample_interval=10000\naggr_interval=200000\nupdate_interval=2000000\nmin_nr_regions=10\nmax_nr_regions=200\n`;
}
function damonEngine(project: string, keys: { action: string; minAge: number; maxAcc: number }): string {
  return `\n[engine]\nproject=${project}\nname=damon\nmin_size=0\nmax_size=4294967295\nmin_acc=0\nmax_acc=${keys.maxAcc}\nmin_age=${keys.minAge}\nmax_age=4294967295\naction=${keys.action}\n`;
}
function damonTask(project: string, pid: number): string {
  return `\n[task]\nproject=${project}\nengine=damon\nname=guest\ntype=pid\nvalue=${pid}\n`;
}

/** Swap-out and reclaim counters: swap-out by kswapd or direct reclaim is not DAMON's pageout (DAMOS pageout counts in neither pgsteal). */
const reclaimCounters = (): Record<string, number> => vmstatCounters(['pswpout', 'pgsteal_kswapd', 'pgsteal_direct']);
/** Node 0's free memory, MiB: the guests are bound there. */
const node0FreeMiB = (): number => Number(/MemFree:\s+(\d+) kB/.exec(readFileSync('/sys/devices/system/node/node0/meminfo', 'utf8'))?.[1] ?? NaN) / 1024;

const out: Record<string, unknown> = {};
const zram = setupZramSwap(192);
progress('zram swap on', zram);

// Another DAMON user's kdamond: slot 0 holds a paddr context (off). Four slots, so ours need not grow the pool.
write(`${ADMIN}/nr_kdamonds`, '4');
write(`${ADMIN}/0/contexts/nr_contexts`, '1');
write(`${ADMIN}/0/contexts/0/operations`, 'paddr');
write(`${ADMIN}/0/contexts/0/monitoring_attrs/intervals/sample_us`, '12345');
const foreign = (): unknown => ({ nrContexts: read(`${ADMIN}/0/contexts/nr_contexts`), operations: read(`${ADMIN}/0/contexts/0/operations`), sampleUs: read(`${ADMIN}/0/contexts/0/monitoring_attrs/intervals/sample_us`), state: read(`${ADMIN}/0/state`) });
out.foreignBefore = foreign();

const daemon = await startE2eDaemon(`vt-damon-${process.pid}`);
const guests: SyntheticGuest[] = [];
try {
  const add = (file: string, text: string): CliResult => daemon.cli(['obj', 'add', '-f', writeConfigFile(file, text)]);

  // Bad input is refused naming the field and the range.
  out.badRegions = add('bad1.conf', regionProject('bad1').replace('min_nr_regions=10', 'min_nr_regions=2'));
  out.badAcc = add('bad2.conf', regionProject('bad2') + damonEngine('bad2', { action: 'pageout', minAge: 0, maxAcc: 0 }).replace('min_acc=0', 'min_acc=5'));
  out.damonInPageProject = add('bad3.conf', '[project]\nname=bad3\nscan_type=page\nloop=1\ninterval=1\nsleep=1\n' + damonEngine('bad3', { action: 'pageout', minAge: 0, maxAcc: 0 }));

  // 1. pageout of what DAMON saw idle for 1 s (5 aggregations).
  const a = await startSyntheticGuest({ hotMiB: 8, coldMiB: 48, node: 0, cpu: 0, backing: 'anon' });
  guests.push(a);
  out.guestA = { pid: a.pid, pageCount: a.pageCount, pageSizeBytes: a.pageSizeBytes, hot: a.hotPages.length };
  out.beforeA = await swappedShare(a);
  out.reclaimBeforeA = reclaimCounters();
  out.node0FreeMiBBeforeA = node0FreeMiB();
  out.addA = add('a.conf', regionProject('pa') + damonEngine('pa', { action: 'pageout', minAge: 5, maxAcc: 0 }) + damonTask('pa', a.pid));
  out.startA = daemon.cli(['project', 'start', '-n', 'pa']);
  out.cmdA = daemon.cli(['engine', 'showtaskpages', '-n', 'pa', '-e', 'damon', '-t', 'guest']);
  const started = Date.now();
  let shareA = await swappedShare(a);
  while (Date.now() - started < 150_000 && shareA.cold < 0.6) {
    await sleep(2000);
    shareA = await swappedShare(a);
    progress('pageout', shareA);
  }
  out.pageoutMs = Date.now() - started;
  out.afterA = shareA;
  out.reclaimAfterA = reclaimCounters();
  // The task's counters are the engine's last report (every max(1 s, aggr_interval)), so they can
  // trail a pageout that came between two reports (a CI run: swapped out 80 ms into the wait, the
  // report 0.7 s older still at 0 tried): wait for a report that has caught up.
  const coldBytes = (a.pageCount - a.hotPages.length) * a.pageSizeBytes;
  const reported = (v: unknown): number => (v as { stats?: { scheme?: { szTriedBytes?: number } } } | undefined)?.stats?.scheme?.szTriedBytes ?? 0;
  const reportStarted = Date.now();
  out.viewA = await taskView(daemon, 'pa', 'guest');
  while (Date.now() - reportStarted < 30_000 && reported(out.viewA) < coldBytes * 0.6) {
    await sleep(500);
    out.viewA = await taskView(daemon, 'pa', 'guest');
  }
  out.reportCatchUpMs = Date.now() - reportStarted;
  {
    // The kernel's own counters, for the failure message.
    const slot = (out.viewA as { stats?: { kdamond?: { slot: number } } } | undefined)?.stats?.kdamond?.slot ?? 1;
    // EBUSY while the daemon's own update_schemes_stats waits for the kdamond (one command at a time).
    try {
      write(`${ADMIN}/${slot}/state`, 'update_schemes_stats');
      const st = `${ADMIN}/${slot}/contexts/0/schemes/0/stats`;
      out.kernelStatsA = { nrTried: read(`${st}/nr_tried`), szTried: read(`${st}/sz_tried`), nrApplied: read(`${st}/nr_applied`) };
    } catch (err) {
      out.kernelStatsA = String(err);
    }
  }
  out.slotsWhileOn = [0, 1, 2, 3].map((s) => read(`${ADMIN}/${s}/state`));
  out.stopA = daemon.cli(['project', 'stop', '-n', 'pa']);
  out.slotsAfterStop = [0, 1, 2, 3].map((s) => ({ state: read(`${ADMIN}/${s}/state`), nrContexts: read(`${ADMIN}/${s}/contexts/nr_contexts`) }));
  await a.stop();
  guests.length = 0;

  // 2. The same guests under action=stat, and under pageout with a min_age no region reaches: nothing swapped.
  const b = await startSyntheticGuest({ hotMiB: 4, coldMiB: 24, node: 0, cpu: 0, backing: 'anon' });
  const c = await startSyntheticGuest({ hotMiB: 4, coldMiB: 24, node: 0, cpu: 1, backing: 'anon' });
  guests.push(b, c);
  out.addB = add('b.conf', regionProject('pb') + damonEngine('pb', { action: 'stat', minAge: 5, maxAcc: 0 }) + damonTask('pb', b.pid));
  out.addC = add('c.conf', regionProject('pc') + damonEngine('pc', { action: 'pageout', minAge: 4000000000, maxAcc: 0 }) + damonTask('pc', c.pid));
  out.startB = daemon.cli(['project', 'start', '-n', 'pb']);
  out.startC = daemon.cli(['project', 'start', '-n', 'pc']);
  await sleep(Math.max(20_000, Number(out.pageoutMs) + 5000));
  out.afterB = await swappedShare(b);
  out.afterC = await swappedShare(c);
  out.viewB = await taskView(daemon, 'pb', 'guest');
  out.viewC = await taskView(daemon, 'pc', 'guest');
  out.stopB = daemon.cli(['project', 'stop', '-n', 'pb']);
  out.stopC = daemon.cli(['project', 'stop', '-n', 'pc']);
  out.foreignAfter = foreign();
} finally {
  for (const g of guests) await g.stop().catch(() => undefined);
  await daemon.stop();
}
process.stdout.write(JSON.stringify(out) + '\n');
