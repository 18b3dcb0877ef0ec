/**
 * Inside the testbed with libvirtd (harness option `libvirt: true`): the
 * whole chain with real libvirt guests. `virt-tier install-hook`, a libvirtd
 * restart so it sees the hook, `virt-tierd --auto-domains` with no config
 * file, then three TCG guests running the hot-loop program (one on
 * hugetlbfs files, one with two guest NUMA cells, one on memfd hugepages),
 * each with a cslide policy in its domain XML. Recorded, for the host-side
 * test (test/testbed/libvirt-chain.test.ts) to judge:
 * - per guest and per round: the daemon's task stats and every guest page's
 *   node from the kernel (move_pages queries through the RAMBlock mapping);
 * - /proc/vmstat before and after; the daemon's log lines of hook events;
 * - at the fixed point: `virt-tier list --json`, `stats --json`,
 *   `migrate-hints`, `project show --json`, and numa_maps;
 * - `virt-tier policy --live --set enabled=no` then `=yes` for one guest
 *   (its task goes, its hot pages are moved to AEP behind the daemon's
 *   back, the task comes back and promotes them), timed against the sync
 *   interval;
 * - `virsh destroy` of one guest: its task goes;
 * - libvirtd stopped, one guest's QEMU killed meanwhile, libvirtd started:
 *   its task goes, the others stay tiered.
 * Prints one JSON line (the last line of stdout); progress on stderr.
 *
 * Options: --part chain|lifecycle (default chain; lifecycle: two guests, the
 * policy edit, the libvirtd restart, virsh destroy) --quota-mib 32 --sync-s 3 --loop 2
 */
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ProjectView } from '../../../src/model/registry.js';
import type { TaskView } from '../../../src/model/task-runtime.js';
import { CLI_BIN, hugepagePools, numberOption, progress, startE2eDaemon, type CliResult, type E2eDaemon } from './e2e-daemon.js';
import { kernelCounters } from './host-observe.js';
import { parseNumaMaps } from './numa-maps.js';
import { defineAndStart, movePagesTo, pageNodes, qemuPid, runningGuest, virsh, virshAsync, virshTry, type GuestSpec, type RunningGuest } from './libvirt-guests.js';

const DRAM = 0;
const AEP = 2;
/** From the last guest running to every guest quiet: about 90-230 s here (the slow end at load 4.5). */
const FIXED_POINT_MS = 400_000;
const quotaMiB = numberOption('quota-mib', 32);
const syncS = numberOption('sync-s', 3);
const loop = numberOption('loop', 2);
/** the hook's default socket: no /etc/virt-tier/hook.conf is needed (the testbed's /etc is read-only) */
const SOCKET = 'virt-tier';
const PAGE_MIB = 2;

export const taskName = (uuid: string): string => `domain-${uuid}`;

/** The guest's task wherever the daemon keeps it (one project per domain, or one host-wide project). */
function findTask(projects: ProjectView[], name: string): { project: string; task: TaskView } | undefined {
  for (const p of projects) {
    const t = p.tasks.find((x) => x.name === name);
    if (t) return { project: p.name, task: t };
  }
  return undefined;
}

