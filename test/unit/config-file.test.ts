import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MAX_CONFIG_FILE_BYTES, loadConfigFile } from '../../src/config/parse.js';
import { VirtTierError } from '../../src/errors.js';
import { HOST, iniOf, project, slideEngine, slideTask, yamlOf } from './config-helpers.js';

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : 'the file checks need root (owner uid 0, chown to 65534); CI runs as root';

const GOOD = [project(), slideEngine(), slideTask()];

async function refused(file: string, why: RegExp): Promise<VirtTierError> {
  try {
    await loadConfigFile(file, HOST);
  } catch (err) {
    assert.ok(err instanceof VirtTierError, String(err));
    assert.equal(err.code, 'OPT_INVAL');
    assert.ok(err.message.includes(file), `message names the file: ${err.message}`);
    assert.match(err.message, why);
    return err;
  }
  assert.fail(`${file} should be refused (${why})`);
}

describe('config file checks', { skip }, () => {
  let dir: string;
  let n = 0;
  const make = (content: string | Buffer, mode = 0o600, ext = '.ini'): string => {
    const file = path.join(dir, `c${n++}${ext}`);
    writeFileSync(file, content);
    chmodSync(file, mode);
    return file;
  };

  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'virt-tier-config-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a root-owned 0600 or 0400 file loads; format by extension', async () => {
    const ini = await loadConfigFile(make(iniOf(GOOD), 0o600), HOST);
    assert.deepEqual(ini.tasks.map((t) => t.name), ['t1']);
    const ro = await loadConfigFile(make(iniOf(GOOD), 0o400), HOST);
    assert.equal(ro.projects[0]!.name, 'p1');
    for (const ext of ['.yaml', '.yml', '.YAML']) {
      const doc = await loadConfigFile(make(yamlOf(GOOD), 0o600, ext), HOST);
      assert.equal(doc.engines[0]!.name, 'slide', ext);
    }
    // YAML text in an INI-named file is read as INI, and fails as such
    await refused(make(yamlOf(GOOD), 0o600, '.conf'), /line 1: not a section header/);
  });

  test('a missing file', async () => {
    await refused(path.join(dir, 'nope.ini'), /does not exist/);
    await refused(path.join(dir, 'nope', 'x.ini'), /does not exist/);
  });

  test('a path through a regular file', async () => {
    await refused(path.join(make(iniOf(GOOD)), 'x.ini'), /not a directory/);
  });

  test('a directory', async () => {
    const sub = path.join(dir, 'adir.ini');
    mkdirSync(sub, { mode: 0o600 });
    await refused(sub, /is a directory; allowed: a regular file/);
  });

  test('a FIFO is refused without blocking', async () => {
    const fifo = path.join(dir, 'fifo.ini');
    execFileSync('mkfifo', ['-m', '0600', fifo]);
    await refused(fifo, /is a FIFO/);
  });

  test('not owned by root', async () => {
    const file = make(iniOf(GOOD));
    chownSync(file, 65534, 65534);
    const err = await refused(file, /owned by uid 65534; allowed: owned by root \(uid 0, gid 0\)/);
    assert.equal(err.value, '65534');
  });

  // etmem (etmemd_common.c file_permission_check) wants uid 0 and gid 0; this test used to accept another group.
  test('a file of root in another group is refused, as etmem', async () => {
    const file = make(iniOf(GOOD));
    chownSync(file, 0, 65534);
    const err = await refused(file, /has group gid 65534; allowed: owned by root \(uid 0, gid 0\)/);
    assert.equal(err.value, '65534');
  });

  test('mode other than 0600/0400', async () => {
    for (const mode of [0o644, 0o640, 0o604, 0o700, 0o200, 0o000, 0o4600, 0o1600, 0o2400]) {
      const err = await refused(make(iniOf(GOOD), mode), /has mode \d{4}; allowed: mode 0600 or 0400/);
      assert.equal(err.value, mode.toString(8).padStart(4, '0'));
    }
  });

  test('at most 10 MiB: a sparse 10 MiB + 1 file is refused before it is read', async () => {
    const file = make('');
    truncateSync(file, MAX_CONFIG_FILE_BYTES + 1);
    await refused(file, /is 10485761 bytes; allowed: at most 10485760 bytes \(10 MiB\)/);
  });

  test('exactly 10 MiB passes the size check (a sparse one then fails as content)', async () => {
    const text = iniOf(GOOD);
    const file = make(text + '#'.repeat(MAX_CONFIG_FILE_BYTES - text.length));
    const doc = await loadConfigFile(file, HOST);
    assert.equal(doc.tasks.length, 1);
    const sparse = make('');
    truncateSync(sparse, MAX_CONFIG_FILE_BYTES);
    const err = await refused(sparse, /line 1: not a section header/);
    assert.doesNotMatch(err.message, /bytes/);
  });

  test('invalid UTF-8 is refused', async () => {
    await refused(make(Buffer.from([0x5b, 0x70, 0xff, 0x5d, 0x0a])), /not valid UTF-8/);
  });

  test('a symlink is judged by the file it leads to (what is read)', async () => {
    const target = make(iniOf(GOOD));
    const link = path.join(dir, 'link.ini');
    symlinkSync(target, link);
    assert.equal((await loadConfigFile(link, HOST)).projects.length, 1);
    chmodSync(target, 0o644);
    await refused(link, /mode 0644/);
  });

  test('content errors are prefixed with the file name and keep field and line', async () => {
    const file = make(iniOf([project({ loop: '0' })]));
    const err = await refused(file, /^config file .*: line 3: project\[0\]\.loop: out of range: "0"; allowed: 1\.\.120$/);
    assert.equal(err.field, 'project[0].loop');
  });
});
