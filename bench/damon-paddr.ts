/**
 * DAMON paddr benchmarks on this host (6.18, a kdamond of another DAMON
 * user running), each a ratio of two ways measured side by side in one run:
 *
 * 1. Results in bulk vs per region: parsing damon_aggregated from raw
 *    ring-buffer pages (what the tracker does) vs from trace_pipe text,
 *    on the same recorded windows; and per-region sysfs reads (two small
 *    files per region, as readTriedRegions does) vs the raw parse, per
 *    region. The sysfs stand-in reads the running kdamond's own attribute
 *    files (reads only: this host's DAMON sysfs must not be written).
 * 2. Node per page: pagemap PFNs + the memory-block map vs
 *    move_pages(NULL), over the same anonymous mapping of this process.
 * 2b. Counts to ranges, one window over 1 GiB of 4 KiB pages (262144)
 *    and 1000 regions (the shared kdamond's size), from decoded pagemap
 *    arrays: binary search and a range append per page (the tracker
 *    through 3da8ba8, copied here) vs runs and a search per run piece
 *    (pageRunBlock + paddrRanges now), for scattered frames (runs of 1-64)
 *    and THP (runs of 512); the two must give the same ranges.
 * 3. Tracker accuracy and CPU per GiB (--accuracy): damon-paddr shared
 *    over a hot/cold process (test/integration/helpers/hotcold.c, built
 *    here) with THP and with 4 KiB pages: hot-set recall and precision per
 *    cycle, and this process's CPU per GiB tracked per cycle.
 *
 *   npx tsc -p . && node dist/bench/damon-paddr.js [--mib 256] [--accuracy] [--cycles 3]
 */
