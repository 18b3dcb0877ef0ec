/**
 * The multi-NUMA testbed, host side: boots the stock Debian 6.12 kernel in
 * QEMU TCG with four NUMA nodes (0 and 1 with a CPU each, "DRAM"; 2 and 3
 * memory-only, "AEP"), runs one shell command in a chroot of this host's
 * root (shared read-only over 9p, so dist/ and the addon built here run
 * unchanged inside), powers off and returns the command's exit code and
 * output. See docs/testbed.md.
 *
 * TCG, not KVM: this host's /dev/kvm does not run stock guests
 * (platform-facts.md). QEMU never outlives a run: it is started under
 * coreutils `timeout` in its own process group, killed as a group on our
 * timeout, on abort and when this process exits, and `timeout` kills it on
 * its own if this process dies without running exit handlers.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureInitramfs } from './initramfs.js';
import { GUEST_RUN_DIR } from './guest-init.js';
import { LIBVIRT_CAPS_DIR, LIBVIRT_SETUP } from './libvirt-setup.js';

export { GUEST_RUN_DIR };

/** Node ids of the testbed topology. */
export const TESTBED_DRAM_NODES = [0, 1] as const;
export const TESTBED_AEP_NODES = [2, 3] as const;
/** Each node's memory, MiB (4 x 512 MiB = the guest's 2 GiB), unless `nodeMemoryMiB` says otherwise. */
export const TESTBED_NODE_MEMORY_MIB = 512;
/**
 * The most the whole guest may have with `nodeMemoryMiB`, MiB: this host has
 * 24 GiB and other engineers' runs beside ours; QEMU's memory-backend-ram
 * commits host memory as the guest touches it.
 */
export const TESTBED_MAX_MEMORY_MIB = 12288;

/**
 * SLIT distances (10 = local). DRAM nodes are 20 apart; each DRAM node has a
 * near AEP node (0-2, 1-3: 30) and a far one (40), the shape of a 2-socket
 * host with one persistent-memory / CXL node per socket.
 */
export const TESTBED_DISTANCES: ReadonlyArray<readonly [number, number, number]> = [
  [0, 1, 20],
  [0, 2, 30],
  [0, 3, 40],
  [1, 2, 40],
  [1, 3, 30],
  [2, 3, 40],
];

export interface TestbedOptions {
  /** shell command run by /bin/sh inside the guest's chroot of the host root */
  command: string;
  /** 2 MiB hugetlb pages to reserve per node before the command runs, e.g. {0: 64, 2: 64} */
  hugepagesPerNode?: Record<number, number>;
  /** kills QEMU after this long (boot included); default 120000 */
  timeoutMs?: number;
  /** extra environment for the command */
  env?: Record<string, string>;
  /** working directory inside the guest; default the repository root */
  cwd?: string;
  signal?: AbortSignal;
  /**
   * Describe the nodes' performance in an ACPI HMAT (`-machine hmat=on`,
   * `-numa hmat-lb`): memory-only nodes slower than DRAM. The 6.12 kernel
   * derives memory tiers from it (drivers/acpi/numa/hmat.c, mm/memory-tiers.c:
   * CPU-less nodes are placed once HMAT is read), so nodes 2 and 3 form a
   * lower tier and the kernel's own demotion and NUMA-balancing promotion
   * (mode 2) can run. Default false: without it all nodes are one tier.
   */
  hmat?: boolean;
  /**
   * A virtio-net NIC on QEMU's user network whose only way in is this
   * forward: 127.0.0.1:hostPort on the host to guestPort of the guest's
   * 10.0.2.15 (`restrict=on`: the guest reaches nothing outside). The guest
   * brings the NIC up itself (test/testbed/inner/guest-net.ts). Default: no NIC.
   */
  hostForward?: { hostPort: number; guestPort: number };
  /**
   * Start virtlogd and libvirtd (QEMU driver, qemu:///system) before the
   * command: writable state over tmpfs, hugetlbfs and the pools set up
   * first (test/testbed/libvirt-setup.ts, docs/testbed.md). Costs boot time
   * (libvirtd's start and QEMU probe under TCG), so it is off by default.
   * The command gets exit code 124 and a line on stderr when libvirt
   * cannot be set up.
   */
  libvirt?: boolean;
  /**
   * Memory of some nodes, MiB (e.g. {0: 9216} for a benchmark that tracks
   * 8 GiB on node 0); the others keep TESTBED_NODE_MEMORY_MIB. Whole
   * multiples of 2 MiB (hugetlb pages), at least 256 MiB per node, at most
   * TESTBED_MAX_MEMORY_MIB for the guest. Default: every node
   * TESTBED_NODE_MEMORY_MIB (`-m 2G`), as the tests expect.
   */
  nodeMemoryMiB?: Record<number, number>;
}

