/**
 * docs/errors.md cannot drift: every code src/ and native/ use (result
 * codes, errno names, the addon's ERR_* codes, websocket close codes) must
 * be named on that page in backticks.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RESULT_CODE_BY_ERRNO } from '../../src/api/wire-error.js';
import { ResultCodes } from '../../src/errors.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));

/** Quoted words shaped like codes that are not codes. */
const NOT_CODES = new Set([
  'ENGINE', // the value name of the CLI's -e flag (src/cli/engine.ts)
]);

function files(dir: string, exts: readonly string[]): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && exts.some((x) => e.name.endsWith(x)))
    .map((e) => path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name));
}

function collect(text: string, re: RegExp, into: Map<string, string>, file: string): void {
  for (const m of text.matchAll(re)) if (!NOT_CODES.has(m[1]!) && !into.has(m[1]!)) into.set(m[1]!, path.relative(root, file));
}

/** code -> the first file that uses it */
function codesInSource(): Map<string, string> {
  const codes = new Map<string, string>();
  for (const f of files(path.join(root, 'src'), ['.ts'])) {
    const text = readFileSync(f, 'utf8');
    // a quoted OPT_*, ERR_* or errno-shaped name: 'ESRCH', "OPT_INVAL", `ERR_INVALID_ARG`
    collect(text, /['"`]((?:OPT|ERR)_[A-Z_]+|E[A-Z][A-Z0-9]+)['"`]/g, codes, f);
    // websocket close codes
    collect(text, /\.close\((1\d{3})\b/g, codes, f);
  }
  for (const f of files(path.join(root, 'native'), ['.cc', '.h'])) {
    const text = readFileSync(f, 'utf8');
    collect(text, /"((?:ERR)_[A-Z_]+|E[A-Z][A-Z0-9]+)"/g, codes, f);
    // errnos the addon raises itself: Fail(ENOMEM, ...), ErrnoError(env, EINVAL, ...)
    collect(text, /\b(?:Fail|ErrnoError)\((?:env, *)?(E[A-Z][A-Z0-9]+)\b/g, codes, f);
  }
  return codes;
}

describe('docs/errors.md', () => {
  const doc = readFileSync(path.join(root, 'docs/errors.md'), 'utf8');
  const documented = (code: string): boolean => doc.includes('`' + code + '`');

  test('names every code used in src/ and native/', () => {
    const codes = codesInSource();
    // the scan finds what it should, so an empty or broken scan cannot pass
    for (const c of ['OPT_INVAL', 'ESRCH', 'ENOTMOVED', 'ERR_INVALID_ARG', 'ENOMEM', '1008']) assert.ok(codes.has(c), `scan missed ${c}`);
    const missing = [...codes].filter(([c]) => !documented(c)).map(([c, f]) => `${c} (${f})`);
    assert.deepEqual(missing, [], `docs/errors.md lacks: ${missing.join(', ')}`);
  });

  test('names every result code and every errno the socket boundary maps', () => {
    const missing = [...Object.keys(ResultCodes), ...Object.keys(RESULT_CODE_BY_ERRNO)].filter((c) => !documented(c));
    assert.deepEqual(missing, []);
  });
});