import { readFileSync } from 'node:fs';
import { execFileSync, spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { aggregatedLayout, parseEventFormat, parseRawPage, type AggregatedEvent } from '../src/platform/tracefs.js';
import { readMemoryBlockMap, nodeOfPfn } from '../src/platform/memory-blocks.js';
import { liveIO } from '../src/platform/io.js';
import { liveKernel } from '../src/native/kernel.js';
import { DamonPaddrTracker, PageRuns, pageRunBlock, paddrRanges } from '../src/scan/damon-paddr.js';
import { AccessRanges } from '../src/scan/access-ranges.js';
import { accumulateWindow, buildPaddrRanges } from '../test/unit/damon-paddr-reference.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => (args.includes(name) ? args[args.indexOf(name) + 1]! : dflt);
const mib = Number(opt('--mib', '256'));
const cycles = Number(opt('--cycles', '3'));

function cpuUs<T>(fn: () => T, rounds: number, warmup = 1): { us: number; result: T } {
  let result = fn();
  for (let i = 1; i < warmup; i++) result = fn();
  const u0 = process.cpuUsage();
  for (let i = 0; i < rounds; i++) result = fn();
  const u = process.cpuUsage(u0);
  return { us: (u.user + u.system) / rounds, result };
}

// 1. Bulk vs text vs per region.
const layout = aggregatedLayout(parseEventFormat(readFileSync(path.join(REPO, 'test/fixtures/tracefs/damon_aggregated.format'), 'utf8')));
const rawPath = '/tmp/damon-research/raw_pages.bin';
const textPath = '/tmp/damon-research/text_dump.txt';
let raw: Buffer;
let text = '';
try {
  raw = readFileSync(rawPath);
  text = readFileSync(textPath, 'latin1');
} catch {
  raw = readFileSync(path.join(REPO, 'test/fixtures/tracefs/raw-pages-6.18.bin'));
}
const rawParse = cpuUs(() => {
  const out: AggregatedEvent[] = [];
  for (let p = 0; p + 4096 <= raw.length; p += 4096) parseRawPage(raw.subarray(p, p + 4096), layout, out);
  return out.length;
}, 50);
const rx = /damon_aggregated: target_id=(\d+) nr_regions=(\d+) (\d+)-(\d+): (\d+) (\d+)/g;
const textParse = text ? cpuUs(() => {
  let n = 0;
  rx.lastIndex = 0;
  const out: AggregatedEvent[] = [];
  for (let m = rx.exec(text); m; m = rx.exec(text)) {
    out.push({ timeNs: 0, targetId: Number(m[1]), nrRegions: Number(m[2]), start: Number(m[3]), end: Number(m[4]), nrAccesses: Number(m[5]), age: Number(m[6]) });
    n++;
  }
  return n;
}, 50) : undefined;
// Per region: two attribute reads of the running kdamond (the files tried_regions/N/{start,nr_accesses} are as small).
const attr = '/sys/kernel/mm/damon/admin/kdamonds/0/contexts/0/targets/0/regions/0';
const sysfsRegions = 2000;
const u0 = process.cpuUsage();
for (let i = 0; i < sysfsRegions; i++) await Promise.all([liveIO.readText(`${attr}/start`), liveIO.readText(`${attr}/end`)]);
const sysfsPerRegionUs = ((process.cpuUsage(u0).user + process.cpuUsage(u0).system) / sysfsRegions);
const rawPerEventUs = rawParse.us / rawParse.result;

// 2b. Counts to ranges: per page (the tracker through 3da8ba8) vs per run.
const sweepPages = 262144;
let seed = 1;
const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) % n);
const synthRegions: AggregatedEvent[] = [];
for (let r = 0; r < 1000; r++) synthRegions.push({ timeNs: 0, targetId: 0, nrRegions: 1000, start: r * 6000 * 4096, end: (r + 1) * 6000 * 4096, nrAccesses: rnd(20), age: 0 });
const synthWindow = { timeNs: 0, targetId: 0, regions: synthRegions };
const synthBlocks = { blockBytes: 128 << 20, nodeByBlock: Int16Array.from({ length: 192 }, (_, b) => b % 2) };
const synthVa = 0x7f0000000000;
/** The per-page pass as the tracker had it through 3da8ba8 (test/unit/damon-paddr-reference.ts): one VMA, every page present. */
function perPageRanges(pfn: Float64Array, flags: Uint8Array, loop: number): AccessRanges {
  const pages = { segments: Float64Array.of(0, synthVa), pfn, flags };
  const sum = new Float32Array(pfn.length);
  const seen = new Uint16Array(pfn.length);
  accumulateWindow(synthWindow, pages, 20, sum, seen);
  return buildPaddrRanges(pages, sum, seen, loop, (frame) => nodeOfPfn(synthBlocks, frame)).ranges;
}
const runRows: string[] = [];
for (const [label, runPages] of [['scattered frames, runs of 1-64', 0], ['THP, runs of 512', 512]] as const) {
  const pfn = new Float64Array(sweepPages);
  const flags = new Uint8Array(sweepPages).fill(1);
  // at random places in 24 GiB of frames (THP: 2 MiB aligned)
  for (let i = 0; i < sweepPages;) {
    const run = runPages || 1 + rnd(64);
    const base = runPages ? (1 + rnd(11_000)) * 512 : 1 + rnd(6_000_000);
    for (let k = 0; k < run && i < sweepPages; k++, i++) pfn[i] = base + k;
  }
  // 10 calls before the timed 10: with one, the per-run pass (the larger function) was timed before V8 had optimised it
  const perPage = cpuUs(() => perPageRanges(pfn, flags, 3), 10, 10);
  const perRun = cpuUs(() => paddrRanges(new PageRuns([pageRunBlock(synthVa, sweepPages, pfn, flags)]), [synthWindow], 20, 3, synthBlocks).ranges, 10, 10);
  if (JSON.stringify(perPage.result) !== JSON.stringify(perRun.result)) throw new Error(`${label}: per page and per run ranges differ`);
  runRows.push(`| counts to ranges, ${sweepPages} pages (1 GiB, ${label}), 1000 regions | per page: ${(perPage.us / 1000).toFixed(1)} ms CPU | per run: ${(perRun.us / 1000).toFixed(1)} ms CPU | ${(perPage.us / perRun.us).toFixed(1)}x |`);
}

// 2. Node per page: memory blocks vs move_pages.
const buf = Buffer.alloc(mib << 20, 1);
const maps = readFileSync('/proc/self/maps', 'utf8').split('\n');
const addrOf = (b: Buffer): number => {
  // The mapping that holds the buffer: the largest anonymous rw mapping of at least its size.
  let best = 0;
  for (const l of maps) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) rw-p 00000000 00:00 0/.exec(l);
    if (m && parseInt(m[2]!, 16) - parseInt(m[1]!, 16) >= b.length) best = parseInt(m[1]!, 16);
  }
  return best;
};
const base = addrOf(buf);
const pages = (mib << 20) / 4096;
const blocks = await readMemoryBlockMap(liveIO);
const addrs = new Float64Array(pages);
for (let i = 0; i < pages; i++) addrs[i] = base + i * 4096;
// 7 alternating rounds, the first dropped (JIT, first use of each thread's buffers), median of the rest
const blockRuns: number[] = [];
const movePagesRuns: number[] = [];
let nodeSum = 0;
for (let round = 0; round < 7; round++) {
  const t0 = process.cpuUsage();
  // what the tracker does: PFNs decoded natively (readPagemapPfns), the block table looked up per page
  const { pfn, flags } = await liveKernel.readPagemapPfns(process.pid, base, pages);
  for (let i = 0; i < pages; i++) if (flags[i]! & 1) nodeSum += nodeOfPfn(blocks, pfn[i]!);
  const t1 = process.cpuUsage(t0);
  const t2 = process.cpuUsage();
  const status = await liveKernel.queryPageNodes(process.pid, addrs);
  const t3 = process.cpuUsage(t2);
  void status;
  if (round === 0) continue;
  blockRuns.push(t1.user + t1.system);
  movePagesRuns.push(t3.user + t3.system);
}
const medianOf = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const blockUs = medianOf(blockRuns);
const movePagesUs = medianOf(movePagesRuns);
void nodeSum;

