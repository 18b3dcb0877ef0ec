/**
 * Running libvirt domains as virt-tier targets: name, UUID, id, state,
 * QEMU PID (pidfile checked against the process), live XML, and on request
 * the guest-RAM blocks. `resolveDomain` turns a task's `value=` (name or
 * UUID) into one such target or a clear error.
 */
import type { Domain, Hypervisor } from '@unraid/libvirt';
import { VirtTierError } from '../errors.js';
import { liveIO, type PlatformIO } from '../platform/io.js';
import { DEFAULT_LIBVIRT_URI, libvirtMessage, VirtConnection } from './connection.js';
import { findQemuProcess, QEMU_RUN_DIR, readGuestRam, type GuestRamBlock } from './qemu-process.js';
import type { QemuCmdline } from './qemu-cmdline.js';

/** libvirt's virDomainState, by number (include/libvirt/libvirt-domain.h). */
export const DOMAIN_STATES = ['nostate', 'running', 'blocked', 'paused', 'shutdown', 'shutoff', 'crashed', 'pmsuspended'] as const;
export type DomainStateName = (typeof DOMAIN_STATES)[number];

/** ConnectListAllDomainsFlags.ACTIVE (virConnectListAllDomainsFlags). */
const LIST_ACTIVE = 1;

export interface RunningDomain {
  name: string;
  uuid: string;
  /** libvirt's domain id while running */
  id: number | null;
  state: DomainStateName;
  /** the QEMU process, null when no live QEMU matches (starting, stopping, not a QEMU domain) */
  pid: number | null;
  /** guest memory from domainGetInfo, bytes */
  memoryBytes: number;
  /** the live domain XML */
  xml: string;
  cmdline?: QemuCmdline;
}

export interface ResolvedDomain extends RunningDomain {
  pid: number;
  ramBlocks: GuestRamBlock[];
}

export interface DiscoveryOptions {
  uri?: string;
  /** a connection to reuse (the daemon keeps one); otherwise one is opened and closed per call */
  connection?: VirtConnection;
  io?: PlatformIO;
  runDir?: string;
  /** a call on a shared `connection` fails (OPT_UNAVAILABLE) past this; default SHARED_CALL_TIMEOUT_MS */
  timeoutMs?: number;
}

const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/**
 * How long a call on a shared connection (the daemon's) may take, its
 * wait for its turn included (VirtConnection.use runs them one at a time).
 * libvirt's client has no RPC timeout: a libvirtd that stops answering
 * (hung in its shutdown, say) would hold a daemon's lookup, and the round
 * waiting on it, for good. Past this the call fails as libvirt
 * unreachable; a call that had started drops the connection, so the next
 * one reconnects.
 */
export const SHARED_CALL_TIMEOUT_MS = 20_000;

async function withConnection<T>(opts: DiscoveryOptions, fn: (hv: Hypervisor, conn: VirtConnection) => Promise<T>): Promise<T> {
  const own = opts.connection === undefined;
  const conn = opts.connection ?? new VirtConnection(opts.uri ?? DEFAULT_LIBVIRT_URI);
  const gaveUp = new AbortController();
  let started = false;
  const work = conn.use((hv) => {
    started = true;
    return fn(hv, conn);
  }, gaveUp.signal);
  try {
    if (own) return await work;
    work.catch(() => undefined); // a call abandoned at the deadline may still fail later
    const timeoutMs = opts.timeoutMs ?? SHARED_CALL_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        gaveUp.abort();
        const what = started ? 'did not answer' : 'did not take the call (earlier calls, or the connect, under way)';
        reject(new VirtTierError('OPT_UNAVAILABLE', `libvirt at ${conn.uri} ${what} within ${timeoutMs} ms`, { field: '--connect', value: conn.uri }));
      }, timeoutMs);
    });
    try {
      return await Promise.race([work, deadline]);
    } finally {
      clearTimeout(timer);
    }
  } catch (err) {
    // A call that failed on a reused connection may mean libvirtd restarted or hung: drop the
    // connection so the next call reconnects (one that never got its turn says nothing of it).
    if (!own && started && (!(err instanceof VirtTierError) || err.code === 'OPT_UNAVAILABLE')) await conn.reset();
    throw err;
  } finally {
    if (own) await conn.close();
  }
}

/**
 * One domain's facts, one binding call after another: each call holds a
 * libuv threadpool thread until libvirtd answers (VirtConnection.use), so
 * five at once from a libvirtd that stopped answering would hold all four
 * threads and stall every file read of the daemon, its scans included.
 */
async function describe(hv: Hypervisor, dom: Domain, opts: DiscoveryOptions): Promise<RunningDomain> {
  const name = await hv.domainGetName(dom);
  const uuid = await hv.domainGetUUIDString(dom);
  const id = await hv.domainGetID(dom);
  const info = await hv.domainGetInfo(dom);
  const xml = await hv.domainGetXMLDesc(dom);
  const proc = id !== null ? await findQemuProcess(name, opts.io ?? liveIO, opts.runDir ?? QEMU_RUN_DIR) : null;
  const out: RunningDomain = {
    name,
    uuid,
    id: id !== null && id >= 0 ? id : null,
    state: DOMAIN_STATES[info.state as number] ?? 'nostate',
    pid: proc?.pid ?? null,
    memoryBytes: info.memory * 1024,
    xml,
  };
  if (proc) out.cmdline = proc.cmdline;
  return out;
}

