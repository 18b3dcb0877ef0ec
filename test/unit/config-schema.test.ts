import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { checkTaskAgainstProject, parseConfigText, validateTaskParams } from '../../src/config/parse.js';
import type { CslideTaskParams, SlideTaskParams } from '../../src/config/types.js';
import {
  HOST,
  assertInvalid,
  cslideEngine,
  cslideTask,
  iniOf,
  project,
  slideEngine,
  slideTask,
  thirdpartyEngine,
  without,
  yamlOf,
  type Section,
} from './config-helpers.js';

const parseIni = (sections: Section[]) => parseConfigText(iniOf(sections), 'ini', HOST);
const parseYaml = (sections: Section[]) => parseConfigText(yamlOf(sections), 'yaml', HOST);
const forms = [
  ['INI', parseIni],
  ['YAML', parseYaml],
] as const;

/** [what, build(value), field, min, max, allowed text]: each integer key, alone in a file where possible. */
const integerRanges: Array<[string, (v: string) => Section[], string, number, number, string]> = [
  ['project loop', (v) => [project({ loop: v })], 'project[0].loop', 1, 120, '1..120'],
  ['project interval', (v) => [project({ interval: v })], 'project[0].interval', 1, 1200, '1..1200'],
  ['project sleep', (v) => [project({ sleep: v })], 'project[0].sleep', 1, 1200, '1..1200'],
  ['project sysmem_threshold', (v) => [project({ sysmem_threshold: v })], 'project[0].sysmem_threshold', 0, 100, '0..100'],
  ['swapcache_high_wmark', (v) => [project({ swapcache_high_wmark: v, swapcache_low_wmark: '1' })], 'project[0].swapcache_high_wmark', 2, 100, '..100'],
  ['cslide hot_threshold', (v) => [cslideEngine({ hot_threshold: v })], 'engine[0].hot_threshold', 0, 2147483647, '0..2147483647'],
  ['cslide node_mig_quota', (v) => [cslideEngine({ node_mig_quota: v })], 'engine[0].node_mig_quota', 0, 2147483647, '0..2147483647'],
  ['cslide node_hot_reserve', (v) => [cslideEngine({ node_hot_reserve: v })], 'engine[0].node_hot_reserve', 0, 2147483647, '0..2147483647'],
  // T alone: with its project in the same file, T is also capped at loop*3 (tested below).
  ['slide T', (v) => [slideTask({ T: v })], 'task[0].T', 0, 2147483647, '0..2147483647'],
  // dram_percent outside 1..100 is a warning in etmem, not an error (tested in 'slide optional keys').
  ['pid value', (v) => [cslideTask({ type: 'pid', value: v })], 'task[0].value', 1, 4194303, '1..4194303'],
  ['slide pid value', (v) => [slideTask({ type: 'pid', value: v })], 'task[0].value', 0, 4194303, '0..4194303'],
];

describe('config integer keys: both range ends accepted, one past refused', () => {
  for (const [formName, parse] of forms) {
    for (const [what, build, field, min, max, allowed] of integerRanges) {
      test(`${formName}: ${what} ${min}..${max}`, () => {
        parse(build(String(min)));
        parse(build(String(max)));
        for (const bad of [String(min - 1), String(max + 1)]) {
          // swapcache: the lower-than-low case is a different rule with its own message; the field is what matters.
          const err = assertInvalid(() => parse(build(bad)), field, JSON.stringify(bad));
          if (!what.startsWith('swapcache_high')) assert.match(err.allowed ?? '', new RegExp(allowed.replace(/\./g, '\\.')));
        }
        for (const bad of ['', '0x10', '1.0', `${min}abc`, '4294967297']) assertInvalid(() => parse(build(bad)), field);
      });
    }
  }
});

