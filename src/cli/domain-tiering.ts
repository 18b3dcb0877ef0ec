/**
 * A domain's tiering state as `list` and `stats` show it: on, off or
 * invalid from its <metadata> policy, and hot/cold bytes per NUMA node from
 * virt-tierd when it tiers the domain (its showtaskpages report). The
 * daemon is asked here, in the CLI, not in src/virt: libvirt and procfs
 * code sits below the daemon's API.
 */
import type { HostFacts } from '../config/types.js';
import { VirtTierError } from '../errors.js';
import type { NodeUsage } from '../virt/domain-stats.js';
import { policyFromDomainXml } from '../virt/policy.js';
import { daemonCall } from './daemon-call.js';

export interface DomainTiering {
  tiering: 'on' | 'off' | 'invalid';
  /** the policy's engine when tiering is on, else null */
  engine: string | null;
  /** why the policy is invalid (it names the domain and the key) */
  policyError?: string;
}

/** The tiering state from a domain's XML; an invalid policy is reported, never thrown. */
export function domainTiering(xml: string, host: HostFacts, domainName: string): DomainTiering {
  try {
    const policy = policyFromDomainXml(xml, host, domainName);
    return policy.enabled ? { tiering: 'on', engine: policy.engine } : { tiering: 'off', engine: null };
  } catch (err) {
    return { tiering: 'invalid', engine: null, policyError: err instanceof VirtTierError ? err.message : String(err) };
  }
}

/** Finds `{nodes: {N: {usedBytes, hotBytes, coldBytes}}}` reports (or showtaskpages' `nodes: [{node, ...}]`) anywhere in a daemon reply and sums them. */
function nodesFromReply(reply: unknown): Record<number, NodeUsage> | undefined {
  let found: Record<number, NodeUsage> | undefined;
  const visit = (v: unknown, depth: number): void => {
    if (depth > 6 || typeof v !== 'object' || v === null) return;
    if (Array.isArray(v)) {
      for (const x of v) visit(x, depth + 1);
      return;
    }
    const o = v as Record<string, unknown>;
    // showtaskpages --json (src/runner/builtin-engine.ts) lists nodes as [{node, usedBytes, hotBytes, coldBytes}]
    if (Array.isArray(o.nodes) && o.nodes.every((n) => typeof n === 'object' && n !== null && typeof (n as Record<string, unknown>).node === 'number')) {
      visit({ nodes: Object.fromEntries((o.nodes as Array<Record<string, unknown>>).map(({ node, ...rest }) => [String(node), rest])) }, depth);
      return;
    }
    if (typeof o.nodes === 'object' && o.nodes !== null && !Array.isArray(o.nodes)) {
      for (const [node, s] of Object.entries(o.nodes as Record<string, unknown>)) {
        const st = s as Record<string, unknown>;
        if (!/^\d+$/.test(node) || typeof st?.usedBytes !== 'number') continue;
        found ??= {};
        const t = (found[Number(node)] ??= { usedBytes: 0, hotBytes: 0, coldBytes: 0 });
        t.usedBytes += st.usedBytes;
        t.hotBytes! += typeof st.hotBytes === 'number' ? st.hotBytes : 0;
        t.coldBytes! += typeof st.coldBytes === 'number' ? st.coldBytes : 0;
      }
      return;
    }
    for (const x of Object.values(o)) visit(x, depth + 1);
  };
  visit(reply, 0);
  return found;
}

/**
 * How long `list`/`stats` wait for the daemon's hot/cold before showing numa_maps alone. A daemon
 * that is not running fails at connect at once (the abstract socket has no listener), so this only
 * bounds a live daemon that is slow: 1 s was too short for seven CLIs at once in the nested testbed.
 */
export const DAEMON_USAGE_TIMEOUT_MS = 10_000;

/**
 * Hot/cold per node from virt-tierd for a domain it tiers through its
 * policy (task `domain-<uuid>` in its group's host-wide project, which the
 * daemon's domain.sync.status names), or undefined when tiering is not on,
 * or the daemon is not reachable or does not tier it.
 */
export async function daemonDomainUsage(socket: string, uuid: string, tiering: DomainTiering, timeoutMs = DAEMON_USAGE_TIMEOUT_MS): Promise<Record<number, NodeUsage> | undefined> {
  if (tiering.engine === null) return undefined;
  try {
    const status = (await daemonCall(socket, 'domain.sync.status', {}, timeoutMs)) as { placements?: Record<string, { project: string; engine: string; task: string }> };
    const place = status?.placements?.[uuid];
    if (!place) return undefined;
    const reply = await daemonCall(socket, 'engine.cmd', { project: place.project, engine: place.engine, cmd: 'showtaskpages', task: place.task, json: true }, timeoutMs);
    return nodesFromReply(reply);
  } catch {
    return undefined;
  }
}
