/**
 * The cslide planner's chunks as columns (struct of arrays): one row per run
 * of pages of equal count and size on one node of one guest, and lists of
 * chunks as Int32Arrays of row ids. At host scale one object per range (and
 * per filter and sort) was most of a plan's CPU and garbage (issue 11,
 * bench/scale.ts); rows in reused typed arrays cost neither.
 *
 * The orders here are exactly those of the object version they replace:
 * hottest (or coldest) first, ties by guest then address, stable, with the
 * same comparator fallbacks for counts a counting sort cannot take.
 */

/** Rows are appended during one plan; `reset` drops them all and keeps the memory. */
export class ChunkRows {
  guest = new Int32Array(1024);
  pid = new Float64Array(1024);
  start = new Float64Array(1024);
  pageCount = new Float64Array(1024);
  pageSizeBytes = new Float64Array(1024);
  accessCount = new Float64Array(1024);
  length = 0;

  reset(): void {
    this.length = 0;
  }

  /** Appends a row; its id. */
  add(guest: number, pid: number, start: number, pageCount: number, pageSizeBytes: number, accessCount: number): number {
    const id = this.length;
    if (id === this.guest.length) this.grow();
    this.guest[id] = guest;
    this.pid[id] = pid;
    this.start[id] = start;
    this.pageCount[id] = pageCount;
    this.pageSizeBytes[id] = pageSizeBytes;
    this.accessCount[id] = accessCount;
    this.length = id + 1;
    return id;
  }

  /** A copy of row `id` with another start and page count; its id. */
  derive(id: number, start: number, pageCount: number): number {
    return this.add(this.guest[id]!, this.pid[id]!, start, pageCount, this.pageSizeBytes[id]!, this.accessCount[id]!);
  }

  bytes(id: number): number {
    return this.pageCount[id]! * this.pageSizeBytes[id]!;
  }

  private grow(): void {
    const n = this.guest.length * 2;
    const more = <T extends Int32Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.guest = more(this.guest, (k) => new Int32Array(k));
    this.pid = more(this.pid, (k) => new Float64Array(k));
    this.start = more(this.start, (k) => new Float64Array(k));
    this.pageCount = more(this.pageCount, (k) => new Float64Array(k));
    this.pageSizeBytes = more(this.pageSizeBytes, (k) => new Float64Array(k));
    this.accessCount = more(this.accessCount, (k) => new Float64Array(k));
  }
}

/** A growable list of row ids. */
export class RowList {
  private ids = new Int32Array(256);
  length = 0;

  push(id: number): void {
    if (this.length === this.ids.length) {
      const b = new Int32Array(this.ids.length * 2);
      b.set(this.ids);
      this.ids = b;
    }
    this.ids[this.length++] = id;
  }

  /** The ids so far (a view: valid until the next push). */
  view(): Int32Array {
    return this.ids.subarray(0, this.length);
  }
}

export const NO_ROWS = new Int32Array(0);

export type RowOrder = (a: number, b: number) => number;

export const byPlace = (t: ChunkRows): RowOrder => (a, b) => t.guest[a]! - t.guest[b]! || t.start[a]! - t.start[b]!;
export const hottestFirst = (t: ChunkRows): RowOrder => {
  const place = byPlace(t);
  return (a, b) => t.accessCount[b]! - t.accessCount[a]! || place(a, b);
};
export const coldestFirst = (t: ChunkRows): RowOrder => {
  const place = byPlace(t);
  return (a, b) => t.accessCount[a]! - t.accessCount[b]! || place(a, b);
};

/** `rows` sorted by a comparator (Array#sort: stable, the same steps as on the objects it replaced). */
export function sortRows(rows: Int32Array, order: RowOrder): Int32Array {
  return Int32Array.from(Array.from(rows).sort(order));
}

/**
 * `rows` hottest (or coldest) first, ties by guest then address: one pass
 * that checks the list is already in place order (the builder emits rows by
 * guest and address, so the stable place sort is only a fallback) and a
 * counting sort over the integer counts 0..loop; counts that are not small
 * integers take the comparator sort.
 */
export function byCount(t: ChunkRows, rows: Int32Array, order: 'hottest' | 'coldest'): Int32Array {
  const n = rows.length;
  const count = t.accessCount;
  const place = byPlace(t);
  let max = 0;
  let placed = true;
  for (let i = 0; i < n; i++) {
    const c = count[rows[i]!]!;
    if (!Number.isInteger(c) || c < 0 || c > 1_000_000) return sortRows(rows, order === 'hottest' ? hottestFirst(t) : coldestFirst(t));
    if (c > max) max = c;
    if (placed && i > 0 && place(rows[i - 1]!, rows[i]!) > 0) placed = false;
  }
  const inPlace = placed ? rows : sortRows(rows, place);
  const hottest = order === 'hottest';
  const next = new Int32Array(max + 2);
  for (let i = 0; i < n; i++) next[(hottest ? max - count[inPlace[i]!]! : count[inPlace[i]!]!) + 1]!++;
  for (let k = 1; k < next.length; k++) next[k]! += next[k - 1]!;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const id = inPlace[i]!;
    out[next[hottest ? max - count[id]! : count[id]!]!++] = id;
  }
  return out;
}

/** The rows whose count is hot (>= threshold) or, with `hot` false, cold (< threshold), in their order. */
export function whereCount(t: ChunkRows, rows: Int32Array, threshold: number, hot: boolean): Int32Array {
  const out = new Int32Array(rows.length);
  let n = 0;
  for (let i = 0; i < rows.length; i++) {
    const id = rows[i]!;
    // NaN counts are in neither list, as with the filters this replaces.
    if (hot ? t.accessCount[id]! >= threshold : t.accessCount[id]! < threshold) out[n++] = id;
  }
  return out.subarray(0, n);
}

/** Bytes of the rows, summed in list order. */
export function sumBytes(t: ChunkRows, rows: Int32Array): number {
  let n = 0;
  for (let i = 0; i < rows.length; i++) n += t.bytes(rows[i]!);
  return n;
}

/** Adds each row's bytes to its guest's entry of `out` (guests in first-seen order), rows with a count below `minCount` left out. */
export function addBytesByGuest(t: ChunkRows, rows: Int32Array, out: Map<number, number>, minCount?: number): Map<number, number> {
  for (let i = 0; i < rows.length; i++) {
    const id = rows[i]!;
    if (minCount !== undefined && !(t.accessCount[id]! >= minCount)) continue;
    const g = t.guest[id]!;
    out.set(g, (out.get(g) ?? 0) + t.bytes(id));
  }
  return out;
}
