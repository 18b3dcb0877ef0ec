import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigText } from '../../src/config/parse.js';
import { parseIni } from '../../src/config/ini.js';
import { HOST, assertInvalid, cslideEngine, cslideTask, iniOf, project, slideEngine, slideTask, thirdpartyEngine } from './config-helpers.js';

describe('config INI syntax', () => {
  test('comments, blank lines, blanks around keys and =, CRLF and a BOM are accepted', () => {
    const text = '\uFEFF# leading comment\r\n\r\n  [project]  \r\n  # indented comment\r\n name = p1 \r\nloop=3\r\n\tinterval =\t1\r\nsleep= 2\r\n';
    const doc = parseConfigText(text, 'ini', HOST);
    assert.deepEqual(
      doc.projects.map(({ source, ...p }) => p),
      [{ name: 'p1', loop: 3, interval: 1, sleep: 2 }],
    );
    assert.deepEqual(doc.projects[0]!.source, { section: 'project', index: 0, line: 3 });
  });

  test('a # after a blank starts a comment; a # inside a value stays', () => {
    const text = iniOf([project(), thirdpartyEngine({ tag: 'a#b' })])
      .replace('[project]', '[project]   # the project')
      .replace('loop=3', 'loop=3\t# scans per cycle')
      .replace('eng_name=watch', 'eng_name=watch                 # the name tasks use');
    const doc = parseConfigText(text, 'ini', HOST);
    assert.equal(doc.projects[0]!.loop, 3);
    const engine = doc.engines[0]!;
    assert.ok(engine.name === 'thirdparty');
    assert.equal(engine.eng_name, 'watch');
    assert.deepEqual(engine.params, { tag: 'a#b' });
    assertInvalid(() => parseConfigText(iniOf([project({ loop: '3#x' })]), 'ini', HOST), 'project[0].loop', '"3#x"');
  });

  // A quadratic comment scan would take hours on this line; linear takes milliseconds. The timeout only
  // turns a hang into a failure.
  test('a long line with a long blank run is read (no backtracking blow-up)', { timeout: 20_000 }, () => {
    const text = `[project]\nname=p${' '.repeat(2_000_000)}x\n`;
    assertInvalid(() => parseConfigText(text, 'ini', HOST), 'project[0].name', 'too long');
  });

  test('every section is its own object, in file order (etmem would merge them)', () => {
    const text = iniOf([
      project(),
      project({ name: 'p2', loop: '5' }),
      slideEngine(),
      cslideEngine(),
      slideEngine({ project: 'p2' }),
      slideTask(),
      slideTask({ name: 't2', value: 'other' }),
      cslideTask(),
      slideTask({ project: 'p2' }),
    ]);
    const doc = parseConfigText(text, 'ini', HOST);
    assert.deepEqual(doc.projects.map((p) => [p.name, p.loop]), [['p1', 3], ['p2', 5]]);
    assert.deepEqual(doc.engines.map((e) => `${e.project}/${e.name}`), ['p1/slide', 'p1/cslide', 'p2/slide']);
    assert.deepEqual(doc.tasks.map((t) => `${t.project}/${t.engine}/${t.name}`), ['p1/slide/t1', 'p1/slide/t2', 'p1/cslide/t2', 'p2/slide/t1']);
    assert.deepEqual(doc.tasks.map((t) => t.source?.index), [0, 1, 2, 3]);
    assert.deepEqual(doc.warnings, []);
  });

  test('a key twice in one section is refused, naming both lines', () => {
    const text = '[project]\nname=p1\nloop=3\ninterval=1\nsleep=2\nloop=4\n';
    const err = assertInvalid(() => parseConfigText(text, 'ini', HOST), 'project[0].loop', 'duplicate key', 'line 6', 'line 3');
    assert.match(err.message, /^line 6: /);
  });

  test('the same key in two sections of a kind is fine', () => {
    const sections = parseIni('[task]\nname=a\n[task]\nname=b\n');
    assert.deepEqual(sections.map((s) => [s.index, s.entries.get('name')?.value, s.line]), [[0, 'a', 1], [1, 'b', 3]]);
  });

  test('syntax errors name the line', () => {
    const cases: Array<[string, RegExp]> = [
      ['[project\nname=p1\n', /^line 1: malformed section header/],
      ['[project] x\nname=p1\n', /^line 1: malformed section header/],
      ['[Project]\nname=p1\n', /^line 1: unknown section/],
      ['[global]\n', /^line 1: unknown section/],
      ['name=p1\n[project]\n', /^line 1: key=value line before any section/],
      ['[project]\nname p1\n', /^line 2: not a section header, comment or key=value line/],
      ['[project]\n=p1\n', /^line 2: key=value line without a key/],
    ];
    for (const [text, message] of cases) {
      assert.throws(() => parseConfigText(text, 'ini', HOST), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'OPT_INVAL');
        assert.match(err.message, message);
        return true;
      });
    }
  });

  test('an empty file (or only comments) is refused', () => {
    for (const text of ['', '# nothing\n\n']) {
      assertInvalid(() => parseConfigText(text, 'ini', HOST), 'file', 'no [project], [engine] or [task]');
    }
  });

  test('values keep inner blanks and are not unescaped', () => {
    const text = iniOf([['engine', { project: 'p1', name: 'thirdparty', eng_name: 'w', libname: '/x.js', ops_name: 'o', note: 'a  b\\sc' }]]);
    const doc = parseConfigText(text, 'ini', HOST);
    const engine = doc.engines[0]!;
    assert.equal(engine.name, 'thirdparty');
    if (engine.name === 'thirdparty') assert.deepEqual(engine.params, { note: 'a  b\\sc' });
  });
});
