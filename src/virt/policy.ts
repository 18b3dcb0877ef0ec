/**
 * Per-VM tiering policy, kept in the domain XML's <metadata> so it travels
 * with the domain (docs/libvirt.md is the user reference):
 *
 *   <metadata>
 *     <tier:policy xmlns:tier="https://virt-tier.dev/xmlns/policy/1"
 *                  enabled="yes" engine="cslide" loop="3" hot_threshold="2" node_pair="0,2"/>
 *   </metadata>
 *
 * Every setting is an attribute of the one element: attributes carry no
 * namespace, so the form survives libvirt's rewriting (it stores a custom
 * namespace's elements under its own prefix, e.g. `virt-tier:`; the
 * element is found by namespace URI, never by prefix). Keys and values
 * are exactly those of the config file's project, engine and task
 * sections and are checked by the same validators (src/config/), with
 * errors naming the domain and the key.
 */
import { VirtTierError } from '../errors.js';
import type { RawSection } from '../config/raw.js';
import { badKey, badValue } from '../config/raw.js';
import { CSLIDE_ENGINE_EXTRA_KEYS, CSLIDE_ENGINE_OWN_KEYS, cslideEngineExtras, cslideEngineFields, PROJECT_KEYS, readProjectSettings, type ProjectSettings } from '../config/sections.js';
import { SectionReader } from '../config/section-reader.js';
import { validateTaskParams, CSLIDE_TASK_KEYS, SLIDE_TASK_KEYS } from '../config/task-params.js';
import type { CslideTaskParams, HostFacts, NodePair, SlideTaskParams } from '../config/types.js';
import { child, escapeXml, parseXml, type XmlElement } from './xml.js';

/** The namespace URI of virt-tier's domain metadata. Never change it: domains carry it across hosts and upgrades. */
export const POLICY_NAMESPACE = 'https://virt-tier.dev/xmlns/policy/1';
/** The prefix `virsh metadata --key` binds; libvirt may print any prefix back. */
export const POLICY_KEY = 'tier';
export const POLICY_ELEMENT = 'policy';

export type PolicyEngine = 'slide' | 'cslide';

/** A project's keys but `name` (the daemon names a domain's project). */
export const PROJECT_POLICY_KEYS = PROJECT_KEYS.filter((k) => k !== 'name');
export const CSLIDE_ENGINE_POLICY_KEYS = [...CSLIDE_ENGINE_OWN_KEYS, ...CSLIDE_ENGINE_EXTRA_KEYS] as const;

/** The keys a policy may set for an engine, besides `enabled` and `engine`. */
export function policyKeys(engine: PolicyEngine): readonly string[] {
  return engine === 'cslide'
    ? [...PROJECT_POLICY_KEYS, ...CSLIDE_ENGINE_POLICY_KEYS, ...CSLIDE_TASK_KEYS]
    : [...PROJECT_POLICY_KEYS, ...SLIDE_TASK_KEYS];
}

/** Defaults for keys a policy leaves out (node_pair and node_hot_reserve depend on the host and guest: see domain-tasks.ts). */
export const POLICY_DEFAULTS: Readonly<Record<PolicyEngine, Readonly<Record<string, string>>>> = {
  cslide: { loop: '3', interval: '1', sleep: '5', hot_threshold: '2', node_mig_quota: '256', vm_flags: 'ht', anon_only: 'no', ign_host: 'no' },
  slide: { loop: '3', interval: '1', sleep: '5', T: '1' },
};

export interface DomainPolicy {
  /** a <policy> element in our namespace was found */
  present: boolean;
  /** tiering on for this domain; a domain without a policy is off */
  enabled: boolean;
  engine: PolicyEngine;
  /** the keys the domain sets (validated), as written, in a stable order */
  settings: Record<string, string>;
}

/**
 * A policy's values, parsed once by the config file's validators, with
 * POLICY_DEFAULTS filled in: what src/virt/domain-tasks.ts builds the
 * domain's project, engine and task from. The defaults that depend on the
 * host and the guest (cslide's node_pair and node_hot_reserve) are left
 * out when the policy does not set them.
 */
export interface ParsedPolicy {
  policy: DomainPolicy;
  project: ProjectSettings;
  /** engine === 'cslide' only */
  cslide?: { hot_threshold: number; node_mig_quota: number; node_pair?: NodePair[]; node_hot_reserve?: number; extras: ReturnType<typeof cslideEngineExtras> };
  taskParams: SlideTaskParams | CslideTaskParams;
}

/** The policy of a domain without one. */
export const NO_POLICY: DomainPolicy = Object.freeze({ present: false, enabled: false, engine: 'cslide', settings: {} }) as DomainPolicy;

/** Bounds for the policy element alone (virsh --set input): far below any real need. */
const POLICY_XML_LIMITS = { maxBytes: 16 << 10, maxDepth: 4, maxElements: 16 };

function label(domain: string): string {
  return `domain ${JSON.stringify(domain)} policy`;
}

