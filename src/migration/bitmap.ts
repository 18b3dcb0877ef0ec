/**
 * The per-RAMBlock page bitmap a migration tool reads without JSON
 * ("VTBM", documented byte for byte in docs/migration-hints.md).
 *
 * One record = a fixed little-endian header + one bit per target page
 * (4 KiB) from the RAMBlock's start: bit i lives in byte i/8, bit i%8
 * (LSB first). That is also bit i%64 of little-endian u64 word i/64, the
 * layout of QEMU's own `unsigned long` dirty bitmaps on x86_64, so a C
 * reader can test bits with the same helpers. The bitmap is padded to
 * whole u64 words with zero bits. Records concatenate: a file holds one
 * record per state (present, swapped, cold, zero) of one RAMBlock.
 *
 *   off size field
 *    0   4  magic "VTBM"
 *    4   2  version (2; 1 had no zero state)
 *    6   2  header length in bytes (multiple of 8; the bitmap starts here)
 *    8   2  state: 1 present, 2 swapped, 3 cold, 4 hot, 5 untouched, 6 swap-cache,
 *               7 zero (reads as zero: never touched, or present and all zero bytes)
 *   10   2  flags: bit0 hugetlb (never swapped), bit1 no access data (cold/hot unknown),
 *               bit2 shared mapping (swap found through the backing object),
 *               bit3 zero sampled (zero record: only a sample of present pages was read)
 *   12   4  target page size (4096)
 *   16   8  page size of the mapping (4096, 2097152, ...)
 *   24   8  RAMBlock length in bytes
 *   32   8  snapshot id
 *   40   8  snapshot time, ms since the epoch
 *   48   8  bit count (= ceil(RAMBlock length / target page size))
 *   56   8  set bits (pages in this state)
 *   64   2  RAMBlock id length n
 *   66   n  RAMBlock id, UTF-8 (QEMU's idstr, e.g. "pc.ram")
 *   ..      zero padding to the header length
 */
import { invalidField, VirtTierError } from '../errors.js';

export const VTBM_MAGIC = 'VTBM';
/** 2: adds the zero state (7) and the zeroSampled flag; a version-1 reader stops at the version field. */
export const VTBM_VERSION = 2;
export const VTBM_TARGET_PAGE_SIZE = 4096;
/** Offset of the id length; the fixed part of the header ends at 66. */
const FIXED_HEADER_BYTES = 66;
/** QEMU's RAMBlock idstr is char[256]. */
const MAX_ID_BYTES = 256;

export const BITMAP_STATES = { present: 1, swapped: 2, cold: 3, hot: 4, untouched: 5, swapCache: 6, zero: 7 } as const;
export type BitmapState = keyof typeof BITMAP_STATES;

export const BITMAP_FLAGS = { hugetlb: 1, noAccessData: 2, shared: 4, zeroSampled: 8 } as const;

export interface BitmapHeader {
  version: number;
  headerLength: number;
  state: BitmapState;
  flags: number;
  targetPageSizeBytes: number;
  mappingPageSizeBytes: number;
  ramBlockId: string;
  ramBlockLengthBytes: number;
  snapshotId: bigint;
  snapshotTimeMs: number;
  bitCount: number;
  setBitCount: number;
}

/** One bit per target page of a RAMBlock. */
export class PageBitmap {
  readonly bytes: Uint8Array;

  constructor(readonly bitCount: number) {
    if (!Number.isInteger(bitCount) || bitCount < 0) throw invalidField('bitCount', bitCount, 'an integer >= 0');
    this.bytes = new Uint8Array(Math.ceil(bitCount / 64) * 8);
  }

  static forLength(ramBlockLengthBytes: number, pageSizeBytes = VTBM_TARGET_PAGE_SIZE): PageBitmap {
    return new PageBitmap(Math.ceil(ramBlockLengthBytes / pageSizeBytes));
  }

  get(i: number): boolean {
    return i >= 0 && i < this.bitCount && (this.bytes[i >> 3]! & (1 << (i & 7))) !== 0;
  }

  set(i: number): void {
    if (i < 0 || i >= this.bitCount) throw new RangeError(`bit ${i} outside 0..${this.bitCount - 1}`);
    this.bytes[i >> 3]! |= 1 << (i & 7);
  }

