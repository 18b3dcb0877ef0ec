import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { decodePagemapEntry, regionsFromPagemap, countPages, PAGE_IS } from '../../src/native/pagemap.js';

const PRESENT = 1n << 63n;
const SWAPPED = 1n << 62n;
const FILE = 1n << 61n;
const EXCLUSIVE = 1n << 56n;
const SOFT_DIRTY = 1n << 55n;

describe('pagemap entry decoding', () => {
  test('present entry: PFN from bits 0-54, flags from 55-63', () => {
    const pfn = 0x12_3456_789an; // above 2^32 to exercise the high word
    const e = decodePagemapEntry(new BigUint64Array([PRESENT | EXCLUSIVE | SOFT_DIRTY | pfn]), 0);
    assert.deepEqual(e, { present: true, swapped: false, fileOrShared: false, exclusive: true, softDirty: true, pfn: Number(pfn) });
  });

  test('swapped entry: swap type bits 0-4, offset bits 5-54', () => {
    const type = 3n;
    const offset = 0x1_0000_0005n;
    const e = decodePagemapEntry(new BigUint64Array([SWAPPED | (offset << 5n) | type]), 0);
    assert.equal(e.swapped, true);
    assert.equal(e.present, false);
    assert.equal(e.swapType, 3);
    assert.equal(e.swapOffset, Number(offset));
  });

  test('file/shared bit', () => {
    assert.equal(decodePagemapEntry(new BigUint64Array([PRESENT | FILE | 7n]), 0).fileOrShared, true);
  });
});

describe('regionsFromPagemap', () => {
  const base = 0x7f00_0000_0000;
  // pages: P P - S S P(file) -
  const entries = new BigUint64Array([PRESENT | 1n, PRESENT | 2n, 0n, SWAPPED | 32n, SWAPPED | 64n, PRESENT | FILE | 9n, 0n]);

  test('merges equal neighbours and reports every page with mask 0', () => {
    const r = regionsFromPagemap(entries, base, { returnMask: PAGE_IS.PRESENT | PAGE_IS.SWAPPED });
    assert.deepEqual([...r], [
      base, base + 2 * 4096, PAGE_IS.PRESENT,
      base + 2 * 4096, base + 3 * 4096, 0,
      base + 3 * 4096, base + 5 * 4096, PAGE_IS.SWAPPED,
      base + 5 * 4096, base + 6 * 4096, PAGE_IS.PRESENT,
      base + 6 * 4096, base + 7 * 4096, 0,
    ]);
    assert.equal(countPages(r, PAGE_IS.PRESENT), 3);
    assert.equal(countPages(r, PAGE_IS.SWAPPED), 2);
  });

  test('categoryAnyOfMask filters like the kernel', () => {
    const r = regionsFromPagemap(entries, base, { categoryAnyOfMask: PAGE_IS.PRESENT | PAGE_IS.SWAPPED, returnMask: PAGE_IS.PRESENT | PAGE_IS.FILE });
    assert.deepEqual([...r], [
      base, base + 2 * 4096, PAGE_IS.PRESENT,
      base + 3 * 4096, base + 5 * 4096, 0,
      base + 5 * 4096, base + 6 * 4096, PAGE_IS.PRESENT | PAGE_IS.FILE,
    ]);
  });

  test('categoryInverted + categoryMask selects pages without a bit', () => {
    const r = regionsFromPagemap(entries, base, { categoryInverted: PAGE_IS.PRESENT, categoryMask: PAGE_IS.PRESENT, returnMask: PAGE_IS.PRESENT });
    assert.deepEqual([...r], [base + 2 * 4096, base + 5 * 4096, 0, base + 6 * 4096, base + 7 * 4096, 0]);
  });
});
