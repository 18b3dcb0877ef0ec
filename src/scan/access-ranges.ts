/**
 * An AccessMap's ranges, column by column in typed arrays.
 *
 * Why columns: a tracker of fragmented 4 KiB memory emits a range per page
 * or few pages, and every cycle of every guest builds its map afresh. As
 * objects a range is about 80 bytes of heap and one more thing for the
 * young-generation GC to copy while the cycle holds it; here it is 27 bytes
 * in six arrays that grow by doubling (issue 11: bench/scale.ts,
 * bench/tracker-memory.ts). The hot readers (the planner, the scan
 * observer, the per-node page stats) index the columns; everything else
 * reads ranges as objects through `get`, iteration or `toArray`, and JSON
 * writes the object form, so the wire shape is what it always was.
 *
 * Ranges are appended in address order and never change once a later one
 * is added: the objects handed out are copies (readonly in the types, so a
 * write to one is a compile error rather than a lost update).
 */

/** One range of pages of equal temperature, node and state, as an object. */
export interface AccessRange {
  /** first virtual address of the range (page aligned) */
  start: number;
  /** number of pages in the range (all of `pageSizeBytes`); integers, as are accessCount and node (the columns are Int32/Int16) */
  pageCount: number;
  /** 4096, 2097152 or 1073741824 */
  pageSizeBytes: number;
  /**
   * the pages' accesses over the cycle's `loop` scans, on etmem's scale: a
   * scan that saw them written adds 3, read adds 1 (etmemd_scan.c
   * record_parse_result), so 0..loop*3. Only etmem's idle_pages tracker
   * tells writes apart; page_idle and DAMON see an access bit alone and
   * count every accessed scan as a read (0..loop).
   */
  accessCount: number;
  /** NUMA node of the pages, -1 when unknown or mixed/not present */
  node: number;
  /** pages present in memory */
  present: boolean;
  /** pages swapped out (private anonymous memory only; see migration stats for shared) */
  swapped: boolean;
}

const PRESENT = 1;
const SWAPPED = 2;

export class AccessRanges implements Iterable<Readonly<AccessRange>> {
  private n = 0;
  private startCol: Float64Array;
  private pageCountCol: Float64Array;
  private pageSizeCol: Uint32Array;
  private accessCol: Int32Array;
  private nodeCol: Int16Array;
  private flagCol: Uint8Array;

  constructor(capacity = 16) {
    const c = Math.max(1, capacity);
    this.startCol = new Float64Array(c);
    this.pageCountCol = new Float64Array(c);
    this.pageSizeCol = new Uint32Array(c);
    this.accessCol = new Int32Array(c);
    this.nodeCol = new Int16Array(c);
    this.flagCol = new Uint8Array(c);
  }

  /** Ranges copied from objects (tests, recorded maps, a filtered map). */
  static of(ranges: Iterable<Readonly<AccessRange>>): AccessRanges {
    const out = new AccessRanges(Array.isArray(ranges) ? ranges.length : 16);
    for (const r of ranges) out.push(r.start, r.pageCount, r.pageSizeBytes, r.accessCount, r.node, r.present, r.swapped);
    return out;
  }

  get length(): number {
    return this.n;
  }

  /*
   * The columns, valid for indexes below `length` and until the next push
   * (which may replace them with larger arrays): read them into locals
   * after the map is built.
   */
  get starts(): Float64Array { return this.startCol; }
  get pageCounts(): Float64Array { return this.pageCountCol; }
  get pageSizes(): Uint32Array { return this.pageSizeCol; }
  get accessCounts(): Int32Array { return this.accessCol; }
  get nodes(): Int16Array { return this.nodeCol; }
  /** bit 1 present, bit 2 swapped */
  get flags(): Uint8Array { return this.flagCol; }

  isPresent(i: number): boolean {
    return (this.flagCol[i]! & PRESENT) !== 0;
  }

  isSwapped(i: number): boolean {
    return (this.flagCol[i]! & SWAPPED) !== 0;
  }

  /** One more range after the last (the caller keeps address order). */
  push(start: number, pageCount: number, pageSizeBytes: number, accessCount: number, node: number, present: boolean, swapped: boolean): void {
    if (this.n === this.startCol.length) this.grow();
    const i = this.n++;
    this.startCol[i] = start;
    this.pageCountCol[i] = pageCount;
    this.pageSizeCol[i] = pageSizeBytes;
    this.accessCol[i] = accessCount;
    this.nodeCol[i] = node;
    this.flagCol[i] = (present ? PRESENT : 0) | (swapped ? SWAPPED : 0);
  }