  /** Sets bits [first, first+count), clipped to the bitmap; whole bytes at a time in the middle. */
  setRange(first: number, count: number): void {
    let i = Math.max(0, first);
    const end = Math.min(this.bitCount, first + count);
    while (i < end && (i & 7) !== 0) this.bytes[i >> 3]! |= 1 << (i++ & 7);
    if (end - i >= 8) {
      const byteEnd = end >> 3;
      this.bytes.fill(0xff, i >> 3, byteEnd);
      i = byteEnd << 3;
    }
    while (i < end) this.bytes[i >> 3]! |= 1 << (i++ & 7);
  }

  /** Number of set bits (32 bits at a time, SWAR popcount). */
  count(): number {
    const words = new Uint32Array(this.bytes.buffer, this.bytes.byteOffset, this.bytes.length >> 2);
    let n = 0;
    for (let i = 0; i < words.length; i++) {
      let v = words[i]!;
      if (v === 0) continue;
      v = v - ((v >>> 1) & 0x55555555);
      v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
      n += (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24);
    }
    return n;
  }

  /** Runs of set bits as [first, count] pairs. */
  runs(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    let start = -1;
    for (let i = 0; i < this.bitCount; i++) {
      if ((i & 7) === 0 && start < 0 && this.bytes[i >> 3] === 0) {
        i += 7;
        continue;
      }
      const on = this.get(i);
      if (on && start < 0) start = i;
      else if (!on && start >= 0) {
        out.push([start, i - start]);
        start = -1;
      }
    }
    if (start >= 0) out.push([start, this.bitCount - start]);
    return out;
  }
}

export interface BitmapRecord {
  state: BitmapState;
  flags?: number;
  ramBlockId: string;
  ramBlockLengthBytes: number;
  mappingPageSizeBytes: number;
  snapshotId: bigint;
  snapshotTimeMs: number;
  bitmap: PageBitmap;
}

const align8 = (n: number): number => (n + 7) & ~7;

function checkU64(field: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw invalidField(field, value, 'an integer 0..2^53-1');
}

/** Encodes one record (header + bitmap). */
export function encodeBitmap(rec: BitmapRecord): Buffer {
  const id = Buffer.from(rec.ramBlockId, 'utf8');
  if (id.length === 0 || id.length > MAX_ID_BYTES) throw invalidField('ramBlockId', rec.ramBlockId, `1..${MAX_ID_BYTES} bytes of UTF-8`);
  checkU64('ramBlockLengthBytes', rec.ramBlockLengthBytes);
  checkU64('mappingPageSizeBytes', rec.mappingPageSizeBytes);
  checkU64('snapshotTimeMs', rec.snapshotTimeMs);
  if (rec.snapshotId < 0n || rec.snapshotId >= 1n << 64n) throw invalidField('snapshotId', rec.snapshotId, '0..2^64-1');
  const expectedBits = Math.ceil(rec.ramBlockLengthBytes / VTBM_TARGET_PAGE_SIZE);
  if (rec.bitmap.bitCount !== expectedBits) throw invalidField('bitmap.bitCount', rec.bitmap.bitCount, `${expectedBits} (RAMBlock length / ${VTBM_TARGET_PAGE_SIZE})`);
  const headerLength = align8(FIXED_HEADER_BYTES + id.length);
  const out = Buffer.alloc(headerLength + rec.bitmap.bytes.length);
  out.write(VTBM_MAGIC, 0, 'latin1');
  out.writeUInt16LE(VTBM_VERSION, 4);
  out.writeUInt16LE(headerLength, 6);
  out.writeUInt16LE(BITMAP_STATES[rec.state], 8);
  out.writeUInt16LE(rec.flags ?? 0, 10);
  out.writeUInt32LE(VTBM_TARGET_PAGE_SIZE, 12);
  out.writeBigUInt64LE(BigInt(rec.mappingPageSizeBytes), 16);
  out.writeBigUInt64LE(BigInt(rec.ramBlockLengthBytes), 24);
  out.writeBigUInt64LE(rec.snapshotId, 32);
  out.writeBigUInt64LE(BigInt(rec.snapshotTimeMs), 40);
  out.writeBigUInt64LE(BigInt(rec.bitmap.bitCount), 48);
  out.writeBigUInt64LE(BigInt(rec.bitmap.count()), 56);
  out.writeUInt16LE(id.length, 64);
  id.copy(out, FIXED_HEADER_BYTES);
  out.set(rec.bitmap.bytes, headerLength);
  return out;
}