/** The real CLI as a child process; the round watcher keeps polling while it runs. */
async function cli(args: string[]): Promise<CliResult & { ms: number }> {
  const t0 = Date.now();
  const child = spawn(process.execPath, [CLI_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const code = await whilePolling(done);
  return { code, stdout, stderr, ms: Date.now() - t0 };
}

/** Awaits `p` while polling the rounds (so a slow CLI or virsh call misses none). */
async function whilePolling<T>(p: Promise<T>): Promise<T> {
  let settled = false;
  const tracked = p.finally(() => (settled = true));
  while (!settled && daemon) {
    await pollRounds();
    await Promise.race([tracked.catch(() => undefined), sleep(150)]);
  }
  return tracked;
}

function uuidOf(i: number): string {
  return `7e570000-0000-4000-8000-${String(i).padStart(12, '0')}`;
}

const part = process.argv.includes('--part') ? process.argv[process.argv.indexOf('--part') + 1] : 'chain';
if (part !== 'chain' && part !== 'lifecycle') throw new Error(`--part ${part}; allowed: chain, lifecycle`);
const pools = hugepagePools([0, 1, 2, 3]);
/** the hot sets below: 8 + 8 + 4 pages (the lifecycle part runs the first two guests) */
const hotTotalPages = part === 'chain' ? 8 + 8 + 4 : 8 + 8;
// DRAM keeps free what the hot sets do not need: every cold page must go to the AEP node.
const reserveMiB = (pools[DRAM]!.total - hotTotalPages) * PAGE_MIB;
const policy = {
  enabled: 'yes', engine: 'cslide', loop: String(loop), interval: '1', sleep: '1',
  hot_threshold: String(loop), node_pair: '0,2;1,3', node_mig_quota: String(quotaMiB), node_hot_reserve: String(reserveMiB),
};
const specs: GuestSpec[] = [
  { name: 'vt-file', uuid: uuidOf(1), ramMiB: 64, hotStartMiB: 16, hotEndMiB: 32, numaCells: 0, ram: 'hugetlbfs', policy },
  { name: 'vt-numa', uuid: uuidOf(2), ramMiB: 64, hotStartMiB: 24, hotEndMiB: 40, numaCells: 2, ram: 'hugetlbfs', policy },
  { name: 'vt-memfd', uuid: uuidOf(3), ramMiB: 64, hotStartMiB: 8, hotEndMiB: 16, numaCells: 0, ram: 'memfd', policy },
];

interface RoundRecord {
  guest: string;
  project: string;
  phase: string;
  stats: Record<string, unknown>;
  /** every guest page's node right after the round (guest-physical order) */
  nodes: number[];
}

const out: Record<string, unknown> = { config: { quotaMiB, syncS, loop, reserveMiB, pools, specs: specs.map(({ policy: _p, ...s }) => s) } };
const rounds: RoundRecord[] = [];
const guests = new Map<string, RunningGuest>();
const lastRound = new Map<string, number>();
let phase = 'converge';
let daemon: E2eDaemon | undefined;

/** One poll: every guest task's new round, with the kernel's placement. */
async function pollRounds(): Promise<ProjectView[]> {
  const projects = (await daemon!.call('project.show')) as ProjectView[];
  for (const g of guests.values()) {
    const found = findTask(projects, taskName(g.spec.uuid));
    const round = found?.task.stats?.round;
    if (typeof round !== 'number' || round === lastRound.get(g.spec.name)) continue;
    lastRound.set(g.spec.name, round);
    let nodes: number[] = [];
    try {
      nodes = await pageNodes(g);
    } catch {
      // the guest is gone
    }
    rounds.push({ guest: g.spec.name, project: found!.project, phase, stats: found!.task.stats as Record<string, unknown>, nodes });
  }
  return projects;
}

/** Polls rounds until `done(projects)` or the timeout; returns ms waited. */
async function until(what: string, done: (projects: ProjectView[]) => boolean, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const projects = await pollRounds();
    if (done(projects)) return Date.now() - t0;
    if (Date.now() - t0 > timeoutMs) throw new Error(`gave up waiting for ${what} after ${timeoutMs} ms\n${stuckDump(projects)}`);
    await sleep(150);
  }
}

/**
 * What a wait that timed out saw, compact (CI shows only the tail of a
 * run): each task's last round, libvirtd's state, where each daemon thread
 * sleeps in the kernel (a blocked sysfs write or move_pages shows there),
 * then the daemon log's last lines with repeats folded.
 */
function stuckDump(projects: ProjectView[]): string {
  const read = (p: string): string => {
    try {
      return readFileSync(p, 'utf8').trim();
    } catch (err) {
      return `(${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
    }
  };
  const lines: string[] = [];
  for (const p of projects) {
    for (const t of p.tasks) {
      const s = (t.stats ?? {}) as Record<string, unknown>;
      lines.push(`task ${t.name} (${p.name}) started=${t.started} round=${String(s.round)} pids=${JSON.stringify(s.pids)} errors=${JSON.stringify(s.errors ?? {})} statsAgeMs=${typeof s.timeMs === 'number' ? Date.now() - s.timeMs : '?'}`);
    }
  }
  const libvirtdPid = read('/run/libvirtd.pid');
  lines.push(`libvirtd pid ${libvirtdPid}: ${read(`/proc/${libvirtdPid}/stat`).slice(0, 60)}`);
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${daemon!.pid}/task`);
  } catch {
    lines.push('daemon process gone');
  }
  // Threads parked in the event loop or a condition variable are the normal case: counted, not listed.
  const idle: string[] = [];
  for (const tid of tids) {
    const dir = `/proc/${daemon!.pid}/task/${tid}`;
    const wchan = read(`${dir}/wchan`);
    const comm = read(`${dir}/comm`);
    if (/^(futex_wait_queue|futex_wait|do_epoll_wait|ep_poll)/.test(wchan)) {
      idle.push(`${comm}:${wchan}`);
      continue;
    }
    const stack = read(`${dir}/stack`).split('\n').slice(0, 6).map((l) => l.replace(/^\[<0>\] /, '')).join(' < ');
    lines.push(`thread ${tid} ${comm} ${read(`${dir}/stat`).split(') ')[1]?.[0] ?? '?'} wchan=${wchan} ${stack}`);
  }
  lines.push(`${idle.length} daemon threads idle (${[...new Set(idle)].join(', ')})`);
  const log = daemon!.log().trimEnd().split('\n');
  const folded: string[] = [];
  for (const l of log.slice(-400)) {
    const key = l.replace(/^\S+ /, '');
    const last = folded[folded.length - 1];
    if (last !== undefined && last.replace(/^\S+ /, '').replace(/ \(x\d+\)$/, '') === key) {
      const n = Number(/ \(x(\d+)\)$/.exec(last)?.[1] ?? '1') + 1;
      folded[folded.length - 1] = `${last.replace(/ \(x\d+\)$/, '')} (x${n})`;
    } else folded.push(l);
  }
  lines.push('--- daemon log, last lines (repeats folded) ---', ...folded.slice(-12).map((l) => l.slice(0, 300)));
  return lines.join('\n');
}

/** A guest is at its fixed point when its latest round planned nothing and its hot pages are all on DRAM, cold on AEP. */
function quiet(projects: ProjectView[], g: RunningGuest): boolean {
  const t = findTask(projects, taskName(g.spec.uuid));
  const planned = t?.task.stats?.plannedBytes as { promote: number; prefetch: number; demote: number } | undefined;
  return planned !== undefined && planned.promote + planned.prefetch + planned.demote === 0;
}

function restartLibvirtd(): void {
  const pid = Number(readFileSync('/run/libvirtd.pid', 'utf8').trim());
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 300; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      break;
    }
    execFileSync('sleep', ['0.1']);
  }
  execFileSync('libvirtd', ['-d']);
  waitLibvirt();
}