/** HMAT figures per initiator -> target: [latency ns, bandwidth MB/s]; local DRAM, remote DRAM, near AEP, far AEP. */
export const TESTBED_HMAT: Readonly<Record<'local' | 'remote' | 'nearAep' | 'farAep', readonly [number, number]>> = {
  local: [80, 20000],
  remote: [130, 12000],
  nearAep: [300, 4000],
  farAep: [400, 3000],
};

export interface TestbedResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** hugetlb 2 MiB pages per node actually reserved (all nodes) */
  hugepagesPerNode: Record<number, number>;
  /** serial console: init progress and kernel messages */
  console: string;
  durationMs: number;
}

/** The testbed could not run the command (boot failure, timeout, hugepage shortfall). */
export class TestbedError extends Error {
  constructor(
    message: string,
    readonly console: string,
    readonly runDir?: string,
    /** the guest kernel panicked before the command started (nothing of it ran) */
    readonly panickedBeforeCommand = false,
  ) {
    super(message);
    this.name = 'TestbedError';
  }
}

/** The repository root: the first ancestor of this file holding scripts/fetch-kernel.sh. */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'scripts', 'fetch-kernel.sh'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('testbed: repository root (scripts/fetch-kernel.sh) not found');
    dir = parent;
  }
}

const QEMU = 'qemu-system-x86_64';

interface TestbedKernel {
  vmlinuz: string;
  modulesDir: string;
}

function findOnPath(bin: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const candidate = path.join(dir, bin);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

function findKernel(root: string): TestbedKernel | undefined {
  const bootDir = path.join(root, '.cache', 'kernel', 'boot');
  const override = process.env.VIRT_TIER_TESTBED_KERNEL;
  let vmlinuz: string | undefined = override;
  if (!vmlinuz && existsSync(bootDir)) {
    const name = readdirSync(bootDir).find((f) => f.startsWith('vmlinuz-'));
    if (name) vmlinuz = path.join(bootDir, name);
  }
  if (!vmlinuz || !existsSync(vmlinuz)) return undefined;
  const release = path.basename(vmlinuz).replace(/^vmlinuz-/, '');
  const modulesDir = path.join(root, '.cache', 'kernel', 'lib', 'modules', release);
  if (!existsSync(modulesDir)) return undefined;
  return { vmlinuz, modulesDir };
}

export interface TestbedAvailability {
  available: boolean;
  /** why not, and what fixes it */
  reason: string;
}

/** Whether runInTestbed can work here; tests skip with `reason` when not. */
export function testbedAvailability(): TestbedAvailability {
  const fix = 'run scripts/setup-testbed.sh';
  if (process.getuid?.() !== 0) return { available: false, reason: 'testbed needs root (9p passthrough of the host root)' };
  for (const bin of [QEMU, 'xz', 'timeout']) {
    if (!findOnPath(bin)) return { available: false, reason: `testbed: ${bin} not installed; ${fix}` };
  }
  if (!existsSync('/bin/busybox')) return { available: false, reason: `testbed: /bin/busybox (busybox-static) missing; ${fix}` };
  let root: string;
  try {
    root = repoRoot();
  } catch (err) {
    return { available: false, reason: (err as Error).message };
  }
  if (!findKernel(root)) return { available: false, reason: `testbed: no kernel in ${root}/.cache/kernel; ${fix}` };
  return { available: true, reason: '' };
}

const liveQemuGroups = new Set<number>();
let exitHookInstalled = false;

function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const pgid of liveQemuGroups) killGroup(pgid);
  });
}

function hmatClass(initiator: number, target: number): keyof typeof TESTBED_HMAT {
  if (initiator === target) return 'local';
  if ((TESTBED_DRAM_NODES as readonly number[]).includes(target)) return 'remote';
  return TESTBED_DISTANCES.some(([a, b, d]) => ((a === initiator && b === target) || (a === target && b === initiator)) && d === 30) ? 'nearAep' : 'farAep';
}

