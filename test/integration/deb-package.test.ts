/**
 * The Debian package on this very machine: built from the tree by
 * scripts/build-deb.sh, installed with dpkg -i, its daemon run the way the
 * installed unit runs it (the unit's ExecStart line, as root, with the
 * packaged default config, stderr on a stream named by JOURNAL_STREAM as
 * systemd does, inside the unit's capability bounding set and
 * NoNewPrivileges through setpriv), checked with `virt-tier project show`,
 * reloaded with the unit's ExecReload, stopped, then purged: nothing of it
 * is left. The unit itself is checked with `systemd-analyze verify` (this
 * machine has systemd's tools but does not boot with systemd, so the unit
 * cannot be started for real).
 *
 * It changes the host (dpkg database, /usr, /etc, the qemu hook), so it
 * skips rather than disturb: when virt-tier is already installed, when a
 * virt-tier qemu hook is already in place (another test's), or when the
 * unit's socket name is taken by another daemon.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, fstatSync, lstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { canConnect, repoRoot } from './helpers/daemon.js';

const UNIT = '/lib/systemd/system/virt-tierd.service';
const HOOK = '/etc/libvirt/hooks/qemu.d/virt-tier';

function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): { code: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: opts.timeoutMs ?? 120_000, env: opts.env ?? process.env });
  return { code: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

/** A unit's `Key=` values (systemd.syntax(7): comments, no continuation lines in ours). */
function unitValues(text: string, key: string): string[] {
  return text.split('\n').map((l) => l.trim()).filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
}

/** An Exec*= line as argv: prefixes (@-:+!) dropped, words split on blanks, $MAINPID replaced. */
function execArgv(line: string, mainPid?: number): string[] {
  const words = line.replace(/^[@\-:+!]+/, '').trim().split(/\s+/);
  return words.map((w) => (w === '$MAINPID' && mainPid !== undefined ? String(mainPid) : w));
}

async function skipReason(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'needs root (dpkg -i)';
  if (await canConnect('virt-tier')) return 'socket "virt-tier" is in use by another daemon: the unit\'s ExecStart could not listen';
  if (run('dpkg-query', ['-W', '-f=${Status}', 'virt-tier']).out.includes('install ok installed')) return 'virt-tier is already installed on this machine';
  if (existsSync(HOOK) || existsSync('/etc/libvirt/hooks/qemu')) return `a qemu hook is already installed (${HOOK} or hooks/qemu): another test's`;
  return undefined;
}