console.log(`## DAMON paddr reads (${new Date().toISOString().slice(0, 10)}, ${os.cpus()[0]?.model}, kernel ${os.release()})`);
console.log('Command: `node dist/bench/damon-paddr.js' + (args.length ? ` ${args.join(' ')}` : '') + '`\n');
console.log('| what | baseline | ours | ratio (baseline / ours) |');
console.log('|---|---|---|---|');
if (textParse) console.log(`| parse damon_aggregated, ${rawParse.result} events | trace_pipe text: ${(textParse.us / textParse.result).toFixed(3)} us/event | raw pages: ${rawPerEventUs.toFixed(3)} us/event | ${(textParse.us / textParse.result / rawPerEventUs).toFixed(1)}x |`);
console.log(`| one region's count | sysfs, 2 reads: ${sysfsPerRegionUs.toFixed(1)} us CPU | raw event: ${rawPerEventUs.toFixed(3)} us CPU | ${(sysfsPerRegionUs / rawPerEventUs).toFixed(0)}x |`);
for (const row of runRows) console.log(row);
console.log(`| node of ${pages} pages (${mib} MiB) | move_pages(NULL): ${(movePagesUs / 1000).toFixed(1)} ms CPU | pagemap + memory blocks: ${(blockUs / 1000).toFixed(1)} ms CPU | ${(movePagesUs / blockUs).toFixed(1)}x |`);

// 3. Accuracy and CPU per GiB of damon-paddr shared.
if (args.includes('--accuracy')) {
  const bin = path.join(os.tmpdir(), `vt-bench-hotcold-${process.pid}`);
  execFileSync('gcc', ['-O2', '-o', bin, path.join(REPO, 'test/integration/helpers/hotcold.c')]);
  console.log('\n| memory | cycle | hot recall | precision | tracker CPU ms / GiB / cycle |');
  console.log('|---|---|---|---|---|');
  for (const thp of [true, false]) {
    const companion = spawn('taskset', ['-c', '1', 'sh', '-c', 'while :; do sleep 0.001; done'], { stdio: 'ignore' });
    const child = spawn('taskset', ['-c', '1', bin, '64', '256', ...(thp ? ['thp'] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
    const header = await new Promise<string>((resolve) => {
      let s = '';
      child.stdout!.on('data', (d: Buffer) => { s += d.toString(); if (s.split('\n').length > 2) resolve(s); });
    });
    const [hot, cold] = header.trim().split('\n').map((l) => l.split(' ').slice(1).map(Number)) as [number[], number[]];
    const tracker = new DamonPaddrTracker();
    for (let c = 0; c < cycles; c++) {
      const u = process.cpuUsage();
      const map = await tracker.scanCycle({ pid: child.pid!, filter: { vmFlags: [], anonOnly: true }, ignHost: false }, { loop: 3, intervalMs: 1000 });
      const used = process.cpuUsage(u);
      let tp = 0, fp = 0, hotAll = 0, bytes = 0;
      for (const r of map.ranges) {
        if (!r.present) continue;
        bytes += r.pageCount * 4096;
        for (const [span, isHot] of [[hot, true], [cold, false]] as const) {
          const s = Math.max(span[0]!, r.start);
          const e = Math.min(span[0]! + span[1]!, r.start + r.pageCount * 4096);
          if (e <= s) continue;
          const n = (e - s) / 4096;
          if (isHot) hotAll += n;
          if (r.accessCount >= 1) { if (isHot) tp += n; else fp += n; }
        }
      }
      const cpuMsPerGiB = ((used.user + used.system) / 1000) / (bytes / 2 ** 30);
      console.log(`| ${thp ? 'THP' : '4 KiB'} 64 MiB hot + 256 MiB cold, shared | ${c + 1} | ${(tp / hotAll).toFixed(3)} | ${(tp / Math.max(1, tp + fp)).toFixed(3)} | ${cpuMsPerGiB.toFixed(0)} |`);
    }
    await tracker.close();
    child.kill('SIGKILL');
    companion.kill('SIGKILL');
  }
}
