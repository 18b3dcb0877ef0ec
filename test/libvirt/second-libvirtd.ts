/**
 * A second libvirtd on this host, so a test can migrate a domain between
 * two libvirt hosts (libvirt refuses to migrate a domain to its own
 * libvirtd, and to a libvirtd with the same host UUID).
 *
 * It runs in its own mount namespace (`unshare --mount --propagation
 * private`, held open by a `sleep infinity` that commands enter with
 * `nsenter -t PID -m`), where libvirt's state lives on private mounts:
 *   /run/libvirt              tmpfs: its pidfiles, QEMU monitors, virtlogd's socket
 *   /var/lib/libvirt/qemu     tmpfs: its domains' state
 *   /var/cache/libvirt/qemu   a copy of the host's QEMU capabilities cache (a fresh probe
 *                             costs seconds idle, minutes on a loaded host)
 *   /etc/libvirt              a copy with its own libvirtd.conf (`host_uuid`, `unix_sock_dir`
 *                             under DIR so the host reaches it) and qemu.conf, and its own hooks
 *   /etc/virt-tier            its own hook.conf: the hook of this libvirtd calls its own virt-tierd
 *   /var/log/libvirt          DIR/log: its domain logs and console files, apart from the host's
 *                             (the migrated guest has the same name on both sides)
 * and /dev/hugepages is unmounted there (the guests it runs use anonymous
 * memory; libvirtd would otherwise manage dirs in the host's hugetlbfs).
 * The network, the pid space, /proc and /var/lib/libvirt/images are the
 * host's: the migration stream goes over 127.0.0.1, the daemon's abstract
 * socket is reachable from both sides, and both sides read the same guest
 * kernel and initrd.
 *
 * Its qemu.conf keeps it off what the host's libvirtd owns: no cgroups
 * (`cgroup_controllers = []`; both would manage the same cgroup trees) and
 * no relabelling of shared files (`dynamic_ownership = 0`, `remember_owner
 * = 0`: the host's libvirtd tracks the owners of the guest images in
 * xattrs, and a second writer would restore them under it). Lock manager:
 * libvirt's default (none), so no virtlockd.
 *
 * DIR is /tmp/vt-dest-XXXXXX. `stop()` destroys its domains, ends every
 * process in the namespace (the namespace goes with its last process) and
 * removes DIR; a namespace left by a killed test is cleaned up by the next
 * start (its mount namespace id is kept in DIR/mnt-ns, and a process counts
 * as inside only when its /etc/libvirt is DIR's copy).
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { installHook } from '../../src/cli/install-hook.js';
import { waitFor } from './guest.js';

const execFileAsync = promisify(execFile);
const DIR_PREFIX = '/tmp/vt-dest-';
/** A define, start or capabilities lookup may re-probe QEMU: minutes on a loaded 2-core host (guest.ts). */
const VIRSH_TIMEOUT_MS = 240_000;

export interface SecondLibvirtd {
  /** /tmp/vt-dest-XXXXXX */
  dir: string;
  /** how the host reaches it: qemu+unix:///system?socket=DIR/run/libvirt-sock */
  uri: string;
  /** its host UUID (libvirtd.conf host_uuid), not the host's libvirtd's */
  hostUuid: string;
  /** the process holding the mount namespace */
  holderPid: number;
  /** DIR/log/qemu: its domains' logs and console files as the host sees them */
  logDir: string;
  /** where its hook records events it could not deliver (hook.conf lost_log) */
  hookLostLog: string;
  /** `argv` prefixed to run inside the namespace (nsenter execs it: the pid is the command's) */
  inside(argv: string[]): string[];
  /** virsh against this libvirtd; returns stdout */
  virsh(...args: string[]): string;
  /** the virt-tierd socket this libvirtd's hook calls (its own hook.conf; read at every hook run) */
  setHookSocket(socket: string): void;
  /** the tail of its libvirtd log, for a failure message */
  logTail(lines?: number): string;
  /** destroys its domains, ends every process in the namespace, removes DIR; never throws */
  stop(): Promise<void>;
}

export interface SecondLibvirtdOptions {
  /** install hooks/qemu for this libvirtd (libvirtd looks for hooks only at start); its socket: setHookSocket */
  hook?: boolean;
}

function mntNamespace(pid: number): string | null {
  try {
    return readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return null;
  }
}

/**
 * The pids in mount namespace `ns` that see DIR's libvirtd.conf as their
 * /etc/libvirt/libvirtd.conf: every process started inside, and nothing
 * else even when a namespace id of a dead namespace was reused.
 */
