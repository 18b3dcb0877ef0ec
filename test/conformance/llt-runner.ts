/**
 * Runs the verb cases of etmem's llt suite (etmem-llt-cases.json) against
 * the real virt-tierd and the real virt-tier CLI on this machine, and says
 * for each whether virt-tier gives etmem's answer, a deliberate difference
 * (etmem-differences.ts, each listed in docs/etmem-compatibility.md), or
 * something else.
 *
 * Per case: a fresh state (every project deleted), the case's `given`
 * objects added over the socket, the step itself through the CLI binary
 * (`virt-tier obj add -f FILE -s SOCK`, `project start|stop|show`), then its
 * follow-up steps (`then`) over the socket. Files are written the way
 * etmem's test writer writes them (write-etmem-config.ts), root:root 0600.
 *
 * Cases whose needs this host cannot meet (NUMA node count, etmem's kernel
 * module) are returned as skipped with the reason; the testbed runs the
 * NUMA ones (test/testbed/etmem-llt-numa.test.ts). etmem's thirdparty
 * cases (`tp.*`) run against test/fixtures/plugins/etmem-llt-engine.js,
 * the four ops tables of etmem's llt plugin restated as a JS module: the
 * `libname` of etmem's files is mapped to it.
 *
 * Usage inside the testbed: node dist/test/conformance/llt-runner.js [--cli-first-of-kind] [ID_PREFIX...]
 * prints the results as one JSON line.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { call } from '../../src/api/client.js';
import { VirtTierError } from '../../src/errors.js';
import { DIFFERENCES } from './etmem-differences.js';
import { lltNodePair, substitute, writeEtmemConfig, type CaseConfig } from './write-etmem-config.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** dist/test/conformance -> the repository root */
export const repoRoot = path.resolve(here, '../../..');
const daemonBin = path.join(repoRoot, 'bin/virt-tierd.js');
const cliBin = path.join(repoRoot, 'bin/virt-tier.js');

interface Step {
  kind: string;
  config?: CaseConfig | string;
  args?: Record<string, string | null>;
  expect?: string;
  seconds?: number;
}

export interface LltCase {
  id: string;
  kind: string;
  config?: CaseConfig;
  given?: string[];
  args?: Record<string, string | null>;
  expect: string;
  asserted: 'equal' | 'not_success' | 'derived';
  needs: string;
  repeat?: number;
  then?: Step[];
  via?: string;
}

interface CasesFile {
  fixtures: Record<string, CaseConfig>;
  cases: LltCase[];
}

export type Outcome = 'match' | 'listed' | 'mismatch' | 'skipped';

export interface CaseResult {
  id: string;
  outcome: Outcome;
  /** etmem's answer */
  expect: string;
  asserted: string;
  /** virt-tier's answer (result code of the CLI step, OPT_SUCCESS for exit 0) */
  got?: string;
  /** why skipped, or which follow-up step failed */
  detail?: string;
}

const VERBS = new Set(['obj_add', 'obj_del', 'project_start', 'project_stop', 'project_show', 'engine_cmd']);

/** etmem's llt plugin paths, and what they are here (the fixture restates etmem's my_engine.c ops tables). */
const PLUGIN_PATHS: Record<string, string> = {
  './lib/libthirdparty_engine.so': path.join(repoRoot, 'test/fixtures/plugins/etmem-llt-engine.js'),
  './lib/invalid.so': path.join(repoRoot, 'test/fixtures/plugins/etmem-llt-invalid-does-not-exist.js'),
};

export function loadCasesFile(): CasesFile {
  for (const f of [path.join(here, 'etmem-llt-cases.json'), path.join(repoRoot, 'test/conformance/etmem-llt-cases.json')]) {
    try {
      return JSON.parse(readFileSync(f, 'utf8')) as CasesFile;
    } catch {
      // try the next
    }
  }
  throw new Error('cannot read etmem-llt-cases.json');
}

/** Nodes with memory, as libnuma's numa_num_configured_nodes() (and so etmem's llt) count them. */
export function memoryNodeCount(): number {
  try {
    const text = readFileSync('/sys/devices/system/node/has_memory', 'utf8').trim();
    let n = 0;
    for (const part of text.split(',')) {
      const [a, b] = part.split('-').map(Number);
      n += b === undefined ? 1 : b - a! + 1;
    }
    return n;
  } catch {
    return 1;
  }
}