function waitLibvirt(): void {
  for (let i = 0; i < 1200; i++) {
    if (virshTry('uri').code === 0) return;
    execFileSync('sleep', ['0.1']);
  }
  throw new Error('libvirtd did not answer within 120 s');
}

function numaMapsOf(g: RunningGuest): Array<{ block: string; pagesByNode: Record<number, number>; kernelPageSizeKiB: number }> {
  const entries = parseNumaMaps(readFileSync(`/proc/${g.pid}/numa_maps`, 'utf8'));
  return g.blocks.map((b) => {
    const e = entries.find((x) => x.start === b.hostStart);
    return { block: b.id, pagesByNode: e?.pagesByNode ?? {}, kernelPageSizeKiB: e?.kernelPageSizeKiB ?? 0 };
  });
}

const partSpecs = part === 'chain' ? specs : specs.slice(0, 2);

/** Starts the guests side by side (each recorded as soon as its own start returns); the hook tells the daemon about each. */
async function startGuests(list: GuestSpec[]): Promise<Record<string, unknown>> {
  const discovery: Record<string, unknown> = {};
  await whilePolling(Promise.all(list.map(async (spec) => {
    const t0 = Date.now();
    await defineAndStart(spec);
    const startedMs = Date.now() - t0;
    const g = runningGuest(spec);
    const initialNodes = await pageNodes(g);
    guests.set(spec.name, g);
    discovery[spec.name] = { pid: g.pid, startedMs, blocks: g.blocks, hotPages: g.hotPages, pageAddrs: g.pageAddrs, initialNodes, infoRamblock: (await virshAsync('qemu-monitor-command', spec.name, '--hmp', 'info ramblock')).stdout };
    progress(`${spec.name} started`, { pid: g.pid, startedMs, blocks: g.blocks.map((b) => b.id) });
  })));
  await until('every guest\'s task', (p) => list.every((spec) => findTask(p, taskName(spec.uuid)) !== undefined), 60_000);
  return discovery;
}

