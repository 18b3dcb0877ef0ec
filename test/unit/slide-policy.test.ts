import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { decideSlide, planSlide, isAnonymousPathname, type SlideGates, type SlideInput } from '../../src/engines/slide-policy.js';
import type { AccessMap, AccessMapVma, AccessRange } from '../../src/scan/access-map.js';
import { AccessRanges } from '../../src/scan/access-ranges.js';

const K4 = 4096;
const M2 = 2 * 1024 * 1024;

interface VmaSpec {
  flags?: string[];
  pathname?: string;
  pageSizeBytes?: number;
  /** access count of each page; `null` = swapped out */
  counts: Array<number | null>;
}

/** VMAs laid out 1 GiB apart, each with one range per page. */
function mapOf(specs: VmaSpec[], loop = 3): AccessMap {
  const vmas: AccessMapVma[] = [];
  const ranges: AccessRange[] = [];
  specs.forEach((s, i) => {
    const size = s.pageSizeBytes ?? K4;
    const start = 0x10000000 + i * 0x40000000;
    vmas.push({ start, end: start + s.counts.length * size, vmFlags: s.flags ?? ['rd', 'wr', 'mr', 'mw', 'me', 'ac'], pathname: s.pathname ?? '' });
    s.counts.forEach((c, j) =>
      ranges.push({ start: start + j * size, pageCount: 1, pageSizeBytes: size, accessCount: c ?? 0, node: c === null ? -1 : 0, present: c !== null, swapped: c === null }),
    );
  });
  return { pid: 99, loop, tracker: 'synthetic', timeMs: 0, vmas, ranges: AccessRanges.of(ranges) };
}

const noGates: SlideGates = { freeMemPercent: 50, processRssBytes: 1 << 30 };

function input(map: AccessMap, T: number, gates: Partial<SlideGates> = {}): SlideInput {
  return { accessMap: map, T, loop: map.loop, gates: { ...noGates, ...gates } };
}

const swappedBytes = (plan: ReturnType<typeof planSlide>): number => plan.swapOuts.reduce((n, s) => n + s.lengthBytes, 0);

describe('slide policy: cold pages', () => {
  test('pages with count < T are swapped, coldest first, ties by address', () => {
    const map = mapOf([{ counts: [3, 1, 0, 2, 0, 3] }]);
    const plan = planSlide(input(map, 2));
    const base = map.vmas[0]!.start;
    assert.deepEqual(plan.swapOuts.map((s) => [(s.start - base) / K4, s.lengthBytes, s.accessCount]), [[2, K4, 0], [4, K4, 0], [1, K4, 1]]);
    assert.equal(plan.moves.length, 0);
    assert.equal(plan.pid, 99);
  });

  test('T = 0: nothing is cold', () => {
    assert.equal(planSlide(input(mapOf([{ counts: [0, 0, 0] }]), 0)).swapOuts.length, 0);
  });

  test('swapped-out pages are not swapped again', () => {
    const plan = planSlide(input(mapOf([{ counts: [null, 0, null] }]), 1));
    assert.equal(plan.swapOuts.length, 1);
  });

  test('multi-page ranges are taken whole or cut at a page boundary by a cap', () => {
    const map: AccessMap = {
      pid: 1, loop: 3, tracker: 'synthetic', timeMs: 0,
      vmas: [{ start: 0x1000000, end: 0x1000000 + 16 * K4, vmFlags: ['rd', 'wr'], pathname: '' }],
      ranges: AccessRanges.of([{ start: 0x1000000, pageCount: 16, pageSizeBytes: K4, accessCount: 0, node: 0, present: true, swapped: false }]),
    };
    assert.deepEqual(planSlide(input(map, 1)).swapOuts, [{ start: 0x1000000, lengthBytes: 16 * K4, accessCount: 0 }]);
    const capped = planSlide(input(map, 1, { swapThresholdBytes: 10 * K4, processRssBytes: 15 * K4 + 100 }));
    assert.deepEqual(capped.swapOuts, [{ start: 0x1000000, lengthBytes: 5 * K4, accessCount: 0 }]);
  });
});

