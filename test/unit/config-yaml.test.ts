import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { parseConfigText } from '../../src/config/parse.js';
import type { ConfigDocument } from '../../src/config/types.js';
import { YAML_MAX_FLOW_DEPTH, YAML_MAX_TOKENS } from '../../src/config/yaml.js';
import { HOST, assertInvalid, cslideEngine, cslideTask, iniOf, project, slideEngine, slideTask, thirdpartyEngine, yamlOf } from './config-helpers.js';

// Tests run from dist/test/unit; fixtures stay in the source tree.
const fixture = (name: string): string => readFileSync(new URL(`../../../test/fixtures/config/${name}`, import.meta.url), 'utf8');

/** The model without line numbers (the forms lay objects out on different lines). */
function withoutLines(doc: ConfigDocument): unknown {
  return JSON.parse(JSON.stringify(doc, (key, value) => (key === 'line' ? undefined : value)));
}

describe('config YAML and INI give the same model', () => {
  test('full.ini == full-flat.yaml == full-nested.yaml', () => {
    const ini = parseConfigText(fixture('full.ini'), 'ini', HOST);
    const flat = parseConfigText(fixture('full-flat.yaml'), 'yaml', HOST);
    const nested = parseConfigText(fixture('full-nested.yaml'), 'yaml', HOST);
    assert.equal(ini.projects.length, 2);
    assert.equal(ini.engines.length, 3);
    assert.equal(ini.tasks.length, 3);
    assert.deepEqual(withoutLines(flat), withoutLines(ini));
    assert.deepEqual(withoutLines(nested), withoutLines(ini));
    assert.equal(flat.tasks[2]!.source?.line, 43, 'YAML objects carry the line of their list item');
  });

  test('the same file in both forms fails with the same error', () => {
    const bad = [
      [project({ loop: '121' })],
      [project({ loop: '1.0' })],
      [project({ loop: '0x10' })],
      [project({ loop: '' })],
      [project({ colour: 'red' })],
      [cslideEngine({ node_pair: '0,' })],
      [slideTask({ T: '4294967297' })],
      [cslideTask({ anon_only: 'true' })],
      [project(), project()],
      [slideEngine(), slideEngine()],
    ];
    for (const sections of bad) {
      let iniErr: (Error & { field?: string }) | undefined;
      try {
        parseConfigText(iniOf(sections), 'ini', HOST);
      } catch (err) {
        iniErr = err as Error;
      }
      assert.ok(iniErr, `INI should refuse ${JSON.stringify(sections)}`);
      const yamlErr = assertInvalid(() => parseConfigText(yamlOf(sections), 'yaml', HOST), iniErr.field!);
      const strip = (m: string): string => m.replace(/^line \d+: /, '').replace(/\(line \d+\)/g, '');
      assert.equal(strip(yamlErr.message), strip(iniErr.message));
    }
  });
});

