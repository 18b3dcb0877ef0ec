/**
 * The "auto" setting: every running domain whose <metadata> policy is
 * enabled becomes a task (type=domain, value=UUID, named `domain-<UUID>`)
 * the daemon adds like objects from a config file. Guests share engines:
 * all guests whose policies give the same project and engine settings
 * (loop, interval, node pairs, quota, reserve, thresholds...) join ONE
 * project and engine, so the DRAM budget and the migration quota are the
 * engine's, shared across them (etmem plans all of an engine's tasks
 * together). The group of the default settings is `auto-<engine>`; other
 * groups are `auto-<engine>-<8 hex of their settings>`. The policy's values
 * went through the config file's section readers once (policy.ts); the
 * objects are built from those parsed values and the same factories
 * (src/config/units.ts), so they are exactly as valid as a file's.
 */
import { createHash } from 'node:crypto';
import { VirtTierError } from '../errors.js';
import { INT32_MAX, parseDomain, parseName } from '../config/fields.js';
import type { RawSection } from '../config/raw.js';
import { SectionReader } from '../config/section-reader.js';
import { cslideEngineFields } from '../config/sections.js';
import type { EngineConfig, HostFacts, NodePair, ProjectConfig, TaskConfig } from '../config/types.js';
import { cslideEngineConfig, projectConfig } from '../config/units.js';
import { parsePolicy, parsePolicyFromDomainXml, type DomainPolicy, type ParsedPolicy } from './policy.js';

export interface DomainObjects {
  domain: { name: string; uuid: string };
  policy: DomainPolicy;
  /** the group's project and engine: the same objects for every guest of the group */
  project: ProjectConfig;
  engine: EngineConfig;
  /** the group's settings, canonical: guests with equal keys share the project and engine */
  groupKey: string;
  task: TaskConfig;
}

export interface DomainTasksResult {
  objects: DomainObjects[];
  /** domains whose policy is invalid or cannot apply on this host; nothing is added for them */
  errors: Array<{ domain: string; error: VirtTierError }>;
}

export interface DomainTasksOptions {
  host: HostFacts;
  /**
   * cslide's node_pair when a policy leaves it out, e.g. "0,2;1,3": DRAM
   * nodes paired with memory-only nodes (the daemon knows the topology).
   * Without it, a cslide policy must name its node_pair.
   */
  defaultNodePair?: string;
  /**
   * cslide's node_hot_reserve (MB) when a policy leaves it out: the
   * largest DRAM node's memory, so that every cold page is demoted (free
   * DRAM never reaches the reserve) while hot pages are promoted whatever
   * the reserve (etmem's rule). Without it, INT32_MAX MB: the same effect.
   */
  defaultHotReserveMb?: number;
}

/** The task name of a domain's task: stable across restarts and renames. */
export function domainTaskName(uuid: string): string {
  return `domain-${uuid}`;
}

/** The project of a group of guests: `auto-<engine>` for the default settings, else with a hash of the settings. */
export function groupProjectName(engine: string, groupKey: string, defaultKey: string | undefined): string {
  if (groupKey === defaultKey) return `auto-${engine}`;
  return `auto-${engine}-${createHash('sha256').update(groupKey).digest('hex').slice(0, 8)}`;
}

function rawSection(kind: RawSection['kind'], label: string, entries: Record<string, string>): RawSection {
  return { kind, index: 0, label, entries: new Map(Object.entries(entries).map(([k, v]) => [k, { value: v }])) };
}

/** A group's project and engine settings, resolved against the host: equal keys mean one shared engine. */
interface GroupSettings {
  project: ParsedPolicy['project'];
  engine: 'slide' | 'cslide';
  cslide?: Omit<NonNullable<ParsedPolicy['cslide']>, 'node_pair' | 'node_hot_reserve'> & { node_pair: NodePair[]; node_hot_reserve: number };
}