describe('slide policy: exclusions', () => {
  const cold = [0, 0];
  test('hugetlb: VMA flag ht', () => {
    assert.equal(planSlide(input(mapOf([{ flags: ['rd', 'wr', 'ht'], counts: cold }]), 1)).swapOuts.length, 0);
  });
  test('hugetlb or THP: page size above 4 KiB', () => {
    assert.equal(planSlide(input(mapOf([{ pageSizeBytes: M2, counts: cold }]), 1)).swapOuts.length, 0);
  });
  test('shared: VMA flag sh', () => {
    assert.equal(planSlide(input(mapOf([{ flags: ['rd', 'wr', 'sh', 'mr', 'mw', 'ms'], counts: cold }]), 1)).swapOuts.length, 0);
  });
  test('non-anonymous: file-backed VMA', () => {
    assert.equal(planSlide(input(mapOf([{ pathname: '/usr/lib/libc.so.6', counts: cold }]), 1)).swapOuts.length, 0);
    assert.equal(planSlide(input(mapOf([{ pathname: '/memfd:guest (deleted)', counts: cold }]), 1)).swapOuts.length, 0);
    assert.equal(planSlide(input(mapOf([{ pathname: '[vdso]', counts: cold }]), 1)).swapOuts.length, 0);
  });
  test('locked: VMA flag lo', () => {
    assert.equal(planSlide(input(mapOf([{ flags: ['rd', 'wr', 'lo'], counts: cold }]), 1)).swapOuts.length, 0);
  });
  test('VM_IO / VM_PFNMAP', () => {
    assert.equal(planSlide(input(mapOf([{ flags: ['rd', 'wr', 'io', 'pf'], counts: cold }]), 1)).swapOuts.length, 0);
  });
  test('heap, stack and named anonymous memory are anonymous; ranges outside any VMA are left alone', () => {
    for (const p of ['', '[heap]', '[stack]', '[anon:guest-ram]']) assert.ok(isAnonymousPathname(p), p);
    const map = mapOf([{ pathname: '[heap]', counts: cold }, { flags: ['rd', 'wr', 'ht'], counts: cold }, { counts: cold }]);
    map.vmas.splice(2, 1); // the third VMA's ranges now have no VMA
    const plan = planSlide(input(map, 1));
    assert.equal(plan.swapOuts.length, 2);
    assert.ok(plan.swapOuts.every((s) => s.start < map.vmas[0]!.end));
  });
});

describe('slide policy: gates', () => {
  const map = mapOf([{ counts: [0, 0, 0, 0, 1, 1, 2, 3] }]);
  test('sysmem_threshold: swap only while free memory % is below it', () => {
    assert.equal(swappedBytes(planSlide(input(map, 2, { sysmemThreshold: 30, freeMemPercent: 29.9 }))), 6 * K4);
    const blocked = decideSlide(input(map, 2, { sysmemThreshold: 30, freeMemPercent: 30 }));
    assert.equal(blocked.plan.swapOuts.length, 0);
    assert.equal(blocked.limitedBy, 'sysmem_threshold');
    assert.equal(swappedBytes(planSlide(input(map, 2, { sysmemThreshold: 0, freeMemPercent: 0 }))), 0, 'threshold 0: never');
  });

  test('swap_threshold: only while RSS is above it, and not below it', () => {
    assert.equal(swappedBytes(planSlide(input(map, 2, { swapThresholdBytes: 1 << 20, processRssBytes: (1 << 20) - 1 }))), 0);
    assert.equal(swappedBytes(planSlide(input(map, 2, { swapThresholdBytes: 1 << 20, processRssBytes: 1 << 20 }))), 0);
    const capped = decideSlide(input(map, 2, { swapThresholdBytes: 1 << 20, processRssBytes: (1 << 20) + 3 * K4 }));
    assert.equal(swappedBytes(capped.plan), 3 * K4);
    assert.equal(capped.limitedBy, 'swap_threshold');
    assert.ok(capped.plan.swapOuts.every((s) => s.accessCount === 0), 'the coldest go first');
    assert.equal(swappedBytes(planSlide(input(map, 2, { swapThresholdBytes: 1 << 20, processRssBytes: 1 << 30 }))), 6 * K4);
  });

  test('dram_percent: coldest first until the DRAM share is down to the percentage', () => {
    // 8 resident pages, 2 swapped: 10 pages in all; 50% -> keep 5 resident, swap 3.
    const m = mapOf([{ counts: [0, 1, 0, 1, 0, 2, 2, 3, null, null] }]);
    const d = decideSlide(input(m, 3, { dramPercent: 50 }));
    assert.equal(swappedBytes(d.plan), 3 * K4);
    assert.deepEqual(d.plan.swapOuts.map((s) => s.accessCount), [0, 0, 0]);
    assert.equal(d.limitedBy, 'dram_percent');
    // Already at or below the share: nothing.
    assert.equal(swappedBytes(planSlide(input(m, 3, { dramPercent: 80 }))), 0);
    // 100%: keep everything resident.
    assert.equal(swappedBytes(planSlide(input(m, 3, { dramPercent: 100 }))), 0);
    // A low share swaps only cold pages, never hot ones.
    assert.equal(swappedBytes(planSlide(input(m, 2, { dramPercent: 1 }))), 5 * K4);
  });

  test('the tightest gate wins', () => {
    const d = decideSlide(input(map, 2, { swapThresholdBytes: 0, processRssBytes: 5 * K4, dramPercent: 90 }));
    // dram_percent 90: 8 resident of 8 pages, one page out brings the share to 87.5%; swap_threshold allows 5.
    assert.equal(swappedBytes(d.plan), 1 * K4);
    assert.equal(d.limitedBy, 'dram_percent');
  });

  test('swap_flag is accepted and changes nothing', () => {
    assert.deepEqual(planSlide(input(map, 2, { swapFlag: true })), planSlide(input(map, 2)));
  });
});
