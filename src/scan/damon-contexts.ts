/**
 * The one owner of this daemon's DAMON kdamonds (issue 15, item 7): every
 * DAMON tracker of every task asks it for a kdamond slot, and every change
 * that could disturb another task's kdamond goes through it, one at a time.
 *
 * Why one owner: DAMON's sysfs has process-wide hazards that per-tracker
 * code raced over (EINVAL/ENOENT/EBUSY with three tasks started together):
 * - two trackers scanning the slots at once both took the same free slot;
 * - writing `nr_kdamonds` removes and recreates every kdamond directory
 *   (mm/damon/sysfs.c, damon_sysfs_kdamonds_add_dirs), wiping contexts
 *   other trackers had written, and is refused (EBUSY) while any runs.
 * So: slots are claimed in a serial section; the pool is resized only in a
 * serial section and only while none of our kdamonds runs (it waits for
 * running cycles to end, and no new one starts meanwhile: "never resized
 * under a running task"); a context write and its `on` happen in one
 * serial section, rewritten when a resize wiped it (the generation).
 * Turning off is not serialised: it only ever shortens what runs, and a
 * resize is waiting for exactly that.
 *
 * And every DAMON sysfs write goes through `sysfs`, which retries EBUSY:
 * the kernel takes one global lock for all kdamonds with mutex_trylock
 * (mm/damon/sysfs.c: state, nr_* stores) and answers EBUSY when another
 * write, or a kdamond's own sysfs callback, holds it; seen in the testbed
 * with three trackers (6.12) even once claims were serial.
 *
 * A kdamond that is off but has a context and is not ours belongs to
 * another DAMON user; it is never taken, and the pool never grows over it
 * (that would wipe its configuration).
 */
import type { PlatformIO } from '../platform/io.js';
import { isErrno } from '../native/errors.js';
import { abortError } from '../errors.js';
import { KDAMONDS, kdamondDir, turnOff } from './damon-sysfs.js';

/** Kdamond directories made at once when the pool must grow (growing needs every kdamond off). */
export const KDAMOND_POOL_SIZE = 8;

export interface DamonKdamondsOptions {
  poolSize?: number;
  /** how long a DAMON sysfs write retries EBUSY (the kernel's trylock); default 5 s */
  busyRetryMs?: number;
  /** how long a resize waits for our running kdamonds to stop; default 30 s */
  resizeWaitMs?: number;
  /** poll period while waiting; default 50 ms */
  pollMs?: number;
}

function busy(message: string): Error {
  return Object.assign(new Error(message), { code: 'EBUSY' });
}

export class DamonKdamonds {
  private readonly held = new Set<number>();
  private readonly running = new Set<number>();
  /** which context key each held slot holds since the last resize */
  private readonly written = new Map<number, string>();
  private chain: Promise<unknown> = Promise.resolve();
  /** kdamond commands (update_schemes_tried_regions), one at a time: see command() */
  private commandChain: Promise<unknown> = Promise.resolve();
  private generationCount = 0;
  private readonly poolSize: number;
  private readonly resizeWaitMs: number;
  private readonly pollMs: number;
  /** `io` with writes that retry EBUSY: every DAMON sysfs write of every tracker goes through it */
  readonly sysfs: PlatformIO;

  constructor(readonly io: PlatformIO, options: DamonKdamondsOptions = {}) {
    const busyRetryMs = options.busyRetryMs ?? 5000;
    const retrying = async <T>(p: string, op: () => Promise<T>): Promise<T> => {
      const deadline = Date.now() + busyRetryMs;
      for (let delayMs = 5; ; delayMs = Math.min(100, delayMs * 2)) {
        try {
          return await op();
        } catch (err) {
          // nr_kdamonds' EBUSY on a write means a kdamond runs: resize() handles that itself.
          if (!isErrno(err, 'EBUSY') || p.endsWith('/nr_kdamonds') || Date.now() >= deadline) throw err;
          await new Promise((resolve) => setTimeout(resolve, delayMs));
        }
      }
    };
    // Reads too: the kernel's show functions take the same lock with trylock (EBUSY on a read, seen in the testbed).
    this.sysfs = {
      readText: (p) => retrying(p, () => io.readText(p)),
      readDir: (p) => retrying(p, () => io.readDir(p)),
      exists: (p) => io.exists(p),
      writeText: (p, text) => retrying(p, () => io.writeText(p, text)),
    };
    this.poolSize = options.poolSize ?? KDAMOND_POOL_SIZE;
    this.resizeWaitMs = options.resizeWaitMs ?? 30_000;
    this.pollMs = options.pollMs ?? 50;
  }

