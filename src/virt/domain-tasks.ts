/**
 * The "auto" setting: every running domain whose <metadata> policy is
 * enabled becomes one project + engine + task (type=domain, value=UUID)
 * the daemon adds like objects from a config file. The objects go
 * through the config file's section builders, so they are exactly as
 * valid as a file's.
 */
import { VirtTierError } from '../errors.js';
import type { RawSection } from '../config/raw.js';
import { buildEngine, buildProject, buildTask } from '../config/sections.js';
import type { EngineConfig, HostFacts, ProjectConfig, TaskConfig } from '../config/types.js';
import { POLICY_DEFAULTS, policyFromDomainXml, type DomainPolicy } from './policy.js';

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

/** The config objects for one domain with an enabled policy; throws VirtTierError naming the domain and key. */
export function objectsForDomain(name: string, uuid: string, policy: DomainPolicy, memoryBytes: number, opts: DomainTasksOptions): DomainObjects {
  const label = `domain ${JSON.stringify(name)} policy`;
  const s = { ...POLICY_DEFAULTS[policy.engine], ...policy.settings };
  const projectName = domainProjectName(uuid);
  const projectRaw: Record<string, string> = { name: projectName, loop: s.loop!, interval: s.interval!, sleep: s.sleep! };
  for (const k of ['sysmem_threshold', 'swapcache_high_wmark', 'swapcache_low_wmark']) if (s[k] !== undefined) projectRaw[k] = s[k]!;
  const project = buildProject(rawSection('project', label, projectRaw));

  const engineRaw: Record<string, string> = { project: projectName, name: policy.engine };
  const taskRaw: Record<string, string> = { project: projectName, engine: policy.engine, name: projectName, type: 'domain', value: uuid };
  if (policy.engine === 'cslide') {
    const nodePair = s.node_pair ?? opts.defaultNodePair;
    if (nodePair === undefined) {
      throw new VirtTierError('OPT_INVAL', `${label}.node_pair: not set, and this host has no memory-only NUMA node to pair with by default`, {
        field: `${label}.node_pair`,
        allowed: 'DRAM,AEP[;DRAM,AEP...]',
      });
    }
    engineRaw.node_pair = nodePair;
    engineRaw.hot_threshold = s.hot_threshold!;
    engineRaw.node_mig_quota = s.node_mig_quota!;
    // By default the whole guest may stay in DRAM when hot: only cold memory is demoted.
    engineRaw.node_hot_reserve = s.node_hot_reserve ?? String(Math.max(1, Math.ceil(memoryBytes / 2 ** 20)));
    for (const k of ['vm_flags', 'anon_only', 'ign_host']) taskRaw[k] = s[k]!;
  } else {
    for (const k of ['T', 'max_threads', 'swap_threshold', 'dram_percent', 'swap_flag']) if (s[k] !== undefined) taskRaw[k] = s[k]!;
  }
  const engine = buildEngine(rawSection('engine', label, engineRaw), opts.host);
  const { task } = buildTask(rawSection('task', label, taskRaw), opts.host);
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
      const policy = policyFromDomainXml(d.xml, opts.host, d.name);
      if (!policy.enabled) continue;
      result.objects.push(objectsForDomain(d.name, d.uuid, policy, d.memoryBytes, opts));
    } catch (err) {
      const error = err instanceof VirtTierError ? err : new VirtTierError('OPT_INTER_ERR', `domain ${JSON.stringify(d.name)}: ${(err as Error).message}`);
      result.errors.push({ domain: d.name, error });
    }
  }
  return result;
}
