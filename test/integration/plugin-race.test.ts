/**
 * The plugin-swap attack, for real: an unprivileged user (nobody, through
 * setpriv) swaps a root-owned plugin with their own file in a loop with
 * renameat2(RENAME_EXCHANGE) while root's daemon adds the plugin again and
 * again. The user's file, if ever run, writes a marker file as root. The
 * daemon must never run it: a directory others can change is refused
 * before anything is opened, and in a root-owned sticky directory the
 * kernel refuses the swap and the daemon loads root's bytes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot, startDaemon, writeConfig, type TestDaemon } from './helpers/daemon.js';

const NOBODY = 65534;
const TRIES = 12;

const goodSource = `export const raceEngine = { startTask(task) { task.reportStats({ good: true }); } };\n`;
const evilSource = (marker: string): string =>
  `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker)}, 'ran as uid ' + process.getuid());\nexport const raceEngine = { startTask() {} };\n`;

function config(project: string, libname: string): string {
  return `[project]\nname=${project}\nloop=1\ninterval=1\nsleep=1\n\n[engine]\nproject=${project}\nname=thirdparty\neng_name=r\nlibname=${libname}\nops_name=raceEngine\n`;
}

interface Attacker { proc: ChildProcess; stop(): Promise<{ swaps: number; failures: number; errno: string }> }

/** Starts the swap loop as nobody; resolves once it runs. */
function startAttacker(helper: string, a: string, b: string): Promise<Attacker> {
  return new Promise((resolve, reject) => {
    const proc = spawn('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', helper, a, b, '120'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    // 'close', not 'exit': the final count line may still be in the pipe when 'exit' fires (seen on a loaded host)
    const exited = new Promise<void>((r) => proc.once('close', () => r()));
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.startsWith('ready\n')) {
        resolve({
          proc,
          async stop() {
            proc.kill('SIGTERM');
            await exited;
            const m = /swaps (\d+) failures (\d+) errno (.*)/.exec(out);
            assert.ok(m, `attacker output: ${out} ${err}`);
            return { swaps: Number(m[1]), failures: Number(m[2]), errno: m[3].trim() };
          },
        });
      }
    });
    proc.once('exit', (code) => reject(new Error(`attacker exited (${code}) before it ran: ${err}`)));
  });
}

