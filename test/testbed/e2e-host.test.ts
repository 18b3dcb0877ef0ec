/**
 * Host-wide cslide end to end in the testbed (4 NUMA nodes, 2 and 3
 * memory-only): three synthetic guests of three memory kinds, hugetlb 2 MiB
 * (`vm_flags=ht`), THP (`ram=thp`) and memfd (`ram=shared`), of different
 * sizes and hot sets, are tasks of ONE cslide engine of the real daemon,
 * configured through the real CLI. Asserted per round: the bytes moved over
 * all guests stay within the engine's one quota per direction, from the
 * daemon's stats and from the kernel (each block's node before and after,
 * and /proc/vmstat pgmigrate_success); nothing else moved pages (NUMA
 * balancing, kernel demotion and promotion counters still); every block is
 * where the engine-wide policy model puts it: the bytes of every round per
 * direction, run one round from the daemon's state on the counts it saw
 * (planHostCslide iterated on the measured start when they were exactly
 * the known hot sets), and page for page at the fixed point; the THP guest stays huge through its moves. Then the hugetlb
 * guest's workload writes other pages: its new hot set is on DRAM within 3
 * rounds, and no move of the steady phase was ever undone. Bad input against
 * the running engine (a DRAM minimum that cannot fit, a weight out of range)
 * is refused at obj add naming the field and the range left, and the three
 * guests' rounds go on. Then shares: two guests of weights 300 and 100, the
 * lighter with a DRAM minimum, under contention: each gets its minimum plus
 * its weight's part of the rest, within 5%, as the model has it. One boot
 * (inner/e2e-host.ts) for all, about 4 minutes at load 5.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot, runInTestbed, testbedAvailability } from './harness.js';
import { blockAddrs, countsAt, modelHostRounds, poolsAfterMoves, type HostModelInput, type ModelGuest } from './inner/e2e-model.js';
import type { CliResult, SeenAccess } from './inner/e2e-daemon.js';
import type { KernelCounters } from './inner/host-observe.js';

const availability = testbedAvailability();
const skip = availability.available || process.env.VIRT_TIER_E2E_HOST_REJUDGE ? false : availability.reason;

const BLOCK = 2 << 20;
const SMALL = 4096;
const DRAM = 0;
const AEP = 2;
const POOL_PAGES = 40;
/** the engine's node_pair: the pair of interest and the testbed's other two nodes (node_pair names every node, as etmem) */
const NODE_PAIRS = [{ dram: DRAM, aep: AEP }, { dram: 1, aep: 3 }];

interface TaskStats {
  round: number;
  tracker: string;
  plannedBytes: { promote: number; prefetch: number; demote: number };
  promotedBytes: number;
  demotedBytes: number;
  movedInBytesByNode: Record<string, number>;
  errorsByErrno: Record<string, number>;
  pingPongBytes?: number;
  /** the kernel's /proc/vmstat deltas around the round's moves, as the daemon read them */
  kernelCounters?: Record<string, number>;
}

interface Snapshot {
  blockNodes: number[][];
  counters: KernelCounters;
  thpSmaps: { rssKiB: number; anonHugeKiB: number; vmFlags: string[] };
  hugetlbPools: Record<string, { total: number; free: number }>;
}