/** Why a case cannot run here, or undefined when it can. */
export function unmetNeed(c: LltCase, nodes: number): string | undefined {
  if (!VERBS.has(c.kind)) return `${c.kind}: not a verb case (etmem-internal function or CLI/daemon flag)`;
  const needs = c.needs;
  if (/etmem_scan|hugepages/.test(needs)) return `needs ${needs}`;
  if (/numa-2\|4\|6/.test(needs) && ![2, 4, 6].includes(nodes)) return `needs 2, 4 or 6 NUMA nodes (this host has ${nodes})`;
  if (/numa-4/.test(needs) && !/numa-2\|4\|6/.test(needs) && nodes !== 4) return `needs 4 NUMA nodes (this host has ${nodes})`;
  if (c.given?.some((g) => !givenSections(g, undefined))) return `given ${JSON.stringify(c.given)} not modelled by the runner`;
  return undefined;
}

/** The thirdparty cases' started states: the fixtures added together, then default_proj started. */
const STARTED_TP: Record<string, string[]> = {
  'tp.start state (started)': ['proj_default', 'eng_tp_my_engine_ops', 'task_tp_default'],
  'started, start_not_null_ops': ['proj_default', 'eng_tp_start_not_null_ops', 'task_tp_default'],
};

/** A step's `given` as sections to add, plus whether to start the named project after. */
function givenSections(given: string, fixtures: Record<string, CaseConfig> | undefined): { config?: CaseConfig; start?: string } | undefined {
  const defaults = (name: string): CaseConfig => ({ project: { scan_type: 'page', name, interval: '1', loop: '1', sleep: '1' } });
  if (fixtures === undefined) {
    // Only checks that the given is understood.
    return /^(proj_|eng_|task_)/.test(given) || /^project \S+ \(defaults\)$/.test(given) || /^project \S+, (started|stopped)$/.test(given) || given === 'project started' || STARTED_TP[given]
      ? {}
      : undefined;
  }
  const started = STARTED_TP[given];
  if (started) return { config: Object.assign({}, ...started.map((f) => fixtures[f]!)) as CaseConfig, start: 'default_proj' };
  if (fixtures[given]) return { config: fixtures[given] };
  let m = /^project (\S+) \(defaults\)$/.exec(given);
  if (m) return { config: defaults(m[1]!) };
  m = /^project (\S+), (started|stopped)$/.exec(given);
  if (m) return { config: defaults(m[1]!), ...(m[2] === 'started' ? { start: m[1]! } : {}) };
  if (given === 'project started') return { start: 'default_proj' };
  return undefined;
}

function codeOf(err: unknown): string {
  return err instanceof VirtTierError ? err.code : `ERROR ${String(err)}`;
}

/** A daemon of our own on a fresh abstract socket. */
export class LltDaemon {
  readonly socket = `vt-llt-${process.pid}-${Date.now() % 100000}`;
  private proc?: ChildProcess;
  private readonly dir = mkdtempSync(path.join(os.tmpdir(), 'vt-llt-'));
  private fileCount = 0;
  stderr = '';