describe('Debian package: build, install, run as the unit does, purge', { concurrency: false }, async () => {
  const reason = await skipReason();
  let deb = '';
  let work = '';
  let listed: string[] = [];
  let hadEtcDir = false;
  let installed = false;

  before(async () => {
    if (reason) return;
    hadEtcDir = existsSync('/etc/virt-tier');
    work = mkdtempSync(path.join(os.tmpdir(), 'vt-deb-'));
    const b = run('bash', [path.join(repoRoot, 'scripts/build-deb.sh'), work], { timeoutMs: 300_000 });
    assert.equal(b.code, 0, b.out);
    deb = b.out.trim().split('\n').pop()!;
  });

  after(() => {
    if (reason) return;
    // Whatever failed above, leave the machine as it was.
    if (installed) run('dpkg', ['--purge', 'virt-tier']);
    if (hadEtcDir) mkdirSync('/etc/virt-tier', { recursive: true, mode: 0o755 });
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('dpkg -i installs programs on PATH, the 0600 config, the unit and the qemu hook', { skip: reason }, () => {
    const r = run('dpkg', ['-i', deb]);
    installed = true;
    assert.equal(r.code, 0, r.out);
    listed = run('dpkg', ['-L', 'virt-tier']).out.split('\n').filter((l) => l.startsWith('/'));
    for (const bin of ['/usr/bin/virt-tierd', '/usr/bin/virt-tier']) {
      assert.ok(statSync(bin).mode & 0o111, `${bin} executable`);
    }
    const conf = statSync('/etc/virt-tier/virt-tier.conf');
    assert.deepEqual([conf.mode & 0o7777, conf.uid, conf.gid], [0o600, 0, 0]);
    assert.match(readFileSync(HOOK, 'utf8'), /virt-tier's libvirt qemu hook/);
    for (const page of ['/usr/share/man/man8/virt-tierd.8.gz', '/usr/share/man/man8/virt-tier.8.gz', '/usr/share/man/man5/virt-tier.conf.5.gz']) assert.ok(existsSync(page), page);
    assert.ok(existsSync('/usr/share/bash-completion/completions/virt-tier'), 'bash completion');
    assert.ok(existsSync('/usr/share/doc/virt-tier/dashboards/grafana-dashboard.json'), 'dashboard');
    assert.equal(run('virt-tier', ['help']).code, 0);
    assert.match(run('virt-tierd', ['--help']).out, /--config FILE/);
  });

  test('the installed unit passes systemd-analyze verify', { skip: reason }, () => {
    const r = run('systemd-analyze', ['verify', UNIT]);
    assert.equal(r.code, 0, r.out);
    assert.equal(r.out.trim(), '', `no warnings: ${r.out}`);
    const unit = readFileSync(UNIT, 'utf8');
    assert.equal(unitValues(unit, 'ExecReload').length, 1);
    for (const key of ['ProtectHome', 'PrivateTmp', 'NoNewPrivileges', 'ProtectKernelModules', 'RestrictSUIDSGID', 'LockPersonality']) {
      assert.deepEqual(unitValues(unit, key), ['true'], key);
    }
  });

  test('ExecStart as the unit runs it: forks, listens on the CLI\'s default socket, logs for the journal; ExecReload reloads; stop cleans up', { skip: reason }, async () => {
    const unit = readFileSync(UNIT, 'utf8');
    const [execStart] = unitValues(unit, 'ExecStart');
    const pidFile = unitValues(unit, 'PIDFile')[0]!;
    const caps = unitValues(unit, 'CapabilityBoundingSet')[0]!.split(/\s+/).map((c) => c.replace(/^CAP_/, '').toLowerCase());
    const logFile = path.join(work, 'journal');
    const fd = openSync(logFile, 'w');
    const st = fstatSync(fd);
    // The unit's bounding set and NoNewPrivileges, as systemd would apply them.
    const argv = ['--bounding-set', `-all,${caps.map((c) => `+${c}`).join(',')}`, '--no-new-privs', '--', ...execArgv(execStart!)];
    const started = spawnSync('setpriv', argv, { stdio: ['ignore', fd, fd], timeout: 60_000, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', JOURNAL_STREAM: `${st.dev}:${st.ino}` } });
    closeSync(fd);
    const log = (): string => readFileSync(logFile, 'utf8');
    assert.equal(started.status, 0, `ExecStart: ${log()}`);
    const mainPid = Number(readFileSync(pidFile, 'utf8').trim());
    try {
      assert.ok(mainPid > 1 && existsSync(`/proc/${mainPid}`), 'the pidfile names a live daemon');
      // The packaged config holds no objects; the CLI finds the daemon with no -s.
      const show = run('virt-tier', ['project', 'show']);
      assert.equal(show.code, 0, show.out);
      assert.equal(show.out, 'no project exists\n');
      const status = readFileSync(`/proc/${mainPid}/status`, 'utf8');
      assert.match(status, /^NoNewPrivs:\s+1$/m);
      assert.match(log(), /^<6>loaded config .*\/etc\/virt-tier\/virt-tier\.conf/m);

      const reload = run(...(([cmd, ...rest]) => [cmd!, rest] as [string, string[]])(execArgv(unitValues(unit, 'ExecReload')[0]!, mainPid)));
      assert.equal(reload.code, 0, reload.out);
      const deadline = Date.now() + 20_000;
      while (!/^<6>config reloaded/m.test(log()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.match(log(), /^<6>config reloaded/m);
      assert.ok(existsSync(`/proc/${mainPid}`), 'alive after SIGHUP');
      for (const line of log().split('\n').filter(Boolean)) assert.match(line, /^<[0-7]>/, line);
    } finally {
      // systemd's stop: SIGTERM to the main pid (KillMode=control-group default; our daemon is one process).
      process.kill(mainPid, 'SIGTERM');
      const deadline = Date.now() + 20_000;
      while (existsSync(`/proc/${mainPid}`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(!existsSync(`/proc/${mainPid}`), 'stopped on SIGTERM');
    assert.ok(!existsSync(pidFile), 'pidfile removed');
  });

  test('dpkg --purge leaves nothing behind: files, hook, config dir, systemd state', { skip: reason }, () => {
    const r = run('dpkg', ['--purge', 'virt-tier']);
    assert.equal(r.code, 0, r.out);
    installed = false;
    const shared = new Set(['/', '/.', '/etc', '/lib', '/lib/systemd', '/lib/systemd/system', '/usr', '/usr/bin', '/usr/lib', '/usr/share', '/usr/share/doc', '/usr/share/man', '/usr/share/man/man5', '/usr/share/man/man8', '/usr/share/bash-completion', '/usr/share/bash-completion/completions']);
    const left = listed.filter((p) => !shared.has(p)).filter((p) => {
      try {
        lstatSync(p);
        return true;
      } catch {
        return false;
      }
    });
    assert.deepEqual(left, []);
    assert.ok(listed.length > 100, `dpkg -L listed ${listed.length} paths`);
    assert.ok(!existsSync(HOOK), 'hook removed');
    assert.ok(!existsSync('/etc/virt-tier'), '/etc/virt-tier removed');
    const wants = '/etc/systemd/system/multi-user.target.wants';
    assert.ok(!existsSync(path.join(wants, 'virt-tierd.service')), 'unit no longer enabled');
    const dsh = '/var/lib/systemd/deb-systemd-helper-enabled';
    const state = existsSync(dsh) ? readdirSync(dsh, { recursive: true }).map(String).filter((f) => f.includes('virt-tierd')) : [];
    assert.deepEqual(state, []);
    assert.notEqual(run('dpkg-query', ['-W', 'virt-tier']).code, 0);
  });
});
