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

/**
 * How long the planner keeps memory it no longer uses: a table (the chunk
 * rows, the sorted lists' scratch, a node's count bucket) counts its use
 * in windows of this many plans, and one whose window stayed under a
 * quarter of its size goes back to twice that window's peak. A host whose
 * tracked memory falls (guests stop, shrink, migrate away) gets the
 * planner's memory back within two windows (the one under way may have
 * begun with the larger plans): at most 32 plans, about as many seconds
 * at loop=1 interval=1 (1 TiB in 2 MiB ranges: 23.4 MB -> 98 KB). One
 * whose guests stay as they are never reallocates.
 */
export const SHRINK_WINDOW_PLANS = 16;

/** One table's peak use over the current window of plans. */
class PeakWindow {
  private peak = 0;
  private plans = 0;

  /** Records one plan's use; the size to reallocate to when the window closes below a quarter of `capacity`, else 0. */
  record(used: number, capacity: number, min: number): number {
    if (used > this.peak) this.peak = used;
    if (++this.plans < SHRINK_WINDOW_PLANS) return 0;
    const peak = this.peak;
    this.peak = 0;
    this.plans = 0;
    const target = Math.max(min, 2 * peak);
    return capacity >= 4 * Math.max(1, peak) && target < capacity ? target : 0;
  }
}

const MIN_ROWS = 1024;
const MIN_SCRATCH_IDS = 4096;
const MIN_LIST_IDS = 256;
/** per-count slots a node starts with: counts 0..loop (etmem's idle_pages: 0..3 loop) */
const MIN_COUNTS = 32;

/** Rows are appended during one plan; `reset` drops them all and keeps the memory (unless SHRINK_WINDOW_PLANS plans used far less of it). */
export class ChunkRows {
  guest = new Int32Array(1024);
  /** each guest's pid, by guest index (set per plan): a row's pid is pidOfGuest[guest[row]], not a column of its own */
  pidOfGuest: number[] = [];
  start = new Float64Array(1024);
  pageCount = new Float64Array(1024);
  pageSizeBytes = new Float64Array(1024);
  accessCount = new Float64Array(1024);
  length = 0;

  private readonly rowWindow = new PeakWindow();
  private readonly scratchWindow = new PeakWindow();

  reset(): void {
    const rows = this.rowWindow.record(this.length, this.guest.length, MIN_ROWS);
    if (rows > 0) this.allocate(rows);
    const ids = this.scratchWindow.record(this.scratchPlanIds, this.scratchIds.length, MIN_SCRATCH_IDS);
    if (ids > 0) this.scratchIds = new Int32Array(ids);
    this.length = 0;
    this.scratchUsed = 0;
    this.scratchPlanIds = 0;
  }

  /** Bytes of the columns and the scratch (what the table holds between plans). */
  capacityBytes(): number {
    return this.guest.length * (4 + 4 * 8) + this.scratchIds.length * 4;
  }

  private scratchIds = new Int32Array(MIN_SCRATCH_IDS);
  private scratchUsed = 0;
  /** ids handed out since the last reset (scratchUsed restarts with each new buffer) */
  private scratchPlanIds = 0;

  /**
   * Room for `n` row ids, valid until the next reset: the sorted lists of a
   * plan, carved from one buffer reused from plan to plan (a new buffer when
   * it is full; lists already handed out keep the old one).
   */
  scratch(n: number): Int32Array {
    if (this.scratchUsed + n > this.scratchIds.length) {
      this.scratchIds = new Int32Array(Math.max(n, this.scratchIds.length * 2));
      this.scratchUsed = 0;
    }
    const out = this.scratchIds.subarray(this.scratchUsed, this.scratchUsed + n);
    this.scratchUsed += n;
    this.scratchPlanIds += n;
    return out;
  }

  /** Appends a row; its id. */
  add(guest: number, start: number, pageCount: number, pageSizeBytes: number, accessCount: number): number {
    const id = this.length;
    if (id === this.guest.length) this.grow();
    this.guest[id] = guest;
    this.start[id] = start;
    this.pageCount[id] = pageCount;
    this.pageSizeBytes[id] = pageSizeBytes;
    this.accessCount[id] = accessCount;
    this.length = id + 1;
    return id;
  }