  async start(): Promise<void> {
    // No libvirt: the cases need none of it, and this keeps the runs off a shared libvirtd.
    this.proc = spawn(process.execPath, [daemonBin, '-s', this.socket, '-l', '1', '--no-libvirt'], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc.stderr!.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-20000)));
    // Generous: node starts in seconds under the testbed's TCG.
    const deadline = Date.now() + 90_000;
    while (!(await this.connects())) {
      if (this.proc.exitCode !== null || Date.now() > deadline) throw new Error(`virt-tierd did not start: ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private connects(): Promise<boolean> {
    return new Promise((resolve) => {
      const s = net.createConnection({ path: '\0' + this.socket });
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
  }

  alive(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  async stop(): Promise<void> {
    if (this.alive()) {
      const exited = new Promise((r) => this.proc!.once('exit', r));
      this.proc!.kill('SIGTERM');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** etmem's file checks hold for virt-tier too: root:root (the runner runs as root), 0600. */
  writeFile(text: string): string {
    const file = path.join(this.dir, `case-${++this.fileCount}.conf`);
    writeFileSync(file, text);
    chmodSync(file, 0o600);
    return file;
  }

  /** The real CLI; its answer as a result code. */
  cli(args: string[]): string {
    const r = spawnSync(process.execPath, [cliBin, ...args, '-s', this.socket], { encoding: 'utf8', timeout: 60_000 });
    if (r.status === 0) return 'OPT_SUCCESS';
    const m = /^virt-tier: (OPT_[A-Z_]+):/m.exec(r.stderr);
    return m ? m[1]! : `EXIT ${r.status}: ${r.stderr.trim().slice(0, 200)}`;
  }

  async rpc(cmd: string, args: Record<string, unknown>): Promise<string> {
    try {
      await call(this.socket, cmd, args);
      return 'OPT_SUCCESS';
    } catch (err) {
      return codeOf(err);
    }
  }

  /** Deletes every project (and so everything). */
  async reset(): Promise<void> {
    const projects = (await call(this.socket, 'project.show', {})) as Array<{ name: string }>;
    for (const p of projects) {
      const file = this.writeFile(`[project]\nname=${p.name}\n`);
      await call(this.socket, 'obj.del', { file });
    }
  }
}

interface RunOptions {
  nodes?: number;
  /**
   * `all` (default): every case's step through the CLI binary. `first-of-kind`: the first case of each verb
   * through the CLI, the rest over the socket (the same daemon request; for the testbed, where each CLI
   * start-up under TCG takes seconds).
   */
  cli?: 'all' | 'first-of-kind';
  only?: string[];
  /** longest wait a case's `wait` step gets (etmem's llt wait 10 s to let cycles run; the answers do not depend on it) */
  maxWaitMs?: number;
}

/** Replaces `sshd` (etmem's socket and service tests) with a process of ours: a started slide task acts on its target. */
function safeConfig(config: CaseConfig, ownProcessName: string): CaseConfig {
  const out: CaseConfig = {};
  for (const [section, keys] of Object.entries(config)) {
    out[section] = { ...keys };
    if (section === 'task' && keys.type === 'name' && keys.value === 'sshd') out[section]!.value = ownProcessName;
    if (section === 'engine' && keys.libname !== undefined && PLUGIN_PATHS[keys.libname]) out[section]!.libname = PLUGIN_PATHS[keys.libname]!;
  }
  return out;
}

/** Runs the cases; the order of etmem's file is kept (the socket cases build on each other). */
export async function runLltCases(opts: RunOptions = {}): Promise<CaseResult[]> {
  const doc = loadCasesFile();
  const nodes = opts.nodes ?? memoryNodeCount();
  const vars: Record<string, string> = { NODE_PAIR: lltNodePair(nodes), SELF_PID: String(process.pid) };
  const maxWaitMs = opts.maxWaitMs ?? 1500;
  const results: CaseResult[] = [];
  const daemon = new LltDaemon();
  // A named process that is ours, for the tasks etmem's tests point at sshd.
  const sleeperName = `vtllt${process.pid % 100000}`;
  // The process name (comm) is the name of the file executed: a symlink to sleep named so (`exec -a` is not in
  // dash, Debian's /bin/sh, and would leave nothing running).
  const sleeperDir = mkdtempSync(path.join(os.tmpdir(), 'vt-llt-sleeper-'));
  symlinkSync(['/bin/sleep', '/usr/bin/sleep'].find((p) => existsSync(p)) ?? '/bin/sleep', path.join(sleeperDir, sleeperName));
  const sleeper = spawn(path.join(sleeperDir, sleeperName), ['600'], { stdio: 'ignore' });
  const cliKinds = new Set<string>();
  try {
    await daemon.start();
    for (const c of doc.cases) {
      if (opts.only && !opts.only.some((p) => c.id.startsWith(p))) continue;
      const why = unmetNeed(c, nodes);
      if (why) {
        results.push({ id: c.id, outcome: 'skipped', expect: c.expect, asserted: c.asserted, detail: why });
        continue;
      }
      // The socket cases (sock.client_ok.*) are one sequence in etmem: add, show, start, stop, del.
      if (!c.id.startsWith('sock.client_ok.') || c.id === 'sock.client_ok.add') await daemon.reset();
      const viaCli = opts.cli !== 'first-of-kind' || !cliKinds.has(c.kind);
      cliKinds.add(c.kind);
      results.push(await runCase(daemon, c, doc.fixtures, vars, sleeperName, maxWaitMs, viaCli));
    }
    await daemon.reset();
  } finally {
    sleeper.kill('SIGKILL');
    rmSync(sleeperDir, { recursive: true, force: true });
    await daemon.stop();
  }
  return results;
}

async function runCase(daemon: LltDaemon, c: LltCase, fixtures: Record<string, CaseConfig>, baseVars: Record<string, string>, sleeperName: string, maxWaitMs: number, viaCli: boolean): Promise<CaseResult> {
  const result = (got: string, detail?: string): CaseResult => {
    const listed = DIFFERENCES[c.id];
    let outcome: Outcome;
    if (detail !== undefined) outcome = listed && listed.got === got ? 'listed' : 'mismatch';
    else if (got === c.expect) outcome = 'match';
    else if (c.asserted === 'not_success' && got !== 'OPT_SUCCESS' && c.expect !== 'OPT_SUCCESS' && !listed) outcome = 'match';
    else if (listed && listed.got === got) outcome = 'listed';
    else outcome = 'mismatch';
    return { id: c.id, outcome, expect: c.expect, asserted: c.asserted, got, ...(detail !== undefined ? { detail } : {}) };
  };
  for (const g of c.given ?? []) {
    const s = givenSections(g, fixtures)!;
    if (s.config) {
      const got = await daemon.rpc('obj.add', { file: daemon.writeFile(writeEtmemConfig(safeConfig(s.config, sleeperName), baseVars)) });
      if (got !== 'OPT_SUCCESS') return result('GIVEN_FAILED', `given ${g}: ${got}`);
    }
    if (s.start) {
      const got = await daemon.rpc('project.start', { name: s.start });
      if (got !== 'OPT_SUCCESS') return result('GIVEN_FAILED', `given ${g} (start): ${got}`);
    }
  }
  const repeat = c.repeat ?? 1;
  let got = 'OPT_SUCCESS';
  for (let i = 0; i < repeat; i++) {
    const vars = { ...baseVars, i: String(i) };
    // The first and last of a repeated step go through the CLI, the rest over the socket: the same daemon
    // request, without 48 more CLI start-ups per case (etmem's llt repeat a step 50 times).
    got = viaCli && (i === 0 || i === repeat - 1) ? await stepThroughCli(daemon, c, vars, sleeperName) : await rpcStep(daemon, c as Step, c, vars, sleeperName);
    if (got !== c.expect) break;
  }
  if (got !== c.expect) return result(got);
  // Follow-up steps, over the socket (each a real daemon request).
  for (const step of c.then ?? []) {
    if (step.kind === 'wait') {
      await new Promise((r) => setTimeout(r, Math.min((step.seconds ?? 0) * 1000, maxWaitMs)));
      continue;
    }
    if (!VERBS.has(step.kind) || step.expect === undefined) continue;
    for (let i = 0; i < (step.config === 'same, for each i' || (typeof step.config !== 'object' && repeat > 1) ? repeat : 1); i++) {
      const vars = { ...baseVars, i: String(i) };
      const stepGot = await rpcStep(daemon, step, c, vars, sleeperName);
      if (stepGot !== step.expect) return result(got, `then ${step.kind} ${JSON.stringify(step.args ?? step.config ?? '')}: got ${stepGot}, etmem ${step.expect}`);
    }
  }
  if (!daemon.alive()) return result(got, 'the daemon died');
  return result(got);
}

function caseFile(daemon: LltDaemon, config: CaseConfig, vars: Record<string, string>, sleeperName: string): string {
  return daemon.writeFile(writeEtmemConfig(safeConfig(config, sleeperName), vars));
}

async function stepThroughCli(daemon: LltDaemon, c: LltCase, vars: Record<string, string>, sleeperName: string): Promise<string> {
  const name = c.args?.name;
  switch (c.kind) {
    case 'obj_add':
    case 'obj_del': {
      const verb = c.kind === 'obj_add' ? 'add' : 'del';
      // A case without a file (the missing-file shell test) names a path that does not exist.
      const file = c.config ? caseFile(daemon, c.config, vars, sleeperName) : path.join(os.tmpdir(), `vt-llt-noexist-${process.pid}.config`);
      return daemon.cli(['obj', verb, '-f', file]);
    }
    case 'project_start':
    case 'project_stop': {
      const verb = c.kind === 'project_start' ? 'start' : 'stop';
      if (c.config) {
        // etmem's start_project_multiple: add each project, then start it.
        const added = await daemon.rpc('obj.add', { file: caseFile(daemon, c.config, vars, sleeperName) });
        if (added !== 'OPT_SUCCESS') return `ADD ${added}`;
        return daemon.cli(['project', verb, '-n', substitute(String(c.config.project!.name), vars)]);
      }
      // etmem's llt call the daemon's function with NULL or '' names; the CLI refuses those itself (as etmem's
      // client does), so they go over the socket as the function call would.
      if (name === null || name === undefined) return daemon.rpc(`project.${verb}`, {});
      if (name === '') return daemon.rpc(`project.${verb}`, { name: '' });
      return daemon.cli(['project', verb, '-n', name]);
    }
    case 'project_show':
      return daemon.cli(['project', 'show', ...(typeof name === 'string' ? ['-n', name] : [])]);
    case 'engine_cmd': {
      const a = c.args ?? {};
      // etmem's llt call the daemon's function with NULL names; the CLI refuses those itself, as etmem's client does.
      if (a.project == null || a.engine == null || a.cmd == null) return rpcStep(daemon, c as Step, c, vars, sleeperName);
      return daemon.cli(['engine', a.cmd, '-n', a.project, '-e', a.engine, ...(a.task != null ? ['-t', a.task] : [])]);
    }
  }
  return `UNSUPPORTED ${c.kind}`;
}

async function rpcStep(daemon: LltDaemon, step: Step, c: LltCase, vars: Record<string, string>, sleeperName: string): Promise<string> {
  const config = typeof step.config === 'object' ? step.config : c.config;
  switch (step.kind) {
    case 'obj_add':
    case 'obj_del':
      if (!config) return 'NO_CONFIG';
      return daemon.rpc(step.kind === 'obj_add' ? 'obj.add' : 'obj.del', { file: caseFile(daemon, config, vars, sleeperName) });
    case 'project_start':
    case 'project_stop': {
      if (step === (c as Step) && c.config) {
        const added = await daemon.rpc('obj.add', { file: caseFile(daemon, c.config, vars, sleeperName) });
        if (added !== 'OPT_SUCCESS') return `ADD ${added}`;
        return daemon.rpc(step.kind === 'project_start' ? 'project.start' : 'project.stop', { name: substitute(String(c.config.project!.name), vars) });
      }
      const name = step.args?.name === undefined ? undefined : step.args.name === null ? undefined : substitute(step.args.name, vars);
      return daemon.rpc(step.kind === 'project_start' ? 'project.start' : 'project.stop', name === undefined ? {} : { name });
    }
    case 'project_show': {
      const name = step.args?.name;
      return daemon.rpc('project.show', typeof name === 'string' ? { name: substitute(name, vars) } : {});
    }
    case 'engine_cmd': {
      const args: Record<string, string> = {};
      for (const [k, v] of Object.entries(step.args ?? {})) if (v !== null && v !== undefined) args[k] = substitute(v, vars);
      return daemon.rpc('engine.cmd', args);
    }
  }
  return `UNSUPPORTED ${step.kind}`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const only = args.filter((a) => !a.startsWith('--'));
  runLltCases({ ...(only.length > 0 ? { only } : {}), cli: args.includes('--cli-first-of-kind') ? 'first-of-kind' : 'all' }).then(
    (results) => process.stdout.write(JSON.stringify({ nodes: memoryNodeCount(), results }) + '\n'),
    (err) => {
      process.stderr.write(`${String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
