import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { runPages } from '../../src/cli/pages.js';
import type { CliIO } from '../../src/cli/command.js';
import { startPatternChild, repoRoot } from './native-child.js';

function capture(): CliIO & { stdout: string; stderr: string } {
  const io = { stdout: '', stderr: '', out(t: string) { io.stdout += t; }, err(t: string) { io.stderr += t; } };
  return io;
}

/** A PID that no process has right now. */
function unusedPid(): number {
  const max = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim());
  for (let pid = max; ; pid--) if (!existsSync(`/proc/${pid}`)) return pid;
}

interface JsonVma { start: string; presentPages4k: number; swappedPages4k: number; presentPages4kByNode: Record<string, number>; pageSizeBytes: number; ranges: Array<{ start: string; end: string; present: boolean; node: number }> }

describe('virt-tier pages', () => {
  test('--json: the pattern VMA has every other page present on node 0, as alternating ranges', async () => {
    const child = await startPatternChild('anon', 64, 2);
    try {
      const io = capture();
      assert.equal(await runPages(['--pid', String(child.pid), '--json'], io), 0, io.stderr);
      const out = JSON.parse(io.stdout) as { pid: number; source: string; vmas: JsonVma[] };
      assert.equal(out.pid, child.pid);
      assert.equal(out.source, 'PAGEMAP_SCAN');
      const vma = out.vmas.find((v) => v.start === '0x' + child.start.toString(16));
      assert.ok(vma);
      assert.equal(vma.presentPages4k, 32);
      assert.equal(vma.swappedPages4k, 0);
      assert.deepEqual(vma.presentPages4kByNode, { 0: 32 });
      assert.equal(vma.pageSizeBytes, 4096);
      assert.equal(vma.ranges.length, 32);
      assert.deepEqual(vma.ranges[1], { start: '0x' + (child.start + 8192).toString(16), end: '0x' + (child.start + 12288).toString(16), present: true, swapped: false, node: 0 });
    } finally {
      await child.stop();
    }
  });

  test('text output and --vma-flags filter', async () => {
    const child = await startPatternChild('anon', 16, 1);
    try {
      const io = capture();
      assert.equal(await runPages(['--pid', String(child.pid)], io), 0);
      assert.match(io.stdout, /present KiB/);
      assert.match(io.stdout, new RegExp(`0x${child.start.toString(16)}-0x${(child.start + 16 * 4096).toString(16)} +rw-p +4K +64 +0 +N0=64K`));
      assert.ok(io.stdout.includes('0x' + child.start.toString(16)));
      const ht = capture();
      assert.equal(await runPages(['--pid', String(child.pid), '--vma-flags', 'ht', '--json'], ht), 0);
      assert.deepEqual(JSON.parse(ht.stdout).vmas, [], 'no hugetlb VMAs in the pattern child');
      const nh = capture();
      assert.equal(await runPages(['--pid', String(child.pid), '--vma-flags', 'nh', '--json'], nh), 0);
      assert.ok(JSON.parse(nh.stdout).vmas.some((v: JsonVma) => v.start === '0x' + child.start.toString(16)));
    } finally {
      await child.stop();
    }
  });

  test('bad --pid values are named with the allowed range', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--pid', 'abc'], /--pid: not a process id "abc"; allowed: a running process id, 1\.\.\d+/],
      [['--pid', '0'], /--pid: out of range "0"; allowed: a running process id, 1\.\.\d+/],
      [['--pid', '99999999999'], /--pid: out of range/],
      [['--pid', String(unusedPid())], /--pid: no such process "\d+"; allowed: a running process id/],
      [[], /--pid is required/],
      [['--pid', '1', '--vma-flags', 'hugetlb'], /--vma-flags: invalid value "hugetlb"; allowed: comma-separated two-letter VmFlags/],
    ];
    for (const [args, re] of cases) {
      const io = capture();
      const code = await runPages(args, io);
      assert.ok(code !== 0, `${args.join(' ')} exits non-zero`);
      assert.match(io.stderr, re);
      assert.match(io.stderr, /OPT_INVAL/);
    }
  });

  test('as a subprocess through the CLI entry point, when it exists', { skip: !existsSync(path.join(repoRoot(), 'dist/src/cli/main.js')) && 'dist/src/cli/main.js not built' }, async (t) => {
    const main = path.join(repoRoot(), 'bin/virt-tier.js');
    const help = spawnSync('node', [main, 'pages', '--help'], { encoding: 'utf8' });
    if (help.status !== 0 || !help.stdout.includes('virt-tier pages')) {
      t.skip('the pages verb is not registered in src/cli/commands.ts yet');
      return;
    }
    const out = execFileSync('node', [main, 'pages', '--pid', String(process.pid), '--json'], { encoding: 'utf8' });
    assert.equal(JSON.parse(out).pid, process.pid);
  });
});