describe('config project', () => {
  test('the model of a full project', () => {
    const doc = parseIni([project({ sysmem_threshold: '50', swapcache_high_wmark: '30', swapcache_low_wmark: '20' })]);
    assert.deepEqual(doc.projects, [
      { name: 'p1', loop: 3, interval: 1, sleep: 2, sysmem_threshold: 50, swapcache_high_wmark: 30, swapcache_low_wmark: 20, source: { section: 'project', index: 0, line: 1 } },
    ]);
  });
  test('required keys', () => {
    for (const key of ['name', 'loop', 'interval', 'sleep']) {
      const err = assertInvalid(() => parseIni([without(project(), key)]), `project[0].${key}`, 'missing required key');
      assert.match(err.message, /^line 1: /, 'points at the section header');
    }
  });
  test('swapcache wmarks: both or neither, high > low', () => {
    parseIni([project({ swapcache_high_wmark: '100', swapcache_low_wmark: '1' })]);
    parseIni([project({ swapcache_high_wmark: '100', swapcache_low_wmark: '99' })]);
    parseIni([project({ swapcache_high_wmark: '2', swapcache_low_wmark: '1' })]);
    assertInvalid(() => parseIni([project({ swapcache_high_wmark: '100', swapcache_low_wmark: '0' })]), 'project[0].swapcache_low_wmark', '1..100');
    assertInvalid(() => parseIni([project({ swapcache_high_wmark: '101', swapcache_low_wmark: '1' })]), 'project[0].swapcache_high_wmark', '1..100');
    assertInvalid(() => parseIni([project({ swapcache_high_wmark: '100', swapcache_low_wmark: '100' })]), 'project[0].swapcache_high_wmark', 'not above');
    assertInvalid(() => parseIni([project({ swapcache_high_wmark: '30' })]), 'project[0].swapcache_low_wmark', 'missing');
    assertInvalid(() => parseIni([project({ swapcache_low_wmark: '30' })]), 'project[0].swapcache_high_wmark', 'missing');
    assertInvalid(() => parseIni([project({ swapcache_high_wmark: '30', swapcache_low_wmark: '30' })]), 'project[0].swapcache_high_wmark', 'not above');
    assertInvalid(() => parseIni([project({ swapcache_high_wmark: '20', swapcache_low_wmark: '30' })]), 'project[0].swapcache_high_wmark', '31..100');
  });
  test('name 1..64 characters', () => {
    parseIni([project({ name: 'n'.repeat(64) })]);
    assertInvalid(() => parseIni([project({ name: 'n'.repeat(65) })]), 'project[0].name', '1..64');
    assertInvalid(() => parseIni([project({ name: '' })]), 'project[0].name', 'empty');
  });
  test('names unique among projects', () => {
    const err = assertInvalid(() => parseIni([project(), project({ loop: '5' })]), 'project[1].name', 'project[0]', 'unique among projects');
    assert.match(err.message, /^line 8: /, 'points at the second name');
  });
  test('unknown keys are refused naming key and section', () => {
    const err = assertInvalid(() => parseIni([project({ loops: '3' })]), 'project[0].loops', 'unknown key for a project', 'loop, interval');
    assert.match(err.message, /^line 6: /);
  });
});

