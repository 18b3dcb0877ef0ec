/**
 * A thirdparty plugin that misbehaves stays in its own thread: the real
 * daemon, the real CLI, test/fixtures/plugins/hostile-engine.js. After each
 * misbehaviour the daemon is alive, answers `project show` for every
 * project, and a well-behaved plugin beside it keeps reporting.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { cliBin, repoRoot, startDaemon, writeConfig, type RunResult, type TestDaemon } from './helpers/daemon.js';
import { DEFAULT_PLUGIN_LIMITS } from '../../src/runner/thirdparty.js';

const hostile = path.join(repoRoot, 'test/fixtures/plugins/hostile-engine.js');

function projectIni(name: string): string {
  return `[project]\nname=${name}\nloop=1\ninterval=1\nsleep=1\n`;
}
function engineIni(project: string, extra = ''): string {
  return `\n[engine]\nproject=${project}\nname=thirdparty\neng_name=h\nlibname=${hostile}\nops_name=hostileEngine\n${extra}`;
}
function taskIni(project: string, name: string, mode: string): string {
  return `\n[task]\nproject=${project}\nengine=h\nname=${name}\ntype=pid\nvalue=1\nmode=${mode}\n`;
}

/** The CLI without blocking this process, so calls can overlap. */
function cliAsync(socket: string, args: string[]): Promise<RunResult> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [cliBin, ...args, '-s', socket], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