/**
 * Each node's memory, MiB, from `nodeMemoryMiB` over the default; throws
 * TestbedError naming the node and the allowed range.
 */
export function testbedNodeMemoryMiB(nodeMemoryMiB: Record<number, number> = {}): number[] {
  const perNode = [0, 1, 2, 3].map(() => TESTBED_NODE_MEMORY_MIB);
  for (const [node, mib] of Object.entries(nodeMemoryMiB)) {
    if (!/^[0-3]$/.test(node) || !Number.isInteger(mib) || mib < 256 || mib % 2 !== 0) {
      throw new TestbedError(`testbed: nodeMemoryMiB ${node}: ${mib}; allowed: nodes 0..3, even MiB >= 256`, '');
    }
    perNode[Number(node)] = mib;
  }
  const totalMiB = perNode.reduce((a, b) => a + b, 0);
  if (totalMiB > TESTBED_MAX_MEMORY_MIB) {
    throw new TestbedError(`testbed: nodeMemoryMiB makes ${totalMiB} MiB in all; allowed: at most ${TESTBED_MAX_MEMORY_MIB}`, '');
  }
  return perNode;
}

function qemuArgs(kernel: TestbedKernel, initramfs: string, runDir: string, nodeMiB: readonly number[], hmat = false, hostForward?: TestbedOptions['hostForward']): string[] {
  const args = [
    ...(hmat ? ['-machine', 'hmat=on'] : []),
    '-accel', 'tcg',
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
    // -m must equal the sum of the nodes' memdevs (QEMU refuses otherwise).
    '-m', `${nodeMiB.reduce((a, b) => a + b, 0)}M`, '-smp', '2',
  ];
  for (let node = 0; node < 4; node++) {
    args.push('-object', `memory-backend-ram,id=m${node},size=${nodeMiB[node]}M`);
    const cpus = node < TESTBED_DRAM_NODES.length ? `,cpus=${node}` : '';
    // With an HMAT a memory-only node needs its initiator: the near DRAM node (0 for 2, 1 for 3).
    const initiator = hmat && cpus === '' ? `,initiator=${node - TESTBED_DRAM_NODES.length}` : '';
    args.push('-numa', `node,nodeid=${node}${cpus},memdev=m${node}${initiator}`);
  }
  for (const [src, dst, val] of TESTBED_DISTANCES) args.push('-numa', `dist,src=${src},dst=${dst},val=${val}`);
  if (hmat) {
    for (const initiator of TESTBED_DRAM_NODES) {
      for (let target = 0; target < 4; target++) {
        const [latencyNs, bandwidthMBps] = TESTBED_HMAT[hmatClass(initiator, target)];
        args.push('-numa', `hmat-lb,initiator=${initiator},target=${target},hierarchy=memory,data-type=access-latency,latency=${latencyNs}`);
        args.push('-numa', `hmat-lb,initiator=${initiator},target=${target},hierarchy=memory,data-type=access-bandwidth,bandwidth=${bandwidthMBps}M`);
      }
    }
  }
  args.push(
    '-kernel', kernel.vmlinuz,
    '-initrd', initramfs,
    // panic=-1 with -no-reboot: a panicking guest ends QEMU at once.
    '-append', process.env.VIRT_TIER_TESTBED_APPEND ?? 'console=ttyS0 panic=-1 quiet loglevel=4 mitigations=off',
    '-serial', `file:${path.join(runDir, 'console.log')}`,
    '-virtfs', 'local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap',
    '-virtfs', `local,path=${runDir},mount_tag=run,security_model=none`,
  );
  if (hostForward) {
    args.push('-nic', `user,model=virtio-net-pci,restrict=on,hostfwd=tcp:127.0.0.1:${hostForward.hostPort}-10.0.2.15:${hostForward.guestPort}`);
  }
  return args;
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function readIfExists(file: string): string {
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

function parseHugepages(text: string): Record<number, number> {
  const out: Record<number, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(\d+) (\d+)$/.exec(line.trim());
    if (m) out[Number(m[1])] = Number(m[2]);
  }
  return out;
}

/**
 * Live (not zombie) members of process group `pgid`. Killing the group ends
 * the `timeout` leader at once, but QEMU, its child, is still tearing down
 * its guest RAM for a while after that, visible in /proc with its command
 * line: under load that is seconds.
 */
function liveGroupMembers(pgid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z') pids.push(Number(entry));
  }
  return pids;
}

