/**
 * Optional components, wired by the daemon when their parts exist on this
 * host: built-in engines with their tracker and mover, libvirt discovery
 * and the qemu hook's events, the stats feed. Each contributes handlers and
 * a close() for shutdown.
 */
import type { Handler } from '../api/server.js';
import { createCslideEngineFactory } from '../engines/cslide.js';
import { platformHostInfo } from '../engines/host-info.js';
import { registerEngineFactory } from '../engines/registry.js';
import { createSlideEngineFactory } from '../engines/slide.js';
import type { Logger } from '../log.js';
import type { Registry } from '../model/registry.js';
import { PageMover } from '../mover/mover.js';
import { createTracker, type TrackerChoice } from '../scan/choose-tracker.js';

export interface WiringContext {
  log: Logger;
  registry: Registry;
  socketName: string;
  /** `auto` probes the kernel per task; a name forces that backend */
  tracker: TrackerChoice;
}

/** The built-in engines, with the tracker the kernel offers and the one mover. */
export function registerBuiltinEngines(tracker: TrackerChoice): void {
  const deps = {
    trackerFactory: (engine: 'slide' | 'cslide') => createTracker(tracker, engine),
    mover: new PageMover(),
    hostInfo: platformHostInfo(),
  };
  registerEngineFactory('slide', createSlideEngineFactory(deps));
  registerEngineFactory('cslide', createCslideEngineFactory(deps));
}

export interface WiredComponents {
  handlers: Record<string, Handler>;
  close(): Promise<void>;
}

export async function wireComponents(ctx: WiringContext): Promise<WiredComponents> {
  registerBuiltinEngines(ctx.tracker);
  const closers: Array<() => Promise<void>> = [];
  const handlers: Record<string, Handler> = {};
  return {
    handlers,
    async close() {
      for (const c of closers.reverse()) await c().catch(() => undefined);
    },
  };
}
