import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { EngineConfig } from '../../src/config/types.js';
import type { Engine } from '../../src/runner/engine.js';
import { EngineFactories } from '../../src/runner/registry.js';
import { nullLogger } from '../../src/log.js';
import { DomainSync, defaultNodePair, type DomainFacts } from '../../src/model/domain-sync.js';
import { Registry } from '../../src/model/registry.js';
import type { NumaTopology } from '../../src/platform/numa-topology.js';

/** The registry's bookkeeping is under test; this engine only records. */
const started: string[] = [];
function recordingEngine(config: EngineConfig): Engine {
  return {
    name: config.name,
    config,
    checkTask: () => undefined,
    startTask: (t) => void started.push(t.config.value),
    stopTask: async () => undefined,
    command: async () => null,
    close: async () => undefined,
  };
}
const engines = new EngineFactories({ cslide: recordingEngine, slide: recordingEngine });

const host = { numaNodes: [0, 1, 2, 3], cpuCount: 2 };
const NS = 'https://virt-tier.dev/xmlns/policy/1';
function domain(name: string, uuid: string, policy: string | null): DomainFacts {
  const meta = policy === null ? '' : `<metadata><tier:policy xmlns:tier="${NS}" ${policy}/></metadata>`;
  return { name, uuid, memoryBytes: 128 << 20, xml: `<domain type='qemu'><name>${name}</name><uuid>${uuid}</uuid>${meta}</domain>` };
}
const U1 = '11111111-2222-3333-4444-555555555555';
const U2 = '66666666-7777-8888-9999-aaaaaaaaaaaa';

function makeSync(reg: Registry, listing: () => DomainFacts[]): DomainSync {
  return new DomainSync({ registry: reg, log: nullLogger(), hostFacts: () => host, defaultNodePair: '0,2;1,3', listRunning: async () => listing() });
}

describe('automatic per-domain projects', () => {
  test('a domain with an enabled policy gets a started project; a domain without one, or disabled, does not', async () => {
    const reg = new Registry(nullLogger(), { engines });
    const sync = makeSync(reg, () => []);
    await sync.sync([domain('web1', U1, 'enabled="yes" engine="cslide" hot_threshold="2"'), domain('db1', U2, 'enabled="no"'), domain('plain', '00000000-0000-0000-0000-000000000001', null)]);
    const shown = reg.show();
    assert.deepEqual(shown.map((p) => [p.name, p.started, p.tasks[0]?.type, p.tasks[0]?.value]), [[`domain-${U1}`, true, 'domain', U1]]);
    assert.deepEqual(sync.managedDomains(), [U1]);
  });

  test('stopped domains lose their project; a policy edit replaces it; a bad policy names the domain and adds nothing', async () => {
    const reg = new Registry(nullLogger(), { engines });
    let listing = [domain('web1', U1, 'engine="cslide" hot_threshold="2"'), domain('web2', U2, 'engine="slide" T="1"')];
    const sync = makeSync(reg, () => listing);
    await sync.resync();
    assert.equal(reg.show().length, 2);

    const startsBefore = started.filter((v) => v === U1).length;
    listing = [domain('web1', U1, 'engine="cslide" hot_threshold="5"')];
    await sync.resync();
    assert.equal(started.filter((v) => v === U1).length, startsBefore + 1, 'the edited policy re-created and restarted the project');
    assert.deepEqual(reg.show().map((p) => p.name), [`domain-${U1}`]);
    const json = JSON.stringify(reg.show());
    assert.equal(sync.managedDomains().length, 1);
    assert.ok(json.includes(U1));

    listing = [domain('web1', U1, 'engine="cslide" hot_threshold="-1"')];
    await sync.resync();
    assert.deepEqual(reg.show(), []);
    assert.match(sync.errors.get('web1') ?? '', /web1.*hot_threshold.*allowed: 0\.\.2147483647/);
  });
});

describe('default node pairs', () => {
  const node = (id: number, cpus: number[], distances: number[]) => ({ id, cpus, memTotalBytes: 0, memFreeBytes: 0, distances, hugepages: [] });
  test('each memory-only node pairs with its nearest DRAM node, each DRAM node once', () => {
    const topo: NumaTopology = {
      nodes: [node(0, [0], [10, 20, 30, 40]), node(1, [1], [20, 10, 40, 30]), node(2, [], [30, 40, 10, 40]), node(3, [], [40, 30, 40, 10])],
    };
    assert.equal(defaultNodePair(topo), '0,2;1,3');
  });
  test('no memory-only node: no pair', () => {
    assert.equal(defaultNodePair({ nodes: [node(0, [0, 1], [10])] }), undefined);
  });
});