describe('a plugin swapped by an unprivileged user never runs as root', () => {
  let d: TestDaemon;
  let work: string;
  let helper: string;
  let marker: string;
  before(async () => {
    work = mkdtempSync(path.join(os.tmpdir(), 'vt-race-'));
    helper = path.join(work, 'rename-exchange');
    const cc = spawnSync('cc', ['-O2', '-Wall', '-o', helper, path.join(repoRoot, 'test/integration/helpers/rename-exchange.c')], { encoding: 'utf8' });
    assert.equal(cc.status, 0, cc.stderr);
    chmodSync(work, 0o755);
    // The marker lives where only root can write: if it appears, root ran the user's code.
    const markerDir = path.join(work, 'root-only');
    mkdirSync(markerDir, { mode: 0o700 });
    marker = path.join(markerDir, 'pwned');
    d = await startDaemon();
  });
  after(async () => {
    await d.stop();
    rmSync(work, { recursive: true, force: true });
  });

  /** A directory of the given mode holding root's plugin.js and nobody's evil.js. */
  function arena(name: string, mode: number): { dir: string; plugin: string; evil: string } {
    const dir = path.join(work, name);
    mkdirSync(dir);
    chmodSync(dir, mode);
    const plugin = path.join(dir, 'plugin.js');
    writeFileSync(plugin, goodSource, { mode: 0o644 });
    const evil = path.join(dir, 'evil.js');
    writeFileSync(evil, evilSource(marker), { mode: 0o644 });
    chownSync(evil, NOBODY, NOBODY);
    return { dir, plugin, evil };
  }

  test(`world-writable directory: refused on every one of ${TRIES} tries while the swap runs`, async () => {
    const { dir, plugin, evil } = arena('open', 0o777);
    const attacker = await startAttacker(helper, plugin, evil);
    try {
      for (let i = 0; i < TRIES; i++) {
        const r = d.cli(['obj', 'add', '-f', writeConfig(config(`open${i}`, plugin))]);
        assert.equal(r.code, 1, r.stdout);
        // A plugin that will not load is OPT_INTER_ERR, as etmem answers a failed engine set-up (etmemd_project_add_engine).
        assert.match(r.stderr, new RegExp(`OPT_INTER_ERR: engine "r"\\.libname: directory ${dir} can be changed by users other than root`));
      }
    } finally {
      const result = await attacker.stop();
      // The attack was real: the user could swap the files all along.
      assert.ok(result.swaps > 0, `no swap succeeded: ${JSON.stringify(result)}`);
    }
    assert.equal(existsSync(marker), false, 'the user\'s code ran as root');
    assert.equal(d.alive(), true);
    assert.match(d.cli(['project', 'show']).stdout, /no project exists/);
  });

  test(`root-owned sticky directory: the kernel refuses the swap; root's plugin loads on each of ${TRIES / 2} tries`, async () => {
    const { plugin, evil } = arena('sticky', 0o1777);
    const attacker = await startAttacker(helper, plugin, evil);
    try {
      for (let i = 0; i < TRIES / 2; i++) {
        const file = writeConfig(config('sticky', plugin));
        const r = d.cli(['obj', 'add', '-f', file]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(d.cli(['obj', 'del', '-f', file]).code, 0);
      }
    } finally {
      const result = await attacker.stop();
      assert.equal(result.swaps, 0, JSON.stringify(result));
      assert.equal(result.errno, 'Operation not permitted');
    }
    assert.equal(existsSync(marker), false, 'the user\'s code ran as root');
  });

  test('a plugin in a safe directory loads and runs; a symlink, a user-owned file and an unsafe ancestor are refused', async () => {
    const safe = path.join(work, 'safe');
    mkdirSync(safe, { mode: 0o755 });
    const plugin = path.join(safe, 'plugin.js');
    writeFileSync(plugin, goodSource, { mode: 0o644 });
    const file = writeConfig(config('safe', plugin) + '\n[task]\nproject=safe\nengine=r\nname=t\ntype=pid\nvalue=1\n');
    assert.equal(d.cli(['obj', 'add', '-f', file]).code, 0);
    assert.equal(d.cli(['project', 'start', '-n', 'safe']).code, 0);
    const deadline = Date.now() + 20_000;
    let stats: unknown;
    while (Date.now() < deadline) {
      stats = (JSON.parse(d.cli(['project', 'show', '-n', 'safe', '--json']).stdout) as Array<{ tasks: Array<{ stats?: unknown }> }>)[0].tasks[0].stats;
      if (stats !== undefined) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(stats, { good: true });
    assert.equal(d.cli(['obj', 'del', '-f', file]).code, 0);

    const link = path.join(safe, 'link.js');
    symlinkSync(plugin, link);
    assert.match(d.cli(['obj', 'add', '-f', writeConfig(config('l', link))]).stderr, /libname: .*link\.js is a symbolic link/);
    const theirs = path.join(safe, 'theirs.js');
    writeFileSync(theirs, goodSource, { mode: 0o644 });
    chownSync(theirs, NOBODY, NOBODY);
    assert.match(d.cli(['obj', 'add', '-f', writeConfig(config('u', theirs))]).stderr, /must be owned by root .*uid 65534/);
    const open = path.join(work, 'open-above');
    mkdirSync(path.join(open, 'inner'), { recursive: true });
    chmodSync(open, 0o777);
    const deep = path.join(open, 'inner', 'plugin.js');
    writeFileSync(deep, goodSource, { mode: 0o644 });
    assert.match(d.cli(['obj', 'add', '-f', writeConfig(config('a', deep))]).stderr, new RegExp(`directory ${open} can be changed`));
    // A symlink to the safe directory, but in a directory others can change: they could re-point it.
    const viaLink = path.join(open, 'to-safe');
    symlinkSync(safe, viaLink);
    assert.match(d.cli(['obj', 'add', '-f', writeConfig(config('v', path.join(viaLink, 'plugin.js')))]).stderr, new RegExp(`directory ${open} can be changed`));
    assert.match(d.cli(['project', 'show']).stdout, /no project exists/);
  });
});
