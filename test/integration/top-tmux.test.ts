/**
 * `virt-tier top` in a real terminal: tmux (on a private server socket)
 * runs it against a real daemon with two tasks; keys are sent with
 * send-keys and the screen read with capture-pane. Also: a terminal too
 * small, no daemon, and --json, with the exit codes docs/cli.md documents.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { cli, cliBin, startDaemon, writeConfig, type TestDaemon } from './helpers/daemon.js';

const server = `vt-top-${process.pid}`;
const tmux = (...args: string[]): string => {
  const r = spawnSync('tmux', ['-L', server, ...args], { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};
const pane = (session: string): string => tmux('capture-pane', '-p', '-t', session);

async function until(session: string, what: RegExp, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = pane(session);
    if (what.test(text)) return text;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} in:\n${text}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** Runs top in a new tmux session of the given size; the shell prints top's exit code after it. */
function session(name: string, size: { columns: number; rows: number }, args: string[]): string {
  const cmd = `${process.execPath} ${cliBin} top ${args.join(' ')}; echo EXIT=$?; sleep 60`;
  tmux('new-session', '-d', '-s', name, '-x', String(size.columns), '-y', String(size.rows), cmd);
  return name;
}

const hasTmux = spawnSync('tmux', ['-V']).status === 0;

describe('virt-tier top in tmux', { skip: hasTmux ? undefined : 'tmux missing: scripts/setup-service.sh installs it' }, () => {
  let d: TestDaemon;
  const targets: ChildProcess[] = [];

  before(async () => {
    d = await startDaemon(['--no-libvirt', '--no-config']);
    for (let i = 0; i < 2; i++) {
      const child = spawn('sleep', ['300'], { stdio: 'ignore' });
      await once(child, 'spawn');
      targets.push(child);
    }
    const task = (name: string, pid: number): string => `[task]\nproject=topp\nengine=slide\nname=${name}\ntype=pid\nvalue=${pid}\nT=1\n`;
    const file = writeConfig(`[project]\nname=topp\nloop=1\ninterval=1\nsleep=1\n\n[engine]\nproject=topp\nname=slide\n\n${task('alpha', targets[0]!.pid!)}\n${task('beta', targets[1]!.pid!)}`);
    const added = d.cli(['obj', 'add', '-f', file]);
    assert.equal(added.code, 0, added.stderr);
  });

  after(async () => {
    spawnSync('tmux', ['-L', server, 'kill-server']);
    for (const t of targets) t.kill();
    await d?.stop();
  });

  test('shows one row per task, sorts by the key pressed, reverses, quits with 0', async () => {
    const s = session('live', { columns: 100, rows: 20 }, ['-s', d.socket, '-d', '1']);
    let screen = await until(s, /alpha[\s\S]*beta|beta[\s\S]*alpha/);
    assert.match(screen, /virt-tier top - \d\d:\d\d:\d\d/);
    assert.match(screen, /NAME +DRAMv +AEP +SWAP +HOT +COLD +MOVES\/s +ERR\/s +STATE/);
    tmux('send-keys', '-t', s, 'n');
    screen = await until(s, /sort name(?! \()/);
    assert.ok(screen.indexOf('alpha') < screen.indexOf('beta'), screen);
    assert.match(screen, /NAMEv/);
    tmux('send-keys', '-t', s, 'r');
    screen = await until(s, /sort name \(reversed\)/);
    assert.ok(screen.indexOf('beta') < screen.indexOf('alpha'), screen);
    // it refreshes: after a delay the rates have two samples and show numbers, not "-"
    await until(s, /alpha +\S+ +\S+ +\S+ +\S+ +\S+ +\d\S* +\d/);
    tmux('send-keys', '-t', s, 'q');
    screen = await until(s, /EXIT=\d+/);
    assert.match(screen, /EXIT=0/);
    assert.doesNotMatch(screen, /DRAMv/, 'the alternate screen is left: the shell\'s screen is back');
  });

  test('a terminal smaller than 60x8: a clear message, exit 3', async () => {
    const s = session('small', { columns: 50, rows: 6 }, ['-s', d.socket]);
    const screen = await until(s, /EXIT=\d+/);
    assert.match(screen, /EXIT=3/);
    assert.match(screen.replace(/\n/g, ''), /needs at least 60x8/);
  });

  test('no daemon: a clear message naming the socket, exit 1', async () => {
    const s = session('nodaemon', { columns: 100, rows: 20 }, ['-s', 'vt-top-nobody-here']);
    const screen = await until(s, /EXIT=\d+/);
    assert.match(screen, /EXIT=1/);
    assert.match(screen.replace(/\n/g, ''), /cannot reach virt-tierd on socket "vt-top-nobody-here"/);
  });

  test('--json: one array, a row per task with every column', () => {
    const r = cli(['top', '--json', '-d', '1', '--sort', 'name', '-s', d.socket]);
    assert.equal(r.code, 0, r.stderr);
    const rows = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
    assert.deepEqual(rows.map((x) => x.name), ['alpha', 'beta']);
    for (const row of rows) {
      for (const k of ['dramBytes', 'aepBytes', 'swapBytes', 'hotBytes', 'coldBytes', 'movesBytesPerS', 'errorsPerS']) assert.equal(typeof row[k], 'number', k);
    }
    assert.equal(path.basename(cliBin), 'virt-tier.js');
  });
});
