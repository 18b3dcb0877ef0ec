/**
 * What one pass over every range costs, against the floor of any pass: the
 * per-cycle stages that read every range of every guest's AccessMap (the
 * scan observer's summary with its heat strip, cslide's per-node page
 * stats, the engine-wide plan), each beside a bare loop over the same
 * columns that reads what a stage reads and adds one number per range (no
 * JavaScript pass can cost less). At one range per 2 MiB these passes, not
 * the bytes, are the daemon's CPU per cycle (bench/scale.ts), so their
 * ratios to the floor say what any rewrite of a stage could gain.
 *
 * The inputs are bench/scale.ts's (bench/scale-input.ts), built before each
 * cycle outside the timing; the stages run one after another in an order
 * that turns each cycle, so none always runs on a cold cache.
 *
 * With --thrash, two more stages: the plan with cslide's thrash guard over
 * a real MoveLedger holding one earlier plan's moves of every guest, asked
 * page by page (lastMove: a question per page, 512 per 2 MiB of 4 KiB
 * pages) and per range (movedIn), as the engine asks now; slow page by
 * page, so use a small --scale.
 *
 *   npx tsc -p . && node dist/bench/range-pass.js [--scale 64] [--model 2mib] [--cycles 30] [--thrash]
 */
import os from 'node:os';
import type { AccessMap } from '../src/scan/access-map.js';
import { summarizeMap } from '../src/feed/heat.js';
import { nodePageStats } from '../src/runner/page-report.js';
import { planHostCslide, type CslideGuest, type ThrashGuard } from '../src/engines/cslide-policy.js';
import { GUESTS, guestMap, guestShape, planInput } from './scale-input.js';
import { MoveLedger } from '../src/runner/move-ledger.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => (args.includes(name) ? args[args.indexOf(name) + 1]! : dflt);
const scale = Number(opt('--scale', '64'));
const model = opt('--model', '2mib') as 'damon' | '2mib';
const cycles = Number(opt('--cycles', '30'));
if (!Number.isInteger(scale) || scale < 1) throw new RangeError(`--scale: ${opt('--scale', '')}: allowed: an integer >= 1`);
if (model !== 'damon' && model !== '2mib') throw new RangeError(`--model: ${String(model)}: allowed: damon|2mib`);
if (!Number.isInteger(cycles) || cycles < 3) throw new RangeError(`--cycles: ${opt('--cycles', '')}: allowed: an integer >= 3`);

/** The floor: every range's flags, node, size and count read, one sum per range kept per node and hotness. */
function floorPass(maps: readonly AccessMap[], sums: Float64Array): number {
  sums.fill(0);
  for (const map of maps) {
    const { pageCounts, pageSizes, accessCounts, nodes, flags } = map.ranges;
    for (let i = 0, len = map.ranges.length; i < len; i++) {
      const node = nodes[i]!;
      if ((flags[i]! & 1) === 0 || node < 0) continue;
      sums[node * 2 + (accessCounts[i]! >= 1 ? 1 : 0)]! += pageCounts[i]! * pageSizes[i]!;
    }
  }
  return sums[0]! > 0 ? 1 : 0;
}

const { guestBytes, rangesPerGuest } = guestShape(scale, model);
const nodeBytes = (guestBytes * GUESTS) / 2;
const sums = new Float64Array(1024);
let sink = 0;
/** The maps as the plan's guests, as bench/scale.ts names them. */
const guestsOf = (maps: readonly AccessMap[]): CslideGuest[] => maps.map((accessMap, g) => ({ key: `vm${g}`, accessMap }));
const stages: Record<string, (maps: readonly AccessMap[]) => void> = {
  floor: (maps) => {
    sink += floorPass(maps, sums);
  },
  'observer summary': (maps) => {
    for (const m of maps) sink += summarizeMap(m).presentBytes;
  },
  'node page stats': (maps) => {
    for (const m of maps) sink += Object.keys(nodePageStats(m, 1)).length;
  },
  // as bench/scale.ts plans: a bound plan (rows for the quota's worth of each count bucket)
  plan: (maps) => {
    sink += planHostCslide(planInput(guestsOf(maps), nodeBytes)).moves.length;
  },
  // the same plan with a row for every range (as with shares or a thrash guard, and as every plan before the bound)
  'plan, every range a row': (maps) => {
    sink += planHostCslide(planInput(guestsOf(maps), nodeBytes), { allRows: true }).moves.length;
  },
};
if (args.includes('--thrash')) {
  // one earlier plan's moves, recorded in round 1 as the engine records them; the guard asks in round 2
  const ledger = new MoveLedger();
  const first: AccessMap[] = [];
  for (let g = 0; g < GUESTS; g++) first.push(guestMap(g, guestBytes, g % 2 === 0, rangesPerGuest, 0));
  const plan = planHostCslide(planInput(guestsOf(first), nodeBytes));
  for (let g = 0; g < GUESTS; g++) ledger.record(10000 + g, plan.moves.filter((m) => m.guest === g), 1, 2);
  const pageByPage: ThrashGuard = { rounds: 2, margin: 1, lastMove: (pid, start) => ledger.lastMove(pid, start, 2) };
  const perRange: ThrashGuard = { ...pageByPage, movedIn: (pid, start, end) => ledger.movedIn(pid, start, end, 2) };
  stages['plan, thrash guard page by page'] = (maps) => {
    sink += planHostCslide({ ...planInput(guestsOf(maps), nodeBytes), thrash: pageByPage }).moves.length;
  };
  stages['plan, thrash guard per range'] = (maps) => {
    sink += planHostCslide({ ...planInput(guestsOf(maps), nodeBytes), thrash: perRange }).moves.length;
  };
}
const names = Object.keys(stages);
const ms: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
let regions = 0;
for (let cycle = 0; cycle <= cycles; cycle++) {
  const maps: AccessMap[] = [];
  for (let g = 0; g < GUESTS; g++) maps.push(guestMap(g, guestBytes, g % 2 === 0, rangesPerGuest, cycle));
  regions = maps.reduce((n, m) => n + m.ranges.length, 0);
  for (let k = 0; k < names.length; k++) {
    const name = names[(cycle + k) % names.length]!;
    const t0 = process.hrtime.bigint();
    stages[name]!(maps);
    const t1 = process.hrtime.bigint();
    // the first cycle compiles
    if (cycle > 0) ms[name]!.push(Number(t1 - t0) / 1e6);
  }
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const floorMs = median(ms.floor!);
const rows = names.map((n) => `| ${n} | ${median(ms[n]!).toFixed(2)} | ${((median(ms[n]!) * 1e6) / regions).toFixed(1)} | ${(median(ms[n]!) / floorMs).toFixed(2)}x |`);
process.stdout.write(
  `${model} x${scale}: ${GUESTS} guests, ${regions} ranges a cycle, median of ${cycles} cycles (${os.cpus().length} CPUs, Node ${process.version}; checksum ${sink % 1000})\n\n` +
    '| stage | ms / cycle | ns / range | of the floor |\n|---|---:|---:|---:|\n' + rows.join('\n') + '\n',
);