describe('config YAML specifics', () => {
  test('values are read as written, not as YAML types', () => {
    const cases: Array<[string, string]> = [
      ['loop: 1.0', 'project[0].loop'],
      ['loop: 0x10', 'project[0].loop'],
      ['loop: 1e1', 'project[0].loop'],
      ['loop: ~', 'project[0].loop'],
      ['loop:', 'project[0].loop'],
      ['loop: true', 'project[0].loop'],
      ['loop: [1]', 'line 3'],
    ];
    for (const [line, field] of cases) {
      const text = `projects:\n  - name: p1\n    ${line}\n    interval: 1\n    sleep: 1\n`;
      assertInvalid(() => parseConfigText(text, 'yaml', HOST), field);
    }
    const ok = parseConfigText('projects:\n  - name: p1\n    loop: "3"\n    interval: +1\n    sleep: 010\n', 'yaml', HOST);
    assert.deepEqual([ok.projects[0]!.loop, ok.projects[0]!.interval, ok.projects[0]!.sleep], [3, 1, 10]);
  });

  test('errors carry the YAML line', () => {
    const err = assertInvalid(() => parseConfigText('projects:\n  - name: p1\n    loop: 3\n    interval: 0\n    sleep: 1\n', 'yaml', HOST), 'project[0].interval');
    assert.match(err.message, /^line 4: /);
  });

  test('nested project/engine names conflicting with the parent are refused', () => {
    const text = 'projects:\n  - name: p1\n    loop: 3\n    interval: 1\n    sleep: 1\n    engines:\n      - name: slide\n        project: p2\n';
    assertInvalid(() => parseConfigText(text, 'yaml', HOST), 'engine[0].project', 'listed under project "p1"');
    const task = 'engines:\n  - project: p1\n    name: slide\n    tasks:\n      - {engine: cslide, name: t, type: pid, value: 1, T: 1}\n';
    assertInvalid(() => parseConfigText(task, 'yaml', HOST), 'task[0].engine', 'listed under engine "slide"');
  });

  test('tasks under a thirdparty engine take its eng_name', () => {
    const [engine] = [thirdpartyEngine()];
    const text = `engines:\n  - ${Object.entries(engine[1]).map(([k, v]) => `${k}: ${v}`).join('\n    ')}\n    tasks:\n      - {name: t, type: pid, value: 7, x: y}\n`;
    const doc = parseConfigText(text, 'yaml', HOST);
    assert.deepEqual(doc.tasks.map((t) => [t.project, t.engine, t.params]), [['p1', 'watch', { x: 'y' }]]);
  });

  test('anchors, aliases and tags are refused wherever they stand, naming the line', () => {
    const cases: Array<[string, RegExp]> = [
      ['projects:\n  - {name: p1, loop: &one 1, interval: 1, sleep: 1}\n', /^line 2: anchors are not supported: "&one"/],
      ['projects:\n  - name: p1\n    loop: !!int 1\n', /^line 3: tags are not supported: "tag:yaml.org,2002:int"/],
      ['projects:\n  - name: !custom p1\n', /^line 2: tags are not supported: "!custom"/],
      ['projects: &list\n  - {name: p1, loop: 1, interval: 1, sleep: 1}\n', /^line 2: anchors are not supported: "&list"/],
      ['&top projects:\n  - {name: p1, loop: 1, interval: 1, sleep: 1}\n', /^line 1: anchors are not supported/],
      ['projects:\n  - &a {name: p1, loop: 1, interval: 1, sleep: 1}\n  - *a\n', /^line 2: anchors are not supported: "&a"/],
    ];
    for (const [text, message] of cases) {
      assert.throws(() => parseConfigText(text, 'yaml', HOST), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'OPT_INVAL', text);
        assert.match(err.message, message, text);
        return true;
      });
    }
  });

  test('complexity is bounded before the parser runs: tokens and flow nesting', () => {
    const deep = `projects: ${'['.repeat(YAML_MAX_FLOW_DEPTH + 1)}${']'.repeat(YAML_MAX_FLOW_DEPTH + 1)}\n`;
    assert.throws(() => parseConfigText(deep, 'yaml', HOST), /too complex: "more than 64 nested flow collections"/);
    // Just under the nesting bound the structure error is the schema's, not the bound's.
    const ok = `projects: ${'['.repeat(YAML_MAX_FLOW_DEPTH)}${']'.repeat(YAML_MAX_FLOW_DEPTH)}\n`;
    assert.throws(() => parseConfigText(ok, 'yaml', HOST), /every item must be a mapping/);
    const many = 'tasks:\n' + '  - {a: 1}\n'.repeat(Math.ceil(YAML_MAX_TOKENS / 10));
    assert.throws(() => parseConfigText(many, 'yaml', HOST), /too complex: "more than 2000000 tokens"/);
  });

  test('structure errors', () => {
    const cases: Array<[string, RegExp]> = [
      ['project:\n  - name: p1\n', /unknown top-level key/],
      ['- name: p1\n', /must be a mapping/],
      ['projects: p1\n', /expected a list/],
      ['projects:\n  - p1\n', /must be a mapping/],
      ['projects:\n  - &a {name: p1, loop: 1, interval: 1, sleep: 1}\n  - *a\n', /mapping|alias/],
      ['projects:\n  - {name: p1, loop: *x}\n', /YAML syntax error|alias/],
      ['projects:\n  - name: p1\n    name: p2\n', /^line 3: YAML syntax error.*unique/],
      ['projects: [\n', /YAML syntax error/],
      ['a: 1\n---\nb: 2\n', /YAML syntax error/],
    ];
    for (const [text, message] of cases) {
      assert.throws(() => parseConfigText(text, 'yaml', HOST), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'OPT_INVAL', text);
        assert.match(err.message, message, text);
        return true;
      });
    }
  });

  test('an empty document is refused like an empty INI file', () => {
    for (const text of ['', '# nothing\n', 'projects:\n']) assertInvalid(() => parseConfigText(text, 'yaml', HOST), 'file');
  });

  test('flat lists and nesting mix', () => {
    const text = [
      'tasks:',
      '  - {project: p1, engine: slide, name: t0, type: name, value: a, T: 1}',
      'projects:',
      '  - {name: p1, loop: 3, interval: 1, sleep: 1, engines: [{name: slide, tasks: [{name: t1, type: name, value: b, T: 2}]}]}',
      'engines:',
      '  - {project: p1, name: cslide, node_pair: "0,1;2,3", hot_threshold: 0, node_mig_quota: 0, node_hot_reserve: 0}',
    ].join('\n');
    const doc = parseConfigText(text, 'yaml', HOST);
    assert.deepEqual(doc.tasks.map((t) => [t.name, t.source?.index]), [['t0', 0], ['t1', 1]]);
    assert.deepEqual(doc.engines.map((e) => [e.name, e.source?.index]), [['slide', 0], ['cslide', 1]]);
  });
});

test('the yaml package is loaded by the first YAML parse, not by an INI one', () => {
  // A fresh process: this test file's own imports may already have loaded it.
  const parse = new URL('../../src/config/parse.js', import.meta.url).href;
  const script = `
    import { createRequire } from 'node:module';
    const { parseConfigText } = await import(${JSON.stringify(parse)});
    const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((f) => f.includes('/node_modules/yaml/'));
    const host = { numaNodes: [0, 1], cpuCount: 2 };
    parseConfigText('[project]\\nname=p\\nloop=1\\ninterval=1\\nsleep=1\\n', 'ini', host);
    const afterIni = loaded();
    parseConfigText('projects:\\n  - name: p\\n    loop: 1\\n    interval: 1\\n    sleep: 1\\n', 'yaml', host);
    process.stdout.write(JSON.stringify({ afterIni, afterYaml: loaded() }));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.deepEqual(JSON.parse(out), { afterIni: false, afterYaml: true });
});
