/**
 * The import graph of src/ has the shape docs/architecture.md draws: each
 * folder is one layer, and an import only goes down (or stays inside its
 * folder); no file-level import cycle; src/engines (policy) is importable
 * with nothing else at run time (type-only imports of the config and
 * AccessMap shapes); nothing in src/ imports test code.
 *
 * Reproduce by hand: `node --test dist/test/unit/layering.test.js`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const src = path.join(repo, 'src');

/** Lowest first. Folders of one rank may not import each other. */
export const LAYERS: ReadonlyArray<readonly string[]> = [
  ['.'], // errors.ts, log.ts: the vocabulary every layer shares
  ['native'],
  ['platform'],
  ['config'],
  ['scan'],
  ['engines'],
  ['mover'],
  ['runner'],
  ['virt'],
  ['migration'],
  ['model'],
  ['feed'],
  ['api'],
  ['daemon', 'cli'],
];

const rankOf = new Map(LAYERS.flatMap((folders, rank) => folders.map((f) => [f, rank] as const)));

interface ImportEdge { from: string; to: string; typeOnly: boolean }

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return p.endsWith('.ts') && !p.endsWith('.d.ts') ? [p] : [];
  });
}

/** Relative imports and re-exports of one file, resolved to .ts paths. */
function importsOf(file: string): ImportEdge[] {
  const text = readFileSync(file, 'utf8');
  const out: ImportEdge[] = [];
  const re = /^\s*(import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?'(\.{1,2}\/[^']+)'/gm;
  for (const m of text.matchAll(re)) {
    const target = path.resolve(path.dirname(file), m[3]!).replace(/\.js$/, '.ts');
    out.push({ from: file, to: target, typeOnly: m[2] !== undefined || /^\s*import\s+type\b/.test(m[0]) });
  }
  return out;
}

const folderOf = (file: string): string => {
  const rel = path.relative(src, path.dirname(file));
  return rel === '' ? '.' : rel.split(path.sep)[0]!;
};
const files = sourceFiles(src);
const edges = files.flatMap(importsOf);

test('every folder of src/ has a layer', () => {
  const folders = new Set(files.map(folderOf));
  assert.deepEqual([...folders].filter((f) => !rankOf.has(f)), [], 'a new folder needs a place in LAYERS and in docs/architecture.md');
});

test('imports only go down the layers (no back-edges)', () => {
  const bad: string[] = [];
  for (const e of edges) {
    if (!e.to.startsWith(src + path.sep)) {
      bad.push(`${path.relative(repo, e.from)} imports ${path.relative(repo, e.to)} (outside src/)`);
      continue;
    }
    const a = folderOf(e.from);
    const b = folderOf(e.to);
    if (a === b) continue;
    if (rankOf.get(a)! <= rankOf.get(b)!) bad.push(`${path.relative(src, e.from)} (${a}) -> ${path.relative(src, e.to)} (${b})`);
  }
  assert.deepEqual(bad, []);
});

test('no import cycle between files', () => {
  const next = new Map<string, string[]>();
  for (const e of edges) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const visit = (f: string, trail: string[]): void => {
    if (state.get(f) === 'done') return;
    if (state.get(f) === 'open') {
      cycles.push([...trail.slice(trail.indexOf(f)), f].map((x) => path.relative(src, x)).join(' -> '));
      return;
    }
    state.set(f, 'open');
    for (const t of next.get(f) ?? []) visit(t, [...trail, f]);
    state.set(f, 'done');
  };
  for (const f of files) visit(f, []);
  assert.deepEqual(cycles, []);
});

test('src/engines is pure policy: at run time it imports nothing outside itself', () => {
  const bad = edges.filter((e) => folderOf(e.from) === 'engines' && folderOf(e.to) !== 'engines' && !e.typeOnly);
  assert.deepEqual(bad.map((e) => `${path.relative(src, e.from)} -> ${path.relative(src, e.to)}`), []);
  const nodeImports = files.filter((f) => folderOf(f) === 'engines').filter((f) => /from\s+'node:|from\s+'[a-z@]/.test(readFileSync(f, 'utf8')));
  assert.deepEqual(nodeImports.map((f) => path.relative(src, f)), [], 'no node: or package imports in policy');
});

test('the check sees real edges (it would fail on a back-edge)', () => {
  // Guards against a regex that matches nothing: the runner must be seen importing the policy.
  assert.ok(edges.some((e) => folderOf(e.from) === 'runner' && folderOf(e.to) === 'engines'));
  assert.ok(edges.length > 200, `only ${edges.length} import edges found`);
});
