/**
 * The damon-paddr tracker and its parts without a kernel: the tracepoint's
 * raw ring-buffer pages (a synthetic page built here with every header
 * kind, and two pages recorded on this host's 6.18 kernel), windows,
 * PFN regions, the page mapping, the owned-mode sysfs sequence on an
 * in-memory DAMON tree, the probe's reasons, and bad input.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { aggregatedLayout, groupWindows, parseEventFormat, parseRawPage, type AggregatedEvent } from '../../src/platform/tracefs.js';
import {
  DamonPaddrTracker,
  damonPaddrTrackerEntry,
  ownedRegions,
  PageRuns,
  pageRunBlock,
  paddrRanges,
  probeDamonPaddr,
  type AggregatedSource,
} from '../../src/scan/damon-paddr.js';
import { DamonKdamonds } from '../../src/scan/damon-contexts.js';
import { KDAMONDS } from '../../src/scan/damon-sysfs.js';
import { MemoryIO } from '../../src/platform/io.js';
import { nodeOfPfn, readMemoryBlockMap } from '../../src/platform/memory-blocks.js';
import type { KernelOps } from '../../src/native/kernel.js';
import type { AccessMap } from '../../src/scan/access-map.js';
import { VirtTierError } from '../../src/errors.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/tracefs');
const FORMAT = readFileSync(path.join(FIXTURES, 'damon_aggregated.format'), 'utf8');
const LAYOUT = aggregatedLayout(parseEventFormat(FORMAT));
const PAGE = 4096;
const GiB = 2 ** 30;

/** A ring-buffer page as kernel/trace/ring_buffer.c writes it. */
class PageWriter {
  readonly buf = Buffer.alloc(4096);
  private off = 16;
  constructor(timestampNs: number) {
    this.buf.writeUInt32LE(timestampNs % 2 ** 32, 0);
    this.buf.writeUInt32LE(Math.floor(timestampNs / 2 ** 32), 4);
  }
  private header(typeLen: number, delta: number): void {
    this.buf.writeUInt32LE(((delta << 5) | typeLen) >>> 0, this.off);
    this.off += 4;
  }
  event(id: number, delta: number, e: { start: number; end: number; nr: number; nrRegions: number }, long = false): void {
    const data = Buffer.alloc(48);
    data.writeUInt16LE(id, 0);
    data.writeUInt32LE(4242, 4); // common_pid
    data.writeUInt32LE(e.nrRegions, LAYOUT.nrRegions);
    for (const [field, v] of [[LAYOUT.start, e.start], [LAYOUT.end, e.end]] as const) {
      data.writeUInt32LE(v % 2 ** 32, field);
      data.writeUInt32LE(Math.floor(v / 2 ** 32), field + 4);
    }
    data.writeUInt32LE(e.nr, LAYOUT.nrAccesses);
    data.writeUInt32LE(7, LAYOUT.age);
    if (long) {
      this.header(0, delta);
      this.buf.writeUInt32LE(data.length + 4, this.off);
      this.off += 4;
    } else {
      this.header(data.length / 4, delta);
    }
    data.copy(this.buf, this.off);
    this.off += data.length;
  }
  timeExtend(delta: number, high: number): void {
    this.header(30, delta);
    this.buf.writeUInt32LE(high, this.off);
    this.off += 4;
  }
  /** A discarded event: array[0] is its length after the header, itself included (rb_event_length). */
  padding(bytes: number): void {
    this.header(29, 1);
    this.buf.writeUInt32LE(bytes, this.off);
    this.off += bytes;
  }
  done(): Buffer {
    this.buf.writeUInt32LE(this.off - 16, 8);
    return this.buf;
  }
}

