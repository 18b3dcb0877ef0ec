/**
 * cslide's ledger of recent moves (thrash guard, ping-pong count): the
 * interval ledger (src/runner/move-ledger.ts) against the ledger of one Map
 * entry per page the runner held before, side by side in one process. A
 * round moves `--gib` GiB of 4 KiB pages in `--moves` runs (3653: what the
 * scale bench's 16 GiB point plans), back and forth between two nodes,
 * for `--rounds` rounds with cslide's 3-round window. CPU per round and
 * the heap held after the last round (full GCs around), median of
 * `--repeat` runs; the per-page figures are what the same rounds cost the
 * old shape.
 *
 *   npx tsc -p . && node --expose-gc dist/bench/move-ledger.js [--gib 1] [--moves 3653] [--rounds 4] [--repeat 5] [--record]
 */
import { MoveLedger, type LedgerMove } from '../src/runner/move-ledger.js';
import { appendBenchmarkSection } from './record.js';

const PAGE = 4096;
const WINDOW_ROUNDS = 3;
const args = process.argv.slice(2);
const opt = (name: string, dflt: number): number => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
const gib = opt('--gib', 1);
const moves = opt('--moves', 3653);
const rounds = opt('--rounds', 4);
const repeat = opt('--repeat', 5);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

function runOf(round: number): LedgerMove[] {
  const pagesPerMove = Math.max(1, Math.round((gib * 262144) / moves));
  const out: LedgerMove[] = [];
  // gaps of 7 pages between runs, so neighbours do not coalesce into one interval
  for (let i = 0, at = 0x7f0000000000; i < moves; i++, at += (pagesPerMove + 7) * PAGE) {
    out.push({ start: at, pageCount: pagesPerMove, pageSizeBytes: PAGE, fromNode: round % 2 ? 2 : 0, toNode: round % 2 ? 0 : 2 });
  }
  return out;
}

/** The shape the runner held before: pid -> page address -> last move. */
function perPageRounds(): unknown {
  const pages = new Map<number, { round: number; toNode: number }>();
  for (let round = 1; round <= rounds; round++) {
    for (const m of runOf(round)) {
      for (let k = 0; k < m.pageCount; k++) {
        const addr = m.start + k * m.pageSizeBytes;
        const last = pages.get(addr);
        if (last && round - last.round <= WINDOW_ROUNDS && last.toNode === m.fromNode) void 0;
        pages.set(addr, { round, toNode: m.toNode });
      }
    }
    for (const [addr, m] of pages) if (m.round < round - WINDOW_ROUNDS) pages.delete(addr);
  }
  return pages;
}

function intervalRounds(): unknown {
  const ledger = new MoveLedger();
  for (let round = 1; round <= rounds; round++) {
    ledger.record(1, runOf(round), round, WINDOW_ROUNDS);
    ledger.forgetBefore(round - WINDOW_ROUNDS);
  }
  return ledger;
}

function measure(f: () => unknown): { cpuMsPerRound: number; heldMiB: number } {
  gc!();
  const heap0 = process.memoryUsage().heapUsed;
  const cpu0 = process.cpuUsage();
  const kept = f();
  const cpu = process.cpuUsage(cpu0);
  gc!();
  const held = process.memoryUsage().heapUsed - heap0;
  void kept;
  return { cpuMsPerRound: (cpu.user + cpu.system) / 1000 / rounds, heldMiB: held / 2 ** 20 };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const before: Array<ReturnType<typeof measure>> = [];
const after: Array<ReturnType<typeof measure>> = [];
for (let i = 0; i < repeat; i++) {
  before.push(measure(perPageRounds));
  after.push(measure(intervalRounds));
}
const b = { cpu: median(before.map((r) => r.cpuMsPerRound)), held: median(before.map((r) => r.heldMiB)) };
const a = { cpu: median(after.map((r) => r.cpuMsPerRound)), held: median(after.map((r) => r.heldMiB)) };
const table = [
  `| ledger | CPU ms / round | heap held after ${rounds} rounds, MiB |`,
  '|---|---:|---:|',
  `| one Map entry per page (before) | ${b.cpu.toFixed(1)} | ${b.held.toFixed(1)} |`,
  `| intervals (src/runner/move-ledger.ts) | ${a.cpu.toFixed(1)} | ${a.held.toFixed(1)} |`,
  `| before / intervals | ${(b.cpu / a.cpu).toFixed(1)}x | ${(b.held / Math.max(a.held, 0.01)).toFixed(1)}x |`,
].join('\n');
process.stdout.write(`${table}\n`);
if (args.includes('--record')) {
  const when = new Date().toISOString().slice(0, 16).replace('T', ' ');
  appendBenchmarkSection('Move ledger', `\n${gib} GiB of 4 KiB pages a round in ${moves} moves, ${rounds} rounds, median of ${repeat} (${when} UTC, Node ${process.version})\n\n${table}\n\nReproduce: \`npx tsc -p . && node --expose-gc dist/bench/move-ledger.js --gib ${gib} --moves ${moves} --rounds ${rounds} --repeat ${repeat} --record\`\n`);
}