function pidsInNamespace(ns: string, dir: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || mntNamespace(Number(entry)) !== ns) continue;
    try {
      if (readFileSync(`/proc/${entry}/root/etc/libvirt/libvirtd.conf`, 'utf8').includes(`unix_sock_dir = "${dir}/run"`)) out.push(Number(entry));
    } catch {
      // gone, or not ours
    }
  }
  return out;
}

function signalAll(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // gone already
    }
  }
}

/** Ends every process of namespace `ns`: SIGTERM, then SIGKILL for what is left after `graceMs`. */
async function endNamespace(ns: string, dir: string, graceMs: number): Promise<void> {
  if (ns === mntNamespace(process.pid)) return; // never the host's own namespace
  signalAll(pidsInNamespace(ns, dir), 'SIGTERM');
  await waitFor(() => pidsInNamespace(ns, dir).length === 0, graceMs, 'the namespace to empty', 100).catch(() => undefined);
  signalAll(pidsInNamespace(ns, dir), 'SIGKILL');
  await waitFor(() => pidsInNamespace(ns, dir).length === 0, 30_000, 'the namespace to empty after SIGKILL', 100).catch(() => undefined);
}

function removeEmptyDir(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // not empty (something else put files there) or gone: leave it
  }
}

/** Namespaces and dirs left by a test that was killed (its process, DIR/owner.pid, is gone). */
async function removeStale(): Promise<void> {
  for (const name of readdirSync(path.dirname(DIR_PREFIX))) {
    const dir = path.join(path.dirname(DIR_PREFIX), name);
    // only what mkdtemp made here, and only with its owner recorded (written first): never someone's checkout
    if (!/^vt-dest-[A-Za-z0-9]{6}$/.test(name) || !existsSync(path.join(dir, 'owner.pid'))) continue;
    let ns = '';
    try {
      ns = readFileSync(path.join(dir, 'mnt-ns'), 'utf8').trim();
    } catch {
      // not written yet (a start in progress, judged by its owner below) or a start that failed early
    }
    const owner = Number(readFileSync(path.join(dir, 'owner.pid'), 'utf8').trim());
    if (owner > 0 && existsSync(`/proc/${owner}`)) continue;
    if (ns !== '') await endNamespace(ns, dir, 5000);
    if (existsSync(path.join(dir, 'made-etc-virt-tier'))) removeEmptyDir('/etc/virt-tier');
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Starts a virtlogd and a libvirtd in a new mount namespace and waits
 * until the libvirtd answers on its socket under DIR.
 */
export async function startSecondLibvirtd(opts: SecondLibvirtdOptions = {}): Promise<SecondLibvirtd> {
  await removeStale();
  const dir = mkdtempSync(DIR_PREFIX);
  writeFileSync(path.join(dir, 'owner.pid'), `${process.pid}\n`);
  const hostUuid = randomUUID();
  const sockDir = path.join(dir, 'run');
  const uri = `qemu+unix:///system?socket=${sockDir}/libvirt-sock`;
  const etcLibvirt = path.join(dir, 'etc-libvirt');
  const etcVirtTier = path.join(dir, 'etc-virt-tier');
  const cache = path.join(dir, 'cache-qemu');
  const logDir = path.join(dir, 'log', 'qemu');
  const libvirtdLog = path.join(dir, 'libvirtd.log');
  const hookLostLog = path.join(dir, 'hook-lost.log');
  mkdirSync(sockDir);
  mkdirSync(logDir, { recursive: true });
  mkdirSync(etcVirtTier);
  cpSync('/etc/libvirt', etcLibvirt, { recursive: true });
  // the host's hooks (another test's) would call the host's daemon: this libvirtd gets only its own
  rmSync(path.join(etcLibvirt, 'hooks'), { recursive: true, force: true });
  mkdirSync(path.join(etcLibvirt, 'hooks'));
  if (existsSync('/var/cache/libvirt/qemu')) cpSync('/var/cache/libvirt/qemu', cache, { recursive: true });
  else mkdirSync(cache);
  writeFileSync(
    path.join(etcLibvirt, 'libvirtd.conf'),
    [
      '# a second libvirtd for the migration tests (test/libvirt/second-libvirtd.ts)',
      `unix_sock_dir = "${sockDir}"`,
      // migration to a host with the same UUID is refused as a migration to itself
      `host_uuid = "${hostUuid}"`,
      `log_outputs = "3:file:${libvirtdLog}"`,
      '',
    ].join('\n'),
  );
  writeFileSync(path.join(etcLibvirt, 'qemu.conf'), ['cgroup_controllers = [ ]', 'dynamic_ownership = 0', 'remember_owner = 0', ''].join('\n'));
  if (opts.hook) installHook({ hooksDir: path.join(etcLibvirt, 'hooks') });
  const setHookSocket = (socket: string): void =>
    writeFileSync(path.join(etcVirtTier, 'hook.conf'), `socket=${socket}\nlost_log=${hookLostLog}\n`);
  // A bind mount needs its mount point; /etc/virt-tier is removed again by stop() when this made it.
  const madeEtcVirtTier = !existsSync('/etc/virt-tier');
  if (madeEtcVirtTier) {
    mkdirSync('/etc/virt-tier', { mode: 0o755 });
    writeFileSync(path.join(dir, 'made-etc-virt-tier'), '');
  }
  mkdirSync('/var/lib/libvirt/qemu', { recursive: true });
  mkdirSync('/var/cache/libvirt/qemu', { recursive: true });

  const script = [
    'set -e',
    'mount -t tmpfs -o mode=0755 tmpfs /run/libvirt',
    'mount -t tmpfs -o mode=0751 tmpfs /var/lib/libvirt/qemu',
    `mount --bind "${cache}" /var/cache/libvirt/qemu`,
    `mount --bind "${etcLibvirt}" /etc/libvirt`,
    `mount --bind "${etcVirtTier}" /etc/virt-tier`,
    `mount --bind "${path.dirname(logDir)}" /var/log/libvirt`,
    'if mountpoint -q /dev/hugepages; then umount /dev/hugepages; fi',
    'echo ready',
    'exec sleep infinity',
  ].join('\n');
  const holder: ChildProcess = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let holderOut = '';
  holder.stdout!.on('data', (d: Buffer) => (holderOut += d.toString()));
  holder.stderr!.on('data', (d: Buffer) => (holderOut += d.toString()));
  const holderPid = holder.pid!;
  let ns = '';
  const inside = (argv: string[]): string[] => ['nsenter', '-t', String(holderPid), '-m', '--', ...argv];
  const virsh = (...args: string[]): string =>
    execFileSync('virsh', ['-q', '-c', uri, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: VIRSH_TIMEOUT_MS });
  const logTail = (lines = 40): string => {
    try {
      return readFileSync(libvirtdLog, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no libvirtd log)';
    }
  };

  let stopped = false;
  const stopNow = (): void => {
    // last resort on exit: synchronous kills only
    if (stopped) return;
    if (ns !== '') signalAll(pidsInNamespace(ns, dir), 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', stopNow);
  const stop = async (): Promise<void> => {
    if (stopped) return;
    try {
      if (ns !== '') {
        // destroy first: QEMU outlives a libvirtd that is stopped
        try {
          for (const name of virsh('list', '--name').split('\n').map((n) => n.trim()).filter((n) => n !== '')) {
            await execFileAsync('virsh', ['-q', '-c', uri, 'destroy', name], { timeout: 60_000 }).catch(() => undefined);
          }
        } catch {
          // libvirtd already gone: the QEMUs die with the namespace below
        }
        await endNamespace(ns, dir, 20_000);
      } else if (holder.exitCode === null) {
        holder.kill('SIGKILL');
      }
    } finally {
      stopped = true;
      process.removeListener('exit', stopNow);
      rmSync(dir, { recursive: true, force: true });
      if (madeEtcVirtTier) removeEmptyDir('/etc/virt-tier');
    }
  };

  try {
    await waitFor(() => holderOut.includes('ready') || holder.exitCode !== null, 60_000, 'the mount namespace', 50);
    if (!holderOut.includes('ready')) throw new Error(`the mount namespace was not set up: ${holderOut}`);
    ns = mntNamespace(holderPid) ?? '';
    if (ns === '' || ns === mntNamespace(process.pid)) throw new Error(`pid ${holderPid} is not in a namespace of its own`);
    writeFileSync(path.join(dir, 'mnt-ns'), `${ns}\n`);
    // -p: the host's libvirtd and virtlogd own /run/libvirtd.pid and /run/virtlogd.pid
    for (const daemon of ['virtlogd', 'libvirtd']) {
      const [cmd, ...args] = inside([daemon, '-d', '-p', path.join(dir, `${daemon}.pid`)]);
      execFileSync(cmd!, args, { stdio: 'ignore', timeout: 60_000 });
    }
    await waitFor(async () => {
      try {
        await execFileAsync('virsh', ['-c', uri, 'uri'], { timeout: 10_000 });
        return true;
      } catch {
        return false;
      }
    }, VIRSH_TIMEOUT_MS, `the second libvirtd to answer on ${uri}`, 250);
  } catch (err) {
    const log = logTail();
    await stop();
    throw new Error(`${(err as Error).message}\nlibvirtd log:\n${log}`);
  }
  return { dir, uri, hostUuid, holderPid, logDir, hookLostLog, inside, virsh, setHookSocket, logTail, stop };
}
