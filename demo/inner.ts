/**
 * The demo, inside the testbed with libvirtd (harness option `libvirt:
 * true`): the whole chain with real libvirt guests, shown as it happens.
 * `virt-tier install-hook`, a libvirtd restart, `virt-tierd --auto-domains
 * --http` with no config file, then two TCG guests (64 MiB of 2 MiB
 * hugepages each, one with two guest NUMA cells) running the freestanding
 * hot-loop program (test/testbed/guest-code/), each with a cslide policy in
 * its domain XML. Printed: guests booting, the hook's events as the daemon
 * logs them, each guest's placement per node round by round (the kernel's
 * view through the RAMBlock mapping), `virt-tier list`, a summary. At the
 * fixed point the live view (web/live.html, served by the daemon's --http)
 * is rendered by the host's headless Chromium: the harness forwards the
 * host's 127.0.0.1:PORT to the testbed's NIC (option hostForward), a relay
 * here passes it on to the daemon's loopback listener, and the host says
 * what it rendered in `liveview.done` in the run directory. (Chromium
 * inside the testbed took ~100 s to start under TCG and slowed the guests.)
 *
 *   node dist/demo/inner.js [--quota-mib 16]
 */
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { bringUpNic, relay } from '../test/testbed/inner/guest-net.js';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ProjectView } from '../src/model/registry.js';
import type { TaskView } from '../src/model/task-runtime.js';
import { CLI_BIN, hugepagePools, numberOption, startE2eDaemon, type E2eDaemon } from '../test/testbed/inner/e2e-daemon.js';
import { defineAndStart, pageNodes, runningGuest, virshAsync, type GuestSpec, type RunningGuest } from '../test/testbed/inner/libvirt-guests.js';

const DRAM = 0;
const AEP = 2;
const quotaMiB = numberOption('quota-mib', 16);
const loop = 2;
const SOCKET = 'virt-tier';
const HTTP_PORT = 8077;
/** The relay's port on the testbed's NIC, which the host's forward reaches (demo/host.ts). */
const GUEST_PORT = Number(process.env.VIRT_TIER_DEMO_GUEST_PORT ?? 0);
const say = (line = ''): void => void process.stdout.write(line + '\n');
const t0 = performance.now();
const clock = (): string => `${((performance.now() - t0) / 1000).toFixed(1).padStart(5)}s`;

const pools0 = hugepagePools([0, 1, 2, 3]);
const hotPagesTotal = 8 + 8;
const reserveMiB = (pools0[DRAM]!.total - hotPagesTotal) * 2;
const policy = {
  enabled: 'yes', engine: 'cslide', loop: String(loop), interval: '1', sleep: '1',
  hot_threshold: String(loop), node_pair: '0,2;1,3', node_mig_quota: String(quotaMiB), node_hot_reserve: String(reserveMiB),
};
const specs: GuestSpec[] = [
  { name: 'web1', uuid: '7e570000-0000-4000-8000-0000000000a1', ramMiB: 64, hotStartMiB: 16, hotEndMiB: 32, numaCells: 0, ram: 'hugetlbfs', policy },
  { name: 'db1', uuid: '7e570000-0000-4000-8000-0000000000b2', ramMiB: 64, hotStartMiB: 24, hotEndMiB: 40, numaCells: 2, ram: 'hugetlbfs', policy },
];
const taskName = (g: RunningGuest): string => `domain-${g.spec.uuid}`;

function findTask(projects: ProjectView[], name: string): { project: string; task: TaskView } | undefined {
  for (const p of projects) {
    const t = p.tasks.find((x) => x.name === name);
    if (t) return { project: p.name, task: t };
  }
  return undefined;
}

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    // 'close', not 'exit': the output may still be in the pipe at exit.
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** One character per 2 MiB guest page in guest-physical order: H hot on DRAM, h hot on AEP, c cold on DRAM, . cold on AEP. */
function strip(g: RunningGuest, nodes: number[]): string {
  const hot = new Set(g.hotPages);
  return nodes.map((n, i) => (hot.has(i) ? (n === DRAM ? 'H' : 'h') : n === DRAM ? 'c' : '.')).join('');
}