describe('damon_aggregated raw pages', () => {
  test('the recorded format gives the field offsets', () => {
    assert.equal(LAYOUT.id, 767);
    assert.deepEqual([LAYOUT.targetId, LAYOUT.nrRegions, LAYOUT.start, LAYOUT.end, LAYOUT.nrAccesses, LAYOUT.age], [8, 16, 24, 32, 40, 44]);
    assert.throws(() => aggregatedLayout(parseEventFormat(FORMAT.replace('field:unsigned long start;', 'field:unsigned int start;').replace(/offset:24;\tsize:8/, 'offset:24;\tsize:4'))), /field start missing or not 8 bytes/);
  });

  test('a synthetic page: short and long events, a time extend, padding and another event are decoded exactly', () => {
    const w = new PageWriter(1_000_000);
    w.event(767, 10, { start: 4 * GiB, end: 4 * GiB + 2 * 2 ** 20, nr: 3, nrRegions: 2 });
    w.event(999, 5, { start: 0, end: 1, nr: 0, nrRegions: 1 }); // another event id in the same buffer
    w.padding(8);
    w.timeExtend(3, 2); // + 3 + 2 * 2^27 ns
    w.event(767, 20, { start: 9 * GiB, end: 9 * GiB + PAGE, nr: 10, nrRegions: 2 }, true);
    const out: AggregatedEvent[] = [];
    assert.equal(parseRawPage(w.done(), LAYOUT, out), 2);
    assert.deepEqual(out.map((e) => [e.timeNs, e.start, e.end, e.nrAccesses, e.nrRegions, e.age]), [
      [1_000_010, 4 * GiB, 4 * GiB + 2 * 2 ** 20, 3, 2, 7],
      [1_000_010 + 5 + 3 + 2 * 2 ** 27 + 20, 9 * GiB, 9 * GiB + PAGE, 10, 2, 7],
    ]);
  });

  test('two pages recorded on this host (6.18, the shared kdamond: 10 samples a window) decode to ordered regions', () => {
    const raw = readFileSync(path.join(FIXTURES, 'raw-pages-6.18.bin'));
    const out: AggregatedEvent[] = [];
    parseRawPage(raw.subarray(0, 4096), LAYOUT, out);
    parseRawPage(raw.subarray(4096, 8192), LAYOUT, out);
    // 2208 + 4056 data bytes of 52-byte events (a 4-byte header and 48 bytes of fields)
    assert.equal(out.length, Math.floor(2208 / 52) + Math.floor(4056 / 52));
    for (const e of out) {
      assert.ok(e.start < e.end && e.start >= 4 * GiB && e.end <= 16 * GiB, `${e.start}-${e.end}`);
      assert.ok(e.nrAccesses <= 10);
    }
    for (let i = 1; i < out.length; i++) assert.ok(out[i]!.timeNs >= out[i - 1]!.timeNs);
    const windows = groupWindows(out);
    for (const win of windows) for (let i = 1; i < win.regions.length; i++) assert.ok(win.regions[i]!.start >= win.regions[i - 1]!.end);
  });

  test('windows: a region that does not start past the last opens a window; a half-drained window is dropped', () => {
    const ev = (timeNs: number, start: number, nr: number, nrRegions = 2): AggregatedEvent => ({ timeNs, targetId: 0, nrRegions, start, end: start + PAGE, nrAccesses: nr, age: 0 });
    // Drained per CPU: CPU 1's events come first in the array, but time orders them.
    const windows = groupWindows([ev(30, 0, 5), ev(31, PAGE, 6), ev(10, 0, 1), ev(11, PAGE, 2), ev(50, 0, 9)]);
    assert.deepEqual(windows.map((w) => w.regions.map((r) => r.nrAccesses)), [[1, 2], [5, 6]]);
  });
});

/** Runs of pages given one by one: a block (one pagemap read) per stretch of consecutive addresses. */
function pagesOf(entries: Array<[addr: number, pfn: number, flags: number]>): PageRuns {
  const blocks = [];
  for (let i = 0; i < entries.length;) {
    let j = i + 1;
    while (j < entries.length && entries[j]![0] === entries[j - 1]![0] + PAGE) j++;
    const part = entries.slice(i, j);
    blocks.push(pageRunBlock(part[0]![0], part.length, Float64Array.from(part, (e) => e[1]), Uint8Array.from(part, (e) => e[2])));
    i = j;
  }
  return new PageRuns(blocks);
}

const region = (start: number, end: number, nr: number): AggregatedEvent => ({ timeNs: 0, targetId: 0, nrRegions: 2, start: start * PAGE, end: end * PAGE, nrAccesses: nr, age: 0 });

