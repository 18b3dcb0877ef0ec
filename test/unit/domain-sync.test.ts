import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { EngineConfig } from '../../src/config/types.js';
import type { Engine } from '../../src/runner/engine.js';
import { EngineFactories } from '../../src/runner/registry.js';
import { nullLogger } from '../../src/log.js';
import { DomainSync, defaultNodePair, largestDramNodeMb, type DomainFacts } from '../../src/model/domain-sync.js';
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

const U3 = 'bbbbbbbb-cccc-dddd-eeee-ffffffffffff';
const names = (reg: Registry): Array<[string, boolean, string[]]> => reg.show().map((p) => [p.name, p.started, p.tasks.map((t) => t.name)]);

describe('automatic host-wide projects', () => {
  test('a domain with an enabled policy gets a task in the started host-wide project; a domain without one, or disabled, does not', async () => {
    const reg = new Registry(nullLogger(), { engines });
    const sync = makeSync(reg, () => []);
    await sync.sync([domain('web1', U1, 'enabled="yes" engine="cslide"'), domain('db1', U2, 'enabled="no"'), domain('plain', '00000000-0000-0000-0000-000000000001', null)]);
    const shown = reg.show();
    assert.deepEqual(shown.map((p) => [p.name, p.started, p.tasks[0]?.name, p.tasks[0]?.type, p.tasks[0]?.value]), [['auto-cslide', true, `domain-${U1}`, 'domain', U1]]);
    assert.deepEqual(sync.managedDomains(), [U1]);
    assert.deepEqual(sync.placements(), { [U1]: { project: 'auto-cslide', engine: 'cslide', task: `domain-${U1}` } });
  });

  test('guests of one settings group share one project and engine; the project goes with its last guest', async () => {
    const reg = new Registry(nullLogger(), { engines });
    let listing = [domain('a', U1, 'engine="cslide"'), domain('b', U2, 'engine="cslide" weight="200"'), domain('c', U3, 'engine="cslide" node_mig_quota="64"')];
    const sync = makeSync(reg, () => listing);
    await sync.resync();
    const shown = names(reg);
    assert.equal(shown.length, 2);
    assert.deepEqual(shown[0], ['auto-cslide', true, [`domain-${U1}`, `domain-${U2}`]]);
    assert.match(shown[1]![0], /^auto-cslide-[0-9a-f]{8}$/);
    assert.deepEqual(shown[1]![2], [`domain-${U3}`]);
    assert.equal(reg.show()[0]!.engines?.length ?? 1, 1);

    // one guest of the shared group stops: the others keep running, untouched
    const startsOfU2 = started.filter((v) => v === U2).length;
    listing = [domain('b', U2, 'engine="cslide" weight="200"'), domain('c', U3, 'engine="cslide" node_mig_quota="64"')];
    await sync.resync();
    assert.deepEqual(names(reg)[0], ['auto-cslide', true, [`domain-${U2}`]]);
    assert.equal(started.filter((v) => v === U2).length, startsOfU2, 'the remaining guest was not restarted');

    // the last guest of a group: its project is deleted
    listing = [domain('b', U2, 'engine="cslide" weight="200"')];
    await sync.resync();
    assert.deepEqual(names(reg), [['auto-cslide', true, [`domain-${U2}`]]]);
  });

  test('a policy edit moves the task (restarting only it); a bad policy names the domain and adds nothing', async () => {
    const reg = new Registry(nullLogger(), { engines });
    let listing = [domain('web1', U1, 'engine="cslide"'), domain('web2', U2, 'engine="cslide"'), domain('web3', U3, 'engine="slide" T="1"')];
    const sync = makeSync(reg, () => listing);
    await sync.resync();
    assert.deepEqual(names(reg).map((n) => n[0]), ['auto-cslide', 'auto-slide']);

    const startsOfU1 = started.filter((v) => v === U1).length;
    const startsOfU2 = started.filter((v) => v === U2).length;
    listing = [domain('web1', U1, 'engine="cslide" weight="50"'), domain('web2', U2, 'engine="cslide"'), domain('web3', U3, 'engine="slide" T="1"')];
    await sync.resync();
    assert.equal(started.filter((v) => v === U1).length, startsOfU1 + 1, 'the edited guest restarted');
    assert.equal(started.filter((v) => v === U2).length, startsOfU2, 'its neighbour did not');
    assert.deepEqual(names(reg)[0], ['auto-cslide', true, [`domain-${U2}`, `domain-${U1}`]]);

    // an engine-level key: the guest leaves for its own group
    listing = [domain('web1', U1, 'engine="cslide" hot_threshold="5"'), domain('web2', U2, 'engine="cslide"'), domain('web3', U3, 'engine="slide" T="1"')];
    await sync.resync();
    assert.equal(names(reg).length, 3);
    assert.equal(sync.placements()[U1]!.project === 'auto-cslide', false);

    listing = [domain('web1', U1, 'engine="cslide" hot_threshold="-1"'), domain('web2', U2, 'engine="cslide"')];
    await sync.resync();
    assert.deepEqual(names(reg), [['auto-cslide', true, [`domain-${U2}`]]]);
    assert.match(sync.errors.get('web1') ?? '', /web1.*hot_threshold.*allowed: 0\.\.2147483647/);
  });

  test('a host-wide project deleted by hand is added again by the next sync; a config project of that name is not taken over', async () => {
    const reg = new Registry(nullLogger(), { engines });
    const listing = [domain('web1', U1, 'engine="cslide"'), domain('web2', U2, 'engine="cslide"')];
    const sync = makeSync(reg, () => listing);
    await sync.resync();
    await reg.del({ projects: [{ name: 'auto-cslide' }], engines: [], tasks: [] });
    assert.deepEqual(reg.show(), []);
    // the next sync heals it: both guests come back, in one project
    await sync.resync();
    assert.deepEqual(names(reg), [['auto-cslide', true, [`domain-${U1}`, `domain-${U2}`]]]);

    const other = new Registry(nullLogger(), { engines });
    const { projectConfig } = await import('../../src/config/units.js');
    await other.add({ projects: [projectConfig({ name: 'auto-slide', loop: 1, interval: 1, sleep: 1 })], engines: [], tasks: [] });
    const sync2 = makeSync(other, () => [domain('s', U1, 'engine="slide"')]);
    await sync2.resync();
    assert.deepEqual(names(other), [['auto-slide', false, []]]);
    assert.match(sync2.errors.get('s') ?? '', /auto-slide.*not added by --auto-domains/);
  });

  test('a listing that ends after a later one was applied is dropped: a slow poll that read a policy before a live edit does not undo it', async () => {
    const reg = new Registry(nullLogger(), { engines });
    // Each resync's listing is a promise the test resolves, in any order.
    const pending: Array<(d: DomainFacts[]) => void> = [];
    const sync = new DomainSync({ registry: reg, log: nullLogger(), hostFacts: () => host, defaultNodePair: '0,2;1,3', listRunning: () => new Promise((resolve) => pending.push(resolve)) });
    const off = [domain('web1', U1, 'enabled="no" engine="cslide"')];
    const on = [domain('web1', U1, 'enabled="yes" engine="cslide"')];
    // the timer's resync lists first and is slow: it reads the policy still off
    const slowPoll = sync.resync();
    // `policy --set enabled=yes --live` then asks for domain.sync, whose listing is quick
    const edit = sync.resync();
    await new Promise((r) => setImmediate(r));
    assert.equal(pending.length, 2);
    pending[1]!(on);
    await edit;
    assert.deepEqual(names(reg), [['auto-cslide', true, [`domain-${U1}`]]], 'the edit applied');
    pending[0]!(off);
    await slowPoll;
    assert.deepEqual(names(reg), [['auto-cslide', true, [`domain-${U1}`]]], 'the older listing, applied after it, would remove the task');
    assert.deepEqual(sync.managedDomains(), [U1]);
    // the next listing applies as usual, in order
    const next = sync.resync();
    await new Promise((r) => setImmediate(r));
    pending[2]!(off);
    await next;
    assert.deepEqual(names(reg), []);
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
  test("the default reserve is the largest DRAM node's memory in MB; memory-only nodes do not count", () => {
    const n = (id: number, cpus: number[], memTotalBytes: number) => ({ ...node(id, cpus, [10]), memTotalBytes });
    assert.equal(largestDramNodeMb({ nodes: [n(0, [0], 1000 << 20), n(1, [1], (1500 << 20) + 1), n(2, [], 8000 << 20)] }), 1501);
    assert.equal(largestDramNodeMb({ nodes: [n(2, [], 8000 << 20)] }), undefined);
  });
  test('no memory-only node: no pair', () => {
    assert.equal(defaultNodePair({ nodes: [node(0, [0, 1], [10])] }), undefined);
  });
});