  /** A copy of row `id` with another start and page count; its id. */
  derive(id: number, start: number, pageCount: number): number {
    return this.add(this.guest[id]!, start, pageCount, this.pageSizeBytes[id]!, this.accessCount[id]!);
  }

  bytes(id: number): number {
    return this.pageCount[id]! * this.pageSizeBytes[id]!;
  }

  /** Empty columns of `n` rows (the rows are gone: reset drops them). */
  private allocate(n: number): void {
    this.guest = new Int32Array(n);
    this.start = new Float64Array(n);
    this.pageCount = new Float64Array(n);
    this.pageSizeBytes = new Float64Array(n);
    this.accessCount = new Float64Array(n);
  }

  private grow(): void {
    const n = this.guest.length * 2;
    const more = <T extends Int32Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.guest = more(this.guest, (k) => new Int32Array(k));
    this.start = more(this.start, (k) => new Float64Array(k));
    this.pageCount = more(this.pageCount, (k) => new Float64Array(k));
    this.pageSizeBytes = more(this.pageSizeBytes, (k) => new Float64Array(k));
    this.accessCount = more(this.accessCount, (k) => new Float64Array(k));
  }
}

/** A growable list of row ids. */
export class RowList {
  private ids = new Int32Array(MIN_LIST_IDS);
  length = 0;
  private window?: PeakWindow;

  /** Empties it for the next plan, keeping its memory unless SHRINK_WINDOW_PLANS plans used far less of it. */
  clear(): void {
    const n = (this.window ??= new PeakWindow()).record(this.length, this.ids.length, MIN_LIST_IDS);
    if (n > 0) this.ids = new Int32Array(n);
    this.length = 0;
  }

  capacityBytes(): number {
    return this.ids.length * 4;
  }

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
  const max = countableMax(t, rows);
  if (max < 0) return sortRows(rows, order === 'hottest' ? hottestFirst(t) : coldestFirst(t));
  return countingSort(t, isPlaced(t, rows) ? rows : sortRows(rows, byPlace(t)), max, order === 'hottest');
}

/** The largest count of `rows` when every count is an integer in 0..1e6 (the counting sort's range), else -1. */
function countableMax(t: ChunkRows, rows: Int32Array): number {
  const count = t.accessCount;
  let max = 0;
  for (let i = 0; i < rows.length; i++) {
    const c = count[rows[i]!]!;
    if (!Number.isInteger(c) || c < 0 || c > 1_000_000) return -1;
    if (c > max) max = c;
  }
  return max;
}

/** Whether `rows` are in place order (byPlace, inlined: this runs over every row of a plan). */
function isPlaced(t: ChunkRows, rows: Int32Array): boolean {
  const guest = t.guest;
  const start = t.start;
  for (let i = 1; i < rows.length; i++) {
    const a = rows[i - 1]!;
    const b = rows[i]!;
    if ((guest[a]! - guest[b]! || start[a]! - start[b]!) > 0) return false;
  }
  return true;
}