describe('pages by frame', () => {
  test('runs: pages whose address and frame advance together with equal flags are one run', () => {
    const runs = pagesOf([[0x1000, 50, 1], [0x2000, 51, 1], [0x3000, 52, 1], [0x4000, 90, 1], [0x5000, 0, 2], [0x6000, 0, 2], [0x7000, 0, 0], [0x9000, 91, 1]]);
    assert.deepEqual(runs.blocks.map((b) => [b.startAddr, [...b.pageCounts], [...b.firstPfns], [...b.flags]]), [
      [0x1000, [3, 1, 2, 1], [50, 90, 0, 0], [1, 1, 2, 0]],
      [0x9000, [1], [91], [1]],
    ]);
    assert.equal(runs.stateBytes, 13 * 5);
  });

  test('regions: PFN runs cut at 2 MiB; beyond maxRegions the smallest gaps are closed first', () => {
    const base = (4 * GiB) / PAGE; // 2 MiB aligned
    const runs = pagesOf([[0x1000, base + 511, 1], [0x2000, base + 512, 1], [0x3000, base + 513, 1], [0x4000, base + 600, 1], [0x5000, base + 5000, 1], [0x6000, 0, 2]]);
    const r = ownedRegions(runs);
    assert.deepEqual(r.map((x) => [(x.start / PAGE) - base, (x.end / PAGE) - base]), [[511, 512], [512, 514], [600, 601], [5000, 5001]]);
    const capped = ownedRegions(runs, 2);
    assert.equal(capped.length, 2);
    assert.deepEqual(capped.map((x) => [(x.start / PAGE) - base, (x.end / PAGE) - base]), [[511, 601], [5000, 5001]]);
  });

  test('counts: each page takes its region\'s share of samples; pages no region holds are kept hot and counted; swapped pages are cold and absent', () => {
    const runs = pagesOf([[0x10000, 100, 1], [0x11000, 101, 1], [0x12000, 300, 1], [0x13000, 0, 2], [0x14000, 0, 0]]);
    const windows = [
      { timeNs: 0, targetId: 0, regions: [region(90, 101, 10), region(101, 200, 1)] },
      { timeNs: 1, targetId: 0, regions: [region(90, 101, 6), region(101, 200, 0)] },
    ];
    // frames below 200 on node 0, from 200 on node 1
    const { ranges, untrackedPages } = paddrRanges(runs, windows, 10, 3, { blockBytes: 200 * PAGE, nodeByBlock: Int16Array.of(0, 1) });
    assert.equal(untrackedPages, 1);
    assert.deepEqual(ranges.toArray().map((r) => [r.start, r.pageCount, r.accessCount, r.node, r.present, r.swapped]), [
      [0x10000, 1, 2, 0, true, false], // (1.0 + 0.6) / 2 * 3 = 2.4
      [0x11000, 1, 0, 0, true, false], // (0.1 + 0) / 2 * 3 = 0.15
      [0x12000, 1, 3, 1, true, false], // outside every region: kept hot
      [0x13000, 1, 0, -1, false, true],
    ]);
  });

  test('a run is cut where a region boundary or a memory block boundary falls inside it, and nowhere else', () => {
    const runs = pagesOf(Array.from({ length: 512 }, (_, i): [number, number, number] => [0x200000 + i * PAGE, 1024 + i, 1]));
    assert.equal(runs.runCount, 1);
    const windows = [{ timeNs: 0, targetId: 0, regions: [region(0, 1100, 10), region(1100, 2000, 0)] }];
    // blocks of 256 frames: 1024..1279 on node 0, 1280.. on node 1
    const { ranges, untrackedPages } = paddrRanges(runs, windows, 10, 2, { blockBytes: 256 * PAGE, nodeByBlock: Int16Array.of(0, 0, 0, 0, 0, 1, 1, 1) });
    assert.equal(untrackedPages, 0);
    assert.deepEqual(ranges.toArray().map((r) => [r.start - 0x200000, r.pageCount, r.accessCount, r.node]), [
      [0, 76, 2, 0],
      [76 * PAGE, 180, 0, 0],
      [256 * PAGE, 256, 0, 1],
    ]);
  });

  test('ranges over two VMAs: each page at its own VMA\'s address, no range across the gap', () => {
    const runs = pagesOf([[0x10000, 100, 1], [0x11000, 101, 1], [0x90000, 102, 1], [0x91000, 0, 2]]);
    assert.deepEqual(runs.blocks.map((b) => b.startAddr), [0x10000, 0x90000]);
    const { ranges } = paddrRanges(runs, [], 1, 2, { blockBytes: GiB, nodeByBlock: Int16Array.of(0) });
    assert.deepEqual(ranges.toArray().map((r) => [r.start, r.pageCount, r.accessCount, r.present]), [
      [0x10000, 2, 2, true],
      [0x90000, 1, 2, true],
      [0x91000, 1, 0, false],
    ]);
  });

  test('counts for pages in any PFN order match a per-page scan of the regions', () => {
    // frames scattered and repeated, as 4 KiB anonymous memory gets them; regions with gaps between them
    let seed = 7;
    const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) % n);
    const entries: Array<[number, number, number]> = [];
    for (let i = 0; i < 2000; i++) entries.push([0x100000 + i * PAGE, rnd(5) === 0 ? 0 : 1 + rnd(5000), rnd(7) === 0 ? 2 : 1]);
    const regions: AggregatedEvent[] = [];
    for (let start = 10; start < 5200; start += 40 + rnd(60)) regions.push({ timeNs: 0, targetId: 0, nrRegions: 0, start: start * PAGE, end: (start + 20 + rnd(30)) * PAGE, nrAccesses: rnd(11), age: 0 });
    const loop = 10;
    const { ranges } = paddrRanges(pagesOf(entries), [{ timeNs: 0, targetId: 0, regions }], 10, loop, { blockBytes: GiB, nodeByBlock: new Int16Array(0) });
    const perPage = ranges.toArray().flatMap((r) => Array.from({ length: r.pageCount }, (_, k) => [r.start + k * PAGE, r.accessCount]));
    const want = entries.filter(([, , f]) => f === 1).map(([addr, pfn]) => {
      const hit = pfn > 0 ? regions.find((r) => pfn * PAGE >= r.start && pfn * PAGE < r.end) : undefined;
      return [addr, hit ? Math.min(loop, Math.round(Math.fround(Math.min(1, hit.nrAccesses / 10)) * loop)) : loop];
    });
    assert.deepEqual(perPage.filter(([addr]) => entries[(addr! - 0x100000) / PAGE]![2] === 1), want);
  });

  test('node of a frame from the memory-block map', async () => {
    const io = new MemoryIO({
      '/sys/devices/system/memory/block_size_bytes': '8000000\n',
      '/sys/devices/system/memory/memory0/node0/x': '',
      '/sys/devices/system/memory/memory1/node0/x': '',
      '/sys/devices/system/memory/memory3/node2/x': '',
    });
    const map = await readMemoryBlockMap(io);
    assert.equal(map.blockBytes, 128 << 20);
    assert.deepEqual([...map.nodeByBlock], [0, 0, -1, 2]);
    assert.equal(nodeOfPfn(map, (3 * (128 << 20)) / PAGE + 5), 2);
    assert.equal(nodeOfPfn(map, (2 * (128 << 20)) / PAGE), -1);
    assert.equal(nodeOfPfn(map, (9 * (128 << 20)) / PAGE), -1);
  });
});

