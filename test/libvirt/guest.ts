/**
 * Small real libvirt guests for the libvirt tests: a TCG domain
 * (`<domain type='qemu'>`: this host's /dev/kvm does not run stock guests,
 * see platform-facts.md) booting the Debian kernel from
 * scripts/fetch-kernel.sh with a busybox initramfs whose init idles, RAM
 * on hugetlbfs, optionally split into guest NUMA cells (RAMBlock ids
 * ram-node0, ram-node1) and carrying a virt-tier policy in <metadata>.
 *
 * Every guest gets a unique name (`vt-test-<tag>-<pid>-<n>`) and is
 * destroyed and undefined by `destroyAll()`, which tests call in `after`
 * (and which also runs on process exit as a last resort).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildCpio } from '../testbed/cpio.js';

export const TEST_URI = 'qemu:///system';
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** Files QEMU (running as libvirt-qemu) must read live here, outside /work and /root. */
export const IMAGE_DIR = '/var/lib/libvirt/images/virt-tier-test';

const GUEST_INIT = `#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
echo virt-tier-test-guest-up > /dev/console
while :; do /bin/busybox sleep 3600; done
`;

/**
 * How long one virsh call may take. A define or start makes libvirtd
 * re-probe QEMU when its capabilities cache is stale, which on this shared,
 * loaded 2-core machine has been seen to take over two minutes.
 */
const VIRSH_TIMEOUT_MS = 240_000;

/** Runs virsh against the test URI; returns stdout. */
export function virsh(...args: string[]): string {
  return execFileSync('virsh', ['-q', '-c', TEST_URI, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: VIRSH_TIMEOUT_MS });
}

/** Starts libvirtd (scripts/setup-libvirt.sh) when it does not answer, then removes orphaned test guests. */
export function ensureLibvirt(): void {
  try {
    execFileSync('virsh', ['-c', TEST_URI, 'uri'], { stdio: 'ignore', timeout: 10_000 });
  } catch {
    execFileSync('bash', [path.join(repoRoot, 'scripts/setup-libvirt.sh')], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 300_000 });
  }
  removeOrphanGuests();
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Destroys and undefines test guests (`vt-test-<tag>-<pid>-<n>`) whose
 * creating process is gone: a test killed by a timeout never runs its
 * cleanup, and leftover guests slow every later libvirtd restart (each one
 * gets a reconnect hook run) and hold hugepages.
 */
export function removeOrphanGuests(): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = virsh('list', '--all', '--name').split('\n').map((n) => n.trim()).filter((n) => n !== '');
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = /^vt-test-.+-(\d+)-\d+$/.exec(name);
    if (!m || Number(m[1]) === process.pid || pidAlive(Number(m[1]))) continue;
    created.add(name);
    destroyGuest(name);
    removed.push(name);
  }
  return removed;
}

/**
 * The kernel and initramfs paths, built/copied once into IMAGE_DIR. A
 * custom `init` gets its own initramfs file (named by the script's hash),
 * so tests with different inits never rewrite a file another test's QEMU
 * is reading.
 */
export function guestImages(init = GUEST_INIT): { kernel: string; initrd: string } {
  mkdirSync(IMAGE_DIR, { recursive: true });
  const kernel = path.join(IMAGE_DIR, 'vmlinuz');
  const initrd = path.join(IMAGE_DIR, init === GUEST_INIT ? 'initramfs.cpio' : `initramfs-${createHash('sha256').update(init).digest('hex').slice(0, 12)}.cpio`);
  if (!existsSync(kernel)) {
    const bootDir = path.join(repoRoot, '.cache/kernel/boot');
    if (!existsSync(bootDir)) execFileSync('bash', [path.join(repoRoot, 'scripts/fetch-kernel.sh')], { stdio: 'ignore' });
    const vmlinuz = readdirSync(bootDir).find((f) => f.startsWith('vmlinuz-'));
    if (!vmlinuz) throw new Error(`no vmlinuz in ${bootDir}: run scripts/fetch-kernel.sh`);
    copyFileSync(path.join(bootDir, vmlinuz), kernel);
  }
  const cpio = buildCpio([
    ...['bin', 'dev', 'proc', 'sys', 'tmp'].map((p) => ({ kind: 'dir' as const, path: p })),
    { kind: 'chardev', path: 'dev/console', major: 5, minor: 1 },
    { kind: 'file', path: 'bin/busybox', data: readFileSync('/bin/busybox'), mode: 0o755 },
    { kind: 'file', path: 'init', data: Buffer.from(init), mode: 0o755 },
  ]);
  if (!existsSync(initrd) || !readFileSync(initrd).equals(cpio)) writeFileSync(initrd, cpio, { mode: 0o644 });
  return { kernel, initrd };
}

