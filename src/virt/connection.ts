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

  constructor(readonly uri: string = DEFAULT_LIBVIRT_URI) {}

  /** The open connection, opening it first when needed. Throws OPT_UNAVAILABLE naming the URI. */
  async get(): Promise<Hypervisor> {
    if (this.hypervisor) return this.hypervisor;
    const generation = this.generation;
    const opening = (this.opening ??= (async () => {
      const hv = new Hypervisor({ uri: this.uri });
      try {
        await hv.connectOpen();
      } catch (err) {
        throw new VirtTierError('OPT_UNAVAILABLE', `cannot connect to libvirt at ${this.uri}: ${libvirtMessage(err)}`, {
          field: '--connect',
          value: this.uri,
        });
      }
      if (this.generation !== generation) {
        await hv.connectClose().catch(() => undefined);
        throw new VirtTierError('OPT_UNAVAILABLE', `libvirt at ${this.uri}: the connection was reset while it opened`, { field: '--connect', value: this.uri });
      }
      this.hypervisor = hv;
      return hv;
    })().finally(() => {
      if (this.opening === opening) this.opening = undefined;
    }));
    return opening;
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
    if (!hv) return;
    // The peer may be gone (nothing to release but our handle) or hung: never wait on it for long.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      hv.connectClose().catch(() => undefined),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS).unref())),
    ]);
    clearTimeout(timer);
  }

  async close(): Promise<void> {
    await this.reset();
  }
}
