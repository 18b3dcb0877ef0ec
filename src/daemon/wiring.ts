/**
 * Optional components, wired by the daemon when their parts exist on this
 * host: built-in engines with their tracker and mover, libvirt discovery
 * and the qemu hook's events, the stats feed. Each contributes handlers and
 * a close() for shutdown.
 */
import type { Handler } from '../api/server.js';
import type { EngineTask } from '../runner/engine.js';
import { createCslideEngineFactory } from '../runner/cslide.js';
import { platformHostInfo } from '../runner/host-info.js';
import type { EngineFactories } from '../runner/registry.js';
import { PidClaims, type HeldPids } from '../runner/cycle-runner.js';
import { createSlideEngineFactory } from '../runner/slide.js';
import { createDamonEngineFactory } from '../runner/damon-engine.js';
import type { Logger } from '../log.js';
import type { Registry } from '../model/registry.js';
import { PageMover } from '../mover/mover.js';
import { createTracker, type TrackerChoice } from '../scan/choose-tracker.js';
import { DomainSync, defaultNodePair, largestDramNodeMb } from '../model/domain-sync.js';
import { readHostFacts } from '../model/host-facts.js';
import { createTargetResolver, type TargetResolver } from '../model/targets.js';
import { liveIO } from '../platform/io.js';
import { readNumaTopology } from '../platform/numa-topology.js';
import type { VirtConnection } from '../virt/connection.js';
import type { domainPidResolver, listRunningDomains } from '../virt/discovery.js';
import { handleHookEvent } from '../virt/hook-events.js';
import { MigrationHolds } from '../virt/migration-holds.js';
import { ScanObserver } from '../feed/scan-observer.js';
import { migrationHandlers } from '../migration/access-handler.js';
import { heatReportHandlers } from '../feed/report-handler.js';

/** How often libvirt's domain states are re-read for the holds (paused guests), ms. */
const HOLDS_REFRESH_MS = 2000;

export interface WiringContext {
  log: Logger;
  registry: Registry;
  /** this daemon's engine factories: the built-ins are registered here */
  engines: EngineFactories;
  socketName: string;
  /** `auto` probes the kernel per task; a name forces that backend */
  tracker: TrackerChoice;
  libvirt: {
    /** false: no libvirt at all (type=domain tasks never resolve) */
    enabled: boolean;
    uri: string;
    /** every running domain with an enabled policy becomes a project */
    autoDomains: boolean;
    /** how often the automatic projects are reconciled with libvirt */
    syncIntervalMs: number;
  };
  /** the stats feed; undefined = not served */
  feed?: { host: string; port: number; token?: string; allowHosts?: string[] };
  /** the connection createTargets made for the registry's resolver; wiring closes it */
  connection?: VirtConnection | null;
}

/** What the wiring uses of src/virt's libvirt side. */
interface LibvirtParts {
  connection: VirtConnection;
  domainPidResolver: typeof domainPidResolver;
  listRunningDomains: typeof listRunningDomains;
}

/**
 * The libvirt bindings (and the XML packages they load) are imported only
 * when libvirt is used: a --no-libvirt daemon never runs them. The
 * connection itself opens on its first use.
 */
async function libvirtParts(uri: string, connection?: VirtConnection | null): Promise<LibvirtParts> {
  const [{ VirtConnection }, discovery] = await Promise.all([import('../virt/connection.js'), import('../virt/discovery.js')]);
  return { connection: connection ?? new VirtConnection(uri), domainPidResolver: discovery.domainPidResolver, listRunningDomains: discovery.listRunningDomains };
}

/**
 * The target resolver the registry runs tasks with, and the libvirt
 * connection its type=domain lookups use (null without libvirt). Built
 * before the registry; the same connection is then given to wireComponents.
 */
export async function createTargets(libvirt: { enabled: boolean; uri: string }): Promise<{ targets: TargetResolver; connection: VirtConnection | null }> {
  const virt = libvirt.enabled ? await libvirtParts(libvirt.uri) : null;
  return { targets: createTargetResolver({ domainPid: virt ? virt.domainPidResolver(virt.connection) : null }), connection: virt?.connection ?? null };
}

/**
 * The built-in engines, with the tracker the kernel offers and the one
 * mover. Every tracker is wrapped by the scan observer, which keeps scan
 * timing, heat strips and the last access counts for the feed and for
 * migrate-hints.
 */
export function registerBuiltinEngines(engines: EngineFactories, tracker: TrackerChoice, scans: ScanObserver, heldPids?: HeldPids): void {
  const deps = {
    trackerFactory: (engine: 'slide' | 'cslide', task: EngineTask) => scans.wrapTracker(task, createTracker(tracker, engine)),
    mover: new PageMover(),
    hostInfo: platformHostInfo(),
    // one claim set for every engine of this daemon: two tasks never scan one process at once
    pidClaims: new PidClaims(),
    // guests that migrate are left alone: moves would compete with the migration for memory bandwidth
    heldPids,
  };
  engines.register('slide', createSlideEngineFactory(deps));
  engines.register('cslide', createCslideEngineFactory(deps));
  // etmem's damon engine: the kernel acts (DAMOS), through the same DAMON owner as the DAMON trackers.
  engines.register('damon', createDamonEngineFactory());
}

export interface WiredComponents {
  handlers: Record<string, Handler>;
  close(): Promise<void>;
}

