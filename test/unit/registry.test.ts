import { describe, test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import type { ConfigDocument, EngineConfig, ProjectConfig, TaskConfig } from '../../src/config/types.js';
import { projectConfig } from '../../src/config/units.js';
import type { Engine, EngineTask } from '../../src/runner/engine.js';
import { EngineFactories } from '../../src/runner/registry.js';
import { VirtTierError, type ResultCode } from '../../src/errors.js';
import { nullLogger } from '../../src/log.js';
import { Registry } from '../../src/model/registry.js';

/** A recording engine: the registry's bookkeeping is under test, not an engine. */
const events: string[] = [];
class RecordingEngine implements Engine {
  readonly name = 'slide';
  constructor(readonly config: EngineConfig) {}
  checkTask(task: TaskConfig, project: ProjectConfig): void {
    const T = (task.params as { T?: number }).T ?? 0;
    if (T > project.loop * 3) throw new VirtTierError('OPT_INVAL', `T out of range`, { field: 'task.T', value: String(T), allowed: `0..${project.loop * 3}` });
  }
  startTask(task: EngineTask): void {
    events.push(`start ${task.config.name}`);
    task.reportStats({ started: true });
  }
  async stopTask(name: string): Promise<void> {
    events.push(`stop ${name}`);
  }
  async command(cmd: string): Promise<unknown> {
    return `ran ${cmd}`;
  }
  async close(): Promise<void> {
    events.push(`close ${this.config.project}`);
  }
}
const engines = new EngineFactories({ slide: (config) => new RecordingEngine(config) });

const project = (name: string): ProjectConfig => projectConfig({ name, loop: 2, interval: 1, sleep: 1 });
const engine = (p: string): EngineConfig => ({ project: p, name: 'slide' });
const task = (p: string, name: string, T = 1): TaskConfig => ({ project: p, engine: 'slide', name, type: 'pid', value: '1', params: { T } });
const doc = (d: Partial<ConfigDocument>): ConfigDocument => ({ projects: [], engines: [], tasks: [], ...d });

function isCode(code: ResultCode) {
  return (e: unknown) => e instanceof VirtTierError && e.code === code;
}

describe('registry', () => {
  let reg: Registry;
  beforeEach(() => {
    reg = new Registry(nullLogger(), { engines });
    events.length = 0;
  });

  test('adds a whole document and shows its tasks numbered', async () => {
    await reg.add(doc({ projects: [project('p')], engines: [engine('p')], tasks: [task('p', 'a'), task('p', 'b')] }));
    const [p] = reg.show();
    assert.equal(p.name, 'p');
    assert.deepEqual(p.tasks.map((t) => [t.number, t.name, t.started]), [[1, 'a', false], [2, 'b', false]]);
  });

  test('a document with one bad task adds nothing and closes the engines it made', async () => {
    await assert.rejects(reg.add(doc({ projects: [project('p')], engines: [engine('p')], tasks: [task('p', 'a'), task('p', 'b', 7)] })), isCode('OPT_INTER_ERR'));
    // (T above loop*3 is OPT_INTER_ERR, as etmem answers a bad task key; this test used to expect OPT_INVAL.)
    assert.deepEqual(reg.show(), []);
    assert.deepEqual(events, ['close p']);
  });

  test('show -n of a missing project is an empty answer, not an error (etmem: success and a message)', async () => {
    await reg.add(doc({ projects: [project('p')] }));
    assert.deepEqual(reg.show('nope'), []);
    assert.equal(reg.show('p').length, 1);
  });

  test('del reads only identities: objects named by refs go, whatever else their file held', async () => {
    await reg.add(doc({ projects: [project('p')], engines: [engine('p')], tasks: [task('p', 'a'), task('p', 'b')] }));
    await reg.del({ projects: [], engines: [], tasks: [{ project: 'p', engine: 'slide', name: 'a' }] });
    assert.deepEqual(reg.show('p')[0]!.tasks.map((t) => t.name), ['b']);
    await assert.rejects(reg.del({ projects: [], engines: [], tasks: [{ project: 'p', engine: 'slide', name: '' }] }), isCode('OPT_TASK_NOEXIST'));
    await assert.rejects(reg.del({ projects: [{ name: '' }], engines: [], tasks: [] }), isCode('OPT_PRO_NOEXIST'));
    await reg.del({ projects: [], engines: [{ project: 'p', name: 'slide' }], tasks: [] });
    assert.deepEqual(reg.show('p')[0]!.engines, []);
  });

  test('unknown project, unknown engine, duplicates', async () => {
    await reg.add(doc({ projects: [project('p')], engines: [engine('p')], tasks: [task('p', 'a')] }));
    const before = JSON.stringify(reg.show());
    await assert.rejects(reg.add(doc({ projects: [project('p')] })), isCode('OPT_PRO_EXISTED'));
    await assert.rejects(reg.add(doc({ engines: [engine('p')] })), isCode('OPT_ENG_EXISTED'));
    await assert.rejects(reg.add(doc({ engines: [engine('q')] })), isCode('OPT_PRO_NOEXIST'));
    await assert.rejects(reg.add(doc({ tasks: [task('p', 'a')] })), isCode('OPT_TASK_EXISTED'));
    await assert.rejects(reg.add(doc({ tasks: [task('q', 'a')] })), isCode('OPT_PRO_NOEXIST'));
    await assert.rejects(reg.add(doc({ tasks: [{ ...task('p', 'z'), engine: 'cslide' }] })), isCode('OPT_ENG_NOEXIST'));
    await assert.rejects(reg.add(doc({ tasks: [task('p', 'x'), task('p', 'x')] })), isCode('OPT_TASK_EXISTED'));
    assert.equal(JSON.stringify(reg.show()), before);
  });

  test('start, second start, stop, second stop', async () => {
    await reg.add(doc({ projects: [project('p')], engines: [engine('p')], tasks: [task('p', 'a')] }));
    await reg.start('p');
    assert.equal(reg.show('p')[0].tasks[0].started, true);
    assert.deepEqual(reg.show('p')[0].tasks[0].stats, { started: true });
    await assert.rejects(reg.start('p'), isCode('OPT_PRO_STARTED'));
    await reg.stop('p');
    await assert.rejects(reg.stop('p'), isCode('OPT_PRO_STOPPED'));
    await assert.rejects(reg.start('nope'), isCode('OPT_PRO_NOEXIST'));
    assert.deepEqual(events, ['start a', 'stop a']);
  });

  test('a task added to a started project starts at once', async () => {
    await reg.add(doc({ projects: [project('p')], engines: [engine('p')] }));
    await reg.start('p');
    await reg.add(doc({ tasks: [task('p', 'late')] }));
    assert.deepEqual(events, ['start late']);
    assert.equal(reg.show('p')[0].tasks[0].started, true);
  });

  test('engine commands need a started project and existing engine and task', async () => {
    await reg.add(doc({ projects: [project('p')], engines: [engine('p')], tasks: [task('p', 'a')] }));
    await assert.rejects(reg.engineCommand('p', 'slide', 'showtaskpages', { task: 'a' }), isCode('OPT_INVAL'));
    await reg.start('p');
    assert.equal(await reg.engineCommand('p', 'slide', 'showtaskpages', { task: 'a' }), 'ran showtaskpages');
    await assert.rejects(reg.engineCommand('p', 'cslide', 'x', {}), isCode('OPT_ENG_NOEXIST'));
    await assert.rejects(reg.engineCommand('p', 'slide', 'x', { task: 'b' }), isCode('OPT_TASK_NOEXIST'));
  });

  test('del validates everything first, then removes tasks, engines, projects', async () => {
    await reg.add(doc({ projects: [project('p'), project('q')], engines: [engine('p'), engine('q')], tasks: [task('p', 'a'), task('q', 'b')] }));
    await reg.start('p');
    await assert.rejects(reg.del(doc({ tasks: [task('p', 'a'), task('p', 'missing')] })), isCode('OPT_TASK_NOEXIST'));
    assert.equal(reg.show('p')[0].tasks.length, 1);
    await reg.del(doc({ projects: [project('p')] }));
    assert.deepEqual(reg.show().map((p) => p.name), ['q']);
    assert.deepEqual(events, ['start a', 'stop a', 'close p']);
    await reg.del(doc({ tasks: [task('q', 'b')] }));
    assert.equal(reg.show('q')[0].tasks.length, 0);
  });

  test('shutdown stops every task and removes every project', async () => {
    await reg.add(doc({ projects: [project('p')], engines: [engine('p')], tasks: [task('p', 'a')] }));
    await reg.start('p');
    await reg.shutdown();
    assert.deepEqual(reg.show(), []);
    assert.deepEqual(events, ['start a', 'stop a', 'close p']);
  });
});
