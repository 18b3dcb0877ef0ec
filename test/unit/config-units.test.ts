/**
 * etmem's units converted once at the config edge (src/config/units.ts):
 * the same settings written as INI, YAML and a domain's metadata policy
 * give the same `...Ms` / `...Bytes` values, and a policy value out of
 * range fails exactly as the file's key does.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtTierError } from '../../src/errors.js';
import { parseConfigText } from '../../src/config/parse.js';
import type { CslideEngineConfig, EngineConfig, ProjectConfig } from '../../src/config/types.js';
import { BYTES_PER_MB, cslideEngineConfig, projectConfig } from '../../src/config/units.js';
import { domainTasksFromPolicy } from '../../src/virt/domain-tasks.js';
import { policyFromDomainXml, POLICY_NAMESPACE } from '../../src/virt/policy.js';
import { HOST, cslideEngine, cslideTask, iniOf, project, yamlOf, type Section } from './config-helpers.js';

const UUID = '3cead87f-c9e1-43c3-8d77-f848bbcff52f';
const MiB = 1 << 20;

/** One cslide set-up as the config file's sections and as the equivalent policy attributes. */
const projectKeys = { loop: '4', interval: '3', sleep: '7' };
const engineKeys = { node_pair: '0,2;1,3', hot_threshold: '2', node_mig_quota: '128', node_hot_reserve: '64' };
const sections: Section[] = [project(projectKeys), cslideEngine(engineKeys), cslideTask()];

function domainXml(attrs: Record<string, string>, memoryBytes = 512 * MiB): { name: string; uuid: string; xml: string; memoryBytes: number } {
  const text = Object.entries(attrs).map(([k, v]) => `${k}="${v}"`).join(' ');
  const xml = `<domain type='kvm'><name>vm1</name><uuid>${UUID}</uuid><metadata><tier:policy xmlns:tier="${POLICY_NAMESPACE}" ${text}/></metadata></domain>`;
  return { name: 'vm1', uuid: UUID, xml, memoryBytes };
}

function fromPolicy(attrs: Record<string, string>, defaultHotReserveMb?: number): { project: ProjectConfig; engine: EngineConfig } {
  const res = domainTasksFromPolicy([domainXml(attrs)], { host: HOST, defaultHotReserveMb });
  assert.deepEqual(res.errors.map((e) => e.error.message), []);
  return res.objects[0]!;
}

const units = (p: ProjectConfig, e: EngineConfig) => {
  assert.equal(e.name, 'cslide');
  const c = e as CslideEngineConfig;
  return { intervalMs: p.intervalMs, sleepMs: p.sleepMs, nodeMigQuotaBytes: c.nodeMigQuotaBytes, nodeHotReserveBytes: c.nodeHotReserveBytes };
};