describe('config engines', () => {
  test('the model of each engine kind', () => {
    const doc = parseIni([slideEngine(), cslideEngine(), thirdpartyEngine({ period_ms: '500', mode: 'fast' })]);
    assert.deepEqual(doc.engines.map(({ source, ...e }) => e), [
      { project: 'p1', name: 'slide' },
      { project: 'p1', name: 'cslide', node_pair: [{ dram: 0, aep: 2 }, { dram: 1, aep: 3 }], hot_threshold: 1, node_mig_quota: 1024, node_hot_reserve: 0 },
      { project: 'p1', name: 'thirdparty', eng_name: 'watch', libname: '/opt/virt-tier/plugins/watch.js', ops_name: 'watchEngine', params: { period_ms: '500', mode: 'fast' } },
    ]);
  });
  test('name must be slide, cslide or thirdparty', () => {
    assertInvalid(() => parseIni([slideEngine({ name: 'Slide' })]), 'engine[0].name', 'slide|cslide|thirdparty');
    assertInvalid(() => parseIni([without(slideEngine(), 'name')]), 'engine[0].name', 'missing');
    assertInvalid(() => parseIni([without(slideEngine(), 'project')]), 'engine[0].project', 'missing');
  });
  test('cslide required keys', () => {
    for (const key of ['node_pair', 'hot_threshold', 'node_mig_quota', 'node_hot_reserve']) {
      assertInvalid(() => parseIni([without(cslideEngine(), key)]), `engine[0].${key}`, 'missing required key');
    }
  });
  test('cslide node_pair: malformed, unknown node, node twice', () => {
    for (const bad of ['', '0,', ',;', '0x&,2', '0,2;', '0,0', '0,2;2,1', '0,4']) {
      assertInvalid(() => parseIni([cslideEngine({ node_pair: bad })]), 'engine[0].node_pair', JSON.stringify(bad));
    }
    assertInvalid(() => parseConfigText(iniOf([cslideEngine({ node_pair: '0,1' })]), 'ini', { numaNodes: [0], cpuCount: 2 }), 'engine[0].node_pair', 'node 1 does not exist');
  });
  test('keys of another engine kind are unknown', () => {
    assertInvalid(() => parseIni([slideEngine({ node_pair: '0,2' })]), 'engine[0].node_pair', 'unknown key for a slide engine');
    assertInvalid(() => parseIni([cslideEngine({ eng_name: 'x' })]), 'engine[0].eng_name', 'unknown key for a cslide engine');
  });
  test('thirdparty: eng_name, libname, ops_name required and checked', () => {
    for (const key of ['eng_name', 'libname', 'ops_name']) assertInvalid(() => parseIni([without(thirdpartyEngine(), key)]), `engine[0].${key}`, 'missing');
    assertInvalid(() => parseIni([thirdpartyEngine({ eng_name: 'slide' })]), 'engine[0].eng_name', 'built-in');
    assertInvalid(() => parseIni([thirdpartyEngine({ eng_name: 'cslide' })]), 'engine[0].eng_name', 'built-in');
    assertInvalid(() => parseIni([thirdpartyEngine({ libname: 'plugins/x.js' })]), 'engine[0].libname', 'absolute');
    assertInvalid(() => parseIni([thirdpartyEngine({ ops_name: 'a-b' })]), 'engine[0].ops_name', 'export');
  });
  test('one engine of each kind (or eng_name) per project', () => {
    assertInvalid(() => parseIni([slideEngine(), slideEngine()]), 'engine[1].name', 'already has this engine', 'engine[0]');
    assertInvalid(() => parseIni([cslideEngine(), cslideEngine({ node_pair: '1,3;0,2' })]), 'engine[1].name');
    assertInvalid(() => parseIni([thirdpartyEngine(), thirdpartyEngine()]), 'engine[1].eng_name');
    const doc = parseIni([slideEngine(), slideEngine({ project: 'p2' }), thirdpartyEngine(), thirdpartyEngine({ eng_name: 'other' })]);
    assert.equal(doc.engines.length, 4);
  });
});

