/**
 * A synthetic "guest" for tests inside the testbed: a process whose memory
 * looks like a QEMU RAM block (hugetlb, by default a shared hugetlbfs file,
 * smaps `ht`; or THP-backed anonymous memory, `thp`; or a memfd mapped
 * shared, `memfd`) with a hot set it keeps writing every `touchMs` and a
 * cold set written once. Engine and tracker tests point virt-tier at its
 * pid. With `altHotPages`, `switchHotSet()` makes the workload write other
 * pages from then on (a guest whose working set moves).
 *
 * In-process use (inside the testbed):
 *   const guest = await startSyntheticGuest({ hotMiB: 16, coldMiB: 48, node: 0 });
 *   guest.pid; guest.hotRanges(); guest.coldRanges(); await guest.stop();
 *
 * Command line (prints the ready JSON line, runs until SIGTERM/SIGINT):
 *   node dist/test/testbed/inner/synthetic-guest.js --hot-mib 16 --cold-mib 48 \
 *     [--node 0] [--cpu 0] [--touch-ms 20] [--backing hugetlbfs|anon-huge|anon|thp|memfd] \
 *     [--interleave] [--no-companion]
 *
 * The memory is faulted in under `numactl --membind=NODE`; the process runs
 * on `cpu` with, by default, a companion that context-switches on the same
 * CPU: without it TCG keeps the hot pages' TLB entries and DAMON sees them
 * idle (the TLB caveat in platform-facts.md).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * hugetlbfs: 2 MiB hugetlb file, shared (QEMU memory-backend-file on hugetlbfs);
 * anon-huge: private MAP_HUGETLB; anon: 4 KiB private anonymous;
 * thp: private anonymous, 2 MiB-aligned, MADV_HUGEPAGE (memory-backend-ram under THP);
 * memfd: memfd_create + MAP_SHARED, 4 KiB shmem (memory-backend-memfd, vhost-user).
 * For thp and memfd a "page" below is a 2 MiB block (one THP; 512 shmem pages).
 */
export type SyntheticBacking = 'hugetlbfs' | 'anon-huge' | 'anon' | 'thp' | 'memfd';

export const SYNTHETIC_BACKINGS: readonly SyntheticBacking[] = ['hugetlbfs', 'anon-huge', 'anon', 'thp', 'memfd'];

export interface SyntheticGuestOptions {
  hotMiB: number;
  coldMiB: number;
  /** NUMA node the memory is allocated on; default 0 */
  node?: number;
  /** CPU the process (and its companion) run on; default 0 */
  cpu?: number;
  /** ms between writes to the hot set; default 20 */
  touchMs?: number;
  /** default 'hugetlbfs' (MAP_SHARED file on /dev/hugepages, unlinked, like libvirt's hugepage-backed guests) */
  backing?: SyntheticBacking;
  /** alternate hot and cold pages instead of hot first (tests that regions never merge hugepages of different temperature) */
  interleave?: boolean;
  /** run the context-switching companion on `cpu`; default true */
  companion?: boolean;
  /** page indices that become the hot set on switchHotSet() */
  altHotPages?: readonly number[];
  /**
   * 'bind' (default): numactl --membind, as libvirt's strict numatune;
   * 'preferred': numactl --preferred, faulted in on `node` but free to move
   * (NUMA balancing never migrates MPOL_BIND memory: mpol_misplaced());
   * 'local': no memory policy at all, so memory lands on the node of `cpu`
   * (pick a CPU of `node`). Only this one gets NUMA balancing: a task or
   * VMA policy without MPOL_F_MOF, which any numactl policy is, makes
   * task_numa_work skip every VMA (vma_policy_mof(), mm/mempolicy.c).
   */
  memPolicy?: 'bind' | 'preferred' | 'local';
}

export interface PageRange {
  start: number;
  lengthBytes: number;
}

export interface SyntheticGuest {
  pid: number;
  start: number;
  /** the unit of the layout: the page size, or 2 MiB blocks for thp and memfd */
  pageSizeBytes: number;
  /** the kernel's page size (smaps KernelPageSize): 4 KiB for thp and memfd */
  kernelPageSizeBytes: number;
  backing: SyntheticBacking;
  pageCount: number;
  /** indices (0..pageCount-1) of the hot pages (the current hot set) */
  hotPages: number[];
  /** makes the workload write `altHotPages` instead, from now on; resolves once it does */
  switchHotSet(): Promise<void>;
  /** addresses of every page, and of the hot and cold ones */
  pageAddrs(): number[];
  hotAddrs(): number[];
  coldAddrs(): number[];
  stop(): Promise<void>;
}

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** dist/test/testbed/inner -> test/testbed/inner: the .py is not compiled, it lives in the source tree. */
const SCRIPT = path.resolve(HERE, '..', '..', '..', '..', 'test', 'testbed', 'inner', 'synthetic-guest.py');

function layout(hotPages: number, coldPages: number, interleave: boolean): number[] {
  const total = hotPages + coldPages;
  if (!interleave) return Array.from({ length: hotPages }, (_, i) => i);
  // Spread hot pages evenly over the mapping, so each hot page sits between cold ones.
  const hot: number[] = [];
  for (let i = 0; i < hotPages; i++) hot.push(Math.floor(((i + 0.5) * total) / hotPages));
  return hot;
}

