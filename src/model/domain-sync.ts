/**
 * Keeps the daemon's automatic tasks in step with libvirt: every running
 * domain whose <metadata> policy is enabled has a task `domain-<uuid>` in
 * the host-wide project of its settings group (`auto-cslide`, ...: see
 * src/virt/domain-tasks.ts), so guests of one group share one engine's
 * DRAM budget and quota; a group's project is added (and started) with its
 * first guest and deleted with its last. It is driven by the qemu hook (at once) and by the polling
 * follower (to heal missed events and pick up policy edits without a
 * restart). Objects go through the registry like a config file's, so the
 * same validation and all-or-nothing rules hold.
 *
 * User-configured `type=domain` tasks are not touched here: they follow
 * their domain through `resolvePids` and wait while it is down.
 */
import type { HostFacts } from '../config/types.js';
import type { Logger } from '../log.js';
import type { NumaTopology } from '../platform/numa-topology.js';
import { VirtTierError } from '../errors.js';
import { domainTasksFromPolicy, type DomainObjects } from '../virt/domain-tasks.js';
import type { Registry } from './registry.js';
import { Mutex } from './mutex.js';

export interface DomainFacts {
  name: string;
  uuid: string;
  xml: string;
  memoryBytes: number;
}

export interface DomainSyncOptions {
  registry: Registry;
  log: Logger;
  hostFacts(): HostFacts | Promise<HostFacts>;
  /** cslide's node_pair when a policy leaves it out; undefined when the host has no memory-only node */
  defaultNodePair?: string;
  /** cslide's node_hot_reserve (MB) when a policy leaves it out (domain-tasks.ts) */
  defaultHotReserveMb?: number;
  /** the running domains (libvirt), for syncs triggered by hook events */
  listRunning(): Promise<DomainFacts[]>;
}

/**
 * Pairs each memory-only node with its nearest node that has CPUs, each
 * DRAM node used once (cslide's `node_pair` forbids a node twice):
 * `0,2;1,3` on the testbed. Undefined when no pair can be made.
 */
export function defaultNodePair(topology: NumaTopology): string | undefined {
  const dram = topology.nodes.filter((n) => n.cpus.length > 0);
  const slow = topology.nodes.filter((n) => n.cpus.length === 0);
  const used = new Set<number>();
  const pairs: string[] = [];
  for (const s of slow) {
    const index = topology.nodes.indexOf(s);
    const nearest = dram
      .filter((d) => !used.has(d.id))
      .sort((a, b) => (a.distances[index] ?? 255) - (b.distances[index] ?? 255) || a.id - b.id)[0];
    if (!nearest) break;
    used.add(nearest.id);
    pairs.push(`${nearest.id},${s.id}`);
  }
  return pairs.length > 0 ? pairs.join(';') : undefined;
}

/** The largest DRAM node's memory in MB: the host-wide engines' default node_hot_reserve. */
export function largestDramNodeMb(topology: NumaTopology): number | undefined {
  const dram = topology.nodes.filter((n) => n.cpus.length > 0 && n.memTotalBytes > 0);
  if (dram.length === 0) return undefined;
  return Math.ceil(Math.max(...dram.map((n) => n.memTotalBytes)) / (1 << 20));
}

/** Where a domain's task lives, and the objects it was added from (as JSON, to notice policy edits). */
interface Placement {
  project: string;
  engine: string;
  task: string;
  json: string;
}

export class DomainSync {
  /** uuid -> its task's place */
  private readonly applied = new Map<string, Placement>();
  /** group project -> the uuids whose tasks it holds */
  private readonly groups = new Map<string, Set<string>>();
  private readonly mutex = new Mutex();
  /** listings begun (each resync's and each sync's), and the latest applied */
  private listingsBegun = 0;
  private latestApplied = 0;
  /** the last error per domain name, for status */
  readonly errors = new Map<string, string>();

  constructor(private readonly opts: DomainSyncOptions) {}

  /** Brings the automatic tasks in line with `domains` (the complete list of running domains, as of now). */
  sync(domains: DomainFacts[]): Promise<void> {
    return this.apply(domains, ++this.listingsBegun);
  }

  /**
   * Applies listing number `listing`, unless a listing begun after it was
   * applied already: listings run outside the mutex and a slow one (libvirt
   * on a loaded host: seconds) can end after a later one. A timer's listing
   * that read a policy before `virt-tier policy --set --live` changed it
   * would otherwise undo the edit that domain.sync applied, until the next
   * tick, or for as long as libvirtd is then down.
   */
  private apply(domains: DomainFacts[], listing: number): Promise<void> {
    return this.mutex.run(async () => {
      if (listing < this.latestApplied) {
        this.opts.log.debug('domain listing dropped: a later one was applied', { listing, applied: this.latestApplied });
        return;
      }
      this.latestApplied = listing;
      const { objects, errors } = domainTasksFromPolicy(domains, {
        host: await this.opts.hostFacts(),
        defaultNodePair: this.opts.defaultNodePair,
        defaultHotReserveMb: this.opts.defaultHotReserveMb,
      });
      this.errors.clear();
      for (const e of errors) {
        this.errors.set(e.domain, e.error.message);
        this.opts.log.warn('domain policy not applied', { domain: e.domain, error: e.error.message });
      }
      // A group project deleted by hand (obj del) is added again: the domains' policies say what is tiered.
      const live = new Set(this.opts.registry.show().map((p) => p.name));
      for (const project of [...this.groups.keys()]) if (!live.has(project)) this.forgetGroup(project);
      const wanted = new Map(objects.map((o) => [o.domain.uuid, o]));
      for (const uuid of [...this.applied.keys()]) {
        const o = wanted.get(uuid);
        if (!o || this.json(o) !== this.applied.get(uuid)!.json) await this.remove(uuid);
      }
      for (const [uuid, o] of wanted) {
        if (!this.applied.has(uuid)) await this.add(o);
      }
    });
  }