describe('config tasks', () => {
  test('the model of slide, cslide and thirdparty tasks', () => {
    const doc = parseIni([
      slideTask({ max_threads: '3', swap_threshold: '2G', dram_percent: '50', swap_flag: 'yes' }),
      cslideTask({ anon_only: 'yes' }),
      ['task', { project: 'p1', engine: 'watch', name: 't3', type: 'domain', value: 'vm-01', tag: 'batch' }],
    ]);
    assert.deepEqual(doc.tasks.map(({ source, ...t }) => t), [
      { project: 'p1', engine: 'slide', name: 't1', type: 'name', value: 'qemu-kvm', params: { T: 2, max_threads: 3, swap_threshold_bytes: 2 * 2 ** 30, dram_percent: 50, swap_flag: true } },
      { project: 'p1', engine: 'cslide', name: 't2', type: 'pid', value: '1', params: { vm_flags: ['ht'], anon_only: true, ign_host: false } },
      { project: 'p1', engine: 'watch', name: 't3', type: 'domain', value: 'vm-01', params: { tag: 'batch' } },
    ]);
  });
  test('common required keys', () => {
    for (const key of ['project', 'engine', 'name', 'type', 'value']) {
      assertInvalid(() => parseIni([without(slideTask(), key)]), `task[0].${key}`, 'missing required key');
    }
  });
  test('engine-specific required keys', () => {
    assertInvalid(() => parseIni([without(slideTask(), 'T')]), 'task[0].T', 'missing required key', '0..2147483647');
    assertInvalid(() => parseIni([without(cslideTask(), 'vm_flags')]), 'task[0].vm_flags', 'missing required key', 'ht');
  });
  test('type pid|name|domain decides the value form', () => {
    assertInvalid(() => parseIni([slideTask({ type: 'process' })]), 'task[0].type', 'pid|name|domain');
    assertInvalid(() => parseIni([slideTask({ type: 'pid', value: 'qemu' })]), 'task[0].value', '0..4194303');
    assertInvalid(() => parseIni([cslideTask({ type: 'pid', value: '0' })]), 'task[0].value', '1..4194303');
    assertInvalid(() => parseIni([slideTask({ type: 'name', value: 'a-very-long-process' })]), 'task[0].value', '1..15');
    assertInvalid(() => parseIni([slideTask({ type: 'domain', value: 'a/b' })]), 'task[0].value', "'/'");
    assert.equal(parseIni([slideTask({ type: 'pid', value: '+042' })]).tasks[0]!.value, '42', 'pid normalised');
  });
  test('task name 1..64, unique within its engine only', () => {
    parseIni([slideTask({ name: 'n'.repeat(64) })]);
    assertInvalid(() => parseIni([slideTask({ name: 'n'.repeat(65) })]), 'task[0].name', '1..64');
    assertInvalid(() => parseIni([slideTask(), slideTask({ value: 'other' })]), 'task[1].name', 'unique within the engine', 'task[0]');
    const doc = parseIni([slideTask(), cslideTask({ name: 't1' }), slideTask({ project: 'p2' })]);
    assert.equal(doc.tasks.length, 3);
  });
  test('keys of another engine are unknown; thirdparty tasks pass any key to the plugin', () => {
    assertInvalid(() => parseIni([slideTask({ vm_flags: 'ht' })]), 'task[0].vm_flags', 'unknown key for a slide task');
    assertInvalid(() => parseIni([cslideTask({ T: '1' })]), 'task[0].T', 'unknown key for a cslide task');
    const doc = parseIni([['task', { project: 'p1', engine: 'watch', name: 't', type: 'pid', value: '1', T: 'anything' }]]);
    assert.deepEqual(doc.tasks[0]!.params, { T: 'anything' });
    assertInvalid(() => parseIni([['task', { project: 'p1', engine: 'watch', name: 't', type: 'pid', value: '1', __proto__x: 'a', ['__proto__']: 'b' }]]), 'task[0].__proto__', 'reserved');
    assertInvalid(() => parseIni([thirdpartyEngine({ ['__proto__']: 'b' })]), 'engine[0].__proto__', 'reserved');
  });
  test('slide T <= loop*3 when the project is in the file', () => {
    const ok = parseIni([project({ loop: '3' }), slideEngine(), slideTask({ T: '9' })]);
    assert.equal((ok.tasks[0]!.params as SlideTaskParams).T, 9);
    const err = assertInvalid(() => parseIni([project({ loop: '3' }), slideEngine(), slideTask({ T: '10' })]), 'task[0].T', '0..9', 'loop');
    assert.match(err.message, /^line 17: /, 'points at the T line');
    // another project's loop does not apply
    parseIni([project({ loop: '3' }), slideTask({ project: 'p2', T: '10' })]);
  });
  test('slide optional keys', () => {
    assertInvalid(() => parseIni([slideTask({ swap_threshold: '10m' })]), 'task[0].swap_threshold', 'NNg');
    assertInvalid(() => parseIni([slideTask({ swap_flag: 'true' })]), 'task[0].swap_flag', 'yes|no');
    assertInvalid(() => parseIni([slideTask({ max_threads: '2.5' })]), 'task[0].max_threads');
    assertInvalid(() => parseIni([slideTask({ max_threads: '4294967297' })]), 'task[0].max_threads');
    assertInvalid(() => parseIni([slideTask({ dram_percent: '5x' })]), 'task[0].dram_percent');
  });
  test('dram_percent outside 1..100 is ignored with a warning, as etmem (etmemd_slide.c fill_task_dram_percent)', () => {
    for (const [text, kept] of [['1', 1], ['100', 100], ['0', undefined], ['101', undefined], ['-5', undefined]] as const) {
      const doc = parseIni([slideTask({ dram_percent: text })]);
      assert.equal((doc.tasks[0]!.params as SlideTaskParams).dram_percent, kept, text);
      assert.equal(doc.warnings!.length, kept === undefined ? 1 : 0, text);
      if (kept === undefined) assert.match(doc.warnings![0]!, /task\[0\]\.dram_percent: .* ignored/);
    }
  });
  test('swap_threshold 0 means not set, as etmem', () => {
    assert.equal((parseIni([slideTask({ swap_threshold: '0g' })]).tasks[0]!.params as SlideTaskParams).swap_threshold_bytes, undefined);
    assert.equal((parseIni([slideTask({ swap_threshold: '999999999g' })]).tasks[0]!.params as SlideTaskParams).swap_threshold_bytes, 999999999 * 2 ** 30);
  });
  test('max_threads out of 1..2*ncpu+1 is clamped with a warning, as etmem', () => {
    const cases: Array<[string, number, boolean]> = [['0', 1, true], ['1', 1, false], ['5', 5, false], ['6', 5, true], ['-7', 1, true], ['2147483647', 5, true]];
    for (const [text, expected, warned] of cases) {
      const doc = parseIni([slideTask({ max_threads: text })]);
      assert.equal((doc.tasks[0]!.params as SlideTaskParams).max_threads, expected, text);
      assert.equal(doc.warnings!.length, warned ? 1 : 0, text);
      if (warned) assert.match(doc.warnings![0]!, /^line \d+: task\[0\]\.max_threads: .* 1\.\.5 .*using \d/);
    }
  });
  test('cslide yes|no keys default to no', () => {
    const params = parseIni([cslideTask()]).tasks[0]!.params as CslideTaskParams;
    assert.deepEqual(params, { vm_flags: ['ht'], anon_only: false, ign_host: false });
    assertInvalid(() => parseIni([cslideTask({ ign_host: 'maybe' })]), 'task[0].ign_host', 'yes|no');
    assertInvalid(() => parseIni([cslideTask({ vm_flags: 'hg' })]), 'task[0].vm_flags', 'unsupported flag');
  });
});

