import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultSocketName } from '../../src/api/protocol.js';
import { parseDaemonArgs, type DaemonArgs } from '../../src/daemon/args.js';
import { VirtTierError } from '../../src/errors.js';

const pick = (a: DaemonArgs): Pick<DaemonArgs, 'configFile' | 'configExplicit'> => ({ configFile: a.configFile, configExplicit: a.configExplicit });

function rejects(argv: string[], field: string): void {
  assert.throws(() => parseDaemonArgs(argv, {}), (e: unknown) => e instanceof VirtTierError && e.code === 'OPT_INVAL' && e.field === field, `argv ${JSON.stringify(argv)}`);
}

describe('virt-tierd flags (etmemd compatible)', () => {
  test('-s with defaults', () => {
    assert.deepEqual(parseDaemonArgs(['-s', 'sock'], {}), { help: false, socketName: 'sock', logLevel: 3, systemctlMode: false, pidFile: undefined, loadFiles: [], configFile: '/etc/virt-tier/virt-tier.conf', configExplicit: false, allowedGid: undefined, tracker: 'auto', connectUri: 'qemu:///system', autoDomains: false, syncIntervalS: 5, http: undefined, httpTokenFile: undefined });
  });
  test('long forms, -l at both ends, -m', () => {
    assert.equal(parseDaemonArgs(['--socket', 's', '--log-level', '0']).logLevel, 0);
    assert.equal(parseDaemonArgs(['-s', 's', '-l', '3', '-m']).systemctlMode, true);
    assert.equal(parseDaemonArgs(['--socket=s', '--log-level=2']).logLevel, 2);
  });
  test('-h needs no -s', () => assert.equal(parseDaemonArgs(['-h']).help, true));
  test('no -s: the CLI\'s default socket ($VIRT_TIER_SOCKET, else virt-tier), checked like -s', () => {
    assert.equal(parseDaemonArgs(['-l', '1'], {}).socketName, 'virt-tier');
    assert.equal(parseDaemonArgs(['-l', '1'], {}).socketName, defaultSocketName({}));
    assert.equal(parseDaemonArgs([], { VIRT_TIER_SOCKET: 'other' }).socketName, 'other');
    assert.equal(defaultSocketName({ VIRT_TIER_SOCKET: 'other' }), 'other');
    assert.throws(() => parseDaemonArgs([], { VIRT_TIER_SOCKET: 'x'.repeat(107) }), (e: unknown) => e instanceof VirtTierError && e.field === 'VIRT_TIER_SOCKET');
  });
  test('--config FILE (absolute), --no-config, and the default path', () => {
    assert.deepEqual(pick(parseDaemonArgs(['--config', '/srv/a.yaml'], {})), { configFile: '/srv/a.yaml', configExplicit: true });
    assert.deepEqual(pick(parseDaemonArgs(['--no-config'], {})), { configFile: undefined, configExplicit: false });
    assert.deepEqual(pick(parseDaemonArgs([], {})), { configFile: '/etc/virt-tier/virt-tier.conf', configExplicit: false });
    rejects(['--config', 'relative.conf'], '--config');
    rejects(['--config', '/a', '--config', '/b'], '--config');
    rejects(['--config', '/a', '--no-config'], '--no-config');
    rejects(['--no-config', '--config', '/a'], '--config');
  });
  test('LIBVIRT_DEFAULT_URI is the default libvirt URI, as for virsh; --connect wins', () => {
    assert.equal(parseDaemonArgs([], { LIBVIRT_DEFAULT_URI: 'qemu:///session' }).connectUri, 'qemu:///session');
    assert.equal(parseDaemonArgs(['--connect', 'test:///default'], { LIBVIRT_DEFAULT_URI: 'qemu:///session' }).connectUri, 'test:///default');
    assert.equal(parseDaemonArgs([], { LIBVIRT_DEFAULT_URI: '' }).connectUri, 'qemu:///system');
    assert.equal(parseDaemonArgs(['--no-libvirt'], { LIBVIRT_DEFAULT_URI: 'qemu:///session' }).connectUri, null);
  });
  test('-s twice', () => rejects(['-s', 'a', '-s', 'b'], '-s'));
  test('-s empty and 107 chars', () => {
    rejects(['-s', ''], '-s');
    rejects(['-s', 'x'.repeat(107)], '-s');
  });
  test('-l without value, out of range, not a number', () => {
    rejects(['-s', 'a', '-l'], '-l');
    rejects(['-s', 'a', '-l', '4'], '-l');
    rejects(['-s', 'a', '-l', '-1'], '-l');
    rejects(['-s', 'a', '-l', '1x'], '-l');
  });
  test('--tracker names a backend or auto', () => {
    assert.equal(parseDaemonArgs(['-s', 'a', '--tracker', 'damon-vaddr']).tracker, 'damon-vaddr');
    rejects(['-s', 'a', '--tracker', 'clear_refs'], '--tracker');
  });
  test('libvirt options', () => {
    assert.equal(parseDaemonArgs(['-s', 'a', '--connect', 'qemu+ssh://h/system']).connectUri, 'qemu+ssh://h/system');
    assert.equal(parseDaemonArgs(['-s', 'a', '--no-libvirt']).connectUri, null);
    assert.equal(parseDaemonArgs(['-s', 'a', '--auto-domains']).autoDomains, true);
    rejects(['-s', 'a', '--connect', 'not a uri'], '--connect');
    rejects(['-s', 'a', '--no-libvirt', '--connect', 'qemu:///system'], '--connect');
    rejects(['-s', 'a', '--no-libvirt', '--auto-domains'], '--auto-domains');
    assert.equal(parseDaemonArgs(['-s', 'a', '--sync-interval', '3600']).syncIntervalS, 3600);
    rejects(['-s', 'a', '--sync-interval', '0'], '--sync-interval');
    rejects(['-s', 'a', '--sync-interval', '3601'], '--sync-interval');
  });
  test('--http takes [HOST:]PORT, loopback by default', () => {
    assert.deepEqual(parseDaemonArgs(['-s', 'a', '--http', '8080']).http, { host: '127.0.0.1', port: 8080 });
    assert.deepEqual(parseDaemonArgs(['-s', 'a', '--http', '0.0.0.0:9']).http, { host: '0.0.0.0', port: 9 });
    assert.deepEqual(parseDaemonArgs(['-s', 'a', '--http', '[::1]:65535']).http, { host: '::1', port: 65535 });
    rejects(['-s', 'a', '--http', '0'], '--http');
    rejects(['-s', 'a', '--http', 'h:65536'], '--http');
    rejects(['-s', 'a', '--http', 'h:'], '--http');
  });
  test('stray words and unknown flags', () => {
    rejects(['-s', 'a', 'extra'], 'argv');
    rejects(['-s', 'a', '-x'], '-x');
    rejects(['-s', 'a', '--bogus'], '--bogus');
  });
});
