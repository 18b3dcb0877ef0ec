/**
 * Which QEMU processes are in a live migration right now, so the daemon's
 * rounds leave them alone (the runner's `HeldPids`, src/runner/cycle-runner.ts):
 * page moves and swap-outs compete with the migration for memory bandwidth,
 * and a page swapped out now is read back by the migration anyway.
 *
 * - Migrating out: QEMU runs an outgoing migration in its own thread,
 *   `live_migration` (QEMU 7.2 migration/migration.c, migrate_fd_connect;
 *   thread names are set by `-name ...,debug-threads=on`, which libvirt
 *   always passes). The thread lives from `migrate` until the migration
 *   completes, fails or is cancelled, whoever started it: libvirt's migrate
 *   API or a `qemu-monitor-command` passthrough. libvirt's job info
 *   (virDomainGetJobInfo) misses the latter, and the Node binding has no
 *   job call; the thread is one procfs read away and always right.
 * - Migrating in: a QEMU started with `-incoming tcp:HOST:PORT` is
 *   receiving while it holds a TCP socket on PORT (the listener, then the
 *   stream); QEMU closes it right after it starts the guest
 *   (process_incoming_migration_bh). libvirt starts its destinations with
 *   `-incoming defer` and keeps the domain paused until its Finish step:
 *   that is the next point.
 * - A libvirt domain that is paused (an incoming migration before Finish,
 *   the source after a completed migration, a user's pause): its guest does
 *   not run, so every page reads idle; tiering it would push out its whole
 *   working set. States come from a poll of libvirt (`refresh`, on a timer
 *   and on the qemu hook's events); the two checks above are live.
 *
 * Reads only: /proc/PID/task/TID/comm, /proc/PID/cmdline, /proc/PID/fd,
 * /proc/net/tcp{,6}; never the QEMU monitor (libvirt owns it).
 */
import { readlink } from 'node:fs/promises';
import { liveIO, type PlatformIO } from '../platform/io.js';
import { splitCmdline } from './qemu-cmdline.js';

/** Why a pid is held: shown in the task's stats (`held`). */
export type MigrationHoldReason = 'migrating-out' | 'migrating-in' | 'paused';

/** QEMU's outgoing migration thread (migration/migration.c; "bg_snapshot" is a snapshot, not a migration). */
export const MIGRATION_THREAD_NAME = 'live_migration';

export interface MigrationHoldsOptions {
  io?: PlatformIO;
  /** reads a /proc/PID/fd link (socket:[INODE]); default fs.readlink */
  readLink?: (linkPath: string) => Promise<string>;
  /** the libvirt domains running now (pid and state); undefined: no libvirt */
  listDomains?: () => Promise<Array<{ pid: number | null; state: string }>>;
}

/** True when the process runs QEMU's outgoing migration thread. */
export async function hasMigrationThread(pid: number, io: PlatformIO = liveIO): Promise<boolean> {
  let tids: string[];
  try {
    tids = await io.readDir(`/proc/${pid}/task`);
  } catch {
    return false;
  }
  for (const tid of tids) {
    const comm = await io.readText(`/proc/${pid}/task/${tid}/comm`).catch(() => '');
    if (comm.trim() === MIGRATION_THREAD_NAME) return true;
  }
  return false;
}

/** The port of `-incoming tcp:HOST:PORT`, or undefined (no -incoming, `defer`, another transport). */
export function incomingTcpPort(argv: readonly string[]): number | undefined {
  const i = argv.indexOf('-incoming');
  if (i < 0) return undefined;
  const m = /^tcp:.*:(\d+)(?:,.*)?$/.exec(argv[i + 1] ?? '');
  return m ? Number(m[1]) : undefined;
}

/** Socket inodes with local port `port` in /proc/net/tcp and tcp6 text (any state). */
export function socketInodesOnPort(netTcpText: string, port: number): Set<string> {
  const out = new Set<string>();
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const line of netTcpText.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
    if (f.length < 10) continue;
    if (f[1]!.split(':')[1] === hex) out.add(f[9]!);
  }
  return out;
}

/** True when a QEMU started with `-incoming tcp:...:PORT` still holds a socket on PORT. */
export async function isReceivingMigration(pid: number, io: PlatformIO = liveIO, readLink: (p: string) => Promise<string> = readlink): Promise<boolean> {
  const argv = splitCmdline(await io.readText(`/proc/${pid}/cmdline`).catch(() => ''));
  const port = incomingTcpPort(argv);
  if (port === undefined) return false;
  const tables = await Promise.all(['/proc/net/tcp', '/proc/net/tcp6'].map((p) => io.readText(p).catch(() => '')));
  const inodes = socketInodesOnPort(tables.join('\n'), port);
  if (inodes.size === 0) return false;
  let fds: string[];
  try {
    fds = await io.readDir(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  for (const fd of fds) {
    const link = await readLink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const m = /^socket:\[(\d+)\]$/.exec(link);
    if (m && inodes.has(m[1]!)) return true;
  }
  return false;
}

/**
 * The daemon's migration holds: `heldReason(pid)` for the runner's claim
 * step. One per daemon; `refresh` re-reads libvirt's domain states.
 */
export class MigrationHolds {
  private readonly io: PlatformIO;
  private readonly readLink: (p: string) => Promise<string>;
  private pausedPids = new Set<number>();
  /** the listing in flight */
  private refreshing: Promise<void> | undefined;
  /** the one listing asked for while another was in flight: it runs after that one */
  private refreshAgain: Promise<void> | undefined;

  constructor(private readonly opts: MigrationHoldsOptions = {}) {
    this.io = opts.io ?? liveIO;
    this.readLink = opts.readLink ?? readlink;
  }

  /** Why `pid` must be left alone now, or undefined. */
  async heldReason(pid: number): Promise<MigrationHoldReason | undefined> {
    if (await hasMigrationThread(pid, this.io)) return 'migrating-out';
    if (await isReceivingMigration(pid, this.io, this.readLink)) return 'migrating-in';
    if (this.pausedPids.has(pid)) return 'paused';
    return undefined;
  }

  /**
   * Re-reads which libvirt guests are paused; a failed listing keeps the
   * last answer (libvirtd restarting). Resolves once a listing that began
   * after this call has been read: a listing already in flight may have
   * begun before the domain a hook event announces existed, so a call made
   * meanwhile gets one more listing after it (shared by every such call).
   */
  refresh(): Promise<void> {
    const list = this.opts.listDomains;
    if (!list) return Promise.resolve();
    if (this.refreshing) {
      this.refreshAgain ??= this.refreshing.then(() => {
        this.refreshAgain = undefined;
        return this.refresh();
      });
      return this.refreshAgain;
    }
    const listing = list()
      .then((domains) => {
        this.pausedPids = new Set(domains.filter((d) => d.pid !== null && d.state === 'paused').map((d) => d.pid!));
      })
      .catch(() => undefined)
      .finally(() => {
        if (this.refreshing === listing) this.refreshing = undefined;
      });
    this.refreshing = listing;
    return listing;
  }

  /** The pids held as paused at the last refresh (for status). */
  paused(): number[] {
    return [...this.pausedPids].sort((a, b) => a - b);
  }
}
