/**
 * The samplers over an in-memory "guest" (a MemReader over a Buffer the
 * test writes to), so the counts are known: zero pages found exactly when
 * every page is read and within the stated error when sampled; pages
 * written between probes counted once, an A-B-A rewrite included; bad
 * sample sizes refused.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { checkSampleSize, presentPageAddresses, sampleDirtyPages, sampleIndices, sampleZeroPages, type MemReader } from '../../src/migration/measure.js';
import { VirtTierError } from '../../src/errors.js';

const PAGE = 4096;
const BASE = 0x7f0000000000;

function fakeGuest(pages: number): { mem: Buffer; reader: MemReader; present: Float64Array } {
  const mem = Buffer.alloc(pages * PAGE);
  const reader: MemReader = {
    read: (buf, address) => mem.copy(buf, 0, address - BASE, address - BASE + buf.length),
    close: () => undefined,
  };
  const states = new Uint8Array(pages).fill(1);
  return { mem, reader, present: presentPageAddresses([{ start: BASE, states }]) };
}

/** A deterministic generator (xorshift) so sampled figures are reproducible. */
function rng(seed = 12345): () => number {
  let x = seed;
  return () => {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

describe('measured migration inputs', () => {
  test('zero pages: exact when all are read, within 3 standard errors when sampled', () => {
    const { mem, reader, present } = fakeGuest(20000);
    // every third page holds data
    for (let p = 0; p < 20000; p += 3) mem[p * PAGE + 100] = 7;
    const zeros = 20000 - Math.ceil(20000 / 3);
    const all = sampleZeroPages(reader, present, 20000);
    assert.equal(all.zeroPages, zeros);
    assert.equal(all.standardErrorPages, 0);
    assert.equal(all.zeroIndices.length, zeros);
    const s = sampleZeroPages(reader, present, 2000, rng());
    assert.equal(s.sampledPages, 2000);
    assert.ok(s.standardErrorPages > 0);
    assert.ok(Math.abs(s.zeroPages - zeros) <= 3 * s.standardErrorPages, `${s.zeroPages} vs ${zeros} ± ${s.standardErrorPages}`);
  });

  test('sampling picks distinct pages, ascending', () => {
    const idx = sampleIndices(1000, 300, rng(7));
    assert.equal(new Set(idx).size, 300);
    for (let i = 1; i < idx.length; i++) assert.ok(idx[i]! > idx[i - 1]!);
    assert.equal(sampleIndices(10, 50).length, 10);
  });

  test('dirtying: pages written between probes, an A-B-A rewrite counted, others not', async () => {
    const { mem, reader, present } = fakeGuest(1000);
    let clock = 0;
    let probe = 0;
    // the "guest" writes between the probes' reads: pages 0..99 before probe 1, 100..199 flip and flip back
    const sleep = async (ms: number): Promise<void> => {
      clock += ms;
      probe++;
      if (probe === 1) for (let p = 0; p < 100; p++) mem[p * PAGE] = 1;
      if (probe === 2) for (let p = 100; p < 200; p++) mem[p * PAGE] = 9;
      if (probe === 3) for (let p = 100; p < 200; p++) mem[p * PAGE] = 0;
    };
    const d = await sampleDirtyPages(reader, present, 1000, { probesMs: [100, 200, 300, 400], now: () => clock, sleep });
    assert.deepEqual(d.points.map((p) => p.pages), [100, 200, 200, 200]);
    assert.equal(d.workingSetPages, 200, 'the last two points agree: a working set');
    assert.equal(d.ratePagesPerSec, 1000);
  });

  test('a sample larger than the guest is refused with the field and range', () => {
    assert.throws(() => checkSampleSize('--zero-sample', 5000, 4096), (e: unknown) => e instanceof VirtTierError && e.field === '--zero-sample' && /1\.\.4096/.test(String(e.allowed)));
    assert.throws(() => checkSampleSize('--dirty-sample', 0, 4096), (e: unknown) => e instanceof VirtTierError && e.field === '--dirty-sample');
    checkSampleSize('--zero-sample', 4096, 4096);
  });
});
