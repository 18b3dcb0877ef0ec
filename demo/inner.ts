/**
 * The demo, inside the testbed: a synthetic VM (hugetlb memory, a hot set
 * it keeps writing and a cold set written once) on the DRAM node 0, with a
 * quarter of its hot set misplaced on the AEP node 2; virt-tierd with a
 * cslide project started through the real CLI; then, round by round, where
 * the hot and cold pages are and what moved, until a round moves nothing.
 * Output is plain text, written as it happens (the host streams it).
 *
 *   node dist/demo/inner.js [--hot-mib 64] [--cold-mib 192] [--quota-mib 64]
 */
import { native } from '../src/native/index.js';
import { numaMapsAt } from '../test/testbed/inner/numa-maps.js';
import { startSyntheticGuest } from '../test/testbed/inner/synthetic-guest.js';
import { cslideConfigText, hugepagePools, numberOption, startE2eDaemon, watchRounds, writeConfigFile } from '../test/testbed/inner/e2e-daemon.js';
import { modelRounds } from '../test/testbed/inner/e2e-model.js';

const MPOL_MF_MOVE = 2;
const DRAM = 0;
const AEP = 2;
const PAGE_MIB = 2;
const MiB = 1 << 20;


const hotMiB = numberOption('hot-mib', 64);
const coldMiB = numberOption('cold-mib', 192);
const quotaMiB = numberOption('quota-mib', 64);
const loop = numberOption('loop', 2);
const hotThreshold = loop;
const PROJECT = 'demo';
const TASK = 'vm1';
const say = (line = ''): void => void process.stdout.write(line + '\n');
const t0 = performance.now();
const clock = (): string => `${((performance.now() - t0) / 1000).toFixed(1).padStart(5)}s`;

const pools0 = hugepagePools([DRAM, AEP]);
const poolMiB = pools0[DRAM]!.total * PAGE_MIB;
// DRAM keeps free what is not needed for the hot set: the cold set must all go.
const reserveMiB = poolMiB - hotMiB;

say(`${clock()}  testbed up: node 0 = DRAM (CPU 0), node 2 = AEP/CXL (no CPU); 2 MiB hugepage pools ${poolMiB} MiB each`);
say(`${clock()}  starting virt-tierd and a synthetic VM: ${hotMiB} MiB hot (written every 20 ms) + ${coldMiB} MiB cold (written once), all on node 0`);
const daemonStarting = startE2eDaemon(`virt-tier-demo-${process.pid}`);
const guest = await startSyntheticGuest({ hotMiB, coldMiB, node: DRAM });
const hot = guest.hotAddrs();
const hotSet = new Set(hot);
const misplaced = hot.slice(hot.length - hot.length / 4);
await native.movePages(guest.pid, Float64Array.from(misplaced), Int32Array.from(misplaced.map(() => AEP)), MPOL_MF_MOVE);
say(`${clock()}  moved ${misplaced.length * PAGE_MIB} MiB of the hot set to node 2 first: tiering has to bring it back`);
const daemon = await daemonStarting;

async function placement(): Promise<{ hot: Record<number, number>; cold: Record<number, number>; nodes: number[] }> {
  const addrs = guest.pageAddrs();
  const nodes = [...(await native.movePages(guest.pid, Float64Array.from(addrs), null, 0))];
  const count = { hot: { [DRAM]: 0, [AEP]: 0 } as Record<number, number>, cold: { [DRAM]: 0, [AEP]: 0 } as Record<number, number> };
  nodes.forEach((n, i) => {
    const bucket = hotSet.has(addrs[i]!) ? count.hot : count.cold;
    bucket[n] = (bucket[n] ?? 0) + 1;
  });
  return { ...count, nodes };
}

/** One node's pool as a bar: H hot, c cold, . free; one character per 8 MiB. */
function bar(node: number, p: Awaited<ReturnType<typeof placement>>, pool: { total: number; free: number }): string {
  const per = 4; // pages per character
  const h = Math.round((p.hot[node] ?? 0) / per);
  const c = Math.round((p.cold[node] ?? 0) / per);
  const width = Math.round(pool.total / per);
  return '[' + 'H'.repeat(h) + 'c'.repeat(c) + '.'.repeat(Math.max(0, width - h - c)) + ']';
}

function showPlacement(p: Awaited<ReturnType<typeof placement>>): void {
  const pools = hugepagePools([DRAM, AEP]);
  for (const [node, label] of [[DRAM, 'node 0 DRAM'], [AEP, 'node 2 AEP ']] as const) {
    const hotM = (p.hot[node] ?? 0) * PAGE_MIB;
    const coldM = (p.cold[node] ?? 0) * PAGE_MIB;
    say(`         ${label} ${bar(node, p, pools[node]!)} hot ${String(hotM).padStart(3)} MiB  cold ${String(coldM).padStart(3)} MiB  free ${String(pools[node]!.free * PAGE_MIB).padStart(3)} MiB`);
  }
}

