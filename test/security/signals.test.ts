/**
 * Signals and the Node inspector, against the real daemon binary:
 * - SIGUSR1 would make Node open its inspector on 127.0.0.1:9229, where any
 *   local user evaluates code as root; the daemon must ignore it (and log);
 * - the inspector enabled from the outside (--inspect, NODE_OPTIONS) is
 *   refused at start;
 * - SIGHUP must not kill the daemon (it reloads the config file): logged,
 *   state kept;
 * - SIGTERM during a slow `obj add` (a plugin whose init takes 60 s) exits
 *   promptly and commits nothing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { cli, daemonBin, repoRoot, startDaemon, writeConfig, type TestDaemon } from '../integration/helpers/daemon.js';
import { FRAME_JS, listeningPorts, runAsNobody, sleep, until } from './helpers.js';

const PROJECT = '[project]\nname=kept\nloop=1\ninterval=1\nsleep=1\n';

describe('SIGUSR1 and SIGHUP', () => {
  let d: TestDaemon;
  before(async () => {
    d = await startDaemon(['--no-libvirt', '--no-config']);
    assert.equal(d.cli(['obj', 'add', '-f', writeConfig(PROJECT)]).code, 0);
  });
  after(() => d?.stop());

  test('kill -USR1: no inspector port opens, nobody cannot reach one, the daemon serves on', async () => {
    const pid = d.proc.pid!;
    assert.deepEqual(listeningPorts(pid), [], 'the daemon listens on no TCP port before');
    process.kill(pid, 'SIGUSR1');
    // Give an inspector (had one been started) ample time to bind.
    await sleep(1000);
    assert.deepEqual(listeningPorts(pid), [], 'no TCP listener appeared');
    await until(() => /SIGUSR1 ignored/.test(d.stderr()), 'the SIGUSR1 log line');
    // The attacker's view: nothing answers on the inspector's port with the daemon's inspector.
    const probe = runAsNobody(`
      const r = await fetch('http://127.0.0.1:9229/json/list').then((x) => x.text()).catch((e) => 'refused ' + e.cause?.code);
      console.log(r.includes(${JSON.stringify(String(pid))}) || r.includes('virt-tierd') ? 'INSPECTOR' : 'none');`);
    assert.equal(probe.stdout.trim(), 'none', probe.stderr);
    assert.ok(d.alive());
    assert.match(d.cli(['project', 'show']).stdout, /kept/);
  });

  test('kill -HUP: a config reload (none with --no-config), logged; the daemon lives, its projects are kept', async () => {
    process.kill(d.proc.pid!, 'SIGHUP');
    await until(() => /config reload/.test(d.stderr()), 'the SIGHUP reload log line');
    await sleep(200);
    assert.ok(d.alive(), 'SIGHUP did not kill the daemon');
    assert.match(d.cli(['project', 'show']).stdout, /kept/);
  });
});

describe('the inspector enabled from outside is refused', () => {
  for (const [what, argv, env] of [
    ['node --inspect', ['--inspect=127.0.0.1:0', daemonBin], {}],
    ['NODE_OPTIONS=--inspect', [daemonBin], { NODE_OPTIONS: '--inspect=127.0.0.1:0' }],
    ['NODE_OPTIONS=--inspect-port (armed for SIGUSR1)', [daemonBin], { NODE_OPTIONS: '--inspect-port=0' }],
  ] as const) {
    test(what, () => {
      const r = spawnSync(process.execPath, [...argv, '-s', `vt-sec-insp-${process.pid}`, '--no-libvirt', '--no-config'], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, ...env } });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /OPT_PERM: refusing to run with the Node inspector enabled/);
    });
  }
});

describe('SIGTERM during a slow obj add', () => {
  // A plugin whose init takes a minute (root-owned in the checkout, as the plugin loader demands).
  const slowPlugin = path.join(repoRoot, 'test/fixtures/plugins/slow-init-engine.js');

  test('exits within seconds, with code 0, and nothing was added', async () => {
    const d = await startDaemon(['--no-libvirt', '--no-config']);
    const conf = writeConfig(`${PROJECT}\n[engine]\nproject=kept\nname=thirdparty\neng_name=slow\nlibname=${slowPlugin}\nops_name=slowEngine\n`);
    const add = spawn(process.execPath, [path.join(path.dirname(daemonBin), 'virt-tier.js'), 'obj', 'add', '-f', conf, '-s', d.socket], { stdio: ['ignore', 'pipe', 'pipe'] });
    let addErr = '';
    add.stderr!.on('data', (b: Buffer) => (addErr += b.toString()));
    const addDone = new Promise<number | null>((r) => add.once('exit', (c) => r(c)));
    await until(() => /slow init started/.test(d.stderr()), 'the plugin init to start');
    const t0 = Date.now();
    const code = await d.stop('SIGTERM');
    const tookMs = Date.now() - t0;
    assert.equal(code, 0, d.stderr());
    // the stop deadline is 10 s; a prompt stop is far below it even on a loaded machine
    assert.ok(tookMs < 8000, `SIGTERM took ${tookMs} ms`);
    assert.doesNotMatch(d.stderr(), /objects added/, 'the add never committed');
    assert.notEqual(await addDone, 0, 'the add reported failure');
    assert.ok(addErr.length > 0);
  });
});

describe('a refused peer gets a clear error, not EPIPE', () => {
  test('nobody asking a root-only daemon: OPT_PERM naming who may connect', async () => {
    const d = await startDaemon(['--no-libvirt', '--no-config']);
    try {
      // The attacker writes its request at once and again after the refusal: never a bare EPIPE for the first.
      const r = runAsNobody(`${FRAME_JS}
        import net from 'node:net';
        const s = net.createConnection({ path: '\\0' + process.argv[1] });
        s.on('connect', () => s.write(frame(1, 'project.show')));
        let got = Buffer.alloc(0);
        s.on('data', (d) => (got = Buffer.concat([got, d])));
        s.on('error', (e) => console.log('ERROR ' + e.code));
        s.on('close', () => console.log(got.length > 4 ? got.subarray(4).toString() : 'NOFRAME'));`, [d.socket]);
      assert.match(r.stdout, /"code":"OPT_PERM"/, r.stdout + r.stderr);
      assert.match(r.stdout, /accepts only root peers/);
      // the CLI says the same as nobody (when the checkout is readable by nobody)
      const viaCli = cli(['project', 'show', '-s', d.socket], { uid: 65534, gid: 65534 });
      if (viaCli.code !== null && !/EACCES|Cannot find module/.test(viaCli.stderr)) {
        assert.notEqual(viaCli.code, 0);
        assert.match(viaCli.stderr, /OPT_PERM|permission denied/);
        assert.doesNotMatch(viaCli.stderr, /write EPIPE/);
      }
      assert.ok(d.alive());
    } finally {
      await d.stop();
    }
  });
});
