import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDaemonArgs } from '../../src/daemon/args.js';
import { VirtTierError } from '../../src/errors.js';

function rejects(argv: string[], field: string): void {
  assert.throws(() => parseDaemonArgs(argv), (e: unknown) => e instanceof VirtTierError && e.code === 'OPT_INVAL' && e.field === field, `argv ${JSON.stringify(argv)}`);
}

describe('virt-tierd flags (etmemd compatible)', () => {
  test('-s with defaults', () => {
    assert.deepEqual(parseDaemonArgs(['-s', 'sock']), { help: false, socketName: 'sock', logLevel: 3, systemctlMode: false, pidFile: undefined, loadFiles: [], allowedGid: undefined, tracker: 'auto', connectUri: 'qemu:///system', autoDomains: false, syncIntervalS: 5, http: undefined, httpTokenFile: undefined, httpAllowHosts: [] });
    assert.deepEqual(parseDaemonArgs(['-s', 'sock', '--http-allow-host', 'Metrics.Example', '--http-allow-host', 'h2']).httpAllowHosts, ['metrics.example', 'h2']);
    assert.throws(() => parseDaemonArgs(['-s', 'sock', '--http-allow-host', 'a/b']), /--http-allow-host: invalid value "a\/b"/);
  });
  test('long forms, -l at both ends, -m', () => {
    assert.equal(parseDaemonArgs(['--socket', 's', '--log-level', '0']).logLevel, 0);
    assert.equal(parseDaemonArgs(['-s', 's', '-l', '3', '-m']).systemctlMode, true);
    assert.equal(parseDaemonArgs(['--socket=s', '--log-level=2']).logLevel, 2);
  });
  test('-h needs no -s', () => assert.equal(parseDaemonArgs(['-h']).help, true));
  test('missing -s', () => rejects(['-l', '1'], '-s'));
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
