/**
 * The RSS floor under issue 11's goal (64 MiB + 1 MiB per tracked GiB):
 * what an idle virt-tierd holds before any cycle's garbage, against a bare
 * node. Each row is a fresh process with bench/scale-floor-probe.ts loaded
 * by --import; after --probe-ms it reports RSS (anonymous / file-backed:
 * the node binary and shared libraries are file pages), V8's heap spaces,
 * bytecode and code, external memory, the addon's mapping and the CommonJS
 * packages loaded. Rows:
 *   node                   node [flags] -e 'setInterval(...)' (the runtime alone)
 *   daemon, no libvirt     virt-tierd --no-config --no-libvirt
 *   daemon                 virt-tierd --no-config (libvirt on: the default)
 *   daemon, packaged conf  virt-tierd --config conf/virt-tier.conf (the all-comments
 *                          file a package installs as /etc/virt-tier/virt-tier.conf)
 *   daemon, 50 tasks       --no-libvirt, 50 slide tasks (T=0: nothing cold,
 *                          nothing swapped) on 50 `sleep` processes, project
 *                          started: scans run every second
 * --root DIR (repeatable) measures another checkout's bin/virt-tierd.js and
 * dist/ (a "before"); --flags 'A B' (repeatable) the V8 flag sets; --runs N
 * alternates roots and flag sets N times and prints medians.
 *
 *   npx tsc -p . && node dist/bench/scale-floor.js --runs 3 --root . --root ../wt-base \
 *     --flags '--max-semi-space-size=4' --flags '--max-semi-space-size=4 --single-threaded-gc'
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FloorProbe } from './scale-floor-probe.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => (args.includes(name) ? args[args.indexOf(name) + 1]! : dflt);
const many = (name: string): string[] => args.flatMap((a, i) => (args[i - 1] === name ? [a] : []));
const runs = Number(opt('--runs', '3'));
const probeMs = Number(opt('--probe-ms', '6000'));
const roots = many('--root').map((r) => path.resolve(r));
if (roots.length === 0) roots.push(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..'));
const flagSets = many('--flags');
if (flagSets.length === 0) flagSets.push('--max-semi-space-size=4');
const only = many('--only');
const probe = fileURLToPath(new URL('./scale-floor-probe.js', import.meta.url));
const TASKS = 50;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'vt-floor-'));

type Row = 'node' | 'daemon, no libvirt' | 'daemon' | 'daemon, packaged conf' | 'daemon, 50 tasks';
const ROWS: Row[] = ['node', 'daemon, no libvirt', 'daemon', 'daemon, packaged conf', 'daemon, 50 tasks'];

function tasksConfig(pids: number[]): string {
  const lines = ['[project]', 'name=p', 'loop=1', 'interval=1', 'sleep=1', '', '[engine]', 'project=p', 'name=slide', ''];
  pids.forEach((pid, i) => lines.push('[task]', 'project=p', 'engine=slide', `name=t${i}`, 'type=pid', `value=${pid}`, 'T=0', ''));
  return lines.join('\n');
}

async function measure(root: string, flags: string, row: Row, n: number): Promise<FloorProbe> {
  const out = path.join(tmp, `probe-${n}.json`);
  const env = { ...process.env, VT_PROBE_MS: String(probeMs), VT_PROBE_OUT: out };
  const socket = `vt-floor-${process.pid}-${n}`;
  const daemon = path.join(root, 'bin/virt-tierd.js');
  const v8Flags = flags.split(' ').filter((f) => f !== '');
  const sleepers: ChildProcess[] = [];
  let argv: string[];
  if (row === 'node') argv = ['-e', 'setInterval(() => undefined, 1000)'];
  else if (row === 'daemon') argv = [daemon, '-s', socket, '--no-config'];
  else if (row === 'daemon, packaged conf') {
    // the package installs it 0600 (the daemon refuses a config others can read)
    const file = path.join(tmp, `virt-tier-${n}.conf`);
    writeFileSync(file, readFileSync(path.join(root, 'conf/virt-tier.conf')), { mode: 0o600 });
    argv = [daemon, '-s', socket, '--config', file];
  }
  else if (row === 'daemon, no libvirt') argv = [daemon, '-s', socket, '--no-config', '--no-libvirt'];
  else {
    for (let i = 0; i < TASKS; i++) sleepers.push(spawn('sleep', ['600'], { stdio: 'ignore' }));
    const file = path.join(tmp, `tasks-${n}.ini`);
    writeFileSync(file, tasksConfig(sleepers.map((s) => s.pid!)), { mode: 0o600 });
    argv = [daemon, '-s', socket, '--no-config', '--no-libvirt', '--load', file];
  }
  const child = spawn(process.execPath, [...v8Flags, '--import', probe, ...argv], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (row === 'daemon, 50 tasks') {
    // the project starts once the daemon answers: the probe's clock runs from the daemon's start
    const cli = path.join(root, 'bin/virt-tier.js');
    for (let tries = 0; tries < 100; tries++) {
      const r = spawnSync(process.execPath, [cli, 'project', 'start', '-n', 'p', '-s', socket], { encoding: 'utf8' });
      if (r.status === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  const code = await exited;
  for (const s of sleepers) s.kill('SIGKILL');
  if (code !== 0) throw new Error(`${row} (${root}, ${flags}) exited ${code}: ${stderr}`);
  return JSON.parse(readFileSync(out, 'utf8')) as FloorProbe;
}

const results = new Map<string, FloorProbe[]>();
let n = 0;
for (let r = 0; r < runs; r++) {
  for (const row of ROWS) {
    if (only.length > 0 && !only.includes(row)) continue;
    for (const flags of flagSets) {
      for (const root of roots) {
        if (row === 'node' && root !== roots[0]) continue; // the runtime alone: the same for every checkout
        const key = JSON.stringify([row, flags, root]);
        results.set(key, [...(results.get(key) ?? []), await measure(root, flags, row, n++)]);
      }
    }
  }
}
const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const cols: Array<[string, (p: FloorProbe) => number]> = [
  ['RSS', (p) => p.rssMiB], ['anon', (p) => p.rssAnonMiB], ['file', (p) => p.rssFileMiB], ['of it node binary', (p) => p.nodeBinaryMiB], ['shared libs', (p) => p.sharedLibsMiB], ['addon', (p) => p.addonMiB],
  ['V8 heap total', (p) => p.heapTotalMiB], ['used', (p) => p.heapUsedMiB], ['new space', (p) => p.newSpaceMiB], ['old space', (p) => p.oldSpaceMiB], ['code space', (p) => p.codeSpaceMiB], ['bytecode', (p) => p.bytecodeMiB], ['external', (p) => p.externalMiB],
];
process.stdout.write(`${runs} runs, probe at ${probeMs} ms, medians in MiB (${os.cpus().length} CPUs, Node ${process.version}, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')})\n\n`);
process.stdout.write(`| process | checkout | V8 flags | ${cols.map(([c]) => c).join(' | ')} | threads | CommonJS packages |\n|---|---|---|${cols.map(() => '---:').join('|')}|---:|---|\n`);
for (const [key, ps] of results) {
  const [row, flags, root] = JSON.parse(key) as [string, string, string];
  const pkgs = Object.keys(ps[0]!.cjsFilesByPackage).filter((k) => k !== 'other').sort().join(' ');
  process.stdout.write(`| ${row} | ${row === 'node' ? '-' : path.basename(root)} | ${flags} | ${cols.map(([, f]) => med(ps.map(f)).toFixed(1)).join(' | ')} | ${med(ps.map((p) => p.threads))} | ${pkgs || '-'} |\n`);
}
