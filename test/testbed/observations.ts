/** Keeps an inner run's observations (its last stdout line) for diagnosis: .testbed-cache/NAME-last.json. */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './harness.js';

export function keepObservations(name: string, stdout: string): void {
  const dir = path.join(repoRoot(), '.testbed-cache');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, `${name}-last.json`), stdout.trim().split('\n').pop() ?? '');
}