describe('config units at the edge', () => {
  test('INI, YAML and a domain policy with the same settings give the same ms and bytes', () => {
    const ini = parseConfigText(iniOf(sections), 'ini', HOST);
    const yaml = parseConfigText(yamlOf(sections), 'yaml', HOST);
    const xml = fromPolicy({ engine: 'cslide', ...projectKeys, ...engineKeys });
    const expected = { intervalMs: 3000, sleepMs: 7000, nodeMigQuotaBytes: 128 * MiB, nodeHotReserveBytes: 64 * MiB };
    assert.deepEqual(units(ini.projects[0]!, ini.engines[0]!), expected);
    assert.deepEqual(units(yaml.projects[0]!, yaml.engines[0]!), expected);
    assert.deepEqual(units(xml.project, xml.engine), expected);
  });

  test("policy defaults convert too: node_hot_reserve from the host's largest DRAM node (MB), the same for every guest of the group", () => {
    const o = fromPolicy({ node_pair: '0,2;1,3' }, 2048);
    assert.deepEqual(units(o.project, o.engine), { intervalMs: 1000, sleepMs: 5000, nodeMigQuotaBytes: 256 * MiB, nodeHotReserveBytes: 2048 * MiB });
    // unknown DRAM size: the largest reserve, which demotes every cold page just the same
    assert.equal((fromPolicy({ node_pair: '0,2;1,3' }).engine as CslideEngineConfig).nodeHotReserveBytes, 2147483647 * MiB);
  });

  test('MB is 2^20 bytes, as etmem; the largest quota is still an exact integer', () => {
    assert.equal(BYTES_PER_MB, 1048576);
    const e = parseConfigText(iniOf([cslideEngine({ node_mig_quota: '2147483647' })]), 'ini', HOST).engines[0] as CslideEngineConfig;
    assert.equal(e.nodeMigQuotaBytes, 2147483647 * 2 ** 20);
    assert.ok(Number.isSafeInteger(e.nodeMigQuotaBytes));
  });

  test('derived fields stay out of JSON and key listings; the factory recomputes them for a changed copy', () => {
    const p = parseConfigText(iniOf([project(projectKeys)]), 'ini', HOST).projects[0]!;
    assert.deepEqual(Object.keys(p), ['name', 'loop', 'interval', 'sleep', 'source']);
    assert.equal(JSON.stringify(p).includes('Ms'), false);
    assert.equal(projectConfig({ ...p, sleep: 9 }).sleepMs, 9000);
    assert.throws(() => ((p as { intervalMs: number }).intervalMs = 1), TypeError, 'readonly');
    const e = cslideEngineConfig({ project: 'p', name: 'cslide', node_pair: [{ dram: 0, aep: 2 }], hot_threshold: 1, node_mig_quota: 3, node_hot_reserve: 0 });
    assert.deepEqual([e.nodeMigQuotaBytes, e.nodeHotReserveBytes], [3 * MiB, 0]);
  });
});

/** The error thrown by fn, with the field prefix (and INI line) cut from its message. */
function failure(fn: () => unknown): { field: string; allowed: string | undefined; rest: string } {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof VirtTierError, String(err));
    // A config file's engine keys fail with etmem's OPT_INTER_ERR; a domain policy (virt-tier's own form) says
    // OPT_INVAL. The field, value and allowed range are what must agree.
    assert.ok(err.code === 'OPT_INVAL' || (err.code === 'OPT_INTER_ERR' && /^engine\[/.test(err.field ?? '')), `${err.code}: ${err.message}`);
    const field = err.field ?? '';
    const message = err.message.replace(/^line \d+: /, '');
    assert.ok(message.startsWith(field), `${JSON.stringify(message)} starts with its field`);
    return { field, allowed: err.allowed, rest: message.slice(field.length) };
  }
  assert.fail('expected an error');
}

describe('policy values out of range fail as the config file does', () => {
  const cases: Array<[key: string, value: string, section: 'project' | 'engine']> = [
    ['loop', '0', 'project'],
    ['interval', '0', 'project'],
    ['interval', '1201', 'project'],
    ['sleep', '1201', 'project'],
    ['sleep', '1.5', 'project'],
    ['sysmem_threshold', '101', 'project'],
    ['hot_threshold', '-1', 'engine'],
    ['node_mig_quota', '2147483648', 'engine'],
    ['node_mig_quota', '0x10', 'engine'],
    ['node_hot_reserve', '-1', 'engine'],
    ['node_pair', '0,9', 'engine'],
  ];
  for (const [key, value, kind] of cases) {
    test(`${key}=${value}`, () => {
      const file = failure(() => parseConfigText(iniOf(kind === 'project' ? [project({ [key]: value })] : [cslideEngine({ [key]: value })]), 'ini', HOST));
      const policy = failure(() => policyFromDomainXml(domainXml({ [key]: value }).xml, HOST, 'vm1'));
      assert.equal(file.field, `${kind}[0].${key}`);
      assert.equal(policy.field, `domain "vm1" policy.${key}`);
      assert.equal(policy.allowed, file.allowed);
      assert.equal(policy.rest, file.rest);
      // The automatic projects report the same error.
      const sync = domainTasksFromPolicy([domainXml({ [key]: value })], { host: HOST });
      assert.equal(sync.errors[0]?.error.field, policy.field);
    });
  }
});