const initial = await placement();
const model = modelRounds({
  pages: guest.pageAddrs().map((addr, i) => ({ addr, hot: hotSet.has(addr), node: initial.nodes[i]! })),
  pools: hugepagePools([DRAM, AEP]),
  nodePairs: [{ dram: DRAM, aep: AEP }],
  loop,
  hotThreshold,
  quotaMiB,
  reserveMiB,
});
say(`${clock()}  before tiering (H = 8 MiB hot, c = 8 MiB cold, . = 8 MiB free hugepages):`);
showPlacement(initial);

const file = writeConfigFile('demo.ini', cslideConfigText({ project: PROJECT, task: TASK, pid: guest.pid, loop, dramNode: DRAM, aepNode: AEP, hotThreshold, quotaMiB, reserveMiB }));
say();
say(`${clock()}  virt-tier obj add -f demo.ini; virt-tier project start -n ${PROJECT}`);
say(`         cslide node_pair=0,2  hot_threshold=${hotThreshold} (accessed in ${hotThreshold} of ${loop} scans, 1 s apart)  node_mig_quota=${quotaMiB} MB/round  node_hot_reserve=${reserveMiB} MB`);
for (const args of [['obj', 'add', '-f', file], ['project', 'start', '-n', PROJECT]]) {
  const r = daemon.cli(args);
  if (r.code !== 0) {
    say(`virt-tier ${args.join(' ')} failed: ${r.stderr}`);
    process.exit(1);
  }
}
const startedMs = Date.now();
say(`${clock()}  project started; the policy alone predicts ${model.length - 1} moving round(s), then a quiet one`);

let totalDemoted = 0;
let totalPromoted = 0;
let moveMs = 0;
let convergedRound = -1;
let convergedMs = 0;
await watchRounds(daemon, PROJECT, TASK, {
  timeoutMs: 90_000,
  onRound: async (stats) => {
    const s = stats as { round: number; nodes: Record<number, { hotBytes: number; coldBytes: number }>; promotedBytes: number; demotedBytes: number; timeMs: number };
    const pages = (await daemon.call('engine.cmd', { project: PROJECT, engine: 'cslide', cmd: 'showtaskpages', task: TASK, json: true })) as { pids: Array<{ timeMs: number }> };
    const scanEndMs = pages.pids[0]?.timeMs ?? s.timeMs;
    const seen = (node: number): string => `${(s.nodes[node]?.hotBytes ?? 0) / MiB}/${(s.nodes[node]?.coldBytes ?? 0) / MiB}`;
    say();
    say(`${clock()}  round ${s.round}: scan saw hot/cold MiB  node 0 ${seen(DRAM)}  node 2 ${seen(AEP)}`);
    const moved = s.promotedBytes + s.demotedBytes;
    const ms = Math.max(1, s.timeMs - scanEndMs);
    if (moved > 0) {
      moveMs += ms;
      say(`         moved: ${s.demotedBytes / MiB} MiB cold 0 -> 2 (demoted), ${s.promotedBytes / MiB} MiB hot 2 -> 0 (promoted); plan + move_pages ${ms} ms`);
    } else {
      say('         moved: nothing: every hot page is on DRAM, DRAM free is at the reserve');
    }
    totalDemoted += s.demotedBytes;
    totalPromoted += s.promotedBytes;
    showPlacement(await placement());
    if (moved === 0) {
      convergedRound = s.round;
      convergedMs = Date.now() - startedMs;
      return true;
    }
    return s.round >= 15;
  },
});

const r = daemon.cli(['engine', 'showtaskpages', '-t', TASK, '-n', PROJECT, '-e', 'cslide']);
say();
say(`${clock()}  virt-tier engine showtaskpages -t ${TASK} -n ${PROJECT} -e cslide   (etmem's format)`);
for (const line of r.stdout.trimEnd().split('\n')) say(`         ${line}`);
const final = await placement();
const numaMaps = numaMapsAt(guest.pid, guest.start).pagesByNode;
say();
say('summary');
say(`  demoted ${totalDemoted / MiB} MiB cold 0 -> 2, promoted ${totalPromoted / MiB} MiB hot 2 -> 0`);
say(`  converged: round ${convergedRound} moved nothing (${convergedRound} moving round(s), ${(convergedMs / 1000).toFixed(1)} s from start; policy model: ${model.length - 1})`);
say(`  hot on DRAM: ${(final.hot[DRAM] ?? 0) * PAGE_MIB} of ${hotMiB} MiB; cold on AEP: ${(final.cold[AEP] ?? 0) * PAGE_MIB} of ${coldMiB} MiB; numa_maps N0=${numaMaps[DRAM] ?? 0} N2=${numaMaps[AEP] ?? 0} pages`);
const total = totalDemoted + totalPromoted;
if (moveMs > 0) say(`  move rate: ${(total / MiB / (moveMs / 1000)).toFixed(0)} MiB/s while moving (move_pages under TCG); ${(total / MiB / (convergedMs / 1000)).toFixed(1)} MiB/s over the whole run (scans included)`);
await guest.stop();
await daemon.stop();
