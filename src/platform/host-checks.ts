/**
 * What this host offers virt-tier, one check per capability, in the spirit
 * of virt-host-validate: a status, the reason, and how to fix it. Kernel
 * files are read through PlatformIO (so the file-based checks run against
 * fixtures too); syscall capabilities are probed by `KernelProbes`, which
 * really call the addon on this process's own memory.
 */
import { connect } from 'node:net';
import { execFile } from 'node:child_process';
import { liveKernel, type KernelOps } from '../native/kernel.js';
import { PAGE_IS } from '../native/pagemap.js';
import { liveIO, type PlatformIO } from './io.js';
import { readNumaTopology, memoryOnlyNodes } from './numa-topology.js';
import { readSwapFacts } from './swap.js';
import { parseSmaps } from './smaps.js';

export type CheckStatus = 'PASS' | 'WARN' | 'FAIL';

export interface HostCheck {
  /** what was checked, e.g. "DAMON vaddr (tracker backend)" */
  check: string;
  status: CheckStatus;
  reason: string;
  /** what to do about a WARN or FAIL */
  fix?: string;
}

/** Syscall probes; each resolves on success and rejects with the SysError. */
export interface KernelProbes {
  pagemapScan(): Promise<void>;
  movePages(): Promise<void>;
  processMadvise(): Promise<void>;
  /** resolves to how libvirt answered (socket path or URI) */
  libvirt(): Promise<string>;
}

/** One writable page of this process (from /proc/self/maps), for the syscall probes. */
async function ownPage(io: PlatformIO): Promise<number> {
  const vma = parseSmaps(await io.readText('/proc/self/maps')).find((v) => v.perms.startsWith('rw') && v.end <= Number.MAX_SAFE_INTEGER);
  if (!vma) throw new Error('no writable mapping in /proc/self/maps');
  return vma.start;
}

/** Probes that call the addon on this process, and reach libvirt with a short timeout. */
export function liveKernelProbes(libvirtTimeoutMs = 2000, kernel: KernelOps = liveKernel, io: PlatformIO = liveIO): KernelProbes {
  return {
    async pagemapScan() {
      const page = await ownPage(io);
      await kernel.pagemapScan(process.pid, page, page + 4096, { returnMask: PAGE_IS.PRESENT | PAGE_IS.SWAPPED });
    },
    async movePages() {
      const page = await ownPage(io);
      const [status] = await kernel.queryPageNodes(process.pid, new Float64Array([page]));
      if (status === undefined) throw new Error('move_pages returned no status');
    },
    async processMadvise() {
      const page = await ownPage(io);
      await kernel.adviseCold(process.pid, new Float64Array([page, 4096]));
    },
    libvirt: () => probeLibvirt(libvirtTimeoutMs),
  };
}

