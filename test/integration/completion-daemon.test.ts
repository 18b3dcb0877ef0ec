/**
 * Bash completion's names, from a real daemon and real libvirt: project,
 * engine and task names come from `virt-tier project show --json`, domain
 * names from `virsh list` on the URI typed with --connect (libvirt's test
 * driver, test:///default, whose one domain is "test"). With no daemon on
 * the socket: no names and nothing on stderr.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { complete } from '../unit/completion-helpers.js';
import { cliBin, startDaemon, writeConfig, type TestDaemon } from './helpers/daemon.js';

describe('bash completion against a daemon and libvirt', () => {
  let d: TestDaemon;
  let bin: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    // `virt-tier` on PATH, as the package installs it: the completion calls the program being completed.
    bin = mkdtempSync(path.join(os.tmpdir(), 'vt-bin-'));
    symlinkSync(cliBin, path.join(bin, 'virt-tier'));
    env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
    d = await startDaemon(['--no-libvirt', '--no-config']);
    const file = writeConfig(
      '[project]\nname=alpha\nloop=1\ninterval=1\nsleep=1\n\n[project]\nname=beta\nloop=1\ninterval=1\nsleep=1\n\n[engine]\nproject=alpha\nname=slide\n\n' +
        '[task]\nproject=alpha\nengine=slide\nname=web\ntype=name\nvalue=nginx\nT=1\n\n[task]\nproject=alpha\nengine=slide\nname=db\ntype=name\nvalue=postgres\nT=1\n',
    );
    assert.equal(d.cli(['obj', 'add', '-f', file]).code, 0);
  });
  after(async () => {
    await d?.stop();
    rmSync(bin, { recursive: true, force: true });
  });

  test('project, engine and task names from the daemon named by -s', () => {
    assert.deepEqual(complete(['virt-tier', 'project', 'start', '-s', d.socket, '-n', ''], env).replies, ['alpha', 'beta']);
    assert.deepEqual(complete(['virt-tier', 'project', 'start', '-s', d.socket, '-n', 'b'], env).replies, ['beta']);
    assert.deepEqual(complete(['virt-tier', 'engine', 'showtaskpages', '-s', d.socket, '-n', 'alpha', '-e', ''], env).replies, ['slide']);
    assert.deepEqual(complete(['virt-tier', 'engine', 'showtaskpages', '-s', d.socket, '-n', 'alpha', '-e', 'slide', '-t', ''], env).replies.sort(), ['db', 'web']);
  });

  test('$VIRT_TIER_SOCKET is the default socket, as for the CLI', () => {
    assert.deepEqual(complete(['virt-tier', 'project', 'stop', '-n', ''], { ...env, VIRT_TIER_SOCKET: d.socket }).replies, ['alpha', 'beta']);
  });

  test('no daemon on the socket: no names, no error, exit 0', () => {
    const r = complete(['virt-tier', 'project', 'start', '-s', 'vt-completion-nobody', '-n', ''], env);
    assert.deepEqual(r, { replies: [], stderr: '', code: 0 });
  });

  test('domain names from libvirt on the --connect URI', () => {
    assert.deepEqual(complete(['virt-tier', 'stats', '-c', 'test:///default', ''], env).replies, ['test']);
    const none = complete(['virt-tier', 'stats', '-c', 'test:///nonexistent-file.xml', ''], env);
    assert.deepEqual(none, { replies: [], stderr: '', code: 0 });
  });
});