function groupSettings(parsed: ParsedPolicy, label: string, opts: DomainTasksOptions): GroupSettings {
  const { policy } = parsed;
  if (policy.engine !== 'cslide') return { project: parsed.project, engine: 'slide' };
  const cslide = parsed.cslide!;
  let nodePair = cslide.node_pair;
  if (nodePair === undefined) {
    if (opts.defaultNodePair === undefined) {
      throw new VirtTierError('OPT_INVAL', `${label}.node_pair: not set, and this host has no memory-only NUMA node to pair with by default`, {
        field: `${label}.node_pair`,
        allowed: 'DRAM,AEP[;DRAM,AEP...]',
      });
    }
    const reader = new SectionReader(rawSection('engine', label, { node_pair: opts.defaultNodePair }));
    nodePair = reader.required('node_pair', cslideEngineFields(opts.host).node_pair);
  }
  const reserveMb = cslide.node_hot_reserve ?? Math.min(INT32_MAX, Math.max(1, opts.defaultHotReserveMb ?? INT32_MAX));
  return { project: parsed.project, engine: 'cslide', cslide: { ...cslide, node_pair: nodePair, node_hot_reserve: reserveMb } };
}

/**
 * The config objects for one domain with an enabled policy, from the
 * policy's parsed values (nothing is parsed twice); throws VirtTierError
 * naming the domain and key.
 */
export function objectsForDomain(name: string, uuid: string, parsed: ParsedPolicy, opts: DomainTasksOptions): DomainObjects {
  const { policy } = parsed;
  const label = `domain ${JSON.stringify(name)} policy`;
  const taskName = domainTaskName(uuid);
  // The names come from libvirt's UUID: checked as a file's would be.
  const names = new SectionReader(rawSection('task', label, { name: taskName, value: uuid }));
  names.required('name', (t) => parseName(t));
  names.required('value', parseDomain);

  const settings = groupSettings(parsed, label, opts);
  const groupKey = JSON.stringify(settings);
  // The default group: what a policy naming only its engine gets on this host (none without a default node pair).
  let defaultKey: string | undefined;
  try {
    defaultKey = JSON.stringify(groupSettings(parsePolicy(name, { engine: policy.engine }, opts.host), label, opts));
  } catch {
    defaultKey = undefined;
  }
  const projectName = groupProjectName(policy.engine, groupKey, defaultKey);
  const project = projectConfig({ name: projectName, ...parsed.project, source: { section: 'project', index: 0 } });

  const engineSource = { section: 'engine', index: 0 } as const;
  let engine: EngineConfig;
  if (settings.cslide) {
    const c = settings.cslide;
    engine = cslideEngineConfig({
      project: projectName,
      name: 'cslide',
      node_pair: c.node_pair,
      hot_threshold: c.hot_threshold,
      node_mig_quota: c.node_mig_quota,
      node_hot_reserve: c.node_hot_reserve,
      ...c.extras,
      source: engineSource,
    });
  } else {
    engine = { project: projectName, name: 'slide', source: engineSource };
  }
  const task: TaskConfig = {
    project: projectName,
    engine: policy.engine,
    name: taskName,
    type: 'domain',
    value: uuid,
    params: parsed.taskParams,
    source: { section: 'task', index: 0 },
  };
  return { domain: { name, uuid }, policy, project, engine, groupKey, task };
}

/**
 * Turns running domains into the objects the daemon adds for them: those
 * with an enabled policy only. A domain whose policy is invalid lands in
 * `errors` (the rest still apply: one VM's bad metadata must not stop
 * tiering for the others).
 */
export function domainTasksFromPolicy(
  domains: ReadonlyArray<{ name: string; uuid: string; xml: string; memoryBytes: number }>,
  opts: DomainTasksOptions,
): DomainTasksResult {
  const result: DomainTasksResult = { objects: [], errors: [] };
  for (const d of domains) {
    try {
      const parsed = parsePolicyFromDomainXml(d.xml, opts.host, d.name);
      if (!parsed?.policy.enabled) continue;
      result.objects.push(objectsForDomain(d.name, d.uuid, parsed, opts));
    } catch (err) {
      const error = err instanceof VirtTierError ? err : new VirtTierError('OPT_INTER_ERR', `domain ${JSON.stringify(d.name)}: ${(err as Error).message}`);
      result.errors.push({ domain: d.name, error });
    }
  }
  return result;
}
