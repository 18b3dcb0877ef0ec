/**
 * etmem's cslide answers at task add and for engine commands without a
 * task, through the real daemon and CLI in the 4-node testbed
 * (inner/etmem-cslide-add.ts): a dead pid or an unmatched process name is
 * OPT_INTER_ERR at add and nothing is added (etmemd_cslide.c
 * cslide_fill_task); `showhostpages` answers while a task works and is
 * OPT_INVAL once none is left (cslide_engine_do_cmd).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runInTestbed, testbedAvailability } from './harness.js';
import type { CliResult } from './inner/e2e-daemon.js';

const availability = testbedAvailability();

test('cslide refuses a dead target at add and answers showhostpages without tasks as etmem', { skip: availability.available ? false : availability.reason, timeout: 400_000 }, async () => {
  const r = await runInTestbed({ command: 'node dist/test/testbed/inner/etmem-cslide-add.js', timeoutMs: 300_000 });
  assert.equal(r.exitCode, 0, `${r.stdout.slice(-2000)}\n${r.stderr.slice(-3000)}`);
  const o = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, CliResult> & { deadPid: number };
  assert.equal(o.base.code, 0, o.base.stderr);
  assert.equal(o.addDeadPid.code, 1);
  assert.match(o.addDeadPid.stderr, new RegExp(`OPT_INTER_ERR: .*task "dead".value: no live process with pid ${o.deadPid}`));
  assert.equal(o.addNoName.code, 1);
  assert.match(o.addNoName.stderr, /OPT_INTER_ERR: .*no live process named "vtnosuchproc"/);
  assert.equal(o.addLive.code, 0, o.addLive.stderr);
  assert.equal(o.start.code, 0, o.start.stderr);
  assert.equal(o.hostPagesWithTask.code, 0, o.hostPagesWithTask.stderr);
  assert.match(o.hostPagesWithTask.stdout, /host pages info \(KB\):\n node      total       used        hot       cold\n/);
  assert.equal(o.delLive.code, 0, o.delLive.stderr);
  assert.notEqual(o.hostPagesNoTask.code, 0);
  assert.match(o.hostPagesNoTask.stderr, /OPT_INVAL: .*no working pid under this cslide engine/);
  const shown = JSON.parse(o.show.stdout) as Array<{ tasks: unknown[] }>;
  assert.deepEqual(shown[0]!.tasks, [], 'neither refused task was added');
});
