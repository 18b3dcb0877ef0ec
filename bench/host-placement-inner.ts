/**
 * Host-wide placement benchmark, inside the testbed (driven by
 * bench/host-placement.ts). N synthetic guests on node 0, each with a hot
 * set it keeps writing and a cold set, the last hot block of each moved to
 * the AEP node (2) first; then one tierer runs and every few seconds (every
 * round, for virt-tier) the bench records where each guest's hot and cold
 * blocks are (move_pages queries), the kernel's migration counters and the
 * CPU all tierers spent. Tierers (`--mode`):
 *
 * - `virt-tier`: the real daemon, ONE cslide engine, one task per guest
 *   (node_pair 0,2, hot_threshold 2, loop 3 x 1 s, sleep 1 s);
 * - `kernel`: the kernel's own tiering: NUMA balancing mode 2
 *   (/proc/sys/kernel/numa_balancing = 2, promotion of hot pages of a lower
 *   tier on hint faults) with /sys/kernel/mm/numa/demotion_enabled (cold
 *   pages demoted by reclaim instead of dropped); needs the HMAT boot, where
 *   nodes 2-3 are a lower memory tier;
 * - `damon`: DAMON's own schemes (6.11+, paddr): one kdamond over node 0's
 *   physical memory with `migrate_cold` to node 2, one over node 2's with
 *   `migrate_hot` to node 0, each quota'd like virt-tier (quota MiB per
 *   round time).
 *
 * Guests (`--kinds`): `mixed` cycles hugetlb 2 MiB, THP and memfd; `thp`
 * makes them all THP (what the kernel's tiering and DAMON's paddr schemes
 * can move: both see only LRU pages, never hugetlb).
 *
 * Prints one JSON line.
 */
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { native } from '../src/native/index.js';
import { startSyntheticGuest, type SyntheticBacking, type SyntheticGuest } from '../test/testbed/inner/synthetic-guest.js';
import { progress, startE2eDaemon, writeConfigFile } from '../test/testbed/inner/e2e-daemon.js';
import { modelHostRounds } from '../test/testbed/inner/e2e-model.js';
import { BLOCK_BYTES, blockNodes, hostCslideConfigText, kernelCounters, nodeMemFree, watchEngineRounds, type HostTask } from '../test/testbed/inner/host-observe.js';
import { hugepagePools } from '../test/testbed/inner/e2e-daemon.js';

const MPOL_MF_MOVE = 2;
const DRAM = 0;
const AEP = 2;
const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => (args.includes(name) ? args[args.indexOf(name) + 1]! : dflt);
const mode = opt('--mode', 'virt-tier') as 'virt-tier' | 'kernel' | 'damon';
const kinds = opt('--kinds', 'mixed') as 'mixed' | 'thp';
const guestCount = Number(opt('--guests', '3'));
const quotaMiB = Number(opt('--quota-mib', '24'));
const reserveMiB = Number(opt('--reserve-mib', '1024'));
const durationS = Number(opt('--duration-s', '60'));
const sampleS = Number(opt('--sample-s', '5'));
const loop = 3;
const hotThreshold = 2;
const TICK_MS = 10; // USER_HZ = 100 (proc(5))

/** Guest i: kind cycling, sizes and hot sets varied so that no two guests are alike. */
function spec(i: number): { backing: SyntheticBacking; hotMiB: number; coldMiB: number; select: HostTask['select'] } {
  const cycle: SyntheticBacking[] = kinds === 'thp' ? ['thp'] : ['hugetlbfs', 'thp', 'memfd'];
  const backing = cycle[i % cycle.length]!;
  const hotMiB = 2 * (1 + (i % 3)); // 2, 4, 6 MiB
  const coldMiB = 2 * (4 + ((i * 5) % 7)); // 8..20 MiB
  const select: HostTask['select'] = backing === 'hugetlbfs' ? { vmFlags: 'ht' } : backing === 'thp' ? { ram: 'thp' } : { ram: 'shared' };
  return { backing, hotMiB, coldMiB, select };
}

