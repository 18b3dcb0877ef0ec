/**
 * The CLI's shape, checked on its sources: one file per verb, each built
 * with defineVerb, registered in commands.ts; shared code (options,
 * formatters, the daemon call) lives in helper modules, so no verb imports
 * another verb. Imports are read with the TypeScript scanner
 * (`preProcessFile`), which sees static, type-only, re-export and dynamic
 * `import()` forms alike.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const cliDir = fileURLToPath(new URL('../../../src/cli/', import.meta.url));
const REGISTRY = 'commands.ts';

const sources = new Map(
  readdirSync(cliDir)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => [f, readFileSync(path.join(cliDir, f), 'utf8')] as const),
);

/** The src/cli/ files `file` imports, by file name ('./pages.js' -> 'pages.ts'). */
function cliImportsOf(file: string): string[] {
  const { importedFiles } = ts.preProcessFile(sources.get(file)!, true, true);
  return importedFiles
    .map((f) => f.fileName)
    .filter((name) => /^\.\/[^/]+\.js$/.test(name))
    .map((name) => name.slice(2).replace(/\.js$/, '.ts'));
}

/** The verb files: the ones commands.ts registers. */
const verbFiles = new Set(cliImportsOf(REGISTRY).filter((f) => f !== 'command.ts'));

describe('CLI verb files', () => {
  test('commands.ts registers the verbs (the import scan works)', () => {
    assert.ok(verbFiles.size >= 10, `found only ${[...verbFiles].join(', ')}`);
    for (const f of verbFiles) assert.ok(sources.has(f), `${f} registered but not in src/cli/`);
  });

  test('no file in src/cli/ but commands.ts imports a verb file', () => {
    const edges: string[] = [];
    for (const file of sources.keys()) {
      if (file === REGISTRY) continue;
      for (const imported of cliImportsOf(file)) if (verbFiles.has(imported)) edges.push(`${file} -> ${imported}`);
    }
    assert.deepEqual(edges, [], 'move what they share into a helper module (options.ts, format.ts, daemon-call.ts, ...)');
  });

  test('every verb is built with defineVerb and leaves option parsing, help and error reporting to it', () => {
    for (const file of verbFiles) {
      const source = sources.get(file)!;
      assert.ok(cliImportsOf(file).includes('verb.ts') && /\bdefineVerb\(/.test(source), `${file} does not use defineVerb`);
      assert.doesNotMatch(source, /\b(parseOptions|reportError)\b/, `${file} parses options or reports errors itself`);
    }
  });

  test('every file that defines a verb is registered', () => {
    const unregistered = [...sources].filter(([f, s]) => f !== 'verb.ts' && /\bdefineVerb\(/.test(s) && !verbFiles.has(f)).map(([f]) => f);
    assert.deepEqual(unregistered, []);
  });
});