  /** A hook event about one domain: resync from libvirt's current list. */
  async resync(): Promise<void> {
    const listing = ++this.listingsBegun;
    let domains: DomainFacts[] | undefined;
    // A shared connection dies when libvirtd restarts; the listing resets it, so one retry reconnects.
    for (let attempt = 1; attempt <= 2 && domains === undefined; attempt++) {
      try {
        domains = await this.opts.listRunning();
      } catch (err) {
        if (attempt === 2) {
          this.opts.log.warn('cannot list domains; the next poll retries', { error: (err as Error).message });
          return;
        }
        this.opts.log.debug('listing domains failed; reconnecting', { error: (err as Error).message });
      }
    }
    this.opts.log.debug('domains listed', { running: domains!.length });
    await this.apply(domains!, listing);
  }

  /** The UUIDs of the domains tiered automatically right now. */
  managedDomains(): string[] {
    return [...this.applied.keys()];
  }

  /** uuid -> the project, engine and task that tier it. */
  placements(): Record<string, { project: string; engine: string; task: string }> {
    return Object.fromEntries([...this.applied].map(([uuid, p]) => [uuid, { project: p.project, engine: p.engine, task: p.task }]));
  }

  private json(o: DomainObjects): string {
    return JSON.stringify({ group: o.groupKey, project: o.project.name, task: o.task });
  }

  /** Forgets a group whose project is gone (deleted by hand): its guests are added again by this or the next sync. */
  private forgetGroup(project: string): void {
    for (const uuid of this.groups.get(project) ?? []) this.applied.delete(uuid);
    this.groups.delete(project);
  }

  private async add(o: DomainObjects): Promise<void> {
    const project = o.project.name;
    try {
      if (this.groups.has(project)) {
        try {
          await this.opts.registry.add({ projects: [], engines: [], tasks: [o.task] });
        } catch (err) {
          if (!(err instanceof VirtTierError) || (err.code !== 'OPT_PRO_NOEXIST' && err.code !== 'OPT_ENG_NOEXIST')) throw err;
          this.opts.log.info('host-wide project was deleted; adding it again', { project });
          this.forgetGroup(project);
        }
      }
      if (!this.groups.has(project)) {
        try {
          await this.opts.registry.add({ projects: [o.project], engines: [o.engine], tasks: [o.task] });
        } catch (err) {
          if (err instanceof VirtTierError && err.code === 'OPT_PRO_EXISTED') {
            throw new VirtTierError('OPT_PRO_EXISTED', `project "${project}" exists and was not added by --auto-domains (a config file's?): rename it; the auto-<engine> names are the daemon's`, { field: 'project.name', value: project });
          }
          throw err;
        }
        this.groups.set(project, new Set());
        await this.opts.registry.start(project);
      }
      this.groups.get(project)!.add(o.domain.uuid);
      this.applied.set(o.domain.uuid, { project, engine: o.task.engine, task: o.task.name, json: this.json(o) });
      this.opts.log.info('domain tiered by its policy', { domain: o.domain.name, project, engine: o.engine.name, task: o.task.name });
    } catch (err) {
      this.errors.set(o.domain.name, (err as Error).message);
      this.opts.log.warn('domain policy not applied', { domain: o.domain.name, error: (err as Error).message });
    }
  }

  private async remove(uuid: string): Promise<void> {
    const placement = this.applied.get(uuid)!;
    this.applied.delete(uuid);
    const members = this.groups.get(placement.project);
    members?.delete(uuid);
    const last = members === undefined || members.size === 0;
    try {
      if (last) {
        this.groups.delete(placement.project);
        await this.opts.registry.del({ projects: [{ name: placement.project }], engines: [], tasks: [] });
        this.opts.log.info('domain no longer tiered; its host-wide project had no other guest', { project: placement.project, task: placement.task });
      } else {
        await this.opts.registry.del({ projects: [], engines: [], tasks: [{ project: placement.project, engine: placement.engine, name: placement.task }] });
        this.opts.log.info('domain no longer tiered', { project: placement.project, task: placement.task });
      }
    } catch (err) {
      // Already removed by hand (obj del): nothing to do.
      this.opts.log.debug('automatic task already gone', { project: placement.project, task: placement.task, error: (err as Error).message });
    }
  }
}