async function chainPart(): Promise<void> {
  out.discovery = await startGuests(partSpecs);
  out.poolsAfterStart = hugepagePools([0, 1, 2, 3]);
  // Converge: every guest's latest round plans nothing.
  out.convergeMs = await until('the fixed point', (p) => [...guests.values()].every((g) => quiet(p, g)), FIXED_POINT_MS);
  progress('fixed point', { rounds: rounds.length });
  const fixed: Record<string, unknown> = {};
  for (const g of guests.values()) fixed[g.spec.name] = { nodes: await pageNodes(g), numaMaps: numaMapsOf(g) };
  out.fixedPoint = fixed;
  out.poolsAtFixedPoint = hugepagePools([0, 1, 2, 3]);

  // The operator's views, side by side (each CLI call is a node start under nested TCG).
  const calls: Array<[string, string[]]> = [['list', ['list', '--json', '-s', SOCKET]]];
  for (const g of guests.values()) {
    calls.push([`stats:${g.spec.name}`, ['stats', g.spec.name, '--json', '-s', SOCKET]]);
    calls.push([`hints:${g.spec.name}`, ['migrate-hints', g.spec.name, '--zero-sample', '0', '-s', SOCKET]]);
  }
  const views: Record<string, unknown> = Object.fromEntries(await Promise.all(calls.map(async ([k, args]) => [k, await cli(args)] as const)));
  for (const g of guests.values()) views[`numaMaps:${g.spec.name}`] = numaMapsOf(g);
  out.views = views;
  // A guest the pools cannot hold: refused, naming the resource and the shortfall.
  const big = { ...specs[0]!, name: 'vt-big', uuid: uuidOf(9), ramMiB: 1024, hotStartMiB: 16, hotEndMiB: 32 };
  out.tooBig = await defineAndStart(big).then(() => 'started', (err: Error) => err.message);
  out.fixedPointAfterViews = Object.fromEntries(await Promise.all([...guests.values()].map(async (g) => [g.spec.name, await pageNodes(g)] as const)));
  progress('views recorded', Object.fromEntries(Object.entries(views).map(([k, v]) => [k, (v as { ms?: number }).ms])));
}

