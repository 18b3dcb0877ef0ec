/**
 * The man pages (man/) cannot drift from the docs or the code: every
 * daemon flag, CLI verb, CLI option and config key is in the code, in
 * docs/cli.md or docs/configuration.md, and in the man page, or this test
 * names what is missing where. The pages are also linted with
 * `mandoc -T lint` (scripts/setup-service.sh installs mandoc).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { commands } from '../../src/cli/commands.js';
import { DAEMON_USAGE } from '../../src/daemon/args.js';
import { PROJECT_KEYS, REGION_PROJECT_KEYS, CSLIDE_ENGINE_EXTRA_KEYS, CSLIDE_ENGINE_OWN_KEYS, DAMON_ENGINE_OWN_KEYS, TASK_COMMON_KEYS } from '../../src/config/sections.js';
import { SLIDE_TASK_KEYS, CSLIDE_TASK_KEYS } from '../../src/config/task-params.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const read = (rel: string): string => readFileSync(path.join(root, rel), 'utf8');
const PAGES = ['man/virt-tierd.8', 'man/virt-tier.8', 'man/virt-tier.conf.5'];

/** man(7) source as plain text: `\-` is `-`, font escapes dropped. */
const manText = (src: string): string => src.replace(/\\-/g, '-').replace(/\\f[BIRP]/g, '');
const longFlags = (text: string): Set<string> => new Set(text.match(/(?<![\w-])--[a-z][a-z_-]*[a-z]/g) ?? []);

/** The first cells of a markdown table's rows, between `heading` and the next heading of its level or above. */
function firstCells(md: string, heading: string): string[] {
  const start = md.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `heading ${heading} in the doc`);
  const level = heading.match(/^#+/)![0].length;
  const rest = md.slice(start + heading.length + 2);
  const end = rest.search(new RegExp(`\\n#{1,${level}} `));
  const body = end >= 0 ? rest.slice(0, end) : rest;
  // Only tables headed `key`, `flag` or `command` (not, e.g., the table of task types).
  const cells: string[] = [];
  let header = '';
  for (const line of body.split('\n')) {
    if (!line.startsWith('|')) {
      header = '';
      continue;
    }
    const first = line.split('|')[1]!.trim();
    if (header === '') header = first;
    else if (/^(key|flag|command)$/.test(header) && first.startsWith('`')) cells.push(first);
  }
  return cells;
}

