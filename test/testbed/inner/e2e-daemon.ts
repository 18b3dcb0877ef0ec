/**
 * Inside the testbed: the real daemon binary (`bin/virt-tierd.js`) and the
 * real CLI (`bin/virt-tier.js`), as an operator would run them, plus a
 * round watcher that polls the task's stats over the control socket.
 *
 * The CLI is a fresh node process per call, about 1-2 s under TCG, so the
 * end-to-end programs use it for the operator's steps (obj add, project
 * start, show, engine commands) and poll the per-round stats through the
 * same socket protocol in-process (src/api/client.ts), which costs
 * milliseconds and so never misses a round.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { call } from '../../../src/api/client.js';
import type { ProjectView } from '../../../src/model/registry.js';
import type { TaskView } from '../../../src/model/task-runtime.js';

/** dist/test/testbed/inner -> the repository root */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
export const DAEMON_BIN = path.join(REPO_ROOT, 'bin', 'virt-tierd.js');
export const CLI_BIN = path.join(REPO_ROOT, 'bin', 'virt-tier.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface E2eDaemon {
  socket: string;
  pid: number;
  proc: ChildProcess;
  /** the daemon's stderr (its log at -l 1) so far */
  log(): string;
  /** the real CLI, `-s SOCKET` appended */
  cli(args: string[]): CliResult;
  /** the same, without blocking (several CLI calls can run side by side) */
  cliAsync(args: string[]): Promise<CliResult>;
  /** one control-socket request (what the CLI sends), in-process */
  call(cmd: string, args?: Record<string, unknown>): Promise<unknown>;
  alive(): boolean;
  /** SIGTERM, then the exit code (SIGKILL after 15 s) */
  stop(): Promise<number | null>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Starts `node bin/virt-tierd.js -s SOCKET -l 1` and waits until it answers,
 * at most `startTimeoutMs` (default 60 s; node starts in seconds under TCG,
 * but a loaded host slows the emulation several times over).
 */
export async function startE2eDaemon(socket: string, extraArgs: string[] = [], startTimeoutMs = 60_000): Promise<E2eDaemon> {
  // In the run directory when there is one: the host keeps it when a run fails.
  const logDir = process.env.VIRT_TIER_TESTBED_RUN_DIR ?? '/tmp/virt-tier-e2e';
  mkdirSync(logDir, { recursive: true });
  const logFile = path.join(logDir, `${socket}.log`);
  const fd = openSync(logFile, 'w');
  const proc = spawn(process.execPath, [DAEMON_BIN, '-s', socket, '-l', '1', ...extraArgs], { stdio: ['ignore', fd, fd] });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const daemon: E2eDaemon = {
    socket,
    pid: proc.pid!,
    proc,
    log: () => readFileSync(logFile, 'utf8'),
    cli: (args) => {
      const r = spawnSync(process.execPath, [CLI_BIN, ...args, '-s', socket], { encoding: 'utf8', timeout: 60_000 });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr };
    },
    cliAsync: (args) =>
      new Promise((resolve) => {
        const child = spawn(process.execPath, [CLI_BIN, ...args, '-s', socket], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
        child.once('close', (code) => resolve({ code, stdout, stderr })); // 'close': all output read
      }),
    // 60 s: in nested TCG on a loaded 2-core host, seven CLIs starting at once (libvirt-chain's views)
    // starved the daemon past 20 s; the tests judge answers and placement here, not latency.
    call: (cmd, args = {}) => call(socket, cmd, args, { timeoutMs: 60_000 }),
    alive: () => proc.exitCode === null && proc.signalCode === null,
    async stop() {
      if (!daemon.alive()) return proc.exitCode;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    try {
      await daemon.call('project.show');
      return daemon;
    } catch {
      if (!daemon.alive() || Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error(`virt-tierd did not start (exit ${proc.exitCode}):\n${daemon.log()}`);
      }
      await sleep(100);
    }
  }
}

/** Progress on stderr (the host shows it when a run fails). */
export function progress(what: string, detail?: unknown): void {
  process.stderr.write(`[${(performance.now() / 1000).toFixed(1)}s] ${what}${detail === undefined ? '' : ' ' + JSON.stringify(detail)}\n`);
}

/** A config file as the loader demands: root-owned, mode 0600 (etmem's rule). */
export function writeConfigFile(name: string, text: string): string {
  const dir = '/tmp/virt-tier-e2e';
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  writeFileSync(file, text, { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}

/** The task's view from `project.show` (stats of its last round, ended reason). */
export async function taskView(daemon: E2eDaemon, project: string, task: string): Promise<TaskView | undefined> {
  const projects = (await daemon.call('project.show', { name: project })) as ProjectView[];
  return projects[0]?.tasks.find((t) => t.name === task);
}

/** The access counts a round was planned with: its map's present ranges as [start, pageCount, pageSizeBytes, accessCount]. */
export interface SeenAccess {
  timeMs: number;
  ranges: Array<[number, number, number, number]>;
}

/**
 * What the daemon's tracker saw of `pid` in the round reported at
 * `roundTimeMs` (the task's stats.timeMs), through the control socket's
 * migration-access (the scan observer keeps each cycle's map until the
 * next): the tests judge the daemon's moves on the counts it planned with,
 * since a loaded host can starve a guest's writer through a scan. Null
 * when the next cycle's map has already replaced it (a watcher that came
 * late) or there is none.
 */
export async function roundAccess(daemon: E2eDaemon, pid: number, roundTimeMs: number): Promise<SeenAccess | null> {
  const a = (await daemon.call('migration-access', { pid })) as SeenAccess | null;
  return a && a.timeMs <= roundTimeMs ? { timeMs: a.timeMs, ranges: a.ranges } : null;
}

export interface RoundWatch {
  /** called once per new round, right after the daemon reported it; return true to stop watching */
  onRound(stats: Record<string, unknown>, view: TaskView): boolean | Promise<boolean>;
  /** gives up after this long (ms) */
  timeoutMs: number;
  /** ms between polls; default 100 */
  pollMs?: number;
}

/**
 * Polls the task's stats and calls `onRound` for every new round. A round
 * of the built-in engines lasts `loop * interval + sleep` s (>= 2 s), so a
 * 100 ms poll sees each one. Resolves with the number of rounds seen;
 * throws if a round number was skipped or the task ended.
 */
export async function watchRounds(daemon: E2eDaemon, project: string, task: string, watch: RoundWatch): Promise<number> {
  const deadline = Date.now() + watch.timeoutMs;
  let lastRound = -1;
  let seen = 0;
  while (Date.now() < deadline) {
    const view = await taskView(daemon, project, task);
    if (view?.ended) throw new Error(`task ${task} ended: ${view.ended}`);
    const round = view?.stats?.round;
    if (typeof round === 'number' && round !== lastRound) {
      if (lastRound >= 0 && round !== lastRound + 1) throw new Error(`round watcher missed a round: ${lastRound} -> ${round}`);
      lastRound = round;
      seen++;
      if (await watch.onRound(view!.stats!, view!)) return seen;
    }
    await sleep(watch.pollMs ?? 100);
  }
  throw new Error(`task ${task}: gave up after ${watch.timeoutMs} ms (${seen} rounds seen)\n${daemon.log().slice(-3000)}`);
}

/** Free and total 2 MiB hugepages per node, from sysfs. */
export function hugepagePools(nodes: readonly number[]): Record<number, { total: number; free: number }> {
  const out: Record<number, { total: number; free: number }> = {};
  for (const node of nodes) {
    const dir = `/sys/devices/system/node/node${node}/hugepages/hugepages-2048kB`;
    out[node] = {
      total: Number(readFileSync(`${dir}/nr_hugepages`, 'utf8').trim()),
      free: Number(readFileSync(`${dir}/free_hugepages`, 'utf8').trim()),
    };
  }
  return out;
}

/** `--name N` from argv as a number, or `fallback` (the inner programs' options). */
export function numberOption(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

export interface CslideConfig {
  project: string;
  task: string;
  pid: number;
  loop: number;
  dramNode: number;
  aepNode: number;
  hotThreshold: number;
  quotaMiB: number;
  reserveMiB: number;
}

/**
 * The testbed's node_pair for one DRAM,AEP pair of interest: node_pair must
 * map every node of the host (etmemd_cslide.c has_node_unmap), so the other
 * two of the testbed's nodes 0..3 form the second pair (lower id first: the
 * DRAM nodes 0 and 1 have lower ids than the AEP nodes 2 and 3).
 */
export function testbedNodePair(dramNode: number, aepNode: number): string {
  const others = [0, 1, 2, 3].filter((n) => n !== dramNode && n !== aepNode);
  return others.length === 2 ? `${dramNode},${aepNode};${others[0]},${others[1]}` : `${dramNode},${aepNode}`;
}

/** One cslide project, engine and task in etmem's INI form, as the e2e tests, the demo and the placement bench use it. */
export function cslideConfigText(c: CslideConfig): string {
  return `[project]
name=${c.project}
loop=${c.loop}
interval=1
sleep=1

[engine]
project=${c.project}
name=cslide
node_pair=${testbedNodePair(c.dramNode, c.aepNode)}
hot_threshold=${c.hotThreshold}
node_mig_quota=${c.quotaMiB}
node_hot_reserve=${c.reserveMiB}

[task]
project=${c.project}
engine=cslide
name=${c.task}
type=pid
value=${c.pid}
vm_flags=ht
`;
}
