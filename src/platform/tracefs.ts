/**
 * DAMON's `damon_aggregated` tracepoint through tracefs, read in bulk
 * (what `damo record` does): one private tracing instance
 * (`instances/NAME`, its own ring buffer, so the global buffer and every
 * other tracer stay untouched), the event enabled with a
 * `common_pid == KDAMOND_PID` filter, and the per-CPU `trace_pipe_raw`
 * files drained non-blocking, one ring-buffer page (4 KiB) per read(2).
 *
 * Why raw pages and not `trace_pipe` text: on this host's kernel (6.18) the
 * text path costs about 100x more CPU per event (the kernel formats every
 * line, we parse it again); see docs/trackers.md and bench/damon-reads.ts.
 *
 * Layouts (kernel/trace/ring_buffer.c; the event's own `format` file):
 * - page: u64 timestamp, u64 commit (low 30 bits: bytes of data; bits 30,31
 *   flag missed events), then events;
 * - event header: u32, type_len = bits 0..4, time_delta = bits 5..31;
 *   type_len 1..28: data of type_len*4 bytes follows; 0: a u32 length
 *   (including itself) then data; 29 padding (u32 length follows), 30 time
 *   extend, 31 absolute time stamp (8 bytes each);
 * - data: the event's fields at the offsets its `format` file lists.
 */
import fs from 'node:fs';
import { execFile } from 'node:child_process';
import { SysError, toSysError } from '../native/errors.js';

export const TRACEFS = '/sys/kernel/tracing';
export const DAMON_AGGREGATED = 'events/damon/damon_aggregated';
export const RAW_PAGE_BYTES = 4096;

export interface EventField {
  offset: number;
  size: number;
}

export interface EventFormat {
  id: number;
  fields: Map<string, EventField>;
}

/** Parses an event's tracefs `format` file (ID and field offsets). */
export function parseEventFormat(text: string): EventFormat {
  const id = /^ID:\s*(\d+)/m.exec(text);
  if (!id) throw new Error('tracefs event format has no ID line');
  const fields = new Map<string, EventField>();
  for (const m of text.matchAll(/field:[^;]*?\s\**(\w+)(?:\[\d*\])?;\s*offset:(\d+);\s*size:(\d+);/g)) {
    fields.set(m[1]!, { offset: Number(m[2]), size: Number(m[3]) });
  }
  return { id: Number(id[1]), fields };
}

/** One damon_aggregated event: a region's count at the end of an aggregation window. */
export interface AggregatedEvent {
  /** ring-buffer time in ns (trace clock), for ordering across CPUs */
  timeNs: number;
  targetId: number;
  nrRegions: number;
  /** physical (paddr) or virtual (vaddr) byte addresses, [start, end) */
  start: number;
  end: number;
  nrAccesses: number;
  age: number;
}

/** Field offsets of damon_aggregated, checked once against the format file. */
export interface AggregatedLayout {
  id: number;
  targetId: number;
  nrRegions: number;
  start: number;
  end: number;
  nrAccesses: number;
  age: number;
}

export function aggregatedLayout(format: EventFormat): AggregatedLayout {
  const at = (name: string, size: number): number => {
    const f = format.fields.get(name);
    if (!f || f.size !== size) throw new Error(`damon_aggregated format: field ${name} missing or not ${size} bytes`);
    return f.offset;
  };
  return {
    id: format.id,
    targetId: at('target_id', 8),
    nrRegions: at('nr_regions', 4),
    start: at('start', 8),
    end: at('end', 8),
    nrAccesses: at('nr_accesses', 4),
    age: at('age', 4),
  };
}

const TWO_32 = 2 ** 32;
function u64(buf: Buffer, off: number): number {
  // Addresses and times stay below 2^53: exact as Numbers, no BigInt per event.
  return buf.readUInt32LE(off) + buf.readUInt32LE(off + 4) * TWO_32;
}

