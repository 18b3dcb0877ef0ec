/**
 * A tracker backend: over one cycle (`loop` scans `intervalMs` apart) it
 * counts, per page or range, in how many scans the page was accessed, and
 * returns an AccessMap. Backends: 'damon-vaddr', 'page-idle', 'idle-pages'
 * (etmem). Chosen by probing the kernel (src/scan/choose-tracker.ts over
 * the TrackerEntry list of src/scan/trackers.ts), overridable in config.
 */
import type { AccessMap } from './access-map.js';
import { invalidField } from '../errors.js';
import type { RamKind } from '../config/types.js';
import type { KernelOps } from '../native/kernel.js';
import type { KernelFileIO } from '../platform/io.js';

export interface VmaFilter {
  /** every flag must be in the VMA's smaps VmFlags (cslide: ['ht']); empty: all VMAs */
  vmFlags: string[];
  /** only anonymous VMAs */
  anonOnly: boolean;
  /** virt-tier: a VMA of one of these guest-RAM kinds matches too (cslide `ram`) */
  ramKinds?: readonly RamKind[];
}

export interface ScanTarget {
  pid: number;
  filter: VmaFilter;
  /** ignore host-side accesses where the backend can tell (etmem SCAN_IGN_HOST) */
  ignHost: boolean;
  /**
   * How many of the target's ranges (VMAs) one scan reads at once: etmem's
   * slide `max_threads` (its task's thread pool). Default 1, one after
   * another. The results do not depend on it.
   */
  maxParallelRanges?: number;
}

export interface ScanCycleOptions {
  /** scans per cycle (project `loop`) */
  loop: number;
  /** ms between scans (the project's `intervalMs`) */
  intervalMs: number;
  /** ends the cycle early (task stopped); the promise then rejects with an AbortError */
  signal?: AbortSignal;
}

export interface Tracker {
  readonly name: string;
  /** Runs one cycle. Rejects with SysError code ESRCH when the target exits. */
  scanCycle(target: ScanTarget, opts: ScanCycleOptions): Promise<AccessMap>;
  /** Releases kernel-side state (DAMON contexts, open fds). */
  close(): Promise<void>;
}

export interface TrackerProbe {
  name: string;
  available: boolean;
  /** why not, and what would fix it */
  reason: string;
}

/** The engines a tracker can serve. */
export type TrackerEngine = 'slide' | 'cslide';

/**
 * One tracker backend as the chooser sees it (memtierd's TrackerRegister):
 * each tracker file exports one, src/scan/trackers.ts lists them in
 * preference order.
 */
export interface TrackerEntry {
  readonly name: string;
  /** the engines whose tasks it may track (page_idle cannot see hugetlb, so not cslide) */
  readonly engines: readonly TrackerEngine[];
  /** Which guest memory it can see, for `host-validate` (e.g. "LRU memory: anonymous, THP, shmem; not hugetlb"). */
  readonly memory?: string;
  /** Whether this kernel can run it, and why not. Reads only: a probe never writes to procfs or sysfs. */
  probe(io: KernelFileIO, kernel: KernelOps): Promise<TrackerProbe>;
  /** A tracker over `io` and `kernel`. */
  create(io: KernelFileIO, kernel: KernelOps): Promise<Tracker>;
}

/**
 * A tracker's cycle, shared by the DAMON trackers: its options checked, and
 * one at a time per tracker (a second concurrent cycle is the caller's bug:
 * both would reshape one kdamond).
 */
export class CycleGate {
  private running = false;

  constructor(private readonly tracker: string) {}

  async run<T>(opts: ScanCycleOptions, cycle: () => Promise<T>): Promise<T> {
    if (!Number.isInteger(opts.loop) || opts.loop < 1) throw invalidField('loop', opts.loop, 'integer >= 1');
    if (!(opts.intervalMs > 0)) throw invalidField('intervalMs', opts.intervalMs, '> 0');
    if (this.running) throw new Error(`${this.tracker}: scanCycle already running on this tracker`);
    this.running = true;
    try {
      return await cycle();
    } finally {
      this.running = false;
    }
  }
}
