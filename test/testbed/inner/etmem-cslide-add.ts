/**
 * Inside the testbed (4 NUMA nodes, so a cslide node_pair can cover them):
 * the real daemon and CLI answer as etmem's cslide does
 * (etmemd_cslide.c cslide_fill_task, cslide_engine_do_cmd):
 * - a task whose pid is not alive, or whose process name matches nothing,
 *   is refused at add with OPT_INTER_ERR; a live one is added;
 * - `engine showhostpages` answers while a task works and OPT_INVAL once
 *   the engine has no task left.
 * Prints one JSON line of CLI results; test/testbed/etmem-cslide.test.ts
 * judges them.
 */
import { spawn, spawnSync } from 'node:child_process';
import { startE2eDaemon, testbedNodePair, writeConfigFile, type CliResult } from './e2e-daemon.js';

const project = `[project]\nname=cs\nscan_type=page\nloop=1\ninterval=1\nsleep=1\n`;
const engine = `\n[engine]\nproject=cs\nname=cslide\nnode_pair=${testbedNodePair(0, 2)}\nhot_threshold=1\nnode_mig_quota=1024\nnode_hot_reserve=0\n`;
const task = (name: string, type: string, value: string): string =>
  `\n[task]\nproject=cs\nengine=cslide\nname=${name}\ntype=${type}\nvalue=${value}\nvm_flags=ht\nanon_only=no\nign_host=yes\n`;

// A pid that was alive and is gone (reaped): the child of a synchronous spawn.
const deadPid = spawnSync('/bin/true').pid;
const live = spawn('sleep', ['600'], { stdio: 'ignore' });
const daemon = await startE2eDaemon(`vt-cslide-add-${process.pid}`);
const out: Record<string, CliResult | number> = { deadPid };
try {
  const add = (name: string, text: string): CliResult => daemon.cli(['obj', 'add', '-f', writeConfigFile(name, text)]);
  out.base = add('base.conf', project + engine);
  out.deadPid = deadPid;
  out.addDeadPid = add('dead.conf', task('dead', 'pid', String(deadPid)));
  out.addNoName = add('noname.conf', task('noname', 'name', 'vtnosuchproc'));
  out.addLive = add('live.conf', task('live', 'pid', String(live.pid)));
  out.start = daemon.cli(['project', 'start', '-n', 'cs']);
  out.hostPagesWithTask = daemon.cli(['engine', 'showhostpages', '-n', 'cs', '-e', 'cslide']);
  out.delLive = daemon.cli(['obj', 'del', '-f', writeConfigFile('del.conf', task('live', 'pid', String(live.pid)))]);
  out.hostPagesNoTask = daemon.cli(['engine', 'showhostpages', '-n', 'cs', '-e', 'cslide']);
  out.show = daemon.cli(['project', 'show', '-n', 'cs', '--json']);
} finally {
  live.kill('SIGKILL');
  await daemon.stop();
}
process.stdout.write(JSON.stringify(out) + '\n');