/** Appends the damon_aggregated events of one raw ring-buffer page to `out`; returns how many. */
export function parseRawPage(page: Buffer, layout: AggregatedLayout, out: AggregatedEvent[]): number {
  if (page.length < 16) return 0;
  let timeNs = u64(page, 0);
  const dataBytes = Math.min(page.readUInt32LE(8) & 0x3fffffff, page.length - 16);
  const endOff = 16 + dataBytes;
  let n = 0;
  for (let off = 16; off + 4 <= endOff; ) {
    const header = page.readUInt32LE(off);
    const typeLen = header & 31;
    const delta = header >>> 5;
    if (typeLen === 29) {
      // padding: a discarded event or the end of the page's data
      if (delta === 0) break;
      off += 4 + page.readUInt32LE(off + 4);
      continue;
    }
    if (typeLen === 30) {
      timeNs += delta + page.readUInt32LE(off + 4) * 2 ** 27;
      off += 8;
      continue;
    }
    if (typeLen === 31) {
      timeNs = delta + page.readUInt32LE(off + 4) * 2 ** 27;
      off += 8;
      continue;
    }
    timeNs += delta;
    let data: number;
    let len: number;
    if (typeLen === 0) {
      len = page.readUInt32LE(off + 4) - 4;
      data = off + 8;
    } else {
      len = typeLen * 4;
      data = off + 4;
    }
    off = data + len;
    if (len < layout.age + 4 || off > endOff || page.readUInt16LE(data) !== layout.id) continue;
    out.push({
      timeNs,
      targetId: u64(page, data + layout.targetId),
      nrRegions: page.readUInt32LE(data + layout.nrRegions),
      start: u64(page, data + layout.start),
      end: u64(page, data + layout.end),
      nrAccesses: page.readUInt32LE(data + layout.nrAccesses),
      age: page.readUInt32LE(data + layout.age),
    });
    n++;
  }
  return n;
}

/** One aggregation window of one target: its regions in address order. */
export interface AggregationWindow {
  timeNs: number;
  targetId: number;
  regions: AggregatedEvent[];
}

/**
 * Groups events (from every CPU) into windows: DAMON emits a target's
 * regions in address order at the end of each window (kdamond_reset_aggregated),
 * so a region that does not start past the previous one opens a new window.
 * Windows with fewer events than their nr_regions (the drain caught one
 * half-written) are dropped.
 */
export function groupWindows(events: AggregatedEvent[]): AggregationWindow[] {
  const sorted = [...events].sort((a, b) => a.timeNs - b.timeNs);
  const open = new Map<number, AggregationWindow>();
  const out: AggregationWindow[] = [];
  const close = (w: AggregationWindow | undefined): void => {
    if (w && w.regions.length === w.regions[0]!.nrRegions) out.push(w);
  };
  for (const e of sorted) {
    const w = open.get(e.targetId);
    const last = w?.regions[w.regions.length - 1];
    if (w && last && e.start >= last.end && w.regions.length < last.nrRegions) {
      w.regions.push(e);
    } else {
      close(w);
      open.set(e.targetId, { timeNs: e.timeNs, targetId: e.targetId, regions: [e] });
    }
  }
  for (const w of open.values()) close(w);
  return out.sort((a, b) => a.timeNs - b.timeNs);
}

/** Whether tracefs is mounted here (the DAMON events directory is visible). */
export function tracefsMounted(root = TRACEFS): boolean {
  return fs.existsSync(`${root}/${DAMON_AGGREGATED}/format`) || fs.existsSync(`${root}/events`);
}

const mounting = new Map<string, Promise<void>>();

/**
 * Mounts tracefs at `root` (as `mount -t tracefs nodev /sys/kernel/tracing`;
 * needs root). One mount per root at a time: two trackers starting together
 * would otherwise both try, and the second fail with "already mounted".
 */
export function mountTracefs(root = TRACEFS): Promise<void> {
  if (tracefsMounted(root)) return Promise.resolve();
  let pending = mounting.get(root);
  if (!pending) {
    pending = new Promise<void>((resolve, reject) => {
      execFile('mount', ['-t', 'tracefs', 'nodev', root], (err, _out, stderr) => {
        // Mounted meanwhile by someone else: as good.
        if (err && !tracefsMounted(root)) reject(new SysError('ENODEV', 19, 'mount', `mount -t tracefs nodev ${root} failed: ${(stderr || err.message).trim()}`));
        else resolve();
      });
    }).finally(() => mounting.delete(root));
    mounting.set(root, pending);
  }
  return pending;
}