function section(kind: RawSection['kind'], domain: string, entries: Record<string, string>): RawSection {
  const map = new Map<string, { value: string }>();
  for (const [k, v] of Object.entries(entries)) map.set(k, { value: v });
  return { kind, index: 0, label: label(domain), entries: map };
}

function parseEnabled(domain: string, text: string): boolean {
  if (text === 'yes' || text === 'on') return true;
  if (text === 'no' || text === 'off') return false;
  throw badValue(section('task', domain, { enabled: text }), 'enabled', text, 'yes|no|on|off', 'not yes, no, on or off');
}

function parseEngine(domain: string, text: string): PolicyEngine {
  if (text === 'slide' || text === 'cslide') return text;
  throw badValue(section('engine', domain, { engine: text }), 'engine', text, 'slide|cslide', 'not a policy engine');
}

/**
 * Validates a policy given as key/value strings (the element's attributes,
 * or `--set KEY=VALUE` words) with the config file's validators and
 * returns it. Errors are VirtTierError(OPT_INVAL) whose field is
 * `domain "NAME" policy.KEY`.
 */
export function validatePolicy(domain: string, raw: Readonly<Record<string, string>>, host: HostFacts): DomainPolicy {
  return parsePolicy(domain, raw, host).policy;
}

/** validatePolicy, also returning the parsed values. */
export function parsePolicy(domain: string, raw: Readonly<Record<string, string>>, host: HostFacts): ParsedPolicy {
  const enabled = raw.enabled === undefined ? true : parseEnabled(domain, raw.enabled);
  const engine = raw.engine === undefined ? 'cslide' : parseEngine(domain, raw.engine);
  const known = policyKeys(engine);
  const settings: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (key === 'enabled' || key === 'engine') continue;
    if (!known.includes(key)) {
      throw badKey(section('task', domain, {}), key, `unknown key for a ${engine} policy`, ['enabled', 'engine', ...known].join(', '));
    }
    settings[key] = value;
  }
  const pick = (keys: readonly string[]): Record<string, string> =>
    Object.fromEntries(keys.filter((k) => settings[k] !== undefined).map((k) => [k, settings[k]!]));
  const policy: DomainPolicy = { present: true, enabled, engine, settings };

  // Each value through the config file's section readers once, defaults filling what the policy leaves out.
  const defaults = POLICY_DEFAULTS[engine];
  const projectRaw = pick(PROJECT_POLICY_KEYS);
  for (const k of ['loop', 'interval', 'sleep']) projectRaw[k] ??= defaults[k]!;
  const project = readProjectSettings(new SectionReader(section('project', domain, projectRaw)));

  if (engine === 'cslide') {
    const fields = cslideEngineFields(host);
    const reader = new SectionReader(section('engine', domain, { hot_threshold: defaults.hot_threshold!, node_mig_quota: defaults.node_mig_quota!, ...pick(CSLIDE_ENGINE_POLICY_KEYS) }));
    const node_pair = reader.optional('node_pair', fields.node_pair);
    const cslide: NonNullable<ParsedPolicy['cslide']> = {
      hot_threshold: reader.required('hot_threshold', fields.hot_threshold),
      node_mig_quota: reader.required('node_mig_quota', fields.node_mig_quota),
      extras: cslideEngineExtras(reader, fields),
    };
    const node_hot_reserve = reader.optional('node_hot_reserve', fields.node_hot_reserve);
    if (node_pair !== undefined) cslide.node_pair = node_pair;
    if (node_hot_reserve !== undefined) cslide.node_hot_reserve = node_hot_reserve;
    const taskRaw = { ...pick(CSLIDE_TASK_KEYS), vm_flags: settings.vm_flags ?? defaults.vm_flags! };
    const { params } = validateTaskParams('cslide', taskRaw, host, label(domain));
    return { policy, project, cslide, taskParams: params as CslideTaskParams };
  }
  const taskRaw = pick(SLIDE_TASK_KEYS);
  taskRaw.T ??= defaults.T!;
  const { params } = validateTaskParams('slide', taskRaw, host, label(domain));
  const T = (params as SlideTaskParams).T;
  if (T > project.loop * 3) {
    throw badValue(section('task', domain, taskRaw), 'T', String(T), `0..${project.loop * 3} (3 * loop)`, 'out of range');
  }
  return { policy, project, taskParams: params as SlideTaskParams };
}

/** The policy element's attributes as key/value strings, refusing anything but plain attributes. */
function policyAttributes(domain: string, el: XmlElement): Record<string, string> {
  if (el.children.length > 0 || el.text.trim() !== '') {
    throw new VirtTierError('OPT_INVAL', `${label(domain)}: the policy element must be empty (settings are attributes)`, {
      field: label(domain),
      allowed: '<policy xmlns="' + POLICY_NAMESPACE + '" KEY="VALUE" .../>',
    });
  }
  return { ...el.attrs };
}