export async function wireComponents(ctx: WiringContext): Promise<WiredComponents> {
  const scans = new ScanObserver();
  const virt = ctx.libvirt.enabled ? await libvirtParts(ctx.libvirt.uri, ctx.connection) : null;
  const holds = new MigrationHolds({ listDomains: virt ? () => virt.listRunningDomains({ connection: virt.connection }) : undefined });
  registerBuiltinEngines(ctx.engines, ctx.tracker, scans, holds);
  const closers: Array<() => Promise<void>> = [];
  const handlers: Record<string, Handler> = { ...migrationHandlers(scans), ...heatReportHandlers(scans) };
  if (virt) Object.assign(handlers, await wireLibvirt(ctx, virt, holds, closers));
  if (ctx.feed) {
    // Loaded only with --http: the feed server pulls in ws, which a daemon without a feed never uses.
    const { startFeedServer } = await import('../feed/server.js');
    const feed = await startFeedServer({
      registry: ctx.registry,
      scans,
      listen: { host: ctx.feed.host, port: ctx.feed.port },
      token: ctx.feed.token,
      allowHosts: ctx.feed.allowHosts,
      log: ctx.log,
    });
    ctx.log.info('stats feed listening', { url: feed.url });
    closers.push(() => feed.close());
  }
  return {
    handlers,
    async close() {
      for (const c of closers.reverse()) await c().catch(() => undefined);
    },
  };
}

/**
 * After a qemu hook event: the holds' listing first, then the resync that may
 * add the domain's project, so the new task's first round already sees the
 * guest paused (an incoming migration) and is held; both at once let that
 * round race the listing. A failed refresh keeps its last answer and still resyncs.
 */
export async function refreshThenResync(holds: Pick<MigrationHolds, 'refresh'>, sync: Pick<DomainSync, 'resync'> | undefined): Promise<void> {
  await holds.refresh();
  if (sync) await sync.resync();
}

/**
 * The periodic domain sync: each tick refreshes the holds before the resync
 * that may add a project, as a hook event does, so a task the timer adds
 * (an event missed, a guest started before the daemon) is held from its
 * first round when its guest is paused. A tick while one runs shares it:
 * the next tick heals what that one's listing missed.
 */
export function domainSyncTicker(holds: Pick<MigrationHolds, 'refresh'>, sync: Pick<DomainSync, 'resync'>): { tick(): void; idle(): Promise<void> } {
  let running: Promise<void> | undefined;
  return {
    tick: () => {
      running ??= refreshThenResync(holds, sync).finally(() => (running = undefined));
    },
    idle: async () => {
      await running;
    },
  };
}

/**
 * libvirt: type=domain tasks resolve through one shared connection; the
 * qemu hook's events are validated and answered at once (the hook waits
 * at most 80 ms), and with --auto-domains they trigger a resync of the
 * automatic tasks (one host-wide project per settings group), which a timer also runs to heal missed
 * events and pick up policy edits. libvirtd being down is not fatal: the
 * connection is retried on the next use.
 */
async function wireLibvirt(ctx: WiringContext, virt: LibvirtParts, holds: MigrationHolds, closers: Array<() => Promise<void>>): Promise<Record<string, Handler>> {
  const { log } = ctx;
  const { connection, listRunningDomains } = virt;
  closers.push(() => connection.close());
  // Paused guests (an incoming migration before libvirt's Finish, a source after its migration) are held;
  // their states come from this poll and from the hook's events. Migrations themselves are seen live.
  void holds.refresh();
  const holdTimer = setInterval(() => void holds.refresh(), Math.min(ctx.libvirt.syncIntervalMs, HOLDS_REFRESH_MS));
  closers.push(async () => clearInterval(holdTimer));

  let sync: DomainSync | undefined;
  if (ctx.libvirt.autoDomains) {
    const topology = await readNumaTopology(liveIO);
    sync = new DomainSync({
      registry: ctx.registry,
      log,
      hostFacts: () => readHostFacts(),
      defaultNodePair: defaultNodePair(topology),
      defaultHotReserveMb: largestDramNodeMb(topology),
      listRunning: () => listRunningDomains({ connection }),
    });
    const ticker = domainSyncTicker(holds, sync);
    ticker.tick();
    const timer = setInterval(ticker.tick, ctx.libvirt.syncIntervalMs);
    closers.push(async () => {
      clearInterval(timer);
      await ticker.idle();
    });
  }
  // Never wait for libvirtd at start: a hung libvirtd must not stop the daemon from serving.
  connection.get().then(
    () => log.info('libvirt connected', { uri: ctx.libvirt.uri, autoDomains: ctx.libvirt.autoDomains }),
    (err: Error) => log.warn('libvirt not reachable now; domain tasks wait for it', { uri: ctx.libvirt.uri, error: err.message }),
  );
  return {
    'hook.event': (args) => {
      const decision = handleHookEvent(args, { auto: ctx.libvirt.autoDomains });
      log.info('qemu hook event', { ...decision });
      // Answer first: the hook must return within its budget whatever the resync costs.
      // A migrate/started event on the destination: the paused guest is held until libvirt resumes it.
      if (decision.action !== 'ignore') setImmediate(() => void refreshThenResync(holds, sync));
      return decision;
    },
    // `virt-tier policy --set --live` asks for this after writing a running domain's metadata, so an
    // edit takes effect now rather than at the next poll (which still heals a call that never came).
    'domain.sync': async () => {
      if (!sync) return { autoDomains: false, synced: false };
      await sync.resync();
      return { autoDomains: true, synced: true, managed: sync.managedDomains(), errors: Object.fromEntries(sync.errors) };
    },
    'domain.sync.status': () => ({ autoDomains: ctx.libvirt.autoDomains, managed: sync?.managedDomains() ?? [], placements: sync?.placements() ?? {}, errors: Object.fromEntries(sync?.errors ?? []), pausedPids: holds.paused() }),
  };
}
