import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { decodeBitmap, decodeBitmaps, encodeBitmap, PageBitmap, BITMAP_FLAGS, type BitmapRecord } from '../../src/migration/bitmap.js';
import { VirtTierError } from '../../src/errors.js';

const rec = (over: Partial<BitmapRecord> = {}): BitmapRecord => {
  const bitmap = PageBitmap.forLength(1024 * 4096 + 100); // 1025 bits (a partial last page counts)
  bitmap.setRange(3, 10);
  bitmap.set(1024);
  return { state: 'swapped', ramBlockId: 'pc.ram', ramBlockLengthBytes: 1024 * 4096 + 100, mappingPageSizeBytes: 4096, snapshotId: 0x1122334455667788n, snapshotTimeMs: 1795000000123, bitmap, ...over };
};

describe('VTBM bitmap', () => {
  test('bit i is byte i/8, LSB first; padded to u64 words', () => {
    const b = new PageBitmap(70);
    b.set(0);
    b.set(9);
    b.set(69);
    assert.equal(b.bytes.length, 16);
    assert.equal(b.bytes[0], 0b0000_0001);
    assert.equal(b.bytes[1], 0b0000_0010);
    assert.equal(b.bytes[8], 0b0010_0000); // bit 69 = byte 8, bit 5
    assert.equal(b.count(), 3);
    assert.deepEqual(b.runs(), [[0, 1], [9, 1], [69, 1]]);
  });

  test('setRange across byte boundaries equals bit-by-bit', () => {
    for (const [first, count] of [[0, 0], [0, 1], [5, 3], [5, 20], [7, 64], [8, 16], [60, 100], [150, 50]] as const) {
      const a = new PageBitmap(200);
      const b = new PageBitmap(200);
      a.setRange(first, count);
      for (let i = first; i < Math.min(200, first + count); i++) b.set(i);
      assert.deepEqual(a.bytes, b.bytes, `setRange(${first}, ${count})`);
    }
  });

  test('header fields at their documented offsets', () => {
    const buf = encodeBitmap(rec({ flags: BITMAP_FLAGS.shared }));
    assert.equal(buf.toString('latin1', 0, 4), 'VTBM');
    assert.equal(buf.readUInt16LE(4), 2);
    const headerLength = buf.readUInt16LE(6);
    assert.equal(headerLength, 72); // 66 + 6 ("pc.ram") = 72, already a multiple of 8
    assert.equal(buf.readUInt16LE(8), 2); // swapped
    assert.equal(buf.readUInt16LE(10), 4); // shared
    assert.equal(buf.readUInt32LE(12), 4096);
    assert.equal(buf.readBigUInt64LE(16), 4096n);
    assert.equal(buf.readBigUInt64LE(24), 1024n * 4096n + 100n);
    assert.equal(buf.readBigUInt64LE(32), 0x1122334455667788n);
    assert.equal(buf.readBigUInt64LE(40), 1795000000123n);
    assert.equal(buf.readBigUInt64LE(48), 1025n);
    assert.equal(buf.readBigUInt64LE(56), 11n);
    assert.equal(buf.readUInt16LE(64), 6);
    assert.equal(buf.toString('utf8', 66, 72), 'pc.ram');
    // 1025 bits -> 17 u64 words = 136 bytes
    assert.equal(buf.length, 72 + 136);
    assert.equal(buf[72], 0b1111_1000); // bits 3..7
    assert.equal(buf[73], 0b0001_1111); // bits 8..12
    assert.equal(buf[72 + 128], 1); // bit 1024
  });

  test('round trip, odd id length pads the header to 8', () => {
    const r = rec({ ramBlockId: 'ram-node10', state: 'cold', flags: BITMAP_FLAGS.hugetlb | BITMAP_FLAGS.noAccessData, mappingPageSizeBytes: 2097152 });
    const buf = encodeBitmap(r);
    const { header, bitmap, nextOffset } = decodeBitmap(buf);
    assert.equal(header.headerLength, 80); // 66 + 10 = 76 -> 80
    assert.equal(nextOffset, buf.length);
    assert.equal(header.ramBlockId, 'ram-node10');
    assert.equal(header.state, 'cold');
    assert.equal(header.flags, 3);
    assert.equal(header.mappingPageSizeBytes, 2097152);
    assert.equal(header.snapshotId, r.snapshotId);
    assert.equal(header.snapshotTimeMs, r.snapshotTimeMs);
    assert.equal(header.bitCount, 1025);
    assert.equal(header.setBitCount, 11);
    assert.deepEqual(bitmap.bytes, r.bitmap.bytes);
    assert.deepEqual(bitmap.runs(), [[3, 10], [1024, 1]]);
  });

  test('concatenated records (one file per RAMBlock, one record per state)', () => {
    const buf = Buffer.concat([encodeBitmap(rec({ state: 'present' })), encodeBitmap(rec({ state: 'swapped' })), encodeBitmap(rec({ state: 'cold' }))]);
    assert.deepEqual(decodeBitmaps(buf).map((r) => r.header.state), ['present', 'swapped', 'cold']);
  });

  test('corrupt or truncated input is refused with the field named', () => {
    const good = encodeBitmap(rec());
    const fieldOf = (buf: Buffer): string | undefined => {
      try { decodeBitmap(buf); } catch (err) { assert.ok(err instanceof VirtTierError); return err.field; }
      assert.fail('accepted');
    };
    const bad = Buffer.from(good); bad.write('XXXX', 0, 'latin1');
    assert.equal(fieldOf(bad), 'vtbm.magic');
    const v3 = Buffer.from(good); v3.writeUInt16LE(3, 4);
    assert.equal(fieldOf(v3), 'vtbm.version', 'a version newer than the reader is refused');
    const v0 = Buffer.from(good); v0.writeUInt16LE(0, 4);
    assert.equal(fieldOf(v0), 'vtbm.version');
    // version 1 (before the zero state) still reads, but cannot carry state 7
    const v1 = Buffer.from(good); v1.writeUInt16LE(1, 4);
    assert.equal(decodeBitmap(v1).header.version, 1);
    const v1zero = Buffer.from(encodeBitmap(rec({ state: 'zero' }))); v1zero.writeUInt16LE(1, 4);
    assert.equal(fieldOf(v1zero), 'vtbm.state');
    const st = Buffer.from(good); st.writeUInt16LE(99, 8);
    assert.equal(fieldOf(st), 'vtbm.state');
    assert.equal(fieldOf(good.subarray(0, good.length - 1)), 'vtbm.length');
    assert.equal(fieldOf(good.subarray(0, 10)), 'vtbm.length');
    const hl = Buffer.from(good); hl.writeUInt16LE(68, 6);
    assert.equal(fieldOf(hl), 'vtbm.headerLength');
  });

  test('the writer checks its input', () => {
    assert.throws(() => encodeBitmap(rec({ ramBlockId: '' })), /ramBlockId/);
    assert.throws(() => encodeBitmap(rec({ ramBlockLengthBytes: 4096 })), /bitmap.bitCount/);
    assert.throws(() => encodeBitmap(rec({ snapshotId: -1n })), /snapshotId/);
  });
});