  /** Bumped at every resize: every slot's configuration is then gone. */
  get generation(): number {
    return this.generationCount;
  }

  /** Slots held now (for tests and stats). */
  get heldSlots(): number[] {
    return [...this.held].sort((a, b) => a - b);
  }

  /** Runs `fn` after every earlier serial section, alone. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  /**
   * Runs a kdamond command after every earlier one, alone, on its own queue
   * (claims and starts do not wait behind it). The kernel takes one such
   * command at a time for all kdamonds: a second one, while the first waits
   * for its kdamond to handle it, is refused with EBUSY (mm/damon/sysfs.c
   * before damon_call(): damon_sysfs_handle_cmd and its one
   * damon_sysfs_cmd_request). Retried against the EBUSY deadline, the Nth
   * tracker of a round would succeed only if the N-1 before it finished in
   * time (three at 3 s windows did in the testbed; an engine of many guests
   * need not); in this queue a command waits its turn instead. `signal`
   * drops a command still waiting when its task stops.
   */
  command<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const run = (): Promise<T> => {
      if (signal?.aborted) return Promise.reject(abortError('DAMON command aborted'));
      return fn();
    };
    const next = this.commandChain.then(run, run);
    this.commandChain = next.catch(() => undefined);
    return next;
  }

  /** Claims a kdamond slot that is off and holds no context; grows the pool when none is free. */
  acquire(): Promise<number> {
    return this.serial(async () => {
      const count = Number((await this.sysfs.readText(`${KDAMONDS}/nr_kdamonds`)).trim());
      const foreign: number[] = [];
      for (let slot = 0; slot < count; slot++) {
        if (this.held.has(slot)) continue;
        const configured = Number((await this.sysfs.readText(`${kdamondDir(slot)}/contexts/nr_contexts`)).trim()) > 0;
        const state = (await this.sysfs.readText(`${kdamondDir(slot)}/state`)).trim();
        if (configured || state !== 'off') {
          foreign.push(slot);
          continue;
        }
        this.held.add(slot);
        this.written.delete(slot);
        return slot;
      }
      if (foreign.length > 0) {
        throw busy(
          `no free DAMON kdamond: kdamond ${foreign.join(', ')} belong to another DAMON user (a context or running), and growing nr_kdamonds would wipe them; ` +
            'stop that user (its kdamonds/N/state off, nr_contexts 0), or use the damon-paddr tracker, which shares a running paddr kdamond read-only',
        );
      }
      await this.resize(Math.max(count + 1, this.poolSize, ...[...this.held].map((s) => s + 2)));
      this.held.add(count);
      return count;
    });
  }

  /** Inside a serial section: waits until none of ours runs, then rewrites nr_kdamonds. */
  private async resize(count: number): Promise<void> {
    const deadline = Date.now() + this.resizeWaitMs;
    for (;;) {
      if (this.running.size === 0) {
        try {
          await this.io.writeText(`${KDAMONDS}/nr_kdamonds`, String(count));
          this.generationCount++;
          this.written.clear();
          return;
        } catch (err) {
          // EBUSY: a kdamond we do not know of runs (another DAMON user started one meanwhile).
          if (!isErrno(err, 'EBUSY')) throw err;
        }
      }
      if (Date.now() >= deadline) {
        throw busy(`no free DAMON kdamond: nr_kdamonds cannot grow to ${count} while a kdamond runs (EBUSY for ${this.resizeWaitMs} ms)`);
      }
      await new Promise((resolve) => setTimeout(resolve, this.pollMs));
    }
  }

  /**
   * Writes the slot's context (through `write`, skipped when `key` is what
   * the slot already holds since the last resize) and turns it on, in one
   * serial section, so no resize can come between the write and `on`.
   */
  start(slot: number, key: string, write: () => Promise<void>): Promise<void> {
    if (!this.held.has(slot)) return Promise.reject(new Error(`DAMON kdamond ${slot} is not held`));
    return this.serial(async () => {
      if (this.written.get(slot) !== key) {
        this.written.delete(slot);
        await write();
        this.written.set(slot, key);
      }
      await this.sysfs.writeText(`${kdamondDir(slot)}/state`, 'on');
      this.running.add(slot);
    });
  }

  /** Turns the slot off (tolerating one that stopped by itself when its target exited). */
  async stop(slot: number): Promise<void> {
    try {
      await turnOff(this.sysfs, slot);
    } finally {
      this.running.delete(slot);
    }
  }

  /** Forgets what the slot holds (its context was dropped), so the next start rewrites it. */
  forget(slot: number): void {
    this.written.delete(slot);
  }

  /** Turns the slot off, drops its context (no stale target) and gives it back. */
  async release(slot: number): Promise<void> {
    if (!this.held.has(slot)) return;
    await this.stop(slot);
    await this.serial(async () => {
      await this.sysfs.writeText(`${kdamondDir(slot)}/contexts/nr_contexts`, '0').catch(() => undefined);
      this.written.delete(slot);
      this.held.delete(slot);
    });
  }
}

