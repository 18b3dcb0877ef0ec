/**
 * A polling follower of running domains for the daemon (the binding has
 * no event API). Each tick costs one connectListAllDomains, a few cheap
 * lookups per domain and one pidfile + cmdline read per domain; it reports
 * only differences: a domain started, stopped, restarted (new QEMU PID),
 * and libvirtd going away and coming back (the connection is reopened).
 * The qemu hook makes changes visible at once; this heals missed events.
 */
import { listRunningDomains, type RunningDomain } from './discovery.js';
import { DEFAULT_LIBVIRT_URI, libvirtMessage, VirtConnection } from './connection.js';

export type DomainChange =
  | { kind: 'started'; domain: RunningDomain }
  | { kind: 'restarted'; domain: RunningDomain; oldPid: number | null }
  | { kind: 'stopped'; name: string; uuid: string }
  | { kind: 'disconnected'; uri: string; reason: string }
  | { kind: 'reconnected'; uri: string };

export interface WatchOptions {
  uri?: string;
  /** polling period; default 5000 */
  intervalMs?: number;
  onChange(change: DomainChange): void;
  /** a connection to share (e.g. with the PID resolver) */
  connection?: VirtConnection;
}

export interface DomainWatcher {
  /** the domains seen at the last successful poll, by UUID */
  readonly domains: ReadonlyMap<string, RunningDomain>;
  /** polls now (also what the timer calls); resolves when that poll is done */
  poll(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts following; the first poll reports every running domain as `started`. */
export function watchDomains(opts: WatchOptions): DomainWatcher {
  const conn = opts.connection ?? new VirtConnection(opts.uri ?? DEFAULT_LIBVIRT_URI);
  const own = opts.connection === undefined;
  const intervalMs = opts.intervalMs ?? 5000;
  const known = new Map<string, RunningDomain>();
  let connected: boolean | undefined;
  let stopped = false;
  let running: Promise<void> | undefined;

  const emit = (change: DomainChange): void => {
    try {
      opts.onChange(change);
    } catch {
      // a listener's failure must not stop the follower
    }
  };

  const pollOnce = async (): Promise<void> => {
    let now: RunningDomain[];
    try {
      now = await listRunningDomains({ connection: conn });
    } catch (err) {
      await conn.reset();
      if (connected !== false) emit({ kind: 'disconnected', uri: conn.uri, reason: libvirtMessage(err) });
      connected = false;
      return;
    }
    if (connected === false) emit({ kind: 'reconnected', uri: conn.uri });
    connected = true;
    const seen = new Set<string>();
    for (const d of now) {
      seen.add(d.uuid);
      const old = known.get(d.uuid);
      if (!old) emit({ kind: 'started', domain: d });
      else if (old.pid !== d.pid || old.id !== d.id) emit({ kind: 'restarted', domain: d, oldPid: old.pid });
      known.set(d.uuid, d);
    }
    for (const [uuid, d] of known) {
      if (!seen.has(uuid)) {
        known.delete(uuid);
        emit({ kind: 'stopped', name: d.name, uuid });
      }
    }
  };

  const poll = (): Promise<void> => {
    running ??= pollOnce().finally(() => {
      running = undefined;
    });
    return running;
  };

  const timer = setInterval(() => {
    if (!stopped) void poll();
  }, intervalMs);
  timer.unref();
  void poll();

  return {
    domains: known,
    poll,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
      if (own) await conn.close();
    },
  };
}
