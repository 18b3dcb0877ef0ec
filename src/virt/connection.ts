/**
 * One libvirt connection through @unraid/libvirt (ESM, node-addon-api;
 * hooklift's node-libvirt no longer builds on Node 20), opened lazily and
 * reopened after a failure: libvirtd may restart under a running daemon.
 */
import { Hypervisor } from '@unraid/libvirt';
import { VirtTierError } from '../errors.js';

/** The URI used when none is given (`--connect`, `libvirt_uri`): the system QEMU driver, as virsh run by root. */
export const DEFAULT_LIBVIRT_URI = 'qemu:///system';

/** How long dropping a connection waits for libvirtd to acknowledge the close. */
const CLOSE_WAIT_MS = 2000;

/** The libvirt error text without the binding's decoration. */
export function libvirtMessage(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.replace(/\s+/g, ' ').trim();
}

export class VirtConnection {
  private hypervisor: Hypervisor | undefined;
  private opening: Promise<Hypervisor> | undefined;
  /** bumped by reset: an open that was under way then is not kept (it may have hung on a libvirtd in its shutdown) */
  private generation = 0;
  /** `use` calls run one after another: the tail of the queue */
  private queue: Promise<unknown> = Promise.resolve();
  /** calls under way on each handle (`use`), and the handles reset dropped while calls were under way */
  private readonly inUse = new Map<Hypervisor, number>();
  private readonly closeWhenIdle = new Set<Hypervisor>();
  /** `use` calls queued and not settled, and whether a queue a reset left behind still has some */
  private pending = 0;
  private leftBehind = false;

  /** `open` makes and opens a handle (default: the binding's Hypervisor, connectOpen); tests give their own. */
  constructor(readonly uri: string = DEFAULT_LIBVIRT_URI, private readonly open: (uri: string) => Promise<Hypervisor> = openHypervisor) {}

  /** The open connection, opening it first when needed. Throws OPT_UNAVAILABLE naming the URI. */
  async get(): Promise<Hypervisor> {
    if (this.hypervisor) return this.hypervisor;
    const generation = this.generation;
    const opening = (this.opening ??= (async () => {
      let hv: Hypervisor;
      try {
        hv = await this.open(this.uri);
      } catch (err) {
        throw new VirtTierError('OPT_UNAVAILABLE', `cannot connect to libvirt at ${this.uri}: ${libvirtMessage(err)}`, {
          field: '--connect',
          value: this.uri,
        });
      }
      if (this.generation !== generation) {
        await closeQuietly(hv);
        throw new VirtTierError('OPT_UNAVAILABLE', `libvirt at ${this.uri}: the connection was reset while it opened`, { field: '--connect', value: this.uri });
      }
      this.hypervisor = hv;
      return hv;
    })().finally(() => {
      if (this.opening === opening) this.opening = undefined;
    }));
    return opening;
  }

  /**
   * Runs `fn` on the open connection (opening it first), after every
   * earlier `use` since the last reset has settled (see reset). One at a
   * time because the binding runs each libvirt call on a libuv threadpool thread (4, shared with every file
   * read of the daemon) and libvirt's client has no RPC timeout: a
   * libvirtd that stops answering holds each call's thread until its
   * socket closes, so concurrent lookups could take every thread and stall
   * the daemon's I/O; queued, they hold at most the threads of one. A
   * caller that gave up (`signal` aborted) before its turn is dropped
   * without running. A reset meanwhile does not close the handle under
   * `fn` (libvirt leaves it to the caller never to close a connection
   * another thread is using): it is closed once `fn` has settled.
   */
  use<T>(fn: (hv: Hypervisor) => Promise<T>, signal?: AbortSignal): Promise<T> {
    this.pending++;
    const turn = this.queue.then(async () => {
      if (signal?.aborted) throw new VirtTierError('OPT_UNAVAILABLE', `libvirt at ${this.uri}: the call was given up before its turn`, { field: '--connect', value: this.uri });
      const hv = await this.get();
      this.inUse.set(hv, (this.inUse.get(hv) ?? 0) + 1);
      try {
        return await fn(hv);
      } finally {
        const left = this.inUse.get(hv)! - 1;
        if (left > 0) this.inUse.set(hv, left);
        else {
          this.inUse.delete(hv);
          if (this.closeWhenIdle.delete(hv)) void closeQuietly(hv);
        }
      }
    });
    this.queue = turn.catch(() => undefined).finally(() => this.pending--);
    return turn;
  }

  /** True when a connection is open (it may still have died underneath: calls then fail and `reset` drops it). */
  get isOpen(): boolean {
    return this.hypervisor !== undefined;
  }

  /** Drops the connection, and an open under way, so the next `get` reconnects (after libvirtd restarted, or stopped answering). */
  async reset(): Promise<void> {
    const hv = this.hypervisor;
    this.hypervisor = undefined;
    this.opening = undefined;
    this.generation++;
    // The calls after a reset get a queue of their own, once: a call under way may never settle
    // (a lookup in flight when libvirtd stopped never settled after it came back, testbed
    // libvirt-lifecycle: a daemon thread kept running, libvirt's client spinning by the look of
    // it), and every later call queued behind it would wait
    // for good, so the daemon never reconnected. A reset while a queue left behind still has a
    // call under way keeps this one: at most two calls, two threadpool threads, are in libvirt.
    if (this.pending > 0 && !this.leftBehind) {
      this.leftBehind = true;
      void this.queue.then(() => (this.leftBehind = false));
      this.queue = Promise.resolve();
    }
    if (!hv) return;
    if (this.inUse.has(hv)) {
      this.closeWhenIdle.add(hv);
      return;
    }
    await closeQuietly(hv);
  }

  async close(): Promise<void> {
    await this.reset();
  }
}

/** Closes a handle; the peer may be gone (nothing to release but our handle) or hung: never waits on it for long. */
async function closeQuietly(hv: Hypervisor): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    hv.connectClose().catch(() => undefined),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS))),
  ]);
  clearTimeout(timer);
}

async function openHypervisor(uri: string): Promise<Hypervisor> {
  const hv = new Hypervisor({ uri });
  await hv.connectOpen();
  return hv;
}