function placementLine(g: RunningGuest, nodes: number[]): string {
  const hot = new Set(g.hotPages);
  const count = (pred: (n: number, i: number) => boolean): number => nodes.filter(pred).length * 2;
  return `${g.spec.name.padEnd(5)} [${strip(g, nodes)}]  DRAM hot ${String(count((n, i) => n === DRAM && hot.has(i))).padStart(2)} cold ${String(count((n, i) => n === DRAM && !hot.has(i))).padStart(2)} MiB | AEP hot ${String(count((n, i) => n === AEP && hot.has(i))).padStart(2)} cold ${String(count((n, i) => n === AEP && !hot.has(i))).padStart(2)} MiB`;
}

let hookLinesShown = 0;
function showHookEvents(daemon: E2eDaemon): void {
  const lines = daemon.log().split('\n').filter((l) => /qemu hook event|domain tiered by its policy/.test(l));
  for (const l of lines.slice(hookLinesShown)) {
    const detail = JSON.parse(l.slice(l.indexOf('{'))) as Record<string, string>;
    if (/qemu hook event/.test(l)) say(`${clock()}  hook: qemu ${detail.domain} ${detail.op} ${detail.subop} -> daemon: ${detail.action}`);
    else say(`${clock()}  virt-tierd: ${detail.domain} tiered by its policy (project ${detail.project})`);
  }
  hookLinesShown = lines.length;
}

/** The host renders the live view once told it is ready; waits for its answer in the run directory. */
async function renderOnHost(guests: number): Promise<string> {
  if (GUEST_PORT === 0) return 'skipped: no port forwarded from the host (run through demo/host.ts)';
  const runDir = process.env.VIRT_TIER_TESTBED_RUN_DIR ?? '/tmp';
  const done = path.join(runDir, 'liveview.done');
  say(`${clock()}  live view ready for ${guests} guests: rendering it with headless Chromium on the host...`);
  for (const until = Date.now() + 120_000; Date.now() < until; await sleep(200)) {
    if (existsSync(done)) return readFileSync(done, 'utf8').trim();
  }
  return 'failed: the host did not answer within 120 s';
}

