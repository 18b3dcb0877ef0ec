/**
 * Optional components, wired by the daemon when their parts exist on this
 * host: built-in engines with their tracker and mover, libvirt discovery
 * and the qemu hook's events, the stats feed. Each contributes handlers and
 * a close() for shutdown.
 */
import type { Handler } from '../api/server.js';
import type { Logger } from '../log.js';
import type { Registry } from '../model/registry.js';

export interface WiringContext {
  log: Logger;
  registry: Registry;
  socketName: string;
}

export interface WiredComponents {
  handlers: Record<string, Handler>;
  close(): Promise<void>;
}

export async function wireComponents(_ctx: WiringContext): Promise<WiredComponents> {
  const closers: Array<() => Promise<void>> = [];
  const handlers: Record<string, Handler> = {};
  return {
    handlers,
    async close() {
      for (const c of closers.reverse()) await c().catch(() => undefined);
    },
  };
}
