import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CONNECT_OPTION, libvirtUri, parseOptions, requireOption, socketName, SOCKET_OPTION, JSON_OPTION } from '../../src/cli/options.js';
import { parseDaemonArgs } from '../../src/daemon/args.js';
import { formatProjectShow } from '../../src/cli/project.js';
import { VirtTierError } from '../../src/errors.js';

const FILE = { key: 'file', short: '-f', long: '--file', takesValue: true, valueName: 'FILE' };

describe('CLI option parsing', () => {
  test('short, long and inline forms', () => {
    const o = parseOptions(['-f', 'a.ini', '--socket=s1', '--json'], [FILE, SOCKET_OPTION, JSON_OPTION]);
    assert.deepEqual(o.values, { file: 'a.ini', socket: 's1', json: true });
  });
  test('errors name the flag', () => {
    const cases: Array<[string[], string]> = [
      [['-f'], '-f'],
      [['-f', '-s', 'x'], '-f'],
      [['-f', 'a', '-f', 'b'], '-f'],
      [['-q'], '-q'],
      [['stray'], 'argv'],
      [['--json=1'], '--json'],
    ];
    for (const [args, field] of cases) {
      assert.throws(() => parseOptions(args, [FILE, SOCKET_OPTION, JSON_OPTION]), (e: unknown) => e instanceof VirtTierError && e.field === field, JSON.stringify(args));
    }
  });
  test('required option missing', () => {
    const o = parseOptions([], [FILE]);
    assert.throws(() => requireOption(o, 'file', '-f', 'a config file'), (e: unknown) => e instanceof VirtTierError && e.field === '-f');
  });
});

describe('CLI defaults meet the daemon\'s', () => {
  test('no -s: the socket the daemon listens on without -s, under the same environment', () => {
    for (const env of [{}, { VIRT_TIER_SOCKET: 'alt' }]) {
      assert.equal(socketName(parseOptions([], [SOCKET_OPTION]), env), parseDaemonArgs([], env).socketName);
    }
    assert.equal(socketName(parseOptions(['-s', 'x'], [SOCKET_OPTION]), { VIRT_TIER_SOCKET: 'alt' }), 'x');
  });
  test('no --connect: $LIBVIRT_DEFAULT_URI, else qemu:///system, as the daemon', () => {
    for (const env of [{}, { LIBVIRT_DEFAULT_URI: 'qemu:///session' }]) {
      assert.equal(libvirtUri(parseOptions([], [CONNECT_OPTION]), env), parseDaemonArgs([], env).connectUri);
    }
    assert.equal(libvirtUri(parseOptions([], [CONNECT_OPTION]), { LIBVIRT_DEFAULT_URI: 'qemu:///session' }), 'qemu:///session');
    assert.equal(libvirtUri(parseOptions(['-c', 'test:///default'], [CONNECT_OPTION]), { LIBVIRT_DEFAULT_URI: 'qemu:///session' }), 'test:///default');
  });
});

describe('project show format (etmem)', () => {
  test('no projects', () => assert.equal(formatProjectShow([]), 'no project exists\n'));
  test('columns as etmem prints them', () => {
    const text = formatProjectShow([
      {
        name: 'p1', started: true, loop: 1, interval: 1, sleep: 1, engines: ['slide'],
        tasks: [{ number: 1, project: 'p1', engine: 'slide', name: 'task1', type: 'pid', value: '1234', started: true }],
      },
    ]);
    assert.equal(
      text,
      'project: p1\n' +
        'number   type     value            name             engine           started \n' +
        '1        pid      1234             task1            slide            true    \n',
    );
  });
});