/** A stable counting sort of `rows` by count, largest first when `hottest`, into the plan's scratch. */
function countingSort(t: ChunkRows, rows: Int32Array, max: number, hottest: boolean): Int32Array {
  const count = t.accessCount;
  const n = rows.length;
  const next = new Int32Array(max + 2);
  if (hottest) for (let i = 0; i < n; i++) next[max - count[rows[i]!]! + 1]!++;
  else for (let i = 0; i < n; i++) next[count[rows[i]!]! + 1]!++;
  for (let k = 1; k < next.length; k++) next[k]! += next[k - 1]!;
  const out = t.scratch(n);
  if (hottest) {
    for (let i = 0; i < n; i++) {
      const id = rows[i]!;
      out[next[max - count[id]!]!++] = id;
    }
  } else {
    for (let i = 0; i < n; i++) {
      const id = rows[i]!;
      out[next[count[id]!]!++] = id;
    }
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

/**
 * Thrown by a plan that kept only a prefix of some count bucket (a bound
 * plan: `NodeRows.offer` with a finite `keepBytes`) when a step needs rows
 * past it: planHostCslide catches it and plans again with every row. The
 * bound is chosen so that this does not happen (test/unit/cslide-bound.test.ts
 * counts it); being caught, it never changes a plan.
 */
export class NeedAllRows extends Error {
  constructor(what: string) {
    super(`cslide planner: ${what} needs every row (a bound plan is planned again in full)`);
    this.name = 'NeedAllRows';
  }
}

/**
 * One node's rows of one pool, kept by count as they are added: a count
 * order (hottest or coldest first, ties by guest then address) is then
 * the buckets one after another, each in the order its rows came, which
 * is place order when the rows came in it (the planner adds each guest's
 * ranges in address order, guests in turn). That is exactly what the
 * stable counting sort over place-ordered rows it replaces gave, without
 * the sort's passes over every row (issue 11: at 1 TiB in 2 MiB pages the
 * sorts, filters and fact passes were half of a plan). Rows that came out
 * of place order get each bucket sorted by place (stable, so equal places
 * keep their arrival order, as the sort before did); counts that are not
 * integers in 0..1e6 send every order to the comparator sort.
 *
 * Bound plans (`offer` with a finite `keepBytes`): every range counts in
 * its bucket's sums, but a bucket keeps rows only while what it kept is
 * under `keepBytes`, and then `keepRows` more. The steps take at most the
 * quota from a list and walk it in order, so with the quota as `keepBytes`
 * the prefix holds every row they read (issue 11: at 1 TiB in 2 MiB pages
 * a plan had made a row of each of 524K ranges to move 1 GiB). A list cut
 * there is `partial`; a step that runs off its end throws NeedAllRows.
 */
export class NodeRows {
  /** row ids by count (countable counts only), each in arrival order */
  private readonly buckets: (RowList | undefined)[] = [];
  /*
   * Per count, in typed arrays (a count's slot is valid once its bucket
   * exists; the planner reads two of them for every range of a bound plan,
   * where JS arrays with holes cost a prototype lookup):
   * - bucketBytes: bytes of the bucket's rows, kept or not (whole pages:
   *   integers, so any order of addition gives the same sum); the planner
   *   adds a range of a bucket past its cut here itself (see `offer`);
   * - keptBytes, keptPast: bytes of its kept rows, and how many were kept
   *   once those reached keepBytes;
   * - cut: 1 when the bucket left rows out.
   */
  bucketBytes: Float64Array = new Float64Array(MIN_COUNTS);
  private keptBytes: Float64Array = new Float64Array(MIN_COUNTS);
  private keptPast: Float64Array = new Float64Array(MIN_COUNTS);
  cut: Uint8Array = new Uint8Array(MIN_COUNTS);
  private anyCut = false;
  /** rows whose count a counting sort cannot take */
  private readonly odd = new RowList();
  private readonly sorted = new Map<string, Int32Array>();
  /** the lists `where` cut at a bucket that left rows out */
  private readonly partialLists = new Set<Int32Array>();
  private countMax = 0;
  private placed = true;
  private lastGuest = -1;
  private lastStart = -Infinity;
  private largest = 0;
  private all?: Int32Array;

  constructor(private readonly t: ChunkRows) {}

  /** Empties it for the next plan, keeping its lists' memory (a plan per second must not make a second's garbage of them). */
  reset(): void {
    for (let c = 0; c < this.buckets.length; c++) {
      const b = this.buckets[c];
      if (b) {
        b.clear();
      }
    }
    this.bucketBytes.fill(0);
    this.keptBytes.fill(0);
    this.keptPast.fill(0);
    this.cut.fill(0);
    this.anyCut = false;
    this.odd.clear();
    this.sorted.clear();
    this.partialLists.clear();
    this.countMax = 0;
    this.placed = true;
    this.lastGuest = -1;
    this.lastStart = -Infinity;
    this.largest = 0;
    this.all = undefined;
  }

  /** Adds row `id` of a plan in full (its count, guest, start and bytes are the row's own, passed to spare the reads). */
  add(id: number, count: number, guest: number, start: number, bytes: number): void {
    const b = this.count(count, guest, start, bytes);
    if (b === undefined) this.odd.push(id);
    else b.push(id);
  }

  /**
   * Counts a range of `guest` in the sums and keeps it as a row unless its
   * bucket already holds `keepBytes` and `keepRows` rows past them
   * (Infinity: every row, as `add`).
   */
  offer(guest: number, start: number, pageCount: number, pageSizeBytes: number, count: number, bytes: number, keepBytes: number, keepRows: number): void {
    // A bucket past its cut only sums (most ranges of a bound plan): the caller sees that the
    // ranges come in place order, and rows() is refused once a bucket is cut.
    if (this.cut[count] === 1) {
      this.bucketBytes[count]! += bytes;
      return;
    }
    const b = this.count(count, guest, start, bytes);
    if (b === undefined) {
      this.odd.push(this.t.add(guest, start, pageCount, pageSizeBytes, count));
      return;
    }
    const kept = this.keptBytes[count]!;
    if (kept >= keepBytes) {
      // once a row is left out, none after it is kept (rows kept are a prefix of the bucket)
      if (this.cut[count] === 1 || this.keptPast[count]! >= keepRows) {
        this.cut[count] = 1;
        this.anyCut = true;
        return;
      }
      this.keptPast[count]!++;
    }
    this.keptBytes[count] = kept + bytes;
    b.push(this.t.add(guest, start, pageCount, pageSizeBytes, count));
  }

  /** The sums of one more range; its count's bucket, undefined for counts a counting sort cannot take. */
  private count(count: number, guest: number, start: number, bytes: number): RowList | undefined {
    if (guest < this.lastGuest || (guest === this.lastGuest && start < this.lastStart)) this.placed = false;
    this.lastGuest = guest;
    this.lastStart = start;
    if (!(Number.isInteger(count) && count >= 0 && count <= 1_000_000)) return undefined;
    let b = this.buckets[count];
    if (b === undefined) {
      b = this.buckets[count] = new RowList();
      if (count >= this.cut.length) this.widen(count + 1);
    }
    if (count > this.countMax) this.countMax = count;
    this.bucketBytes[count]! += bytes;
    return b;
  }

  /** All rows in arrival order (row ids grow as rows are added, so: ascending ids). */
  rows(): Int32Array {
    if (this.anyCut) throw new NeedAllRows('a node\'s row list');
    if (this.all === undefined) {
      let total = this.odd.length;
      for (const b of this.buckets) if (b) total += b.length;
      const out = new Int32Array(total);
      let n = 0;
      for (const b of this.buckets) if (b) out.set(b.view(), (n += b.length) - b.length);
      out.set(this.odd.view(), n);
      this.all = out.sort();
    }
    return this.all;
  }

  /** All rows in `order`. */
  byCount(order: 'hottest' | 'coldest'): Int32Array {
    if (this.odd.length > 0) {
      let out = this.sorted.get(order);
      if (!out) this.sorted.set(order, (out = byCount(this.t, this.rows(), order)));
      return out;
    }
    return this.where(-Infinity, true, order);
  }

  /**
   * The hot (count >= threshold) or cold (< threshold) rows in `order`:
   * the buckets on that side of the threshold, hottest or coldest first.
   * In a bound plan the list ends with the first bucket that left rows
   * out (`partial`): what lies past it is out of any step's reach.
   */
  where(threshold: number, hot: boolean, order: 'hottest' | 'coldest'): Int32Array {
    const key = `${hot}/${order}/${threshold}`;
    let out = this.sorted.get(key);
    if (out) return out;
    if (this.odd.length > 0) {
      out = byCount(this.t, whereCount(this.t, this.rows(), threshold, hot), order);
    } else {
      const [lo, hi] = this.bucketRange(threshold, hot);
      const hottest = order === 'hottest';
      let n = 0;
      let last = hi - lo;
      let cutShort = false;
      for (let k = 0; k <= hi - lo; k++) {
        const c = hottest ? hi - k : lo + k;
        n += this.buckets[c]?.length ?? 0;
        if (this.cut[c] === 1) {
          last = k;
          cutShort = true;
          break;
        }
      }
      out = this.t.scratch(n);
      let at = 0;
      for (let k = 0; k <= last; k++) {
        const c = hottest ? hi - k : lo + k;
        const b = this.bucket(c);
        if (b === undefined) continue;
        out.set(b, at);
        at += b.length;
      }
      if (cutShort) this.partialLists.add(out);
    }
    this.sorted.set(key, out);
    return out;
  }

  /** Whether `list` (from `where`) was cut short: rows of its order lie past its end. */
  partial(list: Int32Array): boolean {
    return this.partialLists.has(list);
  }

  /** sumBytes of where(threshold, hot, ...), from the sums kept per count (rows left out included). */
  whereBytes(threshold: number, hot: boolean): number {
    if (this.odd.length > 0) return sumBytes(this.t, this.where(threshold, hot, 'hottest'));
    const [lo, hi] = this.bucketRange(threshold, hot);
    let n = 0;
    for (let c = lo; c <= hi; c++) n += this.bucketBytes[c] ?? 0;
    return n;
  }

  /** The counts lo..hi of the buckets on one side of `threshold`: >= it (hot) or < it. */
  private bucketRange(threshold: number, hot: boolean): [number, number] {
    return hot ? [Math.max(0, Math.ceil(threshold)), this.countMax] : [0, Math.min(this.countMax, Math.ceil(threshold) - 1)];
  }

  /** Bucket `count` in place order (sorted once when rows came out of it). */
  private bucket(count: number): Int32Array | undefined {
    const b = this.buckets[count];
    if (b === undefined || b.length === 0) return undefined;
    if (this.placed) return b.view();
    // sorted by place, a prefix kept in arrival order is not the prefix in place order
    if (this.cut[count] === 1) throw new NeedAllRows('a bucket of rows out of place order');
    const key = `place/${count}`;
    let out = this.sorted.get(key);
    if (!out) this.sorted.set(key, (out = sortRows(b.view(), byPlace(this.t))));
    return out;
  }

  /** Room in the per-count arrays for counts below `n` (their new slots zero). */
  private widen(n: number): void {
    const size = Math.max(n, this.cut.length * 2);
    const f64 = (a: Float64Array): Float64Array => {
      const b = new Float64Array(size);
      b.set(a);
      return b;
    };
    this.bucketBytes = f64(this.bucketBytes);
    this.keptBytes = f64(this.keptBytes);
    this.keptPast = f64(this.keptPast);
    const cut = new Uint8Array(size);
    cut.set(this.cut);
    this.cut = cut;
  }

  /** Bytes of its lists (what it holds between plans). */
  capacityBytes(): number {
    let n = this.odd.capacityBytes() + this.cut.length * 25;
    for (const b of this.buckets) if (b) n += b.capacityBytes();
    return n;
  }

  /**
   * Notes the page size of the ranges added from here on (the planner calls
   * it when the node or the page size changes from one range to the next:
   * not per range).
   */
  notePageSize(pageSizeBytes: number): void {
    if (pageSizeBytes > this.largest) this.largest = pageSizeBytes;
  }

  /** The largest page size of the rows, kept or not (0 when none). */
  largestPageBytes(): number {
    return this.largest;
  }
}

/** One pool's NodeRows by node id: small ids index an array (a lookup per range), any other id a Map. */
export class PoolRows {
  private readonly small: (NodeRows | undefined)[] = [];
  private readonly other = new Map<number, NodeRows>();
  /** the smallest and largest page size of the plan's ranges in the pool so far */
  minPageBytes = Infinity;
  maxPageBytes = 0;

  constructor(private readonly t: ChunkRows) {}

  /** Notes a page size of the pool's ranges. */
  notePageSize(pageSizeBytes: number): void {
    if (pageSizeBytes < this.minPageBytes) this.minPageBytes = pageSizeBytes;
    if (pageSizeBytes > this.maxPageBytes) this.maxPageBytes = pageSizeBytes;
  }

  /** Empties every node's rows for the next plan (an emptied NodeRows plans as no rows). */
  reset(): void {
    this.minPageBytes = Infinity;
    this.maxPageBytes = 0;
    for (const rows of this.small) rows?.reset();
    for (const rows of this.other.values()) rows.reset();
  }

  capacityBytes(): number {
    let n = 0;
    for (const rows of this.small) if (rows) n += rows.capacityBytes();
    for (const rows of this.other.values()) n += rows.capacityBytes();
    return n;
  }

  get(node: number): NodeRows | undefined {
    return (node | 0) === node && node >= 0 && node < 1024 ? this.small[node] : this.other.get(node);
  }

  getOrAdd(node: number): NodeRows {
    let rows = this.get(node);
    if (!rows) {
      rows = new NodeRows(this.t);
      if ((node | 0) === node && node >= 0 && node < 1024) this.small[node] = rows;
      else this.other.set(node, rows);
    }
    return rows;
  }
}