async function lifecyclePart(): Promise<void> {
  out.discovery = await startGuests(partSpecs);
  out.convergeMs = await until('the fixed point', (p) => [...guests.values()].every((g) => quiet(p, g)), FIXED_POINT_MS);
  progress('fixed point', { rounds: rounds.length });

  // A policy edit through the CLI: off, then on again.
  const edited = guests.get('vt-file')!;
  phase = 'policy-off';
  const offAt = Date.now();
  out.policyOff = await cli(['policy', edited.spec.name, '--set', 'enabled=no', '--live']);
  const offAfterMs = await until('the task to go after enabled=no', (p) => findTask(p, taskName(edited.spec.uuid)) === undefined, 60_000);
  const offTotalMs = Date.now() - offAt;
  // Behind the daemon's back, its hot pages go to the AEP node: nobody brings them back while tiering is off.
  const movedStatus = await movePagesTo(edited, edited.hotPages, AEP);
  await sleep(2 * syncS * 1000);
  const whileOff = await pageNodes(edited);
  phase = 'policy-on';
  const onAt = Date.now();
  out.policyOn = await cli(['policy', edited.spec.name, '--set', 'enabled=yes', '--live']);
  const onAfterMs = await until('the task to come back after enabled=yes', (p) => findTask(p, taskName(edited.spec.uuid)) !== undefined, 60_000);
  const onTotalMs = Date.now() - onAt;
  lastRound.delete(edited.spec.name);
  const backMs = await until('the hot pages back on DRAM', (p) => quiet(p, edited) && rounds.some((r) => r.guest === edited.spec.name && r.phase === 'policy-on' && edited.hotPages.every((i) => r.nodes[i] === DRAM)), 120_000);
  out.policyEdit = { offAfterMs, offTotalMs, movedStatus, whileOff, onAfterMs, onTotalMs, backMs, nodesAfter: await pageNodes(edited), metadata: (await virshAsync('metadata', edited.spec.name, '--uri', 'https://virt-tier.dev/xmlns/policy/1')).stdout };
  progress('policy edit done', { offAfterMs, onAfterMs, backMs });

  // libvirtd restart: one guest dies while libvirtd is down; reconcile removes its task, the other stays tiered.
  phase = 'libvirtd-restart';
  const victim = guests.get('vt-numa')!;
  const survivor = guests.get('vt-file')!;
  const pid = Number(readFileSync('/run/libvirtd.pid', 'utf8').trim());
  const stopAt = Date.now();
  process.kill(pid, 'SIGTERM');
  let libvirtdStopped = false;
  for (let i = 0; i < 300 && !libvirtdStopped; i++) {
    try {
      process.kill(pid, 0);
      await sleep(100);
    } catch {
      libvirtdStopped = true;
    }
  }
  // A libvirtd hung in its shutdown is recorded, then killed: the daemon must cope with both.
  out.libvirtdStop = { stopped: libvirtdStopped, ms: Date.now() - stopAt };
  if (!libvirtdStopped) process.kill(pid, 'SIGKILL');
  progress('libvirtd stopped', out.libvirtdStop);
  phase = 'libvirtd-down';
  process.kill(qemuPid(victim.spec.name), 'SIGKILL');
  // The survivor is still tiered: a round that scanned its QEMU (found through its pid file while libvirtd is away).
  await until('a round of the survivor that scanned it while libvirtd is down', () => rounds.some((r) => r.phase === 'libvirtd-down' && r.guest === survivor.spec.name && (r.stats.pids as number[] | undefined)?.includes(survivor.pid) === true), 60_000);
  const downProjects = (await daemon!.call('project.show')) as ProjectView[];
  const restartAt = Date.now();
  phase = 'libvirtd-restart';
  execFileSync('libvirtd', ['-d']);
  await whilePolling((async () => {
    while ((await virshAsync('uri')).code !== 0) await sleep(200);
  })());
  const healedAfterMs = await until('the dead guest\'s task to go after the restart', (p) => findTask(p, taskName(victim.spec.uuid)) === undefined, 90_000);
  guests.delete(victim.spec.name);
  const survivorRoundUp = lastRound.get(survivor.spec.name) ?? -1;
  await until('a round of the survivor after the restart', () => (lastRound.get(survivor.spec.name) ?? -1) > survivorRoundUp, 60_000);
  out.restart = {
    daemonAliveWhileDown: daemon!.alive(),
    tasksWhileDown: [victim, survivor].map((g) => ({ guest: g.spec.name, task: findTask(downProjects, taskName(g.spec.uuid)) ?? null })),
    healedAfterMs,
    totalMs: Date.now() - restartAt,
    survivorTask: findTask((await daemon!.call('project.show')) as ProjectView[], taskName(survivor.spec.uuid)) ?? null,
    virshList: (await virshAsync('list', '--all')).stdout,
    syncStatus: await daemon!.call('domain.sync.status'),
  };
  progress('restart healed', { healedAfterMs });

  // virsh destroy: the guest's work goes, its hugepages are back in the pools.
  phase = 'destroy';
  const freeBefore = hugepagePools([0, 1, 2, 3]);
  const destroyAt = Date.now();
  const destroyed = await whilePolling(virshAsync('destroy', survivor.spec.name));
  const goneAfterMs = await until('the destroyed guest\'s task to go', (p) => findTask(p, taskName(survivor.spec.uuid)) === undefined, 60_000);
  guests.delete(survivor.spec.name);
  out.destroy = { code: destroyed.code, goneAfterMs, totalMs: Date.now() - destroyAt, freeBefore, freeAfter: hugepagePools([0, 1, 2, 3]) };
  progress('destroy done', out.destroy);
}

