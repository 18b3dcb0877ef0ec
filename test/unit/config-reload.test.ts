/**
 * The daemon's config reload (src/daemon/reload.ts) against a real Registry
 * and real files: what a reload adds, changes and removes, and that a bad
 * file or a refused change leaves the running state exactly as it was.
 * The engine records starts and stops: the registry's bookkeeping is under
 * test, not an engine.
 */
import { describe, test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfigFile } from '../../src/config/parse.js';
import type { EngineConfig, ProjectConfig, TaskConfig } from '../../src/config/types.js';
import { ConfigReloader, diffDocuments, reloadOnSighup } from '../../src/daemon/reload.js';
import { VirtTierError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import { Registry } from '../../src/model/registry.js';
import type { Engine, EngineTask } from '../../src/runner/engine.js';
import { EngineFactories } from '../../src/runner/registry.js';
import { HOST } from './config-helpers.js';

const events: string[] = [];
class RecordingEngine implements Engine {
  readonly name = 'slide';
  constructor(readonly config: EngineConfig) {}
  checkTask(task: TaskConfig, project: ProjectConfig): void {
    const T = (task.params as { T?: number }).T ?? 0;
    if (T > project.loop * 3) throw new VirtTierError('OPT_INVAL', 'T out of range', { field: 'task.T', value: String(T), allowed: `0..${project.loop * 3}` });
  }
  startTask(task: EngineTask): void {
    events.push(`start ${task.config.name}`);
  }
  async stopTask(name: string): Promise<void> {
    events.push(`stop ${name}`);
  }
  async command(): Promise<unknown> {
    return null;
  }
  async close(): Promise<void> {
    events.push(`close ${this.config.project}`);
  }
}

/** A logger that keeps what it was told, to assert the reason a reload was refused. */
function recordingLogger(lines: string[]): Logger {
  const at = (level: string) => (msg: string, meta?: Record<string, unknown>) => void lines.push(`${level}: ${msg} ${JSON.stringify(meta ?? {})}`);
  const l: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => l };
  return l;
}

const section = (kind: string, keys: Record<string, string | number>): string => `[${kind}]\n${Object.entries(keys).map(([k, v]) => `${k}=${v}`).join('\n')}\n`;
const proj = (name: string, loop = 2): string => section('project', { name, loop, interval: 1, sleep: 1 });
const eng = (p: string): string => section('engine', { project: p, name: 'slide' });
const task = (p: string, name: string, T = 1): string => section('task', { project: p, engine: 'slide', name, type: 'pid', value: 1, T });