function waitExit(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

/** Starts the synthetic guest and resolves once all its memory is faulted in. */
export async function startSyntheticGuest(opts: SyntheticGuestOptions): Promise<SyntheticGuest> {
  const backing = opts.backing ?? 'hugetlbfs';
  if (!SYNTHETIC_BACKINGS.includes(backing)) throw new Error(`synthetic guest: backing must be one of ${SYNTHETIC_BACKINGS.join('|')}, got ${backing}`);
  const pageSizeBytes = backing === 'anon' ? 4096 : 2 << 20;
  const hotCount = Math.round((opts.hotMiB * (1 << 20)) / pageSizeBytes);
  const coldCount = Math.round((opts.coldMiB * (1 << 20)) / pageSizeBytes);
  if (hotCount + coldCount <= 0) throw new Error('synthetic guest: hotMiB + coldMiB must be > 0');
  const hot = layout(hotCount, coldCount, opts.interleave ?? false);
  const node = opts.node ?? 0;
  const cpu = opts.cpu ?? 0;
  const policy = opts.memPolicy ?? 'bind';
  const args = [
    ...(policy === 'bind' ? [`--membind=${node}`] : policy === 'preferred' ? [`--preferred=${node}`] : []), `--physcpubind=${cpu}`,
    'python3', SCRIPT, backing, String(hotCount + coldCount), hot.join(','), String(opts.touchMs ?? 20),
    ...(opts.altHotPages ? [opts.altHotPages.join(',')] : []),
  ];
  const child = spawn('numactl', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let companion: ChildProcess | undefined;
  if (opts.companion ?? true) {
    companion = spawn('taskset', ['-c', String(cpu), 'sh', '-c', 'while :; do sleep 0.001; done'], { stdio: 'ignore' });
  }
  const stop = async (): Promise<void> => {
    for (const p of [child, companion]) {
      if (p && p.exitCode === null && p.signalCode === null) {
        p.kill('SIGTERM');
        await waitExit(p);
      }
    }
  };
  const lines = createInterface({ input: child.stdout! });
  const ready = await new Promise<{ pid: number; start: number; pageSizeBytes: number; pageCount: number; hotPages: number[] }>(
    (resolve, reject) => {
      lines.once('line', (line) => {
        try {
          resolve(JSON.parse(line));
        } catch (err) {
          reject(err);
        }
      });
      child.once('exit', (code, sig) => reject(new Error(`synthetic guest exited before ready (${code ?? sig})`)));
    },
  ).catch(async (err: unknown) => {
    await stop();
    throw err;
  });
  let hotSet = new Set(ready.hotPages);
  const addrOf = (i: number): number => ready.start + i * ready.pageSizeBytes;
  const all = Array.from({ length: ready.pageCount }, (_, i) => i);
  const guest: SyntheticGuest = {
    ...ready,
    backing,
    kernelPageSizeBytes: backing === 'thp' || backing === 'memfd' ? 4096 : ready.pageSizeBytes,
    pageAddrs: () => all.map(addrOf),
    hotAddrs: () => all.filter((i) => hotSet.has(i)).map(addrOf),
    coldAddrs: () => all.filter((i) => !hotSet.has(i)).map(addrOf),
    async switchHotSet() {
      if (!opts.altHotPages) throw new Error('synthetic guest: switchHotSet() needs altHotPages');
      const switched = new Promise<number[]>((resolve) => {
        lines.once('line', (line) => resolve((JSON.parse(line) as { hotPages: number[] }).hotPages));
      });
      child.kill('SIGUSR1');
      guest.hotPages = await switched;
      hotSet = new Set(guest.hotPages);
    },
    stop,
  };
  return guest;
}

function parseCli(argv: string[]): SyntheticGuestOptions {
  const opts: SyntheticGuestOptions = { hotMiB: 0, coldMiB: 0 };
  const num = (flag: string, v: string | undefined): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < 0) throw new Error(`synthetic guest: ${flag} needs a number >= 0, got ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    switch (flag) {
      case '--hot-mib': opts.hotMiB = num(flag, argv[++i]); break;
      case '--cold-mib': opts.coldMiB = num(flag, argv[++i]); break;
      case '--node': opts.node = num(flag, argv[++i]); break;
      case '--cpu': opts.cpu = num(flag, argv[++i]); break;
      case '--touch-ms': opts.touchMs = num(flag, argv[++i]); break;
      case '--backing': opts.backing = argv[++i] as SyntheticBacking; break;
      case '--interleave': opts.interleave = true; break;
      case '--no-companion': opts.companion = false; break;
      default: throw new Error(`synthetic guest: unknown flag ${flag}`);
    }
  }
  return opts;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const guest = await startSyntheticGuest(parseCli(process.argv.slice(2)));
  const { stop, pageAddrs: _a, hotAddrs: _h, coldAddrs: _c, switchHotSet: _s, ...info } = guest;
  process.stdout.write(`${JSON.stringify(info)}\n`);
  const end = (): void => void stop().then(() => process.exit(0));
  process.once('SIGTERM', end);
  process.once('SIGINT', end);
}