/**
 * The policy in a domain's XML (as `virsh dumpxml` or domainGetXMLDesc
 * return it): the <policy> element of POLICY_NAMESPACE under <metadata>,
 * validated. A domain without one gets NO_POLICY; a malformed or invalid
 * one throws VirtTierError(OPT_INVAL) naming the domain and the key.
 */
export function policyFromDomainXml(xml: string, host: HostFacts, domainName?: string): DomainPolicy {
  return parsePolicyFromDomainXml(xml, host, domainName)?.policy ?? NO_POLICY;
}

/** policyFromDomainXml, also returning the parsed values; undefined for a domain without a policy. */
export function parsePolicyFromDomainXml(xml: string, host: HostFacts, domainName?: string): ParsedPolicy | undefined {
  const root = parseXml(xml, domainName !== undefined ? `domain ${JSON.stringify(domainName)} XML` : 'domain XML');
  const name = domainName ?? child(root, 'name')?.text.trim() ?? '?';
  const metadata = child(root, 'metadata');
  if (!metadata) return undefined;
  const policies = metadata.children.filter((c) => c.uri === POLICY_NAMESPACE);
  if (policies.length === 0) return undefined;
  const el = policies[0]!;
  if (policies.length > 1 || el.local !== POLICY_ELEMENT) {
    throw new VirtTierError('OPT_INVAL', `${label(name)}: expected one <${POLICY_ELEMENT}> element in namespace ${POLICY_NAMESPACE}`, {
      field: label(name),
      value: policies.map((p) => p.local).join(','),
      allowed: POLICY_ELEMENT,
    });
  }
  return parsePolicy(name, policyAttributes(name, el), host);
}

/** Parses a policy element on its own (what `virsh metadata --uri NS` prints). */
export function policyFromElementXml(xml: string, host: HostFacts, domainName: string): DomainPolicy {
  const trimmed = xml.trim();
  if (trimmed === '') return NO_POLICY;
  const el = parseXml(trimmed, `${label(domainName)} XML`, POLICY_XML_LIMITS);
  if (el.uri !== POLICY_NAMESPACE || el.local !== POLICY_ELEMENT) return NO_POLICY;
  return validatePolicy(domainName, policyAttributes(domainName, el), host);
}

/**
 * The policy element, `enabled` and `engine` always written. With
 * `namespaced` (the default) it declares its namespace, for embedding in
 * domain XML; without, it is the bare element `virsh metadata --uri NS
 * --key tier --set` wants (virsh adds the namespace and refuses one given).
 */
export function policyToXml(policy: DomainPolicy, namespaced = true): string {
  const attrs = [`enabled="${policy.enabled ? 'yes' : 'no'}"`, `engine="${policy.engine}"`];
  for (const key of policyKeys(policy.engine)) {
    const value = policy.settings[key];
    if (value !== undefined) attrs.push(`${key}="${escapeXml(value)}"`);
  }
  if (!namespaced) return `<${POLICY_ELEMENT} ${attrs.join(' ')}/>`;
  return `<${POLICY_KEY}:${POLICY_ELEMENT} xmlns:${POLICY_KEY}="${POLICY_NAMESPACE}" ${attrs.join(' ')}/>`;
}

/**
 * Applies `KEY=VALUE` words to a policy (an empty VALUE removes the key)
 * and validates the result; `enabled` defaults to yes when a policy is
 * first written. Throws before anything is written.
 */
export function applyPolicySettings(domain: string, current: DomainPolicy, assignments: readonly string[], host: HostFacts): DomainPolicy {
  const raw: Record<string, string> = { enabled: current.present && !current.enabled ? 'no' : 'yes', engine: current.engine, ...current.settings };
  for (const word of assignments) {
    const eq = word.indexOf('=');
    if (eq <= 0) {
      throw new VirtTierError('OPT_INVAL', `--set: ${JSON.stringify(word)} is not KEY=VALUE`, { field: '--set', value: word, allowed: 'KEY=VALUE (empty VALUE removes KEY)' });
    }
    const key = word.slice(0, eq).trim();
    const value = word.slice(eq + 1).trim();
    if (value === '') delete raw[key];
    else raw[key] = value;
  }
  return validatePolicy(domain, raw, host);
}

/** Every key with its effective value and where it came from, for `virt-tier policy DOMAIN`. */
export function effectiveSettings(policy: DomainPolicy): Array<{ key: string; value: string; source: 'domain' | 'default' }> {
  const out: Array<{ key: string; value: string; source: 'domain' | 'default' }> = [
    { key: 'enabled', value: policy.enabled ? 'yes' : 'no', source: policy.present ? 'domain' : 'default' },
    { key: 'engine', value: policy.engine, source: policy.present ? 'domain' : 'default' },
  ];
  const defaults = POLICY_DEFAULTS[policy.engine];
  for (const key of policyKeys(policy.engine)) {
    const own = policy.settings[key];
    if (own !== undefined) out.push({ key, value: own, source: 'domain' });
    else if (defaults[key] !== undefined) out.push({ key, value: defaults[key]!, source: 'default' });
  }
  return out;
}
