/**
 * etmem's damon engine: its config (a scan_type=region project's DAMON
 * attributes, the engine's bounds and action; bad input named with its
 * range) and what it writes to DAMON's sysfs, over an in-memory sysfs
 * tree (src/platform/io.ts MemoryIO): one vaddr context with the tasks'
 * pids, the project's attributes and one scheme with the engine's access
 * pattern and action; a kdamond of another DAMON user is never taken;
 * stop gives the kdamond back. The kernel acting on it is tested in the
 * testbed (test/testbed/etmem-damon.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfigText } from '../../src/config/parse.js';
import type { DamonEngineConfig, ProjectConfig } from '../../src/config/types.js';
import { VirtTierError } from '../../src/errors.js';
import { nullLogger } from '../../src/log.js';
import { MemoryIO } from '../../src/platform/io.js';
import { DamonKdamonds } from '../../src/scan/damon-contexts.js';
import { createDamonEngineFactory } from '../../src/runner/damon-engine.js';
import { EngineFactories } from '../../src/runner/registry.js';
import type { EngineTask } from '../../src/runner/engine.js';
import { HOST } from './config-helpers.js';

const K = '/sys/kernel/mm/damon/admin/kdamonds';
const REGION = 'name=r\nscan_type=region\nsample_interval=5000\naggr_interval=100000\nupdate_interval=1000000\nmin_nr_regions=10\nmax_nr_regions=1000\n';
const ENGINE = 'project=r\nname=damon\nmin_size=0\nmax_size=4294967295\nmin_acc=0\nmax_acc=2\nmin_age=0\nmax_age=4294967295\naction=pageout\n';

function parse(text: string) {
  return parseConfigText(text, 'ini', HOST);
}

function refused(text: string, field: RegExp, allowed: RegExp, code = 'OPT_INVAL'): void {
  assert.throws(() => parse(text), (e: unknown) => {
    assert.ok(e instanceof VirtTierError, String(e));
    assert.equal(e.code, code, e.message);
    assert.match(e.field ?? '', field, e.message);
    assert.match(e.allowed ?? '', allowed, e.message);
    return true;
  });
}

describe('damon config: etmem\'s damon_conf keys', () => {
  test('etmem\'s own sample file loads', () => {
    const doc = parse(`[project]\n${REGION}\n[engine]\n${ENGINE}\n[task]\nproject=r\nengine=damon\nname=background_damon\ntype=name\nvalue=mysqld\n`);
    const p = doc.projects[0]!;
    assert.equal(p.scan_type, 'region');
    assert.deepEqual(p.region, { sample_interval: 5000, aggr_interval: 100000, update_interval: 1000000, min_nr_regions: 10, max_nr_regions: 1000 });
    assert.deepEqual(doc.engines[0], { project: 'r', name: 'damon', min_size: 0, max_size: 4294967295, min_acc: 0, max_acc: 2, min_age: 0, max_age: 4294967295, action: 'pageout', source: doc.engines[0]!.source });
    assert.deepEqual(doc.tasks[0]!.params, {});
  });

  test('bad input names the field and its range', () => {
    refused(`[project]\n${REGION.replace('min_nr_regions=10', 'min_nr_regions=2')}`, /min_nr_regions/, /^3\.\./);
    refused(`[project]\n${REGION.replace('max_nr_regions=1000', 'max_nr_regions=10')}`, /max_nr_regions/, /^11\.\./);
    refused(`[project]\n${REGION.replace('aggr_interval=100000', 'aggr_interval=10')}`, /aggr_interval/, /^5000\.\./);
    refused(`[project]\n${REGION.replace('sample_interval=5000\n', '')}`, /sample_interval/, /microseconds/);
    refused(`[project]\n${REGION}loop=3\n`, /loop/, /sample_interval/);
    refused(`[project]\n${REGION}\n[engine]\n${ENGINE.replace('min_acc=0', 'min_acc=3')}`, /min_acc/, /^0\.\.2/, 'OPT_INTER_ERR');
    refused(`[project]\n${REGION}\n[engine]\n${ENGINE.replace('max_age=4294967295', 'max_age=4294967296')}`, /max_age/, /4294967295/, 'OPT_INTER_ERR');
    refused(`[project]\n${REGION}\n[engine]\n${ENGINE.replace('action=pageout', 'action=migrate_cold')}`, /action/, /willneed\|cold\|pageout\|hugepage\|nohugepage\|stat/, 'OPT_INTER_ERR');
    refused(`[project]\n${REGION}\n[engine]\n${ENGINE.replace('min_size=0\n', '')}`, /min_size/, /bytes/, 'OPT_INTER_ERR');
    refused(`[project]\n${REGION}\n[task]\nproject=r\nengine=damon\nname=t\ntype=pid\nvalue=1\nT=3\n`, /T/, /./);
  });

  test('a damon engine needs a region project, and a region project only damon engines', async () => {
    const f = new EngineFactories({ damon: createDamonEngineFactory({ io: new MemoryIO() }) });
    const page = parse('[project]\nname=p\nloop=1\ninterval=1\nsleep=1\n').projects[0]!;
    const region = parse(`[project]\n${REGION}`).projects[0]!;
    const damon = parse(`[project]\n${REGION}\n[engine]\n${ENGINE}`).engines[0]!;
    await assert.rejects(f.create(damon, { project: page, log: nullLogger() }), (e: unknown) => e instanceof VirtTierError && e.code === 'OPT_INTER_ERR' && /needs scan_type=region/.test(e.message));
    await assert.rejects(f.create({ project: 'r', name: 'thirdparty', eng_name: 'x', libname: '/x.js', ops_name: 'x', params: {} }, { project: region, log: nullLogger() }), /runs only the damon engine/);
  });
});

/** A sysfs tree with four kdamonds; slot 0 belongs to another DAMON user (a context, off). */
function damonTree(): MemoryIO {
  const files: Record<string, string> = { [`${K}/nr_kdamonds`]: '4\n' };
  for (let s = 0; s < 4; s++) {
    files[`${K}/${s}/state`] = 'off\n';
    files[`${K}/${s}/pid`] = '-1\n';
    files[`${K}/${s}/contexts/nr_contexts`] = s === 0 ? '1\n' : '0\n';
  }
  files[`${K}/0/contexts/0/operations`] = 'paddr\n';
  return new MemoryIO(files, { createOnWrite: true });
}