/** The libvirtd socket answers a connect, else `virsh -c qemu:///system uri` answers, within `timeoutMs`. */
export async function probeLibvirt(timeoutMs: number): Promise<string> {
  const socketPath = '/run/libvirt/libvirt-sock';
  const viaSocket = await new Promise<boolean>((resolve) => {
    const sock = connect(socketPath);
    const timer = setTimeout(() => { sock.destroy(); resolve(false); }, timeoutMs);
    sock.once('connect', () => { clearTimeout(timer); sock.destroy(); resolve(true); });
    sock.once('error', () => { clearTimeout(timer); resolve(false); });
  });
  if (viaSocket) return socketPath;
  return new Promise((resolve, reject) => {
    execFile('virsh', ['-c', 'qemu:///system', 'uri'], { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${socketPath} refused and virsh failed: ${(stderr || err.message).trim().split('\n')[0]}`));
      else resolve(stdout.trim());
    });
  });
}

function errText(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof (err as { code: unknown }).code === 'string') {
    const e = err as { code: string; syscall?: string };
    return e.syscall ? `${e.syscall}: ${e.code}` : e.code;
  }
  return err instanceof Error ? err.message : String(err);
}

async function syscallCheck(check: string, probe: () => Promise<void>, ok: string, missing: CheckStatus, fix: string): Promise<HostCheck> {
  try {
    await probe();
    return { check, status: 'PASS', reason: ok };
  } catch (err) {
    return { check, status: missing, reason: errText(err), fix };
  }
}

/**
 * One tracker backend as the chooser probed it (src/scan/choose-tracker.ts
 * computes these; this layer only words them), in the chooser's order.
 */
export interface TrackerFact {
  name: string;
  available: boolean;
  /** the probe's reason: why not, or how it will run */
  reason: string;
  engines: readonly string[];
  /** which guest memory it sees */
  memory?: string;
}

/**
 * A line per tracker virt-tier has (never a kernel facility nothing uses),
 * then the automatic choice per engine with the reason for the order.
 */
export function trackerChecks(trackers: readonly TrackerFact[]): HostCheck[] {
  const out: HostCheck[] = trackers.map((t) => t.available
    ? { check: `tracker: ${t.name}`, status: 'PASS', reason: `usable for ${t.engines.join(', ')}; sees ${t.memory ?? 'guest RAM'}${t.reason ? `; ${t.reason}` : ''}` }
    : { check: `tracker: ${t.name}`, status: 'WARN', reason: `not usable: ${t.reason}`, fix: fixFor(t) });
  const order = trackers.map((t) => t.name).join(' > ');
  for (const engine of ['slide', 'cslide']) {
    const pick = trackers.find((t) => t.available && t.engines.includes(engine));
    out.push(pick
      ? { check: `access tracker for ${engine} (auto)`, status: 'PASS', reason: `${pick.name}: the first usable of ${order} (exact and cheap first, shared DAMON paddr last: it is blind to hugetlb and, when sharing, imprecise for scattered 4 KiB pages)` }
      : { check: `access tracker for ${engine} (auto)`, status: 'FAIL', reason: `none of ${order} is usable for ${engine}`, fix: 'use a kernel with CONFIG_DAMON_VADDR (or CONFIG_DAMON_PADDR and tracefs) and CONFIG_DAMON_SYSFS, or CONFIG_IDLE_PAGE_TRACKING (slide only); see each tracker line above' });
  }
  return out;
}

function fixFor(t: TrackerFact): string {
  switch (t.name) {
    case 'idle-pages': return 'on openEuler kernels: modprobe etmem_scan';
    case 'damon-vaddr': return 'a kernel with CONFIG_DAMON_VADDR=y and CONFIG_DAMON_SYSFS=y (stock Debian 6.12 has both)';
    case 'page-idle': return 'a kernel with CONFIG_IDLE_PAGE_TRACKING=y, run as root';
    case 'damon-paddr': return 'CONFIG_DAMON_PADDR=y, CONFIG_DAMON_SYSFS=y and tracefs; with another DAMON user\'s kdamond in the way, share a running paddr one or stop it';
    default: return 'see the reason';
  }
}

/** Runs every check, in display order; `trackers` are the chooser's probes (the CLI passes them). */
export async function runHostChecks(io: PlatformIO, probes: KernelProbes, trackers: readonly TrackerFact[] = []): Promise<HostCheck[]> {
  const out: HostCheck[] = [];

  // Access trackers: only the backends virt-tier has, as its chooser sees them.
  out.push(...trackerChecks(trackers));

  // Page table and migration syscalls.
  out.push(await syscallCheck('PAGEMAP_SCAN ioctl', probes.pagemapScan, 'available (Linux 6.7+)', 'WARN', 'page stats fall back to /proc/PID/pagemap reads; Linux 6.7+ is faster'));
  out.push(await syscallCheck('move_pages', probes.movePages, 'node query works', 'FAIL', 'run as root on a kernel with CONFIG_MIGRATION and CONFIG_NUMA'));
  out.push(await syscallCheck('process_madvise (MADV_COLD/PAGEOUT)', probes.processMadvise, 'available', 'WARN', 'needs Linux 5.10+ and CAP_SYS_NICE; without it cold pages cannot be swapped out'));

  // NUMA.
  try {
    const topo = await readNumaTopology(io);
    const memOnly = memoryOnlyNodes(topo).map((n) => n.id);
    out.push(topo.nodes.length >= 2
      ? { check: 'NUMA nodes', status: 'PASS', reason: `${topo.nodes.length} nodes (${topo.nodes.map((n) => `node${n.id}: ${n.cpus.length} CPUs, ${Math.round(n.memTotalBytes / 1048576)} MiB`).join('; ')})` }
      : { check: 'NUMA nodes', status: 'WARN', reason: `${topo.nodes.length} node: nothing to tier between (swap only)`, fix: 'tiering between nodes needs a second (AEP/CXL) node; slide (swap) still works' });
    out.push(memOnly.length > 0
      ? { check: 'memory-only nodes (AEP/CXL tier)', status: 'PASS', reason: `nodes without CPUs: ${memOnly.join(', ')}` }
      : { check: 'memory-only nodes (AEP/CXL tier)', status: 'WARN', reason: 'every node has CPUs', fix: 'cslide needs node_pair DRAM,AEP; name the slower node explicitly' });
    for (const n of topo.nodes) {
      const pools = n.hugepages.map((h) => `${h.pageSizeBytes / 1024}kB: ${h.nr} total, ${h.free} free`).join('; ') || 'no pools';
      const any = n.hugepages.some((h) => h.nr > 0);
      out.push(any
        ? { check: `hugepages on node${n.id}`, status: 'PASS', reason: pools }
        : { check: `hugepages on node${n.id}`, status: 'WARN', reason: `${pools} (none reserved)`, fix: `hugetlb guests need pages: echo N > /sys/devices/system/node/node${n.id}/hugepages/hugepages-2048kB/nr_hugepages` });
    }
  } catch (err) {
    out.push({ check: 'NUMA nodes', status: 'FAIL', reason: errText(err), fix: 'mount sysfs at /sys' });
  }

  // Swap.
  const swap = await readSwapFacts(io);
  out.push(swap.devices.length > 0
    ? { check: 'swap devices', status: 'PASS', reason: swap.devices.map((d) => `${d.filename} ${Math.round(d.sizeBytes / 1048576)} MiB prio ${d.priority}`).join('; ') }
    : { check: 'swap devices', status: 'WARN', reason: 'no active swap', fix: 'slide swaps cold pages out: swapon a device (zram: hot_add, disksize, mkswap, swapon)' });
  out.push(swap.zramAvailable
    ? { check: 'zram', status: 'PASS', reason: `available${swap.zramDevices.length ? `, devices: ${swap.zramDevices.map((z) => `${z.name} ${Math.round(z.disksizeBytes / 1048576)} MiB ${z.compAlgorithm}`).join('; ')}` : ''}` }
    : { check: 'zram', status: 'WARN', reason: '/sys/class/zram-control missing', fix: 'modprobe zram' });
  out.push(swap.zswapEnabled
    ? { check: 'zswap', status: 'PASS', reason: 'enabled' }
    : { check: 'zswap', status: 'WARN', reason: swap.zswapAvailable ? 'present but disabled' : 'not in this kernel', fix: swap.zswapAvailable ? 'echo Y > /sys/module/zswap/parameters/enabled (optional: compresses before swap)' : 'optional; CONFIG_ZSWAP=y' });

  // libvirt.
  try {
    out.push({ check: 'libvirt (qemu:///system)', status: 'PASS', reason: `reachable via ${await probes.libvirt()}` });
  } catch (err) {
    out.push({ check: 'libvirt (qemu:///system)', status: 'WARN', reason: errText(err), fix: 'start libvirtd (virtlogd -d; libvirtd -d); type=domain tasks need it' });
  }
  return out;
}
