/**
 * Test helper: compiles test/fixtures/platform/pattern-child.c once per run
 * and starts children with a known page pattern (see the C file's header).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The repository root (works from src and from dist). */
export function repoRoot(): string {
  let dir = here;
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}

/** Compiles the pattern child into a temp dir (cached by source mtime) and returns its path. */
export function patternChildBinary(): string {
  const source = path.join(repoRoot(), 'test', 'fixtures', 'platform', 'pattern-child.c');
  const outDir = path.join(os.tmpdir(), 'virt-tier-test');
  mkdirSync(outDir, { recursive: true });
  const out = path.join(outDir, 'pattern-child');
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(source).mtimeMs) {
    execFileSync('cc', ['-O2', '-o', out, source]);
  }
  return out;
}

export interface PatternChild {
  proc: ChildProcess;
  pid: number;
  /** start address of the mapping */
  start: number;
  lengthBytes: number;
  /** touches one page (by index) in the child */
  touch(page: number): Promise<void>;
  /** closes stdin and waits for exit */
  stop(): Promise<void>;
}

/** Starts a pattern child: KIND anon|memfd|file:PATH, PAGES, STRIDE, RUN (pages touched per stride, default 1). */
export async function startPatternChild(kind: string, pages: number, stride: number, run = 1): Promise<PatternChild> {
  const proc = spawn(patternChildBinary(), [kind, String(pages), String(stride), String(run)], { stdio: ['pipe', 'pipe', 'inherit'] });
  let buffered = '';
  const waiters: Array<(line: string) => void> = [];
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      waiters.shift()?.(line);
    }
  });
  const nextLine = (): Promise<string> =>
    new Promise((resolve, reject) => {
      waiters.push(resolve);
      proc.once('exit', (code) => reject(new Error(`pattern-child exited with ${code}`)));
    });
  const first = await nextLine();
  const [startHex, len] = first.split(' ');
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  return {
    proc,
    pid: proc.pid!,
    start: parseInt(startHex!, 16),
    lengthBytes: Number(len),
    async touch(page: number) {
      const reply = nextLine();
      proc.stdin!.write(`t ${page}\n`);
      await reply;
    },
    async stop() {
      proc.stdin!.end();
      await exited;
    },
  };
}

/** Page addresses start, start+4096, ... for `count` pages. */
export function pageAddrs(start: number, count: number): Float64Array {
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) out[i] = start + i * 4096;
  return out;
}
