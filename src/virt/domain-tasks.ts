/**
 * The "auto" setting: every running domain whose <metadata> policy is
 * enabled becomes one project + engine + task (type=domain, value=UUID)
 * the daemon adds like objects from a config file. The policy's values
 * went through the config file's section readers once (policy.ts); the
 * objects are built from those parsed values and the same factories
 * (src/config/units.ts), so they are exactly as valid as a file's.
 */
import { VirtTierError } from '../errors.js';
import { INT32_MAX, parseDomain, parseName } from '../config/fields.js';
import { badValue, type RawSection } from '../config/raw.js';
import { SectionReader } from '../config/section-reader.js';
import { cslideEngineFields } from '../config/sections.js';
import type { EngineConfig, HostFacts, ProjectConfig, TaskConfig } from '../config/types.js';
import { BYTES_PER_MB, cslideEngineConfig, projectConfig } from '../config/units.js';
import { parsePolicyFromDomainXml, type DomainPolicy, type ParsedPolicy } from './policy.js';

export interface DomainObjects {
  domain: { name: string; uuid: string };
  policy: DomainPolicy;
  project: ProjectConfig;
  engine: EngineConfig;
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
}

/** The project (and engine, task) name of a domain's objects: stable across restarts and renames. */
export function domainProjectName(uuid: string): string {
  return `domain-${uuid}`;
}

function rawSection(kind: RawSection['kind'], label: string, entries: Record<string, string>): RawSection {
  return { kind, index: 0, label, entries: new Map(Object.entries(entries).map(([k, v]) => [k, { value: v }])) };
}

/**
 * The config objects for one domain with an enabled policy, from the
 * policy's parsed values (nothing is parsed twice); throws VirtTierError
 * naming the domain and key.
 */
export function objectsForDomain(name: string, uuid: string, parsed: ParsedPolicy, memoryBytes: number, opts: DomainTasksOptions): DomainObjects {
  const { policy } = parsed;
  const label = `domain ${JSON.stringify(name)} policy`;
  const projectName = domainProjectName(uuid);
  // The names come from libvirt's UUID: checked as a file's would be.
  const names = new SectionReader(rawSection('task', label, { name: projectName, value: uuid }));
  names.required('name', (t) => parseName(t));
  names.required('value', parseDomain);
  const project = projectConfig({ name: projectName, ...parsed.project, source: { section: 'project', index: 0 } });

  const engineSource = { section: 'engine', index: 0 } as const;
  let engine: EngineConfig;
  if (policy.engine === 'cslide') {
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
    // By default the whole guest may stay in DRAM when hot: only cold memory is demoted.
    let reserveMb = cslide.node_hot_reserve;
    if (reserveMb === undefined) {
      reserveMb = Math.max(1, Math.ceil(memoryBytes / BYTES_PER_MB));
      if (reserveMb > INT32_MAX) {
        throw badValue(rawSection('engine', label, {}), 'node_hot_reserve', String(reserveMb), `0..${INT32_MAX} (MB)`, 'out of range');
      }
    }
    engine = cslideEngineConfig({
      project: projectName,
      name: 'cslide',
      node_pair: nodePair,
      hot_threshold: cslide.hot_threshold,
      node_mig_quota: cslide.node_mig_quota,
      node_hot_reserve: reserveMb,
      ...cslide.extras,
      source: engineSource,
    });
  } else {
    engine = { project: projectName, name: 'slide', source: engineSource };
  }
  const task: TaskConfig = {
    project: projectName,
    engine: policy.engine,
    name: projectName,
    type: 'domain',
    value: uuid,
    params: parsed.taskParams,
    source: { section: 'task', index: 0 },
  };
  return { domain: { name, uuid }, policy, project, engine, task };
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
      result.objects.push(objectsForDomain(d.name, d.uuid, parsed, d.memoryBytes, opts));
    } catch (err) {
      const error = err instanceof VirtTierError ? err : new VirtTierError('OPT_INTER_ERR', `domain ${JSON.stringify(d.name)}: ${(err as Error).message}`);
      result.errors.push({ domain: d.name, error });
    }
  }
  return result;
}