export interface GuestOptions {
  /** a word in the name, to tell tests apart in `virsh list` */
  tag?: string;
  memoryMiB?: number;
  /** guest NUMA cells (RAM split evenly); 0 = none, RAMBlock `pc.ram` */
  numaCells?: number;
  hugepages?: boolean;
  /** the <metadata> content, e.g. a policy element */
  metadata?: string;
  /** start it after defining (default true) */
  start?: boolean;
  /** a transient domain (created, not defined) */
  transient?: boolean;
  /** the guest's /init (a busybox sh script); default: mount /proc and idle */
  init?: string;
  /** words added to the kernel command line (the init can read them from /proc/cmdline) */
  cmdlineExtra?: string;
}

export interface TestGuest {
  name: string;
  uuid: string;
  xml: string;
}

let counter = 0;
const created = new Set<string>();

function randomUuid(): string {
  return crypto.randomUUID();
}

export function guestXml(name: string, uuid: string, opts: GuestOptions): string {
  const { kernel, initrd } = guestImages(opts.init);
  const memoryMiB = opts.memoryMiB ?? 128;
  const cells = opts.numaCells ?? 0;
  const vcpus = Math.max(1, cells);
  const numa =
    cells > 0
      ? `<cpu><numa>${Array.from({ length: cells }, (_, i) => `<cell id='${i}' cpus='${i}' memory='${memoryMiB / cells}' unit='MiB'/>`).join('')}</numa></cpu>`
      : '';
  return `<domain type='qemu'>
  <name>${name}</name>
  <uuid>${uuid}</uuid>
  <metadata>${opts.metadata ?? ''}</metadata>
  <memory unit='MiB'>${memoryMiB}</memory>
  <vcpu>${vcpus}</vcpu>
  ${opts.hugepages === false ? '' : '<memoryBacking><hugepages/></memoryBacking>'}
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>${kernel}</kernel>
    <initrd>${initrd}</initrd>
    <cmdline>console=ttyS0 quiet panic=-1${opts.cmdlineExtra ? ` ${opts.cmdlineExtra}` : ''}</cmdline>
  </os>
  ${numa}
  <on_poweroff>destroy</on_poweroff>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <serial type='file'><source path='/var/log/libvirt/qemu/${name}.console'/></serial>
    <memballoon model='none'/>
  </devices>
</domain>`;
}

/** Defines (or creates, when transient) and starts a small guest with a unique name. */
export function createGuest(opts: GuestOptions = {}): TestGuest {
  const name = `vt-test-${opts.tag ?? 'g'}-${process.pid}-${++counter}`;
  const uuid = randomUuid();
  const xml = guestXml(name, uuid, opts);
  const file = path.join(IMAGE_DIR, `${name}.xml`);
  writeFileSync(file, xml);
  created.add(name);
  if (opts.transient) {
    virsh('create', file);
  } else {
    virsh('define', file);
    if (opts.start !== false) virsh('start', name);
  }
  return { name, uuid, xml };
}

/** Destroys (if running) and undefines one guest; never throws. */
export function destroyGuest(name: string): void {
  try {
    virsh('destroy', name);
  } catch {
    // not running
  }
  try {
    virsh('undefine', name);
  } catch {
    // transient or already gone
  }
  created.delete(name);
}

/** Removes every guest this process created. */
export function destroyAll(): void {
  for (const name of [...created]) destroyGuest(name);
}

process.on('exit', () => {
  if (created.size > 0) destroyAll();
});

/** Waits until `cond()` is truthy (polling every `stepMs`), or throws after `timeoutMs`. */
export async function waitFor<T>(cond: () => T | Promise<T>, timeoutMs = 10_000, what = 'condition', stepMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** The QEMU pid of domain `name` from libvirt's pidfile; `root` reads another mount namespace's (`/proc/PID/root`). */
export function qemuPidOf(name: string, root = ''): number {
  return Number(readFileSync(`${root}/run/libvirt/qemu/${name}.pid`, 'utf8').trim());
}

/** The running libvirtd's PID, or null. */
export function libvirtdPid(): number | null {
  try {
    const pid = Number(readFileSync('/run/libvirtd.pid', 'utf8').trim());
    process.kill(pid, 0);
    return pid;
  } catch {
    return null;
  }
}

/**
 * Stops libvirtd (SIGTERM, running guests keep running) and starts it again,
 * waiting until it answers: it rescans hooks at start and sends `reconnect`
 * for guests already running.
 */
export async function restartLibvirtd(): Promise<void> {
  const pid = libvirtdPid();
  if (pid !== null) {
    process.kill(pid, 'SIGTERM');
    await waitFor(() => libvirtdPid() === null, 20_000, 'libvirtd to exit');
  }
  execFileSync('libvirtd', ['-d'], { stdio: 'ignore' });
  await waitFor(() => {
    try {
      execFileSync('virsh', ['-c', TEST_URI, 'uri'], { stdio: 'ignore', timeout: 5000 });
      return true;
    } catch {
      return false;
    }
  }, 20_000, 'libvirtd to answer');
}