const PID = 4321;
const VA = 0x7f0000000000;

function damonTree(extra: Record<string, string> = {}): MemoryIO {
  return new MemoryIO({
    [`${KDAMONDS}/nr_kdamonds`]: '1\n',
    [`${KDAMONDS}/0/state`]: 'off\n',
    [`${KDAMONDS}/0/pid`]: '-1\n',
    [`${KDAMONDS}/0/contexts/nr_contexts`]: '0\n',
    '/proc/filesystems': 'nodev\ttracefs\n',
    '/proc/kallsyms': 'ffffffff81234990 t damon_pa_check_accesses\n',
    [`/proc/${PID}/stat`]: `${PID} (guest) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 777 0 0\n`,
    [`/proc/${PID}/smaps`]: [`${VA.toString(16)}-${(VA + 4 * PAGE).toString(16)} rw-p 00000000 00:00 0 `, 'KernelPageSize:        4 kB', 'VmFlags: rd wr mr mw me ac', ''].join('\n'),
    ...extra,
  }, { createOnWrite: true });
}

/** pagemap entries: present pages at the given PFNs (0: not present). */
function fakeKernel(pfns: number[]): KernelOps {
  return {
    async readPagemap(pid: number, start: number, count: number) {
      assert.equal(pid, PID);
      const out = new BigUint64Array(count);
      for (let i = 0; i < count; i++) {
        const pfn = pfns[(start - VA) / PAGE + i] ?? 0;
        if (pfn > 0) out[i] = (1n << 63n) | BigInt(pfn);
      }
      return out;
    },
    async readPagemapPfns(pid: number, start: number, count: number) {
      assert.equal(pid, PID);
      const pfn = new Float64Array(count);
      const flags = new Uint8Array(count);
      for (let i = 0; i < count; i++) {
        pfn[i] = pfns[(start - VA) / PAGE + i] ?? 0;
        flags[i] = pfn[i]! > 0 ? 1 : 0;
      }
      return { pfn, flags };
    },
  } as unknown as KernelOps;
}

