import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfigFile } from '../../src/config/parse.js';
import type { CslideTaskParams, HostFacts, SlideTaskParams } from '../../src/config/types.js';
import { readHostFacts } from '../../src/model/host-facts.js';
import { HOST } from './config-helpers.js';

const confDir = fileURLToPath(new URL('../../../conf/', import.meta.url));
const isRoot = process.getuid?.() === 0;

describe('config: the commented samples in conf/ load as the docs say', { skip: isRoot ? false : 'loading needs a root-owned file; CI runs as root' }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'virt-tier-samples-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** As scripts/start.sh does: the samples are 0644 in git, the loader wants 0600. */
  const load = (name: string, host: HostFacts) => {
    const copy = path.join(dir, name);
    copyFileSync(path.join(confDir, name), copy);
    chmodSync(copy, 0o600);
    return loadConfigFile(copy, host);
  };

  test('default.ini is valid on this very host (npm start loads it)', async () => {
    const doc = await load('default.ini', await readHostFacts());
    assert.deepEqual(doc.engines.map((e) => e.name), ['slide']);
    assert.deepEqual(doc.tasks.map((t) => [t.type, t.value]), [['name', 'virt-tier-demo']]);
    assert.deepEqual(doc.warnings, []);
  });

  test('default.ini is valid on a one-node host', async () => {
    await load('default.ini', { numaNodes: [0], cpuCount: 1 });
  });

  test('slide.ini', async () => {
    const doc = await load('slide.ini', HOST);
    assert.deepEqual(doc.tasks[0]!.params as SlideTaskParams, { T: 2, max_threads: 1, swap_threshold_bytes: 10 * 2 ** 30, dram_percent: 80, swap_flag: false });
    assert.equal(doc.projects[0]!.swapcache_high_wmark, 10);
  });

  test('cslide.ini holds two tasks (etmem would merge them)', async () => {
    const doc = await load('cslide.ini', HOST);
    assert.deepEqual(doc.tasks.map((t) => t.name), ['vm-01', 'qemu-4242']);
    assert.equal((doc.tasks[0]!.params as CslideTaskParams).ign_host, true);
    const engine = doc.engines[0]!;
    assert.ok(engine.name === 'cslide');
    assert.deepEqual(engine.node_pair, [{ dram: 0, aep: 2 }, { dram: 1, aep: 3 }]);
  });

  test('cslide.ini names nodes a one-node host lacks, and says so', async () => {
    await assert.rejects(load('cslide.ini', { numaNodes: [0], cpuCount: 2 }), /engine\[0\]\.node_pair: pair 1: node 2 does not exist/);
  });

  test('thirdparty.ini: private keys reach params', async () => {
    const doc = await load('thirdparty.ini', HOST);
    const engine = doc.engines[0]!;
    assert.ok(engine.name === 'thirdparty');
    assert.equal(engine.libname, '/opt/virt-tier/conf/plugins/example-engine.js');
    assert.deepEqual(engine.params, { period_ms: '500' });
    assert.deepEqual(doc.tasks[0]!.params, { tag: 'batch' });
  });

  test('virt-tier.yaml (nested YAML form)', async () => {
    const doc = await load('virt-tier.yaml', HOST);
    assert.deepEqual(doc.tasks.map((t) => `${t.project}/${t.engine}/${t.name}`), ['vms/cslide/vm-01', 'vms/cslide/vm-02', 'batch/slide/job']);
    assert.equal((doc.tasks[2]!.params as SlideTaskParams).swap_threshold_bytes, 4 * 2 ** 30);
  });
});