/** Waits until no live process of group `pgid` is left, killing it again each poll. */
async function waitGroupGone(pgid: number, limitMs: number): Promise<void> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const left = liveGroupMembers(pgid);
    if (left.length === 0) return;
    if (Date.now() > deadline) {
      throw new TestbedError(`testbed: QEMU group ${pgid} still has live processes ${left.join(', ')} ${limitMs} ms after SIGKILL`, '', undefined, false);
    }
    killGroup(pgid);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function waitExit(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

/** Run dirs are kept after a failure for diagnosis; drop those older than a day. */
function pruneOldRunDirs(runsDir: string): void {
  mkdirSync(runsDir, { recursive: true });
  const cutoffMs = Date.now() - 24 * 3600_000;
  for (const name of readdirSync(runsDir)) {
    const dir = path.join(runsDir, name);
    try {
      if (statSync(dir).mtimeMs < cutoffMs) rmSync(dir, { recursive: true, force: true });
    } catch {
      // another run removed it
    }
  }
}

/**
 * Boots the testbed, runs `opts.command`, powers off. Resolves with the
 * command's exit code and output (a non-zero exit code is a result, not an
 * error); rejects with TestbedError when the guest could not run it.
 *
 * A boot whose kernel panics before the command starts is tried again (at most
 * TESTBED_BOOTS boots):
 * multi-threaded TCG occasionally races the kernel's live code patching
 * (an int3 oops in a patched function such as sched_clock_cpu, seen in CI),
 * which says nothing about the command. A panic once the command has
 * started is never retried: that is the test's result.
 */
export async function runInTestbed(opts: TestbedOptions): Promise<TestbedResult> {
  // On a loaded host the race came twice in a row: up to three boots.
  for (let boot = 1; ; boot++) {
    try {
      return await runOnce(opts);
    } catch (err) {
      if (!(err instanceof TestbedError) || !err.panickedBeforeCommand || opts.signal?.aborted || boot >= TESTBED_BOOTS) throw err;
      process.stderr.write(`testbed: the guest kernel panicked while booting (TCG code-patching race); boot ${boot + 1} of ${TESTBED_BOOTS}\n`);
    }
  }
}

/** Boots tried when the kernel panics before the command starts. */
export const TESTBED_BOOTS = 3;

async function runOnce(opts: TestbedOptions): Promise<TestbedResult> {
  const availability = testbedAvailability();
  if (!availability.available) throw new TestbedError(availability.reason, '');
  const nodeMiB = testbedNodeMemoryMiB(opts.nodeMemoryMiB);
  const started = Date.now();
  const root = repoRoot();
  const kernel = findKernel(root)!;
  const cacheDir = path.join(root, '.testbed-cache');
  const initramfs = ensureInitramfs(kernel.modulesDir, cacheDir);
  pruneOldRunDirs(path.join(cacheDir, 'runs'));
  const runDir = mkdtempSync(path.join(cacheDir, 'runs', 'run-'));

  const hugepages = Object.entries(opts.hugepagesPerNode ?? {}).map(([node, count]) => {
    if (!/^[0-3]$/.test(node) || !Number.isInteger(count) || count < 0) {
      throw new TestbedError(`testbed: hugepagesPerNode ${node}: ${count}; allowed: nodes 0..3, counts >= 0`, '');
    }
    return `${node}:${count}`;
  });
  // The guest mounts tmpfs over /tmp and /run; a checkout there is bound
  // back over them (guest-init.ts). Paths with blanks would split in the
  // guest's word list: refuse them plainly rather than hide the checkout.
  const keepDirs = [root].filter((dir) => /^\/(tmp|run)(\/|$)/.test(dir));
  for (const dir of keepDirs) {
    if (/\s/.test(dir)) throw new TestbedError(`testbed: checkout path ${JSON.stringify(dir)} under /tmp or /run contains blanks; allowed: a path without blanks`, '');
  }
  writeFileSync(path.join(runDir, 'setup.env'), `HUGEPAGES=${shellQuote(hugepages.join(' '))}\nKEEP_DIRS=${shellQuote(keepDirs.join(' '))}\n`);
  const env: Record<string, string> = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: '/tmp',
    VIRT_TIER_TESTBED: '1',
    VIRT_TIER_TESTBED_RUN_DIR: GUEST_RUN_DIR,
    ...opts.env,
  };
  // QEMU's capabilities as libvirtd probed them in an earlier run: seeded
  // into this one (libvirtd re-probes if they no longer match its binaries).
  const capsCache = path.join(cacheDir, LIBVIRT_CAPS_DIR);
  if (opts.libvirt && existsSync(capsCache)) cpSync(capsCache, path.join(runDir, LIBVIRT_CAPS_DIR), { recursive: true });
  const cmd = [
    ...Object.entries(env).map(([k, v]) => `export ${k}=${shellQuote(v)}`),
    ...(opts.libvirt ? [LIBVIRT_SETUP] : []),
    `cd ${shellQuote(opts.cwd ?? root)} || exit 125`,
    opts.command,
    '',
  ].join('\n');
  writeFileSync(path.join(runDir, 'cmd.sh'), cmd);

  const timeoutMs = opts.timeoutMs ?? 120_000;
  // The `timeout` wrapper is the last line of defence: it ends QEMU even if
  // this process is SIGKILLed. Our own timer fires first.
  const hardLimitS = Math.ceil(timeoutMs / 1000) + 5;
  installExitHook();
  const child = spawn('timeout', ['--signal=KILL', `${hardLimitS}s`, QEMU, ...qemuArgs(kernel, initramfs, runDir, nodeMiB, opts.hmat, opts.hostForward)], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const pgid = child.pid!;
  liveQemuGroups.add(pgid);
  let qemuStderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    if (qemuStderr.length < 65536) qemuStderr += d.toString();
  });

  let timedOut = false;
  let aborted = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(pgid);
  }, timeoutMs);
  const onAbort = (): void => {
    aborted = true;
    killGroup(pgid);
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.signal?.aborted) onAbort();
  try {
    await waitExit(child);
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
    // QEMU may have been the only one to exit; make sure nothing of the group lingers.
    killGroup(pgid);
  }
  try {
    await waitGroupGone(pgid, 60_000);
  } finally {
    liveQemuGroups.delete(pgid);
  }

  const consoleText = readIfExists(path.join(runDir, 'console.log'));
  // The guest's init creates `stdout` when it starts the command.
  const panickedBeforeCommand = /Kernel panic/.test(consoleText) && !existsSync(path.join(runDir, 'stdout'));
  const fail = (why: string): never => {
    const tail = consoleText.split('\n').slice(-30).join('\n');
    throw new TestbedError(
      `testbed: ${why} (run dir kept: ${runDir})\n--- console tail ---\n${tail}` +
        (qemuStderr ? `\n--- qemu stderr ---\n${qemuStderr}` : ''),
      consoleText,
      runDir,
      panickedBeforeCommand && !aborted && !timedOut,
    );
  };
  if (aborted) fail('aborted');
  if (timedOut) fail(`timed out after ${timeoutMs} ms`);
  const initError = readIfExists(path.join(runDir, 'init-error')).trim();
  if (initError) fail(`guest init failed: ${initError}`);
  const exitCodeText = readIfExists(path.join(runDir, 'exit-code')).trim();
  if (!/^\d+$/.test(exitCodeText)) fail(`guest ended without running the command (QEMU exit ${child.exitCode ?? child.signalCode})`);

  const hugepagesPerNode = parseHugepages(readIfExists(path.join(runDir, 'hugepages')));
  for (const [node, count] of Object.entries(opts.hugepagesPerNode ?? {})) {
    if ((hugepagesPerNode[Number(node)] ?? 0) < count) {
      fail(`node ${node}: reserved ${hugepagesPerNode[Number(node)] ?? 0} of ${count} hugepages`);
    }
  }
  const result: TestbedResult = {
    exitCode: Number(exitCodeText),
    stdout: readIfExists(path.join(runDir, 'stdout')),
    stderr: readIfExists(path.join(runDir, 'stderr')),
    hugepagesPerNode,
    console: consoleText,
    durationMs: Date.now() - started,
  };
  if (opts.libvirt && existsSync(path.join(runDir, LIBVIRT_CAPS_DIR))) {
    rmSync(capsCache, { recursive: true, force: true });
    cpSync(path.join(runDir, LIBVIRT_CAPS_DIR), capsCache, { recursive: true });
  }
  rmSync(runDir, { recursive: true, force: true });
  return result;
}

/** For callers that only want to know the QEMU version (docs, skip messages). */
export function qemuVersion(): string {
  return execFileSync(QEMU, ['--version'], { encoding: 'utf8' }).split('\n')[0] ?? '';
}