describe('config validateTaskParams / checkTaskAgainstProject (for the model)', () => {
  test('validates raw slide and cslide keys with the same rules', () => {
    assert.deepEqual(validateTaskParams('slide', { T: '3', swap_flag: 'no' }, HOST), { params: { T: 3, swap_flag: false }, warnings: [] });
    assert.deepEqual(validateTaskParams('cslide', { vm_flags: 'ht' }, HOST).params, { vm_flags: ['ht'], anon_only: false, ign_host: false });
    assertInvalid(() => validateTaskParams('slide', { T: '0x3' }, HOST, 'task "t1"'), 'task "t1".T', 'hex');
    assertInvalid(() => validateTaskParams('slide', {}, HOST), 'task.T', 'missing');
    assertInvalid(() => validateTaskParams('cslide', { vm_flags: 'ht', T: '1' }, HOST), 'task.T', 'unknown key for a cslide task');
    const clamped = validateTaskParams('slide', { T: '1', max_threads: '99' }, HOST);
    assert.equal((clamped.params as SlideTaskParams).max_threads, 5);
    assert.equal(clamped.warnings.length, 1);
  });
  test('thirdparty keys come back as they are', () => {
    assert.deepEqual(validateTaskParams('thirdparty', { a: '1', b: 'x' }, HOST).params, { a: '1', b: 'x' });
  });
  test('checkTaskAgainstProject caps slide T at loop*3', () => {
    const doc = parseIni([slideTask({ T: '10' })]);
    const [p] = parseIni([project({ loop: '3' })]).projects;
    const err = assertInvalid(() => checkTaskAgainstProject(doc.tasks[0]!, p!), 'task[0].T', '0..9');
    assert.equal(err.value, '10');
    checkTaskAgainstProject(parseIni([slideTask({ T: '9' })]).tasks[0]!, p!);
    checkTaskAgainstProject(parseIni([cslideTask()]).tasks[0]!, p!);
  });
});
