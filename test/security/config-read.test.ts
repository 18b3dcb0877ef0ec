/**
 * `obj add -f` from a peer of --allow-gid (nobody:nogroup here) reads the
 * file with the peer's rights, never root's: a symlink to a root 0600 file,
 * to the daemon's /proc/PID/environ or to /proc/self/environ gives the peer
 * nothing it could not read itself. Errors quote at most a short, printable
 * excerpt, for root peers too. The peer's own file works.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDaemon, writeConfig, type TestDaemon } from '../integration/helpers/daemon.js';
import { FRAME_JS, NOBODY, fdCount, runAsNobody } from './helpers.js';

const SECRET = 'TOPSECRET-' + 'x'.repeat(30) + '-TAIL-OF-THE-SECRET';
const MARKER = 'VT_SEC_ENV_MARKER_' + process.pid;

/** Attacker: sends one request as nobody and prints the daemon's reply. */
const ASK_JS = `${FRAME_JS}
import net from 'node:net';
const [name, cmd, args] = process.argv.slice(1);
const s = net.createConnection({ path: '\\0' + name });
s.on('connect', () => s.write(frame(1, cmd, JSON.parse(args))));
let got = Buffer.alloc(0);
s.on('data', (d) => { got = Buffer.concat([got, d]); if (got.length >= 4 && got.length >= 4 + got.readUInt32BE(0)) { console.log(got.subarray(4, 4 + got.readUInt32BE(0)).toString()); process.exit(0); } });
s.on('error', (e) => { console.log('ERROR ' + e.code); process.exit(1); });
`;

describe('obj add -f as an allowed-gid peer', () => {
  let d: TestDaemon;
  let dir: string;
  let secretFile: string;
  const ask = (cmd: string, args: Record<string, unknown>): Record<string, unknown> => {
    const r = runAsNobody(ASK_JS, [d.socket, cmd, JSON.stringify(args)]);
    assert.ok(r.stdout.trim().startsWith('{'), `reply: ${r.stdout} ${r.stderr}`);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };
  const showNames = (): string[] => ((JSON.parse(d.cli(['project', 'show', '--json']).stdout) as Array<{ name: string }>).map((p) => p.name)).sort();

  before(async () => {
    process.env[MARKER] = SECRET;
    try {
      d = await startDaemon(['--no-libvirt', '--no-config', '--allow-gid', String(NOBODY.gid)]);
    } finally {
      delete process.env[MARKER];
    }
    assert.equal(d.cli(['obj', 'add', '-f', writeConfig('[project]\nname=kept\nloop=1\ninterval=1\nsleep=1\n')]).code, 0);
    // nobody's own directory, where it plants its symlinks
    dir = mkdtempSync(path.join(os.tmpdir(), 'vt-sec-conf-'));
    chownSync(dir, NOBODY.uid, NOBODY.gid);
    chmodSync(dir, 0o700);
    // a root 0600 file that breaks the INI parser on its first line (the old error echoed the line)
    secretFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'vt-sec-secret-')), 'secret.conf');
    chmodSync(path.dirname(secretFile), 0o755); // nobody may reach it; only the file's mode stops it
    writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });
  });
  after(async () => {
    await d?.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(path.dirname(secretFile), { recursive: true, force: true });
  });

  for (const [what, target] of [
    ['a root 0600 file', () => secretFile],
    ["the daemon's /proc/PID/environ", () => `/proc/${d.proc.pid}/environ`],
    ['/proc/self/environ', () => '/proc/self/environ'],
  ] as const) {
    test(`a symlink to ${what}: refused, nothing of it in the reply, state kept`, () => {
      const link = path.join(dir, `link-${what.replace(/\W+/g, '-')}`);
      runAsNobody(`import fs from 'node:fs'; fs.symlinkSync(process.argv[1], process.argv[2]);`, [target(), link]);
      const fdsBefore = fdCount(d.proc.pid!);
      const reply = ask('obj.add', { file: link });
      const text = JSON.stringify(reply);
      assert.equal(reply.ok, false, text);
      assert.doesNotMatch(text, /TOPSECRET|TAIL-OF-THE-SECRET/);
      assert.doesNotMatch(text, new RegExp(MARKER));
      assert.doesNotMatch(text, /PATH=|HOME=/, 'no environment of any process');
      if (target() !== '/proc/self/environ') assert.match(text, /cannot be opened by the requesting user \(EACCES\)/);
      assert.deepEqual(showNames(), ['kept']);
      assert.ok(d.alive());
      assert.ok(fdCount(d.proc.pid!) <= fdsBefore + 1, 'no fd leaked');
    });
  }

  test("the peer's own 0600 file is added (read with its rights); a file of another user is refused", () => {
    const own = path.join(dir, 'mine.ini');
    runAsNobody(`import fs from 'node:fs'; fs.writeFileSync(process.argv[1], '[project]\\nname=nobodys\\nloop=1\\ninterval=1\\nsleep=1\\n', { mode: 0o600 });`, [own]);
    const reply = ask('obj.add', { file: own });
    assert.equal(reply.ok, true, JSON.stringify(reply));
    assert.deepEqual(showNames(), ['kept', 'nobodys']);
    // a file nobody can read but does not own (world-readable, owned by another uid): refused on its owner
    const other = path.join(dir, 'other.ini');
    writeFileSync(other, '[project]\nname=others\nloop=1\ninterval=1\nsleep=1\n', { mode: 0o600 });
    chownSync(other, 12345, 12345);
    chmodSync(other, 0o604);
    const r2 = ask('obj.add', { file: other });
    assert.equal(r2.ok, false);
    assert.match(JSON.stringify(r2), /owned by uid 12345/);
    assert.deepEqual(showNames(), ['kept', 'nobodys']);
  });
});

describe('errors quote only a short excerpt of the file', () => {
  test('root peer, a root 0600 file with a long secret first line: at most 40 printable characters of it', async () => {
    const d = await startDaemon(['--no-libvirt', '--no-config']);
    try {
      // NUL and an escape sequence inside the quoted part: shown as '?', never sent raw to a terminal
      const file = writeConfig(`${SECRET.slice(0, 12)}\u0000\u001b[31m${SECRET.slice(12)}\n`);
      const r = d.cli(['obj', 'add', '-f', file]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /line 1: not a section header/);
      assert.match(r.stderr, /TOPSECRET-xx\?\?\[31m/);
      assert.doesNotMatch(r.stderr, /TAIL-OF-THE-SECRET/);
      assert.doesNotMatch(r.stderr, /[\u0000\u001b]/);
      assert.match(r.stderr, /\.\.\.\(\d+ characters\)/);
      assert.ok(d.alive());
    } finally {
      await d.stop();
    }
  });
});
