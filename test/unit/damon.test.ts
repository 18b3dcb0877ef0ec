/**
 * The DAMON vaddr tracker without a DAMON kernel: its pure parts (regions,
 * normalisation, ranges) and its sysfs control sequence replayed against a
 * recording made on the testbed's 6.12 kernel (damon-fixture-6.12.json,
 * see test/testbed/inner/record-damon-fixture.ts). The real thing runs in
 * test/testbed/damon.test.ts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IoOp, PlatformIO } from '../../src/platform/io.js';
import { MemoryIO } from '../../src/platform/io.js';
import { SysError } from '../../src/native/errors.js';
import type { AccessMap } from '../../src/scan/access-map.js';
import {
  DamonVaddrTracker,
  buildRanges,
  countsByRegion,
  normaliseCount,
  parseSmapsSized,
  regionsForVmas,
  samplesPerWindow,
  type SizedVma,
} from '../../src/scan/damon.js';
import { readTriedRegions, KDAMONDS } from '../../src/scan/damon-sysfs.js';
import { kdamondsFor, probeDamonVaddr, KDAMOND_POOL_SIZE } from '../../src/scan/damon-contexts.js';

const MiB = 1 << 20;
const HUGE = 2 * MiB;

/** An I/O operation as RecordingIO logs it, plus what it returned. */
type RecordedOp = IoOp & { result?: unknown };

interface Fixture {
  kernel: string;
  pid: number;
  start: number;
  pageSizeBytes: number;
  pageCount: number;
  hotPages: number[];
  loop: number;
  intervalMs: number;
  statuses: number[][];
  ops: RecordedOp[];
  map: AccessMap;
}

// dist/test/unit -> test/unit: the JSON is not compiled.
const fixtureFile = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/unit/damon-fixture-6.12.json');
const fixture = JSON.parse(readFileSync(fixtureFile, 'utf8')) as Fixture;

/** Answers reads from the recording (per path, in order, then the last value again) and logs writes. */
class ReplayIO implements PlatformIO {
  readonly writes: Array<[string, string]> = [];
  private readonly answers = new Map<string, RecordedOp[]>();
  constructor(ops: RecordedOp[], private readonly overrides: Record<string, () => never> = {}) {
    for (const op of ops) {
      if (op.op === 'writeText') continue;
      const list = this.answers.get(`${op.op} ${op.path}`) ?? [];
      list.push(op);
      this.answers.set(`${op.op} ${op.path}`, list);
    }
  }
  private answer(kind: string, p: string): unknown {
    const override = this.overrides[p];
    if (override) override();
    const list = this.answers.get(`${kind} ${p}`);
    if (!list || list.length === 0) throw new SysError('ENOENT', 2, 'open', `not in the recording: ${kind} ${p}`);
    const op = list.length > 1 ? list.shift()! : list[0]!;
    if (op.error) throw new SysError(op.error, 22, 'write', op.error);
    return op.result;
  }
  async readText(p: string): Promise<string> {
    return this.answer('readText', p) as string;
  }
  async readDir(p: string): Promise<string[]> {
    return this.answer('readDir', p) as string[];
  }
  async exists(p: string): Promise<boolean> {
    return this.answer('exists', p) as boolean;
  }
  async writeText(p: string, text: string): Promise<void> {
    this.overrides[p]?.();
    this.writes.push([p, text]);
  }
}

const recordedWrites = fixture.ops.filter((o) => o.op === 'writeText').map((o) => [o.path, o.text!]);
const target = { pid: fixture.pid, filter: { vmFlags: ['ht'], anonOnly: false }, ignHost: false };
const cycle = { loop: fixture.loop, intervalMs: fixture.intervalMs };

function replayTracker(io: ReplayIO): DamonVaddrTracker {
  let call = 0;
  return new DamonVaddrTracker({ io, pageNodes: async () => Int32Array.from(fixture.statuses[Math.min(call++, fixture.statuses.length - 1)]!) });
}

