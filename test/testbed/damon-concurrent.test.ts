/**
 * Many DAMON trackers at once on the testbed's stock 6.12 kernel, through
 * the daemon's one kdamond owner (issue 15 item 7): three damon-vaddr
 * trackers over three guests (THP, 4 KiB anonymous, hugetlb) started
 * together all run every cycle on distinct kdamonds; two damon-paddr
 * trackers in owned mode (no kdamond of anyone else runs there) run at
 * once too; the hugetlb guest under damon-paddr is refused by name. The
 * owned-mode precision and recall it prints are the ones in docs/trackers.md.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runInTestbed, testbedAvailability } from './harness.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

const availability = testbedAvailability();
const skip = availability.available ? false : availability.reason;

interface Score { recall: number; precision: number; hotPages: number; coldPages: number; cpuMs: number }
interface Run { scores: Score[]; error?: string }

test('testbed: three DAMON trackers started together never race; damon-paddr owned mode runs two at once and refuses hugetlb', { skip }, async () => {
  // Built on the host: the testbed sees the host's root read-only.
  mkdirSync(path.join(REPO, 'build'), { recursive: true });
  const hotcold = path.join(REPO, 'build', 'testbed-hotcold');
  execFileSync('gcc', ['-O2', '-o', hotcold, path.join(REPO, 'test/integration/helpers/hotcold.c')]);
  const r = await runInTestbed({
    env: { VIRT_TIER_HOTCOLD: hotcold },
    command: 'node dist/test/testbed/inner/damon-concurrent.js --loop 3 --interval-ms 200 --cycles 2',
    hugepagesPerNode: { 0: 24 },
    timeoutMs: 300_000,
  });
  assert.equal(r.exitCode, 0, `inner run failed:\n${r.stdout}\n${r.stderr}`);
  const seen = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
    cycles: number;
    vaddr: { slots: number[]; runs: Run[] };
    paddr: { held: number[]; runs: Run[]; modes: string[] };
    hugeUnderPaddr: Run;
    heldAfter: number[];
  };
  process.stdout.write(`# ${JSON.stringify(seen)}\n`);
  for (const [i, run] of seen.vaddr.runs.entries()) {
    assert.equal(run.error, undefined, `vaddr tracker ${i}: ${run.error}`);
    assert.equal(run.scores.length, seen.cycles);
  }
  assert.equal(new Set(seen.vaddr.slots).size, 3, `three distinct kdamonds: ${seen.vaddr.slots}`);
  for (const [i, run] of seen.paddr.runs.entries()) {
    assert.equal(run.error, undefined, `paddr tracker ${i}: ${run.error}`);
    assert.equal(run.scores.length, seen.cycles);
  }
  assert.deepEqual(seen.paddr.modes, ['owned', 'owned']);
  // THP guest, owned paddr: regions are our own frames cut at 2 MiB, so each hugepage is one exact sample.
  const thp = seen.paddr.runs[0]!.scores.at(-1)!;
  assert.ok(thp.recall >= 0.9 && thp.precision >= 0.9, `owned paddr on THP: ${JSON.stringify(thp)}`);
  assert.match(seen.hugeUnderPaddr.error ?? '', /OPT_UNSUPPORTED: damon-paddr cannot see hugetlb memory/);
  assert.deepEqual(seen.heldAfter, [], 'every slot given back');
});