/** All CPU time spent (ticks, every CPU, idle and iowait excluded): /proc/stat. */
function busyTicks(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return f.reduce((a, b) => a + b, 0) - (f[3] ?? 0) - (f[4] ?? 0);
}

/** utime+stime of one process (all threads), ms. */
function cpuMs(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) * TICK_MS;
  } catch {
    return 0;
  }
}

/** CPU of the kernel threads a tierer runs (kdamond.N, kswapdN, kcompactdN), ms, summed. */
function kernelThreadsMs(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let comm = '';
    try {
      comm = readFileSync(`/proc/${d}/comm`, 'utf8').trim();
    } catch {
      continue;
    }
    const kind = /^(kdamond|kswapd|kcompactd)/.exec(comm)?.[1];
    if (kind) out[kind] = (out[kind] ?? 0) + cpuMs(Number(d));
  }
  return out;
}

interface Sample {
  tS: number;
  round?: number;
  blockNodes: number[][];
  migratedBytes: number;
  promotedKernelPages: number;
  demotedKernelPages: number;
  busyMs: number;
  daemonCpuMs?: number;
  kthreadMs: Record<string, number>;
}

function physRange(node: number): { start: number; end: number } {
  const block = parseInt(readFileSync('/sys/devices/system/memory/block_size_bytes', 'utf8').trim(), 16);
  const ids = readdirSync(`/sys/devices/system/node/node${node}`).map((n) => /^memory(\d+)$/.exec(n)).filter((m): m is RegExpExecArray => m !== null).map((m) => Number(m[1]));
  return { start: Math.min(...ids) * block, end: (Math.max(...ids) + 1) * block };
}

/** One kdamond (paddr) over [start, end) with one migrate scheme. */
function damonKdamond(index: number, range: { start: number; end: number }, action: 'migrate_hot' | 'migrate_cold', targetNid: number, quotaBytes: number, resetMs: number): void {
  const kd = `/sys/kernel/mm/damon/admin/kdamonds/${index}`;
  const w = (p: string, v: string | number): void => writeFileSync(`${kd}/${p}`, String(v));
  w('contexts/nr_contexts', 1);
  const c = 'contexts/0';
  w(`${c}/operations`, 'paddr');
  // 100 ms samples, 1 s aggregation: a hot page reads about 10 of 10.
  w(`${c}/monitoring_attrs/intervals/sample_us`, 100_000);
  w(`${c}/monitoring_attrs/intervals/aggr_us`, 1_000_000);
  w(`${c}/monitoring_attrs/nr_regions/min`, 64);
  w(`${c}/monitoring_attrs/nr_regions/max`, 1000);
  w(`${c}/targets/nr_targets`, 1);
  w(`${c}/targets/0/regions/nr_regions`, 1);
  w(`${c}/targets/0/regions/0/start`, range.start);
  w(`${c}/targets/0/regions/0/end`, range.end);
  w(`${c}/schemes/nr_schemes`, 1);
  const s = `${c}/schemes/0`;
  w(`${s}/action`, action);
  w(`${s}/target_nid`, targetNid);
  const [minAcc, maxAcc, minAge] = action === 'migrate_hot' ? [5, 10, 0] : [0, 0, 3];
  w(`${s}/access_pattern/sz/min`, 4096);
  w(`${s}/access_pattern/sz/max`, range.end - range.start);
  w(`${s}/access_pattern/nr_accesses/min`, minAcc);
  w(`${s}/access_pattern/nr_accesses/max`, maxAcc);
  w(`${s}/access_pattern/age/min`, minAge);
  w(`${s}/access_pattern/age/max`, 1_000_000);
  w(`${s}/quotas/bytes`, quotaBytes);
  w(`${s}/quotas/reset_interval_ms`, resetMs);
  w('state', 'on');
}

