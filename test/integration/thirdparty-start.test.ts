/**
 * etmem's start semantics for thirdparty engines, through the real daemon
 * and CLI with real plugin files (test/fixtures/plugins/etmem-llt-engine.js,
 * the ops tables of etmem's llt plugin): an engine without a start
 * operation is added, but its project cannot start; a failing start makes
 * `project start` OPT_INTER_ERR with the project left stopped (and tasks
 * started before the failure stopped again); a task added to a started
 * project whose start fails is OPT_INTER_ERR and not added
 * (etmemd_project.c etmemd_migrate_start, project_start_engine,
 * etmemd_project_add_task).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { repoRoot, startDaemon, writeConfig, type TestDaemon } from './helpers/daemon.js';

const plugin = path.join(repoRoot, 'test/fixtures/plugins/etmem-llt-engine.js');

const projectIni = (name: string): string => `[project]\nname=${name}\nscan_type=page\nloop=1\ninterval=1\nsleep=1\n`;
const engineIni = (project: string, engName: string, ops: string): string =>
  `\n[engine]\nproject=${project}\nname=thirdparty\neng_name=${engName}\nlibname=${plugin}\nops_name=${ops}\nengine_private_key=1024\n`;
const taskIni = (project: string, engine: string, name: string): string =>
  `\n[task]\nproject=${project}\nengine=${engine}\nname=${name}\ntype=pid\nvalue=1\ntask_private_key=2048\n`;

interface Shown { name: string; started: boolean; tasks: Array<{ name: string; started: boolean; ended?: string }> }

describe('thirdparty start and stop as etmem decides them', () => {
  let d: TestDaemon;
  before(async () => (d = await startDaemon()));
  after(async () => d.stop());

  const add = (text: string) => d.cli(['obj', 'add', '-f', writeConfig(text)]);
  const show = (project: string): Shown => {
    const r = d.cli(['project', 'show', '-n', project, '--json']);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as Shown[])[0]!;
  };

  test('an engine without a start operation is added; its project cannot start; its tasks are added unstarted', () => {
    assert.equal(add(projectIni('nul') + engineIni('nul', 'e', 'start_null_ops') + taskIni('nul', 'e', 't')).code, 0);
    const r = d.cli(['project', 'start', '-n', 'nul']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /OPT_INTER_ERR: .*engine "e" has no start operation/);
    assert.equal(show('nul').started, false);
    // The project stayed stopped: stop says so.
    assert.match(d.cli(['project', 'stop', '-n', 'nul']).stderr, /OPT_PRO_STOPPED/);

    // Started before the engine came: the engine and a task are added, the task does not run.
    assert.equal(add(projectIni('nul2')).code, 0);
    assert.equal(d.cli(['project', 'start', '-n', 'nul2']).code, 0);
    assert.equal(add(engineIni('nul2', 'e', 'start_null_ops') + taskIni('nul2', 'e', 't')).code, 0);
    const shown = show('nul2');
    assert.equal(shown.started, true);
    assert.deepEqual(shown.tasks.map((t) => [t.name, t.started]), [['t', false]]);
    assert.equal(d.cli(['project', 'stop', '-n', 'nul2']).code, 0);
  });

  test('a failing start: project start is OPT_INTER_ERR, the project stays stopped, tasks started before it stop again', () => {
    // Engines start in file order: the good engine's task starts, then the failing one's start fails.
    assert.equal(add(projectIni('err') + engineIni('err', 'good', 'my_engine_ops') + taskIni('err', 'good', 'g') + engineIni('err', 'bad', 'start_error_ops') + taskIni('err', 'bad', 'b')).code, 0);
    const r = d.cli(['project', 'start', '-n', 'err']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /OPT_INTER_ERR: project "err" did not start, it stays stopped: .*startTask\("b"\) failed: start of b refused/);
    const shown = show('err');
    assert.equal(shown.started, false);
    assert.deepEqual(shown.tasks.map((t) => [t.name, t.started]), [['g', false], ['b', false]]);
    // Without the failing task the same project starts.
    assert.equal(d.cli(['obj', 'del', '-f', writeConfig(taskIni('err', 'bad', 'b'))]).code, 0);
    assert.equal(d.cli(['project', 'start', '-n', 'err']).code, 0);
    assert.deepEqual(show('err').tasks.map((t) => [t.name, t.started]), [['g', true]]);
    assert.equal(d.cli(['project', 'stop', '-n', 'err']).code, 0);
  });

  test('an async start that rejects at once is a failed start too', () => {
    assert.equal(add(projectIni('asy') + engineIni('asy', 'a', 'async_error_ops') + taskIni('asy', 'a', 't')).code, 0);
    const r = d.cli(['project', 'start', '-n', 'asy']);
    assert.match(r.stderr, /OPT_INTER_ERR: .*async start of t refused/);
    assert.equal(show('asy').started, false);
  });

  test('a task added to a started project whose start fails is OPT_INTER_ERR and not added; nothing of its file is', () => {
    // An engine with no task starts fine, even one whose starts fail (tp.start_error.start_no_tasks).
    assert.equal(add(projectIni('late') + engineIni('late', 'bad', 'start_error_ops')).code, 0);
    assert.equal(d.cli(['project', 'start', '-n', 'late']).code, 0);
    const r = add(taskIni('late', 'bad', 't1'));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /OPT_INTER_ERR: task "t1" of project "late" did not start: nothing was added: .*start of t1 refused/);
    assert.deepEqual(show('late').tasks, []);
    // All-or-nothing: a file with a good engine and task beside the failing task adds none of them.
    const mixed = add(engineIni('late', 'good', 'my_engine_ops') + taskIni('late', 'good', 'g') + taskIni('late', 'bad', 't2'));
    assert.equal(mixed.code, 1);
    assert.match(mixed.stderr, /OPT_INTER_ERR/);
    const shown = show('late');
    assert.deepEqual(shown.tasks, []);
    assert.equal(shown.started, true);
    assert.match(d.cli(['engine', 'x', '-n', 'late', '-e', 'good']).stderr, /OPT_ENG_NOEXIST/);
    // The same good objects alone are added and start at once.
    assert.equal(add(engineIni('late', 'good', 'my_engine_ops') + taskIni('late', 'good', 'g')).code, 0);
    assert.deepEqual(show('late').tasks.map((t) => [t.name, t.started]), [['g', true]]);
    assert.equal(d.cli(['engine', 'my_cmd', '-n', 'late', '-e', 'good']).stdout, 'msg to client\n');
    assert.equal(d.cli(['project', 'stop', '-n', 'late']).code, 0);
    assert.equal(d.alive(), true);
  });
});
