/** Adds a benchmark's Markdown section to docs/benchmarks.md at the end of its `## heading`, adding the heading once. */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../test/testbed/harness.js';

/**
 * The document with `section` placed at the end of the `## heading` part
 * (before the next `## ` heading), or with the heading and section appended
 * when the heading is new. Pure, for the tests.
 */
export function withBenchmarkSection(current: string, heading: string, section: string): string {
  const line = `## ${heading}\n`;
  const found = current.startsWith(line) ? 0 : current.indexOf(`\n${line}`);
  const body = section.endsWith('\n') ? section : `${section}\n`;
  if (found < 0) {
    const head = current === '' ? '# Benchmarks\n' : current.endsWith('\n') ? current : `${current}\n`;
    return `${head}\n${line}${body}`;
  }
  const at = found === 0 && current.startsWith(line) ? 0 : found + 1;
  const next = current.indexOf('\n## ', at + line.length - 1);
  const sep = body.startsWith('\n') ? '' : '\n';
  // one blank line between the heading's last run and this one, and before the next heading
  if (next < 0) return `${current.replace(/\n*$/, '\n')}${sep}${body}`;
  return `${current.slice(0, next).replace(/\n*$/, '\n')}${sep}${body}\n${current.slice(next + 1)}`;
}

export function appendBenchmarkSection(heading: string, section: string, file = path.join(repoRoot(), 'docs', 'benchmarks.md')): void {
  const current = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, withBenchmarkSection(current, heading, section));
  renameSync(tmp, file);
}
