/**
 * Parts are injected, never process-wide: two daemons' registries in one
 * process (two tests, or a library user running two) share no engine
 * factories, no projects, no pid claims.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConfigDocument, EngineConfig, ProjectConfig, TaskConfig } from '../../src/config/types.js';
import type { Engine, EngineTask } from '../../src/runner/engine.js';
import { EngineFactories } from '../../src/runner/registry.js';
import { PidClaims } from '../../src/runner/cycle-runner.js';
import { Registry } from '../../src/model/registry.js';
import { VirtTierError } from '../../src/errors.js';
import { nullLogger } from '../../src/log.js';
import { cslideEngineConfig, projectConfig } from '../../src/config/units.js';

function recordingEngine(seen: string[]) {
  return (config: EngineConfig): Engine => ({
    name: config.name,
    config,
    checkTask: () => undefined,
    startTask: (t: EngineTask) => void seen.push(`${t.config.project}/${t.config.name}`),
    stopTask: async () => undefined,
    command: async () => null,
    close: async () => undefined,
  });
}

const project: ProjectConfig = projectConfig({ name: 'p', loop: 1, interval: 1, sleep: 1 });
const doc = (engine: 'slide' | 'cslide'): ConfigDocument => ({
  projects: [project],
  engines: [engine === 'slide' ? { project: 'p', name: 'slide' } : cslideEngineConfig({ project: 'p', name: 'cslide', node_pair: [{ dram: 0, aep: 1 }], hot_threshold: 1, node_mig_quota: 1, node_hot_reserve: 0 })],
  tasks: [{ project: 'p', engine, name: 't', type: 'pid', value: '1', params: engine === 'slide' ? { T: 1 } : { vm_flags: ['ht'], anon_only: false, ign_host: false } } as TaskConfig],
});

test('two registries in one process: factories, projects and started tasks are each their own', async () => {
  const seenA: string[] = [];
  const seenB: string[] = [];
  const a = new Registry(nullLogger(), { engines: new EngineFactories({ slide: recordingEngine(seenA) }) });
  const b = new Registry(nullLogger(), { engines: new EngineFactories({ cslide: recordingEngine(seenB) }) });

  // A knows slide only, B cslide only: a factory registered for one daemon is not the other's.
  await a.add(doc('slide'));
  await assert.rejects(b.add(doc('slide')), (e: unknown) => e instanceof VirtTierError && e.code === 'OPT_UNSUPPORTED');
  await assert.rejects(a.add({ ...doc('cslide'), projects: [projectConfig({ ...project, name: 'q' })], engines: [cslideEngineConfig({ ...(doc('cslide').engines[0] as Parameters<typeof cslideEngineConfig>[0]), project: 'q' })], tasks: [] }), (e: unknown) => e instanceof VirtTierError && e.code === 'OPT_UNSUPPORTED');
  // The same project name in both: no shared project table.
  await b.add(doc('cslide'));
  assert.deepEqual(a.show().map((p) => [p.name, p.engines]), [['p', ['slide']]]);
  assert.deepEqual(b.show().map((p) => [p.name, p.engines]), [['p', ['cslide']]]);

  await a.start('p');
  assert.deepEqual([seenA, seenB], [['p/t'], []], 'starting A started nothing of B');
  assert.equal(b.show()[0]!.started, false);
  await b.start('p');
  await a.shutdown();
  assert.deepEqual(a.show(), []);
  assert.equal(b.show()[0]!.started, true, 'shutting A down left B running');
  await b.shutdown();
});

test('pid claims are per daemon: one daemon\'s scan of a pid does not block another\'s', () => {
  const a = new PidClaims();
  const b = new PidClaims();
  assert.equal(a.claim(4242), true);
  assert.equal(a.claim(4242), false, 'within one daemon a pid is scanned once at a time');
  assert.equal(b.claim(4242), true);
  assert.deepEqual([a.list(), b.list()], [[4242], [4242]]);
  a.release(4242);
  assert.deepEqual([a.list(), b.list()], [[], [4242]]);
});

test('target resolvers are per daemon: one daemon\'s libvirt lookup is not another\'s', async () => {
  const { createTargetResolver } = await import('../../src/model/targets.js');
  const withLibvirt = createTargetResolver({ domainPid: async (name) => (name === 'vm1' ? process.pid : null), selfPid: -1 });
  const without = createTargetResolver({ selfPid: -1 });
  assert.deepEqual(await withLibvirt.resolve({ type: 'domain', value: 'vm1' }), [process.pid]);
  assert.deepEqual(await without.resolve({ type: 'domain', value: 'vm1' }), [], 'no resolver was set process-wide');
});