function corrupt(what: string, value: unknown, allowed: string): VirtTierError {
  return invalidField(`vtbm.${what}`, value, allowed, 'bad bitmap record');
}

const stateNames = new Map<number, BitmapState>(Object.entries(BITMAP_STATES).map(([k, v]) => [v, k as BitmapState]));

/** Decodes the record at `offset`; `nextOffset` is where the next one starts. */
export function decodeBitmap(buf: Buffer, offset = 0): { header: BitmapHeader; bitmap: PageBitmap; nextOffset: number } {
  if (buf.length - offset < FIXED_HEADER_BYTES) throw corrupt('length', buf.length - offset, `>= ${FIXED_HEADER_BYTES} bytes`);
  const magic = buf.toString('latin1', offset, offset + 4);
  if (magic !== VTBM_MAGIC) throw corrupt('magic', magic, VTBM_MAGIC);
  const version = buf.readUInt16LE(offset + 4);
  // version 1 files (no zero state) still read; anything newer than this reader is refused
  if (version < 1 || version > VTBM_VERSION) throw corrupt('version', version, `1..${VTBM_VERSION}`);
  const headerLength = buf.readUInt16LE(offset + 6);
  const stateCode = buf.readUInt16LE(offset + 8);
  const state = stateNames.get(stateCode);
  if (!state || (version === 1 && state === 'zero')) throw corrupt('state', stateCode, [...stateNames.keys()].filter((k) => version > 1 || k !== BITMAP_STATES.zero).join('|'));
  const idLength = buf.readUInt16LE(offset + 64);
  if (idLength === 0 || idLength > MAX_ID_BYTES || headerLength < FIXED_HEADER_BYTES + idLength || headerLength % 8 !== 0) {
    throw corrupt('headerLength', headerLength, `a multiple of 8 >= ${FIXED_HEADER_BYTES} + id length (${idLength})`);
  }
  const u64 = (at: number, field: string): number => {
    const v = buf.readBigUInt64LE(offset + at);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(field, v, '<= 2^53-1');
    return Number(v);
  };
  const bitCount = u64(48, 'bitCount');
  const dataBytes = Math.ceil(bitCount / 64) * 8;
  if (buf.length - offset < headerLength + dataBytes) throw corrupt('length', buf.length - offset, `>= ${headerLength + dataBytes} bytes (header + bitmap)`);
  const header: BitmapHeader = {
    version,
    headerLength,
    state,
    flags: buf.readUInt16LE(offset + 10),
    targetPageSizeBytes: buf.readUInt32LE(offset + 12),
    mappingPageSizeBytes: u64(16, 'mappingPageSize'),
    ramBlockLengthBytes: u64(24, 'ramBlockLength'),
    snapshotId: buf.readBigUInt64LE(offset + 32),
    snapshotTimeMs: u64(40, 'snapshotTime'),
    bitCount,
    setBitCount: u64(56, 'setBitCount'),
    ramBlockId: buf.toString('utf8', offset + FIXED_HEADER_BYTES, offset + FIXED_HEADER_BYTES + idLength),
  };
  const bitmap = new PageBitmap(bitCount);
  bitmap.bytes.set(buf.subarray(offset + headerLength, offset + headerLength + dataBytes));
  return { header, bitmap, nextOffset: offset + headerLength + dataBytes };
}

/** Every record of a file of concatenated records. */
export function decodeBitmaps(buf: Buffer): Array<{ header: BitmapHeader; bitmap: PageBitmap }> {
  const out: Array<{ header: BitmapHeader; bitmap: PageBitmap }> = [];
  for (let off = 0; off < buf.length; ) {
    const r = decodeBitmap(buf, off);
    out.push({ header: r.header, bitmap: r.bitmap });
    off = r.nextOffset;
  }
  return out;
}