let contextKeyIds = 0;

/**
 * Keys for one tracker's kdamond contexts (DamonKdamonds.start rewrites a
 * context only when its key changed): equal keys mean equal contexts. The
 * regions are compared number by number with the last ones keyed, not
 * joined into text every cycle (a guest's 10K regions were about 300 KB of
 * JSON a cycle, and as much garbage). Keys of two instances never match.
 */
export class ContextKeys {
  private readonly id = ++contextKeyIds;
  private starts = new Float64Array(0);
  private ends = new Float64Array(0);
  private count = -1;
  private version = 0;

  /** The key of a context of `fixed` settings (numbers and strings) over `regions`. */
  of(fixed: string, regions: readonly { start: number; end: number }[]): string {
    let same = regions.length === this.count;
    for (let i = 0; same && i < regions.length; i++) same = regions[i]!.start === this.starts[i] && regions[i]!.end === this.ends[i];
    if (!same) {
      if (this.starts.length < regions.length) {
        this.starts = new Float64Array(regions.length);
        this.ends = new Float64Array(regions.length);
      }
      for (let i = 0; i < regions.length; i++) {
        this.starts[i] = regions[i]!.start;
        this.ends[i] = regions[i]!.end;
      }
      this.count = regions.length;
      this.version++;
    }
    return `${this.id}/${fixed}/${this.version}`;
  }
}

/** One owner per PlatformIO (one live kernel per daemon process, or one test tree) unless a tracker is given its own. */
const owners = new WeakMap<PlatformIO, DamonKdamonds>();
export function kdamondsFor(io: PlatformIO): DamonKdamonds {
  let owner = owners.get(io);
  if (!owner) owners.set(io, (owner = new DamonKdamonds(io)));
  return owner;
}

const probeCache = new WeakMap<PlatformIO, { available: boolean; reason: string }>();

/**
 * Whether DAMON sysfs with vaddr operations is there, asked of a context
 * in a slot of `owner` (exact, unlike /proc/kallsyms, but it writes: the
 * tracker entries probe read-only instead). Cached per PlatformIO: the
 * kernel's DAMON build does not change at runtime.
 */
export async function probeDamonVaddr(io: PlatformIO, owner: DamonKdamonds = kdamondsFor(io)): Promise<{ available: boolean; reason: string }> {
  const cached = probeCache.get(io);
  if (cached) return cached;
  if (!(await io.exists(`${KDAMONDS}/nr_kdamonds`))) {
    return { available: false, reason: '/sys/kernel/mm/damon/admin is missing: the kernel needs CONFIG_DAMON_SYSFS (Linux 5.18+)' };
  }
  const slot = await owner.acquire();
  let answer: { available: boolean; reason: string };
  try {
    await io.writeText(`${kdamondDir(slot)}/contexts/nr_contexts`, '1');
    const ops = (await io.readText(`${kdamondDir(slot)}/contexts/0/avail_operations`)).split(/\s+/).filter(Boolean);
    answer = ops.includes('vaddr')
      ? { available: true, reason: '' }
      : { available: false, reason: `DAMON has no vaddr operations (available: ${ops.join(' ')}); the kernel needs CONFIG_DAMON_VADDR` };
  } finally {
    await owner.release(slot);
  }
  probeCache.set(io, answer);
  return answer;
}