/** Sections of a man page: `.SH`/`.SS` title -> its text. */
function manSections(src: string): Map<string, string> {
  const out = new Map<string, string>();
  let title = '';
  for (const line of src.split('\n')) {
    const m = /^\.S[HS] (.*)$/.exec(line);
    if (m) {
      title = m[1]!.replace(/"/g, '');
      out.set(title, '');
    } else out.set(title, (out.get(title) ?? '') + line + '\n');
  }
  return out;
}

/** `.TP` entries' keys (the `.B`/`.BR` line after `.TP`), in order. */
function tpKeys(section: string): string[] {
  const lines = section.split('\n');
  const keys: string[] = [];
  for (let i = 0; i < lines.length - 1; i++) {
    if (lines[i] !== '.TP') continue;
    const m = /^\.BR? (.*)$/.exec(lines[i + 1]!);
    if (!m) continue;
    for (const k of m[1]!.split('"').filter((_, j) => j % 2 === 0).join(' ').split(/\s+/)) if (/^[A-Za-z_]+$/.test(k)) keys.push(k);
  }
  return keys;
}

function sameSet(what: string, sets: Record<string, Iterable<string>>): void {
  const named = Object.entries(sets).map(([where, s]) => [where, new Set(s)] as const);
  const all = new Set(named.flatMap(([, s]) => [...s]));
  const missing: string[] = [];
  for (const item of [...all].sort()) {
    const lacking = named.filter(([, s]) => !s.has(item)).map(([where]) => where);
    if (lacking.length > 0) missing.push(`${what} ${item} is missing from ${lacking.join(', ')}`);
  }
  assert.deepEqual(missing, []);
}

describe('man pages', () => {
  test('mandoc -T lint finds nothing', () => {
    for (const page of PAGES) {
      const r = spawnSync('mandoc', ['-T', 'lint', path.join(root, page)], { encoding: 'utf8' });
      assert.ok(!r.error, `mandoc: ${r.error?.message}; install it with scripts/setup-service.sh`);
      assert.equal(`${r.stdout}${r.stderr}`, '', page);
      assert.equal(r.status, 0, page);
    }
  });

  test('virt-tierd(8): the flags of --help, of docs/cli.md and of the page are the same', () => {
    const docFlags = firstCells(read('docs/cli.md'), '## virt-tierd (the daemon)').flatMap((c) => [...longFlags(c)]);
    sameSet('daemon flag', { '--help': longFlags(DAEMON_USAGE), 'docs/cli.md': docFlags, 'man/virt-tierd.8': longFlags(manText(manSections(read('man/virt-tierd.8')).get('OPTIONS')!)) });
  });

  test('virt-tier(8): the verbs of the CLI, of docs/cli.md and of the page are the same', () => {
    const md = read('docs/cli.md');
    const docVerbs = [...firstCells(md, '### etmem verbs'), ...firstCells(md, '### Host and guest verbs')].map((c) => c.replace(/`/g, '').split(' ')[0]!);
    const pageVerbs = [...manSections(read('man/virt-tier.8')).keys()].filter((t) => /^[a-z][a-z-]*( |$)/.test(t)).map((t) => t.split(' ')[0]!);
    sameSet('verb', { 'src/cli/commands.ts': commands.map((c) => c.name), 'docs/cli.md': docVerbs, 'man/virt-tier.8': pageVerbs });
  });

  test('virt-tier(8): every option a verb accepts is on the page, and nothing else', () => {
    const accepted = commands.flatMap((c) => (c.flags ?? []).filter((f) => f.startsWith('--')));
    sameSet('CLI option', { 'the verbs\' options': accepted, 'man/virt-tier.8': longFlags(manText(read('man/virt-tier.8'))) });
  });

  test('virt-tier.conf(5): the keys of the parser, of docs/configuration.md and of the page are the same, section by section', () => {
    const md = read('docs/configuration.md');
    // a cell may name keys that go together: `low`, `high`
    const cells = (h: string): string[] => firstCells(md, h).flatMap((c) => c.replace(/`/g, '').split(/,\s*/));
    const sections = manSections(read('man/virt-tier.conf.5'));
    const page = (...titles: string[]): string[] => titles.flatMap((t) => tpKeys(sections.get(t) ?? assert.fail(`section ${t} in virt-tier.conf.5`)));
    sameSet('project key', { parser: [...PROJECT_KEYS, ...REGION_PROJECT_KEYS], 'docs/configuration.md': cells('## [project]'), 'man/virt-tier.conf.5': page('PROJECT KEYS') });
    // engine: the common keys, cslide's and thirdparty's (not exported by the parser as one list; the thirdparty ones are its required keys)
    sameSet('engine key', {
      parser: ['project', 'name', ...CSLIDE_ENGINE_OWN_KEYS, ...CSLIDE_ENGINE_EXTRA_KEYS, ...DAMON_ENGINE_OWN_KEYS, 'eng_name', 'libname', 'ops_name'],
      'docs/configuration.md': [...cells('## [engine]'), ...cells('### cslide'), ...cells('### damon'), ...cells('### thirdparty').filter((k) => k !== 'any other key')],
      'man/virt-tier.conf.5': page('ENGINE KEYS', 'cslide', 'damon', 'thirdparty'),
    });
    sameSet('task key', {
      parser: [...TASK_COMMON_KEYS, ...SLIDE_TASK_KEYS, ...CSLIDE_TASK_KEYS],
      'docs/configuration.md': [...cells('## [task]'), ...cells('### slide task'), ...cells('### cslide task')],
      'man/virt-tier.conf.5': page('TASK KEYS', 'slide task', 'cslide task'),
    });
  });

  test('the unit names the three pages it documents', () => {
    const unit = read('conf/virt-tierd.service');
    for (const page of ['virt-tierd(8)', 'virt-tier.conf(5)', 'virt-tier(8)']) assert.match(unit, new RegExp(`man:${page.replace(/[().]/g, '\\$&')}`));
  });
});