interface ShownTask { name: string; ended?: string; stats?: Record<string, unknown> }
function tasksOf(d: TestDaemon, project: string): Record<string, ShownTask> {
  const r = d.cli(['project', 'show', '-n', project, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const shown = JSON.parse(r.stdout) as Array<{ tasks: ShownTask[] }>;
  return Object.fromEntries(shown[0].tasks.map((t) => [t.name, t]));
}

async function until<T>(fn: () => T | undefined, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function add(d: TestDaemon, text: string): RunResult {
  return d.cli(['obj', 'add', '-f', writeConfig(text)]);
}

describe('a misbehaving plugin ends its own tasks, never the daemon', () => {
  let d: TestDaemon;
  before(async () => {
    d = await startDaemon();
    // The well-behaved neighbour: its stats must keep coming through everything below.
    assert.equal(add(d, projectIni('good') + engineIni('good') + taskIni('good', 'g', 'ok')).code, 0);
    assert.equal(d.cli(['project', 'start', '-n', 'good']).code, 0);
  });
  after(async () => d.stop());

  const aliveCount = (): number => Number(tasksOf(d, 'good').g.stats?.alive ?? 0);

  test('exit, abort, heap exhaustion, a spinning startTask', async () => {
    // Inside startTask: the start fails (etmem's OPT_INTER_ERR), the project stays stopped, the task ended with the reason.
    const failedStarts: Array<[string, RegExp]> = [
      ['exit', /plugin host exited with code 7/],
      ['abort', /startTask\("t"\) failed: .*not supported in workers/],
      ['spin', new RegExp(`startTask did not return within ${DEFAULT_PLUGIN_LIMITS.callMs} ms`)],
    ];
    const before = aliveCount();
    for (const [mode, reason] of failedStarts) {
      assert.equal(add(d, projectIni(mode) + engineIni(mode) + taskIni(mode, 't', mode)).code, 0);
      const r = d.cli(['project', 'start', '-n', mode]);
      assert.match(r.stderr, /OPT_INTER_ERR: /, mode);
      assert.match(r.stderr, reason, mode);
      assert.match(tasksOf(d, mode).t.ended ?? '', reason, mode);
      assert.match(d.cli(['project', 'stop', '-n', mode]).stderr, /OPT_PRO_STOPPED/, mode);
    }
    // After startTask returned: the running task ends.
    assert.equal(add(d, projectIni('oom') + engineIni('oom') + taskIni('oom', 't', 'oom')).code, 0);
    assert.equal(d.cli(['project', 'start', '-n', 'oom']).code, 0);
    assert.match(await until(() => tasksOf(d, 'oom').t.ended, 'task of oom to end'), /plugin host failed: .*memory limit/);
    assert.equal(d.alive(), true);
    await until(() => (aliveCount() > before ? true : undefined), 'the good plugin to report again');
    // A host that ended stays ended: its engine answers with the reason, at once.
    assert.equal(d.cli(['project', 'start', '-n', 'spin']).code, 1);
    assert.match(d.cli(['engine', 'x', '-n', 'oom', '-e', 'h']).stderr, /OPT_INTER_ERR: .*plugin host ended/);
    assert.equal(d.cli(['project', 'stop', '-n', 'oom']).code, 0);
    assert.equal(d.cli(['obj', 'del', '-f', writeConfig(projectIni('exit'))]).code, 0);
  });

  test('data that cannot be serialised reaches clients as plain data', async () => {
    for (const mode of ['bigint-stats', 'cyclic-stats', 'getter-stats']) {
      assert.equal(add(d, projectIni(mode) + engineIni(mode) + taskIni(mode, 't', mode)).code, 0);
      assert.equal(d.cli(['project', 'start', '-n', mode]).code, 0);
    }
    // `project show` of every project at once: one cyclic stats object used to break it for all.
    const all = d.cli(['project', 'show', '--json']);
    assert.equal(all.code, 0, all.stderr);
    assert.ok((JSON.parse(all.stdout) as unknown[]).length >= 4);
    const big = d.cli(['engine', 'bigint', '-n', 'bigint-stats', '-e', 'h', '--json']);
    assert.equal(big.code, 0, big.stderr);
    assert.match(big.stdout, /"1180591620717411303424"/);
    const cycle = d.cli(['engine', 'cycle', '-n', 'cyclic-stats', '-e', 'h', '--json']);
    assert.equal(cycle.code, 0, cycle.stderr);
    assert.deepEqual(JSON.parse(cycle.stdout), { name: 'a', self: '[circular]' });
    const getter = d.cli(['engine', 'getter', '-n', 'getter-stats', '-e', 'h', '--json']);
    assert.equal(getter.code, 0, getter.stderr);
    assert.deepEqual(JSON.parse(getter.stdout), { fine: 1, broken: '[unreadable: getter exploded]' });
    for (const mode of ['bigint-stats', 'cyclic-stats', 'getter-stats']) {
      assert.equal(d.cli(['project', 'stop', '-n', mode]).code, 0, mode);
    }
    assert.equal(d.alive(), true);
  });

  test('a command that never settles is answered with a timeout error; others still work', async () => {
    assert.equal(add(d, projectIni('cmd') + engineIni('cmd')).code, 0);
    assert.equal(d.cli(['project', 'start', '-n', 'cmd']).code, 0);
    const hang = await cliAsync(d.socket, ['engine', 'hang', '-n', 'cmd', '-e', 'h']);
    assert.match(hang.stderr, new RegExp(`OPT_INTER_ERR: .*command did not return within ${DEFAULT_PLUGIN_LIMITS.commandMs} ms`));
    assert.match(d.cli(['engine', 'bigint', '-n', 'good', '-e', 'h']).stdout, /1180591620717411303424/);
  });

  test('init that never settles fails the add after its limit; nothing is added', () => {
    const r = add(d, projectIni('initless') + engineIni('initless', 'init=hang\n'));
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`OPT_INTER_ERR: .*init failed: .*init did not return within ${DEFAULT_PLUGIN_LIMITS.initMs} ms`));
    // `project show -n` of a missing project answers as etmem does: success, and a line saying so.
    assert.match(d.cli(['project', 'show', '-n', 'initless']).stdout, /project initless is not existed/);
  });

  test('a stuck stopTask and close are cut off: unrelated projects stop, the engine is removed', async () => {
    assert.equal(add(d, projectIni('stuck') + engineIni('stuck', 'close=hang\n') + taskIni('stuck', 'stuck1', 'ok')).code, 0);
    assert.equal(add(d, projectIni('other') + engineIni('other') + taskIni('other', 'o', 'ok')).code, 0);
    assert.equal(d.cli(['project', 'start', '-n', 'stuck']).code, 0);
    assert.equal(d.cli(['project', 'start', '-n', 'other']).code, 0);
    // Both stops at once: the registry serialises them; the stuck one must not hold it for ever.
    const [stuck, other] = await Promise.all([
      cliAsync(d.socket, ['project', 'stop', '-n', 'stuck']),
      cliAsync(d.socket, ['project', 'stop', '-n', 'other']),
    ]);
    assert.equal(stuck.code, 0, stuck.stderr);
    assert.equal(other.code, 0, other.stderr);
    assert.match(d.stderr(), /stopTask did not return within/);
    // The host was ended by the stuck stopTask; removing the engine does not wait on it.
    assert.equal(d.cli(['obj', 'del', '-f', writeConfig(projectIni('stuck'))]).code, 0);
    assert.equal(d.alive(), true);
  });
});

test('SIGTERM exits although a plugin stopTask and close never settle', async () => {
  const d = await startDaemon();
  assert.equal(add(d, projectIni('p') + engineIni('p', 'close=hang\n') + taskIni('p', 'stuck1', 'ok')).code, 0);
  assert.equal(d.cli(['project', 'start', '-n', 'p']).code, 0);
  assert.equal(await d.stop('SIGTERM'), 0, d.stderr());
});
