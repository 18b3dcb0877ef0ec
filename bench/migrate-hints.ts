/**
 * migrate-hints benchmark: the page state of one 4 GiB anonymous RAMBlock
 * of a child process written as VTBM bitmaps, two ways side by side:
 *   TS  `virt-tier migrate-hints --pid PID --format bitmap` (runMigrateHints in
 *       this process: smaps, PAGEMAP_SCAN through the addon, move_pages for
 *       every present page, per-page states, bitmaps, file write)
 *   C   bench/migrate-hints-ref.c: the same steps in plain C (cc -O2)
 * for two patterns (every page touched; every 4th page never touched).
 * Reports the median wall time per pass and the ratio C/TS (goal >= 0.8x).
 * Then, in the same run, the node lookups alone: the addon's pageStates
 * over the same range with nodes from pagemap PFNs through the sysfs
 * memory-block map (what migrate-hints uses) against move_pages(NULL) per
 * present page (its fallback), alternating.
 * Run as root after `npx tsc -p .` and the addon build:
 *   node dist/bench/migrate-hints.js [--iterations N] [--gib G]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runMigrateHints } from '../src/cli/migrate-hints.js';
import { decodeBitmaps } from '../src/migration/bitmap.js';
import { liveKernel } from '../src/native/kernel.js';
import { liveIO } from '../src/platform/io.js';
import { readMemoryBlockMap } from '../src/platform/memory-blocks.js';
import { repoRoot, startPatternChild } from '../test/integration/native-child.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function referenceBinary(): string {
  const source = path.join(repoRoot(), 'bench', 'migrate-hints-ref.c');
  const dir = path.join(os.tmpdir(), 'virt-tier-bench');
  mkdirSync(dir, { recursive: true });
  const out = path.join(dir, 'migrate-hints-ref');
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(source).mtimeMs) execFileSync('cc', ['-O2', '-o', out, source]);
  return out;
}

async function main(): Promise<void> {
  const iterations = arg('--iterations', 5);
  const gib = arg('--gib', 4);
  const pages = gib * 262144;
  const ref = referenceBinary();
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'migrate-hints-bench-'));
  const rows: string[] = [];
  const nodeRows: string[] = [];
  const nodeMap = await readMemoryBlockMap(liveIO);
  try {
    for (const p of [{ name: 'every page touched', stride: 1, run: 1 }, { name: 'every 4th page untouched', stride: 4, run: 3 }]) {
      const child = await startPatternChild('anon', pages, p.stride, p.run);
      try {
        const end = child.start + pages * 4096;
        const tsRuns: number[] = [];
        const cRuns: number[] = [];
        let tsPresent = 0;
        let cOut = { present: 0, swapped: 0 };
        const io = { out: () => undefined, err: (t: string) => process.stderr.write(t) };
        for (let i = 0; i < iterations; i++) {
          // alternate so neither side always runs on a warmer cache
          const dir = path.join(tmp, `ts${i}`);
          const t0 = performance.now();
          // --zero-sample 0: the C reference does not read page contents either
          const code = await runMigrateHints(['--pid', String(child.pid), '--format', 'bitmap', '--out', dir, '--zero-sample', '0'], io, { accessFor: async () => undefined });
          tsRuns.push(performance.now() - t0);
          if (code !== 0) throw new Error('migrate-hints failed');
          const file = readdirSync(dir).find((f) => f === `anon@0x${child.start.toString(16)}.vtbm`)!;
          tsPresent = decodeBitmaps(readFileSync(path.join(dir, file)))[0]!.header.setBitCount;
          rmSync(dir, { recursive: true });
          const c = JSON.parse(execFileSync(ref, [String(child.pid), child.start.toString(16), end.toString(16), '1', path.join(tmp, 'c.vtbm')], { encoding: 'utf8' })) as { ms: number[]; present: number; swapped: number };
          cRuns.push(c.ms[0]!);
          cOut = c;
        }
        if (tsPresent !== cOut.present) throw new Error(`TS and C disagree: present ${tsPresent} vs ${cOut.present}`);
        const ts = median(tsRuns);
        const cMs = median(cRuns);
        rows.push(`| ${p.name} | ${cOut.present} | ${cMs.toFixed(1)} | ${ts.toFixed(1)} | ${(cMs / ts).toFixed(2)}x |`);
        const pfnRuns: number[] = [];
        const mpRuns: number[] = [];
        for (let i = 0; i < iterations; i++) {
          let t0 = performance.now();
          const byPfn = await liveKernel.pageStates(child.pid, child.start, end, 4096, { nodeMap });
          pfnRuns.push(performance.now() - t0);
          t0 = performance.now();
          const byMovePages = await liveKernel.pageStates(child.pid, child.start, end, 4096);
          mpRuns.push(performance.now() - t0);
          for (let k = 0; k < byPfn.nodes.length; k++) {
            if (byPfn.nodes[k] !== byMovePages.nodes[k]) throw new Error(`node of page ${k}: PFN map ${byPfn.nodes[k]} vs move_pages ${byMovePages.nodes[k]}`);
          }
        }
        const pfn = median(pfnRuns);
        const mp = median(mpRuns);
        nodeRows.push(`| ${p.name} | ${cOut.present} | ${mp.toFixed(1)} | ${pfn.toFixed(1)} | ${(mp / pfn).toFixed(2)}x |`);
      } finally {
        await child.stop();
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  process.stdout.write(
    `${gib} GiB anonymous RAMBlock, ${iterations} passes each, median wall time per pass (${os.cpus().length} CPUs, kernel ${os.release()})\n\n` +
    '| pattern | present pages | C ref (ms) | migrate-hints TS (ms) | C/TS speed |\n|---|---:|---:|---:|---:|\n' + rows.join('\n') + '\n\n' +
    'Node per page, pageStates over the same range (states + nodes, identical nodes checked):\n\n' +
    '| pattern | present pages | move_pages(NULL) (ms) | pagemap PFN + block map (ms) | speed-up |\n|---|---:|---:|---:|---:|\n' + nodeRows.join('\n') + '\n',
  );
}

await main();