  /**
   * One page at `addr`: it lengthens the last range when it starts where
   * that range ends with the same page size, count, node and state, else it
   * is a range of its own. How every tracker turns its per-page results
   * into ranges.
   */
  appendPage(addr: number, pageSizeBytes: number, accessCount: number, node: number, present: boolean, swapped: boolean): void {
    this.appendPages(addr, 1, pageSizeBytes, accessCount, node, present, swapped);
  }

  /** `pageCount` pages at `addr` of one count, node and state, merged as appendPage merges one (damon-paddr's runs). */
  appendPages(addr: number, pageCount: number, pageSizeBytes: number, accessCount: number, node: number, present: boolean, swapped: boolean): void {
    const last = this.n - 1;
    if (
      last >= 0 && this.pageSizeCol[last] === pageSizeBytes && this.startCol[last]! + this.pageCountCol[last]! * pageSizeBytes === addr &&
      this.accessCol[last] === accessCount && this.nodeCol[last] === node && this.flagCol[last] === ((present ? PRESENT : 0) | (swapped ? SWAPPED : 0))
    ) {
      this.pageCountCol[last]! += pageCount;
      return;
    }
    this.push(addr, pageCount, pageSizeBytes, accessCount, node, present, swapped);
  }

  /** Range `i` as an object (a copy). */
  get(i: number): Readonly<AccessRange> {
    if (!(i >= 0 && i < this.n)) throw new RangeError(`range index ${i} is outside 0..${this.n - 1}`);
    const f = this.flagCol[i]!;
    return {
      start: this.startCol[i]!, pageCount: this.pageCountCol[i]!, pageSizeBytes: this.pageSizeCol[i]!, accessCount: this.accessCol[i]!,
      node: this.nodeCol[i]!, present: (f & PRESENT) !== 0, swapped: (f & SWAPPED) !== 0,
    };
  }

  *[Symbol.iterator](): Iterator<Readonly<AccessRange>> {
    for (let i = 0; i < this.n; i++) yield this.get(i);
  }

  toArray(): AccessRange[] {
    const out: AccessRange[] = new Array(this.n);
    for (let i = 0; i < this.n; i++) out[i] = this.get(i);
    return out;
  }

  /** JSON as the array of range objects it always was. */
  toJSON(): AccessRange[] {
    return this.toArray();
  }

  /** A copy with its own columns (structuredClone would drop the class: use this). */
  clone(): AccessRanges {
    const out = new AccessRanges(this.n);
    out.n = this.n;
    out.startCol.set(this.startCol.subarray(0, this.n));
    out.pageCountCol.set(this.pageCountCol.subarray(0, this.n));
    out.pageSizeCol.set(this.pageSizeCol.subarray(0, this.n));
    out.accessCol.set(this.accessCol.subarray(0, this.n));
    out.nodeCol.set(this.nodeCol.subarray(0, this.n));
    out.flagCol.set(this.flagCol.subarray(0, this.n));
    return out;
  }

  /** The ranges `keep` says yes to, in order. */
  filter(keep: (r: Readonly<AccessRange>) => boolean): AccessRanges {
    const out = new AccessRanges(this.n);
    for (let i = 0; i < this.n; i++) {
      const r = this.get(i);
      if (keep(r)) out.push(r.start, r.pageCount, r.pageSizeBytes, r.accessCount, r.node, r.present, r.swapped);
    }
    return out;
  }

  private grow(): void {
    const c = this.startCol.length * 2;
    const widen = <T extends Float64Array | Uint32Array | Int32Array | Int16Array | Uint8Array>(a: T, make: (n: number) => T): T => {
      const b = make(c);
      b.set(a as never);
      return b;
    };
    this.startCol = widen(this.startCol, (k) => new Float64Array(k));
    this.pageCountCol = widen(this.pageCountCol, (k) => new Float64Array(k));
    this.pageSizeCol = widen(this.pageSizeCol, (k) => new Uint32Array(k));
    this.accessCol = widen(this.accessCol, (k) => new Int32Array(k));
    this.nodeCol = widen(this.nodeCol, (k) => new Int16Array(k));
    this.flagCol = widen(this.flagCol, (k) => new Uint8Array(k));
  }
}