interface Observations {
  config: { quotaMiB: number; reserveMiB: number; hotThreshold: number; loop: number };
  specs: Array<{ name: string; backing: string; hotMiB: number; coldMiB: number; hotOnAep: number; altHotPages?: number[] }>;
  guests: Array<{ pid: number; start: number; backing: string; pageCount: number; kernelPageSizeBytes: number; hotPages: number[] }>;
  setupStatus: number[][];
  initial: Snapshot & { regularPools: Record<string, { totalBytes: number; freeBytes: number }>; hugetlbPoolBytes: Record<string, { totalBytes: number; freeBytes: number }> };
  add: CliResult;
  start: CliResult;
  /** access: per guest, the counts the daemon planned the round with (null: the next cycle's map came first) */
  rounds: Array<Snapshot & { round: number; phase: 'steady' | 'settled' | 'switched'; stats: Record<string, TaskStats>; access: Array<SeenAccess | null> }>;
  switchedAtRound: number;
  switchedHotPages: number[];
  numaMaps: Array<{ pagesByNode: Record<string, number>; kernelPageSizeKiB: number; huge: boolean }>;
  projectShowJson: CliResult;
  daemonExit: number | null;
  daemonLog: string[];
  badInput: {
    leftMiB: number;
    dramMin: CliResult & { asked: number };
    weight: CliResult;
    lastRound: number;
    roundsAfterBad: Array<{ round: number; errors: Array<Record<string, number>> }>;
    tasksAfter: Array<{ name: string; started: boolean; ended?: string }>;
  };
  shares: {
    weights: number[]; minimaMiB: number[]; roomPages: number; hotPages: number; quotaMiB: number; free0: number; fillerPages: number;
    guests: Array<{ pid: number; start: number; pageCount: number }>;
    initial: { blockNodes: number[][]; hugetlbPoolBytes: Record<string, { totalBytes: number; freeBytes: number }>; regularPools: Record<string, { totalBytes: number; freeBytes: number }> };
    add: CliResult; start: CliResult;
    rounds: Array<{ round: number; stats: Record<string, TaskStats>; access: Array<SeenAccess | null>; blockNodes: number[][] }>;
  };
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

/** Blocks that went from node `from` to `to` between two snapshots, over all guests. */
function movedBlocks(before: number[][], after: number[][], from: number, to: number): number {
  return sum(before.map((nodes, g) => nodes.filter((n, i) => n === from && after[g]![i] === to).length));
}

test('testbed e2e: one cslide engine over hugetlb, THP and memfd guests: one quota per direction (stats and kernel), policy model page for page, THP stays huge, a moved hot set back on DRAM in 3 rounds, bad input refused with the guests running on, DRAM shares by weight and minimum', { skip, timeout: 900_000 }, async () => {
  // VIRT_TIER_E2E_HOST_REJUDGE=FILE judges the observations a run kept
  // (every run writes them to .testbed-cache/e2e-host-last.json) without booting.
  const rejudge = process.env.VIRT_TIER_E2E_HOST_REJUDGE;
  let stdout: string;
  let exitCheck = (): void => undefined;
  if (rejudge) {
    stdout = readFileSync(rejudge, 'utf8');
  } else {
    const r = await runInTestbed({
      command: 'node dist/test/testbed/inner/e2e-host.js --quota-mib 24 --reserve-mib 1024',
      hugepagesPerNode: { [DRAM]: POOL_PAGES, [AEP]: POOL_PAGES },
      timeoutMs: 860_000, // an upper bound only: 234 s at load 5 on this 2-core machine (2026-12-02), boot included; past 560 s under two CPU hogs
    });
    const kept = path.join(repoRoot(), '.testbed-cache', 'e2e-host-last.json');
    mkdirSync(path.dirname(kept), { recursive: true });
    writeFileSync(kept, r.stdout.trim().split('\n').pop() ?? '');
    exitCheck = () => assert.equal(r.exitCode, 0, `inner run failed:\n${r.stdout}\n${r.stderr}`);
    stdout = r.stdout;
  }
  let o: Observations;
  try {
    o = JSON.parse(stdout.trim().split('\n').pop()!) as Observations;
  } catch {
    exitCheck();
    throw new Error(`no observations from the inner run:\n${stdout}`);
  }

  exitCheck();
  const quotaBytes = o.config.quotaMiB << 20;
  const names = o.specs.map((s) => s.name);

  assert.equal(o.add.code, 0, o.add.stderr);
  assert.match(o.add.stdout, /added: 1 project\(s\), 1 engine\(s\), 3 task\(s\)/);
  assert.equal(o.start.code, 0, o.start.stderr);

  // The start as set up: each guest on node 0 but its last `hotOnAep` hot blocks on node 2.
  o.specs.forEach((spec, g) => {
    const hot = o.guests[g]!.hotPages;
    const onAep = new Set(hot.slice(hot.length - spec.hotOnAep));
    assert.deepEqual(o.initial.blockNodes[g], Array.from({ length: o.guests[g]!.pageCount }, (_, i) => (onAep.has(i) ? AEP : DRAM)), `${spec.name}: start`);
  });
  // The THP guest is THP-backed from the start: every 4 KiB in a huge page, VmFlags hg.
  const thpIndex = o.guests.findIndex((g) => g.backing === 'thp');
  const thpKiB = (o.guests[thpIndex]!.pageCount * BLOCK) / 1024;
  assert.equal(o.initial.thpSmaps.anonHugeKiB, thpKiB, 'THP guest: AnonHugePages at start');
  assert.ok(o.initial.thpSmaps.vmFlags.includes('hg'));

  // The engine-wide policy alone, from the measured start.
  const steady = o.rounds.filter((x) => x.phase === 'steady');
  const model = modelHostRounds({
    guests: o.guests.map((g, i) => ({
      hugetlb: g.backing === 'hugetlbfs',
      vmFlags: g.backing === 'hugetlbfs' ? ['ht'] : g.backing === 'thp' ? ['hg'] : ['sh'],
      start: g.start,
      blocks: o.initial.blockNodes[i]!.map((node, k) => ({ node, hot: g.hotPages.includes(k) })),
    })),
    hugetlbPools: o.initial.hugetlbPoolBytes,
    regularPools: o.initial.regularPools,
    nodePairs: NODE_PAIRS,
    loop: o.config.loop,
    hotThreshold: o.config.hotThreshold,
    quotaBytes,
    reserveBytes: o.config.reserveMiB << 20,
  });
  assert.ok(model.length >= 3, `the model converges in ${model.length} rounds: the quota must bind`);
  // What the tracker saw each round, block by block: the counts the daemon
  // planned with. A loaded host can starve a guest's writer through a scan,
  // and a hot block seen below hot_threshold is rightly not promoted that
  // round: each round is judged by the policy model run one round from the
  // daemon's own state before it on those counts, and when the tracker saw
  // exactly the hot sets in every steady round the rounds must be the ideal
  // model's, as many and per direction.
  const guestAddrs = o.guests.map((g) => blockAddrs(g.start, g.pageCount));
  const seenBlocks = o.rounds.map((x) => o.guests.map((_, g) => countsAt(x.access?.[g], guestAddrs[g]!)));
  const seenExactly = o.rounds.every((x, k) => x.phase !== 'steady' || o.guests.every((g, i) => seenBlocks[k]![i]?.every((n, b) => (n >= o.config.hotThreshold) === g.hotPages.includes(b)) ?? false));
  const seenText = seenBlocks.map((perGuest, k) => `round ${o.rounds[k]!.round}: ${perGuest.map((c) => (c ? c.join('') : 'not captured')).join(' ')}`).join('; ');
  if (seenExactly) assert.equal(steady.length, model.length, `rounds to the fixed point: daemon ${steady.length}, policy model ${model.length}`);
  // the watcher reads them right after each round; most rounds must have them
  assert.ok(seenBlocks.filter((c) => c.every((x) => x !== undefined)).length * 2 >= o.rounds.length, `the counts of most rounds were read (${seenText})`);
  /** The model one round from `before` (per guest, each block's node) on the counts seen; pools as the daemon's moves left them. */
  const stepFrom = (before: number[][], counts: number[][], hugetlbPools: Record<string, { total: number; free: number }>): ReturnType<typeof modelHostRounds>[number] => {
    const regularPools = poolsAfterMoves(o.initial.regularPools, o.initial.blockNodes, before, (g) => o.guests[g]!.backing !== 'hugetlbfs');
    return modelHostRounds({
      guests: o.guests.map((g, i) => ({
        hugetlb: g.backing === 'hugetlbfs',
        vmFlags: g.backing === 'hugetlbfs' ? ['ht'] : g.backing === 'thp' ? ['hg'] : ['sh'],
        start: g.start,
        blocks: before[i]!.map((node, b) => ({ node, hot: g.hotPages.includes(b), accessCount: counts[i]![b]! })),
      })),
      // the snapshots read nodes 0 and 2; nodes 1 and 3, which no guest uses, as they were at the start
      hugetlbPools: { ...o.initial.hugetlbPoolBytes, ...Object.fromEntries(Object.entries(hugetlbPools).map(([node, p]) => [node, { totalBytes: p.total * BLOCK, freeBytes: p.free * BLOCK }])) },
      regularPools,
      nodePairs: NODE_PAIRS,
      loop: o.config.loop,
      hotThreshold: o.config.hotThreshold,
      quotaBytes,
      reserveBytes: o.config.reserveMiB << 20,
    }, 1)[0]!;
  };

  let prev: Snapshot = o.initial;
  let thpBlocksMovedTotal = 0;
  const lastMoved = o.guests.map((g) => new Array<number>(g.pageCount).fill(-1));
  let movedBlocksTotal = 0;
  const undone: string[] = [];
  o.rounds.forEach((round, k) => {
    const where = `round ${round.round} (${round.phase})`;
    const stats = names.map((n) => round.stats[n]!);
    stats.forEach((s, g) => {
      assert.equal(s.tracker, 'damon-vaddr', `${where} ${names[g]}`);
      assert.deepEqual(s.errorsByErrno, {}, `${where} ${names[g]}: mover errors`);
    });
    // One quota per direction for the whole engine, from the daemon's stats ...
    const plannedUp = sum(stats.map((s) => s.plannedBytes.promote + s.plannedBytes.prefetch));
    const plannedDown = sum(stats.map((s) => s.plannedBytes.demote));
    const promoted = sum(stats.map((s) => s.promotedBytes));
    const demoted = sum(stats.map((s) => s.demotedBytes));
    assert.ok(plannedUp <= quotaBytes && plannedDown <= quotaBytes, `${where}: planned ${plannedUp} B up, ${plannedDown} B down, quota ${quotaBytes}`);
    assert.ok(promoted <= quotaBytes && demoted <= quotaBytes, `${where}: moved ${promoted} B up, ${demoted} B down, quota ${quotaBytes}`);
    // ... and from the kernel: blocks that changed node, which the stats account for exactly.
    const down = movedBlocks(prev.blockNodes, round.blockNodes, DRAM, AEP) * BLOCK;
    const up = movedBlocks(prev.blockNodes, round.blockNodes, AEP, DRAM) * BLOCK;
    assert.ok(down <= quotaBytes && up <= quotaBytes, `${where}: kernel saw ${down} B 0->2, ${up} B 2->0`);
    assert.equal(demoted, down, `${where}: demoted, stats vs kernel`);
    assert.equal(promoted, up, `${where}: promoted, stats vs kernel`);
    assert.equal(sum(stats.map((s) => s.movedInBytesByNode[AEP] ?? 0)), down, where);
    assert.equal(sum(stats.map((s) => s.movedInBytesByNode[DRAM] ?? 0)), up, where);
    for (const nodes of round.blockNodes) assert.ok(nodes.every((n) => n === DRAM || n === AEP), `${where}: a block split over nodes or unreadable: ${nodes}`);
    // The kernel's counters: every base page migrated is one the daemon
    // moved, but for two other migrators the kernel counts apart: NUMA
    // balancing (numa_pages_migrated: switched off before the guests
    // started, a page it had already marked may still fault once) and
    // compaction (it ran only when compact_isolated moved). Kernel tiering
    // (pgpromote_*, pgdemote_*) moved nothing.
    const d = { global: Object.fromEntries(Object.entries(round.counters.global).map(([key, v]) => [key, v - (prev.counters.global[key] ?? 0)])) } as { global: Record<string, number> };
    const balanced = d.global.numa_pages_migrated ?? 0;
    assert.ok(balanced * SMALL <= BLOCK, `${where}: NUMA balancing moved ${balanced} pages after it was switched off`);
    const migratedBytes = ((d.global.pgmigrate_success ?? 0) - balanced) * SMALL;
    if ((d.global.compact_isolated ?? 0) === 0) assert.equal(migratedBytes, promoted + demoted, `${where}: pgmigrate_success x 4 KiB vs the daemon's moved bytes`);
    else assert.ok(migratedBytes >= promoted + demoted, `${where}: pgmigrate_success below the daemon's moves`);
    assert.equal(d.global.pgmigrate_fail ?? 0, 0, `${where}: pgmigrate_fail`);
    // The daemon's own reading of the same counters, around its moves (one figure for the whole round).
    for (const s of stats) {
      // The daemon reads the counters around a round's moves: a round that moved nothing may have none.
      const kc = s.kernelCounters;
      if (promoted + demoted > 0) assert.ok(kc, `${where}: kernelCounters missing from the stats of a round that moved pages`);
      if (!kc) continue;
      const kcBytes = ((kc.pgmigrate_success ?? 0) - (kc.numa_pages_migrated ?? 0)) * SMALL;
      if ((d.global.compact_isolated ?? 0) === 0) assert.equal(kcBytes, promoted + demoted, `${where}: the daemon's kernelCounters vs its moved bytes`);
      else assert.ok(kcBytes >= promoted + demoted, where);
    }
    for (const [key, v] of Object.entries(round.counters.global)) if (/^pg(promote|demote)_/.test(key)) assert.equal(v - (prev.counters.global[key] ?? 0), 0, `${where}: ${key}`);
    for (const [node, c] of Object.entries(round.counters.byNode)) {
      for (const [key, v] of Object.entries(c)) if (/^pg(promote|demote)_/.test(key)) assert.equal(v - (prev.counters.byNode[Number(node)]?.[key] ?? 0), 0, `${where}: node ${node} ${key}`);
    }
    // THP: moved whole, and still huge.
    const thpMoved = round.blockNodes[thpIndex]!.filter((n, i) => n !== prev.blockNodes[thpIndex]![i]).length;
    thpBlocksMovedTotal += thpMoved;
    assert.equal(d.global.thp_migration_success ?? 0, thpMoved, `${where}: thp_migration_success vs THP blocks moved`);
    assert.equal(d.global.thp_migration_split ?? 0, 0, `${where}: a THP was split to migrate`);
    assert.equal(round.thpSmaps.anonHugeKiB, thpKiB, `${where}: THP guest AnonHugePages`);
    // The policy model: each round moves what it moves, per direction;
    // which cold blocks go first may differ (a cold block the tracker saw
    // touched once, e.g. in the window right after its fault-in, is warm:
    // demoted after the never-touched ones of other guests, where the model
    // has every cold block at 0), so page for page is asserted at the fixed
    // point, where it cannot.
    // A round whose counts came too late to read (the next cycle's maps first) is judged by the kernel's view alone.
    const counts = seenBlocks[k]!;
    if (counts.every((c) => c !== undefined)) {
      const step = stepFrom(prev.blockNodes, counts as number[][], prev.hugetlbPools);
      assert.equal(down, step.movedBytes[`${DRAM}->${AEP}`] ?? 0, `${where}: demoted bytes, daemon vs policy model from the round's start on the counts it saw (${seenText})`);
      assert.equal(up, step.movedBytes[`${AEP}->${DRAM}`] ?? 0, `${where}: promoted bytes, daemon vs policy model from the round's start on the counts it saw (${seenText})`);
    }
    if (round.phase === 'steady' && seenExactly) {
      assert.equal(down, model[k]!.movedBytes[`${DRAM}->${AEP}`] ?? 0, `${where}: demoted bytes, daemon vs the ideal policy model`);
      assert.equal(up, model[k]!.movedBytes[`${AEP}->${DRAM}`] ?? 0, `${where}: promoted bytes, daemon vs the ideal policy model`);
    }
    if (round.phase === 'settled') {
      assert.equal(promoted + demoted, 0, `${where}: moves after the fixed point`);
      assert.deepEqual(round.blockNodes, model.at(-1)!.blockNodes, `${where}: settled at the model's fixed point`);
    }
    // Ping-pong, as the kernel shows it: a block moved back within 3 rounds of its last move.
    round.blockNodes.forEach((nodes, g) => nodes.forEach((n, i) => {
      if (n === prev.blockNodes[g]![i]) return;
      if (lastMoved[g]![i]! >= 0 && round.round - lastMoved[g]![i]! <= 3) undone.push(`${names[g]} block ${i} in ${where}`);
      lastMoved[g]![i] = round.round;
      movedBlocksTotal++;
    }));
    prev = round;
  });
  assert.ok(thpBlocksMovedTotal > 0, 'the THP guest was tiered');
  assert.ok(steady.some((x) => sum(names.map((n) => x.stats[n]!.promotedBytes)) > 0), 'hot blocks were promoted');
  // Below 1% of moved pages (the bound), as the kernel shows it and in the daemon's stats.
  assert.ok(undone.length <= 0.01 * movedBlocksTotal, `ping-pong: ${undone.length} of ${movedBlocksTotal} block moves undone within 3 rounds: ${undone.join(', ')}`);
  const pingPongBytes = sum(o.rounds.flatMap((x) => names.map((n) => x.stats[n]!.pingPongBytes ?? 0)));
  const movedBytesTotal = sum(o.rounds.flatMap((x) => names.map((n) => x.stats[n]!.promotedBytes + x.stats[n]!.demotedBytes)));
  assert.ok(o.rounds.every((x) => names.every((n) => typeof x.stats[n]!.pingPongBytes === 'number')), 'pingPongBytes in every round\'s stats');
  assert.ok(pingPongBytes <= 0.01 * movedBytesTotal, `daemon ping-pong ${pingPongBytes} B of ${movedBytesTotal} B moved`);

  // The fixed point: nothing planned, every hot block on DRAM, every cold
  // one on AEP (node_hot_reserve exceeds node 0, so DRAM keeps hot memory only).
  const fixed = o.rounds.filter((x) => x.phase !== 'switched').at(-1)!;
  assert.deepEqual(fixed.blockNodes, model.at(-1)!.blockNodes, 'fixed point: daemon vs policy model, page for page');
  for (const n of names) assert.deepEqual(fixed.stats[n]!.plannedBytes, { promote: 0, prefetch: 0, demote: 0 }, `${n}: fixed point`);
  o.guests.forEach((g, i) => {
    assert.deepEqual(fixed.blockNodes[i], Array.from({ length: g.pageCount }, (_, k) => (g.hotPages.includes(k) ? DRAM : AEP)), `${names[i]}: fixed point`);
  });

  // Scenario 2: the hugetlb guest writes other pages; the new hot set is on DRAM within 3 rounds.
  const after = o.rounds.filter((x) => x.phase === 'switched');
  assert.ok(after.length >= 1, 'rounds after the switch');
  assert.deepEqual(o.switchedHotPages, o.specs[0]!.altHotPages);
  const newHotOnDram = (x: Snapshot): boolean => o.switchedHotPages.every((i) => x.blockNodes[0]![i] === DRAM);
  assert.ok(!newHotOnDram(fixed), 'the new hot set starts on AEP');
  const back = after.findIndex(newHotOnDram);
  assert.ok(back >= 0 && back < 3, `new hot set on DRAM after ${back + 1} rounds (rounds after the switch: ${after.map((x) => JSON.stringify(x.blockNodes[0])).join(' ')})`);

  // numa_maps agrees with the last block map (in each VMA's kernel pages).
  const last = o.rounds.at(-1)!;
  o.guests.forEach((g, i) => {
    const perBlock = BLOCK / g.kernelPageSizeBytes;
    const expected: Record<string, number> = {};
    for (const n of last.blockNodes[i]!) expected[n] = (expected[n] ?? 0) + perBlock;
    assert.deepEqual(o.numaMaps[i]!.pagesByNode, expected, `${names[i]}: numa_maps`);
  });

  // Bad input against the running engine: refused at obj add, naming the
  // field and what is allowed; the engine's three guests keep their rounds.
  const bad = o.badInput;
  assert.equal(bad.leftMiB, POOL_PAGES * 2, 'the hugepage pools of DRAM nodes 0 and 1');
  assert.notEqual(bad.dramMin.code, 0, bad.dramMin.stdout);
  assert.match(bad.dramMin.stderr, new RegExp(`OPT_INVAL: task "toobig"\\.dram_min: ${bad.dramMin.asked} MB does not fit: .*allowed: 0\\.\\.${bad.leftMiB} \\(MB left of the engine's DRAM for hugetlb\\)`));
  assert.notEqual(bad.weight.code, 0, bad.weight.stdout);
  assert.match(bad.weight.stderr, /weight.*"0".*allowed: 1\.\.10000/);
  // Two later rounds, one after the other (a loaded host's slow CLI calls may let a round pass before the watch starts: a CI run saw rounds 8 and 9 after 6).
  const roundsAfter = bad.roundsAfterBad.map((x) => x.round);
  assert.ok(roundsAfter.length === 2 && roundsAfter[0]! > bad.lastRound && roundsAfter[1]! > roundsAfter[0]!, `rounds go on after the refusals: ${roundsAfter} after round ${bad.lastRound}`);
  for (const x of bad.roundsAfterBad) assert.deepEqual(x.errors, names.map(() => ({})), `round ${x.round} after the refusals: mover errors`);
  assert.deepEqual(bad.tasksAfter.map((x) => [x.name, x.started, x.ended ?? null]), names.map((name) => [name, true, null]), 'the engine\'s tasks after the refusals');

  assert.equal(o.projectShowJson.code, 0, o.projectShowJson.stderr);
  const shown = JSON.parse(o.projectShowJson.stdout) as Array<{ tasks: Array<{ name: string; engine: string; started: boolean }> }>;
  assert.deepEqual(shown[0]!.tasks.map((t) => [t.name, t.engine, t.started]), names.map((n) => [n, 'cslide', true]));
  assert.equal(o.daemonExit, 0, 'SIGTERM: the daemon exits 0');
  assert.deepEqual(o.daemonLog.filter((l) => /\] error:/.test(l)), []);

  // Scenario 3, shares: two all-hot hugetlb guests on AEP, weights 300 and
  // 100, DRAM room for `roomPages` of their pages: each guest's DRAM share
  // within 5% of what its weight gives, and where the model puts it.
  const sh = o.shares;
  assert.equal(sh.add.code, 0, sh.add.stderr);
  assert.equal(sh.start.code, 0, sh.start.stderr);
  assert.ok(sh.fillerPages > 0, 'a filler made DRAM scarce');
  assert.deepEqual(sh.initial.blockNodes, sh.guests.map((g) => new Array(g.pageCount).fill(AEP)), 'share guests start on AEP');
  const shareNames = sh.weights.map((w) => `w${w}`);
  /** The share guests as the model has them: all hot, or at the counts a round saw. */
  const shareGuestsModel = (blockNodes: number[][], counts?: number[][]): ModelGuest[] => sh.guests.map((g, i) => ({
    hugetlb: true, vmFlags: ['ht'], start: g.start,
    blocks: blockNodes[i]!.map((node, k) => ({ node, hot: true, ...(counts ? { accessCount: counts[i]![k]! } : {}) })),
    share: { weight: sh.weights[i]!, ...(sh.minimaMiB[i] ? { dramMinBytes: sh.minimaMiB[i]! << 20 } : {}) },
  }));
  const shareModelInput = (guests: ModelGuest[], hugetlbPools: Record<string, { totalBytes: number; freeBytes: number }>): HostModelInput => ({
    guests, hugetlbPools, regularPools: sh.initial.regularPools, nodePairs: NODE_PAIRS,
    loop: o.config.loop, hotThreshold: o.config.hotThreshold, quotaBytes: sh.quotaMiB << 20, reserveBytes: 0,
  });
  const dramCount = (nodes: number[][]): number[] => nodes.map((g) => g.filter((n) => n === DRAM).length);
  // As in the first scenario, each round is judged on the counts the daemon
  // planned it with (these guests write every page, but a starved writer's
  // page seen below the threshold is rightly not promoted that round), and
  // when every page was seen hot in every round the rounds must be the ideal
  // model's, round for round and as many.
  const shareAddrs = sh.guests.map((g) => blockAddrs(g.start, g.pageCount));
  const shareSeen = sh.rounds.map((x) => sh.guests.map((_, g) => countsAt(x.access?.[g], shareAddrs[g]!)));
  const seenAllHot = shareSeen.every((perGuest) => perGuest.every((c) => c?.every((n) => n >= o.config.hotThreshold) ?? false));
  const seen = sh.rounds.map((x, k) => `round ${x.round}: counts ${shareSeen[k]!.map((c) => (c ? c.join('') : 'not captured')).join(' ')}, DRAM blocks after ${JSON.stringify(dramCount(x.blockNodes))}, planned ${JSON.stringify(shareNames.map((n) => x.stats[n]!.plannedBytes))}, errors ${JSON.stringify(shareNames.map((n) => x.stats[n]!.errorsByErrno))}`).join('; ');
  sh.rounds.forEach((x, k) => {
    const before = k === 0 ? sh.initial.blockNodes : sh.rounds[k - 1]!.blockNodes;
    const counts = shareSeen[k]!;
    if (counts.every((c) => c !== undefined)) {
      // the pools as the daemon's moves left them (the filler and the first scenario's guests hold still)
      const pools = poolsAfterMoves(sh.initial.hugetlbPoolBytes, sh.initial.blockNodes, before);
      const step = modelHostRounds(shareModelInput(shareGuestsModel(before, counts as number[][]), pools), 1)[0]!;
      // Pages on DRAM per guest (which of a guest's pages go first follows their counts, 2 or 3 of 3 for a hot page).
      assert.deepEqual(dramCount(x.blockNodes), dramCount(step.blockNodes), `shares round ${x.round}: DRAM pages per guest, daemon vs policy model from the round's start on the counts it saw (${seen})`);
    }
    for (const n of shareNames) assert.deepEqual(x.stats[n]!.errorsByErrno, {}, `shares round ${x.round} ${n}`);
  });
  assert.ok(shareNames.every((n) => sum(Object.values(sh.rounds.at(-1)!.stats[n]!.plannedBytes)) === 0), `the shares settled: the last round plans nothing (${seen})`);
  assert.ok(shareSeen.filter((c) => c.every((x) => x !== undefined)).length * 2 >= sh.rounds.length, `the counts of most share rounds were read (${seen})`);
  if (seenAllHot) {
    const shareModel = modelHostRounds(shareModelInput(shareGuestsModel(sh.initial.blockNodes), sh.initial.hugetlbPoolBytes));
    assert.equal(sh.rounds.length, shareModel.length, `share rounds with every page seen hot: daemon ${sh.rounds.length}, model ${shareModel.length} (${seen})`);
    sh.rounds.forEach((x, k) => assert.deepEqual(dramCount(x.blockNodes), dramCount(shareModel[k]!.blockNodes), `shares round ${x.round}: DRAM pages per guest, daemon vs the ideal policy model`));
  }
  const onDram = sh.rounds.at(-1)!.blockNodes.map((nodes) => nodes.filter((n) => n === DRAM).length);
  const totalWeight = sum(sh.weights);
  const dramPages = sum(onDram);
  assert.equal(dramPages, Math.min(sh.roomPages, sh.hotPages * sh.weights.length), `share guests hold ${dramPages} DRAM pages`);
  // What weights and minima give (every guest here wants all its pages, more than it gets):
  // its minimum, plus the rest of the room in proportion to weight.
  const minPages = sh.minimaMiB.map((m) => (m << 20) / BLOCK);
  const rest = dramPages - sum(minPages);
  sh.weights.forEach((w, i) => {
    const given = minPages[i]! + (rest * w) / totalWeight;
    assert.ok(given <= sh.hotPages, 'the scenario keeps every guest under contention');
    const share = onDram[i]! / dramPages;
    assert.ok(onDram[i]! >= minPages[i]!, `guest of weight ${w}: ${onDram[i]} DRAM pages, below its minimum ${minPages[i]}`);
    assert.ok(Math.abs(share - given / dramPages) <= 0.05, `guest of weight ${w}, minimum ${minPages[i]} pages: DRAM share ${share.toFixed(3)}, weight and minimum give ${(given / dramPages).toFixed(3)}`);
  });
});
