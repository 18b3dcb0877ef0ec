/**
 * Keeps the daemon's automatic per-domain projects in step with libvirt:
 * every running domain whose <metadata> policy is enabled has a started
 * project `domain-<uuid>` (src/virt/domain-tasks.ts), and nothing else
 * does. It is driven by the qemu hook (at once) and by the polling
 * follower (to heal missed events and pick up policy edits without a
 * restart). Objects go through the registry like a config file's, so the
 * same validation and all-or-nothing rules hold.
 *
 * User-configured `type=domain` tasks are not touched here: they follow
 * their domain through `resolvePids` and wait while it is down.
 */
import type { HostFacts } from '../config/types.js';
import { projectConfig } from '../config/units.js';
import type { Logger } from '../log.js';
import type { NumaTopology } from '../platform/numa-topology.js';
import { domainProjectName, domainTasksFromPolicy, type DomainObjects } from '../virt/domain-tasks.js';
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

export class DomainSync {
  /** uuid -> the objects applied for it, as JSON, to notice policy edits */
  private readonly applied = new Map<string, string>();
  private readonly mutex = new Mutex();
  /** the last error per domain name, for status */
  readonly errors = new Map<string, string>();

  constructor(private readonly opts: DomainSyncOptions) {}

  /** Brings the automatic projects in line with `domains` (the complete list of running domains). */
  sync(domains: DomainFacts[]): Promise<void> {
    return this.mutex.run(async () => {
      const { objects, errors } = domainTasksFromPolicy(domains, { host: await this.opts.hostFacts(), defaultNodePair: this.opts.defaultNodePair });
      this.errors.clear();
      for (const e of errors) {
        this.errors.set(e.domain, e.error.message);
        this.opts.log.warn('domain policy not applied', { domain: e.domain, error: e.error.message });
      }
      const wanted = new Map(objects.map((o) => [o.domain.uuid, o]));
      for (const uuid of [...this.applied.keys()]) {
        const o = wanted.get(uuid);
        if (!o || JSON.stringify(this.key(o)) !== this.applied.get(uuid)) await this.remove(uuid);
      }
      for (const [uuid, o] of wanted) {
        if (!this.applied.has(uuid)) await this.add(o);
      }
    });
  }

  /** A hook event about one domain: resync from libvirt's current list. */
  async resync(): Promise<void> {
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
    await this.sync(domains!);
  }

  /** The UUIDs of the domains tiered automatically right now. */
  managedDomains(): string[] {
    return [...this.applied.keys()];
  }

  private key(o: DomainObjects): unknown {
    return { project: o.project, engine: o.engine, task: o.task };
  }

  private async add(o: DomainObjects): Promise<void> {
    const project = o.project.name;
    try {
      await this.opts.registry.add({ projects: [o.project], engines: [o.engine], tasks: [o.task] });
      await this.opts.registry.start(project);
      this.applied.set(o.domain.uuid, JSON.stringify(this.key(o)));
      this.opts.log.info('domain tiered by its policy', { domain: o.domain.name, project, engine: o.engine.name });
    } catch (err) {
      this.errors.set(o.domain.name, (err as Error).message);
      this.opts.log.warn('domain policy not applied', { domain: o.domain.name, error: (err as Error).message });
    }
  }

  private async remove(uuid: string): Promise<void> {
    const project = domainProjectName(uuid);
    this.applied.delete(uuid);
    try {
      await this.opts.registry.del({ projects: [projectConfig({ name: project, loop: 1, interval: 1, sleep: 1 })], engines: [], tasks: [] });
      this.opts.log.info('domain no longer tiered', { project });
    } catch (err) {
      // Already removed by hand (obj del): nothing to do.
      this.opts.log.debug('automatic project already gone', { project, error: (err as Error).message });
    }
  }
}