describe('config reload: SIGHUP applies the file as one change', () => {
  let dir: string;
  let file: string;
  let reg: Registry;
  let lines: string[];
  let reloader: ConfigReloader;
  const write = (text: string): void => {
    writeFileSync(file, text);
    chmodSync(file, 0o600); // etmem's rule for config files
  };
  const state = () => reg.show().map((p) => ({ name: p.name, started: p.started, loop: p.loop, tasks: p.tasks.map((t) => `${t.name}:${JSON.stringify(t)}`) }));

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'vt-reload-'));
    file = path.join(dir, 'virt-tier.conf');
    lines = [];
    events.length = 0;
    const log = recordingLogger(lines);
    // An engine in a project named "refused" fails to instantiate, as a thirdparty plugin refusing its keys would.
    const factory = (c: EngineConfig): Engine => {
      if (c.project === 'refused') throw new VirtTierError('OPT_INVAL', 'plugin refused its keys', { field: 'engine.params' });
      return new RecordingEngine(c);
    };
    reg = new Registry(log, { engines: new EngineFactories({ slide: factory }) });
    reloader = new ConfigReloader({ file, explicit: false, load: (f) => loadConfigFile(f, HOST, { allowEmpty: true }), registry: reg, log });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('adds, changes and removes objects; an unchanged task keeps running untouched', async () => {
    write(proj('p') + eng('p') + task('p', 'keep') + task('p', 'change') + task('p', 'drop'));
    await reloader.loadAtStart();
    await reg.start('p');
    events.length = 0;
    write(proj('p') + eng('p') + task('p', 'keep') + task('p', 'change', 2) + task('p', 'new'));
    const outcome = await reloader.reload('SIGHUP');
    assert.deepEqual(outcome, { ok: true, added: ['p/slide/new'], removed: ['p/slide/drop'], changed: ['p/slide/change'] });
    assert.deepEqual(reg.show()[0].tasks.map((t) => t.name), ['keep', 'change', 'new']);
    assert.deepEqual(events.sort(), ['start change', 'start new', 'stop change', 'stop drop']);
    assert.ok(lines.some((l) => l.startsWith('info: config reloaded')));
  });

  test('a changed project is replaced whole and keeps its started state; a removed one goes', async () => {
    write(proj('p') + eng('p') + task('p', 'a') + proj('q') + eng('q') + task('q', 'b'));
    await reloader.loadAtStart();
    await reg.start('p');
    write(proj('p', 3) + eng('p') + task('p', 'a', 9));
    const outcome = await reloader.reload('SIGHUP');
    assert.equal(outcome.ok, true);
    const shown = reg.show();
    assert.deepEqual(shown.map((p) => [p.name, p.started, p.loop]), [['p', true, 3]]);
    assert.equal(shown[0].tasks[0].started, true);
  });

  test('a file that does not parse keeps the running state and logs the field', async () => {
    write(proj('p') + eng('p') + task('p', 'a'));
    await reloader.loadAtStart();
    await reg.start('p');
    const before = state();
    events.length = 0;
    write(proj('p') + eng('p') + task('p', 'a') + section('task', { project: 'p', engine: 'slide', name: 'b', type: 'pid', value: 1, T: 'lots' }));
    const outcome = await reloader.reload('SIGHUP');
    assert.equal(outcome.ok, false);
    assert.deepEqual(state(), before);
    assert.deepEqual(events, []);
    const err = lines.find((l) => l.startsWith('error: config reload failed; the running state is kept'));
    assert.ok(err && /task\[1\]\.T/.test(err), err);
  });

  test('a change the registry refuses is not half-applied: the removal before it does not happen either', async () => {
    write(proj('p') + eng('p') + task('p', 'a') + task('p', 'b'));
    await reloader.loadAtStart();
    const before = state();
    // drops b, adds c (fine) and a project whose engine refuses to be made (only the registry can tell, not the parser)
    write(proj('p') + eng('p') + task('p', 'a') + task('p', 'c') + proj('refused') + eng('refused'));
    const outcome = await reloader.reload('SIGHUP');
    assert.equal(outcome.ok, false);
    assert.match((outcome as { error: string }).error, /plugin refused its keys/);
    assert.deepEqual(state(), before);
    assert.ok(lines.some((l) => l.startsWith('error: config reload refused; the running state is kept')));
    // and the reloader still diffs against what is really running: fixing the file applies the whole change
    write(proj('p') + eng('p') + task('p', 'a') + task('p', 'c') + proj('fine') + eng('fine'));
    assert.deepEqual(await reloader.reload('SIGHUP'), { ok: true, added: ['fine', 'fine/slide', 'p/slide/c'], removed: ['p/slide/b'], changed: [] });
  });

  test('objects added at run time (obj add) are not the file\'s: a reload leaves them alone', async () => {
    write(proj('p') + eng('p') + task('p', 'a'));
    await reloader.loadAtStart();
    const extraFile = path.join(dir, 'extra.conf');
    writeFileSync(extraFile, proj('cli') + eng('cli') + task('cli', 'x'), { mode: 0o600 });
    await reg.add(await loadConfigFile(extraFile, HOST));
    write('# everything removed\n');
    assert.deepEqual(await reloader.reload('SIGHUP'), { ok: true, added: [], removed: ['p', 'p/slide', 'p/slide/a'], changed: [] });
    assert.deepEqual(reg.show().map((p) => p.name), ['cli']);
    // and a file that now claims the run-time project's name is refused, whole
    write(proj('cli') + proj('fresh'));
    const outcome = await reloader.reload('SIGHUP');
    assert.equal(outcome.ok, false);
    assert.deepEqual(reg.show().map((p) => p.name), ['cli']);
  });

  test('missing file: fine at start for the default path, an error when named; a file deleted later keeps the state', async () => {
    await reloader.loadAtStart();
    assert.deepEqual(reg.show(), []);
    assert.ok(lines.some((l) => l.startsWith('info: no config file')));
    const named = new ConfigReloader({ file: path.join(dir, 'nope', 'x.conf'), explicit: true, load: (f) => loadConfigFile(f, HOST, { allowEmpty: true }), registry: reg, log: recordingLogger([]) });
    await assert.rejects(named.loadAtStart(), /does not exist/);
    write(proj('p'));
    assert.equal((await reloader.reload('SIGHUP')).ok, true);
    rmSync(file);
    const outcome = await reloader.reload('SIGHUP');
    assert.equal(outcome.ok, false);
    assert.deepEqual(reg.show().map((p) => p.name), ['p']);
  });

  test('a file others could write is refused at reload like at obj add', async () => {
    write(proj('p'));
    await reloader.loadAtStart();
    chmodSync(file, 0o644);
    const outcome = await reloader.reload('SIGHUP');
    assert.equal(outcome.ok, false);
    assert.match((outcome as { error: string }).error, /mode 0644/);
  });

  test('SIGHUP reloads in order, one at a time', async () => {
    const { EventEmitter } = await import('node:events');
    const proc = new EventEmitter();
    const off = reloadOnSighup(reloader, proc as unknown as NodeJS.Process);
    write(proj('p'));
    proc.emit('SIGHUP');
    write(proj('p') + proj('q'));
    proc.emit('SIGHUP');
    // both are queued behind each other; the last one wins because it reads the file last
    await reloader.reload('SIGHUP');
    assert.deepEqual(reg.show().map((p) => p.name), ['p', 'q']);
    off();
    assert.equal(proc.listenerCount('SIGHUP'), 0);
  });
});

describe('diffDocuments', () => {
  test('nothing changed: nothing to do; line numbers alone are no change', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vt-diff-'));
    try {
      const a = path.join(dir, 'a.conf');
      const b = path.join(dir, 'b.conf');
      writeFileSync(a, proj('p') + eng('p') + task('p', 't'), { mode: 0o600 });
      writeFileSync(b, '# moved down\n\n' + proj('p') + '\n' + eng('p') + task('p', 't'), { mode: 0o600 });
      const d = diffDocuments(await loadConfigFile(a, HOST), await loadConfigFile(b, HOST));
      assert.deepEqual([d.remove, d.add.projects, d.add.engines, d.add.tasks, d.added, d.removed, d.changed], [{ projects: [], engines: [], tasks: [] }, [], [], [], [], [], []]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
