/**
 * Reading and writing a domain's policy. Reading goes through the binding
 * (domain XML, live or persistent); writing goes through `virsh metadata
 * --set`, since @unraid/libvirt lacks virDomainSetMetadata. The new
 * policy is validated before virsh runs, so nothing invalid is written,
 * and the element passed to virsh is generated here (never user text).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { VirtTierError } from '../errors.js';
import type { HostFacts } from '../config/types.js';
import { DEFAULT_LIBVIRT_URI, libvirtMessage, VirtConnection } from './connection.js';
import { lookupDomain } from './discovery.js';
import { applyPolicySettings, policyFromDomainXml, policyToXml, POLICY_KEY, POLICY_NAMESPACE, type DomainPolicy } from './policy.js';

const execFileAsync = promisify(execFile);

/** virDomainXMLFlags: VIR_DOMAIN_XML_INACTIVE (the persistent definition). */
const XML_INACTIVE = 2;

export interface DomainPolicyView {
  name: string;
  uuid: string;
  active: boolean;
  policy: DomainPolicy;
}

export interface PolicyTarget {
  /** write the running domain's live definition */
  live: boolean;
  /** write the persistent definition */
  config: boolean;
}

/** The policy of a domain's live XML (when running, unless `config`) or persistent XML. */
export async function readDomainPolicy(value: string, host: HostFacts, opts: { uri?: string; config?: boolean } = {}): Promise<DomainPolicyView> {
  const conn = new VirtConnection(opts.uri ?? DEFAULT_LIBVIRT_URI);
  try {
    const hv = await conn.get();
    const dom = await lookupDomain(hv, value, conn.uri);
    // one call at a time (src/virt/discovery.ts describe): each holds a threadpool thread until libvirtd answers
    const name = await hv.domainGetName(dom);
    const uuid = await hv.domainGetUUIDString(dom);
    const id = await hv.domainGetID(dom);
    const active = id !== null && id >= 0;
    const xml = await hv.domainGetXMLDesc(dom, opts.config || !active ? XML_INACTIVE : 0);
    return { name, uuid, active, policy: policyFromDomainXml(xml, host, name) };
  } finally {
    await conn.close();
  }
}

async function virsh(uri: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync('virsh', ['-q', '-c', uri, ...args], { timeout: 30_000, maxBuffer: 8 << 20 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string; code?: string };
    if (e.code === 'ENOENT') throw new VirtTierError('OPT_UNSUPPORTED', 'virsh not found: install libvirt-clients to write domain metadata');
    throw new VirtTierError('OPT_INTER_ERR', `virsh ${args[0]} failed: ${libvirtMessage(e.stderr || e.message)}`);
  }
}

/** Whether the domain has a persistent definition (`virsh dominfo`: "Persistent: yes"). */
async function isPersistent(uri: string, name: string): Promise<boolean> {
  const info = await virsh(uri, ['dominfo', '--domain', name]);
  return /^Persistent:\s+yes$/m.test(info);
}

/**
 * Applies `KEY=VALUE` words to a domain's policy and writes it. Which
 * definitions: as given, else the live one of a running domain plus the
 * persistent one when there is one (libvirt keeps the two apart), else the
 * persistent one. Validation happens first; on error nothing is written.
 */
export async function setDomainPolicy(
  value: string,
  assignments: readonly string[],
  host: HostFacts,
  opts: { uri?: string; target?: Partial<PolicyTarget> } = {},
): Promise<DomainPolicyView & { written: PolicyTarget; xml: string }> {
  const uri = opts.uri ?? DEFAULT_LIBVIRT_URI;
  const current = await readDomainPolicy(value, host, { uri, config: opts.target?.config === true && opts.target.live !== true });
  const next = applyPolicySettings(current.name, current.policy, assignments, host);
  let target: PolicyTarget;
  if (opts.target?.live || opts.target?.config) {
    target = { live: opts.target.live === true, config: opts.target.config === true };
    if (target.live && !current.active) {
      throw new VirtTierError('OPT_INVAL', `--live: domain ${JSON.stringify(current.name)} is not running`, { field: '--live', allowed: '--config for a domain that is not running' });
    }
  } else {
    target = { live: current.active, config: !current.active || (await isPersistent(uri, current.name)) };
  }
  const xml = policyToXml(next);
  const args = ['metadata', '--domain', current.name, '--uri', POLICY_NAMESPACE, '--key', POLICY_KEY, '--set', policyToXml(next, false)];
  if (target.live) args.push('--live');
  if (target.config) args.push('--config');
  await virsh(uri, args);
  return { ...current, policy: next, written: target, xml };
}