function task(name: string, pids: number[], project: ProjectConfig): EngineTask & { stats: unknown[] } {
  const stats: unknown[] = [];
  return {
    config: { project: project.name, engine: 'damon', name, type: 'pid', value: String(pids[0] ?? 0), params: {} },
    project,
    resolvePids: async () => pids,
    signal: new AbortController().signal,
    reportStats: (s) => void stats.push(s),
    reportEnded: () => undefined,
    log: nullLogger(),
    stats,
  };
}

describe('damon engine: what it writes to DAMON sysfs', () => {
  test('one vaddr context with every task\'s pid, the project attributes and the engine scheme; stop releases it', async () => {
    const io = damonTree();
    const doc = parse(`[project]\n${REGION}\n[engine]\n${ENGINE.replace('action=pageout', 'action=cold').replace('min_age=0', 'min_age=7')}`);
    const project = doc.projects[0]!;
    const engine = await createDamonEngineFactory({ io, kdamonds: new DamonKdamonds(io), reportMs: 60_000 })(doc.engines[0]! as DamonEngineConfig, { project, log: nullLogger() });
    await engine.startTask(task('a', [111], project));
    await engine.startTask(task('b', [222], project));
    const c = `${K}/1/contexts/0`;
    const f = (p: string): string => io.files.get(p)!.trim();
    assert.equal(f(`${K}/1/state`), 'on', 'slot 1: slot 0 is another user\'s');
    assert.equal(f(`${K}/0/contexts/nr_contexts`), '1');
    assert.equal(f(`${K}/0/contexts/0/operations`), 'paddr');
    assert.equal(f(`${c}/operations`), 'vaddr');
    assert.deepEqual(
      ['sample_us', 'aggr_us', 'update_us'].map((k) => f(`${c}/monitoring_attrs/intervals/${k}`)),
      ['5000', '100000', '1000000'],
    );
    assert.deepEqual([f(`${c}/monitoring_attrs/nr_regions/min`), f(`${c}/monitoring_attrs/nr_regions/max`)], ['10', '1000']);
    assert.equal(f(`${c}/targets/nr_targets`), '2');
    assert.deepEqual([f(`${c}/targets/0/pid_target`), f(`${c}/targets/1/pid_target`)], ['111', '222']);
    const s = `${c}/schemes/0`;
    assert.equal(f(`${c}/schemes/nr_schemes`), '1');
    assert.equal(f(`${s}/action`), 'cold');
    assert.deepEqual(
      ['sz/min', 'sz/max', 'nr_accesses/min', 'nr_accesses/max', 'age/min', 'age/max'].map((k) => f(`${s}/access_pattern/${k}`)),
      ['0', '4294967295', '0', '2', '7', '4294967295'],
    );
    // A task that stops leaves the other one monitored.
    await engine.stopTask('a');
    assert.equal(f(`${c}/targets/nr_targets`), '1');
    assert.equal(f(`${c}/targets/0/pid_target`), '222');
    assert.equal(f(`${K}/1/state`), 'on');
    await assert.rejects(engine.command('showtaskpages', {}), (e: unknown) => e instanceof VirtTierError && e.code === 'OPT_INVAL');
    await engine.stopTask('b');
    assert.equal(f(`${K}/1/state`), 'off');
    assert.equal(f(`${K}/1/contexts/nr_contexts`), '0');
    await engine.close();
  });

  test('a target that is not running fails the start (OPT_INTER_ERR) and leaves DAMON off', async () => {
    const io = damonTree();
    const doc = parse(`[project]\n${REGION}\n[engine]\n${ENGINE}`);
    const project = doc.projects[0]!;
    const engine = await createDamonEngineFactory({ io, kdamonds: new DamonKdamonds(io), reportMs: 60_000 })(doc.engines[0]!, { project, log: nullLogger() });
    await assert.rejects(async () => engine.startTask(task('gone', [], project)), (e: unknown) => e instanceof VirtTierError && e.code === 'OPT_INTER_ERR' && /must be running/.test(e.message));
    assert.deepEqual([1, 2, 3].map((s) => io.files.get(`${K}/${s}/state`)!.trim()), ['off', 'off', 'off']);
    await engine.close();
  });
});
