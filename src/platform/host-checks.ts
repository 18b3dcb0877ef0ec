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
import { probeDamon } from './damon-probe.js';
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

/** Runs every check, in display order. */
export async function runHostChecks(io: PlatformIO, probes: KernelProbes): Promise<HostCheck[]> {
  const out: HostCheck[] = [];

  // Access trackers.
  const damon = await probeDamon(io).catch(() => ({ sysfs: false, operations: [] as string[], kdamonds: 0 }));
  const hasVaddr = damon.operations.includes('vaddr');
  const hasPaddr = damon.operations.includes('paddr');
  const noDamon = damon.sysfs ? 'DAMON sysfs present' : 'no DAMON sysfs (/sys/kernel/mm/damon/admin)';
  out.push(hasVaddr
    ? { check: 'tracker: DAMON vaddr', status: 'PASS', reason: `operations: ${damon.operations.join(' ')}` }
    : { check: 'tracker: DAMON vaddr', status: 'WARN', reason: damon.sysfs ? `${noDamon}, operations: ${damon.operations.join(' ') || 'none'}` : noDamon, fix: 'use a kernel with CONFIG_DAMON_VADDR=y and CONFIG_DAMON_SYSFS=y (stock Debian 6.12 has both)' });
  out.push(hasPaddr
    ? { check: 'tracker: DAMON paddr', status: 'PASS', reason: 'available (skips hugetlb pages: cannot track hugetlb-backed guests)' }
    : { check: 'tracker: DAMON paddr', status: 'WARN', reason: damon.sysfs ? 'paddr not in avail_operations' : noDamon, fix: 'use a kernel with CONFIG_DAMON_PADDR=y and CONFIG_DAMON_SYSFS=y' });
  const pageIdle = await io.exists('/sys/kernel/mm/page_idle/bitmap');
  out.push(pageIdle
    ? { check: 'tracker: page_idle', status: 'PASS', reason: '/sys/kernel/mm/page_idle/bitmap present' }
    : { check: 'tracker: page_idle', status: 'WARN', reason: '/sys/kernel/mm/page_idle/bitmap missing', fix: 'use a kernel with CONFIG_IDLE_PAGE_TRACKING=y' });
  const etmem = await io.exists('/proc/1/idle_pages');
  out.push(etmem
    ? { check: 'tracker: etmem idle_pages', status: 'PASS', reason: '/proc/PID/idle_pages present' }
    : { check: 'tracker: etmem idle_pages', status: 'WARN', reason: '/proc/PID/idle_pages missing', fix: 'on openEuler kernels: modprobe etmem_scan' });
  const anyTracker = hasVaddr || pageIdle || etmem;
  out.push(anyTracker
    ? { check: 'any access tracker for guest RAM', status: 'PASS', reason: [hasVaddr && 'DAMON vaddr', pageIdle && 'page_idle', etmem && 'etmem idle_pages'].filter(Boolean).join(', ') }
    : hasPaddr
      ? { check: 'any access tracker for guest RAM', status: 'WARN', reason: 'only DAMON paddr: anonymous guest RAM only, hugetlb guests read as idle', fix: 'enable DAMON vaddr or page_idle in the kernel' }
      : { check: 'any access tracker for guest RAM', status: 'FAIL', reason: 'no DAMON, no page_idle, no etmem idle_pages', fix: 'use a kernel with CONFIG_DAMON_VADDR or CONFIG_IDLE_PAGE_TRACKING' });

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