describe('damon-paddr tracker on an in-memory DAMON tree', () => {
  test('owned mode: a paddr context over exactly our frames, on for the cycle, counts from its window', async () => {
    const io = damonTree();
    const kdamonds = new DamonKdamonds(io);
    const base = (4 * GiB) / PAGE;
    const pfns = [base, base + 1, base + 2, base + 9];
    let filterPid = -1;
    const source: AggregatedSource = {
      setKdamondPid(p) { filterPid = p; },
      drain() {
        // The kdamond is on while the cycle waits: its window says frames base..base+2 hot, base+9 idle.
        if ((io.files.get(`${KDAMONDS}/0/state`) ?? '').trim() !== 'on') return [];
        const r = (s: number, e: number, nr: number): AggregatedEvent => ({ timeNs: 1, targetId: 0, nrRegions: 2, start: s * PAGE, end: e * PAGE, nrAccesses: nr, age: 0 });
        return [r(base, base + 3, 2), r(base + 9, base + 10, 0)];
      },
      close() {},
    };
    io.files.set(`${KDAMONDS}/0/pid`, '555\n');
    const tracker = new DamonPaddrTracker({ io, kernel: fakeKernel(pfns), kdamonds, mode: 'owned', memoryBlocks: { blockBytes: 128 << 20, nodeByBlock: new Int16Array(64).fill(0) }, openSource: async (_name, p) => { filterPid = p; return source; } });
    const map = await tracker.scanCycle({ pid: PID, filter: { vmFlags: [], anonOnly: true }, ignHost: false }, { loop: 2, intervalMs: 1 });
    assert.equal(filterPid, 555, 'the tracepoint is filtered on our kdamond');
    const c = `${KDAMONDS}/0/contexts/0`;
    assert.equal(io.files.get(`${c}/operations`), 'paddr');
    assert.equal(io.files.get(`${c}/targets/0/regions/nr_regions`), '2');
    assert.deepEqual([0, 1].map((i) => [io.files.get(`${c}/targets/0/regions/${i}/start`), io.files.get(`${c}/targets/0/regions/${i}/end`)]), [
      [String(base * PAGE), String((base + 3) * PAGE)],
      [String((base + 9) * PAGE), String((base + 10) * PAGE)],
    ]);
    assert.equal(io.files.get(`${c}/monitoring_attrs/nr_regions/min`), '3', 'DAMON refuses fewer than 3');
    assert.equal(io.files.get(`${KDAMONDS}/0/state`), 'off', 'off again after the cycle');
    assert.deepEqual(map.ranges.toArray().map((r) => [r.start - VA, r.pageCount, r.accessCount]), [[0, 3, 2], [3 * PAGE, 1, 0]]);
    assert.equal(map.untrackedPages, 0);
    assert.equal(map.tracker, 'damon-paddr');
    await tracker.close();
    assert.equal(io.files.get(`${KDAMONDS}/0/contexts/nr_contexts`), '0', 'the slot is given back empty');
    assert.deepEqual(kdamonds.heldSlots, []);
  });

  test('shared mode: the other user\'s kdamond is only read; a page reads idle only after two idle cycles in a row', async () => {
    const base = (4 * GiB) / PAGE;
    const io = damonTree({
      [`${KDAMONDS}/0/state`]: 'on\n', [`${KDAMONDS}/0/pid`]: '78\n', [`${KDAMONDS}/0/contexts/nr_contexts`]: '1\n',
      [`${KDAMONDS}/0/contexts/0/operations`]: 'paddr\n',
      [`${KDAMONDS}/0/contexts/0/monitoring_attrs/intervals/sample_us`]: '500000\n', [`${KDAMONDS}/0/contexts/0/monitoring_attrs/intervals/aggr_us`]: '5000000\n',
      [`${KDAMONDS}/0/contexts/0/targets/nr_targets`]: '1\n', [`${KDAMONDS}/0/contexts/0/targets/0/regions/nr_regions`]: '1\n',
      [`${KDAMONDS}/0/contexts/0/targets/0/regions/0/start`]: `${4 * GiB}\n`, [`${KDAMONDS}/0/contexts/0/targets/0/regions/0/end`]: `${9 * GiB}\n`,
    });
    const before = new Map(io.files);
    let idleFrame = base + 1;
    const source: AggregatedSource = {
      setKdamondPid() {},
      drain() {
        const r = (s: number, e: number, nr: number): AggregatedEvent => ({ timeNs: 1, targetId: 0, nrRegions: 3, start: s * PAGE, end: e * PAGE, nrAccesses: nr, age: 0 });
        return [r(base, idleFrame, 10), r(idleFrame, idleFrame + 1, 0), r(idleFrame + 1, base + 4, 10)];
      },
      close() {},
    };
    let pidSeen = -1;
    const tracker = new DamonPaddrTracker({ io, kernel: fakeKernel([base, base + 1, base + 2, base + 3]), kdamonds: new DamonKdamonds(io), memoryBlocks: { blockBytes: 128 << 20, nodeByBlock: new Int16Array(0) }, openSource: async (_n, p) => { pidSeen = p; return source; } });
    const scan = () => tracker.scanCycle({ pid: PID, filter: { vmFlags: [], anonOnly: true }, ignHost: false }, { loop: 3, intervalMs: 1 });
    const counts = (m: AccessMap): number[] => m.ranges.toArray().flatMap((r) => Array.from({ length: r.pageCount }, () => r.accessCount));
    assert.deepEqual(counts(await scan()), [3, 1, 3, 3], 'idle once: not yet cold');
    assert.equal(tracker.mode, 'shared');
    assert.equal(pidSeen, 78);
    assert.deepEqual(counts(await scan()), [3, 0, 3, 3], 'idle twice: cold');
    idleFrame = base + 2;
    assert.deepEqual(counts(await scan()), [3, 3, 1, 3], 'another page idle for the first time');
    await tracker.close();
    assert.deepEqual(io.files, before, 'not one DAMON sysfs file written');
  });

  test('a hugetlb VMA is refused, naming the VMA and the fix, never reported cold', async () => {
    const io = damonTree({ [`/proc/${PID}/smaps`]: [`${VA.toString(16)}-${(VA + 2 * 2 ** 20).toString(16)} rw-s 00000000 00:10 1 /dev/hugepages/g`, 'KernelPageSize:     2048 kB', 'VmFlags: rd wr sh mr mw me ms de ht sd', ''].join('\n') });
    const tracker = new DamonPaddrTracker({ io, kernel: fakeKernel([]), kdamonds: new DamonKdamonds(io), mode: 'owned' });
    await assert.rejects(tracker.scanCycle({ pid: PID, filter: { vmFlags: [], anonOnly: false }, ignHost: false }, { loop: 1, intervalMs: 1 }), (err: unknown) => {
      assert.ok(err instanceof VirtTierError);
      assert.equal(err.code, 'OPT_UNSUPPORTED');
      assert.match(err.message, /cannot see hugetlb memory \(pid 4321, VMA 7f0000000000-7f0000200000, 2048 KiB pages\).*use --tracker damon-vaddr or idle-pages/);
      return true;
    });
    assert.equal(io.files.get(`${KDAMONDS}/0/state`)?.trim(), 'off', 'nothing was started');
  });

  test('shared mode forced with no running paddr kdamond: a clear error', async () => {
    const io = damonTree();
    const tracker = new DamonPaddrTracker({ io, kernel: fakeKernel([1]), kdamonds: new DamonKdamonds(io), mode: 'shared' });
    await assert.rejects(tracker.scanCycle({ pid: PID, filter: { vmFlags: [], anonOnly: true }, ignHost: false }, { loop: 1, intervalMs: 1 }), /no running kdamond with paddr operations to share/);
  });

  test('probe: owned where no kdamond runs; shared over a running paddr one; unavailable with the reason otherwise', async () => {
    assert.deepEqual(await probeDamonPaddr(damonTree()), { name: 'damon-paddr', available: true, mode: 'owned', reason: 'owned: no kdamond runs, so one of ours monitors exactly the target\'s frames' });
    const running = damonTree({
      [`${KDAMONDS}/0/state`]: 'on\n', [`${KDAMONDS}/0/pid`]: '78\n', [`${KDAMONDS}/0/contexts/nr_contexts`]: '1\n',
      [`${KDAMONDS}/0/contexts/0/operations`]: 'paddr\n', [`${KDAMONDS}/0/contexts/0/avail_operations`]: 'paddr\n',
      [`${KDAMONDS}/0/contexts/0/monitoring_attrs/intervals/sample_us`]: '500000\n', [`${KDAMONDS}/0/contexts/0/monitoring_attrs/intervals/aggr_us`]: '5000000\n',
      [`${KDAMONDS}/0/contexts/0/targets/nr_targets`]: '1\n', [`${KDAMONDS}/0/contexts/0/targets/0/regions/nr_regions`]: '1\n',
      [`${KDAMONDS}/0/contexts/0/targets/0/regions/0/start`]: `${4 * GiB}\n`, [`${KDAMONDS}/0/contexts/0/targets/0/regions/0/end`]: `${9 * GiB}\n`,
    });
    const shared = await probeDamonPaddr(running);
    assert.equal(shared.mode, 'shared');
    assert.match(shared.reason, /^shared, read-only: kdamond 0 \(pid 78\) of another DAMON user monitors 4\.0-9\.0 GiB physical/);
    assert.deepEqual(running.files.get(`${KDAMONDS}/0/state`), 'on\n', 'untouched');
    const vaddrRunning = damonTree({ [`${KDAMONDS}/0/state`]: 'on\n', [`${KDAMONDS}/0/contexts/nr_contexts`]: '1\n', [`${KDAMONDS}/0/contexts/0/operations`]: 'vaddr\n', [`${KDAMONDS}/0/contexts/0/avail_operations`]: 'vaddr paddr\n' });
    assert.match((await probeDamonPaddr(vaddrRunning)).reason, /kdamond 0 of another DAMON user runs without paddr operations: nothing to share, and nr_kdamonds cannot grow while it runs \(EBUSY\)/);
    const foreignOff = damonTree({ [`${KDAMONDS}/0/contexts/nr_contexts`]: '1\n' });
    assert.match((await probeDamonPaddr(foreignOff)).reason, /kdamond 0 holds another DAMON user's context \(off\): growing nr_kdamonds for one of our own would wipe it/);
    const noTracefs = damonTree({ '/proc/filesystems': 'nodev\tsysfs\n' });
    assert.match((await damonPaddrTrackerEntry.probe(noTracefs, {} as KernelOps)).reason, /no tracefs with the damon_aggregated event/);
    assert.match((await damonPaddrTrackerEntry.probe(new MemoryIO({}), {} as KernelOps)).reason, /CONFIG_DAMON_SYSFS/);
  });
});
