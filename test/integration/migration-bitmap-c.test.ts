/**
 * The C reader printed in docs/migration-hints.md, compiled and run on a
 * file the TypeScript writer produced: the documented layout is the one
 * the code writes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeBitmap, PageBitmap, BITMAP_FLAGS } from '../../src/migration/bitmap.js';

const root = join(import.meta.dirname, '..', '..', '..');

test('the documented C reader reads what the writer writes', () => {
  const doc = readFileSync(join(root, 'docs', 'migration-hints.md'), 'utf8');
  const m = /```c\n([\s\S]*?)```/.exec(doc);
  assert.ok(m, 'docs/migration-hints.md has a ```c block');
  const dir = mkdtempSync(join(tmpdir(), 'vtbm-c-'));
  try {
    writeFileSync(join(dir, 'reader.c'), m[1]!);
    execFileSync('cc', ['-O2', '-Wall', '-Werror', '-o', join(dir, 'reader'), join(dir, 'reader.c')]);
    const length = 3 * 1048576 + 4096 * 5; // 773 pages
    const swapped = PageBitmap.forLength(length);
    swapped.setRange(100, 50);
    swapped.set(772);
    const present = PageBitmap.forLength(length);
    present.setRange(7, 3);
    const common = { ramBlockLengthBytes: length, mappingPageSizeBytes: 4096, snapshotId: 42n, snapshotTimeMs: Date.now() };
    const zero = PageBitmap.forLength(length);
    zero.setRange(8, 400);
    writeFileSync(join(dir, 'x.vtbm'), Buffer.concat([
      encodeBitmap({ ...common, state: 'present', ramBlockId: 'ram-node1', bitmap: present }),
      encodeBitmap({ ...common, state: 'swapped', ramBlockId: 'ram-node1', flags: BITMAP_FLAGS.shared, bitmap: swapped }),
      encodeBitmap({ ...common, state: 'zero', ramBlockId: 'ram-node1', flags: BITMAP_FLAGS.zeroSampled, bitmap: zero }),
    ]));
    const out = execFileSync(join(dir, 'reader'), [join(dir, 'x.vtbm')], { encoding: 'utf8' });
    assert.equal(out,
      'ram-node1 present pages=773 set=3 counted=3 first=7 flags=0\n' +
      'ram-node1 swapped pages=773 set=51 counted=51 first=100 flags=4\n' +
      'ram-node1 zero pages=773 set=400 counted=400 first=8 flags=8\n');
    // The version-1 reader (the same program with v1's version check) detects the new version and stops.
    const v1Source = m[1]!.replace('le16(h + 4) != 2', 'le16(h + 4) != 1').replace('VTBM v2 record', 'VTBM v1 record');
    assert.notEqual(v1Source, m[1], 'the reader checks the version');
    writeFileSync(join(dir, 'reader-v1.c'), v1Source);
    execFileSync('cc', ['-O2', '-Wall', '-Werror', '-o', join(dir, 'reader-v1'), join(dir, 'reader-v1.c')]);
    const old = spawnSync(join(dir, 'reader-v1'), [join(dir, 'x.vtbm')], { encoding: 'utf8' });
    assert.equal(old.status, 1);
    assert.equal(old.stdout, '', 'nothing misread');
    assert.match(old.stderr, /not a VTBM v1 record/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