const guests: SyntheticGuest[] = [];
const out: Record<string, unknown> = { mode, kinds, guestCount, quotaMiB, reserveMiB, loop, hotThreshold };
// Only the tierer under test moves pages: NUMA balancing off unless it is the tierer.
writeFileSync('/proc/sys/kernel/numa_balancing', '0');
const daemonStarting = mode === 'virt-tier' ? startE2eDaemon(`vt-bench-host-${process.pid}`, [], 240_000) : undefined;
try {
  const cpuSeen = new Set<number>();
  for (let i = 0; i < guestCount; i++) {
    const s = spec(i);
    // THP runs (the peers' case): every guest on CPU 0 with no memory
    // policy, so its memory is node 0's by first touch and NUMA balancing
    // may move it (numactl's policies would exclude it); mixed runs: bound.
    const cpu = kinds === 'thp' ? 0 : i % 2;
    // One context-switching companion per CPU is enough for the TLB caveat.
    guests.push(await startSyntheticGuest({ hotMiB: s.hotMiB, coldMiB: s.coldMiB, node: DRAM, cpu, backing: s.backing, touchMs: 50, companion: !cpuSeen.has(cpu), memPolicy: kinds === 'thp' ? 'local' : 'bind' }));
    cpuSeen.add(cpu);
  }
  for (const g of guests) {
    const block = g.hotPages.at(-1)!;
    const at = g.start + block * BLOCK_BYTES;
    const n = g.backing === 'memfd' ? BLOCK_BYTES / g.kernelPageSizeBytes : 1;
    const addrs = Float64Array.from({ length: n }, (_, k) => at + k * g.kernelPageSizeBytes);
    await native.movePages(g.pid, addrs, Int32Array.from(addrs, () => AEP), MPOL_MF_MOVE);
  }
  const initialNodes = await Promise.all(guests.map(blockNodes));
  out.guests = guests.map((g, i) => ({ backing: g.backing, pageCount: g.pageCount, hotPages: g.hotPages, select: spec(i).select }));
  out.initialNodes = initialNodes;
  out.model = modelHostRounds({
    guests: guests.map((g, i) => ({
      hugetlb: g.backing === 'hugetlbfs',
      vmFlags: g.backing === 'hugetlbfs' ? ['ht'] : g.backing === 'thp' ? ['hg'] : ['sh'],
      start: g.start,
      blocks: initialNodes[i]!.map((node, k) => ({ node, hot: g.hotPages.includes(k) })),
    })),
    hugetlbPools: Object.fromEntries(Object.entries(hugepagePools([0, 1, 2, 3])).map(([n, p]) => [n, { totalBytes: p.total * BLOCK_BYTES, freeBytes: p.free * BLOCK_BYTES }])),
    regularPools: nodeMemFree([0, 1, 2, 3]),
    nodePairs: [{ dram: DRAM, aep: AEP }, { dram: 1, aep: 3 }], // node_pair names every node (hostCslideConfigText)
    loop,
    hotThreshold,
    quotaBytes: quotaMiB << 20,
    reserveBytes: reserveMiB << 20,
  }).map((r) => r.blockNodes);
  progress('guests ready', { initialNodes });

  // The guests' own CPU (their writes, the companions), as a rate: what all CPUs spend with no tierer.
  const baselineS = Number(opt('--baseline-s', '10'));
  const b0 = busyTicks();
  await sleep(baselineS * 1000);
  out.baselineBusyMsPerS = ((busyTicks() - b0) * TICK_MS) / baselineS;
  const t0 = performance.now();
  const c0 = kernelCounters();
  const busy0 = busyTicks();
  const k0 = kernelThreadsMs();
  let daemonPid = 0;
  const sample = async (round?: number): Promise<Sample> => {
    const c = kernelCounters();
    const k = kernelThreadsMs();
    const byNodeSum = (re: RegExp): number => Object.values(c.byNode).reduce((n, v) => n + Object.entries(v).filter(([key]) => re.test(key)).reduce((m, [, x]) => m + x, 0), 0)
      - Object.values(c0.byNode).reduce((n, v) => n + Object.entries(v).filter(([key]) => re.test(key)).reduce((m, [, x]) => m + x, 0), 0);
    return {
      tS: (performance.now() - t0) / 1000,
      ...(round === undefined ? {} : { round }),
      blockNodes: await Promise.all(guests.map(blockNodes)),
      migratedBytes: ((c.global.pgmigrate_success ?? 0) - (c0.global.pgmigrate_success ?? 0)) * 4096,
      promotedKernelPages: byNodeSum(/^pgpromote_success$/),
      demotedKernelPages: byNodeSum(/^pgdemote_(kswapd|direct|khugepaged)$/),
      busyMs: (busyTicks() - busy0) * TICK_MS,
      ...(daemonPid ? { daemonCpuMs: cpuMs(daemonPid) } : {}),
      kthreadMs: Object.fromEntries(Object.entries(k).map(([name, ms]) => [name, ms - (k0[name] ?? 0)])),
    };
  };
  const samples: Sample[] = [];

  if (mode === 'virt-tier') {
    const daemon = await daemonStarting!;
    daemonPid = daemon.pid;
    try {
      const names = guests.map((_, i) => `g${i}`);
      const tasks: HostTask[] = guests.map((g, i) => ({ name: names[i]!, pid: g.pid, select: spec(i).select }));
      const file = writeConfigFile('bench-host.ini', hostCslideConfigText({ project: 'bench', loop, dramNode: DRAM, aepNode: AEP, hotThreshold, quotaMiB, reserveMiB, tasks }));
      const add = daemon.cli(['obj', 'add', '-f', file]);
      if (add.code !== 0) throw new Error(`obj add: ${add.stderr}`);
      const cpuBefore = cpuMs(daemon.pid);
      out.daemonCpuAtStartMs = cpuBefore;
      const start = daemon.cli(['project', 'start', '-n', 'bench']);
      if (start.code !== 0) throw new Error(`project start: ${start.stderr}`);
      await watchEngineRounds(daemon, 'bench', names, async (round, stats) => {
        const s = await sample(round);
        samples.push(s);
        const idle = Object.values(stats).every((x) => Object.values((x.plannedBytes ?? {}) as Record<string, number>).every((b) => b === 0));
        progress('round', { round, idle, t: s.tS });
        return idle || samples.length >= 12;
      }, 400_000);
      out.daemonErrors = daemon.log().split('\n').filter((l) => /\] error:/.test(l)).length;
    } finally {
      out.daemonExit = await daemon.stop();
    }
  } else {
    if (mode === 'kernel') {
      const tiers = existsSync('/sys/devices/virtual/memory_tiering') ? readdirSync('/sys/devices/virtual/memory_tiering').filter((d) => d.startsWith('memory_tier')) : [];
      out.tiers = Object.fromEntries(tiers.map((t) => [t, readFileSync(`/sys/devices/virtual/memory_tiering/${t}/nodelist`, 'utf8').trim()]));
      writeFileSync('/sys/kernel/mm/numa/demotion_enabled', 'true');
      writeFileSync('/proc/sys/kernel/numa_balancing', '2');
    } else {
      const roundMs = (loop + 1) * 1000;
      writeFileSync('/sys/kernel/mm/damon/admin/kdamonds/nr_kdamonds', '2');
      out.ranges = { dram: physRange(DRAM), aep: physRange(AEP) };
      damonKdamond(0, physRange(DRAM), 'migrate_cold', AEP, quotaMiB << 20, roundMs);
      damonKdamond(1, physRange(AEP), 'migrate_hot', DRAM, quotaMiB << 20, roundMs);
    }
    for (let t = sampleS; t <= durationS; t += sampleS) {
      await sleep(Math.max(0, t * 1000 - (performance.now() - t0)));
      samples.push(await sample());
      progress('sample', { t: samples.at(-1)!.tS });
    }
    if (mode === 'kernel') writeFileSync('/proc/sys/kernel/numa_balancing', '0');
    else for (const i of [0, 1]) writeFileSync(`/sys/kernel/mm/damon/admin/kdamonds/${i}/state`, 'off');
  }
  out.samples = samples;
} finally {
  for (const g of guests) await g.stop();
  process.stdout.write(`${JSON.stringify(out)}\n`);
}
