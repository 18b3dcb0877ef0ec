/** Appends a benchmark's Markdown section to docs/benchmarks.md under its `## heading`, adding the heading once. */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../test/testbed/harness.js';

export function appendBenchmarkSection(heading: string, section: string): void {
  const file = path.join(repoRoot(), 'docs', 'benchmarks.md');
  const current = existsSync(file) ? readFileSync(file, 'utf8') : '';
  if (!current.includes(`\n## ${heading}\n`) && !current.startsWith(`## ${heading}\n`)) {
    appendFileSync(file, `${current === '' ? '# Benchmarks\n' : ''}\n## ${heading}\n`);
  }
  appendFileSync(file, section);
}