describe('damon-vaddr, replayed against a 6.12 recording (fixture)', () => {
  test('fixture: the sysfs write sequence is exactly the recorded one', async () => {
    const io = new ReplayIO(fixture.ops);
    const tracker = replayTracker(io);
    await tracker.scanCycle(target, cycle);
    assert.deepEqual(io.writes, recordedWrites);
    // What makes the recording meaningful: fixed regions, one per hugepage, DAMON kept from resizing them.
    const w = new Map(io.writes);
    const ctx = `${KDAMONDS}/0/contexts/0`;
    assert.equal(w.get(`${ctx}/operations`), 'vaddr');
    assert.equal(w.get(`${ctx}/monitoring_attrs/nr_regions/min`), String(fixture.pageCount));
    assert.equal(w.get(`${ctx}/monitoring_attrs/nr_regions/max`), String(fixture.pageCount));
    assert.equal(w.get(`${ctx}/targets/0/regions/nr_regions`), String(fixture.pageCount));
    assert.equal(w.get(`${ctx}/schemes/0/action`), 'stat');
    assert.notEqual(w.get(`${ctx}/schemes/0/access_pattern/nr_accesses/max`), '0');
    assert.ok(Number(w.get(`${ctx}/monitoring_attrs/intervals/update_us`)) > Number(w.get(`${ctx}/monitoring_attrs/intervals/aggr_us`)));
    const states = io.writes.filter(([p]) => p.endsWith('/state')).map(([, t]) => t);
    assert.deepEqual(states, ['on', 'update_schemes_tried_regions', 'off']);
  });

  test('fixture: the recorded tried_regions give hot pages loop and cold pages 0, as on the kernel', async () => {
    const io = new ReplayIO(fixture.ops);
    const map = await replayTracker(io).scanCycle(target, cycle);
    assert.deepEqual(map.ranges.toArray(), fixture.map.ranges);
    const hot = new Set(fixture.hotPages);
    for (const r of map.ranges) {
      for (let i = 0; i < r.pageCount; i++) {
        const page = (r.start + i * r.pageSizeBytes - fixture.start) / fixture.pageSizeBytes;
        assert.equal(r.accessCount, hot.has(page) ? fixture.loop : 0, `page ${page}`);
        assert.equal(r.node, 0);
        assert.equal(r.pageSizeBytes, HUGE);
      }
    }
    assert.equal(map.tracker, 'damon-vaddr');
    assert.equal(map.loop, fixture.loop);
    assert.equal(map.vmas.length, 1);
    assert.ok(map.vmas[0]!.vmFlags.includes('ht'));
  });

  test('fixture: readTriedRegions parses the recorded directory in address order', async () => {
    const io = new ReplayIO(fixture.ops);
    const tried = await readTriedRegions(io, 0);
    assert.equal(tried.length, fixture.pageCount);
    tried.forEach((t, i) => {
      assert.equal(t.start, fixture.start + i * HUGE);
      assert.equal(t.nrAccesses, fixture.hotPages.includes(i) ? fixture.loop : 0);
    });
  });

  test('fixture: a second cycle over unchanged VMAs only toggles state', async () => {
    const io = new ReplayIO(fixture.ops);
    const tracker = replayTracker(io);
    await tracker.scanCycle(target, cycle);
    const before = io.writes.length;
    await tracker.scanCycle(target, cycle);
    assert.deepEqual(io.writes.slice(before).map(([p, t]) => `${path.basename(p)}=${t}`), [
      'state=on', 'state=update_schemes_tried_regions', 'state=off',
    ]);
  });

  test('fixture: a target that is gone rejects with SysError ESRCH before DAMON is touched', async () => {
    const io = new ReplayIO(fixture.ops, {
      [`/proc/${fixture.pid}/stat`]: () => { throw new SysError('ENOENT', 2, 'open', 'gone'); },
    });
    await assert.rejects(replayTracker(io).scanCycle(target, cycle), (err: unknown) => {
      assert.ok(err instanceof SysError);
      assert.equal(err.code, 'ESRCH');
      return true;
    });
    assert.deepEqual(io.writes, []);
  });

  test('fixture: the kdamond stops by itself when the target exits: ESRCH, kdamond off, context dropped', async () => {
    let statReads = 0;
    const io = new ReplayIO(fixture.ops, {
      // alive for the cycle's first look, gone at the first check while DAMON runs
      [`/proc/${fixture.pid}/stat`]: () => {
        if (++statReads > 1) throw new SysError('ENOENT', 2, 'open', 'gone');
        return undefined as never;
      },
    });
    await assert.rejects(replayTracker(io).scanCycle(target, { loop: 20, intervalMs: 50 }), { name: 'SysError', code: 'ESRCH' });
    assert.deepEqual(io.writes.slice(-2), [[`${KDAMONDS}/0/state`, 'off'], [`${KDAMONDS}/0/contexts/nr_contexts`, '0']]);
    assert.equal(io.writes.filter(([, t]) => t === 'update_schemes_tried_regions').length, 0);
  });

  test('fixture: abort ends the cycle with AbortError and turns the kdamond off', async () => {
    const io = new ReplayIO(fixture.ops);
    const controller = new AbortController();
    const run = replayTracker(io).scanCycle(target, { loop: 50, intervalMs: 40, signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await assert.rejects(run, { name: 'AbortError' });
    const states = io.writes.filter(([p]) => p.endsWith('/state')).map(([, t]) => t);
    assert.deepEqual(states, ['on', 'off']);
  });
});

describe('damon-vaddr regions and counts', () => {
  const vma = (start: number, end: number, pageSizeBytes: number): SizedVma => ({ start, end, pageSizeBytes, vmFlags: [], pathname: '' });

  test('hugetlb VMAs get one region per 2 MiB page', () => {
    const regions = regionsForVmas([vma(0x40000000, 0x40000000 + 8 * HUGE, HUGE)]);
    assert.equal(regions.length, 8);
    regions.forEach((r, i) => {
      assert.equal(r.start, 0x40000000 + i * HUGE);
      assert.equal(r.end - r.start, HUGE);
      assert.equal(r.pageSizeBytes, HUGE);
    });
  });

  test('4 KiB VMAs are cut on 2 MiB boundaries, partial pieces at the edges', () => {
    const start = 0x40000000 + HUGE - 3 * 4096;
    const regions = regionsForVmas([vma(start, start + 3 * 4096 + HUGE + 5 * 4096, 4096)]);
    assert.deepEqual(regions.map((r) => r.end - r.start), [3 * 4096, HUGE, 5 * 4096]);
    for (const r of regions.slice(1)) assert.equal(r.start % HUGE, 0);
  });

  test('1 GiB pages are one region each', () => {
    const G = 1 << 30;
    assert.deepEqual(regionsForVmas([vma(4 * G, 6 * G, G)]).map((r) => r.end - r.start), [G, G]);
  });

  test('counts are normalised to 0..loop', () => {
    assert.equal(samplesPerWindow(10, 1000, 1000), 10);
    assert.equal(samplesPerWindow(5, 1000, 20), 250);
    assert.equal(normaliseCount(250, 250, 5), 5);
    assert.equal(normaliseCount(0, 250, 5), 0);
    assert.equal(normaliseCount(125, 250, 5), 3);
    assert.equal(normaliseCount(999, 250, 5), 5);
  });

  test('tried regions map onto the fixed regions by start (the containing one if DAMON merged)', () => {
    const regions = [0, 1, 2, 3].map((i) => ({ start: (i + 1) * HUGE, end: (i + 2) * HUGE, pageSizeBytes: HUGE }));
    const counts = countsByRegion(regions, [
      { start: 2 * HUGE, nrAccesses: 4 },
      { start: 3 * HUGE, nrAccesses: 2 },
    ]);
    assert.deepEqual(counts, [0, 4, 2, 2]);
  });

  test('ranges merge neighbours of equal count, node and presence only', () => {
    const regions = [0, 1, 2, 3].map((i) => ({ start: i * HUGE, end: (i + 1) * HUGE, pageSizeBytes: HUGE }));
    const ranges = buildRanges(regions, [3, 3, 3, 0], Int32Array.from([0, 0, 2, -2]));
    assert.deepEqual(ranges.toArray().map((r) => [r.start / HUGE, r.pageCount, r.accessCount, r.node, r.present]), [
      [0, 2, 3, 0, true],
      [2, 1, 3, 2, true],
      [3, 1, 0, -1, false],
    ]);
  });

  test('smaps KernelPageSize is read per VMA', () => {
    const smaps = [
      '7f0000000000-7f0000400000 rw-s 00000000 00:10 1 /dev/hugepages/x (deleted)',
      'Size:               4096 kB',
      'KernelPageSize:     2048 kB',
      'VmFlags: rd wr sh mr mw me ms de ht sd',
      '7f0000400000-7f0000401000 rw-p 00000000 00:00 0 ',
      'KernelPageSize:        4 kB',
      'VmFlags: rd wr mr mw me ac sd',
    ].join('\n');
    const vmas = parseSmapsSized(smaps);
    assert.deepEqual(vmas.map((v) => v.pageSizeBytes), [HUGE, 4096]);
    assert.ok(vmas[0]!.vmFlags.includes('ht'));
  });
});

/** MemoryIO plus what the kernel does on nr_kdamonds / nr_contexts writes: create the child directories. */
class GrowingIO implements PlatformIO {
  writes = 0;
  constructor(private readonly mem: MemoryIO, private readonly ops = 'vaddr') {}
  readText(p: string): Promise<string> { return this.mem.readText(p); }
  readDir(p: string): Promise<string[]> { return this.mem.readDir(p); }
  exists(p: string): Promise<boolean> { return this.mem.exists(p); }
  async writeText(p: string, text: string): Promise<void> {
    this.writes++;
    await this.mem.writeText(p, text);
    if (p === `${KDAMONDS}/nr_kdamonds`) {
      for (let i = 0; i < Number(text); i++) {
        this.mem.files.set(`${KDAMONDS}/${i}/state`, 'off\n');
        this.mem.files.set(`${KDAMONDS}/${i}/contexts/nr_contexts`, '0\n');
      }
    }
    const ctx = /kdamonds\/(\d+)\/contexts\/nr_contexts$/.exec(p);
    if (ctx && text === '1') this.mem.files.set(`${KDAMONDS}/${ctx[1]}/contexts/0/avail_operations`, `${this.ops}\n`);
  }
}

describe('kdamond slots', () => {
  const tree = (n: number, states: string[]): MemoryIO => {
    const files: Record<string, string> = { [`${KDAMONDS}/nr_kdamonds`]: `${n}\n` };
    states.forEach((s, i) => {
      files[`${KDAMONDS}/${i}/state`] = `${s}\n`;
      files[`${KDAMONDS}/${i}/contexts/nr_contexts`] = '0\n';
    });
    return new MemoryIO(files, { createOnWrite: true });
  };

  test('an off slot not held by this process is reused; a running one is not', async () => {
    const io = tree(2, ['on', 'off']);
    assert.equal(await kdamondsFor(io).acquire(), 1);
  });

  test('when all are held or running, the pool grows (to KDAMOND_POOL_SIZE at once)', async () => {
    const io = new GrowingIO(tree(1, ['off']));
    assert.equal(await kdamondsFor(io).acquire(), 0);
    assert.equal(await kdamondsFor(io).acquire(), 1);
    assert.equal((await io.readText(`${KDAMONDS}/nr_kdamonds`)).trim(), String(KDAMOND_POOL_SIZE));
    assert.equal(await kdamondsFor(io).acquire(), 2);
  });

  test('probing is cached: a second probe touches nothing', async () => {
    const io = new GrowingIO(tree(1, ['off']), 'paddr vaddr');
    assert.deepEqual(await probeDamonVaddr(io), { available: true, reason: '' });
    const writes = io.writes;
    assert.deepEqual(await probeDamonVaddr(io), { available: true, reason: '' });
    assert.equal(io.writes, writes);
  });

  test('a kernel with paddr only is reported with the reason', async () => {
    const probe = await probeDamonVaddr(new GrowingIO(tree(1, ['off']), 'paddr'));
    assert.equal(probe.available, false);
    assert.match(probe.reason, /CONFIG_DAMON_VADDR/);
  });

  test('a released slot is turned off, emptied and can be acquired again', async () => {
    const io = tree(1, ['off']);
    const slot = await kdamondsFor(io).acquire();
    io.files.set(`${KDAMONDS}/0/contexts/nr_contexts`, '1');
    await kdamondsFor(io).release(slot);
    assert.equal(io.files.get(`${KDAMONDS}/0/contexts/nr_contexts`), '0');
    assert.equal(await kdamondsFor(io).acquire(), 0);
  });
});
