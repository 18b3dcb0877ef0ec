/**
 * One libvirt connection through @unraid/libvirt (ESM, node-addon-api;
 * hooklift's node-libvirt no longer builds on Node 20), opened lazily and
 * reopened after a failure: libvirtd may restart under a running daemon.
 */
import { Hypervisor } from '@unraid/libvirt';
import { VirtTierError } from '../errors.js';

/** The URI used when none is given (`--connect`, `libvirt_uri`): the system QEMU driver, as virsh run by root. */
export const DEFAULT_LIBVIRT_URI = 'qemu:///system';

/** The libvirt error text without the binding's decoration. */
export function libvirtMessage(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.replace(/\s+/g, ' ').trim();
}

export class VirtConnection {
  private hypervisor: Hypervisor | undefined;
  private opening: Promise<Hypervisor> | undefined;

  constructor(readonly uri: string = DEFAULT_LIBVIRT_URI) {}

  /** The open connection, opening it first when needed. Throws OPT_UNAVAILABLE naming the URI. */
  async get(): Promise<Hypervisor> {
    if (this.hypervisor) return this.hypervisor;
    this.opening ??= (async () => {
      const hv = new Hypervisor({ uri: this.uri });
      try {
        await hv.connectOpen();
      } catch (err) {
        throw new VirtTierError('OPT_UNAVAILABLE', `cannot connect to libvirt at ${this.uri}: ${libvirtMessage(err)}`, {
          field: '--connect',
          value: this.uri,
        });
      }
      this.hypervisor = hv;
      return hv;
    })().finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  /** True when a connection is open (it may still have died underneath: calls then fail and `reset` drops it). */
  get isOpen(): boolean {
    return this.hypervisor !== undefined;
  }

  /** Drops the connection so the next `get` reconnects (after libvirtd restarted). */
  async reset(): Promise<void> {
    const hv = this.hypervisor;
    this.hypervisor = undefined;
    if (hv) {
      try {
        await hv.connectClose();
      } catch {
        // the peer is already gone; nothing to release but our handle
      }
    }
  }

  async close(): Promise<void> {
    await this.reset();
  }
}
