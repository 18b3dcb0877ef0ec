/**
 * The last cycles' heat strips of one task (for `virt-tier report`), kept
 * in a ring of bytes rather than as strips: a strip of 128 buckets is three
 * arrays of numbers, about 3.3 KiB in V8, and 120 cycles of 50 guests held
 * 19 MiB of heap (issue 11's RSS goal at 16 GiB is 80 MiB for the whole
 * daemon). Here a cycle costs 3 bytes per bucket plus four numbers.
 *
 * Strip values are the integer percents summarizeMap makes (present and
 * swapped 0..100, access -1..100), which an Int8Array holds exactly; a strip
 * with any other value is kept as it is instead (never the case for the
 * observer's strips, but the ring must not change what it is given).
 */
import type { HeatStrip } from './heat.js';

/** An integer an Int8Array holds as it is (false for fractions, NaN and infinities too). */
const isByte = (x: number): boolean => (x | 0) === x && x >= -128 && x <= 127;

export class HeatHistory {
  /** per slot: pid, timeMs, totalBytes, bucketBytes, buckets */
  private readonly meta: Float64Array;
  /** per slot, `width` bytes each of present, swapped, access */
  private values: Int8Array;
  private width: number;
  /** strips that did not fit in bytes, by slot */
  private readonly odd = new Map<number, HeatStrip>();
  private first = 0;
  private count = 0;

  /** `capacity` strips at most (the oldest is dropped); `width` the buckets expected per strip (grown when a strip has more). */
  constructor(readonly capacity: number, width: number) {
    this.meta = new Float64Array(capacity * 5);
    this.width = Math.max(1, width);
    this.values = new Int8Array(0);
  }

  get length(): number {
    return this.count;
  }

  push(strip: HeatStrip): void {
    const n = strip.present.length;
    let slot: number;
    if (this.count < this.capacity) slot = (this.first + this.count++) % this.capacity;
    else {
      slot = this.first;
      this.first = (this.first + 1) % this.capacity;
    }
    this.odd.delete(slot);
    const m = slot * 5;
    this.meta[m] = strip.pid;
    this.meta[m + 1] = strip.timeMs;
    this.meta[m + 2] = strip.totalBytes;
    this.meta[m + 3] = strip.bucketBytes;
    this.meta[m + 4] = n;
    if (n > this.width || (slot + 1) * 3 * this.width > this.values.length) this.resize(Math.max(n, this.width), slot + 1);
    // copied and checked in one pass; a value no byte holds sends the whole strip to `odd`
    let fits = strip.swapped.length === n && strip.access.length === n;
    const at = slot * 3 * this.width;
    const v = this.values;
    for (let b = 0; b < n && fits; b++) {
      const p = strip.present[b]!;
      const sw = strip.swapped[b]!;
      const a = strip.access[b]!;
      if (!isByte(p) || !isByte(sw) || !isByte(a)) fits = false;
      v[at + b] = p;
      v[at + this.width + b] = sw;
      v[at + 2 * this.width + b] = a;
    }
    if (!fits) this.odd.set(slot, { ...strip, present: [...strip.present], swapped: [...strip.swapped], access: [...strip.access] });
  }

  /** The strips, oldest first, as fresh HeatStrips. */
  strips(): HeatStrip[] {
    const out: HeatStrip[] = [];
    for (let i = 0; i < this.count; i++) {
      const slot = (this.first + i) % this.capacity;
      const odd = this.odd.get(slot);
      if (odd) {
        out.push({ ...odd, present: [...odd.present], swapped: [...odd.swapped], access: [...odd.access] });
        continue;
      }
      const m = slot * 5;
      const n = this.meta[m + 4]!;
      const at = slot * 3 * this.width;
      const v = this.values;
      const present = new Array<number>(n);
      const swapped = new Array<number>(n);
      const access = new Array<number>(n);
      for (let b = 0; b < n; b++) {
        present[b] = v[at + b]!;
        swapped[b] = v[at + this.width + b]!;
        access[b] = v[at + 2 * this.width + b]!;
      }
      out.push({ pid: this.meta[m]!, timeMs: this.meta[m + 1]!, totalBytes: this.meta[m + 2]!, bucketBytes: this.meta[m + 3]!, present, swapped, access });
    }
    return out;
  }

  /**
   * Room for `width` buckets in at least `slots` slots: slots are added by
   * doubling up to the capacity (a task that ran a few cycles holds a few
   * strips' bytes, not 120), and a wider strip widens every slot. The
   * strips held keep their slots.
   */
  private resize(width: number, slots: number): void {
    const old = this.values;
    const oldWidth = this.width;
    const oldSlots = old.length / (3 * oldWidth);
    const room = Math.min(this.capacity, Math.max(slots, oldSlots * 2, 8));
    this.values = new Int8Array(room * 3 * width);
    this.width = width;
    if (width === oldWidth) {
      this.values.set(old);
      return;
    }
    for (let k = 0; k < oldSlots * 3; k++) this.values.set(old.subarray(k * oldWidth, (k + 1) * oldWidth), k * width);
  }
}