try {
  progress('pools', pools);
  out.part = part;
  // The kernel's own NUMA balancing would move QEMU's other memory and blur the migration counters.
  out.numaBalancingWas = readFileSync('/proc/sys/kernel/numa_balancing', 'utf8').trim();
  writeFileSync('/proc/sys/kernel/numa_balancing', '0');
  out.installHook = await cli(['install-hook']);
  restartLibvirtd();
  progress('hook installed, libvirtd restarted', out.installHook);
  daemon = await startE2eDaemon(SOCKET, ['--auto-domains', '--sync-interval', String(syncS)]);
  progress('daemon up');
  out.countersBefore = kernelCounters();
  if (part === 'chain') await chainPart();
  else await lifecyclePart();
  // The counters when nothing moves: unchanged over 1.5 s, with every round that ended before recorded.
  for (let i = 0; i < 10; i++) {
    const c1 = kernelCounters();
    await sleep(1500);
    await pollRounds();
    const c2 = kernelCounters();
    out.countersAfter = c2;
    if (c1.global.pgmigrate_success === c2.global.pgmigrate_success) break;
  }
} catch (err) {
  out.error = (err as Error).stack ?? String(err);
} finally {
  out.rounds = rounds;
  await Promise.all(partSpecs.map((spec) => virshAsync('destroy', spec.name)));
  if (daemon) {
    out.daemonAlive = daemon.alive();
    // A daemon that died leaves no line of its own when a signal killed it (the OOM killer, a crash in a
    // native binding): its signal, its last log lines unfiltered, and what the kernel said about it.
    if (!out.daemonAlive) {
      let kernel = '';
      try { kernel = execFileSync('dmesg', { encoding: 'utf8' }); } catch (err) { kernel = `dmesg: ${(err as Error).message}`; }
      out.daemonDeath = {
        exitCode: daemon.proc.exitCode,
        signal: daemon.proc.signalCode,
        logTail: daemon.log().split('\n').slice(-30),
        kernel: kernel.split('\n').filter((l) => /oom|out of memory|killed process|segfault|general protection|trap|node\[/i.test(l)).slice(-20),
      };
    }
    out.daemonExit = await daemon.stop();
    const log = daemon.log().split('\n');
    out.hookEvents = log.filter((l) => /qemu hook event/.test(l));
    // What the hook could not deliver, in its own words (hooks/README.md): the other half of "libvirtd ran it".
    try { out.hookLost = readFileSync('/var/log/virt-tier/hook-lost.log', 'utf8').split('\n').filter((l) => l.trim() !== ''); } catch { out.hookLost = []; }
    out.daemonLog = log.filter((l) => /error|warn|tiered/i.test(l)).slice(-40);
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
}