/** The instance names virt-tier gives (`virt-tier-PID-N`), and the PID in them. */
const OUR_INSTANCE = /^virt-tier-(\d+)-\d+$/;

/**
 * Removes the `virt-tier-PID-N` instances of daemons that are gone (a crash
 * skips their close): each holds a ring buffer per CPU and keeps its event
 * enabled. An instance whose PID is alive (ours, another virt-tierd, or a
 * reused PID) and every instance of another name are left alone. Returns
 * the names removed; errors (an instance busy, already gone) are skipped.
 */
export function sweepStaleInstances(root = TRACEFS): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(`${root}/instances`);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = OUR_INSTANCE.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    try {
      process.kill(pid, 0);
      continue; // alive
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') continue; // EPERM: alive, someone else's
    }
    try {
      fs.rmdirSync(`${root}/instances/${name}`);
      removed.push(name);
    } catch {
      // busy or gone meanwhile
    }
  }
  return removed;
}

/** A private tracing instance with damon_aggregated enabled for one kdamond. */
export class DamonTraceInstance {
  private fds: number[] = [];
  private readonly page = Buffer.alloc(RAW_PAGE_BYTES);
  private closed = false;

  private constructor(readonly dir: string, readonly layout: AggregatedLayout) {}

  /**
   * Creates `instances/NAME` (EEXIST when one of that name exists: another
   * virt-tierd, or one left by a crash: remove it with rmdir), sizes its
   * buffer, filters the event to `kdamondPid` and enables it.
   */
  static open(name: string, kdamondPid: number, options: { root?: string; bufferKb?: number } = {}): DamonTraceInstance {
    const root = options.root ?? TRACEFS;
    const dir = `${root}/instances/${name}`;
    try {
      const layout = aggregatedLayout(parseEventFormat(fs.readFileSync(`${root}/${DAMON_AGGREGATED}/format`, 'utf8')));
      fs.mkdirSync(dir);
      const inst = new DamonTraceInstance(dir, layout);
      try {
        fs.writeFileSync(`${dir}/buffer_size_kb`, String(options.bufferKb ?? 2048));
        fs.writeFileSync(`${dir}/${DAMON_AGGREGATED}/filter`, `common_pid == ${kdamondPid}`);
        fs.writeFileSync(`${dir}/${DAMON_AGGREGATED}/enable`, '1');
        const cpus = fs.readdirSync(`${dir}/per_cpu`).filter((c) => /^cpu\d+$/.test(c));
        for (const c of cpus) inst.fds.push(fs.openSync(`${dir}/per_cpu/${c}/trace_pipe_raw`, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK));
      } catch (err) {
        inst.close();
        throw err;
      }
      return inst;
    } catch (err) {
      throw toSysError(err);
    }
  }

  /** Points the event filter at another kdamond (ours gets a new pid at every `on`). */
  setKdamondPid(kdamondPid: number): void {
    try {
      fs.writeFileSync(`${this.dir}/${DAMON_AGGREGATED}/filter`, `common_pid == ${kdamondPid}`);
    } catch (err) {
      throw toSysError(err);
    }
  }

  /** Every event buffered since the last drain, from all CPUs (non-blocking; an empty buffer is EAGAIN, not an error). */
  drain(): AggregatedEvent[] {
    const out: AggregatedEvent[] = [];
    for (const fd of this.fds) {
      for (;;) {
        let n: number;
        try {
          n = fs.readSync(fd, this.page, 0, RAW_PAGE_BYTES, null);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EAGAIN') break;
          throw toSysError(err);
        }
        if (n <= 0) break;
        parseRawPage(n === RAW_PAGE_BYTES ? this.page : this.page.subarray(0, n), this.layout, out);
      }
    }
    return out;
  }

  /** Disables the event and removes the instance (idempotent). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const fd of this.fds) fs.closeSync(fd);
    this.fds = [];
    try {
      fs.writeFileSync(`${this.dir}/${DAMON_AGGREGATED}/enable`, '0');
    } catch {
      // the instance may already be gone
    }
    try {
      fs.rmdirSync(this.dir);
    } catch {
      // EBUSY while a reader elsewhere holds it open: it stays, named for us
    }
  }
}