async function main(): Promise<void> {
  say(`${clock()}  testbed up: nodes 0,1 DRAM (CPUs), 2,3 AEP/CXL (memory only); 2 MiB hugepages: ${pools0[DRAM]!.total} on node 0, ${pools0[AEP]!.total} on node 2; libvirtd running (qemu:///system)`);
  writeFileSync('/proc/sys/kernel/numa_balancing', '0');
  // The testbed's loopback starts down: the relay's connections to the daemon's --http on 127.0.0.1 need it.
  try {
    execFileSync('ip', ['link', 'set', 'lo', 'up']);
  } catch {
    execFileSync('busybox', ['ip', 'link', 'set', 'lo', 'up']);
  }
  const hook = await cli(['install-hook']);
  say(`${clock()}  virt-tier install-hook: ${hook.stdout.trim().split('. ')[0]}; restarting libvirtd so it sees the hook`);
  const pid = Number(readFileSync('/run/libvirtd.pid', 'utf8').trim());
  process.kill(pid, 'SIGTERM');
  while (existsSync(`/proc/${pid}`)) await sleep(100);
  execFileSync('libvirtd', ['-d']);
  while ((await virshAsync('uri')).code !== 0) await sleep(200);
  const daemon = await startE2eDaemon(SOCKET, ['--auto-domains', '--sync-interval', '3', '--http', `127.0.0.1:${HTTP_PORT}`]);
  say(`${clock()}  virt-tierd --auto-domains --http 127.0.0.1:${HTTP_PORT}   (no config file: policies come from each domain's XML)`);
  say(`         policy: <tier:policy engine="cslide" loop="2" hot_threshold="2" node_pair="0,2;1,3" node_mig_quota="${quotaMiB}" node_hot_reserve="${reserveMiB}"/>`);
  if (GUEST_PORT !== 0) {
    const nic = await bringUpNic();
    // unref: the relay must not keep this process (and so the testbed) alive once the demo is over.
    (await relay(GUEST_PORT, HTTP_PORT)).unref();
    say(`${clock()}  live view: ${nic} up, port ${GUEST_PORT} relayed to the daemon's --http, forwarded to the host`);
  }
  say();
  const guests: RunningGuest[] = [];
  const last = new Map<string, number>();
  const moved = new Map<string, { demoted: number; promoted: number }>();
  /** rounds in a row that planned nothing, per guest (set from the guest's first round on) */
  const quietRounds = new Map<string, number>();
  const settledAt = new Map<string, number>();
  let watching = true;
  // Rounds are shown from the first guest's start on, while the second one boots.
  const watcher = (async () => {
    while (watching) {
      const projects = (await daemon.call('project.show')) as ProjectView[];
      showHookEvents(daemon);
      for (const g of [...guests]) {
        const t = findTask(projects, taskName(g));
        const s = t?.task.stats as { round: number; promotedBytes: number; demotedBytes: number; plannedBytes: { promote: number; prefetch: number; demote: number } } | undefined;
        if (!s || s.round === last.get(g.spec.name)) continue;
        last.set(g.spec.name, s.round);
        const m = moved.get(g.spec.name) ?? { demoted: 0, promoted: 0 };
        m.demoted += s.demotedBytes;
        m.promoted += s.promotedBytes;
        moved.set(g.spec.name, m);
        const planned = s.plannedBytes.promote + s.plannedBytes.prefetch + s.plannedBytes.demote;
        say(`${clock()}  round ${String(s.round).padStart(2)}  ${placementLine(g, await pageNodes(g))}   moved ${s.demotedBytes >> 20} MiB down, ${s.promotedBytes >> 20} MiB up`);
        // settled: two rounds in a row planned nothing, not counting the guest's first round (it may plan
        // nothing before the scans have seen the guest)
        const first = !quietRounds.has(g.spec.name);
        const q = planned === 0 && !first ? (quietRounds.get(g.spec.name) ?? 0) + 1 : 0;
        quietRounds.set(g.spec.name, q);
        if (q >= 2 && !settledAt.has(g.spec.name)) settledAt.set(g.spec.name, s.round - 1);
      }
      await sleep(200);
    }
  })();
  try {
    for (const spec of specs) {
      say(`${clock()}  virsh start ${spec.name}: 64 MiB hugepages${spec.numaCells ? ', 2 guest NUMA cells (ram-node0/1)' : ' (pc.ram)'}, guest program writes ${spec.hotStartMiB}-${spec.hotEndMiB} MiB every 10 ms, leaves the rest`);
      await defineAndStart(spec);
      const g = runningGuest(spec);
      say(`${clock()}  ${spec.name} running: QEMU pid ${g.pid}, ${g.blocks.map((b) => `${b.id} at 0x${b.hostStart.toString(16)}`).join(', ')}`);
      say(`         ${placementLine(g, await pageNodes(g))}   (H hot on DRAM, h hot on AEP, c cold on DRAM, . cold on AEP; 2 MiB per character, guest-physical order)`);
      guests.push(g);
    }
    const deadline = Date.now() + 150_000;
    while (Date.now() < deadline && settledAt.size < guests.length) await sleep(200);
    watching = false;
    await watcher;
    say();
    const list = await cli(['list']);
    say(`${clock()}  virt-tier list`);
    for (const line of list.stdout.trimEnd().split('\n')) say(`         ${line}`);

    say();
    say(`${clock()}  live view: ${await renderOnHost(guests.length)}`);

    say();
    say('summary');
    for (const g of guests) {
      const nodes = await pageNodes(g);
      const hot = new Set(g.hotPages);
      const hotOnDram = nodes.filter((n, i) => hot.has(i) && n === DRAM).length * 2;
      const coldOnAep = nodes.filter((n, i) => !hot.has(i) && n === AEP).length * 2;
      const m = moved.get(g.spec.name) ?? { demoted: 0, promoted: 0 };
      const q = settledAt.get(g.spec.name);
      say(`  ${g.spec.name}: hot on DRAM ${hotOnDram} of ${g.hotPages.length * 2} MiB, cold on AEP ${coldOnAep} of ${(32 - g.hotPages.length) * 2} MiB; moved ${m.demoted >> 20} MiB down, ${m.promoted >> 20} MiB up; ${q === undefined ? 'not settled yet' : `settled at round ${q}`}`);
    }
  } finally {
    watching = false;
    await watcher.catch(() => undefined);
    await Promise.all(guests.map((g) => virshAsync('destroy', g.spec.name)));
    await sleep(1000);
    showHookEvents(daemon);
    await daemon.stop();
  }
}

await main();