/** Every running (active) domain, sorted by name. Domains that vanish while listed are skipped. */
export async function listRunningDomains(opts: DiscoveryOptions = {}): Promise<RunningDomain[]> {
  return withConnection(opts, async (hv) => {
    const domains = await hv.connectListAllDomains(LIST_ACTIVE);
    const out: RunningDomain[] = [];
    for (const dom of domains) {
      try {
        out.push(await describe(hv, dom, opts));
      } catch {
        // destroyed between the listing and the lookups: not running any more
      }
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  });
}

/** Every defined or running domain's name, UUID and whether it runs (for `virt-tier list --all`). */
export async function listAllDomains(opts: DiscoveryOptions = {}): Promise<Array<{ name: string; uuid: string; active: boolean; xml: string }>> {
  return withConnection(opts, async (hv) => {
    const out: Array<{ name: string; uuid: string; active: boolean; xml: string }> = [];
    for (const dom of await hv.connectListAllDomains()) {
      try {
        // one call at a time, as describe() asks: each holds a threadpool thread until libvirtd answers
        const name = await hv.domainGetName(dom);
        const uuid = await hv.domainGetUUIDString(dom);
        const id = await hv.domainGetID(dom);
        const xml = await hv.domainGetXMLDesc(dom);
        out.push({ name, uuid, active: id !== null && id >= 0, xml });
      } catch {
        // undefined while listed
      }
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  });
}

/** Looks a domain up by UUID (when `value` has that form) or name; OPT_INVAL when there is none. */
export async function lookupDomain(hv: Hypervisor, value: string, uri: string): Promise<Domain> {
  if (UUID_RE.test(value)) {
    try {
      return await hv.domainLookupByUUIDString(value);
    } catch {
      // a UUID-shaped name is allowed: fall through to the name lookup
    }
  }
  try {
    return await hv.domainLookupByName(value);
  } catch (err) {
    // Only "not found" means no such domain; anything else (libvirtd gone) must reach the caller as a connection failure.
    if (!/not found|no domain with matching/i.test(libvirtMessage(err))) throw err;
    throw new VirtTierError('OPT_INVAL', `domain ${JSON.stringify(value)}: no such domain on ${uri} (${libvirtMessage(err)})`, {
      field: 'domain',
      value,
      allowed: 'the name or UUID of a domain defined on ' + uri,
    });
  }
}

/**
 * Resolves a domain name or UUID to its running QEMU process and guest-RAM
 * blocks. Errors (VirtTierError OPT_INVAL): no such domain, domain not
 * running, no QEMU process for it.
 */
export async function resolveDomain(value: string, opts: DiscoveryOptions = {}): Promise<ResolvedDomain> {
  if (typeof value !== 'string' || value === '') {
    throw new VirtTierError('OPT_INVAL', 'domain: empty name', { field: 'domain', value: String(value), allowed: 'a domain name or UUID' });
  }
  const uri = opts.connection?.uri ?? opts.uri ?? DEFAULT_LIBVIRT_URI;
  return withConnection(opts, async (hv) => {
    const dom = await lookupDomain(hv, value, uri);
    const d = await describe(hv, dom, opts);
    if (d.id === null) {
      throw new VirtTierError('OPT_INVAL', `domain ${JSON.stringify(d.name)} is not running`, { field: 'domain', value, allowed: 'a running domain' });
    }
    if (d.pid === null || !d.cmdline) {
      throw new VirtTierError('OPT_INVAL', `domain ${JSON.stringify(d.name)}: no QEMU process found (${opts.runDir ?? QEMU_RUN_DIR}/${d.name}.pid missing or stale)`, {
        field: 'domain',
        value,
        allowed: 'a running QEMU domain',
      });
    }
    const ramBlocks = await readGuestRam({ pid: d.pid, cmdline: d.cmdline }, opts.io ?? liveIO);
    return { ...d, pid: d.pid, ramBlocks };
  });
}

/**
 * A DomainPidResolver for src/model/targets.ts (createTargetResolver): the QEMU PID
 * of a running domain, or null when it is not running or does not exist.
 * Reuses one connection and reconnects after libvirtd restarts.
 *
 * While libvirtd cannot be reached (restarting, upgraded), a guest keeps
 * running and keeps being tiered: the resolver remembers the name libvirt
 * last gave for each value and finds its QEMU as libvirt does, through the
 * pid file libvirt keeps while the guest runs, checked against the
 * process's command line (`-name guest=`, and `-uuid` when the value is a
 * UUID). A guest that died meanwhile has a stale pid file and no such
 * process: null, as when libvirt answers.
 */
export function domainPidResolver(connection: VirtConnection, opts: { io?: PlatformIO; runDir?: string; timeoutMs?: number } = {}): (nameOrUuid: string) => Promise<number | null> {
  const io = opts.io ?? liveIO;
  const runDir = opts.runDir ?? QEMU_RUN_DIR;
  const lastName = new Map<string, string>();
  return async (nameOrUuid) => {
    let name: string | undefined;
    let libvirtSaid = true;
    try {
      name = await withConnection({ connection, timeoutMs: opts.timeoutMs }, async (hv) => hv.domainGetName(await lookupDomain(hv, nameOrUuid, connection.uri)));
      lastName.set(nameOrUuid, name);
    } catch (err) {
      // libvirt answered: no such domain.
      if (err instanceof VirtTierError && err.code === 'OPT_INVAL') {
        lastName.delete(nameOrUuid);
        return null;
      }
      name = lastName.get(nameOrUuid);
      libvirtSaid = false;
    }
    const proc = name === undefined ? null : await findQemuProcess(name, io, runDir);
    if (!proc) return null;
    // Without libvirt's word for it, the command line must carry the task's UUID too.
    if (!libvirtSaid && UUID_RE.test(nameOrUuid) && normalUuid(proc.cmdline.uuid ?? '') !== normalUuid(nameOrUuid)) return null;
    return proc.pid;
  };
}

function normalUuid(text: string): string {
  return text.toLowerCase().replace(/-/g, '');
}
