/**
 * migrate-hints on real processes (test/fixtures/platform/pattern-child.c):
 * private anonymous pages partly swapped into a zram device this test
 * creates, a memfd mapping partly swapped (and partly read back into the
 * page cache without being mapped: the state mincore calls resident), and
 * a hugetlb mapping (never swapped). Output as JSON and as VTBM bitmaps.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { native } from '../../src/native/index.js';
import { liveIO } from '../../src/platform/io.js';
import { readSmaps } from '../../src/platform/smaps.js';
import { runMigrateHints } from '../../src/cli/migrate-hints.js';
import { decodeBitmaps, BITMAP_FLAGS } from '../../src/migration/bitmap.js';
import { estimatePrecopy } from '../../src/migration/precopy.js';
import type { AccessData } from '../../src/migration/page-stats.js';
import { startPatternChild, type PatternChild } from './native-child.js';
import { addZramSwap, type ZramSwap } from './native-zram.js';

const MADV_PAGEOUT = 21;
const PAGE = 4096;

async function hints(args: string[], accessFor: (pid: number) => Promise<AccessData | undefined> = async () => undefined): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runMigrateHints(args, { out: (t) => (out += t), err: (t) => (err += t) }, { accessFor });
  return { code, out, err };
}

type Block = { id: string; start: string; kind: string; swap: string; accessData: boolean; pages: Record<string, number>; presentPagesByNode: Record<string, number>; ranges: Array<{ offset: string; pages: number; state: string; node?: number; temperature?: string }> };

async function blockOf(child: PatternChild, accessFor?: (pid: number) => Promise<AccessData | undefined>, extra: string[] = []): Promise<{ doc: Record<string, any>; block: Block }> {
  const r = await hints(['--pid', String(child.pid), ...extra], accessFor);
  assert.equal(r.code, 0, r.err);
  const doc = JSON.parse(r.out);
  const block = (doc.ramBlocks as Block[]).find((b) => Number(b.start) === child.start);
  assert.ok(block, `a RAMBlock at 0x${child.start.toString(16)} in ${doc.ramBlocks.map((b: Block) => b.id).join(', ')}`);
  return { doc, block };
}

describe('migrate-hints on real processes', () => {
  let zram: ZramSwap;
  let tmp: string;
  before(() => {
    zram = addZramSwap(96);
    tmp = mkdtempSync(join(tmpdir(), 'migrate-hints-'));
  });
  after(() => {
    zram?.remove();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('private anonymous: swapped pages from the page table, present pages with their node; JSON, bitmap, estimate', async () => {
    const child = await startPatternChild('anon', 2048, 1); // 8 MiB, every page touched
    try {
      const advised = await native.processMadvise(child.pid, new Float64Array([child.start, 512 * PAGE, child.start + 1024 * PAGE, 256 * PAGE]), MADV_PAGEOUT);
      assert.equal(advised, 768 * PAGE);
      const { doc, block } = await blockOf(child, undefined, ['--estimate', '--bandwidth', '100', '--dirty-rate', '10']);
      assert.equal(block.kind, 'anon');
      assert.equal(block.swap, 'pagemap');
      assert.equal(block.accessData, false);
      const swapped = block.pages.swapped!;
      const smapsSwap = (await readSmaps(liveIO, child.pid)).find((v) => v.start === child.start)!.swapBytes / PAGE;
      assert.equal(swapped, smapsSwap, 'agrees with smaps Swap');
      assert.ok(swapped >= 700, `${swapped} of 768 paged-out pages swapped`);
      assert.equal(block.pages.present! + swapped, 2048);
      assert.equal(block.pages.untouched, 0);
      assert.equal(block.presentPagesByNode['0'], 2048 - swapped);
      // swapped ranges lie inside what was paged out
      for (const r of block.ranges.filter((x) => x.state === 'swapped')) {
        const first = Number(r.offset) / PAGE;
        assert.ok((first >= 0 && first + r.pages <= 512) || (first >= 1024 && first + r.pages <= 1280), `swapped run at page ${first}+${r.pages}`);
      }
      for (const r of block.ranges.filter((x) => x.state === 'present')) assert.equal(r.node, 0);
      // The estimate is the pure model over these counts (all blocks of the process).
      const all = doc.ramBlocks as Block[];
      const sum = (k: string): number => all.reduce((s, b) => s + (b.pages[k] ?? 0), 0);
      const zero = sum('zero');
      const swappedZero = Math.round(sum('swapped') * (doc.measured.zramZeroShare?.fraction ?? 0));
      const expected = estimatePrecopy({
        ramSizeBytes: all.reduce((s, b) => s + (b.pages.present! + b.pages.swapped! + b.pages.untouched! + b.pages.swapCache!) * PAGE, 0), pageSizeBytes: PAGE,
        dataPages: sum('present') - zero + sum('swapCache'), zeroPages: zero + sum('untouched'), swappedPages: sum('swapped'), swappedZeroPages: swappedZero,
        bandwidthMBps: 100, dirty: { ratePagesPerSec: (10 * 1048576) / PAGE },
        // measured on memory of its own when the process has swapped pages (src/migration/swap-cost.ts)
        swapInUs: doc.measured.swapInCost?.perPageUs,
        // where those pages sit in QEMU's walk (what the final pass's tail holds)
        walk: doc.estimate.input.walk,
      });
      const walk = doc.estimate.input.walk as { dataPages: number[]; zeroPages: number[]; swappedPages: number[] };
      const total = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
      assert.deepEqual([total(walk.dataPages), total(walk.zeroPages), total(walk.swappedPages)], [sum('present') - zero + sum('swapCache'), zero + sum('untouched'), sum('swapped')], 'the walk holds the same pages');
      assert.deepEqual(doc.estimate, JSON.parse(JSON.stringify(expected)));
      assert.ok(doc.estimate.savedBytes >= swapped * 9, 'skipping swapped pages saves at least their headers');
      assert.ok(doc.measured.swapInCost.perPageUs > 0, 'a swap-in costs something');

      // Bitmaps: one file per RAMBlock; the swapped record has exactly the swapped pages.
      const dir = join(tmp, 'anon');
      const r = await hints(['--pid', String(child.pid), '--format', 'bitmap', '--out', dir]);
      assert.equal(r.code, 0, r.err);
      const file = readdirSync(dir).find((f) => f === `${block.id}.vtbm`);
      assert.ok(file, `${block.id}.vtbm in ${readdirSync(dir).join(', ')}`);
      const records = decodeBitmaps(readFileSync(join(dir, file)));
      assert.deepEqual(records.map((x) => x.header.state), ['present', 'swapped', 'cold', 'zero']);
      // the zero record: never-touched pages plus present pages that read as zero (all read: exact)
      assert.equal(records[3]!.header.setBitCount, block.pages.untouched + block.pages.zero);
      assert.equal(records[3]!.header.flags & BITMAP_FLAGS.zeroSampled, 0);
      const [present, sw, cold] = records;
      assert.equal(sw!.header.ramBlockId, block.id);
      assert.equal(sw!.header.bitCount, 2048);
      assert.equal(sw!.header.setBitCount, swapped);
      assert.equal(present!.header.setBitCount, 2048 - swapped);
      for (let i = 0; i < 2048; i++) assert.notEqual(present!.bitmap.get(i), sw!.bitmap.get(i), `page ${i} is present xor swapped`);
      const jsonSwappedPages = new Set(block.ranges.filter((x) => x.state === 'swapped').flatMap((x) => Array.from({ length: x.pages }, (_, k) => Number(x.offset) / PAGE + k)));
      for (let i = 0; i < 2048; i++) assert.equal(sw!.bitmap.get(i), jsonSwappedPages.has(i));
      assert.equal(cold!.header.flags & BITMAP_FLAGS.noAccessData, BITMAP_FLAGS.noAccessData, 'no daemon data: the cold record says so');
      assert.equal(cold!.header.setBitCount, 0);
    } finally {
      await child.stop();
    }
  });

  test('hot/cold from the daemon\'s access counts', async () => {
    const child = await startPatternChild('anon', 1024, 1);
    try {
      // First half accessed in all 3 scans, second half never; threshold 2.
      const access = async (pid: number): Promise<AccessData | undefined> => (pid !== child.pid ? undefined : {
        loop: 3, hotThreshold: 2, timeMs: Date.now(), tracker: 'test',
        ranges: [[child.start, 512, PAGE, 3], [child.start + 512 * PAGE, 512, PAGE, 0]],
      });
      const { block } = await blockOf(child, access);
      assert.equal(block.accessData, true);
      assert.equal(block.pages.hot, 512);
      assert.equal(block.pages.cold, 512);
      assert.deepEqual(block.ranges.map((r) => [r.offset, r.pages, r.state, r.temperature]), [['0x0', 512, 'present', 'hot'], ['0x200000', 512, 'present', 'cold']]);
      const dir = join(tmp, 'hot');
      assert.equal((await hints(['--pid', String(child.pid), '--format', 'bitmap', '--out', dir], access)).code, 0);
      const cold = decodeBitmaps(readFileSync(join(dir, `${block.id}.vtbm`))).find((x) => x.header.state === 'cold')!;
      assert.equal(cold.header.flags & BITMAP_FLAGS.noAccessData, 0);
      assert.deepEqual(cold.bitmap.runs(), [[512, 512]]);
    } finally {
      await child.stop();
    }
  });

  test('memfd (shared): swapped pages the page table hides, untouched pages, and pages back in the page cache but unmapped', async () => {
    const child = await startPatternChild('memfd', 2048, 4, 3); // pages with i % 4 < 3 touched
    try {
      await native.processMadvise(child.pid, new Float64Array([child.start, 512 * PAGE]), MADV_PAGEOUT);
      // Read pages 0..15 back through the file (not the mapping): in memory again, not in the child's page table.
      const mapFile = `/proc/${child.pid}/map_files/${child.start.toString(16)}-${(child.start + 2048 * PAGE).toString(16)}`;
      const fd = openSync(mapFile, 'r');
      try {
        readSync(fd, Buffer.alloc(16 * PAGE), 0, 16 * PAGE, 0);
      } finally {
        closeSync(fd);
      }
      const { block } = await blockOf(child);
      assert.equal(block.kind, 'shared');
      assert.equal(block.swap, 'backing-object');
      assert.match(block.id, /^memfd@0x/);
      assert.equal(block.pages.untouched, 512, 'every 4th page was never written: a hole');
      assert.equal(block.pages.swapCache, 12, 'the 12 written pages of 0..15 were read back: resident, not mapped');
      const swapped = block.pages.swapped!;
      assert.ok(swapped >= 350 && swapped <= 384 - 12, `${swapped} of the 372 other written, paged-out pages swapped`);
      assert.equal(block.pages.present, 1536 - 12 - swapped);
      for (const r of block.ranges) {
        const first = Number(r.offset) / PAGE;
        if (r.state === 'untouched') for (let i = first; i < first + r.pages; i++) assert.equal(i % 4, 3);
        if (r.state === 'swapCache') assert.ok(first + r.pages <= 16);
        if (r.state === 'swapped') assert.ok(first + r.pages <= 512);
      }
      const dir = join(tmp, 'memfd');
      assert.equal((await hints(['--pid', String(child.pid), '--format', 'bitmap', '--out', dir])).code, 0);
      const recs = decodeBitmaps(readFileSync(join(dir, `${block.id}.vtbm`)));
      assert.deepEqual(recs.map((x) => x.header.state), ['present', 'swapped', 'cold', 'swapCache', 'zero']);
      for (const x of recs) assert.equal(x.header.flags & BITMAP_FLAGS.shared, BITMAP_FLAGS.shared);
      assert.equal(recs[3]!.header.setBitCount, 12);
    } finally {
      await child.stop();
    }
  });

  test('hugetlb: present 2 MiB pages, and "never swapped" instead of zeros', async (t) => {
    const freeBefore = Number(/HugePages_Free:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0);
    let raised = 0;
    if (freeBefore < 2) {
      const nr = Number(readFileSync('/proc/sys/vm/nr_hugepages', 'utf8'));
      writeFileSync('/proc/sys/vm/nr_hugepages', String(nr + 4));
      raised = 4;
    }
    const child = await startPatternChild('hugetlb', 1536, 512); // three 2 MiB pages, pages 0 and 512 and 1024 touched
    try {
      await native.processMadvise(child.pid, new Float64Array([child.start, 1536 * PAGE]), MADV_PAGEOUT).catch(() => 0); // the kernel ignores hugetlb
      const { block } = await blockOf(child);
      assert.equal(block.kind, 'hugetlb');
      assert.equal(block.swap, 'never (hugetlb)');
      assert.equal(block.pages.present, 1536);
      assert.equal(block.pages.swapped, 0);
      assert.equal(block.presentPagesByNode['0'], 1536);
      const dir = join(tmp, 'huge');
      assert.equal((await hints(['--pid', String(child.pid), '--format', 'bitmap', '--out', dir])).code, 0);
      const recs = decodeBitmaps(readFileSync(join(dir, `${block.id}.vtbm`)));
      assert.equal(recs[0]!.header.mappingPageSizeBytes, 2 * 1024 * 1024);
      assert.equal(recs[0]!.header.flags & BITMAP_FLAGS.hugetlb, BITMAP_FLAGS.hugetlb);
      assert.equal(recs[0]!.header.setBitCount, 1536);
    } finally {
      await child.stop();
      if (raised) {
        const nr = Number(readFileSync('/proc/sys/vm/nr_hugepages', 'utf8'));
        writeFileSync('/proc/sys/vm/nr_hugepages', String(nr - raised));
      }
      t.diagnostic(`free hugepages before: ${freeBefore}`);
    }
  });

  test('bad input names the field', async () => {
    const cases: Array<[string[], RegExp]> = [
      [[], /DOMAIN\|--pid/],
      [['vm1', '--pid', '1'], /both given/],
      [['--pid', 'abc'], /--pid/],
      [['--pid', '999999999'], /--pid/],
      [['--pid', String(process.pid), '--format', 'xml'], /--format/],
      [['--pid', String(process.pid), '--bandwidth', '10'], /only with --estimate/],
      [['--pid', String(process.pid), '--estimate', '--bandwidth', '0'], /--bandwidth/],
      [['--pid', String(process.pid), '--estimate', '--max-iterations', '1.5'], /--max-iterations/],
      [['--pid', String(process.pid), '--estimate', '--bandwidth', '-5'], /--bandwidth/],
      [['--pid', String(process.pid), '--estimate', '--downtime', '0'], /--downtime: .*1\.\.2000000/],
      [['--pid', String(process.pid), '--estimate', '--downtime', '9999999'], /--downtime/],
      [['--pid', String(process.pid), '--estimate', '--zero-fraction', '1.5'], /--zero-fraction/],
      // a sample larger than the guest's present pages
      [['--pid', String(process.pid), '--zero-sample', '999999999'], /--zero-sample: .*sample larger than the guest|--zero-sample.*1\.\./],
      [['--pid', String(process.pid), '--estimate', '--dirty-sample', '999999999'], /--dirty-sample/],
    ];
    for (const [args, re] of cases) {
      const r = await hints(args);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.err, re, args.join(' '));
    }
  });
});
