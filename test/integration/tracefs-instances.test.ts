/**
 * Real tracefs on this host: the instances a crashed virt-tierd leaves
 * (`virt-tier-PID-N`) are removed, live ones and other users' are not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { TRACEFS, mountTracefs, sweepStaleInstances } from '../../src/platform/tracefs.js';

const root = process.getuid?.() === 0;

test('sweepStaleInstances removes the instances of dead virt-tierd PIDs only', { skip: root ? false : 'needs root (tracefs instances)' }, async (t) => {
  try {
    await mountTracefs();
  } catch (err) {
    t.skip(`no tracefs here: ${(err as Error).message}`);
    return;
  }
  // a PID that existed and is gone: a child that exited and was reaped
  const dead = spawnSync('true').pid!;
  const stale = `virt-tier-${dead}-1`;
  const live = `virt-tier-${process.pid}-424242`;
  const foreign = `not-virt-tier-${dead}-1`;
  const dirs = [stale, live, foreign].map((n) => `${TRACEFS}/instances/${n}`);
  for (const d of dirs) fs.mkdirSync(d);
  try {
    const removed = sweepStaleInstances();
    assert.ok(removed.includes(stale), `removed ${JSON.stringify(removed)}`);
    assert.ok(!fs.existsSync(dirs[0]!), 'the dead daemon\'s instance is gone');
    assert.ok(fs.existsSync(dirs[1]!), 'a live PID\'s instance stays');
    assert.ok(fs.existsSync(dirs[2]!), 'an instance of another name stays');
    assert.deepEqual(sweepStaleInstances().filter((n) => n === live || n === foreign), []);
  } finally {
    for (const d of dirs) {
      try {
        fs.rmdirSync(d);
      } catch {
        // removed above or never made
      }
    }
  }
});
