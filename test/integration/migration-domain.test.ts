/**
 * migrate-hints on a real libvirt domain (TCG guest with two guest NUMA
 * cells on hugetlbfs, test/libvirt/guest.ts): RAMBlocks by the names
 * QEMU's migration stream uses, resolved by domain name and by QEMU pid.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runMigrateHints } from '../../src/cli/migrate-hints.js';
import { decodeBitmaps, BITMAP_FLAGS } from '../../src/migration/bitmap.js';
import { createGuest, destroyAll, ensureLibvirt, qemuPidOf } from '../libvirt/guest.js';

async function hints(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runMigrateHints(args, { out: (t) => (out += t), err: (t) => (err += t) }, { accessFor: async () => undefined });
  return { code, out, err };
}

describe('migrate-hints on a libvirt domain', () => {
  let tmp: string;
  before(() => {
    ensureLibvirt();
    tmp = mkdtempSync(join(tmpdir(), 'migrate-hints-dom-'));
  });
  after(() => {
    destroyAll();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('RAMBlocks ram-node0/1 (hugetlb, preallocated): present, never swapped; by name and by pid; bitmaps per RAMBlock', async () => {
    const g = createGuest({ tag: 'mhint', numaCells: 2 });
    const r = await hints([g.name, '--estimate', '--bandwidth', '100', '--dirty-sample', '0']);
    assert.equal(r.code, 0, r.err);
    const doc = JSON.parse(r.out);
    assert.equal(doc.domain, g.name);
    assert.deepEqual(doc.ramBlocks.map((b: { id: string }) => b.id), ['ram-node0', 'ram-node1']);
    for (const b of doc.ramBlocks) {
      assert.equal(b.kind, 'hugetlb');
      assert.equal(b.swap, 'never (hugetlb)');
      assert.equal(b.pageSizeBytes, 2 * 1024 * 1024);
      assert.equal(b.lengthBytes, 64 * 1024 * 1024);
      assert.equal(b.pages.present, 16384, 'prealloc=true: every page present');
      assert.equal(b.pages.swapped, 0);
      assert.equal(b.presentPagesByNode['0'], 16384);
    }
    // 128 MiB present, mostly zero (a small idle guest), bandwidth 100 MiB/s: one pass whose bytes are
    // 4104 per data page and 9 per zero page, at 104857.6 B/ms, then the stop. Hugetlb: QEMU looks at
    // what is unsent only every 64 host pages (the whole 64 MiB block), so nothing is left for the stop.
    const run = doc.estimate.withoutSkip;
    assert.deepEqual([run.tail.normalPages, run.tail.zeroPages], [0, 0]);
    assert.equal(run.iterations, 1);
    assert.equal(run.normalPages + run.zeroPages, 32768 + run.stopCopyPages);
    const zero = doc.ramBlocks.reduce((n: number, b: { pages: { zero: number } }) => n + b.pages.zero, 0);
    assert.ok(zero > 8192, `most of an idle guest's preallocated pages read as zero (${zero})`);
    // the end of the pass (its tail) goes after the stop, at stream speed
    assert.equal(run.passes[0].bytes + run.tail.bytes, (32768 - zero) * 4104 + zero * 9);
    // at the limit but for the last quota window's bytes (no wait there: 600 MiB/s)
    const fast = run.tail.liveUnthrottledBytes;
    assert.ok(Math.abs(run.passes[0].timeMs - ((run.passes[0].bytes - fast) / 104857.6 + fast / 629145.6)) < 1e-6);
    assert.equal(doc.estimate.savedBytes, 0);

    const pid = qemuPidOf(g.name);
    const byPid = await hints(['--pid', String(pid), '--format', 'bitmap', '--out', tmp]);
    assert.equal(byPid.code, 0, byPid.err);
    assert.deepEqual(readdirSync(tmp).sort(), ['ram-node0.vtbm', 'ram-node1.vtbm']);
    const recs = decodeBitmaps(readFileSync(join(tmp, 'ram-node1.vtbm')));
    assert.equal(recs[0]!.header.ramBlockId, 'ram-node1');
    assert.equal(recs[0]!.header.setBitCount, 16384);
    assert.equal(recs[0]!.header.flags & BITMAP_FLAGS.hugetlb, BITMAP_FLAGS.hugetlb);
    assert.equal(recs[1]!.header.setBitCount, 0);
    assert.equal(recs.at(-1)!.header.state, 'zero');
  });

  test('an unknown domain is a clear error', async () => {
    const r = await hints(['vt-test-no-such-domain-mhint']);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /no such domain/);
  });
});
